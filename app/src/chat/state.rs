//! The reactive state of one open room, shared by the view and the browser connection.

use crate::protocol::{ChatMessage, Member};
use leptos::prelude::*;

/// How many messages the list keeps in the page at most: a room with 100,000 messages stays
/// smooth because older (or, when scrolled back, newer) ones leave the DOM and come back from
/// the server when scrolled to.
pub const MAX_VISIBLE_MESSAGES: usize = 400;
/// Messages one scroll-back page loads.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
pub const OLDER_PAGE: u32 = 50;

/// Where the room's live connection stands, shown in the room header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnState {
    /// Server-rendered page, WASM not running yet: the form posts without JavaScript.
    Static,
    /// Opening the first connection.
    Connecting,
    /// Connected and receiving live.
    Live,
    /// Lost the connection; retrying with backoff.
    Reconnecting,
    /// The room is gone; no more retries.
    Closed,
}

impl ConnState {
    /// A stable token for `data-state` (tests and CSS key on it).
    pub fn token(self) -> &'static str {
        match self {
            ConnState::Static => "static",
            ConnState::Connecting => "connecting",
            ConnState::Live => "live",
            ConnState::Reconnecting => "reconnecting",
            ConnState::Closed => "closed",
        }
    }

    /// What the user reads.
    pub fn label(self) -> &'static str {
        match self {
            ConnState::Static => "not live",
            ConnState::Connecting => "connecting…",
            ConnState::Live => "live",
            ConnState::Reconnecting => "reconnecting…",
            ConnState::Closed => "closed",
        }
    }
}

/// The four ways a page can follow a room: preferred first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// One WebSocket for both directions.
    WebSocket,
    /// HTTP streaming (Server-Sent Events) down, POST up.
    Sse,
    /// A request that waits for the next message, re-sent at once; POST up.
    LongPoll,
    /// A request every few seconds; POST up.
    Poll,
}

impl Transport {
    /// Every transport, in order of preference.
    pub const ALL: [Transport; 4] = [
        Transport::WebSocket,
        Transport::Sse,
        Transport::LongPoll,
        Transport::Poll,
    ];

    /// The `?transport=` value and `data-transport` token.
    pub fn token(self) -> &'static str {
        match self {
            Transport::WebSocket => "ws",
            Transport::Sse => "sse",
            Transport::LongPoll => "longpoll",
            Transport::Poll => "poll",
        }
    }

    /// What the user reads.
    pub fn label(self) -> &'static str {
        match self {
            Transport::WebSocket => "WebSocket",
            Transport::Sse => "HTTP streaming (SSE)",
            Transport::LongPoll => "long polling",
            Transport::Poll => "short polling",
        }
    }

    /// Parses a `?transport=` value.
    pub fn parse(token: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.token() == token)
    }

    /// What to try when this one keeps failing. Short polling is only ever chosen on
    /// purpose: long polling does everything it does, sooner.
    pub fn fallback(self) -> Self {
        match self {
            Transport::WebSocket => Transport::Sse,
            Transport::Sse | Transport::LongPoll => Transport::LongPoll,
            Transport::Poll => Transport::Poll,
        }
    }
}

/// What a transport cost so far: the seed's comparison, measured.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TransportStats {
    /// HTTP requests made (a WebSocket or SSE connection counts once per (re)connect).
    pub requests: u32,
    /// Bytes received: payloads plus, for HTTP responses, their headers.
    pub bytes: u64,
    /// New messages delivered.
    pub deliveries: u32,
    /// Sum of delivery latencies (arrival minus the server's store time), milliseconds.
    pub latency_total_ms: f64,
    /// Largest delivery latency, milliseconds.
    pub latency_max_ms: f64,
}

impl TransportStats {
    /// Bytes received per delivered message.
    pub fn bytes_per_delivery(&self) -> Option<f64> {
        (self.deliveries > 0).then(|| self.bytes as f64 / f64::from(self.deliveries))
    }

    /// Mean delivery latency in milliseconds.
    pub fn mean_latency_ms(&self) -> Option<f64> {
        (self.deliveries > 0).then(|| self.latency_total_ms / f64::from(self.deliveries))
    }
}

/// A message the user sent that the server has not echoed back yet: the outbox. It is resent
/// (with the same `client_id`, so it is stored once) after every reconnect until it is echoed
/// or refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingSend {
    /// The idempotency key, matched against echoed messages and error frames.
    pub client_id: String,
    /// The text as typed, shown greyed until it is stored.
    pub text: String,
    /// The encoded `send` frame, ready to resend.
    pub frame: String,
    /// Why the server refused it, once it did (then it is no longer resent).
    pub failed: Option<String>,
}

