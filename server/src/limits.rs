//! Rate limits, a policy of the core (the account service and the chat service apply them;
//! the edges only report a [`Limited`] refusal in their terms):
//! - log-in, sign-up and guest attempts per client IP (governor's GCRA token bucket; IPv6
//!   per /64, which one client usually owns), and failed log-ins per account (a short
//!   lock-out), so passwords cannot be guessed at speed (429 with `Retry-After`);
//! - messages per user, whatever connections they come through (a `rate_limited` error
//!   frame or 429); a WebSocket also counts the frames it cannot use (malformed ones) per
//!   connection, and closes a client that keeps pushing.

use crate::fault::Fault;
use app::protocol::ErrorCode;
use governor::{
    clock::{Clock, DefaultClock},
    DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter,
};
use std::{
    collections::HashMap,
    net::IpAddr,
    num::NonZeroU32,
    sync::Mutex,
    time::{Duration, Instant},
};

/// A refusal for going too fast.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("Too many attempts; retry in {retry_after} s.")]
pub struct Limited {
    /// Seconds until a retry may succeed (at least 1).
    pub retry_after: u64,
}

impl Limited {
    fn after(wait: Duration) -> Self {
        Self {
            retry_after: wait.as_secs().max(1),
        }
    }
}

impl Fault for Limited {
    fn code(&self) -> ErrorCode {
        ErrorCode::RateLimited
    }

    fn retry_after(&self) -> Option<u64> {
        Some(self.retry_after)
    }
}

/// A message rate shared by every process (Redis), checked after the process's own.
#[async_trait::async_trait]
pub trait SharedRate: Send + Sync {
    /// Charges one message of `user_id` at `rate` per second with `burst`: `Some(Ok)` allowed,
    /// `Some(Err)` refused, `None` unknown (the shared store is unreachable: the local limit
    /// alone applies).
    async fn allow(&self, user_id: i64, rate: u32, burst: u32) -> Option<Result<(), Limited>>;
}

/// The configured limits (0 turns a limit off).
#[derive(Clone, Copy, Debug)]
pub struct LimitSettings {
    /// Log-in and sign-up attempts per minute per IP (and the burst allowed at once).
    pub auth_per_minute: u32,
    /// Failed log-ins per minute per account before it is locked for the rest of the minute.
    pub login_per_account_per_minute: u32,
    /// Messages per second per user.
    pub message_rate: u32,
    /// Messages a user may send at once before the rate applies.
    pub message_burst: u32,
    /// New identities (accounts and guests) per hour per IP.
    pub signups_per_ip_per_hour: u32,
    /// Rooms a user may create.
    pub room_quota: RoomQuota,
}

/// How many rooms one user may create: per hour, and in all (0 turns either off).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoomQuota {
    /// Rooms per rolling hour.
    pub per_hour: u32,
    /// Rooms owned at once.
    pub total: u32,
}

impl Default for RoomQuota {
    fn default() -> Self {
        Self {
            per_hour: 10,
            total: 100,
        }
    }
}

impl std::str::FromStr for RoomQuota {
    type Err = String;

    /// `PER_HOUR/TOTAL`, e.g. `10/100`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (per_hour, total) = text
            .split_once('/')
            .ok_or_else(|| format!("expected PER_HOUR/TOTAL such as 10/100, not {text:?}"))?;
        let number = |part: &str| {
            part.trim()
                .parse::<u32>()
                .map_err(|_| format!("{part:?} is not a whole number"))
        };
        Ok(Self {
            per_hour: number(per_hour)?,
            total: number(total)?,
        })
    }
}

impl std::fmt::Display for RoomQuota {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.per_hour, self.total)
    }
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            auth_per_minute: 30,
            login_per_account_per_minute: 5,
            message_rate: 10,
            message_burst: 50,
            signups_per_ip_per_hour: 20,
            room_quota: RoomQuota::default(),
        }
    }
}

