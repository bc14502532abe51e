//! The message rate shared by every process through Redis: the same GCRA (generic cell
//! rate algorithm) the local limiter runs, kept in one Redis key per user and applied by a
//! script, so a user's messages count against one budget whichever process they reach.
//!
//! Redis being away never blocks a send: the check answers "unknown" within a few
//! milliseconds and the process's own limit applies alone until Redis is back.

use super::target::{Connection, RedisTarget};
use crate::limits::{Limited, SharedRate};
use async_trait::async_trait;
use std::time::Duration;
use tokio::{sync::Mutex, time::Instant};

/// One check's budget: a send waits at most this for Redis.
const CHECK_TIMEOUT: Duration = Duration::from_millis(50);
/// After a failure, how long checks skip Redis before trying to reconnect.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(2);

/// GCRA in one round trip. KEYS[1]: the user's key. ARGV[1]: the emission interval in ms
/// (1000 / rate). ARGV[2]: the burst. Answers 0 when allowed, else the ms to wait. The
/// server's clock is used, so processes with skewed clocks agree.
const SCRIPT: &str = r"
local now_parts = redis.call('TIME')
local now = now_parts[1] * 1000 + math.floor(now_parts[2] / 1000)
local interval = tonumber(ARGV[1])
local tolerance = interval * (tonumber(ARGV[2]) - 1)
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local wait = tat - tolerance - now
if wait > 0 then return wait end
local next_tat = tat + interval
redis.call('SET', KEYS[1], next_tat, 'PX', next_tat - now + 1000)
return 0
";

/// The shared limiter.
pub struct RedisRate {
    target: RedisTarget,
    script: redis::Script,
    prefix: String,
    /// The connection, and when a failed one may be retried.
    connection: Mutex<(Option<Connection>, Instant)>,
}

impl RedisRate {
    /// A limiter on the Redis (or Redis Cluster) at `url`, keys under `prefix`.
    pub fn new(url: &str, prefix: &str) -> Result<Self, String> {
        Ok(Self {
            target: RedisTarget::parse(url)?,
            script: redis::Script::new(SCRIPT),
            prefix: prefix.to_owned(),
            connection: Mutex::new((None, Instant::now())),
        })
    }

    async fn connection(&self) -> Option<Connection> {
        let mut slot = self.connection.lock().await;
        if let Some(connection) = &slot.0 {
            return Some(connection.clone());
        }
        if Instant::now() < slot.1 {
            return None;
        }
        let connected = tokio::time::timeout(CHECK_TIMEOUT * 4, self.target.connect()).await;
        match connected {
            Ok(Ok(connection)) => {
                slot.0 = Some(connection.clone());
                Some(connection)
            }
            _ => {
                slot.1 = Instant::now() + RETRY_AFTER_FAILURE;
                None
            }
        }
    }

    async fn forget_connection(&self) {
        let mut slot = self.connection.lock().await;
        *slot = (None, Instant::now() + RETRY_AFTER_FAILURE);
    }
}

#[async_trait]
impl SharedRate for RedisRate {
    async fn allow(&self, user_id: i64, rate: u32, burst: u32) -> Option<Result<(), Limited>> {
        let mut connection = self.connection().await?;
        let interval_ms = (1000 / u64::from(rate.max(1))).max(1);
        let key = format!("{}:rate:user:{user_id}", self.prefix);
        let mut invocation = self.script.key(key);
        invocation.arg(interval_ms).arg(burst.max(1));
        let answer = tokio::time::timeout(
            CHECK_TIMEOUT,
            invocation.invoke_async::<u64>(&mut connection),
        )
        .await;
        match answer {
            Ok(Ok(0)) => Some(Ok(())),
            Ok(Ok(wait_ms)) => Some(Err(Limited {
                retry_after: wait_ms.div_ceil(1000).max(1),
            })),
            Ok(Err(error)) => {
                tracing::debug!(%error, "the shared message rate is unavailable");
                self.forget_connection().await;
                None
            }
            Err(_) => None,
        }
    }
}
