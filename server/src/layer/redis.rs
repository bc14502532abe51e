//! The Redis channel layer: several Parlor processes (on one machine or many) serve the same
//! rooms, and every member of a room gets every message once.
//!
//! Each process keeps its own membership table (a [`LocalRouter`]) and uses Redis pub/sub
//! only between processes:
//! - a group's topic is SUBSCRIBEd when its first local member joins and UNSUBSCRIBEd when
//!   the last one leaves (a subscriber task owns that connection and reconciles the wanted
//!   and actual subscriptions);
//! - `group_send` delivers to local members directly, then PUBLISHes the encoded delivery
//!   once; every envelope names its origin process, and a process ignores its own, so no
//!   member gets a message twice;
//! - each process also subscribes to its own process topic, so `send(channel)` reaches a
//!   channel in any process.
//!
//! Redis stores nothing; the database does. When Redis goes away, local members are still
//! served and sends are still stored. Both connections reconnect with backoff; then the
//! subscriber resubscribes every current group and tells each local consumer to resync from
//! the store, and the publisher tells the groups it failed to reach to resync too. The
//! state change (degraded / restored) is logged once, not once per message.

use super::{
    memory::{GroupChanges, LocalRouter},
    ChannelLayer, ChannelName, Delivery, Frame, LayerError, LayerHealth,
};
use async_trait::async_trait;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use futures::StreamExt;
use redis::aio::{MultiplexedConnection, PubSubSink};
use std::{
    collections::HashSet,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};
use tokio::{
    sync::{mpsc, oneshot},
    time::{sleep, timeout, Instant},
};

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a PUBLISH pipeline or a SUBSCRIBE may take before the connection counts as lost.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the subscriber checks that its connection still answers (a silent network
/// failure would otherwise go unnoticed until the next message that never comes). Short in
/// tests, so a test sees several checks.
const PING_EVERY: Duration = if cfg!(test) {
    Duration::from_millis(100)
} else {
    Duration::from_secs(5)
};
/// How long `group_add` waits for Redis to confirm a SUBSCRIBE before serving locally only.
const SUBSCRIBE_WAIT: Duration = Duration::from_secs(2);
/// Retry delays: from the first to the longest.
const FIRST_RETRY: Duration = Duration::from_millis(100);
const LONGEST_RETRY: Duration = Duration::from_secs(5);
/// Publishes queued before the newest are dropped (their groups resync instead).
const PUBLISH_QUEUE: usize = 65_536;
/// Publishes sent in one pipeline at most.
const PUBLISH_BATCH: usize = 512;

/// The default prefix of Parlor's Redis topics.
pub const DEFAULT_PREFIX: &str = "parlor";

/// The layer.
pub struct RedisLayer {
    /// This process's channels and groups.
    local: Arc<LocalRouter>,
    /// Topic names.
    topics: Arc<Topics>,
    /// Asks the subscriber task to reconcile a group's subscription.
    subscriber: mpsc::UnboundedSender<Reconcile>,
    /// Ordered queue of PUBLISHes for the publisher task.
    publisher: mpsc::Sender<Outgoing>,
    /// Connection health, shared with both tasks.
    health: Arc<Health>,
}

impl RedisLayer {
    /// Starts the layer's tasks for the Redis at `url`, with topics under `prefix`. Returns at
    /// once: if Redis is unreachable the layer serves this process and keeps retrying.
    pub fn start(url: &str, prefix: &str, capacity: usize) -> Result<Self, LayerError> {
        let client = redis::Client::open(url)
            .map_err(|e| LayerError::Unavailable(format!("bad Redis URL {url:?}: {e}")))?;
        let local = Arc::new(LocalRouter::new(super::new_process_id(), capacity));
        let topics = Arc::new(Topics {
            prefix: prefix.to_owned(),
            process: format!("{prefix}:process:{}", local.process_id()),
        });
        let health = Arc::new(Health::new(redacted(url)));
        let (subscriber, reconcile) = mpsc::unbounded_channel();
        let (publisher, outgoing) = mpsc::channel(PUBLISH_QUEUE);
        tokio::spawn(run_subscriber(
            client.clone(),
            local.clone(),
            topics.clone(),
            reconcile,
            health.clone(),
        ));
        tokio::spawn(run_publisher(client, outgoing, health.clone()));
        Ok(Self {
            local,
            topics,
            subscriber,
            publisher,
            health,
        })
    }

    /// Waits until both connections are up (or `wait` passes); returns whether they are.
    pub async fn wait_connected(&self, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            if self.health.ok() {
                return true;
            }
            sleep(Duration::from_millis(20)).await;
        }
        self.health.ok()
    }

    /// The membership table (tests and metrics).
    pub fn router(&self) -> &LocalRouter {
        &self.local
    }

    /// How many times the subscriber connection was (re)established.
    pub fn subscriber_connections(&self) -> u64 {
        self.health.subscriber_connections.load(Ordering::Relaxed)
    }

    fn reconcile(&self, changes: GroupChanges) {
        for group in changes.emptied.into_iter().chain(changes.first_joined) {
            let _ = self.subscriber.send(Reconcile { group, done: None });
        }
    }

    fn publish(&self, topic: String, to_group: bool, payload: Bytes) {
        let outgoing = Outgoing::Publish {
            topic,
            to_group,
            payload,
        };
        if let Err(mpsc::error::TrySendError::Full(Outgoing::Publish {
            topic, to_group, ..
        })) = self.publisher.try_send(outgoing)
        {
            // Redis is far behind: drop this one, and make its group resync later.
            self.health.note_dropped(to_group.then_some(topic));
        }
    }
}

