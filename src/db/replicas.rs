//! Read replicas: where anonymous product reads go, and how a read that
//! must see a write waits for it.
//!
//! Each replica has its own pool and its own health. A task per replica
//! asks it for its replication status every [`CHECK_INTERVAL`]; it is
//! healthy while it answers and its lag is at most
//! `DATABASE_REPLICA_MAX_LAG_SECS`. A read that fails on a replica because
//! it cannot be reached marks it unhealthy at once and is answered by the
//! primary, so a replica that dies costs no request an error. Replicas are
//! taken in turn (round robin), skipping unhealthy ones; with none
//! healthy, reads go to the primary.
//!
//! Causal reads: every write learns the replication [`Position`] of its
//! commit (MariaDB's `@@last_gtid`, MySQL's `@@gtid_executed`). A read
//! that brings one is served by a replica only once the replica has
//! applied it (`MASTER_GTID_WAIT` / `WAIT_FOR_EXECUTED_GTID_SET`, waiting
//! at most `DATABASE_CAUSAL_WAIT_MS`), and by the primary otherwise.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use diesel::sql_types::{BigInt, Double, Nullable, Text};
use diesel_async::RunQueryDsl;
use mysql_async::prelude::Queryable;
use secrecy::{ExposeSecret, SecretString};

use super::listing::ReadLimit;
use super::tls::{ConnectFailure, DatabaseTls};
use super::{Conn, Database, Error, Result};
use crate::metric_names as names;

/// How often each replica's status is read.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// How long one status read (connecting included) may take before the
/// replica counts as not answering.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The longest position accepted: many GTID domains or source UUIDs, but
/// not a header-sized blob.
const MAX_POSITION_BYTES: usize = 2048;

/// A replication position: a MariaDB GTID list (`0-1-42,1-2-7`) or a
/// MySQL GTID set (`3e11fa47-71ca-11e1-9e33-c80aa9429562:1-42:50`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position(String);

