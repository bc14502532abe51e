//! The subscriber task: owns the subscribed connection, keeps its subscriptions equal to the
//! groups that have local members, and hands what other processes publish to local members.
//!
//! Membership changes arrive as [`Reconcile`] requests, answered once the SUBSCRIBE (or
//! UNSUBSCRIBE) is confirmed, so `group_add` returns only when deliveries from other
//! processes will reach the new member. After every (re)connection it subscribes to all
//! current groups and tells every local consumer to resync from the store: what was published
//! while it was away is in the database, not in Redis.

use super::{
    backoff::Backoff,
    envelope::decode,
    health::Health,
    subscription::{Incoming, Subscription},
    target::RedisTarget,
    timeouts::PING_EVERY,
    topics::Topics,
};
use crate::layer::{memory::LocalRouter, ChannelName, Delivery};
use std::{collections::HashSet, sync::Arc, time::Duration};
use tokio::{
    sync::{mpsc, oneshot},
    time::sleep,
};
use tokio_util::sync::CancellationToken;

/// A request to the subscriber: make the subscription of `group` match whether it has local
/// members, then answer `done` and (if set) tell `resync` to re-read the store.
pub(super) struct Reconcile {
    /// The group whose membership changed.
    pub(super) group: String,
    /// Answered once the subscription matches (or at once while Redis is away).
    pub(super) done: Option<oneshot::Sender<()>>,
    /// A channel that joined before the subscription was confirmed: it may have missed
    /// deliveries in between, so it re-reads once subscribed.
    pub(super) resync: Option<ChannelName>,
}

/// Why a connection ended.
enum Ended {
    /// Redis failed or stopped answering.
    Lost(String),
    /// The layer is closing.
    Stopped,
}

/// The task's state.
pub(super) struct Subscriber {
    /// Where to connect.
    pub(super) target: RedisTarget,
    /// This process's members.
    pub(super) local: Arc<LocalRouter>,
    /// Topic names.
    pub(super) topics: Arc<Topics>,
    /// Membership changes to apply.
    pub(super) requests: mpsc::UnboundedReceiver<Reconcile>,
    /// Shared health.
    pub(super) health: Arc<Health>,
    /// Cancelled when the layer closes.
    pub(super) stop: CancellationToken,
}

impl Subscriber {
    /// Runs until the layer closes: connect, serve, and on a loss wait and reconnect.
    pub(super) async fn run(mut self) {
        let mut backoff = Backoff::new();
        loop {
            let Some(connected) = self.connect().await else {
                return;
            };
            let reason = match connected {
                Ok(subscription) => {
                    backoff.reset();
                    match self.serve(subscription).await {
                        Ended::Lost(reason) => reason,
                        Ended::Stopped => return,
                    }
                }
                Err(reason) => reason,
            };
            self.health.set_subscriber(false, &reason);
            if !self.pause(backoff.next_delay()).await {
                return;
            }
        }
    }

    /// Connects and subscribes to this process's topic, answering requests at once while
    /// it tries: a Redis that accepts connections but never answers must not hold up the
    /// members arriving meanwhile. `None` when the layer closes.
    async fn connect(&mut self) -> Option<Result<Subscription, String>> {
        let (target, process) = (&self.target, &self.topics.process);
        let connecting = async move {
            let mut subscription = Subscription::open(target).await?;
            subscription.subscribe(process).await?;
            Ok(subscription)
        };
        tokio::pin!(connecting);
        loop {
            tokio::select! {
                connected = &mut connecting => return Some(connected),
                () = self.stop.cancelled() => return None,
                request = self.requests.recv() => match request {
                    Some(request) => answer_while_away(request),
                    None => return None,
                },
            }
        }
    }

