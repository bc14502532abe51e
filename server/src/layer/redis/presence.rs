//! Presence on Redis, shared by every process (see `layer::presence`).
//!
//! Per room, three keys under one hash tag (so a Redis Cluster keeps them on one shard and
//! the scripts may touch them together):
//! - `…:e`, a sorted set of entries `{user}|{process}` scored by their expiry (Redis's clock);
//! - `…:c`, a hash user → how many processes have an entry for them;
//! - `…:n`, a hash user → display name.
//!
//! A set `…presence:rooms` lists the rooms with entries, so a renewal can sweep the
//! expired entries of processes that died. Each script runs atomically, so when several
//! processes sweep at once exactly one of them reports a given user as gone.

use super::target::{Connection, RedisTarget};
use crate::layer::{
    presence::{PresenceEntry, PresenceRegistry, Renewed},
    LayerError,
};
use async_trait::async_trait;
use std::time::Duration;
use tokio::{sync::Mutex, time::Instant};

/// How long an entry lives without renewal. The core renews every third of this, so a
/// dead process's members are swept at most this plus one renewal period after its death.
pub const ENTRY_TTL: Duration = Duration::from_secs(15);
/// One call's budget.
const CALL_TIMEOUT: Duration = Duration::from_millis(1_000);
/// After a failure, how long calls skip Redis before reconnecting.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(2);

/// KEYS: e, c, n, rooms. ARGV: entry, user, name, ttl ms, room. Answers 1 if the user is new
/// to the room.
const ARRIVE: &str = r"
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local added = redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4]), ARGV[1])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
if added == 1 then
  if redis.call('HINCRBY', KEYS[2], ARGV[2], 1) == 1 then return 1 end
end
return 0
";

/// KEYS: e, c, n. ARGV: entry, user. Answers 1 if no process has the user now.
const DEPART: &str = r"
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then
  if redis.call('HINCRBY', KEYS[2], ARGV[2], -1) <= 0 then
    redis.call('HDEL', KEYS[2], ARGV[2])
    redis.call('HDEL', KEYS[3], ARGV[2])
    return 1
  end
end
return 0
";

/// KEYS: e, c, n. Removes expired entries; answers {entries left, user, name, user, name…}
/// for the users that left with them.
const SWEEP: &str = r"
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 1000)
local answer = {0}
for _, entry in ipairs(gone) do
  redis.call('ZREM', KEYS[1], entry)
  local user = string.match(entry, '^(%-?%d+)|')
  if user and redis.call('HINCRBY', KEYS[2], user, -1) <= 0 then
    table.insert(answer, user)
    table.insert(answer, redis.call('HGET', KEYS[3], user) or '')
    redis.call('HDEL', KEYS[2], user)
    redis.call('HDEL', KEYS[3], user)
  end
end
answer[1] = redis.call('ZCARD', KEYS[1])
return answer
";

/// The registry.
pub struct RedisPresence {
    target: RedisTarget,
    prefix: String,
    process: String,
    arrive: redis::Script,
    depart: redis::Script,
    sweep: redis::Script,
    connection: Mutex<(Option<Connection>, Instant)>,
}

impl RedisPresence {
    /// A registry on `target`, keys under `prefix`, entries of process `process`.
    pub fn new(target: RedisTarget, prefix: &str, process: &str) -> Self {
        Self {
            target,
            prefix: prefix.to_owned(),
            process: process.to_owned(),
            arrive: redis::Script::new(ARRIVE),
            depart: redis::Script::new(DEPART),
            sweep: redis::Script::new(SWEEP),
            connection: Mutex::new((None, Instant::now())),
        }
    }

    /// The three keys of a room (one hash tag).
    fn keys(&self, room: &str) -> [String; 3] {
        let base = format!("{}:presence:{{{room}}}", self.prefix);
        [
            format!("{base}:e"),
            format!("{base}:c"),
            format!("{base}:n"),
        ]
    }

    fn rooms_key(&self) -> String {
        format!("{}:presence:rooms", self.prefix)
    }

    fn entry(&self, user_id: i64) -> String {
        format!("{user_id}|{}", self.process)
    }

    async fn connection(&self) -> Result<Connection, LayerError> {
        let mut slot = self.connection.lock().await;
        if let Some(connection) = &slot.0 {
            return Ok(connection.clone());
        }
        if Instant::now() < slot.1 {
            return Err(unavailable("waiting to reconnect"));
        }
        match tokio::time::timeout(CALL_TIMEOUT, self.target.connect()).await {
            Ok(Ok(connection)) => {
                slot.0 = Some(connection.clone());
                Ok(connection)
            }
            Ok(Err(error)) => {
                slot.1 = Instant::now() + RETRY_AFTER_FAILURE;
                Err(unavailable(&error))
            }
            Err(_) => {
                slot.1 = Instant::now() + RETRY_AFTER_FAILURE;
                Err(unavailable("connecting timed out"))
            }
        }
    }

