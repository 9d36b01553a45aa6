//! Business rules, free of HTTP: accounts and tokens, passwords, and the
//! product catalog. Callers get [`Error`], which says what went wrong in
//! domain terms; the API layer decides what that means on the wire.

pub mod accounts;
pub mod catalog;
pub mod clock;
pub mod cursor;
pub mod error;
pub mod passwords;
pub mod price;
pub mod search;
pub mod sessions;
mod signing;
pub mod throttle;
pub mod tokens;
pub mod values;

pub use error::{Error, Result};

use std::sync::Arc;

/// Everything the API needs, cheap to clone into each request.
#[derive(Clone)]
pub struct Services {
    pub accounts: accounts::Accounts,
    pub catalog: catalog::Catalog,
    pub pool: crate::db::Pool,
    pub clock: clock::Clock,
}

/// The rules' settings, as configuration gives them.
pub struct Policies {
    pub sessions: sessions::SessionPolicy,
    pub throttle: throttle::ThrottlePolicy,
}

impl Services {
    pub fn new(
        pool: crate::db::Pool,
        tokens: tokens::Tokens,
        passwords: passwords::Passwords,
        cursors: cursor::Cursors,
        policies: Policies,
        clock: clock::Clock,
    ) -> Self {
        let sessions = sessions::Sessions::new(
            pool.clone(),
            Arc::new(tokens),
            policies.sessions,
            clock.clone(),
        );
        let throttle = throttle::LoginThrottle::new(policies.throttle, clock.clone());
        Self {
            accounts: accounts::Accounts::new(
                pool.clone(),
                sessions,
                passwords,
                throttle,
                clock.clone(),
            ),
            catalog: catalog::Catalog::new(pool.clone(), clock.clone(), cursors),
            pool,
            clock,
        }
    }
}

impl Services {
    /// Whether the service can do its work: the database answers within
    /// two seconds.
    pub async fn ready(&self) -> Result<()> {
        let ping = crate::db::ping(&self.pool);
        let ready = match tokio::time::timeout(std::time::Duration::from_secs(2), ping).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => {
                tracing::warn!(error = %crate::telemetry::error_chain(&err), "readiness check failed");
                Err(Error::Unavailable(None))
            }
            Err(_) => {
                tracing::warn!("readiness check timed out");
                Err(Error::Unavailable(None))
            }
        };
        metrics::gauge!("catalog_ready").set(if ready.is_ok() { 1.0 } else { 0.0 });
        ready
    }
}
