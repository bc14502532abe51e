//! The reactive state of one open room, shared by the view and the browser connection.

use crate::protocol::ChatMessage;
use leptos::prelude::*;

/// How many messages a page keeps in memory; older ones scroll out (reload shows history).
pub const MAX_VISIBLE_MESSAGES: usize = 1000;

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
}

impl RoomState {
    /// State for a room, seeded with the server-rendered history.
    pub fn new(slug: String, title: String, history: Vec<ChatMessage>) -> Self {
        Self {
            slug: StoredValue::new(slug),
            title: RwSignal::new(title),
            messages: RwSignal::new(history),
            pending: RwSignal::new(Vec::new()),
            status: RwSignal::new(ConnState::Static),
            notice: RwSignal::new(None),
        }
    }

    /// The id to resume from: the newest message shown.
    pub fn last_id(&self) -> i64 {
        self.messages
            .with_untracked(|list| list.last().map(|m| m.id).unwrap_or(0))
    }

    /// Adds a message from the server, keeping order and dropping duplicates, and clears the
    /// matching outbox entry.
    pub fn receive(&self, message: ChatMessage) {
        if let Some(client_id) = message.client_id.as_deref() {
            if self
                .pending
                .with_untracked(|p| p.iter().any(|s| s.client_id == client_id))
            {
                self.pending
                    .update(|p| p.retain(|s| s.client_id != client_id));
            }
        }
        self.messages.update(|list| {
            if insert_ordered(list, message) && list.len() > MAX_VISIBLE_MESSAGES {
                let excess = list.len() - MAX_VISIBLE_MESSAGES;
                list.drain(..excess);
            }
        });
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
