//! Throttling of password checks and signups, kept in the database so
//! that every replica sees the same counts.
//!
//! A password check is counted as a failure *before* it runs, under
//! every counter that applies to it, in one locked step; a check that
//! then succeeds takes its count back. So the limits hold for bursts of
//! concurrent attempts on any number of replicas, and a refused attempt
//! never reaches Argon2. The counters, each in a fixed window that opens
//! at its first count:
//!
//! | counter | counts failed checks | refuses |
//! |---|---|---|
//! | account and client | on one account from one client | that client, for that account |
//! | account | on one account from clients it does not recognise | every client it does not recognise |
//! | device | made with one device token | logins with that token |
//! | client | from one client, on any account | that client, for every account |
//!
//! So a guesser locks out only itself: the owner, on another address,
//! still logs in. Guessing spread over many addresses spends the
//! account's budget; once it is spent, only clients holding a device
//! token from an earlier login to that account get through, and they are
//! counted under the token instead. A password change comes with a
//! session, which recognises the client as a device token would.
//! Unknown names are counted exactly like accounts, so the answers never
//! reveal which accounts exist. Signups are counted per client.

use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::config::ThrottleConfig;
use crate::db::throttle_counters::{self, Key};
use crate::db::{self, Conn};

use super::clock::{Clock, after, before};
use super::devices::DeviceId;
use super::error::{Error, Result};
use super::values::fold_case;
use crate::client::ClientKey;
use crate::metric_names as names;

/// What a counter counts under: a digest, so that its length is fixed
/// whatever name was typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleKey(Key);

impl ThrottleKey {
    /// An account's checks, whichever of its names was used to log in.
    pub fn account(user_id: i64) -> Self {
        Self::of(&format!("user:{user_id}"))
    }

    /// Checks for a name that matched no account, counted regardless of
    /// case.
    pub fn unknown_name(name: &str) -> Self {
        Self::of(&format!("name:{}", fold_case(name)))
    }

    fn of(text: &str) -> Self {
        Self(Sha256::digest(text).into())
    }

    fn with_client(self, client: ClientKey) -> Self {
        let mut digest = Sha256::new();
        digest.update(b"pair:");
        digest.update(self.0);
        digest.update(client.to_string());
        Self(digest.finalize().into())
    }

    fn client(client: ClientKey) -> Self {
        Self::of(&format!("client:{client}"))
    }

    fn device(id: DeviceId) -> Self {
        let mut digest = Sha256::new();
        digest.update(b"device:");
        digest.update(id.0);
        Self(digest.finalize().into())
    }

    fn signups(client: ClientKey) -> Self {
        Self::of(&format!("signup:{client}"))
    }
}

/// How the client making a password check is recognised for the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recognised {
    /// Not at all: the account's global budget applies.
    No,
    /// By a device token from an earlier login to this account.
    Device(DeviceId),
    /// By a session of the account (a password change).
    Session,
}

/// One password check: on which account (or unknown name), from which
/// client, recognised how.
#[derive(Debug, Clone, Copy)]
pub struct Attempt {
    pub subject: ThrottleKey,
    pub client: ClientKey,
    pub recognised: Recognised,
}

/// Which limit a counter enforces; also its metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Limit {
    AccountAndClient,
    Account,
    Device,
    Client,
    Signups,
}

impl Limit {
    const ALL: [Self; 5] = [
        Self::AccountAndClient,
        Self::Account,
        Self::Device,
        Self::Client,
        Self::Signups,
    ];

    fn label(self) -> &'static str {
        match self {
            Self::AccountAndClient => "account_and_client",
            Self::Account => "account",
            Self::Device => "device",
            Self::Client => "client",
            Self::Signups => "signups",
        }
    }

    /// Whether a successful check wipes the counter, rather than only
    /// taking its own count back. Wiping the account's or the client's
    /// count would let a guesser reset it with a login of its own.
    fn cleared_by_success(self) -> bool {
        matches!(self, Self::AccountAndClient | Self::Device)
    }
}

/// A counter that applies to an attempt, and its limit.
#[derive(Debug, Clone, Copy)]
struct Counted {
    limit: Limit,
    key: ThrottleKey,
    max: u32,
}

#[derive(Clone)]
pub struct LoginThrottle {
    policy: ThrottleConfig,
    clock: Clock,
}

impl LoginThrottle {
    pub fn new(policy: ThrottleConfig, clock: Clock) -> Self {
        // Published at 0, so a first refusal is an increase Prometheus sees.
        for limit in Limit::ALL {
            metrics::counter!(names::THROTTLE_REFUSALS, "limit" => limit.label()).increment(0);
        }
        Self { policy, clock }
    }

    fn counters(&self, attempt: &Attempt) -> Vec<Counted> {
        let policy = &self.policy;
        let mut counters = vec![
            Counted {
                limit: Limit::AccountAndClient,
                key: attempt.subject.with_client(attempt.client),
                max: policy.max_failures,
            },
            Counted {
                limit: Limit::Client,
                key: ThrottleKey::client(attempt.client),
                max: policy.max_failures_per_client,
            },
        ];
        match attempt.recognised {
            Recognised::No => counters.push(Counted {
                limit: Limit::Account,
                key: attempt.subject,
                max: policy.max_failures_per_account,
            }),
            Recognised::Device(id) => counters.push(Counted {
                limit: Limit::Device,
                key: ThrottleKey::device(id),
                max: policy.max_failures,
            }),
            Recognised::Session => {}
        }
        counters
    }