    /// Serves one connection until it is lost or the layer closes.
    async fn serve(&mut self, mut sub: Subscription) -> Ended {
        let mut subscribed = HashSet::new();
        for group in self.local.groups() {
            if let Err(reason) = self.reconcile(&mut sub, &mut subscribed, &group).await {
                return Ended::Lost(reason);
            }
        }
        self.health
            .subscriber_connections
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        crate::telemetry::layer_connected();
        self.health.set_subscriber(true, "");
        // Whatever other processes published while we were not subscribed is in the store:
        // every local consumer re-reads from its last message.
        let emptied = self.local.broadcast_local(&Delivery::Resync).emptied;
        if let Err(reason) = self.reconcile_all(&mut sub, &mut subscribed, emptied).await {
            return Ended::Lost(reason);
        }
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.reset();
        loop {
            let outcome = tokio::select! {
                () = self.stop.cancelled() => return Ended::Stopped,
                incoming = sub.next() => match incoming {
                    Incoming::Message { topic, payload } => {
                        let emptied = deliver(&self.local, &self.topics, &topic, &payload);
                        self.reconcile_all(&mut sub, &mut subscribed, emptied).await
                    }
                    // Still wanted, yet dropped by the server (its slot moved to another
                    // shard): start over on the cluster as it is now.
                    Incoming::Unsubscribed(topic) if self.is_wanted(&topic, &subscribed) => {
                        Err(format!("Redis dropped the subscription to {topic}"))
                    }
                    Incoming::Unsubscribed(_) => Ok(()),
                    Incoming::Lost(reason) => Err(reason),
                },
                request = self.requests.recv() => match request {
                    Some(request) => self.answer(&mut sub, &mut subscribed, request).await,
                    None => return Ended::Stopped,
                },
                _ = ping.tick() => sub.ping().await,
            };
            if let Err(reason) = outcome {
                return Ended::Lost(reason);
            }
        }
    }

    /// Applies one request and answers it.
    async fn answer(
        &self,
        sub: &mut Subscription,
        subscribed: &mut HashSet<String>,
        request: Reconcile,
    ) -> Result<(), String> {
        let outcome = self.reconcile(sub, subscribed, &request.group).await;
        if let Some(done) = request.done {
            let _ = done.send(());
        }
        if let (Ok(()), Some(channel)) = (&outcome, request.resync) {
            let _ = self.local.send(&channel, Delivery::Resync);
        }
        outcome
    }

    async fn reconcile_all(
        &self,
        sub: &mut Subscription,
        subscribed: &mut HashSet<String>,
        groups: Vec<String>,
    ) -> Result<(), String> {
        for group in groups {
            self.reconcile(sub, subscribed, &group).await?;
        }
        Ok(())
    }

    /// Subscribes to a group that has local members, unsubscribes from one that has none.
    async fn reconcile(
        &self,
        sub: &mut Subscription,
        subscribed: &mut HashSet<String>,
        group: &str,
    ) -> Result<(), String> {
        let wanted = self.local.member_count(group) > 0;
        let have = subscribed.contains(group);
        if wanted && !have {
            sub.subscribe(&self.topics.group(group)).await?;
            subscribed.insert(group.to_owned());
        } else if !wanted && have {
            sub.unsubscribe(&self.topics.group(group)).await?;
            subscribed.remove(group);
        }
        Ok(())
    }

    /// Whether `topic` is ours and still subscribed: this process's, or a group's we hold.
    fn is_wanted(&self, topic: &str, subscribed: &HashSet<String>) -> bool {
        topic == self.topics.process
            || self
                .topics
                .group_of(topic)
                .is_some_and(|group| subscribed.contains(group))
    }

    /// Sleeps for `delay` while answering requests at once (they are applied when the
    /// connection is back, and every member resyncs then). False when the layer closes.
    async fn pause(&mut self, delay: Duration) -> bool {
        let wake = sleep(delay);
        tokio::pin!(wake);
        loop {
            tokio::select! {
                () = &mut wake => return true,
                () = self.stop.cancelled() => return false,
                request = self.requests.recv() => match request {
                    Some(request) => answer_while_away(request),
                    None => return false,
                },
            }
        }
    }
}

/// Answers a request while there is no connection: it is applied when the connection is
/// back, and every member resyncs then.
fn answer_while_away(request: Reconcile) {
    if let Some(done) = request.done {
        let _ = done.send(());
    }
}

/// Hands a message from Redis to local members; returns groups that lost their last member
/// (a mailbox overflowed).
fn deliver(local: &LocalRouter, topics: &Topics, topic: &str, payload: &[u8]) -> Vec<String> {
    let Some(envelope) = decode(payload) else {
        tracing::warn!(topic, "dropping an undecodable message from Redis");
        return Vec::new();
    };
    if envelope.origin == local.process_id() {
        // Our own publish: local members already have it.
        return Vec::new();
    }
    if let Some(channel) = envelope.target {
        let mut emptied = Vec::new();
        for delivery in envelope.deliveries {
            match local.send(&channel, delivery) {
                Ok(changes) => emptied.extend(changes.emptied),
                Err(_) => break,
            }
        }
        return emptied;
    }
    match topics.group_of(topic) {
        Some(group) => local.group_send_many(group, &envelope.deliveries).emptied,
        None => Vec::new(),
    }
}
