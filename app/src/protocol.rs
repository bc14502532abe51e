//! The wire protocol: every JSON shape that crosses a socket or an HTTP body.
//!
//! One definition serves the server, the browser client, the integration tests and the load
//! generator, so a change here is a protocol change and shows up everywhere at compile time.
//! Frames are internally tagged by `"type"`; unknown fields are ignored when decoding, so old
//! clients keep working when a frame grows a field.

use serde::{Deserialize, Serialize};

/// What a client may send over a WebSocket (or, as the same JSON body, by HTTP POST).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// Post a chat message. `client_id` makes a retry idempotent: the same user sending the
    /// same `client_id` twice gets the first stored message back instead of a second copy.
    Send {
        /// The message text, validated by the server (see `domain::MessageText`).
        text: String,
        /// A client-chosen id for idempotent retries (1–64 printable characters).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
        /// The id of the message of this room it answers.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<i64>,
    },
    /// "I am typing": sent at most every [`TYPING_EVERY_MS`]; relayed to the room at most
    /// once per [`TYPING_RELAY_MS`] per user, never stored. Faster ones are dropped silently.
    Typing,
    /// "I have read the room up to this message": the server keeps the furthest one per
    /// user and room (it never moves back) and tells the user's other tabs.
    Read {
        /// The newest message id read (must be a message of this room).
        up_to: i64,
    },
    /// Replace the text of one's own message (validated like a new one; rate-limited like
    /// sends). Everyone gets `message_edited`.
    Edit {
        /// The message id.
        id: i64,
        /// The new text.
        text: String,
    },
    /// Delete a message (one's own, or any in a room one owns). Everyone gets
    /// `message_deleted`; the text is removed from the store.
    Delete {
        /// The message id.
        id: i64,
    },
    /// Put an emoji on a message, or take it off if this user already put it there
    /// (one emoji grapheme; at most [`MAX_REACTION_EMOJI`] different ones per message and
    /// [`MAX_REACTIONS_PER_USER`] per user and message). Everyone gets `reaction`.
    React {
        /// The message id.
        id: i64,
        /// The emoji.
        emoji: String,
    },
}

/// Most different emoji one message carries.
pub const MAX_REACTION_EMOJI: usize = 20;
/// Most emoji one user puts on one message.
pub const MAX_REACTIONS_PER_USER: usize = 8;
/// Most reactors a message's reaction lists by name (the count says how many there are).
pub const REACTION_NAMES: usize = 50;

/// A client sends `typing` at most this often while the composer has input.
pub const TYPING_EVERY_MS: u32 = 2_000;
/// The server relays a user's `typing` in a room at most this often: less often than
/// clients send it, but well within [`TYPING_SHOWN_MS`], so a person typing steadily shows
/// without a gap while each member gets half the frames.
pub const TYPING_RELAY_MS: u32 = 3_500;
/// How long a client shows "… is typing" after the last `typing` frame.
pub const TYPING_SHOWN_MS: u32 = 5_000;
/// Most member names one presence frame carries; `count` says how many there are in all.
pub const PRESENCE_NAMES: usize = 50;

/// A user as presence and typing frames name them.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Member {
    /// The user id.
    pub id: i64,
    /// The display name.
    pub name: String,
}