    /// Runs one call with the budget; a failure drops the connection.
    async fn call<T, F>(&self, call: impl FnOnce(Connection) -> F) -> Result<T, LayerError>
    where
        F: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let connection = self.connection().await?;
        match tokio::time::timeout(CALL_TIMEOUT, call(connection)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => {
                *self.connection.lock().await = (None, Instant::now() + RETRY_AFTER_FAILURE);
                Err(unavailable(&error.to_string()))
            }
            // A Redis that hangs is treated like one that is down: the next calls fail at
            // once for a while instead of each waiting out its budget (the presence task
            // would fall behind, and new connections wait for its answer).
            Err(_) => {
                *self.connection.lock().await = (None, Instant::now() + RETRY_AFTER_FAILURE);
                Err(unavailable("timed out"))
            }
        }
    }

    async fn arrive_in(&self, room: &str, who: &PresenceEntry) -> Result<bool, LayerError> {
        let [e, c, n] = self.keys(room);
        let mut invocation = self.arrive.key(e);
        invocation
            .key(c)
            .key(n)
            .arg(self.entry(who.user_id))
            .arg(who.user_id)
            .arg(&who.name)
            .arg(ENTRY_TTL.as_millis() as u64);
        let rooms = self.rooms_key();
        let joined: i64 = self
            .call(|mut connection| async move {
                let joined = invocation.invoke_async(&mut connection).await?;
                redis::cmd("SADD")
                    .arg(rooms)
                    .arg(room)
                    .query_async::<()>(&mut connection)
                    .await?;
                Ok(joined)
            })
            .await?;
        Ok(joined == 1)
    }
}

fn unavailable(why: &str) -> LayerError {
    LayerError::Unavailable(format!("presence on Redis: {why}"))
}

#[async_trait]
impl PresenceRegistry for RedisPresence {
    async fn arrive(&self, room: &str, who: &PresenceEntry) -> Result<bool, LayerError> {
        self.arrive_in(room, who).await
    }

    async fn depart(&self, room: &str, user_id: i64) -> Result<bool, LayerError> {
        let [e, c, n] = self.keys(room);
        let mut invocation = self.depart.key(e);
        invocation
            .key(c)
            .key(n)
            .arg(self.entry(user_id))
            .arg(user_id);
        let left: i64 = self
            .call(|mut connection| async move { invocation.invoke_async(&mut connection).await })
            .await?;
        Ok(left == 1)
    }

    async fn members(
        &self,
        room: &str,
        limit: usize,
    ) -> Result<(usize, Vec<PresenceEntry>), LayerError> {
        let [_, c, n] = self.keys(room);
        let (count, names): (usize, Vec<(String, String)>) = self
            .call(|mut connection| async move {
                let count: usize = redis::cmd("HLEN")
                    .arg(&c)
                    .query_async(&mut connection)
                    .await?;
                if limit == 0 || count == 0 {
                    return Ok((count, Vec::new()));
                }
                // HSCAN's COUNT is a hint: a small room comes back whole in one call, a big
                // one in a first page of about `limit` names.
                let (_, pairs): (u64, Vec<(String, String)>) = redis::cmd("HSCAN")
                    .arg(&n)
                    .arg(0)
                    .arg("COUNT")
                    .arg(limit)
                    .query_async(&mut connection)
                    .await?;
                Ok((count, pairs))
            })
            .await?;
        let mut members: Vec<PresenceEntry> = names
            .into_iter()
            .filter_map(|(id, name)| {
                Some(PresenceEntry {
                    user_id: id.parse().ok()?,
                    name,
                })
            })
            .collect();
        members.sort_by_key(|m| m.user_id);
        members.truncate(limit);
        Ok((count, members))
    }

    async fn renew(&self, here: &[(String, PresenceEntry)]) -> Result<Renewed, LayerError> {
        let mut renewed = Renewed::default();
        for (room, who) in here {
            if self.arrive_in(room, who).await? {
                renewed.rejoined.push((room.clone(), who.clone()));
            }
        }
        let rooms_key = self.rooms_key();
        let rooms: Vec<String> = self
            .call(|mut connection| async move {
                redis::cmd("SMEMBERS")
                    .arg(&rooms_key)
                    .query_async(&mut connection)
                    .await
            })
            .await?;
        for room in rooms {
            let [e, c, n] = self.keys(&room);
            let mut invocation = self.sweep.key(e);
            invocation.key(c).key(n);
            let answer: Vec<redis::Value> = self
                .call(
                    |mut connection| async move { invocation.invoke_async(&mut connection).await },
                )
                .await?;
            let mut values = answer.into_iter();
            let left_entries: i64 = values
                .next()
                .and_then(|v| redis::from_redis_value(v).ok())
                .unwrap_or(1);
            while let (Some(user), Some(name)) = (values.next(), values.next()) {
                let user: Option<String> = redis::from_redis_value(user).ok();
                let name: String = redis::from_redis_value(name).unwrap_or_default();
                if let Some(user_id) = user.and_then(|u| u.parse().ok()) {
                    renewed
                        .left
                        .push((room.clone(), PresenceEntry { user_id, name }));
                }
            }
            if left_entries == 0 {
                let rooms_key = self.rooms_key();
                // A process arriving right now re-adds the room on its next renewal.
                self.call(|mut connection| async move {
                    redis::cmd("SREM")
                        .arg(rooms_key)
                        .arg(&room)
                        .query_async::<()>(&mut connection)
                        .await
                })
                .await?;
            }
        }
        Ok(renewed)
    }
}
