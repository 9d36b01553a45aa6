//! The connection pool, and when a pooled connection is checked.
//!
//! diesel-async's default sends `SELECT 1` before every checkout: a second
//! round trip for every request, a quarter of a page's cost. A connection
//! goes back out unchecked while nothing suggests it broke; it is checked
//! first (and replaced if the check fails) when its last statement failed,
//! which is how a restarted database or a killed connection shows, or
//! when it sat idle, when a proxy or the server may have dropped it
//! without a word.

use std::time::Duration;

use diesel::connection::{Instrumentation, InstrumentationEvent};
use diesel_async::pooled_connection::deadpool::{Hook, HookError, Pool as DeadPool};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::{AsyncConnection, AsyncMysqlConnection, RunQueryDsl};
use secrecy::{ExposeSecret, SecretString};

use super::Pool;
use super::tls::{DatabaseTls, connect_for_pool};

/// Every connection reads committed data and takes no gap locks.
///
/// Under InnoDB's default, REPEATABLE READ, a statement waiting for a row
/// also claims the gap before it, so an insert into that gap by the
/// lock's holder deadlocks: a refresh that rotates a token inserts the
/// next one while the same token's other presentations wait for its row,
/// and about one try in ten failed that way. No query here needs a
/// repeatable snapshot or a locked gap: every state change is a
/// conditional statement on a key, and tokens carry the account's version,
/// so one issued beside a password change is refused anyway.
const READ_COMMITTED: &str = "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED";

/// A pooled connection idle for longer than this is checked first.
const CHECK_IF_IDLE_FOR: Duration = Duration::from_secs(1);

/// How the pool is sized and how long callers wait for a connection.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    pub max_size: usize,
    pub acquire_timeout: Duration,
}

/// Builds the pool without connecting: connections open on first use,
/// secured as `tls` says.
pub fn pool(url: &SecretString, tls: &DatabaseTls, options: &PoolOptions) -> Pool {
    let mut config = ManagerConfig::default();
    config.recycling_method = RecyclingMethod::Fast;
    let tls = tls.clone();
    config.custom_setup = Box::new(move |url| {
        let tls = tls.clone();
        Box::pin(async move {
            let mut conn = connect_for_pool(url, &tls).await?;
            diesel::sql_query(READ_COMMITTED)
                .execute(&mut conn)
                .await
                .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
            conn.set_instrumentation(LastStatement::default());
            Ok(conn)
        })
    });
    let manager = AsyncDieselConnectionManager::<AsyncMysqlConnection>::new_with_config(
        url.expose_secret().to_owned(),
        config,
    );
    let check_timeout = options.acquire_timeout;
    DeadPool::builder(manager)
        .max_size(options.max_size)
        .wait_timeout(Some(options.acquire_timeout))
        .create_timeout(Some(options.acquire_timeout))
        .recycle_timeout(Some(options.acquire_timeout))
        // The connection returned last goes out first: below full load a
        // few stay warm (as do their server threads) and the rest idle
        // until they are checked, instead of all taking turns.
        .queue_mode(::deadpool::managed::QueueMode::Lifo)
        .pre_recycle(Hook::async_fn(
            move |conn: &mut AsyncMysqlConnection, metrics| {
                Box::pin(async move {
                    let failed = conn
                        .instrumentation()
                        .downcast_ref::<LastStatement>()
                        .is_none_or(|last| last.failed);
                    if !failed && metrics.last_used() < CHECK_IF_IDLE_FOR {
                        return Ok(());
                    }
                    let check = diesel::sql_query("SELECT 1").execute(conn);
                    match tokio::time::timeout(check_timeout, check).await {
                        Ok(Ok(_)) => Ok(()),
                        _ => Err(HookError::message("a pooled connection failed its check")),
                    }
                })
            },
        ))
        .runtime(::deadpool::Runtime::Tokio1)
        .build()
        .expect("a pool with a runtime and timeouts always builds")
}

/// Remembers whether a connection's last statement failed.
#[derive(Debug, Default)]
struct LastStatement {
    failed: bool,
}

impl Instrumentation for LastStatement {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        if let InstrumentationEvent::FinishQuery { error, .. } = event {
            self.failed = error.is_some();
        }
    }
}
