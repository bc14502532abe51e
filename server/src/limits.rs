//! Rate limits (governor's GCRA token buckets):
//! - log-in and sign-up attempts per client IP, and log-in attempts per account, so
//!   passwords cannot be guessed at speed (429 with `Retry-After`);
//! - messages per user per connection (WebSocket: a `rate_limited` error frame, and the
//!   socket is closed if the client keeps pushing) and per user over HTTP (429).

use crate::error::ApiError;
use governor::{
    clock::{Clock, DefaultClock},
    DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter,
};
use std::{net::IpAddr, num::NonZeroU32, time::Duration};

/// The configured limits (0 turns a limit off).
#[derive(Clone, Copy, Debug)]
pub struct LimitSettings {
    /// Log-in and sign-up attempts per minute per IP (and the burst allowed at once).
    pub auth_per_minute: u32,
    /// Log-in attempts per minute per account.
    pub login_per_account_per_minute: u32,
    /// Messages per second per user per connection.
    pub message_rate: u32,
    /// Messages a user may send at once before the rate applies.
    pub message_burst: u32,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            auth_per_minute: 10,
            login_per_account_per_minute: 5,
            message_rate: 5,
            message_burst: 20,
        }
    }
}

/// The limiters shared by every request.
pub struct Limits {
    auth_by_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    login_by_account: Option<DefaultKeyedRateLimiter<String>>,
    message_quota: Option<Quota>,
    http_messages: Option<DefaultKeyedRateLimiter<i64>>,
}

fn per_minute(n: u32) -> Option<Quota> {
    NonZeroU32::new(n).map(Quota::per_minute)
}

impl Limits {
    /// Limiters for these settings.
    pub fn new(settings: LimitSettings) -> Self {
        let message_quota = NonZeroU32::new(settings.message_rate).map(|rate| {
            Quota::per_second(rate)
                .allow_burst(NonZeroU32::new(settings.message_burst).unwrap_or(rate))
        });
        Self {
            auth_by_ip: per_minute(settings.auth_per_minute).map(RateLimiter::keyed),
            login_by_account: per_minute(settings.login_per_account_per_minute)
                .map(RateLimiter::keyed),
            message_quota,
            http_messages: message_quota.map(RateLimiter::keyed),
        }
    }

    /// One log-in or sign-up attempt from `ip`.
    pub fn auth_attempt(&self, ip: Option<IpAddr>) -> Result<(), ApiError> {
        match (&self.auth_by_ip, ip) {
            (Some(limiter), Some(ip)) => check(limiter.check_key(&ip)),
            _ => Ok(()),
        }
    }

    /// One log-in attempt on the account with this username key.
    pub fn login_attempt(&self, username_key: &str) -> Result<(), ApiError> {
        match &self.login_by_account {
            Some(limiter) => check(limiter.check_key(&username_key.to_owned())),
            None => Ok(()),
        }
    }

    /// A fresh per-connection message limiter (`None`: unlimited).
    pub fn connection_messages(&self) -> Option<DefaultDirectRateLimiter> {
        self.message_quota.map(RateLimiter::direct)
    }

    /// One message sent over HTTP by `user_id`.
    pub fn http_message(&self, user_id: i64) -> Result<(), ApiError> {
        match &self.http_messages {
            Some(limiter) => check(limiter.check_key(&user_id)),
            None => Ok(()),
        }
    }

    /// Forgets idle keys so the tables do not grow without bound (call now and then).
    pub fn forget_idle(&self) {
        if let Some(limiter) = &self.auth_by_ip {
            limiter.retain_recent();
        }
        if let Some(limiter) = &self.login_by_account {
            limiter.retain_recent();
        }
        if let Some(limiter) = &self.http_messages {
            limiter.retain_recent();
        }
    }
}

/// How long until `limiter` would allow one more, if it refuses now.
pub fn wait_time(
    outcome: Result<(), governor::NotUntil<<DefaultClock as Clock>::Instant>>,
) -> Option<Duration> {
    outcome
        .err()
        .map(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
}

fn check(
    outcome: Result<(), governor::NotUntil<<DefaultClock as Clock>::Instant>>,
) -> Result<(), ApiError> {
    match wait_time(outcome) {
        None => Ok(()),
        Some(wait) => Err(ApiError::RateLimited {
            retry_after: wait.as_secs().max(1),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_attempts_run_out_per_ip_and_per_account() {
        let limits = Limits::new(LimitSettings {
            auth_per_minute: 3,
            login_per_account_per_minute: 2,
            ..LimitSettings::default()
        });
        let ip: IpAddr = "10.0.0.1".parse().expect("ip");
        let other: IpAddr = "10.0.0.2".parse().expect("ip");
        for _ in 0..3 {
            assert!(limits.auth_attempt(Some(ip)).is_ok());
        }
        match limits.auth_attempt(Some(ip)) {
            Err(ApiError::RateLimited { retry_after }) => assert!(retry_after >= 1),
            other => panic!("expected a rate limit, got {other:?}"),
        }
        assert!(limits.auth_attempt(Some(other)).is_ok(), "per IP");
        assert!(limits.login_attempt("ann").is_ok());
        assert!(limits.login_attempt("ann").is_ok());
        assert!(limits.login_attempt("ann").is_err());
        assert!(limits.login_attempt("bob").is_ok(), "per account");
    }

    #[test]
    fn zero_turns_a_limit_off() {
        let limits = Limits::new(LimitSettings {
            auth_per_minute: 0,
            login_per_account_per_minute: 0,
            message_rate: 0,
            message_burst: 0,
        });
        for _ in 0..100 {
            assert!(limits
                .auth_attempt(Some("10.0.0.1".parse().expect("ip")))
                .is_ok());
            assert!(limits.http_message(1).is_ok());
        }
        assert!(limits.connection_messages().is_none());
    }

    #[test]
    fn messages_have_a_burst_then_a_rate() {
        let limits = Limits::new(LimitSettings {
            message_rate: 1,
            message_burst: 3,
            ..LimitSettings::default()
        });
        let connection = limits.connection_messages().expect("limited");
        let allowed = (0..10).filter(|_| connection.check().is_ok()).count();
        assert_eq!(allowed, 3);
    }
}