/// All the signals of one room page.
#[derive(Clone, Copy)]
pub struct RoomState {
    /// The room's slug.
    pub slug: StoredValue<String>,
    /// The room's title (the owner may rename it while we watch).
    pub title: RwSignal<String>,
    /// Stored messages, ascending by id, without duplicates.
    pub messages: RwSignal<Vec<ChatMessage>>,
    /// The outbox.
    pub pending: RwSignal<Vec<PendingSend>>,
    /// The connection state.
    pub status: RwSignal<ConnState>,
    /// The last problem worth telling the user about (refused message, …).
    pub notice: RwSignal<Option<String>>,
    /// The transport in use.
    pub transport: RwSignal<Transport>,
    /// A transport chosen with `?transport=` (no fallback then).
    pub forced: StoredValue<Option<Transport>>,
    /// What the connection has cost so far.
    pub stats: RwSignal<TransportStats>,
    /// The newest id the transport itself has delivered, in order: where it resumes
    /// (`after`). Messages that arrive out of band (the answer to our own POST) are shown
    /// but do not move it, or a message stored just before ours would be skipped.
    pub cursor: StoredValue<i64>,
    /// Who is here (up to 50 names) and how many in all.
    pub members: RwSignal<Vec<Member>>,
    /// The member count (may exceed the names listed).
    pub member_count: RwSignal<usize>,
    /// Who is typing, and until when (ms since the epoch).
    pub typing: RwSignal<Vec<(Member, f64)>>,
    /// The viewer's user id (their own typing is not shown).
    pub me: StoredValue<Option<i64>>,
    /// The newest message this viewer has told the server it read.
    pub read_sent: StoredValue<i64>,
    /// When the next reconnect attempt is due (ms since the epoch), while waiting.
    pub retry_at: RwSignal<Option<f64>>,
    /// Whether the list has been scrolled to the room's first message.
    pub older_done: RwSignal<bool>,
    /// Whether an older page is being loaded.
    pub loading_older: RwSignal<bool>,
    /// The list no longer holds the newest messages (scrolled far back): live ones are
    /// counted, not shown, until the reader jumps back down.
    pub detached: RwSignal<bool>,
    /// Whether the list is scrolled to the bottom (then it follows new messages).
    pub at_bottom: RwSignal<bool>,
    /// New messages that arrived while the reader was scrolled up.
    pub unseen: RwSignal<u32>,
}

impl RoomState {
    /// State for a room, seeded with the server-rendered history.
    pub fn new(slug: String, title: String, history: Vec<ChatMessage>) -> Self {
        let cursor = history.last().map_or(0, |m| m.id);
        Self {
            cursor: StoredValue::new(cursor),
            slug: StoredValue::new(slug),
            title: RwSignal::new(title),
            messages: RwSignal::new(history),
            pending: RwSignal::new(Vec::new()),
            status: RwSignal::new(ConnState::Static),
            notice: RwSignal::new(None),
            transport: RwSignal::new(Transport::WebSocket),
            forced: StoredValue::new(None),
            stats: RwSignal::new(TransportStats::default()),
            members: RwSignal::new(Vec::new()),
            member_count: RwSignal::new(0),
            typing: RwSignal::new(Vec::new()),
            me: StoredValue::new(None),
            read_sent: StoredValue::new(0),
            retry_at: RwSignal::new(None),
            older_done: RwSignal::new(false),
            loading_older: RwSignal::new(false),
            detached: RwSignal::new(false),
            at_bottom: RwSignal::new(true),
            unseen: RwSignal::new(0),
        }
    }

    /// The presence snapshot.
    pub fn set_members(&self, mut members: Vec<Member>, count: usize) {
        members.sort_by(|a, b| a.name.cmp(&b.name));
        self.members.set(members);
        self.member_count.set(count);
    }

    /// A presence change.
    pub fn change_members(&self, joins: Vec<Member>, leaves: Vec<Member>, count: usize) {
        self.members.update(|list| {
            list.retain(|m| !leaves.iter().any(|l| l.id == m.id));
            for join in joins {
                if !list.iter().any(|m| m.id == join.id) {
                    list.push(join);
                }
            }
            list.sort_by(|a, b| a.name.cmp(&b.name));
        });
        self.member_count.set(count);
    }

    /// Someone is typing, shown until `until`.
    pub fn someone_typing(&self, user: Member, until: f64) {
        if Some(user.id) == self.me.get_value() {
            return;
        }
        self.typing.update(|list| {
            list.retain(|(m, _)| m.id != user.id);
            list.push((user, until));
        });
    }