#[async_trait]
impl ChannelLayer for RedisLayer {
    fn new_channel(&self) -> (ChannelName, mpsc::Receiver<Delivery>) {
        self.local.new_channel()
    }

    fn remove_channel(&self, channel: &ChannelName) {
        let changes = self.local.remove_channel(channel);
        self.reconcile(changes);
    }

    async fn group_add(&self, group: &str, channel: &ChannelName) -> Result<(), LayerError> {
        self.local.group_add(group, channel);
        // Always round-trip through the subscriber task, even when the group was already
        // wanted: its reply comes after any SUBSCRIBE queued before ours has completed.
        let (done, confirmed) = oneshot::channel();
        let _ = self.subscriber.send(Reconcile {
            group: group.to_owned(),
            done: Some(done),
        });
        // Unconfirmed (Redis down): local delivery works; the resync after reconnecting
        // covers what other processes sent meanwhile.
        if timeout(SUBSCRIBE_WAIT, confirmed).await.is_err() {
            // Still not subscribed: once it is, this channel re-reads what it may have
            // missed in between.
            let local = self.local.clone();
            let (done, later) = oneshot::channel();
            let _ = self.subscriber.send(Reconcile {
                group: group.to_owned(),
                done: Some(done),
            });
            let channel = channel.clone();
            tokio::spawn(async move {
                if later.await.is_ok() {
                    let _ = local.send(&channel, Delivery::Resync);
                }
            });
        }
        Ok(())
    }

    fn group_discard(&self, group: &str, channel: &ChannelName) {
        let changes = self.local.group_discard(group, channel);
        self.reconcile(changes);
    }

    async fn send(&self, channel: &str, delivery: Delivery) -> Result<(), LayerError> {
        if self.local.is_local(channel) {
            let changes = self.local.send(channel, delivery)?;
            self.reconcile(changes);
            return Ok(());
        }
        let Some((process, _)) = channel.split_once('.') else {
            return Err(LayerError::NoSuchChannel(channel.to_owned()));
        };
        if !self.health.publisher_ok() {
            return Err(LayerError::Unavailable(
                "Redis is unreachable; cannot reach other processes".to_owned(),
            ));
        }
        let payload = encode(self.local.process_id(), Some(channel), &delivery);
        self.publish(self.topics.process_of(process), false, payload);
        Ok(())
    }

