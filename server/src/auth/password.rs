//! Password hashing with Argon2id (the argon2 crate's defaults: 19 MiB, 2 passes, 1 lane,
//! OWASP's recommended minimum).
//!
//! Hashing takes tens of milliseconds of CPU and 19 MiB of memory on purpose, so it runs on
//! a [`Hasher`]'s own threads, never on the threads that serve sockets: one per core, with a
//! short queue; beyond it a request is refused at once ([`HashError::Busy`], a 503 with
//! `Retry-After`). Three hundred log-ins at once cost a few hashes' worth of memory, not
//! three hundred. (Dedicated threads, not tokio's blocking pool: the allocator keeps a freed
//! 19 MiB buffer in each thread's arena, so hashing on hundreds of pool threads would hold
//! hundreds of buffers.)

use app::domain::Password;
use argon2::{
    password_hash::phc::{Output, ParamsString, PasswordHash, Salt},
    Algorithm, Argon2, Block, Params, Version,
};
use std::sync::{
    atomic::{AtomicUsize, Ordering},
    mpsc, Arc, Mutex,
};
use tokio::sync::oneshot;

/// Argon2 memory larger than this in a stored hash is refused rather than allocated (a hash
/// written by a future, stronger setting still verifies up to 256 MiB).
const MAX_BLOCKS: u32 = 256 * 1024;
/// A hashing thread idle this long frees its memory.
const IDLE_RELEASE: std::time::Duration = std::time::Duration::from_secs(60);
/// Salt length, in bytes (the PHC recommendation).
const SALT_BYTES: usize = 16;

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

/// A hashing thread's working memory: allocated once, reused by every hash it computes.
type Memory = Vec<Block>;

/// Runs Argon2 with bounded concurrency and a bounded queue. Cheap to clone.
#[derive(Clone)]
pub struct Hasher {
    inner: Arc<Inner>,
}

struct Inner {
    /// Work for the hashing threads (they end when the last `Hasher` is dropped).
    jobs: Mutex<mpsc::Sender<Job>>,
    /// Hashes queued or running.
    admitted: AtomicUsize,
    /// Most admitted at once (running plus waiting).
    capacity: usize,
}

/// One hash to compute on a hashing thread, with the thread's memory.
type Job = Box<dyn FnOnce(&mut Memory) + Send>;