/// What the server pushes to a client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// A stored chat message, delivered to every member of the room, the sender included.
    Message(ChatMessage),
    /// Something the client sent was refused; the connection stays open unless it says so.
    Error(ErrorBody),
    /// The room was deleted by its owner; the server closes the socket right after this frame
    /// (close code [`close_codes::ROOM_DELETED`]).
    RoomDeleted {
        /// The slug of the deleted room.
        room: String,
    },
    /// The owner renamed the room.
    RoomRenamed {
        /// The room's slug (unchanged).
        room: String,
        /// The new title.
        title: String,
    },
    /// Who is in the room: the first frame after connecting (every transport). A user is
    /// one member however many tabs, transports and processes they use.
    Presence {
        /// Up to [`PRESENCE_NAMES`] members.
        members: Vec<Member>,
        /// How many members there are in all.
        count: usize,
    },
    /// Users who joined (first connection in the room) or left (last one closed, or their
    /// process died), gathered over a short moment; lists hold at most [`PRESENCE_NAMES`].
    PresenceDiff {
        /// Users who arrived.
        joins: Vec<Member>,
        /// Users who went.
        leaves: Vec<Member>,
        /// How many members there are now.
        count: usize,
    },
    /// A message's text was replaced by its author (a room event: it has the room's next
    /// seq).
    MessageEdited {
        /// The event's place in the room.
        seq: i64,
        /// Which message.
        id: i64,
        /// Its text now.
        text: String,
        /// When, RFC 3339.
        edited_at: String,
    },
    /// A message was deleted (a room event); show a tombstone in its place.
    MessageDeleted {
        /// The event's place in the room.
        seq: i64,
        /// Which message.
        id: i64,
    },
    /// Someone put an emoji on a message (`on`) or took theirs off (a room event).
    Reaction {
        /// The event's place in the room.
        seq: i64,
        /// Which message.
        id: i64,
        /// Which emoji.
        emoji: String,
        /// Who.
        user: Member,
        /// True when it was put on, false when taken off.
        on: bool,
    },
    /// Someone is typing in the room (show it for [`TYPING_SHOWN_MS`]).
    Typing {
        /// Who.
        user: Member,
    },
    /// This user read `room` up to `up_to` (in this tab or another): clear the badge.
    Read {
        /// The room's slug.
        room: String,
        /// The newest message read.
        up_to: i64,
    },
    /// Lobby feed: a room was created, renamed, got a message, or this viewer's unread count
    /// changed.
    Room {
        /// The room as the viewer's list shows it.
        room: RoomSummary,
    },
    /// Lobby feed: a room was deleted.
    RoomGone {
        /// Its slug.
        slug: String,
    },
    /// Someone mentioned the viewer (`@username`) in a room the viewer may read. Sent to
    /// the user's own group, so every tab and transport hears of it, on every process (the
    /// browser shows a notification when the tab is hidden and the user allowed it).
    Mention {
        /// The room's slug.
        room: String,
        /// The room's title.
        title: String,
        /// The message that mentions the viewer.
        message: LastMessage,
    },
}

/// One stored chat message as every client sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// The store's row id: unique, and increasing in the order messages were stored. Clients
    /// pass the last one they saw as `after` to resume without gaps.
    pub id: i64,
    /// The message's place among the room's events (messages, edits, deletions: 1, 2, 3, …
    /// without gaps). Clients resume with the last one they applied as `since`.
    #[serde(default)]
    pub seq: i64,
    /// The room's slug.
    pub room: String,
    /// The author's user id (who may edit it).
    #[serde(default)]
    pub author_id: i64,
    /// The author's display name at the time of sending.
    pub author: String,
    /// The validated text (may contain newlines).
    pub text: String,
    /// The sender's idempotency key, so the sender can match the echo to its pending send.
    pub client_id: Option<String>,
    /// When the server stored it, RFC 3339 in UTC with milliseconds.
    pub sent_at: String,
    /// When its author last edited it, if ever (RFC 3339).
    #[serde(default)]
    pub edited_at: Option<String>,
    /// True for a deleted message (its text is empty): show a tombstone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
    /// The message this one answers, quoted as it stands now (`null` when none).
    #[serde(default)]
    pub reply_to: Option<ReplyRef>,
    /// The emoji on it, in the order they were first put on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<ReactionCount>,
}

/// One emoji on a message: how many put it there, and who.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ReactionCount {
    /// The emoji.
    pub emoji: String,
    /// How many users put it there.
    pub count: u32,
    /// Whether the viewer is one of them (set where the server knows the viewer; on a
    /// broadcast a client works it out from `users`).
    #[serde(default)]
    pub mine: bool,
    /// The first [`REACTION_NAMES`] who put it there, in order, for "who reacted".
    #[serde(default)]
    pub users: Vec<Member>,
}

