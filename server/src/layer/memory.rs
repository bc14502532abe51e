//! The in-memory channel layer: one process, no services. Also the local half of the Redis
//! layer, which keeps this process's membership table in a [`LocalRouter`] and only adds the
//! cross-process transport.

use super::{mailbox, Mailbox, MailboxSender};
use super::{ChannelLayer, ChannelName, Delivery, LayerError, LayerHealth};
use async_trait::async_trait;
use flume::TrySendError;
use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, RwLock,
    },
};

/// This process's channels and groups.
///
/// One `RwLock` guards both tables; `group_send` holds the read lock while it `try_send`s to
/// each member (no allocation, no await), so concurrent fan-outs to different rooms proceed
/// in parallel. Members are stored with their senders, so fan-out never looks a name up.
pub struct LocalRouter {
    /// Prefix of every channel name made here.
    process_id: Arc<str>,
    /// Next channel number.
    next_id: AtomicU64,
    /// Mailbox size: deliveries a consumer may lag behind before it is dropped.
    capacity: usize,
    /// Set by [`LocalRouter::shut_down`]: new channels are told to go away at once.
    going_away: AtomicBool,
    /// The tables.
    tables: RwLock<Tables>,
}

#[derive(Default)]
struct Tables {
    /// Every open mailbox, with the groups it belongs to (to clean up on overflow).
    channels: HashMap<ChannelName, ChannelEntry>,
    /// Group name → members.
    groups: HashMap<String, Vec<Member>>,
}

struct ChannelEntry {
    sender: MailboxSender,
    groups: Vec<String>,
}

struct Member {
    name: ChannelName,
    sender: MailboxSender,
}

/// What a membership change did to the group in this process, so a cross-process layer
/// knows when to subscribe and unsubscribe.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct GroupChanges {
    /// Groups that gained their first local member.
    pub first_joined: Vec<String>,
    /// Groups that lost their last local member.
    pub emptied: Vec<String>,
}

impl LocalRouter {
    /// A router whose mailboxes hold `capacity` deliveries.
    pub fn new(process_id: impl Into<Arc<str>>, capacity: usize) -> Self {
        Self {
            process_id: process_id.into(),
            next_id: AtomicU64::new(1),
            capacity: capacity.max(1),
            going_away: AtomicBool::new(false),
            tables: RwLock::new(Tables::default()),
        }
    }

    /// The process id (prefix of local channel names).
    pub fn process_id(&self) -> &str {
        &self.process_id
    }

    /// Whether `channel` was named by this process.
    pub fn is_local(&self, channel: &str) -> bool {
        channel
            .strip_prefix(&*self.process_id)
            .is_some_and(|rest| rest.starts_with('.'))
    }

    /// Opens a mailbox.
    pub fn new_channel(&self) -> (ChannelName, Mailbox) {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        let name: ChannelName = format!("{}.{n}", self.process_id).into();
        let (sender, receiver) = mailbox(self.capacity);
        let mut tables = self.write();
        // Checked under the lock that `shut_down` takes too: a channel is either in the
        // table when the GoAway goes out, or sees the flag here.
        if self.going_away.load(Ordering::Acquire) {
            let _ = sender.try_send(Delivery::GoAway);
        }
        tables.channels.insert(
            name.clone(),
            ChannelEntry {
                sender,
                groups: Vec::new(),
            },
        );
        (name, receiver)
    }

    /// Tells every local channel, and every one opened later, to go away (shutdown).
    pub fn shut_down(&self) -> GroupChanges {
        {
            let _tables = self.write();
            self.going_away.store(true, Ordering::Release);
        }
        self.broadcast_local(&Delivery::GoAway)
    }

    /// Closes a mailbox and leaves its groups.
    pub fn remove_channel(&self, channel: &str) -> GroupChanges {
        let mut tables = self.write();
        let mut changes = GroupChanges::default();
        tables.remove_channel(channel, &mut changes);
        changes
    }

    /// Adds a local channel to a group. Unknown channels (already dropped) are ignored.
    pub fn group_add(&self, group: &str, channel: &ChannelName) -> GroupChanges {
        let mut tables = self.write();
        let mut changes = GroupChanges::default();
        let Some(entry) = tables.channels.get_mut(channel) else {
            return changes;
        };
        if entry.groups.iter().any(|g| g == group) {
            return changes;
        }
        entry.groups.push(group.to_owned());
        let sender = entry.sender.clone();
        let members = tables.groups.entry(group.to_owned()).or_default();
        if members.is_empty() {
            changes.first_joined.push(group.to_owned());
        }
        members.push(Member {
            name: channel.clone(),
            sender,
        });
        changes
    }