impl Hasher {
    /// `concurrency` hashes at once (0: one per core), and up to `queue` more waiting.
    pub fn new(concurrency: usize, queue: usize) -> Self {
        let concurrency = if concurrency == 0 {
            std::thread::available_parallelism().map_or(2, usize::from)
        } else {
            concurrency
        };
        let (jobs, queue_end) = mpsc::channel::<Job>();
        let queue_end = Arc::new(Mutex::new(queue_end));
        for n in 0..concurrency {
            let queue_end = queue_end.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("parlor-argon2-{n}"))
                .spawn(move || {
                    let mut memory = Memory::new();
                    loop {
                        let job = queue_end
                            .lock()
                            .unwrap_or_else(|poison| poison.into_inner())
                            .recv_timeout(IDLE_RELEASE);
                        match job {
                            Ok(job) => job(&mut memory),
                            // Idle: give the memory back (a quiet server holds none).
                            Err(mpsc::RecvTimeoutError::Timeout) => memory = Memory::new(),
                            Err(mpsc::RecvTimeoutError::Disconnected) => return,
                        }
                    }
                });
            if let Err(error) = spawned {
                tracing::error!(%error, "cannot start a password hashing thread");
            }
        }
        Self {
            inner: Arc::new(Inner {
                jobs: Mutex::new(jobs),
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
        self.run(move |memory| hash_with(memory, password.expose().as_bytes()))
            .await?
    }

    /// Whether `password` matches the stored PHC string. A malformed stored hash never
    /// matches.
    pub async fn verify(&self, password: &Password, stored: &str) -> Result<bool, HashError> {
        let password = password.clone();
        let stored = stored.to_owned();
        self.run(move |memory| verify_with(memory, password.expose().as_bytes(), &stored))
            .await
    }

    /// Spends the same time as a real check, for unknown usernames: the response time must
    /// not tell an attacker which names exist.
    pub async fn verify_nothing(&self, password: &Password) -> Result<(), HashError> {
        self.verify(password, DUMMY).await.map(drop)
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Memory) -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let inner = &self.inner;
        if inner.admitted.fetch_add(1, Ordering::AcqRel) >= inner.capacity {
            inner.admitted.fetch_sub(1, Ordering::AcqRel);
            crate::telemetry::refused("argon2_busy");
            return Err(HashError::Busy);
        }
        crate::telemetry::argon2_queue(self.depth());
        let (answer, outcome) = oneshot::channel();
        let job: Job = Box::new(move |memory| {
            let _ = answer.send(work(memory));
        });
        let queued = inner
            .jobs
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .send(job);
        let outcome = match queued {
            Ok(()) => outcome
                .await
                .map_err(|_| HashError::Failed("the hashing thread stopped".to_owned())),
            Err(_) => Err(HashError::Failed("no hashing thread".to_owned())),
        };
        inner.admitted.fetch_sub(1, Ordering::AcqRel);
        crate::telemetry::argon2_queue(self.depth());
        outcome
    }
}

/// `memory`, grown to `blocks` if needed (it keeps its size for the next hash).
fn blocks(memory: &mut Memory, blocks: usize) -> &mut [Block] {
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    &mut memory[..blocks]
}

/// Argon2id with the default (OWASP) parameters and a fresh salt, in `memory`.
fn hash_with(memory: &mut Memory, password: &[u8]) -> Result<String, HashError> {
    let failed = |e: &dyn std::fmt::Display| HashError::Failed(e.to_string());
    let params = Params::default();
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut salt = [0u8; SALT_BYTES];
    getrandom::fill(&mut salt).map_err(|e| failed(&e))?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon2
        .hash_password_into_with_memory(
            password,
            &salt,
            &mut out,
            blocks(memory, params.block_count()),
        )
        .map_err(|e| failed(&e))?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| failed(&e))?,
        salt: Some(Salt::new(&salt).map_err(|e| failed(&e))?),
        hash: Some(Output::new(&out).map_err(|e| failed(&e))?),
    };
    Ok(hash.to_string())
}

/// Recomputes a stored hash's output for `password` in `memory`; compared in constant time
/// (`Output`'s equality).
fn verify_with(memory: &mut Memory, password: &[u8], stored: &str) -> bool {
    let Ok(hash) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return false;
    };
    let algorithm = Algorithm::try_from(hash.algorithm.as_str());
    let version = hash.version.map_or(Ok(Version::V0x13), Version::try_from);
    let (Ok(algorithm), Ok(version), Ok(params)) = (algorithm, version, Params::try_from(&hash))
    else {
        return false;
    };
    if params.m_cost() > MAX_BLOCKS {
        return false;
    }
    let count = params.block_count();
    let argon2 = Argon2::new(algorithm, version, params);
    let mut out = vec![0u8; expected.len()];
    argon2
        .hash_password_into_with_memory(password, salt.as_ref(), &mut out, blocks(memory, count))
        .is_ok()
        && Output::new(&out).is_ok_and(|computed| computed == *expected)
}

/// A hash of nothing in particular with the default parameters, for checks against unknown
/// usernames (a constant: nothing is hashed at start-up, and the first unknown name costs
/// what any other does).
const DUMMY: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$+VRe4x0N/dW/+NWt4xSm+A$p/3myIiNhZMDkdoxYQCcXf+5f/YBObCzk9cgpInSIxA";

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
    async fn hashes_from_the_crate_own_hasher_still_verify() {
        use argon2::password_hash::PasswordHasher;
        let hasher = Hasher::new(1, 1);
        let password = Password::parse("correct horse").expect("valid");
        let stored = Argon2::default()
            .hash_password(password.expose().as_bytes())
            .expect("hash")
            .to_string();
        assert!(hasher.verify(&password, &stored).await.expect("verify"));
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
