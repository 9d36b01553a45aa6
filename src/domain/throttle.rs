//! Per-account login throttling, kept in the database so every replica
//! sees the same count.
//!
//! After `max_failures` failed logins within `window` (counted from the
//! first failure), further attempts are refused until the window passes.
//! Unknown names are counted the same way, so the throttle does not tell
//! which accounts exist. A successful login clears the count.

use std::time::Duration;

use crate::db::{self, Conn};

use super::error::{Error, Result};

#[derive(Debug, Clone, Copy)]
pub struct ThrottlePolicy {
    pub max_failures: u32,
    pub window: Duration,
}

/// What the throttle counts an account's failures under, whichever name
/// was used to log in.
pub fn account_key(user_id: i64) -> String {
    format!("user:{user_id}")
}

/// What the throttle counts failures for a name that matched no account
/// under (the name lower-cased, as looked up).
pub fn name_key(login_key: &str) -> String {
    format!("name:{login_key}")
}

#[derive(Clone)]
pub struct LoginThrottle {
    policy: ThrottlePolicy,
}

impl LoginThrottle {
    pub fn new(policy: ThrottlePolicy) -> Self {
        Self { policy }
    }

    fn window(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.policy.window).unwrap_or(chrono::Duration::MAX)
    }

    /// Refuses with [`Error::Throttled`] while the key is locked out.
    pub async fn check(&self, conn: &mut Conn, key: &str) -> Result<()> {
        let Some((failures, started)) = db::login_failures::get(conn, key).await? else {
            return Ok(());
        };
        let reopens = started + self.window();
        let now = db::now();
        if failures as i64 >= i64::from(self.policy.max_failures) && reopens > now {
            let wait = (reopens - now).num_milliseconds();
            let retry_after_secs = ((wait + 999) / 1000).max(1) as u64;
            return Err(Error::Throttled { retry_after_secs });
        }
        Ok(())
    }

    pub async fn failed(&self, conn: &mut Conn, key: &str) -> Result<()> {
        let now = db::now();
        db::login_failures::record(conn, key, now, now - self.window()).await?;
        Ok(())
    }

    pub async fn succeeded(&self, conn: &mut Conn, key: &str) -> Result<()> {
        db::login_failures::clear(conn, key).await?;
        Ok(())
    }

    /// Deletes counters whose window has passed.
    pub async fn purge(&self, conn: &mut Conn) -> Result<usize> {
        Ok(db::login_failures::purge(conn, db::now() - self.window()).await?)
    }
}
