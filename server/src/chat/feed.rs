//! A room feed: what one consumer (a WebSocket, an SSE stream, a waiting long poll) reads.
//!
//! It turns "whatever the channel layer delivered" into "every event of the room (messages,
//! edits, deletions), once, in seq order": it catches up from the store first, drops
//! duplicates, and repairs gaps. Gaps
//! happen when two processes (or two commits in one process) publish out of order, or when
//! Redis lost deliveries while it was away; the layer says so with [`Delivery::Resync`].
//!
//! The feed tracks the last event it emitted by its seq. A delivery with the next seq
//! is emitted at once; an older one is a duplicate; a newer one means something is missing.
//! With several processes the missing one is usually a moment behind: process B commits
//! seq 6 and delivers it to its members at once, while seq 5, committed just before by
//! process A, is still on its way through Redis. So a newer delivery is held for up to
//! [`REORDER_WINDOW`], and released in order as the missing ones arrive; only when the
//! window passes does the feed read every event after its last seq from the store (the
//! missing rows are committed: a row is published only after its commit, and seqs are
//! assigned under the write lock in commit order). Without the window, every member of a
//! busy room read the store on every such crossing — hundreds of reads for one message.

use super::{encode, event_frame, to_wire_for, ChatError, ChatService, Room, MAX_PAGE};
use crate::auth::{user_group, Identity};
use crate::layer::{Channel, CloseReason, Delivery, Frame};
use app::protocol::{ErrorBody, ErrorCode, ServerFrame};
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;
use tokio::time::Instant;

/// How long a delivery that arrived ahead of its predecessor waits for it before the feed
/// reads the gap from the store. Redis delivers within a millisecond or two even under
/// load; a predecessor that is this late was lost (and the layer's resync covers that).
pub const REORDER_WINDOW: Duration = Duration::from_millis(25);

/// Held deliveries beyond which the feed stops waiting and reads the store.
const MAX_HELD: usize = 256;
/// After the layer says it may have lost deliveries (Redis came back), every feed of the
/// process must re-read the store: each waits a random part of this first, and the reads
/// share a few connections ([`ChatService::repair_slot`]), so a thousand feeds make a steady
/// trickle of reads rather than a herd.
const RESYNC_SPREAD: Duration = Duration::from_secs(1);

/// Where a feed starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resume {
    /// From now on: only what is published after the feed opens.
    Live,
    /// The messages after this message id first (`after=`: messages alone, the older form).
    After(i64),
    /// Every room event after this seq first (`since=`): messages, edits, deletions.
    Since(i64),
}

/// Catch-up still to read from the store, up to the room's head when the feed opened.
#[derive(Clone, Copy, Debug)]
enum CatchUp {
    /// Messages with `cursor < id <= until`.
    Messages { cursor: i64, until: i64 },
    /// Events with `cursor < seq <= until`.
    Events { cursor: i64, until: i64 },
}

/// What a consumer should do next.
#[derive(Clone, Debug)]
pub enum FeedEvent {
    /// Forward this frame. `seq` is the room event's seq when it is one (SSE uses it as the
    /// event id, so `Last-Event-ID` resumes by seq).
    Frame {
        /// The room event's seq, for messages, edits and deletions.
        seq: Option<i64>,
        /// The encoded frame.
        frame: Frame,
    },
    /// Forward this frame, then end the connection.
    Close {
        /// The last frame.
        frame: Frame,
        /// Why (each transport says it in its own terms).
        reason: CloseReason,
    },
    /// The consumer fell behind and the layer dropped its mailbox: disconnect the client,
    /// which reconnects and catches up with `after`.
    Overflowed,
    /// The server is shutting down: close (1001); the client reconnects, maybe elsewhere.
    ShuttingDown,
    /// The process-wide heartbeat: a connection that pings, pings now.
    Heartbeat,
}

