//! Presence: who is in a room right now, on any transport and any process.
//!
//! A user is a member of a room while at least one of their connections follows it (a
//! WebSocket, an SSE stream) or one of their polls touched it recently. This module counts
//! this process's connections per user and room in one task, so a user with five tabs is one
//! arrival, and asks the registry (the layer's: in memory, or on Redis for every process)
//! whether an arrival or a departure changes the room as a whole. Changes are gathered for
//! [`FLUSH_EVERY`] and published as one `presence_diff` per room: a thousand people opening
//! a room at once cost every member a few frames, not a thousand.
//!
//! Typing indicators are gathered per room ([`PendingTyping`]): they go out with the room's
//! next message batch, or on their own [`TYPING_GATHER`] after the first one (one pass over
//! the members, one Redis PUBLISH, one socket write each), so a room where everyone types
//! costs each member a write per gathering at most, not one per keystroke burst.
//!
//! Every [`RENEW_EVERY`] the task renews this process's entries in the registry and sweeps
//! those of processes that stopped renewing (they died): their users leave within the
//! registry's entry lifetime plus one renewal.

use super::{encode, room_group, typing::PendingTyping};
use crate::layer::{
    presence::{PresenceEntry, PresenceRegistry},
    ChannelLayer, Delivery,
};
use app::protocol::{Member, ServerFrame, PRESENCE_NAMES};
use std::{collections::HashMap, sync::Arc, time::Duration};
use tokio::{
    sync::{mpsc, oneshot},
    time::Instant,
};

/// How long changes are gathered before one diff per room goes out.
pub const FLUSH_EVERY: Duration = Duration::from_millis(250);
/// How long a room's typing frames are gathered, from the first one. Each room keeps its
/// own deadline, so the rooms of a process do not all write at the same instant (one
/// shared tick made every member's socket busy at once, and messages waited behind it).
pub const TYPING_GATHER: Duration = Duration::from_millis(500);
/// How often the task looks for rooms whose typing frames are due.
const TYPING_TICK: Duration = Duration::from_millis(20);
/// How often this process renews its registry entries and sweeps dead processes'.
pub const RENEW_EVERY: Duration = Duration::from_secs(5);
/// How long a new connection waits for the room's member list.
pub const SNAPSHOT_WAIT: Duration = Duration::from_millis(500);
/// How long a poll keeps its user present: a few poll intervals, so a polling member does
/// not flicker out between requests.
pub const POLL_PRESENCE: Duration = Duration::from_secs(20);

enum Op {
    Enter(String, PresenceEntry),
    Leave(String, i64),
    Touch(String, PresenceEntry, Instant),
    Snapshot(String, oneshot::Sender<(usize, Vec<PresenceEntry>)>),
    Typing(String, Member),
    Stop(oneshot::Sender<()>),
}

/// The handle on the presence task. Cheap to clone.
#[derive(Clone)]
pub struct Presence {
    ops: mpsc::UnboundedSender<Op>,
}

/// Keeps its user present in its room until dropped (one per connection).
pub struct PresenceGuard {
    ops: mpsc::UnboundedSender<Op>,
    room: String,
    user_id: i64,
}

impl Drop for PresenceGuard {
    fn drop(&mut self) {
        let _ = self
            .ops
            .send(Op::Leave(std::mem::take(&mut self.room), self.user_id));
    }
}

impl Presence {
    /// Starts the task.
    pub fn start(layer: Arc<dyn ChannelLayer>, typing: Arc<PendingTyping>) -> Self {
        let (ops, queue) = mpsc::unbounded_channel();
        let registry = layer.presence();
        tokio::spawn(
            State {
                layer,
                registry,
                here: HashMap::new(),
                changes: HashMap::new(),
                typing,
            }
            .run(queue),
        );
        Self { ops }
    }

    /// Marks `who` present in `room` (a slug) until the guard is dropped.
    pub fn enter(&self, room: &str, user_id: i64, name: &str) -> PresenceGuard {
        let _ = self.ops.send(Op::Enter(
            room.to_owned(),
            PresenceEntry {
                user_id,
                name: name.to_owned(),
            },
        ));
        PresenceGuard {
            ops: self.ops.clone(),
            room: room.to_owned(),
            user_id,
        }
    }

    /// Marks `who` present in `room` for [`POLL_PRESENCE`] (a poll).
    pub fn touch(&self, room: &str, user_id: i64, name: &str) {
        let _ = self.ops.send(Op::Touch(
            room.to_owned(),
            PresenceEntry {
                user_id,
                name: name.to_owned(),
            },
            Instant::now() + POLL_PRESENCE,
        ));
    }

