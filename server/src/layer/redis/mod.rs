//! The Redis channel layer: several Parlor processes (on one machine or many) serve the same
//! rooms, and every member of a room gets every message once.
//!
//! Each process keeps its own membership table (a [`LocalRouter`]) and uses Redis pub/sub
//! only between processes:
//! - a group's topic is SUBSCRIBEd when its first local member joins and UNSUBSCRIBEd when
//!   the last one leaves ([`subscriber`] owns that connection);
//! - `group_send` delivers to local members directly, then PUBLISHes the encoded delivery
//!   once ([`publisher`]); every [`envelope`] names its origin process, and a process ignores
//!   its own, so no member gets a message twice;
//! - each process also subscribes to its own process topic, so `send(channel)` reaches a
//!   channel in any process ([`topics`]).
//!
//! Redis stores nothing; the database does. When Redis goes away, local members are still
//! served and sends are still stored. Both connections reconnect with [`backoff`]; then the
//! subscriber resubscribes every current group and tells each local consumer to resync from
//! the store, and the publisher tells the groups it failed to reach to resync too. The state
//! change (degraded / restored) is logged once ([`health`]), not once per message.

mod backoff;
mod envelope;
mod health;
mod presence;
mod publisher;
mod rate;
mod subscriber;
mod subscription;
mod target;
mod topics;

pub use presence::RedisPresence;
pub use rate::RedisRate;
pub use target::RedisTarget;

use super::{
    memory::{GroupChanges, LocalRouter},
    ChannelLayer, ChannelName, Delivery, LayerError, LayerHealth, Mailbox,
};
use async_trait::async_trait;
use bytes::Bytes;
use health::Health;
use publisher::{Outgoing, Publisher};
use std::{
    sync::{atomic::Ordering, Arc, Mutex},
    time::Duration,
};
use subscriber::{Reconcile, Subscriber};
use tokio::{
    sync::{mpsc, oneshot},
    task::JoinHandle,
    time::{sleep, timeout, Instant},
};
use tokio_util::sync::CancellationToken;
use topics::Topics;

/// How long Redis may take to answer.
mod timeouts {
    use std::time::Duration;

    /// How long a connection attempt may take.
    pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
    /// How long a PUBLISH pipeline or a SUBSCRIBE may take before the connection counts as
    /// lost.
    pub(super) const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
    /// How often the subscriber checks that its connection still answers. Short in tests,
    /// so a test sees several checks.
    pub(super) const PING_EVERY: Duration = if cfg!(test) {
        Duration::from_millis(100)
    } else {
        Duration::from_secs(5)
    };
}

/// How long `group_add` waits for Redis to confirm a SUBSCRIBE before serving locally only.
const SUBSCRIBE_WAIT: Duration = Duration::from_secs(2);
/// Publishes waiting for Redis at most. Past this the newest are dropped and their groups
/// told to resync from the store once Redis keeps up again: memory stays bounded and nothing
/// stored is lost.
const PUBLISH_QUEUE: usize = 65_536;
/// How long closing waits for the queued publishes to leave.
const CLOSE_FLUSH: Duration = Duration::from_secs(3);

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
    /// Stops both tasks.
    stop: CancellationToken,
    /// The two tasks, joined by `close`.
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Who is in which room, shared by every process.
    presence: Arc<RedisPresence>,
}