    async fn group_send(&self, group: &str, delivery: Delivery) -> Result<(), LayerError> {
        let changes = self.local.group_send(group, &delivery);
        self.reconcile(changes);
        let payload = encode(self.local.process_id(), None, &delivery);
        self.publish(self.topics.group(group), true, payload);
        Ok(())
    }

    fn broadcast_local(&self, delivery: Delivery) {
        let changes = self.local.broadcast_local(&delivery);
        self.reconcile(changes);
    }

    fn health(&self) -> LayerHealth {
        if self.health.ok() {
            LayerHealth::Ok
        } else {
            LayerHealth::Degraded
        }
    }

    fn kind(&self) -> &'static str {
        "redis"
    }

    async fn flush(&self) -> Result<(), LayerError> {
        let (done, published) = oneshot::channel();
        self.publisher
            .send(Outgoing::Flush(done))
            .await
            .map_err(|_| LayerError::Unavailable("the publisher stopped".to_owned()))?;
        match published.await {
            Ok(true) => Ok(()),
            _ => Err(LayerError::Unavailable(
                "Redis did not accept the publish".to_owned(),
            )),
        }
    }
}

/// Topic names under one prefix, so several deployments can share a Redis.
struct Topics {
    prefix: String,
    /// This process's own topic.
    process: String,
}

impl Topics {
    fn group(&self, group: &str) -> String {
        format!("{}:group:{group}", self.prefix)
    }

    fn process_of(&self, process: &str) -> String {
        format!("{}:process:{process}", self.prefix)
    }

    /// The group a topic belongs to, if it is a group topic.
    fn group_of<'a>(&self, topic: &'a str) -> Option<&'a str> {
        topic
            .strip_prefix(self.prefix.as_str())
            .and_then(|rest| rest.strip_prefix(":group:"))
    }
}

/// A request to the subscriber task: make the subscription of `group` match whether it has
/// local members, then answer `done`.
struct Reconcile {
    group: String,
    done: Option<oneshot::Sender<()>>,
}

/// Work for the publisher task, in order.
enum Outgoing {
    /// PUBLISH `payload` on `topic`; a group topic is told to resync if this fails.
    Publish {
        topic: String,
        to_group: bool,
        payload: Bytes,
    },
    /// Answer `true` once everything queued before has been accepted by Redis.
    Flush(oneshot::Sender<bool>),
}

/// Connection health, logged once per change of the combined state.
struct Health {
    /// `redis://host:port` without credentials, for logs.
    url: String,
    publisher: AtomicBool,
    subscriber: AtomicBool,
    /// The last combined state logged (`None` before the first).
    reported: Mutex<Option<bool>>,
    /// Group topics whose deliveries may not have reached other processes.
    dropped: Mutex<HashSet<String>>,
    /// Subscriber connections made so far (one, unless Redis went away).
    subscriber_connections: std::sync::atomic::AtomicU64,
}

