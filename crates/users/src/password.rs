//! Password hashing with argon2id at OWASP's parameters (m = 19 MiB, t = 2, p = 1).
//!
//! A hash costs tens of milliseconds of CPU, so hashing runs on the blocking pool, at most
//! one per core at a time; a request that cannot get a turn within [`QUEUE_WAIT`] is shed
//! with 503 instead of queueing without bound and starving every other route.

use std::sync::Arc;
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use kit::ApiError;
use tokio::sync::Semaphore;

use crate::domain::Password;

const QUEUE_WAIT: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub struct Hasher {
    turns: Arc<Semaphore>,
    /// Verified against when no account matches, so that an unknown email costs the same
    /// time as a wrong password and timing does not tell which accounts exist.
    decoy: Arc<str>,
}

impl Hasher {
    pub fn new(concurrency: usize) -> anyhow::Result<Self> {
        let decoy = Argon2::default()
            .hash_password(b"no account has this password")
            .map_err(|error| anyhow::anyhow!("argon2 hashing failed: {error}"))?
            .to_string();
        Ok(Self {
            turns: Arc::new(Semaphore::new(concurrency.max(1))),
            decoy: decoy.into(),
        })
    }

    /// Whether `password` matches `stored` (a PHC string); with no stored hash, the same
    /// work is done against a decoy and the answer is no.
    pub async fn verify(&self, stored: Option<String>, password: String) -> Result<bool, ApiError> {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| self.decoy.to_string());
        let matches = self
            .run(move || {
                // The parameters come from the stored hash, so older hashes keep verifying.
                Ok(Argon2::default()
                    .verify_password(password.as_bytes(), stored.as_str())
                    .is_ok())
            })
            .await?;
        Ok(known && matches)
    }

    /// Hashes a password into a PHC string that carries its own salt and parameters.
    pub async fn hash(&self, password: &Password) -> Result<String, ApiError> {
        let password = password.expose().to_owned();
        self.run(move || {
            Argon2::default()
                .hash_password(password.as_bytes())
                .map(|hash| hash.to_string())
                .map_err(|error| anyhow::anyhow!("argon2 hashing failed: {error}"))
        })
        .await
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
    ) -> Result<T, ApiError> {
        let permit = tokio::time::timeout(QUEUE_WAIT, self.turns.clone().acquire_owned())
            .await
            .map_err(|_| {
                ApiError::Unavailable("Too many password operations; retry shortly.".to_owned())
            })?
            .map_err(|_| ApiError::Unavailable("The service is shutting down.".to_owned()))?;
        tokio::task::spawn_blocking(move || {
            // The permit lives exactly as long as the CPU work, even if the request is dropped.
            let _permit = permit;
            work()
        })
        .await
        .map_err(|error| anyhow::anyhow!("hashing task failed: {error}"))?
        .map_err(ApiError::Internal)
    }
}