impl RedisLayer {
    /// Starts the layer's tasks for the Redis at `url`, with topics under `prefix`. Returns at
    /// once: if Redis is unreachable the layer serves this process and keeps retrying.
    pub fn start(url: &str, prefix: &str, capacity: usize) -> Result<Self, LayerError> {
        let target = RedisTarget::parse(url).map_err(LayerError::Unavailable)?;
        let local = Arc::new(LocalRouter::new(super::new_process_id(), capacity));
        let topics = Arc::new(Topics::new(prefix, local.process_id()));
        let health = Arc::new(Health::new(url));
        let stop = CancellationToken::new();
        let (subscriber, requests) = mpsc::unbounded_channel();
        let (publisher, queue) = mpsc::channel(PUBLISH_QUEUE);
        let subscribing = Subscriber {
            target: target.clone(),
            local: local.clone(),
            topics: topics.clone(),
            requests,
            health: health.clone(),
            stop: stop.clone(),
        };
        let presence = Arc::new(RedisPresence::new(
            target.clone(),
            prefix,
            local.process_id(),
        ));
        let publishing = Publisher {
            target,
            queue,
            health: health.clone(),
            stop: stop.clone(),
        };
        let tasks = vec![
            tokio::spawn(subscribing.run()),
            tokio::spawn(publishing.run()),
        ];
        Ok(Self {
            local,
            topics,
            subscriber,
            publisher,
            health,
            stop,
            tasks: Mutex::new(tasks),
            presence,
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

    /// How many times the subscriber connection was (re)established.
    pub fn subscriber_connections(&self) -> u64 {
        self.health.subscriber_connections.load(Ordering::Relaxed)
    }

    fn reconcile(&self, changes: GroupChanges) {
        for group in changes.emptied.into_iter().chain(changes.first_joined) {
            let _ = self.subscriber.send(Reconcile {
                group,
                done: None,
                resync: None,
            });
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
            // Redis is far behind: drop this one, and make its group resync later (the
            // policy: bounded memory; the store has the message; logged once per episode).
            self.health.note_queue_full();
            self.health.note_dropped(to_group.then_some(topic));
        }
    }
}

#[async_trait]
impl ChannelLayer for RedisLayer {
    fn new_channel(&self) -> (ChannelName, Mailbox) {
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
            resync: None,
        });
        // Unconfirmed (Redis slow): local delivery works; once the subscription is in place
        // this channel re-reads what it may have missed in between.
        if timeout(SUBSCRIBE_WAIT, confirmed).await.is_err() {
            let _ = self.subscriber.send(Reconcile {
                group: group.to_owned(),
                done: None,
                resync: Some(channel.clone()),
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
        let payload = envelope::encode(self.local.process_id(), Some(channel), &delivery);
        self.publish(self.topics.process_of(process), false, payload);
        Ok(())
    }

    async fn group_send(&self, group: &str, delivery: Delivery) -> Result<(), LayerError> {
        let changes = self.local.group_send(group, &delivery);
        self.reconcile(changes);
        let payload = envelope::encode(self.local.process_id(), None, &delivery);
        self.publish(self.topics.group(group), true, payload);
        Ok(())
    }

    async fn group_send_many(
        &self,
        group: &str,
        deliveries: Vec<Delivery>,
    ) -> Result<(), LayerError> {
        let changes = self.local.group_send_many(group, &deliveries);
        self.reconcile(changes);
        for chunk in deliveries.chunks(envelope::MAX_BATCH) {
            let payload = match chunk {
                [one] => envelope::encode(self.local.process_id(), None, one),
                many => envelope::encode_batch(self.local.process_id(), many),
            };
            self.publish(self.topics.group(group), true, payload);
        }
        Ok(())
    }

    fn shut_down(&self) {
        let changes = self.local.shut_down();
        self.reconcile(changes);
    }

    fn heartbeat(&self) {
        let changes = self.local.broadcast_local(&Delivery::Heartbeat);
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

    fn presence(&self) -> Arc<dyn super::presence::PresenceRegistry> {
        self.presence.clone()
    }

    fn parts(&self) -> Vec<(&'static str, bool)> {
        // A task that ended (it cannot while the layer is open, short of a bug) is dead
        // whatever its connection's last state.
        let alive = |index: usize| {
            self.tasks
                .lock()
                .unwrap_or_else(|poison| poison.into_inner())
                .get(index)
                .is_some_and(|task| !task.is_finished())
        };
        vec![
            ("subscriber", self.health.subscriber_ok() && alive(0)),
            ("publisher", self.health.publisher_ok() && alive(1)),
        ]
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

    async fn close(&self) {
        match timeout(CLOSE_FLUSH, self.flush()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "closing: queued publishes were lost"),
            Err(_) => tracing::warn!("closing: Redis took too long to take the last publishes"),
        }
        self.stop.cancel();
        let tasks = std::mem::take(
            &mut *self
                .tasks
                .lock()
                .unwrap_or_else(|poison| poison.into_inner()),
        );
        for task in tasks {
            if let Err(error) = task.await {
                tracing::error!(%error, "a Redis layer task failed");
            }
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod cluster_tests;