impl ChatMessage {
    /// Applies a `reaction` event: one user's emoji on or off (`me`: the viewer's user id).
    pub fn apply_reaction(&mut self, emoji: &str, user: &Member, on: bool, me: Option<i64>) {
        let mine = me == Some(user.id);
        let at = self.reactions.iter().position(|r| r.emoji == emoji);
        match (at, on) {
            (Some(at), true) => {
                let reaction = &mut self.reactions[at];
                if reaction.users.iter().any(|u| u.id == user.id) {
                    return; // already applied (a replay)
                }
                reaction.count += 1;
                reaction.mine |= mine;
                if reaction.users.len() < REACTION_NAMES {
                    reaction.users.push(user.clone());
                }
            }
            (None, true) => self.reactions.push(ReactionCount {
                emoji: emoji.to_owned(),
                count: 1,
                mine,
                users: vec![user.clone()],
            }),
            (Some(at), false) => {
                let reaction = &mut self.reactions[at];
                let listed = reaction.users.len();
                reaction.users.retain(|u| u.id != user.id);
                // Not listed, and the list holds everyone: not one of them (a replay).
                let unlisted = reaction.users.len() == listed;
                if unlisted && listed >= reaction.count as usize {
                    return;
                }
                reaction.count -= 1;
                if mine {
                    reaction.mine = false;
                }
                if reaction.count == 0 {
                    self.reactions.remove(at);
                }
            }
            (None, false) => {}
        }
    }
}

/// The quote of an answered message: enough to show it above the reply and jump to it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ReplyRef {
    /// The answered message's id.
    pub id: i64,
    /// Its author's name.
    pub author: String,
    /// The start of its text, on one line (empty once deleted).
    pub excerpt: String,
    /// True once the answered message was deleted: show its tombstone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}

impl ReplyRef {
    /// The quote of message `id` by `author` whose text is now `text` (empty: deleted).
    pub fn quoting(id: i64, author: String, text: &str) -> Self {
        Self {
            id,
            author,
            excerpt: LastMessage::excerpt_of(text),
            deleted: text.is_empty(),
        }
    }
}

/// The body of an error frame, and of every JSON API error (`{"error": ErrorBody}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A stable, machine-readable code.
    pub code: ErrorCode,
    /// A human-readable explanation, safe to show to the user.
    pub message: String,
    /// Echoes the `client_id` of the send that was refused, so the client can drop it from
    /// its outbox instead of retrying it forever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

impl ErrorBody {
    /// An error body without a `client_id`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            client_id: None,
        }
    }
}

/// The JSON envelope of every REST error response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiErrorResponse {
    /// What went wrong.
    pub error: ErrorBody,
}

