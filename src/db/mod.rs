//! Persistence: the connection pool, embedded migrations and one module of
//! queries per table. Only this layer speaks SQL; it reports failures as
//! [`Error`], whose variants carry meaning (a taken username) rather than
//! driver details.

pub mod admin;
pub mod idempotency_keys;
pub mod listing;
pub mod models;
mod pool;
pub mod products;
pub mod refresh_tokens;
pub mod replicas;
pub mod schema;
pub mod search_index;
pub mod throttle_counters;
pub mod tls;
pub mod users;

use std::cell::Cell;
use std::time::{Duration, Instant};

use diesel_async::pooled_connection::deadpool::{self, Pool as DeadPool};
use diesel_async::{AsyncMigrationHarness, AsyncMysqlConnection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use tokio::task::futures::TaskLocalFuture;

use crate::metric_names as names;

pub use pool::{PoolOptions, pool};

/// Every migration under `migrations/`, compiled into the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

pub type Pool = DeadPool<AsyncMysqlConnection>;
pub type Conn = deadpool::Object<AsyncMysqlConnection>;

/// A unique key that a write collided with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UniqueKey {
    Username,
    Email,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the {0:?} is already taken")]
    Duplicate(UniqueKey),
    #[error("database query failed")]
    Query(#[source] diesel::result::Error),
    /// The database cannot be reached, went away mid-statement, or has no
    /// connection or lock to spare in time: worth retrying later, unlike
    /// a failed query.
    #[error("the database is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A read ran past its time limit (`DATABASE_READ_TIMEOUT_SECS`) and the
    /// server stopped it.
    #[error("a read ran past its time limit")]
    TimeLimit(#[source] diesel::result::Error),
    #[error("could not get a database connection")]
    Pool(#[source] deadpool::PoolError),
    #[error("migrations failed")]
    Migration(#[source] Box<dyn std::error::Error + Send + Sync>),
}

pub type Result<T> = std::result::Result<T, Error>;

impl From<deadpool::PoolError> for Error {
    fn from(err: deadpool::PoolError) -> Self {
        use deadpool::PoolError as E;
        match err {
            // No connection came free in time (saturated), or none could
            // be opened (the database is down or refuses).
            E::Timeout(_) => {
                metrics::counter!(names::DB_ACQUIRE_TIMEOUTS).increment(1);
                Self::Unavailable(err.into())
            }
            E::Backend(_) => Self::Unavailable(err.into()),
            other => Self::Pool(other),
        }
    }
}

impl From<diesel::result::Error> for Error {
    fn from(err: diesel::result::Error) -> Self {
        if time_limit(&err) {
            metrics::counter!(names::DB_QUERY_ERRORS, "kind" => names::label::query_error::TIME_LIMIT).increment(1);
            return Self::TimeLimit(err);
        }
        let kind = if unavailable(&err) {
            names::label::query_error::UNAVAILABLE
        } else {
            names::label::query_error::QUERY
        };
        metrics::counter!(names::DB_QUERY_ERRORS, "kind" => kind).increment(1);
        if kind == names::label::query_error::UNAVAILABLE {
            Self::Unavailable(err.into())
        } else {
            Self::Query(err)
        }
    }
}

/// Whether a failed statement says the database went away or is out of
/// room rather than that the statement is wrong. diesel-async keeps only
/// the driver's message, not its error code, so the message is matched:
/// the driver's own I/O and closed-connection errors, and the server's
/// "too many connections", "shutdown in progress", lock wait timeout and
/// deadlock (the transaction was rolled back whole, so a retry is safe).
fn unavailable(err: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error as DieselError};
    const MESSAGES: [&str; 6] = [
        "Input/output error",
        "Driver error: `Connection to the server is closed",
        "Too many connections",
        "Server shutdown in progress",
        "Lock wait timeout exceeded",
        "Deadlock found when trying to get lock",
    ];
    match err {
        DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => true,
        DieselError::DatabaseError(DatabaseErrorKind::Unknown, info) => {
            let message = info.message();
            MESSAGES.iter().any(|known| message.starts_with(known))
        }
        _ => false,
    }
}

/// Whether the server stopped a statement at its time limit: MariaDB's
/// `max_statement_time` or MySQL's `MAX_EXECUTION_TIME`.
fn time_limit(err: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error as DieselError};
    match err {
        DieselError::DatabaseError(DatabaseErrorKind::Unknown, info) => {
            let message = info.message();
            message.contains("max_statement_time exceeded")
                || message.contains("maximum statement execution time exceeded")
        }
        _ => false,
    }
}

/// The pool, and how long one unit of work (a request) may wait on the
/// database in all.
///
/// Every statement runs through [`Database::run`], inside a deadline: what
/// is left of the [`Budget`] the unit of work runs in, or a whole
/// `statement_timeout` outside one. Time spent elsewhere
/// (hashing a password, reading a body) does not count. Work cut off by
/// the deadline, or abandoned because its caller went away, never hands
/// its connection back: a connection in the middle of a statement or a
/// transaction is closed, so the server rolls back whatever it had not
/// committed and no later request inherits it.
#[derive(Clone)]
pub struct Database {
    pool: Pool,
    statement_timeout: Duration,
    read_limit: listing::ReadLimit,
    /// The most one [`Database::run`] may take, when less than the
    /// budget: a replica's reads, so a replica that hangs leaves the
    /// primary time to answer instead.
    attempt_cap: Option<Duration>,
}

tokio::task_local! {
    /// What is left of the current unit of work's database time.
    static BUDGET: Cell<Duration>;
}

impl Database {
    pub fn new(pool: Pool, statement_timeout: Duration) -> Self {
        // Published at 0, so a first event is an increase Prometheus sees.
        metrics::counter!(names::DB_DEADLINE_EXCEEDED).increment(0);
        metrics::counter!(names::DB_CONNECTIONS_DISCARDED).increment(0);
        Self {
            pool,
            statement_timeout,
            // Until `detect_server` says otherwise: MySQL's hint is a
            // comment to MariaDB, MariaDB's syntax an error to MySQL.
            read_limit: listing::ReadLimit {
                mariadb: false,
                max: statement_timeout,
            },
            attempt_cap: None,
        }
    }

    /// This database, with every [`Database::run`] cut off after `cap`
    /// and list reads limited as `read_limit` says (a replica speaks its
    /// primary's dialect).
    pub fn capped(mut self, cap: Duration, read_limit: listing::ReadLimit) -> Self {
        self.attempt_cap = Some(cap);
        self.read_limit = read_limit;
        self
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The time limit list reads run under.
    pub fn read_limit(&self) -> listing::ReadLimit {
        self.read_limit
    }

    /// Asks the server what it is, to give list reads a time limit of
    /// `max` in its dialect.
    pub async fn detect_server(&mut self, max: Duration) -> Result<()> {
        let version: String = self
            .run(async |conn| {
                Ok::<_, Error>(
                    diesel::select(diesel::dsl::sql::<diesel::sql_types::Text>("VERSION()"))
                        .get_result(conn)
                        .await?,
                )
            })
            .await?;
        self.read_limit = listing::ReadLimit {
            mariadb: version.contains("MariaDB"),
            max,
        };
        Ok(())
    }

    /// The budget a unit of work gets: the whole `statement_timeout`.
    pub fn budget(&self) -> Budget {
        Budget(self.statement_timeout)
    }

    /// Runs `work` on a pooled connection within what is left of the
    /// budget, acquiring included. Past it, the answer is
    /// [`Error::Unavailable`] and the connection is closed.
    pub async fn run<T, E>(
        &self,
        work: impl AsyncFnOnce(&mut Conn) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E>
    where
        E: From<Error>,
    {
        let budget = BUDGET.try_with(Cell::get).unwrap_or(self.statement_timeout);
        let budget = self.attempt_cap.map_or(budget, |cap| cap.min(budget));
        let started = Instant::now();
        let outcome = tokio::time::timeout(budget, async {
            let mut held = Held(Some(conn(&self.pool).await?));
            let result = work(held.conn()).await;
            held.give_back();
            result
        })
        .await;
        let _ = BUDGET.try_with(|left| left.set(left.get().saturating_sub(started.elapsed())));
        outcome.unwrap_or_else(|_| {
            metrics::counter!(names::DB_DEADLINE_EXCEEDED).increment(1);
            Err(Error::Unavailable(DeadlineExceeded(self.statement_timeout).into()).into())
        })
    }

    /// Deletes in batches: runs `purge` (which deletes at most `batch`
    /// rows and answers how many) until a batch comes up short, each with
    /// a deadline of its own, so a long backlog is worked off in turns.
    /// Answers how many rows went.
    pub async fn purge_in_batches(
        &self,
        batch: i64,
        purge: impl AsyncFn(&mut Conn, i64) -> Result<usize>,
    ) -> Result<usize> {
        let mut total = 0;
        loop {
            let deleted = self.run(async |conn| purge(conn, batch).await).await?;
            total += deleted;
            if (deleted as i64) < batch {
                return Ok(total);
            }
        }
    }
}

/// How long one unit of work may wait on the database in all.
#[derive(Debug, Clone, Copy)]
pub struct Budget(Duration);

impl Budget {
    /// Runs `work` with this budget of database time: every
    /// [`Database::run`] inside it draws from it. Not an `async fn`, so
    /// the (large) future of a whole request is moved once, into the
    /// returned one.
    pub fn scope<F: Future>(self, work: F) -> TaskLocalFuture<Cell<Duration>, F> {
        BUDGET.scope(Cell::new(self.0), work)
    }
}

/// The database did not finish a unit of work's statements in time.
#[derive(Debug, thiserror::Error)]
#[error("the database did not answer within DATABASE_STATEMENT_TIMEOUT_SECS ({0:?})")]
struct DeadlineExceeded(Duration);

/// A connection lent to [`Database::run`]'s work. Dropped before
/// [`Held::give_back`] (the work was cut off), it leaves the pool and
/// closes instead of being handed to the next request.
struct Held(Option<Conn>);

impl Held {
    fn conn(&mut self) -> &mut Conn {
        self.0.as_mut().expect("held until given back")
    }

    fn give_back(mut self) {
        drop(self.0.take());
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(conn) = self.0.take() {
            metrics::counter!(names::DB_CONNECTIONS_DISCARDED).increment(1);
            drop(deadpool::Object::take(conn));
        }
    }
}

/// Gets a pooled connection.
async fn conn(pool: &Pool) -> Result<Conn> {
    let started = std::time::Instant::now();
    let conn = pool.get().await;
    metrics::histogram!(names::DB_ACQUIRE_DURATION).record(started.elapsed().as_secs_f64());
    Ok(conn?)
}

/// Answers whether the database takes a trivial query.
pub async fn ping(database: &Database) -> Result<()> {
    database
        .run(async |conn| {
            diesel::sql_query("SELECT 1").execute(conn).await?;
            Ok(())
        })
        .await
}

/// Name of the MySQL advisory lock held while migrating.
const MIGRATION_LOCK: &str = "catalog-migrations";

/// Applies every pending migration and returns how many ran.
///
/// Replicas starting together would race to create the same tables, so
/// the work happens under a MySQL advisory lock: the first replica
/// migrates, the others wait and then find nothing pending.
pub async fn migrate(pool: &Pool) -> Result<usize> {
    let mut conn = conn(pool).await?;
    let locked: Option<i32> = diesel::select(diesel::dsl::sql::<
        diesel::sql_types::Nullable<diesel::sql_types::Integer>,
    >(&format!("GET_LOCK('{MIGRATION_LOCK}', 300)")))
    .get_result(&mut conn)
    .await?;
    if locked != Some(1) {
        return Err(Error::Migration(
            "timed out waiting for another replica's migrations".into(),
        ));
    }
    // The harness drives the async connection from synchronous code, so it
    // runs on a blocking thread rather than stalling a runtime worker.
    let (mut conn, applied) = tokio::task::spawn_blocking(move || {
        let mut harness = AsyncMigrationHarness::new(conn);
        let applied = harness
            .run_pending_migrations(MIGRATIONS)
            .map(|applied| applied.len())
            .map_err(Error::Migration);
        (harness.into_inner(), applied)
    })
    .await
    .map_err(|err| Error::Migration(err.into()))?;
    // Closing the connection would free the lock too; release it so the
    // pooled connection goes back clean.
    diesel::sql_query(format!("DO RELEASE_LOCK('{MIGRATION_LOCK}')"))
        .execute(&mut conn)
        .await?;
    applied
}

/// Interprets a unique-key violation. MySQL reports only a message such as
/// `Duplicate entry 'x' for key 'users_email_key'`, so the key is found by
/// name in it.
fn duplicate_key(err: &diesel::result::Error) -> Option<UniqueKey> {
    use diesel::result::{DatabaseErrorKind, Error as DieselError};
    match err {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
            let message = info.message();
            if message.contains("users_email_key") {
                Some(UniqueKey::Email)
            } else if message.contains("users_username_key") {
                Some(UniqueKey::Username)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// Returns the id the last INSERT on this connection generated.
async fn last_insert_id(conn: &mut Conn) -> Result<i64> {
    use diesel::sql_types::Unsigned;
    let id: u64 = diesel::select(diesel::dsl::sql::<Unsigned<diesel::sql_types::BigInt>>(
        "LAST_INSERT_ID()",
    ))
    .get_result(conn)
    .await?;
    Ok(id as i64)
}

#[cfg(test)]
mod tests {
    use diesel::result::{DatabaseErrorKind, Error as DieselError};

    use super::*;

    fn server_error(message: &str) -> DieselError {
        DieselError::DatabaseError(DatabaseErrorKind::Unknown, Box::new(message.to_owned()))
    }

    #[test]
    fn retryable_failures_are_unavailable_and_others_are_query_errors() {
        for message in [
            "Deadlock found when trying to get lock; try restarting transaction",
            "Lock wait timeout exceeded; try restarting transaction",
            "Too many connections",
        ] {
            assert!(
                matches!(Error::from(server_error(message)), Error::Unavailable(_)),
                "{message}"
            );
        }
        assert!(matches!(
            Error::from(server_error("Unknown column 'x' in 'field list'")),
            Error::Query(_)
        ));
    }
}