impl Position {
    /// The position `text` spells, without whitespace (MySQL breaks long
    /// sets over lines); `None` for anything else, the empty string (no
    /// binary log) included.
    pub fn parse(text: &str) -> Option<Self> {
        let text: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        if text.is_empty() || text.len() > MAX_POSITION_BYTES {
            return None;
        }
        text.split(',')
            .all(|part| is_mariadb_gtid(part) || is_mysql_gtid_set(part))
            .then_some(Self(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_number(text: &str) -> bool {
    (1..=20).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit())
}

/// `domain-server-sequence`.
fn is_mariadb_gtid(part: &str) -> bool {
    let fields: Vec<&str> = part.split('-').collect();
    fields.len() == 3 && fields.iter().all(|field| is_number(field))
}

/// `uuid(:tag)?:interval(:interval)*`, an interval being `n` or `n-m`.
fn is_mysql_gtid_set(part: &str) -> bool {
    let mut fields = part.split(':');
    let uuid = fields.next().unwrap_or_default();
    let groups: Vec<&str> = uuid.split('-').collect();
    let uuid_ok = groups.iter().map(|group| group.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|group| group.bytes().all(|b| b.is_ascii_hexdigit()));
    let mut intervals = 0;
    let rest_ok = fields.all(|field| {
        let is_interval = match field.split_once('-') {
            Some((from, to)) => is_number(from) && is_number(to),
            None => is_number(field),
        };
        let is_tag = intervals == 0
            && (1..=32).contains(&field.len())
            && field.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && field
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        intervals += usize::from(is_interval);
        is_interval || is_tag
    });
    uuid_ok && rest_ok && intervals > 0
}

/// Which commit a write's position should cover.
#[derive(Debug, Clone, Copy)]
pub enum Committed {
    /// The last transaction this connection committed.
    Own,
    /// Everything the server has committed (for an answer that repeats
    /// an earlier request's write).
    Latest,
}

/// The position after `which` commit, read on the connection that made
/// it; `None` when the server keeps no binary log with GTIDs.
pub async fn position(
    conn: &mut Conn,
    limit: ReadLimit,
    which: Committed,
) -> Result<Option<Position>> {
    let variable = match (limit.mariadb, which) {
        (true, Committed::Own) => "@@SESSION.last_gtid",
        (true, Committed::Latest) => "@@GLOBAL.gtid_binlog_pos",
        (false, _) => "@@GLOBAL.gtid_executed",
    };
    let text: Option<String> = diesel::select(diesel::dsl::sql::<Nullable<Text>>(variable))
        .get_result(conn)
        .await?;
    Ok(text.as_deref().and_then(Position::parse))
}

/// Waits at most `timeout` for this server to have applied `position`
/// (not at all for a zero `timeout`); answers whether it has.
async fn applied(
    conn: &mut Conn,
    limit: ReadLimit,
    position: &Position,
    timeout: Duration,
) -> Result<bool> {
    // Each answers 0 once applied.
    let outcome: Option<i64> = if timeout.is_zero() && !limit.mariadb {
        // MySQL's wait takes 0 for "no limit": the sets are compared.
        let subset = diesel::dsl::sql::<Nullable<BigInt>>("1 - GTID_SUBSET(")
            .bind::<Text, _>(position.as_str())
            .sql(", @@GLOBAL.gtid_executed)");
        diesel::select(subset).get_result(conn).await?
    } else {
        let function = if limit.mariadb {
            "CAST(MASTER_GTID_WAIT("
        } else {
            "CAST(WAIT_FOR_EXECUTED_GTID_SET("
        };
        let wait = diesel::dsl::sql::<Nullable<BigInt>>(function)
            .bind::<Text, _>(position.as_str())
            .sql(", ")
            .bind::<Double, _>(timeout.as_secs_f64())
            .sql(") AS SIGNED)");
        diesel::select(wait).get_result(conn).await?
    };
    Ok(outcome == Some(0))
}

/// A read's work on one connection: may run twice (on a replica that
/// then fails, and on the primary), so it owns what it needs and hands
/// out a boxed future per run.
pub type ReadFuture<'c, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'c>>;

/// What a read must see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Consistency {
    /// Whatever a healthy replica has: possibly a little stale.
    Any,
    /// At least this position.
    After(Position),
    /// Only the primary can tell (a position this cluster did not issue).
    Primary,
}

/// Why a routed read went to the primary.
#[derive(Debug, Clone, Copy)]
enum Fallback {
    /// No replica is configured.
    NoReplicas,
    /// Every replica is unhealthy.
    Unhealthy,
    /// The replica had not applied the read's position in time.
    CausalTimeout,
    /// The replica failed the read.
    ReplicaFailed,
    /// The replica had no connection free in time, or (for a read with a
    /// position it lacks) as many reads waiting for positions as it
    /// takes.
    ReplicaBusy,
    /// The read's position did not come from this cluster.
    ForeignPosition,
}

impl Fallback {
    fn label(self) -> Option<&'static str> {
        use names::label::read_fallback as reason;
        match self {
            Self::NoReplicas => None,
            Self::Unhealthy => Some(reason::UNHEALTHY),
            Self::CausalTimeout => Some(reason::CAUSAL_TIMEOUT),
            Self::ReplicaFailed => Some(reason::REPLICA_FAILED),
            Self::ReplicaBusy => Some(reason::REPLICA_BUSY),
            Self::ForeignPosition => Some(reason::FOREIGN_POSITION),
        }
    }
}

/// Health states, of a replica and of the replicas together.
const UNKNOWN: u8 = 0;
const HEALTHY: u8 = 1;
const UNHEALTHY: u8 = 2;

/// One read replica: its pool, and where it is reached for status.
pub struct Replica {
    /// `host:port`, for logs and metric labels; never the credentials.
    name: String,
    url: SecretString,
    tls: DatabaseTls,
    db: Database,
    /// [`UNKNOWN`] until first checked, then [`HEALTHY`] or
    /// [`UNHEALTHY`].
    health: AtomicU8,
    /// Room for reads waiting for a position: half the pool, so reads
    /// without a token always find connections.
    waiters: tokio::sync::Semaphore,
}

impl Replica {
    /// A replica reached at `url` through `db`'s pool.
    pub fn new(url: SecretString, tls: DatabaseTls, db: Database) -> Self {
        let name = mysql_async::Opts::from_url(url.expose_secret())
            .map(|opts| format!("{}:{}", opts.ip_or_hostname(), opts.tcp_port()))
            .unwrap_or_else(|_| "replica".to_owned());
        let waiters = tokio::sync::Semaphore::new((db.pool().status().max_size / 2).max(1));
        Self {
            name,
            url,
            tls,
            db,
            health: AtomicU8::new(UNKNOWN),
            waiters,
        }
    }