/// The limiters shared by every request.
pub struct Limits {
    auth_by_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    signups_by_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    failed_logins: Option<FailedLogins>,
    room_quota: RoomQuota,
    message_quota: Option<Quota>,
    messages: Option<DefaultKeyedRateLimiter<i64>>,
    /// The message rate across processes, when there are several.
    shared: Option<std::sync::Arc<dyn SharedRate>>,
    /// The message rate and burst, for the shared check.
    message_settings: (u32, u32),
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
            signups_by_ip: NonZeroU32::new(settings.signups_per_ip_per_hour)
                .map(|n| RateLimiter::keyed(Quota::per_hour(n))),
            failed_logins: (settings.login_per_account_per_minute > 0).then(|| FailedLogins {
                allowed: settings.login_per_account_per_minute,
                window: Duration::from_secs(60),
                accounts: Mutex::new(HashMap::new()),
            }),
            message_quota,
            messages: message_quota.map(RateLimiter::keyed),
            shared: None,
            message_settings: (settings.message_rate, settings.message_burst),
            room_quota: settings.room_quota,
        }
    }

    /// One log-in, sign-up or guest attempt from `ip`.
    pub fn auth_attempt(&self, ip: Option<IpAddr>) -> Result<(), Limited> {
        match (&self.auth_by_ip, ip) {
            (Some(limiter), Some(ip)) => check(limiter.check_key(&network_of(ip))),
            _ => Ok(()),
        }
    }

    /// How many rooms a user may create.
    pub fn room_quota(&self) -> RoomQuota {
        self.room_quota
    }

    /// One new identity (an account or a guest) from `ip`.
    pub fn signup(&self, ip: Option<IpAddr>) -> Result<(), Limited> {
        match (&self.signups_by_ip, ip) {
            (Some(limiter), Some(ip)) => check(limiter.check_key(&network_of(ip))),
            _ => Ok(()),
        }
    }

    /// Reserves one log-in attempt on the account before its password is checked: the
    /// attempt counts as a failure until [`Limits::login_succeeded`] says otherwise, so
    /// guesses sent at once cannot all pass the check before any is recorded. Refused once
    /// the account has had its failures for this minute.
    pub fn reserve_login(&self, username_key: &str) -> Result<(), Limited> {
        match &self.failed_logins {
            Some(failures) => failures.reserve(username_key),
            None => Ok(()),
        }
    }

    /// The reserved attempt succeeded: the account's failures are forgotten.
    pub fn login_succeeded(&self, username_key: &str) {
        if let Some(failures) = &self.failed_logins {
            failures.clear(username_key);
        }
    }

    /// A fresh per-connection limiter for frames that carry no message (malformed ones
    /// cost an answer too), at the message rate (`None`: unlimited).
    pub fn connection_frames(&self) -> Option<DefaultDirectRateLimiter> {
        self.message_quota.map(RateLimiter::direct)
    }

    /// The same limits, with the message rate also shared through `shared` (every process
    /// of a deployment charges one budget per user).
    pub fn with_shared_rate(mut self, shared: std::sync::Arc<dyn SharedRate>) -> Self {
        self.shared = Some(shared);
        self
    }

    /// One message by `user_id`, over any transport: this process's limit, then (with
    /// several processes) the shared one.
    pub async fn message(&self, user_id: i64) -> Result<(), Limited> {
        let Some(limiter) = &self.messages else {
            return Ok(());
        };
        check(limiter.check_key(&user_id))?;
        let Some(shared) = &self.shared else {
            return Ok(());
        };
        let (rate, burst) = self.message_settings;
        match shared.allow(user_id, rate, burst.max(rate)).await {
            Some(Err(limited)) => {
                crate::telemetry::refused("rate_limited");
                Err(limited)
            }
            Some(Ok(())) | None => Ok(()),
        }
    }

    /// Forgets idle keys so the tables do not grow without bound (call now and then).
    pub fn forget_idle(&self) {
        if let Some(limiter) = &self.auth_by_ip {
            limiter.retain_recent();
        }
        if let Some(limiter) = &self.signups_by_ip {
            limiter.retain_recent();
        }
        if let Some(failures) = &self.failed_logins {
            failures.forget_old();
        }
        if let Some(limiter) = &self.messages {
            limiter.retain_recent();
        }
    }
}

/// The key of an address for per-IP limits: IPv4 as is, IPv6 by its /64 (one household or
/// server gets a whole /64, so single addresses are free to rotate).
pub fn network_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
    }
}

/// Failed log-ins per account within a window; past the allowance the account is locked
/// until the window ends. A success clears the count. (Only failures count, so a user who
/// logs in often is never locked out by their own successes.)
struct FailedLogins {
    allowed: u32,
    window: Duration,
    accounts: Mutex<HashMap<String, (u32, Instant)>>,
}

