//! Password hashing with argon2id at OWASP's parameters (m = 19 MiB, t = 2, p = 1).
//!
//! A hash costs tens of milliseconds of CPU, so hashing runs on the blocking pool, at most
//! one per core at a time; a request that cannot get a turn within [`QUEUE_WAIT`] is shed
//! with 503 instead of queueing without bound and starving every other route.

use std::sync::Arc;
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::PasswordHasher;
use kit::ApiError;
use tokio::sync::Semaphore;

use crate::domain::Password;

const QUEUE_WAIT: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub struct Hasher {
    turns: Arc<Semaphore>,
}

impl Hasher {
    pub fn new(concurrency: usize) -> Self {
        Self {
            turns: Arc::new(Semaphore::new(concurrency.max(1))),
        }
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