    fn is_healthy(&self) -> bool {
        // Spelled out: diesel's `RunQueryDsl::load` is in scope.
        AtomicU8::load(&self.health, Ordering::Relaxed) == HEALTHY
    }
}

/// Routes reads that may be served by a replica, and watches replicas'
/// health. Cheap to clone.
#[derive(Clone)]
pub struct Reads {
    inner: Arc<Inner>,
}

struct Inner {
    primary: Database,
    replicas: Vec<Replica>,
    next: AtomicUsize,
    causal_wait: Duration,
    max_lag: Duration,
    /// [`UNKNOWN`] until the first check, then [`HEALTHY`] while some
    /// replica is, [`UNHEALTHY`] while none is.
    replicas_state: AtomicU8,
}

impl Reads {
    pub fn new(
        primary: Database,
        replicas: Vec<Replica>,
        causal_wait: Duration,
        max_lag: Duration,
    ) -> Self {
        for reason in names::label::read_fallback::ALL {
            metrics::counter!(names::DB_READ_FALLBACKS, "reason" => reason).increment(0);
        }
        for target in [
            names::label::read_target::PRIMARY,
            names::label::read_target::REPLICA,
        ] {
            metrics::counter!(names::DB_READS, "target" => target).increment(0);
        }
        for outcome in names::label::causal_wait::ALL {
            metrics::counter!(names::DB_CAUSAL_WAITS, "outcome" => outcome).increment(0);
        }
        metrics::counter!(names::DB_REPLICA_OUTAGES).increment(0);
        for replica in &replicas {
            metrics::gauge!(names::DB_REPLICA_HEALTHY, "replica" => replica.name.clone()).set(0.0);
        }
        let reads = Self {
            inner: Arc::new(Inner {
                replicas_state: AtomicU8::new(UNKNOWN),
                primary,
                replicas,
                next: AtomicUsize::new(0),
                causal_wait,
                max_lag,
            }),
        };
        reads.publish_counts();
        reads
    }

    /// Runs `work` (a read) on a healthy replica that has what
    /// `consistency` asks for, else on the primary. `work` is given the
    /// time limit in the dialect of the server it runs on, and may run
    /// twice: on a replica that then fails, and on the primary.
    pub async fn run<T>(
        &self,
        consistency: &Consistency,
        work: impl for<'c> Fn(&'c mut Conn, ReadLimit) -> ReadFuture<'c, T> + Send + Sync,
    ) -> Result<T> {
        let fallback = if self.inner.replicas.is_empty() {
            Fallback::NoReplicas
        } else if *consistency == Consistency::Primary {
            Fallback::ForeignPosition
        } else {
            match self.pick() {
                None => Fallback::Unhealthy,
                Some(replica) => match self.try_replica(replica, consistency, &work).await {
                    Ok(done) => {
                        metrics::counter!(names::DB_READS, "target" => names::label::read_target::REPLICA)
                            .increment(1);
                        return done;
                    }
                    Err(fallback) => fallback,
                },
            }
        };
        if let Some(reason) = fallback.label() {
            metrics::counter!(names::DB_READ_FALLBACKS, "reason" => reason).increment(1);
        }
        metrics::counter!(names::DB_READS, "target" => names::label::read_target::PRIMARY)
            .increment(1);
        let primary = &self.inner.primary;
        primary
            .run(async |conn| work(conn, primary.read_limit()).await)
            .await
    }

    /// The next healthy replica in turn.
    fn pick(&self) -> Option<&Replica> {
        let replicas = &self.inner.replicas;
        let start = self.inner.next.fetch_add(1, Ordering::Relaxed);
        (0..replicas.len())
            .map(|i| &replicas[(start + i) % replicas.len()])
            .find(|replica| replica.is_healthy())
    }

