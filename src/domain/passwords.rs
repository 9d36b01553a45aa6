//! Argon2id password hashing, kept off the async workers.
//!
//! Each hash takes ~19 MiB and tens of milliseconds of CPU, so hashing runs
//! on blocking threads, at most one per core at a time: a burst of logins
//! queues here instead of exhausting memory or starving other requests.
//! Logins for unknown users verify against a dummy hash, so both cases
//! cost one Argon2 run and take the same time.

use std::sync::Arc;

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

use super::error::{Error, Result};

/// Argon2id with OWASP's parameters: m = 19456 KiB, t = 2, p = 1.
fn argon2() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::DEFAULT)
}

#[derive(Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
    dummy_hash: Arc<str>,
}

impl Passwords {
    /// Prepares the hasher; computes the dummy hash once.
    pub async fn new() -> Result<Self> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let passwords = Self {
            permits: Arc::new(Semaphore::new(cores)),
            dummy_hash: Arc::from(""),
        };
        let random = SecretString::from(uuid::Uuid::new_v4().to_string());
        let dummy_hash = passwords.hash(random).await?;
        Ok(Self {
            dummy_hash: Arc::from(dummy_hash),
            ..passwords
        })
    }

    /// Hashes a password into a PHC string.
    pub async fn hash(&self, password: SecretString) -> Result<String> {
        self.run(move || {
            argon2()
                .hash_password(password.expose_secret().as_bytes())
                .map(|hash| hash.to_string())
                .map_err(Error::internal)
        })
        .await
    }

    /// Checks a password against a stored hash, or against the dummy hash
    /// when there is none, so the answer takes as long either way.
    pub async fn verify(&self, password: SecretString, hash: Option<String>) -> Result<bool> {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy_hash.to_string());
        let matches = self
            .run(move || {
                Ok(argon2()
                    .verify_password(password.expose_secret().as_bytes(), hash.as_str())
                    .is_ok())
            })
            .await?;
        Ok(known && matches)
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let _permit = self.permits.acquire().await.map_err(Error::internal)?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(Error::internal)?
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn no_more_hashes_run_at_once_than_there_are_cores() {
        let passwords = Passwords::new().await.unwrap();
        let cores = passwords.permits.available_permits();
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let mut jobs = tokio::task::JoinSet::new();
        for _ in 0..cores * 4 {
            let (passwords, running, peak) = (passwords.clone(), running.clone(), peak.clone());
            jobs.spawn(async move {
                passwords
                    .run(move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(20));
                        running.fetch_sub(1, Ordering::SeqCst);
                        Ok(())
                    })
                    .await
            });
        }
        for result in jobs.join_all().await {
            result.unwrap();
        }
        assert_eq!(peak.load(Ordering::SeqCst), cores);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn hashes_verify_and_unknown_users_never_do() {
        let passwords = Passwords::new().await.unwrap();
        let hash = passwords
            .hash(SecretString::from("hunter2hunter2"))
            .await
            .unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        let check = |pw: &str, hash: Option<String>| {
            passwords.verify(SecretString::from(pw.to_owned()), hash)
        };
        assert!(check("hunter2hunter2", Some(hash.clone())).await.unwrap());
        assert!(!check("wrong", Some(hash)).await.unwrap());
        assert!(!check("hunter2hunter2", None).await.unwrap());
    }
}