    /// Relays "`who` is typing" to the room with the next flush (the caller throttles).
    pub fn typing(&self, room: &str, who: Member) {
        let _ = self.ops.send(Op::Typing(room.to_owned(), who));
    }

    /// The room's members (count and up to [`PRESENCE_NAMES`]) as the first frame of a
    /// connection: answered after every arrival queued before it, this connection's own
    /// included.
    /// If the task is slow to answer (Redis hanging), the connection opens with an empty
    /// list after [`SNAPSHOT_WAIT`] rather than waiting; the diffs that follow fill it in.
    pub async fn snapshot(&self, room: &str) -> ServerFrame {
        let (reply, answer) = oneshot::channel();
        let _ = self.ops.send(Op::Snapshot(room.to_owned(), reply));
        let (count, members) = tokio::time::timeout(SNAPSHOT_WAIT, answer)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        ServerFrame::Presence {
            members: members.into_iter().map(member).collect(),
            count,
        }
    }

    /// Stops the task; this process's users leave every room (other processes hear it).
    pub async fn close(&self) {
        let (done, stopped) = oneshot::channel();
        if self.ops.send(Op::Stop(done)).is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(3), stopped).await;
        }
    }
}

fn member(entry: PresenceEntry) -> Member {
    Member {
        id: entry.user_id,
        name: entry.name,
    }
}

/// One user's presence in one room on this process.
struct Here {
    name: String,
    connections: u32,
    /// Present until then without a connection (polls).
    until: Option<Instant>,
}

impl Here {
    fn present(&self, now: Instant) -> bool {
        self.connections > 0 || self.until.is_some_and(|until| until > now)
    }
}

/// Joins (+1) and leaves (−1) per user gathered for a room's next diff.
type Changes = HashMap<i64, (String, i32)>;

struct State {
    layer: Arc<dyn ChannelLayer>,
    registry: Arc<dyn PresenceRegistry>,
    here: HashMap<String, HashMap<i64, Here>>,
    changes: HashMap<String, Changes>,
    /// Typing frames to relay, per room, and when they are due (shared with the writer).
    typing: Arc<PendingTyping>,
}