    /// `work` on `replica`, once it has applied the read's position: its
    /// outcome, or why the primary should answer instead.
    async fn try_replica<T>(
        &self,
        replica: &Replica,
        consistency: &Consistency,
        work: &(impl for<'c> Fn(&'c mut Conn, ReadLimit) -> ReadFuture<'c, T> + Send + Sync),
    ) -> std::result::Result<Result<T>, Fallback> {
        let limit = replica.db.read_limit();
        // A read may wait for its position only with a waiting slot;
        // without one it is served only if the replica has the position
        // already (the usual case), asked without waiting.
        let waiting = match consistency {
            Consistency::After(_) => replica.waiters.try_acquire().ok(),
            _ => None,
        };
        let wait = if waiting.is_some() {
            self.inner.causal_wait
        } else {
            Duration::ZERO
        };
        let outcome = replica
            .db
            .run(async |conn| {
                if let Consistency::After(position) = consistency {
                    let started = Instant::now();
                    let applied = applied(conn, limit, position, wait).await?;
                    if !wait.is_zero() {
                        metrics::histogram!(names::DB_CAUSAL_WAIT_DURATION)
                            .record(started.elapsed().as_secs_f64());
                    }
                    match (applied, wait.is_zero()) {
                        (true, _) => metrics::counter!(names::DB_CAUSAL_WAITS, "outcome" => names::label::causal_wait::APPLIED).increment(1),
                        (false, false) => {
                            metrics::counter!(names::DB_CAUSAL_WAITS, "outcome" => names::label::causal_wait::TIMED_OUT).increment(1);
                            return Ok(Err(Fallback::CausalTimeout));
                        }
                        (false, true) => return Ok(Err(Fallback::ReplicaBusy)),
                    }
                }
                work(conn, limit).await.map(Ok)
            })
            .await;
        drop(waiting);
        match outcome {
            Ok(Ok(value)) => Ok(Ok(value)),
            Ok(Err(fallback)) => Err(fallback),
            // The primary would stop the same read at the same limit.
            Err(err @ Error::TimeLimit(_)) => Ok(Err(err)),
            // Every connection busy (reads waiting out tokens, say) is
            // no sign of a broken replica: the primary answers this one.
            Err(err) if pool_busy(&err) => Err(Fallback::ReplicaBusy),
            Err(err @ (Error::Unavailable(_) | Error::Pool(_))) => {
                self.set_health(replica, Err(crate::telemetry::error_chain(&err)));
                Err(Fallback::ReplicaFailed)
            }
            // A statement the replica refused (a migration it has not
            // applied yet, say): the primary is the authority.
            Err(err) => {
                tracing::warn!(replica = %replica.name, error = %crate::telemetry::error_chain(&err), "a read failed on a replica; the primary answers it");
                Err(Fallback::ReplicaFailed)
            }
        }
    }

    /// Records `replica`'s health (`Err` says why it is unhealthy),
    /// logging a change once, and every replica going down at once.
    fn set_health(&self, replica: &Replica, health: std::result::Result<(), String>) {
        let healthy = health.is_ok();
        let state = if healthy { HEALTHY } else { UNHEALTHY };
        if replica.health.swap(state, Ordering::Relaxed) != state {
            match &health {
                Ok(()) => {
                    tracing::info!(replica = %replica.name, "read replica is healthy: it serves reads")
                }
                Err(why) => {
                    tracing::warn!(replica = %replica.name, reason = %why, "read replica is unhealthy: its reads go elsewhere until it recovers")
                }
            }
        }
        metrics::gauge!(names::DB_REPLICA_HEALTHY, "replica" => replica.name.clone())
            .set(if healthy { 1.0 } else { 0.0 });
        let all_down = !self
            .inner
            .replicas
            .iter()
            .any(|replica| replica.is_healthy());
        let state = if all_down { UNHEALTHY } else { HEALTHY };
        if self.inner.replicas_state.swap(state, Ordering::Relaxed) != state {
            if all_down {
                metrics::counter!(names::DB_REPLICA_OUTAGES).increment(1);
                tracing::warn!("no read replica is healthy: every read goes to the primary");
            } else {
                tracing::info!("a read replica is healthy: reads go to replicas");
            }
        }
        self.publish_counts();
    }