impl FailedLogins {
    fn accounts(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u32, Instant)>> {
        self.accounts.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn reserve(&self, key: &str) -> Result<(), Limited> {
        let mut accounts = self.accounts();
        let entry = accounts
            .entry(key.to_owned())
            .or_insert((0, Instant::now()));
        if entry.1.elapsed() >= self.window {
            *entry = (0, Instant::now());
        }
        if entry.0 >= self.allowed {
            crate::telemetry::refused("login_locked");
            return Err(Limited::after(
                self.window.saturating_sub(entry.1.elapsed()),
            ));
        }
        entry.0 += 1;
        Ok(())
    }

    fn clear(&self, key: &str) {
        self.accounts().remove(key);
    }

    fn forget_old(&self) {
        let mut accounts = self.accounts();
        accounts.retain(|_, (_, since)| since.elapsed() < self.window);
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
) -> Result<(), Limited> {
    match wait_time(outcome) {
        None => Ok(()),
        Some(wait) => {
            crate::telemetry::refused("rate_limited");
            Err(Limited::after(wait))
        }
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
            Err(Limited { retry_after }) => assert!(retry_after >= 1),
            other => panic!("expected a rate limit, got {other:?}"),
        }
        assert!(limits.auth_attempt(Some(other)).is_ok(), "per IP");
        // Two attempts that did not succeed lock the account; another account is unaffected;
        // successes never count.
        for _ in 0..5 {
            assert!(limits.reserve_login("carol").is_ok());
            limits.login_succeeded("carol");
        }
        assert!(limits.reserve_login("ann").is_ok());
        assert!(limits.reserve_login("ann").is_ok());
        assert!(
            limits.reserve_login("ann").is_err(),
            "reserved before any outcome"
        );
        assert!(limits.reserve_login("bob").is_ok(), "per account");
    }

    #[test]
    fn ipv6_addresses_share_their_slash_64() {
        let limits = Limits::new(LimitSettings {
            auth_per_minute: 2,
            ..LimitSettings::default()
        });
        for last in 1..=2u16 {
            let ip: IpAddr = format!("2001:db8:1:2::{last:x}").parse().expect("ip");
            assert!(limits.auth_attempt(Some(ip)).is_ok());
        }
        let rotated: IpAddr = "2001:db8:1:2:ffff::9".parse().expect("ip");
        assert!(limits.auth_attempt(Some(rotated)).is_err());
        let elsewhere: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert!(limits.auth_attempt(Some(elsewhere)).is_ok());
    }

    #[tokio::test]
    async fn zero_turns_a_limit_off() {
        let limits = Limits::new(LimitSettings {
            auth_per_minute: 0,
            login_per_account_per_minute: 0,
            message_rate: 0,
            message_burst: 0,
            signups_per_ip_per_hour: 0,
            room_quota: RoomQuota::default(),
        });
        for _ in 0..100 {
            assert!(limits
                .auth_attempt(Some("10.0.0.1".parse().expect("ip")))
                .is_ok());
            assert!(limits.message(1).await.is_ok());
        }
        assert!(limits.connection_frames().is_none());
    }

    #[test]
    fn signups_have_an_hourly_budget_per_address() {
        let limits = Limits::new(LimitSettings {
            signups_per_ip_per_hour: 2,
            ..LimitSettings::default()
        });
        let ip: IpAddr = "10.0.0.9".parse().expect("ip");
        assert!(limits.signup(Some(ip)).is_ok());
        assert!(limits.signup(Some(ip)).is_ok());
        let refused = limits.signup(Some(ip)).expect_err("third in an hour");
        assert!(refused.retry_after > 60, "{refused:?}");
        assert!(limits
            .signup(Some("10.0.0.10".parse().expect("ip")))
            .is_ok());
    }

    #[test]
    fn room_quotas_parse_as_per_hour_slash_total() {
        let quota: RoomQuota = "5/50".parse().expect("parses");
        assert_eq!(
            quota,
            RoomQuota {
                per_hour: 5,
                total: 50
            }
        );
        assert_eq!(quota.to_string(), "5/50");
        assert!("5".parse::<RoomQuota>().is_err());
        assert!("a/5".parse::<RoomQuota>().is_err());
    }

    #[tokio::test]
    async fn messages_have_a_burst_then_a_rate() {
        let limits = Limits::new(LimitSettings {
            message_rate: 1,
            message_burst: 3,
            ..LimitSettings::default()
        });
        let connection = limits.connection_frames().expect("limited");
        let allowed = (0..10).filter(|_| connection.check().is_ok()).count();
        assert_eq!(allowed, 3);
        let mut per_user = 0;
        for _ in 0..10 {
            per_user += usize::from(limits.message(7).await.is_ok());
        }
        assert_eq!(per_user, 3);
        assert!(limits.message(8).await.is_ok(), "per user");
    }
}