/// One consumer's ordered, gap-free view of a room.
pub struct RoomFeed {
    chat: ChatService,
    room: Room,
    channel: Channel,
    /// The handle of the viewer's session (0: anonymous): its end closes the feed.
    session: u64,
    /// The viewer's user id (0: anonymous): replayed messages mark their reactions `mine`.
    viewer: i64,
    /// The newest message id emitted (or the room's newest when following live from now).
    last_id: i64,
    /// The seq of the last event emitted (or the room's head at open).
    last_seq: i64,
    /// Catch-up still to read.
    catch_up: Option<CatchUp>,
    /// A delivery revealed a gap that the window did not close, or the layer asked for a
    /// resync.
    repair: bool,
    /// A resync's repair waits until then (its share of [`RESYNC_SPREAD`]).
    repair_after: Option<Instant>,
    /// Deliveries that arrived ahead of a missing predecessor, by seq, and since when the
    /// oldest gap has been open.
    held: BTreeMap<i64, (i64, Frame)>,
    held_since: Option<Instant>,
    /// Events decided but not yet taken.
    ready: VecDeque<FeedEvent>,
    /// Keeps the viewer present in the room while the feed lives.
    _presence: Option<super::PresenceGuard>,
    /// The first frame (who is here), until taken. Not queued in `ready`: an idle
    /// connection would keep that queue's allocation for good.
    greeting: Option<Frame>,
}

impl RoomFeed {
    /// Joins the room's group, then reads the room's head: anything committed after the
    /// join arrives live, anything before it is covered by catch-up, so nothing falls
    /// between the two.
    pub(super) async fn open(
        chat: ChatService,
        room: Room,
        resume: Resume,
        viewer: Option<&Identity>,
    ) -> Result<Self, ChatError> {
        let mut channel = Channel::open(chat.layer().clone());
        channel.join(&room.group()).await?;
        // The viewer's own group: their session ending closes this feed on every process.
        let session = match viewer {
            Some(viewer) if viewer.session != 0 => {
                channel.join(&user_group(viewer.user_id)).await?;
                viewer.session
            }
            _ => 0,
        };
        // The room may have been deleted between resolving it and joining: its Close went
        // to the members of that moment, not to us.
        if !chat.store().room_exists(room.id).await? {
            return Err(ChatError::RoomNotFound(room.slug.to_string()));
        }
        let head = chat.store().room_head(room.id).await?;
        let catch_up = match resume {
            Resume::Live => None,
            Resume::After(after) => (after.max(0) < head.id).then_some(CatchUp::Messages {
                cursor: after.max(0),
                until: head.id,
            }),
            Resume::Since(since) => (since.max(0) < head.seq).then_some(CatchUp::Events {
                cursor: since.max(0),
                until: head.seq,
            }),
        };
        // Who is here comes first, this viewer included (anonymous readers are not
        // members: they have no name to show).
        let presence = viewer.map(|viewer| {
            chat.presence()
                .enter(room.slug.as_str(), viewer.user_id, &viewer.name)
        });
        let snapshot = Box::pin(chat.presence().snapshot(room.slug.as_str())).await;
        Ok(Self {
            chat,
            room,
            channel,
            session,
            viewer: viewer.map_or(0, |viewer| viewer.user_id),
            last_id: head.id,
            last_seq: head.seq,
            catch_up,
            repair: false,
            repair_after: None,
            held: BTreeMap::new(),
            held_since: None,
            ready: VecDeque::new(),
            _presence: presence,
            greeting: Some(encode(&snapshot)),
        })
    }

    /// The channel this feed reads (a consumer may queue its own replies on it).
    pub fn channel_name(&self) -> &crate::layer::ChannelName {
        self.channel.name()
    }

    /// The room this feed follows.
    pub fn room(&self) -> &Room {
        &self.room
    }

    /// The id of the newest message emitted (or the room's head at open).
    pub fn last_id(&self) -> i64 {
        self.last_id
    }