/// Stable error codes shared by error frames, REST errors and server functions; clients
/// branch on these, never on the message text. Serialised in snake case (`"bad_json"`, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame was not valid JSON.
    BadJson,
    /// The frame or body was JSON but not a shape we understand (missing fields, …).
    BadFrame,
    /// The frame's `type` is not one the server knows.
    UnknownType,
    /// A field failed validation (text too long, control characters, bad slug, …).
    Invalid,
    /// The frame or body exceeded the size limit; a WebSocket is closed after this one.
    TooLarge,
    /// The request body did not arrive in time.
    Timeout,
    /// The action needs an identity (an account, or a guest name where guests are allowed).
    LoginRequired,
    /// A credential (API token) is missing or wrong.
    Unauthorized,
    /// Wrong username or password.
    InvalidCredentials,
    /// The identity is known but may not do this.
    Forbidden,
    /// No such room (or other resource).
    NotFound,
    /// The resource already exists (duplicate room slug, taken username, …).
    Conflict,
    /// Too many requests; slow down.
    RateLimited,
    /// A quota is used up (rooms per user, …); `Retry-After` says when, if ever, it frees.
    QuotaExceeded,
    /// The server is at capacity, or the client fell too far behind: retry (a WebSocket
    /// client reconnects with its last position).
    Overloaded,
    /// The server is shutting down or cannot reach what it needs right now: retry shortly.
    Unavailable,
    /// The request's Origin is not allowed.
    BadOrigin,
    /// Something failed on the server; the message says nothing more on purpose.
    Internal,
    /// A code this build does not know (a newer server): treat it as a plain failure.
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadJson => "bad_json",
            ErrorCode::BadFrame => "bad_frame",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::Invalid => "invalid",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::Timeout => "timeout",
            ErrorCode::LoginRequired => "login_required",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::InvalidCredentials => "invalid_credentials",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::QuotaExceeded => "quota_exceeded",
            ErrorCode::Overloaded => "overloaded",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::BadOrigin => "bad_origin",
            ErrorCode::Internal => "internal",
            ErrorCode::Unknown => "unknown",
        }
    }

    /// The HTTP status of an answer with this code: the one table, used by the REST API and
    /// by server functions alike.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::BadJson | ErrorCode::BadFrame | ErrorCode::UnknownType => 400,
            ErrorCode::LoginRequired | ErrorCode::Unauthorized | ErrorCode::InvalidCredentials => {
                401
            }
            ErrorCode::Forbidden | ErrorCode::BadOrigin => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::Timeout => 408,
            ErrorCode::Conflict => 409,
            ErrorCode::TooLarge => 413,
            ErrorCode::Invalid => 422,
            ErrorCode::RateLimited | ErrorCode::QuotaExceeded => 429,
            ErrorCode::Internal | ErrorCode::Unknown => 500,
            ErrorCode::Overloaded | ErrorCode::Unavailable => 503,
        }
    }

    /// Whether the refusal says "not now" rather than "never": a client may retry the same
    /// request later (with the same `client_id`, so it is still stored once).
    pub fn is_passing(self) -> bool {
        matches!(
            self,
            ErrorCode::Internal
                | ErrorCode::Overloaded
                | ErrorCode::Unavailable
                | ErrorCode::RateLimited
        )
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// WebSocket close codes the server uses, so clients can tell why they were closed.
pub mod close_codes {
    /// The client sent a frame over the size limit (RFC 6455 "message too big").
    pub const TOO_LARGE: u16 = 1009;
    /// The client fell behind and its mailbox overflowed: reconnect with `after` (RFC 6455
    /// "try again later").
    pub const OVERLOADED: u16 = 1013;
    /// The server is shutting down (RFC 6455 "going away"): reconnect, maybe elsewhere.
    pub const GOING_AWAY: u16 = 1001;
    /// The room was deleted: do not reconnect (application range 4000–4999, like HTTP 410).
    pub const ROOM_DELETED: u16 = 4410;
    /// The client kept sending after being told to slow down (RFC 6455 "policy violation").
    pub const POLICY: u16 = 1008;
    /// The server failed while serving the connection (RFC 6455 "internal error").
    pub const INTERNAL: u16 = 1011;
    /// A text frame was not UTF-8 (RFC 6455 "invalid frame payload data").
    pub const INVALID_TEXT: u16 = 1007;
    /// The client broke the WebSocket framing rules (RFC 6455 "protocol error").
    pub const PROTOCOL: u16 = 1002;
    /// The session was logged out or revoked: log in again before reconnecting (application
    /// range, like HTTP 401).
    pub const SESSION_ENDED: u16 = 4401;
}

/// A room as listed by `GET /api/rooms` and on the home page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomSummary {
    /// The room's URL name, `[a-z0-9-]{1,48}`.
    pub slug: String,
    /// The human title.
    pub title: String,
    /// How many messages the room holds.
    pub message_count: i64,
    /// When the last message was sent (RFC 3339), if any.
    pub last_message_at: Option<String>,
    /// The user id of the room's owner (who may rename or delete it), if known.
    #[serde(default)]
    pub owner_id: Option<i64>,
    /// Messages after the viewer's read marker, by others (0 for anonymous viewers; capped
    /// at [`UNREAD_CAP`]).
    #[serde(default)]
    pub unread: u32,
    /// How many of those mention the viewer (`@username`).
    #[serde(default)]
    pub mentions: u32,
    /// The viewer's read marker in this room (the newest message read; 0 for none or for
    /// anonymous viewers): the room opens at the first message after it.
    #[serde(default)]
    pub read_up_to: i64,
    /// The newest message, for the sidebar's excerpt.
    #[serde(default)]
    pub last_message: Option<LastMessage>,
    /// Visible to its members only (a direct-message room is one too).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub private: bool,
}