impl Health {
    fn new(url: String) -> Self {
        Self {
            url,
            publisher: AtomicBool::new(false),
            subscriber: AtomicBool::new(false),
            reported: Mutex::new(None),
            dropped: Mutex::new(HashSet::new()),
            subscriber_connections: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn ok(&self) -> bool {
        self.publisher_ok() && self.subscriber.load(Ordering::Acquire)
    }

    fn publisher_ok(&self) -> bool {
        self.publisher.load(Ordering::Acquire)
    }

    fn set_publisher(&self, up: bool, reason: &str) {
        self.publisher.store(up, Ordering::Release);
        self.report(reason);
    }

    fn set_subscriber(&self, up: bool, reason: &str) {
        self.subscriber.store(up, Ordering::Release);
        self.report(reason);
    }

    fn report(&self, reason: &str) {
        let now = self.ok();
        let mut reported = self
            .reported
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if *reported == Some(now) {
            return;
        }
        // Both connections start down: say nothing until one of them has a verdict.
        let first = reported.is_none();
        if now {
            tracing::info!(redis = %self.url, "channel layer connected to Redis");
        } else if first {
            if reason.is_empty() {
                return;
            }
            tracing::warn!(
                redis = %self.url,
                %reason,
                "Redis is unreachable: serving this process only, retrying with backoff"
            );
        } else {
            tracing::warn!(
                redis = %self.url,
                %reason,
                "lost Redis: serving this process only, retrying with backoff"
            );
        }
        *reported = Some(now);
    }

    fn note_dropped(&self, topic: Option<String>) {
        if let Some(topic) = topic {
            self.dropped
                .lock()
                .unwrap_or_else(|poison| poison.into_inner())
                .insert(topic);
        }
    }

    fn take_dropped(&self) -> HashSet<String> {
        std::mem::take(
            &mut *self
                .dropped
                .lock()
                .unwrap_or_else(|poison| poison.into_inner()),
        )
    }
}

/// Exponential backoff with jitter.
struct Backoff {
    next: Duration,
}

impl Backoff {
    fn new() -> Self {
        Self { next: FIRST_RETRY }
    }

    fn reset(&mut self) {
        self.next = FIRST_RETRY;
    }

    fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(LONGEST_RETRY);
        // ±25 % so a fleet does not reconnect in lockstep.
        let mut byte = [0u8; 1];
        let jitter = if getrandom::fill(&mut byte).is_ok() {
            f64::from(byte[0]) / 255.0 * 0.5 + 0.75
        } else {
            1.0
        };
        delay.mul_f64(jitter)
    }
}

async fn run_subscriber(
    client: redis::Client,
    local: Arc<LocalRouter>,
    topics: Arc<Topics>,
    mut requests: mpsc::UnboundedReceiver<Reconcile>,
    health: Arc<Health>,
) {
    let mut backoff = Backoff::new();
    loop {
        let connection = match timeout(CONNECT_TIMEOUT, client.get_async_pubsub()).await {
            Ok(Ok(connection)) => connection,
            Ok(Err(error)) => {
                health.set_subscriber(false, &error.to_string());
                if !wait_answering(&mut requests, backoff.next_delay()).await {
                    return;
                }
                continue;
            }
            Err(_) => {
                health.set_subscriber(false, "connection timed out");
                if !wait_answering(&mut requests, backoff.next_delay()).await {
                    return;
                }
                continue;
            }
        };
        let (mut sink, mut stream) = connection.split();
        let mut subscribed: HashSet<String> = HashSet::new();
        if let Err(error) = subscribe_all(&mut sink, &topics, &local, &mut subscribed).await {
            health.set_subscriber(false, &error);
            if !wait_answering(&mut requests, backoff.next_delay()).await {
                return;
            }
            continue;
        }
        backoff.reset();
        health
            .subscriber_connections
            .fetch_add(1, Ordering::Relaxed);
        health.set_subscriber(true, "");
        // Whatever other processes published while we were not subscribed is in the store:
        // every local consumer re-reads from its last message.
        let emptied = local.broadcast_local(&Delivery::Resync).emptied;
        for group in emptied {
            if let Err(error) = reconcile(&mut sink, &topics, &local, &mut subscribed, &group).await
            {
                tracing::debug!(%error, "unsubscribing an emptied group failed");
            }
        }

        let mut ping = tokio::time::interval(PING_EVERY);
        ping.reset();
        let lost = 'serve: loop {
            tokio::select! {
                message = stream.next() => match message {
                    Some(message) => {
                        let emptied = deliver(&local, &topics, &message);
                        for group in emptied {
                            if let Err(error) = reconcile(&mut sink, &topics, &local, &mut subscribed, &group).await {
                                break 'serve error;
                            }
                        }
                    }
                    None => break "the connection closed".to_owned(),
                },
                request = requests.recv() => {
                    let Some(Reconcile { group, done }) = request else {
                        return;
                    };
                    let outcome = reconcile(&mut sink, &topics, &local, &mut subscribed, &group).await;
                    if let Some(done) = done {
                        let _ = done.send(());
                    }
                    if let Err(error) = outcome {
                        break error;
                    }
                }
                _ = ping.tick() => {
                    // In subscribed mode Redis answers PING with an array ["pong", ""]: any
                    // answer will do.
                    match timeout(COMMAND_TIMEOUT, sink.ping::<redis::Value>()).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(error)) => break error.to_string(),
                        Err(_) => break "Redis stopped answering".to_owned(),
                    }
                }
            }
        };
        health.set_subscriber(false, &lost);
        if !wait_answering(&mut requests, backoff.next_delay()).await {
            return;
        }
    }
}