    /// Removes a channel from a group.
    pub fn group_discard(&self, group: &str, channel: &str) -> GroupChanges {
        let mut tables = self.write();
        let mut changes = GroupChanges::default();
        if let Some(entry) = tables.channels.get_mut(channel) {
            entry.groups.retain(|g| g != group);
        }
        tables.leave(group, channel, &mut changes);
        changes
    }

    /// Delivers to one local channel. A full mailbox drops the channel.
    pub fn send(&self, channel: &str, delivery: Delivery) -> Result<GroupChanges, LayerError> {
        let outcome = {
            let tables = self.read();
            let Some(entry) = tables.channels.get(channel) else {
                return Err(LayerError::NoSuchChannel(channel.to_owned()));
            };
            entry.sender.try_send(delivery)
        };
        match outcome {
            Ok(()) => Ok(GroupChanges::default()),
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                Ok(self.drop_channels(&[channel.into()]))
            }
        }
    }

    /// Delivers to every local member of `group`: a clone of the same bytes each. Members
    /// whose mailbox is full (or closed) are dropped afterwards.
    pub fn group_send(&self, group: &str, delivery: &Delivery) -> GroupChanges {
        self.group_send_many(group, std::slice::from_ref(delivery))
    }

    /// Delivers several deliveries, in order, to every local member of `group`, under one
    /// read of the tables: what one commit stored for one room.
    pub fn group_send_many(&self, group: &str, deliveries: &[Delivery]) -> GroupChanges {
        let mut lagging: Vec<ChannelName> = Vec::new();
        {
            let tables = self.read();
            let Some(members) = tables.groups.get(group) else {
                return GroupChanges::default();
            };
            for member in members {
                for delivery in deliveries {
                    if member.sender.try_send(delivery.clone()).is_err() {
                        lagging.push(member.name.clone());
                        break;
                    }
                }
            }
            crate::telemetry::delivered((members.len() - lagging.len()) * deliveries.len());
        }
        if lagging.is_empty() {
            GroupChanges::default()
        } else {
            self.drop_channels(&lagging)
        }
    }

    /// Delivers to every local channel (a resync after the cross-process link came back, a
    /// shutdown).
    pub fn broadcast_local(&self, delivery: &Delivery) -> GroupChanges {
        let mut lagging: Vec<ChannelName> = Vec::new();
        {
            let tables = self.read();
            for (name, entry) in &tables.channels {
                if entry.sender.try_send(delivery.clone()).is_err() {
                    lagging.push(name.clone());
                }
            }
        }
        self.drop_channels(&lagging)
    }

    /// The groups that have at least one local member (to resubscribe after a reconnect).
    pub fn groups(&self) -> Vec<String> {
        self.read().groups.keys().cloned().collect()
    }

    /// How many members `group` has here.
    pub fn member_count(&self, group: &str) -> usize {
        self.read().groups.get(group).map_or(0, Vec::len)
    }

    /// How many mailboxes are open here.
    pub fn channel_count(&self) -> usize {
        self.read().channels.len()
    }

    fn drop_channels(&self, names: &[ChannelName]) -> GroupChanges {
        let mut changes = GroupChanges::default();
        if names.is_empty() {
            return changes;
        }
        let mut tables = self.write();
        let mut dropped = 0;
        for name in names {
            if tables.remove_channel(name, &mut changes) {
                dropped += 1;
            }
        }
        drop(tables);
        if dropped > 0 {
            crate::telemetry::mailboxes_overflowed(dropped);
            tracing::debug!(dropped, "mailbox full: dropping slow consumers");
        }
        changes
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Tables> {
        // A panic while holding the lock cannot leave the tables half-updated in a way that
        // matters more than stopping all delivery would, so recover the guard.
        self.tables
            .read()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Tables> {
        self.tables
            .write()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

impl Tables {
    /// Removes a channel and its memberships; returns whether it existed.
    fn remove_channel(&mut self, channel: &str, changes: &mut GroupChanges) -> bool {
        let Some(entry) = self.channels.remove(channel) else {
            return false;
        };
        for group in &entry.groups {
            self.leave(group, channel, changes);
        }
        true
    }

    fn leave(&mut self, group: &str, channel: &str, changes: &mut GroupChanges) {
        let Some(members) = self.groups.get_mut(group) else {
            return;
        };
        let before = members.len();
        members.retain(|m| &*m.name != channel);
        if members.is_empty() {
            self.groups.remove(group);
            if before > 0 {
                changes.emptied.push(group.to_owned());
            }
        }
    }
}

/// The default layer: every channel and group in this process.
pub struct MemoryLayer {
    router: LocalRouter,
    presence: Arc<super::presence::MemoryPresence>,
}

impl MemoryLayer {
    /// A layer whose mailboxes hold `capacity` deliveries.
    pub fn new(capacity: usize) -> Self {
        crate::telemetry::layer_up(true);
        Self {
            router: LocalRouter::new(super::new_process_id(), capacity),
            presence: Arc::default(),
        }
    }
}

#[async_trait]
impl ChannelLayer for MemoryLayer {
    fn new_channel(&self) -> (ChannelName, Mailbox) {
        self.router.new_channel()
    }

    fn remove_channel(&self, channel: &ChannelName) {
        self.router.remove_channel(channel);
    }

    async fn group_add(&self, group: &str, channel: &ChannelName) -> Result<(), LayerError> {
        self.router.group_add(group, channel);
        Ok(())
    }

    fn group_discard(&self, group: &str, channel: &ChannelName) {
        self.router.group_discard(group, channel);
    }

    async fn send(&self, channel: &str, delivery: Delivery) -> Result<(), LayerError> {
        self.router.send(channel, delivery).map(drop)
    }

    async fn group_send(&self, group: &str, delivery: Delivery) -> Result<(), LayerError> {
        self.router.group_send(group, &delivery);
        Ok(())
    }

    async fn group_send_many(
        &self,
        group: &str,
        deliveries: Vec<Delivery>,
    ) -> Result<(), LayerError> {
        self.router.group_send_many(group, &deliveries);
        Ok(())
    }

    fn shut_down(&self) {
        self.router.shut_down();
    }

    fn heartbeat(&self) {
        self.router.broadcast_local(&Delivery::Heartbeat);
    }

    fn health(&self) -> LayerHealth {
        LayerHealth::Ok
    }

    fn kind(&self) -> &'static str {
        "memory"
    }

    fn presence(&self) -> Arc<dyn super::presence::PresenceRegistry> {
        self.presence.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::{contract, Channel};

    fn layer(capacity: usize) -> Arc<dyn ChannelLayer> {
        Arc::new(MemoryLayer::new(capacity))
    }

    #[tokio::test]
    async fn contract_fan_out_reaches_every_member_once() {
        contract::fan_out_reaches_every_member_once(&[layer(16)]).await;
    }

    #[tokio::test]
    async fn contract_a_batch_arrives_whole_and_in_order() {
        contract::a_batch_arrives_whole_and_in_order(&[layer(16)]).await;
    }

    #[tokio::test]
    async fn contract_dropping_a_channel_leaves_its_groups() {
        contract::dropping_a_channel_leaves_its_groups(&[layer(16)]).await;
    }

    #[tokio::test]
    async fn contract_send_reaches_one_channel_by_name() {
        contract::send_reaches_one_channel_by_name(&[layer(16)]).await;
    }

    #[tokio::test]
    async fn contract_a_full_mailbox_drops_only_the_slow_consumer() {
        contract::full_mailbox_drops_only_the_slow_consumer(&[layer(4)], 4).await;
    }

    #[tokio::test]
    async fn contract_groups_are_independent() {
        contract::groups_are_independent(&[layer(16)]).await;
    }

    #[test]
    fn router_reports_first_join_and_last_leave() {
        let router = LocalRouter::new("p", 4);
        let (a, _ra) = router.new_channel();
        let (b, _rb) = router.new_channel();
        assert_eq!(router.group_add("g", &a).first_joined, vec!["g".to_owned()]);
        assert!(router.group_add("g", &b).first_joined.is_empty());
        assert!(
            router.group_add("g", &b).first_joined.is_empty(),
            "joining twice is a no-op"
        );
        assert_eq!(router.member_count("g"), 2);
        assert!(router.group_discard("g", &a).emptied.is_empty());
        assert_eq!(router.remove_channel(&b).emptied, vec!["g".to_owned()]);
        assert_eq!(router.member_count("g"), 0);
        assert_eq!(router.channel_count(), 1);
    }

    #[test]
    fn names_are_prefixed_by_the_process() {
        let router = LocalRouter::new("abc", 4);
        let (name, _rx) = router.new_channel();
        assert!(name.starts_with("abc."));
        assert!(router.is_local(&name));
        assert!(!router.is_local("abcd.1"));
        assert!(!router.is_local("xyz.1"));
    }

    #[tokio::test]
    async fn a_channel_opened_after_shutdown_is_told_to_go_away() {
        let layer = layer(4);
        let mut before = Channel::open(layer.clone());
        layer.shut_down();
        let mut after = Channel::open(layer.clone());
        assert!(matches!(before.recv().await, Some(Delivery::GoAway)));
        assert!(matches!(after.recv().await, Some(Delivery::GoAway)));
    }

    #[tokio::test]
    async fn send_to_an_unknown_channel_is_an_error() {
        let layer = layer(4);
        let err = layer
            .send("nobody.1", Delivery::Resync)
            .await
            .expect_err("unknown channel");
        assert!(matches!(err, LayerError::NoSuchChannel(_)));
        let channel = Channel::open(layer.clone());
        let name = channel.name().to_string();
        drop(channel);
        assert!(layer.send(&name, Delivery::Resync).await.is_err());
    }
}