/// Unread counts stop at this (the badge shows "999+").
pub const UNREAD_CAP: u32 = 999;
/// Longest excerpt of a message the room list shows, in characters.
pub const EXCERPT_CHARS: usize = 120;

/// A room's newest message, as the room list shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastMessage {
    /// The message id.
    pub id: i64,
    /// The author's name.
    pub author: String,
    /// The start of the text (at most [`EXCERPT_CHARS`] characters, on one line).
    pub excerpt: String,
    /// When it was stored (RFC 3339).
    pub sent_at: String,
}

impl LastMessage {
    /// The excerpt of `text`: its first [`EXCERPT_CHARS`] characters, newlines as spaces.
    pub fn excerpt_of(text: &str) -> String {
        let mut excerpt: String = text
            .chars()
            .take(EXCERPT_CHARS)
            .map(|c| if c.is_whitespace() { ' ' } else { c })
            .collect();
        if text.chars().nth(EXCERPT_CHARS).is_some() {
            excerpt.push('…');
        }
        excerpt
    }
}

/// A piece of a message's text: plain, or an `@name` mention (the name without its `@`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextPiece<'a> {
    /// Text as it is.
    Plain(&'a str),
    /// `@name`: the name as written.
    Mention(&'a str),
}

/// Splits a text into plain pieces and mentions. A mention starts at the text's start or
/// after a character that cannot be part of a name (so `a@b.c` is not one), and a trailing
/// `.` or `-` ends the sentence, not the name.
pub fn text_pieces(text: &str) -> Vec<TextPiece<'_>> {
    let name_char = |c: char| c.is_alphanumeric() || matches!(c, '_' | '.' | '-');
    let mut pieces = Vec::new();
    let mut plain_from = 0;
    let mut previous: Option<char> = None;
    let mut skip_until = 0;
    for (at, c) in text.char_indices() {
        if at < skip_until {
            previous = Some(c);
            continue;
        }
        if c == '@' && !previous.is_some_and(name_char) {
            let rest = &text[at + 1..];
            let end = rest.find(|c: char| !name_char(c)).unwrap_or(rest.len());
            let name = rest[..end].trim_end_matches(['.', '-']);
            if !name.is_empty() {
                if plain_from < at {
                    pieces.push(TextPiece::Plain(&text[plain_from..at]));
                }
                pieces.push(TextPiece::Mention(name));
                plain_from = at + 1 + name.len();
                skip_until = plain_from;
            }
        }
        previous = Some(c);
    }
    if plain_from < text.len() {
        pieces.push(TextPiece::Plain(&text[plain_from..]));
    }
    pieces
}

/// Usernames a text mentions (`@name`, lower-cased, each once), as the sidebar's mention
/// badge and notifications count them (see [`text_pieces`]).
pub fn mentioned_usernames(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    if !text.contains('@') {
        return found; // most messages: no need to cut the text into pieces
    }
    for piece in text_pieces(text) {
        if let TextPiece::Mention(name) = piece {
            let name = name.to_lowercase();
            if !found.contains(&name) {
                found.push(name);
            }
        }
    }
    found
}

/// `POST /api/rooms/{slug}/read` body: the `read` frame's field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadRequest {
    /// The newest message id read.
    pub up_to: i64,
}

/// `POST /api/rooms/{slug}/messages/{id}/reactions` body: the `react` frame's field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReactRequest {
    /// The emoji to put on, or take off.
    pub emoji: String,
}

/// One page of the room list (the home page; `GET /api/rooms` answers the rooms alone and
/// puts the next page's address in a `Link` header).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomList {
    /// The rooms, most recently active first.
    pub rooms: Vec<RoomSummary>,
    /// Where the next page starts (`?cursor=`), if there are more.
    pub next_cursor: Option<String>,
}

/// `POST /api/rooms` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateRoomRequest {
    /// The wanted slug.
    pub slug: String,
    /// The wanted title.
    pub title: String,
    /// Visible to its members only: the creator and those invited.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub private: bool,
    /// The usernames (accounts) invited to a private room.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
}