    /// The next event. Cancel-safe: every await either loses nothing when dropped (the
    /// mailbox) or is a store read whose result is applied without a further await, so a
    /// dropped call is simply redone by the next one.
    pub async fn next(&mut self) -> Result<FeedEvent, ChatError> {
        if let Some(frame) = self.greeting.take() {
            return Ok(FeedEvent::Frame { seq: None, frame });
        }
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Ok(event);
            }
            if let Some(catch_up) = self.catch_up {
                // Store reads are boxed here and below: they are rare, and inline their
                // state would make every idle connection's future that much larger.
                self.catch_up = Box::pin(self.read_catch_up(catch_up)).await?;
                continue;
            }
            if self.repair {
                if let Some(at) = self.repair_after {
                    if Instant::now() < at {
                        tokio::select! {
                            () = tokio::time::sleep_until(at) => {}
                            delivery = self.channel.recv() => match delivery {
                                Some(delivery) => {
                                    self.accept(delivery);
                                    continue;
                                }
                                None => return Ok(FeedEvent::Overflowed),
                            },
                        }
                    }
                    self.repair_after = None;
                }
                let events = {
                    let chat = self.chat.clone();
                    let _slot = chat.repair_slot().await;
                    Box::pin(chat.store().events_between(
                        self.room.id,
                        self.last_seq,
                        i64::MAX,
                        MAX_PAGE,
                    ))
                    .await?
                };
                self.repair = events.len() == MAX_PAGE as usize;
                for event in &events {
                    self.push_stored(event);
                }
                self.release_held();
                continue;
            }
            let delivery = match self.held_since {
                None => self.channel.recv().await,
                Some(since) => {
                    tokio::select! {
                        delivery = self.channel.recv() => delivery,
                        () = tokio::time::sleep_until(since + REORDER_WINDOW) => {
                            self.repair = true;
                            continue;
                        }
                    }
                }
            };
            match delivery {
                Some(delivery) => self.accept(delivery),
                None => return Ok(FeedEvent::Overflowed),
            }
        }
    }

    /// An event that is ready without waiting or reading the store, for consumers that write
    /// several frames before one flush.
    pub fn try_next_ready(&mut self) -> Option<FeedEvent> {
        if let Some(frame) = self.greeting.take() {
            return Some(FeedEvent::Frame { seq: None, frame });
        }
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some(event);
            }
            if self.catch_up.is_some() || self.repair {
                return None;
            }
            match self.channel.try_recv() {
                Ok(delivery) => self.accept(delivery),
                // A closed mailbox is reported by `next`.
                Err(_) => return None,
            }
        }
    }

    /// Decides what a delivery means, without I/O.
    fn accept(&mut self, delivery: Delivery) {
        match delivery {
            Delivery::Message { id, seq, frame } => {
                if seq <= self.last_seq {
                    // Already emitted (catch-up or repair got there first).
                } else if seq == self.last_seq + 1 {
                    self.last_id = self.last_id.max(id);
                    self.last_seq = seq;
                    self.push_event(seq, frame);
                    self.release_held();
                } else if self.held.len() < MAX_HELD {
                    // Something before this one has not arrived yet: hold this one for a
                    // moment (see the module documentation).
                    self.held.insert(seq, (id, frame));
                    self.held_since.get_or_insert_with(Instant::now);
                } else {
                    // Far behind: the store has all of it.
                    self.repair = true;
                }
            }
            Delivery::Frame(frame) => self.ready.push_back(FeedEvent::Frame { seq: None, frame }),
            Delivery::Close { frame, reason } => {
                self.ready.push_back(FeedEvent::Close { frame, reason })
            }
            Delivery::SessionEnded { session } => {
                if self.session != 0 && (session == 0 || session == self.session) {
                    let frame = encode(&ServerFrame::Error(ErrorBody::new(
                        ErrorCode::LoginRequired,
                        "Your session ended (logged out); log in again to continue.",
                    )));
                    self.ready.push_back(FeedEvent::Close {
                        frame,
                        reason: CloseReason::SessionEnded,
                    });
                }
            }
            Delivery::Resync => {
                self.repair = true;
                self.repair_after
                    .get_or_insert_with(|| Instant::now() + spread(RESYNC_SPREAD));
            }
            Delivery::GoAway => self.ready.push_back(FeedEvent::ShuttingDown),
            Delivery::Heartbeat => self.ready.push_back(FeedEvent::Heartbeat),
        }
    }

    /// Emits the held deliveries that now follow on, drops the ones already emitted, and
    /// restarts the window for a gap that remains.
    fn release_held(&mut self) {
        while let Some(entry) = self.held.first_entry() {
            let seq = *entry.key();
            if seq <= self.last_seq {
                entry.remove();
            } else if seq == self.last_seq + 1 {
                let (id, frame) = entry.remove();
                self.last_id = self.last_id.max(id);
                self.last_seq = seq;
                self.push_event(seq, frame);
            } else {
                break;
            }
        }
        self.held_since = if self.held.is_empty() {
            None
        } else {
            Some(Instant::now())
        };
    }

    /// Reads one page of catch-up; what is left to read afterwards.
    async fn read_catch_up(&mut self, catch_up: CatchUp) -> Result<Option<CatchUp>, ChatError> {
        let store = self.chat.store().clone();
        match catch_up {
            CatchUp::Messages { cursor, until } => {
                let rows = store
                    .messages_between(self.room.id, cursor, until, MAX_PAGE)
                    .await?;
                let done = rows.len() < MAX_PAGE as usize;
                let mut cursor = cursor;
                for row in &rows {
                    cursor = row.id;
                    // Messages alone: the head's seq (set at open) stays where live starts.
                    self.last_id = self.last_id.max(row.id);
                    let frame = encode(&ServerFrame::Message(to_wire_for(
                        row,
                        self.room.slug.as_str(),
                        self.viewer(),
                    )));
                    self.ready.push_back(FeedEvent::Frame {
                        seq: Some(row.seq),
                        frame,
                    });
                }
                Ok((!done && cursor < until).then_some(CatchUp::Messages { cursor, until }))
            }
            CatchUp::Events { cursor, until } => {
                let events = store
                    .events_between(self.room.id, cursor, until, MAX_PAGE)
                    .await?;
                let done = events.len() < MAX_PAGE as usize;
                let cursor = events.last().map_or(cursor, |event| event.seq());
                for event in &events {
                    let frame = encode(&event_frame(event, self.room.slug.as_str(), self.viewer()));
                    if let crate::store::RoomEvent::Message(row) = event {
                        self.last_id = self.last_id.max(row.id);
                    }
                    self.ready.push_back(FeedEvent::Frame {
                        seq: Some(event.seq()),
                        frame,
                    });
                }
                Ok((!done && cursor < until).then_some(CatchUp::Events { cursor, until }))
            }
        }
    }

    /// Emits a stored event that follows the last one emitted (repair).
    fn push_stored(&mut self, event: &crate::store::RoomEvent) {
        let seq = event.seq();
        if seq <= self.last_seq {
            return;
        }
        if let crate::store::RoomEvent::Message(row) = event {
            self.last_id = self.last_id.max(row.id);
        }
        self.last_seq = seq;
        let frame = encode(&event_frame(event, self.room.slug.as_str(), self.viewer()));
        self.push_event(seq, frame);
    }

    /// The viewer's user id, if the feed has one.
    fn viewer(&self) -> Option<i64> {
        (self.viewer != 0).then_some(self.viewer)
    }

    fn push_event(&mut self, seq: i64, frame: Frame) {
        self.ready.push_back(FeedEvent::Frame {
            seq: Some(seq),
            frame,
        });
    }
}

/// A random part of `over`.
fn spread(over: Duration) -> Duration {
    let mut bytes = [0u8; 2];
    let fraction = if getrandom::fill(&mut bytes).is_ok() {
        f64::from(u16::from_le_bytes(bytes)) / f64::from(u16::MAX)
    } else {
        0.5
    };
    over.mul_f64(fraction)
}