/// Sleeps for `delay` while answering reconcile requests at once (they are applied when the
/// connection is back). Returns false when the layer is gone.
async fn wait_answering(
    requests: &mut mpsc::UnboundedReceiver<Reconcile>,
    delay: Duration,
) -> bool {
    let wake = sleep(delay);
    tokio::pin!(wake);
    loop {
        tokio::select! {
            () = &mut wake => return true,
            request = requests.recv() => match request {
                Some(Reconcile { done: Some(done), .. }) => { let _ = done.send(()); }
                Some(_) => {}
                None => return false,
            },
        }
    }
}

async fn subscribe_all(
    sink: &mut PubSubSink,
    topics: &Topics,
    local: &LocalRouter,
    subscribed: &mut HashSet<String>,
) -> Result<(), String> {
    command(sink.subscribe(&topics.process)).await?;
    for group in local.groups() {
        command(sink.subscribe(topics.group(&group))).await?;
        subscribed.insert(group);
    }
    Ok(())
}

async fn reconcile(
    sink: &mut PubSubSink,
    topics: &Topics,
    local: &LocalRouter,
    subscribed: &mut HashSet<String>,
    group: &str,
) -> Result<(), String> {
    let wanted = local.member_count(group) > 0;
    let have = subscribed.contains(group);
    if wanted && !have {
        command(sink.subscribe(topics.group(group))).await?;
        subscribed.insert(group.to_owned());
    } else if !wanted && have {
        command(sink.unsubscribe(topics.group(group))).await?;
        subscribed.remove(group);
    }
    Ok(())
}

async fn command(
    request: impl std::future::Future<Output = redis::RedisResult<()>>,
) -> Result<(), String> {
    match timeout(COMMAND_TIMEOUT, request).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err("Redis stopped answering".to_owned()),
    }
}

/// Hands a message from Redis to local members; returns groups that lost their last member
/// (a mailbox overflowed).
fn deliver(local: &LocalRouter, topics: &Topics, message: &redis::Msg) -> Vec<String> {
    let Some(envelope) = decode(message.get_payload_bytes()) else {
        tracing::warn!(
            topic = message.get_channel_name(),
            "dropping an undecodable message from Redis"
        );
        return Vec::new();
    };
    if envelope.origin == local.process_id() {
        // Our own publish: local members already have it.
        return Vec::new();
    }
    if let Some(channel) = envelope.target {
        return local
            .send(&channel, envelope.delivery)
            .map(|changes| changes.emptied)
            .unwrap_or_default();
    }
    match topics.group_of(message.get_channel_name()) {
        Some(group) => local.group_send(group, &envelope.delivery).emptied,
        None => Vec::new(),
    }
}