    /// Forgets typing indicators that ran out (and the author of a message that arrived).
    pub fn prune_typing(&self, now: f64, author: Option<&str>) {
        let stale = self.typing.with_untracked(|list| {
            list.iter()
                .any(|(m, until)| *until <= now || Some(m.name.as_str()) == author)
        });
        if stale {
            self.typing.update(|list| {
                list.retain(|(m, until)| *until > now && Some(m.name.as_str()) != author)
            });
        }
    }

    /// Older messages from scrolling back, put before the list. When the list grows past
    /// [`MAX_VISIBLE_MESSAGES`], its newest part leaves the page (it is detached).
    pub fn prepend(&self, older: Vec<ChatMessage>) {
        self.messages.update(|list| {
            let first = list.first().map_or(i64::MAX, |m| m.id);
            let mut merged: Vec<ChatMessage> = older.into_iter().filter(|m| m.id < first).collect();
            merged.append(list);
            if merged.len() > MAX_VISIBLE_MESSAGES {
                merged.truncate(MAX_VISIBLE_MESSAGES);
                self.detached.set(true);
            }
            *list = merged;
        });
    }

    /// Uses only `transport` (from `?transport=`), never falling back.
    pub fn force(self, transport: Option<Transport>) -> Self {
        self.forced.set_value(transport);
        if let Some(transport) = transport {
            self.transport.set(transport);
        }
        self
    }

    /// The id to resume from: the newest message the transport delivered in order.
    pub fn last_id(&self) -> i64 {
        self.cursor.get_value()
    }

    /// Moves the resume point forward (never back).
    pub fn advance_cursor(&self, id: i64) {
        self.cursor
            .update_value(|cursor| *cursor = (*cursor).max(id));
    }

    /// Adds a message from the server, keeping order and dropping duplicates, and clears the
    /// matching outbox entry. Returns whether the message was new.
    pub fn receive(&self, message: ChatMessage) -> bool {
        if let Some(client_id) = message.client_id.as_deref() {
            if self
                .pending
                .with_untracked(|p| p.iter().any(|s| s.client_id == client_id))
            {
                self.pending
                    .update(|p| p.retain(|s| s.client_id != client_id));
            }
        }
        let author = message.author.clone();
        self.prune_typing(f64::MIN, Some(&author));
        // Scrolled far back: the newest messages are not in the page; count this one.
        if self.detached.get_untracked() {
            let newer = self
                .messages
                .with_untracked(|list| list.last().is_none_or(|last| message.id > last.id));
            if newer {
                self.unseen.update(|n| *n += 1);
                return true;
            }
        }
        let mut inserted = false;
        let following = self.at_bottom.get_untracked();
        self.messages.update(|list| {
            inserted = insert_ordered(list, message);
            // Following the bottom: the oldest leave the page (scrolling up reloads them).
            if inserted && following && list.len() > MAX_VISIBLE_MESSAGES {
                let excess = list.len() - MAX_VISIBLE_MESSAGES;
                list.drain(..excess);
                self.older_done.set(false);
            }
        });
        if inserted && !following {
            self.unseen.update(|n| *n += 1);
        }
        inserted
    }

    /// Marks an outbox entry as refused, with the server's reason.
    pub fn refuse(&self, client_id: &str, reason: String) {
        self.pending.update(|p| {
            if let Some(entry) = p.iter_mut().find(|s| s.client_id == client_id) {
                entry.failed = Some(reason.clone());
            }
        });
        self.notice.set(Some(reason));
    }
}

/// Inserts `message` into `list` (ascending by id) unless its id is already there. The common
/// case, a newer message, is a push. Returns whether it was inserted.
pub fn insert_ordered(list: &mut Vec<ChatMessage>, message: ChatMessage) -> bool {
    match list.last() {
        None => {
            list.push(message);
            true
        }
        Some(last) if last.id < message.id => {
            list.push(message);
            true
        }
        Some(_) => match list.binary_search_by_key(&message.id, |m| m.id) {
            Ok(_) => false,
            Err(at) => {
                list.insert(at, message);
                true
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(id: i64) -> ChatMessage {
        ChatMessage {
            id,
            room: "r".into(),
            author: "a".into(),
            text: format!("m{id}"),
            client_id: None,
            sent_at: "2026-01-01T00:00:00.000Z".into(),
        }
    }

    #[test]
    fn insert_keeps_order_and_drops_duplicates() {
        let mut list = Vec::new();
        for id in [1, 2, 5, 3, 5, 4, 2] {
            insert_ordered(&mut list, msg(id));
        }
        let ids: Vec<i64> = list.iter().map(|m| m.id).collect();
        assert_eq!(ids, vec![1, 2, 3, 4, 5]);
    }
}
