//! The browser's connection to one room, over whichever transport works.
//!
//! It prefers a WebSocket; when that cannot open (or keeps dropping within seconds) it falls
//! back to HTTP streaming (SSE), then to long polling. `?transport=ws|sse|longpoll|poll`
//! forces one. Every transport resumes from the last room event it applied (`since`, a seq:
//! messages, edits and deletions share it), and an outbox
//! resends unacknowledged sends with their `client_id` (over the socket, or by POST for the
//! HTTP transports), so a flaky network neither loses nor duplicates a message.

mod change;
mod poll;
mod post;
mod sse;
mod ws;

use super::state::{ConnState, RoomState, Transport};
use crate::protocol::{ChatMessage, ErrorBody, ServerFrame};
use futures::{channel::mpsc, FutureExt, StreamExt};
use leptos::prelude::*;
use std::time::Duration;

pub use change::{delete_message, edit_message, react_to_message};

/// First retry delay after a connection drops; doubled per failure up to [`MAX_BACKOFF_MS`].
const FIRST_BACKOFF_MS: u32 = 250;
/// Longest wait between retries.
const MAX_BACKOFF_MS: u32 = 10_000;
/// Failed opens in a row after which the client asks whether the room still exists.
const OPENS_BEFORE_CHECKING_ROOM: u32 = 3;
/// Delay before resending a message the server could not take for a passing reason.
const RESEND_AFTER_MS: u32 = 2_000;
/// A connection that lasted less than this did not really work.
const HEALTHY_AFTER_MS: f64 = 15_000.0;
/// Failed opens in a row before trying the next transport.
const OPEN_FAILURES_BEFORE_FALLBACK: u32 = 2;
/// Short-lived connections in a row before trying the next transport.
const DROPS_BEFORE_FALLBACK: u32 = 3;
/// How long a socket or a stream may take to open before the attempt counts as failed.
const OPEN_TIMEOUT_MS: f64 = 10_000.0;

/// What the page asks of the connection task.
pub(super) enum Command {
    /// Send this encoded frame now if possible (it is in the outbox either way).
    Send(String),
    /// Drop the connection and open it again at once (e.g. the session's identity changed).
    Reconnect,
}

/// The page's handle on its connection task.
#[derive(Clone)]
pub struct Connection {
    commands: mpsc::UnboundedSender<Command>,
}

impl Connection {
    /// Starts the connection task for `state`'s room.
    pub fn start(state: RoomState) -> Self {
        let (commands, rx) = mpsc::unbounded();
        leptos::task::spawn_local(run(state, rx, commands.clone()));
        Self { commands }
    }

    /// Sends an encoded frame that is already in the outbox.
    pub fn send(&self, frame: String) {
        // A closed channel means the task ended (room deleted); the outbox shows the message
        // as unsent, which is the truth.
        let _ = self.commands.unbounded_send(Command::Send(frame));
    }

    /// Sends an ephemeral frame (typing, read): over the socket, or by POST; dropped while
    /// offline (it would be stale by the time it arrived).
    pub fn signal(&self, frame: &crate::protocol::ClientFrame) {
        if let Ok(encoded) = serde_json::to_string(frame) {
            let _ = self.commands.unbounded_send(Command::Send(encoded));
        }
    }

    /// Reconnects so the server reads the session again.
    pub fn reconnect(&self) {
        let _ = self.commands.unbounded_send(Command::Reconnect);
    }

    /// Stops the task (the page is going away). Closes the channel for every sender, the
    /// task's own resend timers included.
    pub fn stop(&self) {
        self.commands.close_channel();
    }
}

/// How one connection's life ended.
pub(super) enum Ended {
    /// The page stopped us.
    Stopped,
    /// The room was deleted: go back to the room list.
    RoomDeleted,
    /// Open again at once (the identity changed).
    Restart,
    /// The connection failed or closed; `was_open` says whether it ever worked.
    Dropped { was_open: bool },
}

/// What a session needs besides the room's state.
pub(super) struct Link<'a> {
    pub state: RoomState,
    pub commands: &'a mut mpsc::UnboundedReceiver<Command>,
    /// For timers that resend outbox entries later.
    pub resend: mpsc::UnboundedSender<Command>,
}

