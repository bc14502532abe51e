//! Password hashing with Argon2id (the argon2 crate's defaults: 19 MiB, 2 passes, 1 lane,
//! OWASP's recommended minimum). Hashing takes tens of milliseconds of CPU on purpose, so it
//! runs on tokio's blocking pool, never on the threads that serve sockets.

use app::domain::Password;
use argon2::{
    password_hash::{phc::PasswordHash, PasswordHasher, PasswordVerifier},
    Argon2,
};

/// Why hashing failed (never because of the password's content).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`) for storing.
pub async fn hash(password: &Password) -> Result<String, HashError> {
    let password = password.clone();
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.expose().as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|e| HashError(e.to_string()))
    })
    .await
    .map_err(|e| HashError(e.to_string()))?
}

/// Whether `password` matches the stored PHC string. A malformed stored hash never matches.
pub async fn verify(password: &Password, stored: &str) -> bool {
    let password = password.clone();
    let stored = stored.to_owned();
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&stored).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(password.expose().as_bytes(), &parsed)
                .is_ok()
        })
    })
    .await
    .unwrap_or(false)
}

/// A hash of nothing in particular, for checks against unknown usernames.
static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Computes the dummy hash ahead of the first log-in (at start-up), so that first unknown
/// name costs no more than any other.
pub async fn warm_up() {
    if DUMMY.get().is_none() {
        if let Ok(password) = Password::parse("not a real password") {
            if let Ok(stored) = hash(&password).await {
                let _ = DUMMY.set(stored);
            }
        }
    }
}

/// Spends the same time as a real check, for unknown usernames: the response time must not
/// tell an attacker which names exist.
pub async fn verify_nothing(password: &Password) {
    warm_up().await;
    if let Some(stored) = DUMMY.get() {
        let _ = verify(password, stored).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_are_salted() {
        let password = Password::parse("correct horse").expect("valid");
        let first = hash(&password).await.expect("hash");
        let second = hash(&password).await.expect("hash");
        assert!(first.starts_with("$argon2id$"), "{first}");
        assert_ne!(first, second, "every hash has its own salt");
        assert!(verify(&password, &first).await);
        let wrong = Password::parse("wrong horse").expect("valid");
        assert!(!verify(&wrong, &first).await);
        assert!(!verify(&password, "not a hash").await);
    }
}