/// `POST /api/dm` body (the room of the caller and this account), and `POST
/// /api/rooms/{slug}/members` body (invite this account to a private room).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsernameRequest {
    /// An account's username.
    pub username: String,
}

/// Most members a private room may be created with at once.
pub const MAX_INVITED: usize = 50;

/// `POST /api/signup` and `POST /api/login` body.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    /// The account name.
    pub username: String,
    /// The password (never logged: `Debug` hides it).
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// `PATCH /api/rooms/{slug}` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenameRoomRequest {
    /// The new title.
    pub title: String,
}

/// `POST /api/session/guest` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestRequest {
    /// The display name to use.
    pub name: String,
}

/// `POST /api/rooms/{slug}/messages` body: the same fields as the WebSocket `send` frame.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendRequest {
    /// The message text.
    pub text: String,
    /// Idempotency key, as in [`ClientFrame::Send`].
    #[serde(default)]
    pub client_id: Option<String>,
    /// The message it answers, as in [`ClientFrame::Send`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<i64>,
}

/// `PATCH /api/rooms/{slug}/messages/{id}` body: the new text, as in [`ClientFrame::Edit`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EditRequest {
    /// The new text.
    pub text: String,
}

/// One earlier text of an edited message (`GET /api/rooms/{slug}/messages/{id}/edits`,
/// for the room's owner).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EarlierText {
    /// The text before the edit.
    pub text: String,
    /// When the edit replaced it, RFC 3339.
    pub edited_at: String,
}

/// Who the current session belongs to (`GET /api/me`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Viewer {
    /// The user id (guests get one too, so their messages have a stable author).
    pub id: i64,
    /// The display name shown next to messages.
    pub name: String,
    /// True for a display-name-only guest identity.
    pub guest: bool,
    /// The account's username (what sign-up and log-in take); `null` for a guest.
    #[serde(default)]
    pub username: Option<String>,
}