    fn publish_counts(&self) {
        let healthy = self
            .inner
            .replicas
            .iter()
            .filter(|replica| replica.is_healthy())
            .count();
        let unhealthy = self.inner.replicas.len() - healthy;
        metrics::gauge!(names::DB_REPLICAS, "state" => names::label::replica_state::HEALTHY)
            .set(healthy as f64);
        metrics::gauge!(names::DB_REPLICAS, "state" => names::label::replica_state::UNHEALTHY)
            .set(unhealthy as f64);
    }

    /// Reads one replica's status and records its health, and publishes
    /// how full its pool is.
    async fn check(&self, index: usize, checker: &mut Checker) {
        let replica = &self.inner.replicas[index];
        let health = checker.check(replica, self.inner.max_lag).await;
        self.set_health(replica, health);
        let pool = replica.db.pool().status();
        for (state, connections) in [
            (names::label::pool_state::IDLE, pool.available),
            (
                names::label::pool_state::IN_USE,
                pool.size.saturating_sub(pool.available),
            ),
        ] {
            metrics::gauge!(names::DB_REPLICA_POOL_CONNECTIONS, "replica" => replica.name.clone(), "state" => state)
                .set(connections as f64);
        }
    }

    /// Reads every replica's status once, all at once, then every
    /// [`CHECK_INTERVAL`] in a task per replica, so a replica that hangs
    /// delays no other's check. Answers the tasks, to stop at shutdown.
    pub async fn watch(&self) -> Vec<tokio::task::JoinHandle<()>> {
        let first: Vec<_> = (0..self.inner.replicas.len())
            .map(|index| {
                let reads = self.clone();
                tokio::spawn(async move {
                    let mut checker = Checker::default();
                    reads.check(index, &mut checker).await;
                    checker
                })
            })
            .collect();
        let mut tasks = Vec::with_capacity(first.len());
        for (index, checked) in first.into_iter().enumerate() {
            let mut checker = checked.await.unwrap_or_default();
            let reads = self.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    tokio::time::sleep(CHECK_INTERVAL).await;
                    reads.check(index, &mut checker).await;
                }
            }));
        }
        tasks
    }
}

/// Whether `err` says only that no pooled connection came free in time.
fn pool_busy(err: &Error) -> bool {
    use deadpool::managed::{PoolError, TimeoutType};
    let Error::Unavailable(source) = err else {
        return false;
    };
    matches!(
        source.downcast_ref::<diesel_async::pooled_connection::deadpool::PoolError>(),
        Some(PoolError::Timeout(TimeoutType::Wait))
    )
}

/// What one replica's status says.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Status {
    /// Replicating, this far behind.
    Behind(Duration),
    /// Replication is configured but not running (a thread stopped or
    /// failed): it falls further behind with every write.
    Stopped,
    /// Not a replica this server can describe (a managed reader such as
    /// Aurora's, whose lag is the service's to bound).
    NotReplicating,
}

/// Reads one replica's status on a connection of its own, apart from
/// the pool, and remembers since when replication has been stopped.
#[derive(Default)]
struct Checker {
    conn: Option<mysql_async::Conn>,
    stopped_since: Option<Instant>,
}

impl Checker {
    /// Whether `replica` is healthy: it answers and lags at most
    /// `max_lag`. Publishes its lag.
    async fn check(
        &mut self,
        replica: &Replica,
        max_lag: Duration,
    ) -> std::result::Result<(), String> {
        let status = match tokio::time::timeout(CHECK_TIMEOUT, self.status(replica)).await {
            Ok(Ok(status)) => status,
            Ok(Err(why)) => {
                self.conn = None;
                return Err(why);
            }
            Err(_) => {
                self.conn = None;
                return Err(format!("its status took over {CHECK_TIMEOUT:?}"));
            }
        };
        let lag = match status {
            Status::Behind(lag) => {
                self.stopped_since = None;
                lag
            }
            Status::NotReplicating => {
                self.stopped_since = None;
                Duration::ZERO
            }
            Status::Stopped => self
                .stopped_since
                .get_or_insert_with(Instant::now)
                .elapsed(),
        };
        metrics::gauge!(names::DB_REPLICA_LAG, "replica" => replica.name.clone())
            .set(lag.as_secs_f64());
        if lag > max_lag {
            return Err(match status {
                Status::Stopped => format!("replication has been stopped for {}s", lag.as_secs()),
                _ => format!("it is {}s behind", lag.as_secs()),
            });
        }
        Ok(())
    }