    /// Counts one password check under every counter that applies before
    /// it runs, or refuses it with [`Error::Throttled`] when any of them
    /// is at its limit (then nothing is counted).
    pub async fn reserve(&self, conn: &mut Conn, attempt: &Attempt) -> Result<()> {
        let counters = self.counters(attempt);
        self.count(conn, &counters, self.policy.failure_window)
            .await
    }

    /// Counts one signup from `client`, or refuses it.
    pub async fn reserve_signup(&self, conn: &mut Conn, client: ClientKey) -> Result<()> {
        let counters = [Counted {
            limit: Limit::Signups,
            key: ThrottleKey::signups(client),
            max: self.policy.signup_max_per_client,
        }];
        self.count(conn, &counters, self.policy.signup_window).await
    }

    /// Takes back what [`LoginThrottle::reserve`] counted for a check that
    /// succeeded, in one statement: the account-and-client and device
    /// counters start over, the others lose this one count.
    pub async fn succeeded(&self, conn: &mut Conn, attempt: &Attempt) -> Result<()> {
        let (cleared, refunded): (Vec<Counted>, Vec<Counted>) = self
            .counters(attempt)
            .into_iter()
            .partition(|counted| counted.limit.cleared_by_success());
        throttle_counters::settle(conn, &keys(&cleared), &keys(&refunded)).await?;
        Ok(())
    }

    /// Deletes counters whose window has passed.
    pub async fn purge(&self, conn: &mut Conn) -> Result<usize> {
        let longest = self.policy.failure_window.max(self.policy.signup_window);
        let expired = before(self.clock.now(), longest);
        Ok(throttle_counters::purge(conn, expired).await?)
    }

    /// One locked step: counts a hit on every counter, and if that takes
    /// any past its limit, rolls the step back (nothing is counted) and
    /// refuses.
    async fn count(&self, conn: &mut Conn, counters: &[Counted], window: Duration) -> Result<()> {
        use diesel_async::AsyncConnection;
        let now = self.clock.now();
        let keys = keys(counters);
        let counted = conn
            .transaction::<_, Refusal, _>(async |conn| {
                let found = throttle_counters::hit(conn, &keys, now, before(now, window)).await?;
                let over: Vec<_> = counters
                    .iter()
                    .zip(&found)
                    .filter(|(counted, counter)| {
                        u32::try_from(counter.hits).unwrap_or(u32::MAX) > counted.max
                    })
                    .map(|(counted, counter)| (counted.limit, counter.window_started_at))
                    .collect();
                if over.is_empty() {
                    Ok(())
                } else {
                    Err(Refusal::Over(over))
                }
            })
            .await;
        let over = match counted {
            Ok(()) => return Ok(()),
            Err(Refusal::Over(over)) => over,
            Err(Refusal::Database(err)) => return Err(err.into()),
        };
        for (limit, _) in &over {
            metrics::counter!(names::THROTTLE_REFUSALS, "limit" => limit.label()).increment(1);
        }
        let ends = over
            .iter()
            .map(|(_, opened)| after(*opened, window))
            .max()
            .unwrap_or(now);
        let wait = (ends - now).num_milliseconds();
        let retry_after_secs = ((wait + 999) / 1000).max(1) as u64;
        Err(Error::Throttled { retry_after_secs })
    }
}

/// Why the counting step was rolled back.
enum Refusal {
    /// These limits, with the time their windows opened, were exceeded.
    Over(Vec<(Limit, chrono::NaiveDateTime)>),
    Database(db::Error),
}

impl From<db::Error> for Refusal {
    fn from(err: db::Error) -> Self {
        Self::Database(err)
    }
}

impl From<diesel::result::Error> for Refusal {
    fn from(err: diesel::result::Error) -> Self {
        Self::Database(err.into())
    }
}

fn keys(counters: &[Counted]) -> Vec<Key> {
    counters.iter().map(|counted| counted.key.0).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Client;

    #[test]
    fn keys_are_the_digests_migration_5_made_of_the_old_text_keys() {
        let digest = |text: &str| -> [u8; 32] { Sha256::digest(text).into() };
        assert_eq!(ThrottleKey::account(7).0, digest("user:7"));
        assert_eq!(ThrottleKey::unknown_name("ÀdA").0, digest("name:àda"));
        assert_eq!(ThrottleKey::unknown_name("İ").0, digest("name:i\u{307}"));
    }

    #[test]
    fn every_counter_of_an_attempt_has_a_key_of_its_own() {
        let client = |text: &str| Client::new(text.parse().unwrap()).key();
        let account = ThrottleKey::account(7);
        let mut all = vec![
            account,
            account.with_client(client("192.0.2.1")),
            account.with_client(client("192.0.2.2")),
            ThrottleKey::account(8).with_client(client("192.0.2.1")),
            ThrottleKey::client(client("192.0.2.1")),
            ThrottleKey::signups(client("192.0.2.1")),
            ThrottleKey::device(DeviceId([1; 16])),
            ThrottleKey::device(DeviceId([2; 16])),
        ];
        let count = all.len();
        all.sort_by_key(|key| key.0);
        all.dedup();
        assert_eq!(all.len(), count);
    }
}