async fn run_publisher(
    client: redis::Client,
    mut queue: mpsc::Receiver<Outgoing>,
    health: Arc<Health>,
) {
    let mut connection: Option<MultiplexedConnection> = None;
    let mut backoff = Backoff::new();
    let mut retry_at = Instant::now();
    let mut batch = Vec::with_capacity(PUBLISH_BATCH);
    loop {
        let Some(conn) = connection.as_mut() else {
            tokio::select! {
                biased;
                () = tokio::time::sleep_until(retry_at) => {
                    match connect(&client).await {
                        Ok(mut fresh) => {
                            // Groups we failed to reach re-read the store in every process.
                            let dropped = health.take_dropped();
                            if resync_topics(&mut fresh, &dropped).await.is_ok() {
                                backoff.reset();
                                connection = Some(fresh);
                                health.set_publisher(true, "");
                            } else {
                                for topic in dropped {
                                    health.note_dropped(Some(topic));
                                }
                                retry_at = Instant::now() + backoff.next_delay();
                            }
                        }
                        Err(reason) => {
                            health.set_publisher(false, &reason);
                            retry_at = Instant::now() + backoff.next_delay();
                        }
                    }
                }
                received = queue.recv_many(&mut batch, PUBLISH_BATCH) => {
                    if received == 0 {
                        return;
                    }
                    // Not connected: these cannot go out; their groups resync later.
                    for outgoing in batch.drain(..) {
                        match outgoing {
                            Outgoing::Publish { topic, to_group, .. } => {
                                health.note_dropped(to_group.then_some(topic));
                            }
                            Outgoing::Flush(done) => { let _ = done.send(false); }
                        }
                    }
                }
            }
            continue;
        };
        if queue.recv_many(&mut batch, PUBLISH_BATCH).await == 0 {
            return;
        }
        let mut pipe = redis::pipe();
        let mut group_topics = Vec::new();
        let mut published = 0;
        let mut flushes = Vec::new();
        // Publishes dropped because the queue was full: their groups resync everywhere.
        let dropped = health.take_dropped();
        if !dropped.is_empty() {
            let resync = encode("", None, &Delivery::Resync);
            for topic in &dropped {
                pipe.publish(topic, resync.as_ref()).ignore();
                published += 1;
            }
            group_topics.extend(dropped);
        }
        for outgoing in batch.drain(..) {
            match outgoing {
                Outgoing::Publish {
                    topic,
                    to_group,
                    payload,
                } => {
                    pipe.publish(&topic, payload.as_ref()).ignore();
                    published += 1;
                    if to_group {
                        group_topics.push(topic);
                    }
                }
                Outgoing::Flush(done) => flushes.push(done),
            }
        }
        let sent = if published == 0 {
            Ok(())
        } else {
            match timeout(COMMAND_TIMEOUT, pipe.query_async::<()>(conn)).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(error)) => Err(error.to_string()),
                Err(_) => Err("Redis stopped answering".to_owned()),
            }
        };
        let ok = sent.is_ok();
        if let Err(reason) = sent {
            for topic in group_topics {
                health.note_dropped(Some(topic));
            }
            connection = None;
            health.set_publisher(false, &reason);
            retry_at = Instant::now();
        }
        for done in flushes {
            let _ = done.send(ok);
        }
    }
}

async fn connect(client: &redis::Client) -> Result<MultiplexedConnection, String> {
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(COMMAND_TIMEOUT));
    match timeout(
        CONNECT_TIMEOUT + COMMAND_TIMEOUT,
        client.get_multiplexed_async_connection_with_config(&config),
    )
    .await
    {
        Ok(Ok(connection)) => Ok(connection),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err("connection timed out".to_owned()),
    }
}

/// Tells every process to resync the groups of `topics` (their members may have missed our
/// publishes while Redis was away).
async fn resync_topics(
    connection: &mut MultiplexedConnection,
    topics: &HashSet<String>,
) -> Result<(), String> {
    if topics.is_empty() {
        return Ok(());
    }
    // An empty origin: this process's own members resync too (harmless: they re-read and
    // find nothing new).
    let payload = encode("", None, &Delivery::Resync);
    let mut pipe = redis::pipe();
    for topic in topics {
        pipe.publish(topic, payload.as_ref()).ignore();
    }
    match timeout(COMMAND_TIMEOUT, pipe.query_async::<()>(connection)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err("Redis stopped answering".to_owned()),
    }
}

/// A decoded message from Redis.
struct Envelope {
    /// The process that published it.
    origin: String,
    /// The channel it is for (`send`), or `None` for a group delivery.
    target: Option<String>,
    delivery: Delivery,
}

