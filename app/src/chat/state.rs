//! The reactive state of one open room, shared by the view and the browser connection.

use crate::protocol::{ChatMessage, LastMessage, Member, ReplyRef};
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
    /// The newest room event (`seq`) the transport itself has delivered, in order: where it
    /// resumes (`since`). Events that arrive out of band (the answer to our own POST or
    /// PATCH) are shown but do not move it, or an event stored just before ours would be
    /// skipped.
    pub cursor: StoredValue<i64>,
    /// The room owner's user id (the owner may delete anyone's message).
    pub owner_id: StoredValue<Option<i64>>,
    /// The message whose text is being edited in place, if any.
    pub editing: RwSignal<Option<i64>>,
    /// The message the composer answers, if any (shown above it; sent as `reply_to`).
    pub replying: RwSignal<Option<ReplyRef>>,
    /// A message jumped to (from a quote), highlighted for a moment.
    pub highlighted: RwSignal<Option<i64>>,
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
        // The page shows each message as it stands now, so replaying events after the
        // newest one shown repeats at most an edit or deletion already applied: harmless.
        let cursor = history.iter().map(|m| m.seq).max().unwrap_or(0);
        Self {
            cursor: StoredValue::new(cursor),
            owner_id: StoredValue::new(None),
            editing: RwSignal::new(None),
            replying: RwSignal::new(None),
            highlighted: RwSignal::new(None),
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

    /// The seq to resume from: the newest room event the transport delivered in order.
    pub fn last_seq(&self) -> i64 {
        self.cursor.get_value()
    }

    /// Moves the resume point forward (never back).
    pub fn advance_cursor(&self, seq: i64) {
        self.cursor
            .update_value(|cursor| *cursor = (*cursor).max(seq));
    }

    /// Whether the viewer `me` may edit `message` (their own, not deleted).
    pub fn can_edit(&self, message: &ChatMessage, me: Option<i64>) -> bool {
        !message.deleted && me == Some(message.author_id)
    }

    /// Whether the viewer `me` may delete `message` (their own, or any as the room's owner).
    pub fn can_delete(&self, message: &ChatMessage, me: Option<i64>) -> bool {
        !message.deleted
            && me.is_some()
            && (me == Some(message.author_id) || me == self.owner_id.get_value())
    }

    /// A message's new text (an edit, from the room or from our own PATCH). Unknown ids
    /// (not in the page) are ignored: the server has the text when they are scrolled to.
    pub fn apply_edit(&self, id: i64, text: String, edited_at: String) {
        self.change_quotes(id, |quote| {
            if !quote.deleted {
                quote.excerpt = LastMessage::excerpt_of(&text);
            }
        });
        self.change_message(id, |m| {
            if !m.deleted {
                m.text = text;
                m.edited_at = Some(edited_at);
            }
        });
        if self.editing.get_untracked() == Some(id) {
            self.editing.set(None);
        }
    }

    /// A message was deleted: it stays in place as a tombstone, its text gone.
    pub fn apply_delete(&self, id: i64) {
        self.change_quotes(id, |quote| {
            quote.deleted = true;
            quote.excerpt.clear();
        });
        if self
            .replying
            .with_untracked(|r| r.as_ref().is_some_and(|r| r.id == id))
        {
            self.replying.set(None);
        }
        self.change_message(id, |m| {
            m.deleted = true;
            m.text.clear();
        });
        if self.editing.get_untracked() == Some(id) {
            self.editing.set(None);
        }
    }

    /// Someone's emoji went on or off message `id` (ignored for messages not in the page,
    /// deleted ones, and a replay of what is already applied).
    pub fn apply_reaction(&self, id: i64, emoji: &str, user: &Member, on: bool) {
        let me = self.me.try_get_value().flatten();
        self.change_message(id, |m| {
            if !m.deleted {
                m.apply_reaction(emoji, user, on, me);
            }
        });
    }

    /// Changes the quotes of message `id` in the replies shown (if there are any).
    fn change_quotes(&self, id: i64, change: impl Fn(&mut ReplyRef)) {
        let quoted = self.messages.with_untracked(|list| {
            list.iter()
                .any(|m| m.reply_to.as_ref().is_some_and(|r| r.id == id))
        });
        if quoted {
            self.messages.update(|list| {
                for quote in list.iter_mut().filter_map(|m| m.reply_to.as_mut()) {
                    if quote.id == id {
                        change(quote);
                    }
                }
            });
        }
    }

    /// Changes message `id` in the list if it is there (and only then notifies the view).
    fn change_message(&self, id: i64, change: impl FnOnce(&mut ChatMessage)) {
        let at = self
            .messages
            .with_untracked(|list| list.binary_search_by_key(&id, |m| m.id).ok());
        if let Some(at) = at {
            self.messages.update(|list| {
                if let Some(message) = list.get_mut(at) {
                    change(message);
                }
            });
        }
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
            seq: id,
            room: "r".into(),
            author_id: 1,
            author: "a".into(),
            text: format!("m{id}"),
            client_id: None,
            sent_at: "2026-01-01T00:00:00.000Z".into(),
            edited_at: None,
            deleted: false,
            reply_to: None,
            reactions: Vec::new(),
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

    #[test]
    fn edits_and_deletions_change_the_message_in_place() {
        let owner = Owner::new();
        owner.set();
        let state = RoomState::new("r".into(), "R".into(), vec![msg(1), msg(2), msg(3)]);
        assert_eq!(
            state.last_seq(),
            3,
            "resumes after the newest message shown"
        );
        state.messages.update(|list| {
            list[2].reply_to = Some(ReplyRef::quoting(2, "a".into(), "m2"));
            list[0].reply_to = Some(ReplyRef::quoting(3, "a".into(), "m3"));
        });
        state.editing.set(Some(2));
        state.apply_edit(2, "better".into(), "2026-01-01T00:01:00.000Z".into());
        assert_eq!(state.editing.get_untracked(), None, "the editor closes");
        state.apply_delete(3);
        // An edit that arrives after the deletion (a replay) does not bring the text back.
        state.apply_edit(3, "ghost".into(), "2026-01-01T00:02:00.000Z".into());
        state.apply_edit(99, "not in the page".into(), "x".into());
        state.messages.with_untracked(|list| {
            assert_eq!(list[1].text, "better");
            assert!(list[1].edited_at.is_some());
            assert!(list[2].deleted);
            // The reply to message 2 (message 3, now deleted itself) quotes the edit.
            assert_eq!(
                list[2].reply_to.as_ref().map(|r| r.excerpt.as_str()),
                Some("better")
            );
            // The quote of the deleted message 3 became its tombstone.
            assert!(list[0]
                .reply_to
                .as_ref()
                .is_some_and(|r| r.deleted && r.excerpt.is_empty()));
            assert_eq!(list[2].text, "");
            assert_eq!(list.len(), 3);
        });
    }

    #[test]
    fn only_authors_edit_and_owners_also_delete() {
        let owner = Owner::new();
        owner.set();
        let state = RoomState::new("r".into(), "R".into(), vec![msg(1)]);
        state.owner_id.set_value(Some(7));
        state.messages.with_untracked(|list| {
            let m = &list[0];
            assert!(state.can_edit(m, Some(1)) && state.can_delete(m, Some(1)));
            assert!(!state.can_edit(m, Some(7)) && state.can_delete(m, Some(7)));
            assert!(!state.can_edit(m, Some(2)) && !state.can_delete(m, Some(2)));
            assert!(!state.can_delete(m, None));
        });
    }
}