impl State {
    async fn run(mut self, mut queue: mpsc::UnboundedReceiver<Op>) {
        let mut flush = tokio::time::interval(FLUSH_EVERY);
        let mut renew = tokio::time::interval(RENEW_EVERY);
        let mut typing = tokio::time::interval(TYPING_TICK);
        flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        typing.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                op = queue.recv() => match op {
                    Some(Op::Stop(done)) => {
                        self.leave_everything().await;
                        let _ = done.send(());
                        return;
                    }
                    Some(op) => self.apply(op).await,
                    None => return,
                },
                _ = flush.tick() => {
                    self.expire().await;
                    self.flush().await;
                }
                _ = renew.tick() => self.renew().await,
                // Only ticks while something is waiting to be relayed.
                _ = typing.tick(), if !self.typing.is_empty() => self.relay_typing(false).await,
            }
        }
    }

    async fn apply(&mut self, op: Op) {
        let now = Instant::now();
        match op {
            Op::Enter(room, who) => {
                let entry = self.entry(&room, &who);
                let was = entry.present(now);
                entry.connections += 1;
                if !was {
                    self.arrived(&room, who).await;
                }
            }
            Op::Touch(room, who, until) => {
                let entry = self.entry(&room, &who);
                let was = entry.present(now);
                entry.until = Some(entry.until.map_or(until, |u| u.max(until)));
                if !was {
                    self.arrived(&room, who).await;
                }
            }
            Op::Leave(room, user_id) => {
                let gone = self
                    .here
                    .get_mut(&room)
                    .and_then(|users| users.get_mut(&user_id))
                    .is_some_and(|entry| {
                        entry.connections = entry.connections.saturating_sub(1);
                        !entry.present(now)
                    });
                if gone {
                    self.departed(&room, user_id).await;
                }
            }
            Op::Snapshot(room, reply) => {
                let listed = match self.registry.members(&room, PRESENCE_NAMES).await {
                    Ok(listed) => listed,
                    // Redis is away: this process's own members are what we know.
                    Err(_) => self.local_members(&room),
                };
                let _ = reply.send(listed);
            }
            Op::Typing(room, user) => {
                let frame = encode(&ServerFrame::Typing { user });
                self.typing.push(&room, frame, now + TYPING_GATHER);
            }
            Op::Stop(_) => {}
        }
    }

    fn entry(&mut self, room: &str, who: &PresenceEntry) -> &mut Here {
        self.here
            .entry(room.to_owned())
            .or_default()
            .entry(who.user_id)
            .or_insert_with(|| Here {
                name: who.name.clone(),
                connections: 0,
                until: None,
            })
    }

    fn local_members(&self, room: &str) -> (usize, Vec<PresenceEntry>) {
        let Some(users) = self.here.get(room) else {
            return (0, Vec::new());
        };
        let mut members: Vec<PresenceEntry> = users
            .iter()
            .map(|(id, here)| PresenceEntry {
                user_id: *id,
                name: here.name.clone(),
            })
            .collect();
        members.sort_by_key(|m| m.user_id);
        let count = members.len();
        members.truncate(PRESENCE_NAMES);
        (count, members)
    }

    /// A user arrived on this process; if the room did not have them, it is a join.
    async fn arrived(&mut self, room: &str, who: PresenceEntry) {
        // Without the registry, the join is at least this process's news.
        if self.registry.arrive(room, &who).await.unwrap_or(true) {
            self.note(room, who, 1);
        }
    }

    /// A user's last connection here ended; if no process has them now, it is a leave.
    async fn departed(&mut self, room: &str, user_id: i64) {
        let Some(users) = self.here.get_mut(room) else {
            return;
        };
        let Some(here) = users.remove(&user_id) else {
            return;
        };
        if users.is_empty() {
            self.here.remove(room);
        }
        if self.registry.depart(room, user_id).await.unwrap_or(true) {
            let who = PresenceEntry {
                user_id,
                name: here.name,
            };
            self.note(room, who, -1);
        }
    }

    fn note(&mut self, room: &str, who: PresenceEntry, change: i32) {
        let entry = self
            .changes
            .entry(room.to_owned())
            .or_default()
            .entry(who.user_id)
            .or_insert((who.name, 0));
        entry.1 += change;
    }

    /// Polls whose presence ran out.
    async fn expire(&mut self) {
        let now = Instant::now();
        let expired: Vec<(String, i64)> = self
            .here
            .iter()
            .flat_map(|(room, users)| {
                users
                    .iter()
                    .filter(|(_, here)| !here.present(now))
                    .map(|(id, _)| (room.clone(), *id))
            })
            .collect();
        for (room, user_id) in expired {
            self.departed(&room, user_id).await;
        }
    }

    /// Relays the typing frames of every room whose gathering time is over (`all`: every
    /// room).
    async fn relay_typing(&mut self, all: bool) {
        for (room, frames) in self.typing.take_due(Instant::now(), all) {
            let deliveries = frames.into_iter().map(Delivery::Frame).collect();
            if let Err(error) = self
                .layer
                .group_send_many(&room_group(&room), deliveries)
                .await
            {
                tracing::debug!(%error, "relaying typing failed");
            }
        }
    }

    /// One diff per room that changed (a join and a leave of the same user cancel out).
    async fn flush(&mut self) {
        for (room, changes) in std::mem::take(&mut self.changes) {
            let mut joins = Vec::new();
            let mut leaves = Vec::new();
            for (id, (name, net)) in changes {
                let who = Member { id, name };
                match net.signum() {
                    1 => joins.push(who),
                    -1 => leaves.push(who),
                    _ => {}
                }
            }
            if joins.is_empty() && leaves.is_empty() {
                continue;
            }
            joins.sort();
            leaves.sort();
            joins.truncate(PRESENCE_NAMES);
            leaves.truncate(PRESENCE_NAMES);
            let count = match self.registry.members(&room, 0).await {
                Ok((count, _)) => count,
                Err(_) => self.local_members(&room).0,
            };
            let frame = encode(&ServerFrame::PresenceDiff {
                joins,
                leaves,
                count,
            });
            if let Err(error) = self
                .layer
                .group_send(&room_group(&room), Delivery::Frame(frame))
                .await
            {
                tracing::debug!(%error, "publishing a presence change failed");
            }
        }
    }

    async fn renew(&mut self) {
        let here: Vec<(String, PresenceEntry)> = self
            .here
            .iter()
            .flat_map(|(room, users)| {
                users.iter().map(|(id, here)| {
                    (
                        room.clone(),
                        PresenceEntry {
                            user_id: *id,
                            name: here.name.clone(),
                        },
                    )
                })
            })
            .collect();
        match self.registry.renew(&here).await {
            Ok(renewed) => {
                for (room, who) in renewed.rejoined {
                    self.note(&room, who, 1);
                }
                for (room, who) in renewed.left {
                    self.note(&room, who, -1);
                }
            }
            Err(error) => tracing::debug!(%error, "renewing presence failed"),
        }
    }

    async fn leave_everything(&mut self) {
        let all: Vec<(String, i64)> = self
            .here
            .iter()
            .flat_map(|(room, users)| users.keys().map(|id| (room.clone(), *id)))
            .collect();
        for (room, user_id) in all {
            self.departed(&room, user_id).await;
        }
        self.relay_typing(true).await;
        self.flush().await;
    }
}