const KIND_MESSAGE: u8 = b'M';
const KIND_FRAME: u8 = b'F';
const KIND_CLOSE: u8 = b'C';
const KIND_RESYNC: u8 = b'R';
const KIND_GO_AWAY: u8 = b'G';

/// `origin_len:u8 origin target_len:u16 target kind:u8 body`, big-endian numbers. Binary so
/// the frame bytes are carried as they are, without a JSON-in-JSON re-encode.
fn encode(origin: &str, target: Option<&str>, delivery: &Delivery) -> Bytes {
    let target = target.unwrap_or("");
    let body_len = match delivery {
        Delivery::Message { frame, .. } => 16 + frame.len(),
        Delivery::Frame(frame) => frame.len(),
        Delivery::Close { frame, .. } => 2 + frame.len(),
        Delivery::Resync | Delivery::GoAway => 0,
    };
    let mut out = BytesMut::with_capacity(4 + origin.len() + target.len() + body_len);
    out.put_u8(u8::try_from(origin.len()).unwrap_or(u8::MAX));
    out.put_slice(&origin.as_bytes()[..origin.len().min(usize::from(u8::MAX))]);
    out.put_u16(u16::try_from(target.len()).unwrap_or(u16::MAX));
    out.put_slice(&target.as_bytes()[..target.len().min(usize::from(u16::MAX))]);
    match delivery {
        Delivery::Message { id, seq, frame } => {
            out.put_u8(KIND_MESSAGE);
            out.put_i64(*id);
            out.put_i64(*seq);
            out.put_slice(frame.as_bytes());
        }
        Delivery::Frame(frame) => {
            out.put_u8(KIND_FRAME);
            out.put_slice(frame.as_bytes());
        }
        Delivery::Close { frame, code } => {
            out.put_u8(KIND_CLOSE);
            out.put_u16(*code);
            out.put_slice(frame.as_bytes());
        }
        Delivery::Resync => out.put_u8(KIND_RESYNC),
        Delivery::GoAway => out.put_u8(KIND_GO_AWAY),
    }
    out.freeze()
}

fn decode(raw: &[u8]) -> Option<Envelope> {
    let mut buf = raw;
    let origin_len = usize::from(take_u8(&mut buf)?);
    let origin = take_str(&mut buf, origin_len)?;
    if buf.remaining() < 2 {
        return None;
    }
    let target_len = usize::from(buf.get_u16());
    let target = take_str(&mut buf, target_len)?;
    let kind = take_u8(&mut buf)?;
    let frame = |rest: &[u8]| Frame::try_from(Bytes::copy_from_slice(rest)).ok();
    let delivery = match kind {
        KIND_MESSAGE => {
            if buf.remaining() < 16 {
                return None;
            }
            let id = buf.get_i64();
            let seq = buf.get_i64();
            Delivery::Message {
                id,
                seq,
                frame: frame(buf)?,
            }
        }
        KIND_FRAME => Delivery::Frame(frame(buf)?),
        KIND_CLOSE => {
            if buf.remaining() < 2 {
                return None;
            }
            let code = buf.get_u16();
            Delivery::Close {
                code,
                frame: frame(buf)?,
            }
        }
        KIND_RESYNC => Delivery::Resync,
        KIND_GO_AWAY => Delivery::GoAway,
        _ => return None,
    };
    Some(Envelope {
        origin,
        target: (!target.is_empty()).then_some(target),
        delivery,
    })
}

fn take_u8(buf: &mut &[u8]) -> Option<u8> {
    (buf.remaining() >= 1).then(|| buf.get_u8())
}

fn take_str(buf: &mut &[u8], len: usize) -> Option<String> {
    if buf.remaining() < len {
        return None;
    }
    let text = std::str::from_utf8(&buf[..len]).ok()?.to_owned();
    buf.advance(len);
    Some(text)
}

/// The URL without a password, for logs.
fn redacted(url: &str) -> String {
    match url.split_once('@') {
        Some((scheme_and_auth, host)) => {
            let scheme = scheme_and_auth.split("://").next().unwrap_or("redis");
            format!("{scheme}://…@{host}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests;
