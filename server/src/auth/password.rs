//! Password hashing with Argon2id (the argon2 crate's defaults: 19 MiB, 2 passes, 1 lane,
//! OWASP's recommended minimum).
//!
//! Hashing takes tens of milliseconds of CPU and 19 MiB of memory on purpose, so it runs on
//! tokio's blocking pool, never on the threads that serve sockets — and through a [`Hasher`]
//! that runs as many at once as there are cores, lets a short queue wait, and refuses the
//! rest at once ([`HashError::Busy`], a 503 with `Retry-After`): three hundred log-ins at
//! once cost a few hashes' worth of memory, not three hundred.

use app::domain::Password;
use argon2::{
    password_hash::{phc::PasswordHash, PasswordHasher, PasswordVerifier},
    Argon2,
};
use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc, OnceLock,
};
use tokio::sync::Semaphore;

/// Why hashing failed (never because of the password's content).
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every hashing slot is busy and the queue is full: retry in a moment.
    #[error("The server is busy checking passwords; retry in a moment.")]
    Busy,
    /// The hasher itself failed.
    #[error("password hashing failed: {0}")]
    Failed(String),
}

/// Runs Argon2 with bounded concurrency and a bounded queue. Cheap to clone.
#[derive(Clone)]
pub struct Hasher {
    inner: Arc<Inner>,
}

struct Inner {
    /// One permit per hash running at once.
    running: Semaphore,
    /// Hashes waiting for a permit or running.
    admitted: AtomicUsize,
    /// Most admitted at once (running plus waiting).
    capacity: usize,
}

impl Hasher {
    /// `concurrency` hashes at once (0: one per core), and up to `queue` more waiting.
    pub fn new(concurrency: usize, queue: usize) -> Self {
        let concurrency = if concurrency == 0 {
            std::thread::available_parallelism().map_or(2, usize::from)
        } else {
            concurrency
        };
        Self {
            inner: Arc::new(Inner {
                running: Semaphore::new(concurrency),
                admitted: AtomicUsize::new(0),
                capacity: concurrency + queue,
            }),
        }
    }

    /// Hashes admitted now, running or waiting (for `/metrics`).
    pub fn depth(&self) -> usize {
        self.inner.admitted.load(Ordering::Relaxed)
    }

    /// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`) for storing.
    pub async fn hash(&self, password: &Password) -> Result<String, HashError> {
        let password = password.clone();
        self.run(move || {
            Argon2::default()
                .hash_password(password.expose().as_bytes())
                .map(|hash| hash.to_string())
                .map_err(|e| HashError::Failed(e.to_string()))
        })
        .await?
    }

    /// Whether `password` matches the stored PHC string. A malformed stored hash never
    /// matches.
    pub async fn verify(&self, password: &Password, stored: &str) -> Result<bool, HashError> {
        let password = password.clone();
        let stored = stored.to_owned();
        self.run(move || {
            PasswordHash::new(&stored).is_ok_and(|parsed| {
                Argon2::default()
                    .verify_password(password.expose().as_bytes(), &parsed)
                    .is_ok()
            })
        })
        .await
    }

    /// Spends the same time as a real check, for unknown usernames: the response time must
    /// not tell an attacker which names exist.
    pub async fn verify_nothing(&self, password: &Password) -> Result<(), HashError> {
        let stored = match DUMMY.get() {
            Some(stored) => stored.clone(),
            None => {
                let stored = self.hash(&dummy_password()?).await?;
                DUMMY.get_or_init(|| stored).clone()
            }
        };
        self.verify(password, &stored).await.map(drop)
    }

    /// Computes the dummy hash ahead of the first log-in (at start-up), so that first
    /// unknown name costs no more than any other.
    pub async fn warm_up(self) {
        if DUMMY.get().is_none() {
            if let Ok(password) = dummy_password() {
                if let Ok(stored) = self.hash(&password).await {
                    let _ = DUMMY.set(stored);
                }
            }
        }
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let inner = &self.inner;
        if inner.admitted.fetch_add(1, Ordering::AcqRel) >= inner.capacity {
            inner.admitted.fetch_sub(1, Ordering::AcqRel);
            crate::telemetry::refused("argon2_busy");
            return Err(HashError::Busy);
        }
        crate::telemetry::argon2_queue(self.depth());
        let outcome = async {
            let _permit = inner
                .running
                .acquire()
                .await
                .map_err(|e| HashError::Failed(e.to_string()))?;
            tokio::task::spawn_blocking(work)
                .await
                .map_err(|e| HashError::Failed(e.to_string()))
        }
        .await;
        inner.admitted.fetch_sub(1, Ordering::AcqRel);
        crate::telemetry::argon2_queue(self.depth());
        outcome
    }
}

/// A hash of nothing in particular, for checks against unknown usernames.
static DUMMY: OnceLock<String> = OnceLock::new();

fn dummy_password() -> Result<Password, HashError> {
    Password::parse("not a real password").map_err(|e| HashError::Failed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_are_salted() {
        let hasher = Hasher::new(2, 4);
        let password = Password::parse("correct horse").expect("valid");
        let first = hasher.hash(&password).await.expect("hash");
        let second = hasher.hash(&password).await.expect("hash");
        assert!(first.starts_with("$argon2id$"), "{first}");
        assert_ne!(first, second, "every hash has its own salt");
        assert!(hasher.verify(&password, &first).await.expect("verify"));
        let wrong = Password::parse("wrong horse").expect("valid");
        assert!(!hasher.verify(&wrong, &first).await.expect("verify"));
        assert!(!hasher
            .verify(&password, "not a hash")
            .await
            .expect("verify"));
    }

    #[tokio::test]
    async fn past_the_queue_hashing_is_refused_at_once() {
        let hasher = Hasher::new(1, 1);
        let password = Password::parse("correct horse").expect("valid");
        let outcomes = futures::future::join_all((0..6).map(|_| hasher.hash(&password))).await;
        let busy = outcomes
            .iter()
            .filter(|outcome| matches!(outcome, Err(HashError::Busy)))
            .count();
        assert_eq!(busy, 4, "one runs, one waits, the rest are refused");
        assert_eq!(hasher.depth(), 0);
    }
}
