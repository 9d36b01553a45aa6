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