async fn run(
    state: RoomState,
    mut commands: mpsc::UnboundedReceiver<Command>,
    resend: mpsc::UnboundedSender<Command>,
) {
    let forced = state.forced.get_value();
    let mut transport = forced.unwrap_or(Transport::WebSocket);
    let mut backoff_ms = 0;
    let mut failed_opens = 0;
    let mut short_lived = 0;
    loop {
        state.transport.set(transport);
        state.retry_at.set(None);
        state.status.set(if backoff_ms == 0 {
            ConnState::Connecting
        } else {
            ConnState::Reconnecting
        });
        let started = js_sys::Date::now();
        let link = Link {
            state,
            commands: &mut commands,
            resend: resend.clone(),
        };
        let ended = match transport {
            Transport::WebSocket => ws::session(link).await,
            Transport::Sse => sse::session(link).await,
            Transport::LongPoll => poll::session(link, poll::Mode::Long).await,
            Transport::Poll => poll::session(link, poll::Mode::Short).await,
        };
        match ended {
            Ended::Stopped => return,
            Ended::RoomDeleted => {
                state.status.set(ConnState::Closed);
                let _ = window().location().set_href("/?notice=room-deleted");
                return;
            }
            Ended::Restart => {
                backoff_ms = 0;
                continue;
            }
            Ended::Dropped { was_open } => {
                let healthy = was_open && js_sys::Date::now() - started >= HEALTHY_AFTER_MS;
                if was_open {
                    failed_opens = 0;
                } else {
                    failed_opens += 1;
                }
                short_lived = if healthy { 0 } else { short_lived + 1 };
                backoff_ms = if healthy {
                    FIRST_BACKOFF_MS
                } else {
                    (backoff_ms * 2).clamp(FIRST_BACKOFF_MS, MAX_BACKOFF_MS)
                };
                // This transport does not get through (a proxy that blocks or cuts it):
                // try the next one, at once.
                let give_up = failed_opens >= OPEN_FAILURES_BEFORE_FALLBACK
                    || short_lived >= DROPS_BEFORE_FALLBACK;
                if forced.is_none() && give_up && transport.fallback() != transport {
                    transport = transport.fallback();
                    short_lived = 0;
                    failed_opens = 0;
                    backoff_ms = 0;
                    continue;
                }
            }
        }
        // A handshake that keeps failing may mean the room is gone (deleted while we were
        // offline): ask, and stop instead of retrying forever.
        if failed_opens >= OPENS_BEFORE_CHECKING_ROOM && room_is_gone(&state).await {
            state.status.set(ConnState::Closed);
            state
                .notice
                .set(Some("This room no longer exists.".to_owned()));
            return;
        }
        state.status.set(ConnState::Reconnecting);
        // Jitter spreads a whole room's reconnects after a server restart.
        let delay = (f64::from(backoff_ms) * (0.5 + js_sys::Math::random())) as u64;
        state.retry_at.set(Some(js_sys::Date::now() + delay as f64));
        let mut sleep = gloo_timers::future::sleep(Duration::from_millis(delay)).fuse();
        loop {
            futures::select! {
                _ = sleep => break,
                command = commands.next() => match command {
                    None => return,
                    Some(Command::Reconnect) => break,
                    // Already in the outbox: it goes out as soon as we are connected.
                    Some(Command::Send(_)) => {}
                },
            }
        }
    }
}

/// Waits for a connection to open while still answering the page, so "Retry now" (or a new
/// identity) abandons a hanging attempt at once instead of after [`OPEN_TIMEOUT_MS`].
/// `Err` says how the session ends when it did not open.
pub(super) async fn open_or_command(
    open: impl std::future::Future<Output = bool>,
    commands: &mut mpsc::UnboundedReceiver<Command>,
) -> Result<(), Ended> {
    let open = open.fuse();
    futures::pin_mut!(open);
    loop {
        futures::select! {
            opened = open => {
                return if opened { Ok(()) } else { Err(Ended::Dropped { was_open: false }) };
            }
            command = commands.next() => match command {
                None => return Err(Ended::Stopped),
                Some(Command::Reconnect) => return Err(Ended::Restart),
                // Already in the outbox: it goes out once the connection is open.
                Some(Command::Send(_)) => {}
            },
        }
    }
}

/// Whether the server says the room does not exist (network errors say nothing).
async fn room_is_gone(state: &RoomState) -> bool {
    let url = format!("/api/rooms/{}", state.slug.get_value());
    matches!(
        gloo_net::http::Request::get(&url).send().await,
        Ok(response) if response.status() == 404
    )
}

/// The encoded frames still waiting in the outbox.
pub(super) fn unsent(state: &RoomState) -> Vec<String> {
    state.pending.with_untracked(|p| {
        p.iter()
            .filter(|s| s.failed.is_none())
            .map(|s| s.frame.clone())
            .collect()
    })
}

/// Counts one request (a handshake, a poll, a stream (re)connection).
pub(super) fn count_request(state: &RoomState) {
    state.stats.update(|s| s.requests += 1);
}

/// Counts bytes received.
pub(super) fn count_bytes(state: &RoomState, bytes: usize) {
    state.stats.update(|s| s.bytes += bytes as u64);
}

/// Adds a message to the page and, if it was new, counts its delivery and latency.
pub(super) fn deliver(state: &RoomState, message: ChatMessage) {
    let sent_at = js_sys::Date::parse(&message.sent_at);
    if state.receive(message) {
        let latency = (js_sys::Date::now() - sent_at).max(0.0);
        state.stats.update(|s| {
            s.deliveries += 1;
            if latency.is_finite() {
                s.latency_total_ms += latency;
                s.latency_max_ms = s.latency_max_ms.max(latency);
            }
        });
    }
}