/// Who is browsing and what a visitor may do: the header and the composer read it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// The session's identity (`None` = anonymous).
    pub viewer: Option<Viewer>,
    /// Whether visitors may chat under a display name without an account.
    pub guests_allowed: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_frame_decodes_with_and_without_client_id() {
        let with: ClientFrame =
            serde_json::from_str(r#"{"type":"send","text":"hi","client_id":"c1","extra":1}"#)
                .expect("valid frame");
        assert_eq!(
            with,
            ClientFrame::Send {
                text: "hi".into(),
                client_id: Some("c1".into()),
                reply_to: None
            }
        );
        let without: ClientFrame =
            serde_json::from_str(r#"{"type":"send","text":"hi"}"#).expect("valid frame");
        assert_eq!(
            without,
            ClientFrame::Send {
                text: "hi".into(),
                client_id: None,
                reply_to: None
            }
        );
    }

    #[test]
    fn text_pieces_find_mentions_and_keep_the_rest() {
        use TextPiece::*;
        assert_eq!(
            text_pieces("hi @Ann, mail a@b.c or @bo."),
            [
                Plain("hi "),
                Mention("Ann"),
                Plain(", mail a@b.c or "),
                Mention("bo"),
                Plain(".")
            ]
        );
        assert_eq!(text_pieces("@지민 안녕"), [Mention("지민"), Plain(" 안녕")]);
        assert_eq!(text_pieces("@ alone @"), [Plain("@ alone @")]);
        let joined: String = text_pieces("a @b c")
            .iter()
            .map(|p| match p {
                Plain(t) => t.to_string(),
                Mention(n) => format!("@{n}"),
            })
            .collect();
        assert_eq!(joined, "a @b c", "nothing is lost");
    }

    #[test]
    fn message_frame_has_the_documented_shape() {
        let frame = ServerFrame::Message(ChatMessage {
            id: 42,
            seq: 7,
            room: "lobby".into(),
            author_id: 3,
            author: "ann".into(),
            text: "hello".into(),
            client_id: Some("c1".into()),
            sent_at: "2026-11-28T10:00:00.000Z".into(),
            edited_at: None,
            deleted: false,
            reply_to: None,
            reactions: Vec::new(),
        });
        let value: serde_json::Value =
            serde_json::to_value(&frame).expect("frames always serialise");
        assert_eq!(value["type"], "message");
        assert_eq!(value["id"], 42);
        assert_eq!(value["room"], "lobby");
        assert_eq!(value["author"], "ann");
        assert_eq!(value["text"], "hello");
        assert_eq!(value["client_id"], "c1");
        assert_eq!(value["sent_at"], "2026-11-28T10:00:00.000Z");
        assert_eq!(value["seq"], 7);
        assert_eq!(value["author_id"], 3);
        assert!(value["edited_at"].is_null());
        assert!(value.get("deleted").is_none(), "only tombstones say so");
        assert!(value["reply_to"].is_null());
        let reply = serde_json::to_value(ReplyRef::quoting(41, "bo".into(), "earlier\nwords"))
            .expect("serialise");
        assert_eq!(
            reply,
            serde_json::json!({ "id": 41, "author": "bo", "excerpt": "earlier words" })
        );
        let gone = serde_json::to_value(ReplyRef::quoting(41, "bo".into(), "")).expect("serialise");
        assert_eq!(gone["deleted"], true);
    }

    #[test]
    fn room_event_frames_have_the_documented_shape() {
        let edited = serde_json::to_value(ServerFrame::MessageEdited {
            seq: 8,
            id: 42,
            text: "fixed".into(),
            edited_at: "2026-11-28T10:01:00.000Z".into(),
        })
        .expect("serialise");
        assert_eq!(edited["type"], "message_edited");
        assert_eq!(edited["seq"], 8);
        let deleted = serde_json::to_string(&ServerFrame::MessageDeleted { seq: 9, id: 42 })
            .expect("serialise");
        assert_eq!(deleted, r#"{"type":"message_deleted","seq":9,"id":42}"#);
        let edit: ClientFrame =
            serde_json::from_str(r#"{"type":"edit","id":42,"text":"x"}"#).expect("valid");
        assert_eq!(
            edit,
            ClientFrame::Edit {
                id: 42,
                text: "x".into()
            }
        );
    }

    #[test]
    fn error_frame_has_the_documented_shape() {
        let frame = ServerFrame::Error(ErrorBody::new(ErrorCode::BadJson, "not JSON"));
        let json = serde_json::to_string(&frame).expect("frames always serialise");
        assert_eq!(
            json,
            r#"{"type":"error","code":"bad_json","message":"not JSON"}"#
        );
    }

    #[test]
    fn error_codes_keep_their_wire_names_and_unknown_ones_decode() {
        for code in [
            ErrorCode::BadJson,
            ErrorCode::InvalidCredentials,
            ErrorCode::RateLimited,
            ErrorCode::Unavailable,
        ] {
            let json = serde_json::to_string(&code).expect("serialises");
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            let back: ErrorCode = serde_json::from_str(&json).expect("decodes");
            assert_eq!(back, code);
        }
        let newer: ErrorCode = serde_json::from_str("\"from_the_future\"").expect("decodes");
        assert_eq!(newer, ErrorCode::Unknown);
        assert_eq!(ErrorCode::Invalid.http_status(), 422);
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any text a socket receives decodes to a frame or to an error, never a panic.
        #[test]
        fn arbitrary_text_never_panics_the_decoder(raw in any::<String>()) {
            let _ = serde_json::from_str::<ClientFrame>(&raw);
        }

        /// Send frames with any text and id decode as sent, extra fields ignored.
        #[test]
        fn send_frames_round_trip(text in any::<String>(), id in proptest::option::of("[ -~]{0,80}")) {
            let mut value = serde_json::json!({ "type": "send", "text": text, "extra": [1, 2] });
            if let Some(id) = &id {
                value["client_id"] = serde_json::json!(id);
            }
            let decoded: ClientFrame = serde_json::from_value(value).expect("decodes");
            prop_assert_eq!(decoded, ClientFrame::Send { text, client_id: id, reply_to: None });
        }
    }
}
