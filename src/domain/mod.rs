//! Business rules, free of HTTP: accounts and tokens, passwords, and the
//! product catalog. Callers get [`Error`], which says what went wrong in
//! domain terms; the API layer decides what that means on the wire.

pub mod accounts;
pub mod admin;
pub mod audit;
pub mod catalog;
pub mod clock;
pub mod consistency;
pub mod cursor;
pub mod devices;
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

use crate::config::ThrottleConfig;
use crate::db::Database;
use crate::metric_names as names;

/// Everything the API needs, cheap to clone into each request.
#[derive(Clone)]
pub struct Services {
    pub accounts: accounts::Accounts,
    pub catalog: catalog::Catalog,
    pub admin: admin::Administration,
    pub admin_reads: admin::AdminReads,
    pub db: Database,
    pub clock: clock::Clock,
}

/// The rules' settings, as configuration gives them.
pub struct Policies {
    pub sessions: sessions::SessionPolicy,
    pub throttle: ThrottleConfig,
    /// `DATABASE_SCAN_SLOTS`: list reads that may examine many entries
    /// at once (see [`catalog::Catalog`]).
    pub scan_slots: usize,
}

/// What signs the service's own tokens and cursors.
pub struct Signing {
    pub tokens: tokens::Tokens,
    pub cursors: cursor::Cursors,
    pub devices: devices::DeviceTokens,
    pub consistency: consistency::ConsistencyTokens,
}

impl Services {
    /// Services on `db` (the primary), with anonymous product reads
    /// routed by `reads`.
    pub fn new(
        db: Database,
        reads: crate::db::replicas::Reads,
        signing: Signing,
        passwords: passwords::Passwords,
        policies: Policies,
        clock: clock::Clock,
    ) -> Self {
        let sessions = sessions::Sessions::new(
            db.clone(),
            Arc::new(signing.tokens),
            policies.sessions,
            clock.clone(),
        );
        let throttle = throttle::LoginThrottle::new(policies.throttle, clock.clone());
        let admin = admin::Administration::new(db.clone(), passwords.clone(), clock.clone());
        let admin_reads = admin::AdminReads::new(db.clone(), signing.cursors.clone());
        Self {
            accounts: accounts::Accounts::new(
                db.clone(),
                sessions,
                passwords,
                throttle,
                signing.devices,
                clock.clone(),
            ),
            catalog: catalog::Catalog::new(
                db.clone(),
                reads,
                clock.clone(),
                signing.cursors,
                signing.consistency,
                policies.scan_slots,
            ),
            admin,
            admin_reads,
            db,
            clock,
        }
    }

    /// The budget of database time one request's work shares:
    /// `DATABASE_STATEMENT_TIMEOUT_SECS` (see [`crate::db::Budget::scope`]).
    pub fn request_budget(&self) -> crate::db::Budget {
        self.db.budget()
    }
}

impl Services {
    /// Whether the service can do its work: the database answers within
    /// two seconds.
    pub async fn ready(&self) -> Result<()> {
        let ping = crate::db::ping(&self.db);
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
        metrics::gauge!(names::READY).set(if ready.is_ok() { 1.0 } else { 0.0 });
        ready
    }
}