/// Applies one server frame to the page; returns how the session ends if the frame ends it.
pub(super) fn apply_frame(
    state: &RoomState,
    text: &str,
    resend: &mpsc::UnboundedSender<Command>,
) -> Option<Ended> {
    // Frames this client does not know yet are skipped: the protocol grows by new types.
    let Ok(frame) = serde_json::from_str::<ServerFrame>(text) else {
        return None;
    };
    apply(state, frame, resend)
}

/// Applies one decoded server frame, from the transport itself (so in the room's order).
pub(super) fn apply(
    state: &RoomState,
    frame: ServerFrame,
    resend: &mpsc::UnboundedSender<Command>,
) -> Option<Ended> {
    match frame {
        // Room events arrive in the server's order: the cursor may follow them.
        ServerFrame::Message(message) => {
            state.advance_cursor(message.seq);
            deliver(state, message);
        }
        ServerFrame::MessageEdited { .. }
        | ServerFrame::MessageDeleted { .. }
        | ServerFrame::Reaction { .. } => {
            if let Some(seq) = apply_change(state, frame) {
                state.advance_cursor(seq);
            }
        }
        ServerFrame::Error(error) => apply_error(state, error, resend),
        ServerFrame::RoomDeleted { .. } => return Some(Ended::RoomDeleted),
        ServerFrame::RoomRenamed { title, .. } => state.title.set(title),
        other => apply_ephemeral(state, other),
    }
    None
}

/// An edit, a deletion or a reaction, from the room or from the answer to our own request;
/// its seq.
pub(super) fn apply_change(state: &RoomState, frame: ServerFrame) -> Option<i64> {
    match frame {
        ServerFrame::MessageEdited {
            seq,
            id,
            text,
            edited_at,
        } => {
            state.apply_edit(id, text, edited_at);
            Some(seq)
        }
        ServerFrame::MessageDeleted { seq, id } => {
            state.apply_delete(id);
            Some(seq)
        }
        ServerFrame::Reaction {
            seq,
            id,
            emoji,
            user,
            on,
        } => {
            state.apply_reaction(id, &emoji, &user, on);
            Some(seq)
        }
        _ => None,
    }
}

/// Presence, typing and read frames: the same on every transport.
pub(super) fn apply_ephemeral(state: &RoomState, frame: ServerFrame) {
    match frame {
        ServerFrame::Presence { members, count } => state.set_members(members, count),
        ServerFrame::PresenceDiff {
            joins,
            leaves,
            count,
        } => state.change_members(joins, leaves, count),
        ServerFrame::Typing { user } => state.someone_typing(
            user,
            js_sys::Date::now() + f64::from(crate::protocol::TYPING_SHOWN_MS),
        ),
        ServerFrame::Read { room, up_to } if room == state.slug.get_value() => {
            state
                .read_sent
                .update_value(|sent| *sent = (*sent).max(up_to));
        }
        _ => {}
    }
}

/// A refusal from the server, as an error frame or an HTTP error body.
pub(super) fn apply_error(
    state: &RoomState,
    error: ErrorBody,
    resend: &mpsc::UnboundedSender<Command>,
) {
    match error.client_id {
        // A passing refusal (server busy, too fast): keep it in the outbox and try again.
        Some(client_id) if error.code.is_passing() => {
            state.notice.set(Some(error.message));
            schedule_resend(state, client_id, resend.clone());
        }
        Some(client_id) => state.refuse(&client_id, error.message),
        None => state.notice.set(Some(error.message)),
    }
}

/// Resends an outbox entry (same `client_id`, so it is still stored once) after a pause.
pub(super) fn schedule_resend(
    state: &RoomState,
    client_id: String,
    resend: mpsc::UnboundedSender<Command>,
) {
    let pending = state.pending;
    leptos::task::spawn_local(async move {
        gloo_timers::future::TimeoutFuture::new(RESEND_AFTER_MS).await;
        let frame = pending.with_untracked(|p| {
            p.iter()
                .find(|s| s.client_id == client_id && s.failed.is_none())
                .map(|s| s.frame.clone())
        });
        if let Some(frame) = frame {
            let _ = resend.unbounded_send(Command::Send(frame));
        }
    });
}

/// The room's API path, e.g. `/api/rooms/lobby`.
pub(super) fn room_api(state: &RoomState) -> String {
    format!("/api/rooms/{}", state.slug.get_value())
}

/// A fresh idempotency key for one send.
pub fn new_client_id() -> String {
    let now = js_sys::Date::now() as u64;
    let random = (js_sys::Math::random() * 2f64.powi(52)) as u64;
    format!("{now:x}-{random:x}")
}
