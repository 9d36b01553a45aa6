//! Per-account login throttling, kept in the database so every replica
//! sees the same count.
//!
//! At most `max_failures` password checks per account run within `window`
//! (counted from the first) unless one succeeds; further attempts are
//! refused before any hashing, until the window passes.
//! Unknown names are counted the same way, so the throttle does not tell
//! which accounts exist. A successful login clears the count.

use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::db::{self, Conn};

use super::clock::{Clock, after, before};
use super::error::{Error, Result};
use super::values::fold_case;

#[derive(Debug, Clone, Copy)]
pub struct ThrottlePolicy {
    pub max_failures: u32,
    pub window: Duration,
}

/// What the throttle counts checks under: a digest, so that its length is
/// fixed whatever name was typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleKey([u8; 32]);

impl ThrottleKey {
    /// An account's checks, whichever of its names was used to log in.
    pub fn account(user_id: i64) -> Self {
        Self(Sha256::digest(format!("user:{user_id}")).into())
    }

    /// Checks for a name that matched no account, counted regardless of
    /// case.
    pub fn unknown_name(name: &str) -> Self {
        Self(Sha256::digest(format!("name:{}", fold_case(name))).into())
    }
}

#[derive(Clone)]
pub struct LoginThrottle {
    policy: ThrottlePolicy,
    clock: Clock,
}

impl LoginThrottle {
    pub fn new(policy: ThrottlePolicy, clock: Clock) -> Self {
        Self { policy, clock }
    }

    /// Counts one password check for `key` before it runs, or refuses it
    /// with [`Error::Throttled`] once `max_failures` checks have been
    /// counted in the window. Counting first, in one locked step, is what
    /// makes the limit hold for a burst of concurrent attempts on any
    /// number of replicas: a check still running counts as a failure until
    /// it succeeds.
    pub async fn reserve(&self, conn: &mut Conn, key: &ThrottleKey) -> Result<()> {
        let max = i32::try_from(self.policy.max_failures).unwrap_or(i32::MAX - 1);
        let now = self.clock.now();
        let window = self.policy.window;
        let (checks, started) =
            db::login_failures::count_check(conn, &key.0, now, before(now, window), max + 1)
                .await?;
        if checks <= max {
            return Ok(());
        }
        let wait = (after(started, window) - now).num_milliseconds();
        let retry_after_secs = ((wait + 999) / 1000).max(1) as u64;
        Err(Error::Throttled { retry_after_secs })
    }

    /// Clears the count after a check that succeeded.
    pub async fn succeeded(&self, conn: &mut Conn, key: &ThrottleKey) -> Result<()> {
        db::login_failures::clear(conn, &key.0).await?;
        Ok(())
    }

    /// Deletes counters whose window has passed.
    pub async fn purge(&self, conn: &mut Conn) -> Result<usize> {
        let expired = before(self.clock.now(), self.policy.window);
        Ok(db::login_failures::purge(conn, expired).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_the_digests_migration_5_made_of_the_old_text_keys() {
        let digest = |text: &str| -> [u8; 32] { Sha256::digest(text).into() };
        assert_eq!(ThrottleKey::account(7).0, digest("user:7"));
        assert_eq!(ThrottleKey::unknown_name("ÀdA").0, digest("name:àda"));
        assert_eq!(ThrottleKey::unknown_name("İ").0, digest("name:i\u{307}"));
    }
}