    async fn status(&mut self, replica: &Replica) -> std::result::Result<Status, String> {
        if self.conn.is_none() {
            let conn = super::tls::connect(replica.url.expose_secret(), &replica.tls)
                .await
                .map_err(|failure| match failure {
                    ConnectFailure::Tls(why) => format!("DATABASE_TLS {why}"),
                    ConnectFailure::Other(err) => format!("it does not answer: {err}"),
                })?;
            self.conn = Some(conn);
        }
        let conn = self.conn.as_mut().expect("connected above");
        let mariadb = replica.db.read_limit().mariadb;
        let statement = if mariadb {
            "SHOW SLAVE STATUS"
        } else {
            "SHOW REPLICA STATUS"
        };
        let rows: Vec<mysql_async::Row> = conn.query(statement).await.map_err(|err| {
            format!(
                "{statement} failed ({err}); the account needs SLAVE MONITOR (MariaDB) or \
                 REPLICATION CLIENT (MySQL)"
            )
        })?;
        let Some(row) = rows.into_iter().next() else {
            return Ok(Status::NotReplicating);
        };
        let column = |names: [&str; 2]| -> Option<String> {
            names.iter().find_map(|name| {
                row.columns_ref()
                    .iter()
                    .position(|column| column.name_str() == *name)
                    .and_then(|index| row.get_opt::<Option<String>, _>(index))
                    .and_then(|value| value.ok())
                    .flatten()
            })
        };
        let running = |names| column(names).is_some_and(|value| value.eq_ignore_ascii_case("yes"));
        let threads_run = running(["Slave_IO_Running", "Replica_IO_Running"])
            && running(["Slave_SQL_Running", "Replica_SQL_Running"]);
        let behind = column(["Seconds_Behind_Master", "Seconds_Behind_Source"])
            .and_then(|secs| secs.parse::<u64>().ok());
        Ok(match behind {
            Some(secs) if threads_run => Status::Behind(Duration::from_secs(secs)),
            _ => Status::Stopped,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_wait_for_a_busy_pool_leaves_a_replica_healthy() {
        use deadpool::managed::TimeoutType;
        type DieselPoolError = diesel_async::pooled_connection::deadpool::PoolError;
        let timeout = |kind| Error::Unavailable(Box::new(DieselPoolError::Timeout(kind)));
        assert!(pool_busy(&timeout(TimeoutType::Wait)));
        assert!(!pool_busy(&timeout(TimeoutType::Create)));
        assert!(!pool_busy(&Error::Unavailable("connection refused".into())));
    }

    #[test]
    fn positions_are_mariadb_gtid_lists_or_mysql_gtid_sets() {
        for good in [
            "0-1-42",
            "0-1-42,1-2-7",
            "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-42",
            "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-42:50,\n4e11fa47-71ca-11e1-9e33-c80aa9429562:7",
            "3e11fa47-71ca-11e1-9e33-c80aa9429562:tag_1:1-3",
        ] {
            assert!(Position::parse(good).is_some(), "{good}");
        }
        assert_eq!(
            Position::parse("0-1-42, 1-2-7").unwrap().as_str(),
            "0-1-42,1-2-7"
        );
        for bad in [
            "",
            "0-1",
            "0-1-x",
            "0-1-42,",
            "3e11fa47-71ca-11e1-9e33-c80aa9429562",
            "3e11fa47-71ca-11e1-9e33-c80aa9429562:",
            "3e11fa47:1-5",
            "'; DROP TABLE products; --",
            &"0-1-1,".repeat(400),
        ] {
            assert!(Position::parse(bad).is_none(), "{bad}");
        }
    }
}
