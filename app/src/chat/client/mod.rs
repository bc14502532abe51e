//! The browser's connection to one room: a WebSocket that reconnects with backoff and resumes
//! from the last message it saw (`after`), plus an outbox that resends unacknowledged sends
//! with their `client_id` so a flaky network neither loses nor duplicates a message.

use super::state::{ConnState, RoomState};
use crate::protocol::{close_codes, codes, ServerFrame};
use futures::{channel::mpsc, FutureExt, SinkExt, StreamExt};
use gloo_net::websocket::{futures::WebSocket, Message, State, WebSocketError};
use leptos::prelude::*;
use std::time::Duration;

/// First retry delay after a connection drops; doubled per failure up to [`MAX_BACKOFF_MS`].
const FIRST_BACKOFF_MS: u32 = 250;
/// Longest wait between retries.
const MAX_BACKOFF_MS: u32 = 10_000;
/// Failed opens in a row after which the client asks whether the room still exists.
const OPENS_BEFORE_CHECKING_ROOM: u32 = 3;
/// Delay before resending a message the server could not take for a passing reason.
const RESEND_AFTER_MS: u32 = 2_000;

/// What the page asks of the connection task.
enum Command {
    /// Send this encoded frame now if connected (it is in the outbox either way).
    Send(String),
    /// Drop the socket and connect again at once (e.g. the session's identity changed).
    Reconnect,
}

/// The page's handle on its connection task. Dropping every clone stops the task.
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

/// How one socket's life ended.
enum Ended {
    /// The page stopped us.
    Stopped,
    /// The room was deleted: go back to the room list.
    RoomDeleted,
    /// The socket failed or closed; `was_open` resets the backoff.
    Dropped { was_open: bool },
}

async fn run(
    state: RoomState,
    mut commands: mpsc::UnboundedReceiver<Command>,
    resend: mpsc::UnboundedSender<Command>,
) {
    let mut backoff_ms = 0;
    let mut failed_opens = 0;
    loop {
        state.status.set(if backoff_ms == 0 {
            ConnState::Connecting
        } else {
            ConnState::Reconnecting
        });
        match session(state, &mut commands, &resend).await {
            Ended::Stopped => return,
            Ended::RoomDeleted => {
                state.status.set(ConnState::Closed);
                let _ = window().location().set_href("/?notice=room-deleted");
                return;
            }
            Ended::Dropped { was_open } => {
                if was_open {
                    failed_opens = 0;
                    backoff_ms = FIRST_BACKOFF_MS;
                } else {
                    failed_opens += 1;
                    backoff_ms = (backoff_ms * 2).clamp(FIRST_BACKOFF_MS, MAX_BACKOFF_MS);
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

/// Whether the server says the room does not exist (network errors say nothing).
async fn room_is_gone(state: &RoomState) -> bool {
    let url = format!("/api/rooms/{}", state.slug.get_value());
    matches!(
        gloo_net::http::Request::get(&url).send().await,
        Ok(response) if response.status() == 404
    )
}

/// One socket, from open to close.
async fn session(
    state: RoomState,
    commands: &mut mpsc::UnboundedReceiver<Command>,
    resend: &mpsc::UnboundedSender<Command>,
) -> Ended {
    let Some(url) = socket_url(&state) else {
        return Ended::Stopped;
    };
    let Ok(mut socket) = WebSocket::open(&url) else {
        return Ended::Dropped { was_open: false };
    };
    // `poll_ready` completes when the socket opens or fails.
    if futures::future::poll_fn(|cx| socket.poll_ready_unpin(cx))
        .await
        .is_err()
        || !matches!(socket.state(), State::Open)
    {
        return Ended::Dropped { was_open: false };
    }
    state.status.set(ConnState::Live);
    let (mut sink, mut stream) = socket.split();

    let unsent: Vec<String> = state.pending.with_untracked(|p| {
        p.iter()
            .filter(|s| s.failed.is_none())
            .map(|s| s.frame.clone())
            .collect()
    });
    for frame in unsent {
        if sink.send(Message::Text(frame)).await.is_err() {
            return Ended::Dropped { was_open: true };
        }
    }

    loop {
        futures::select! {
            incoming = stream.next().fuse() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    if let Some(ended) = apply_frame(&state, &text, resend) {
                        return ended;
                    }
                }
                Some(Ok(Message::Bytes(_))) => {}
                Some(Err(WebSocketError::ConnectionClose(event))) => {
                    if event.code == close_codes::ROOM_DELETED {
                        return Ended::RoomDeleted;
                    }
                    return Ended::Dropped { was_open: true };
                }
                // An `error` event is followed by `close`; wait for it.
                Some(Err(_)) => {}
                None => return Ended::Dropped { was_open: true },
            },
            command = commands.next() => match command {
                None => return Ended::Stopped,
                Some(Command::Reconnect) => return Ended::Dropped { was_open: false },
                Some(Command::Send(frame)) => {
                    if sink.send(Message::Text(frame)).await.is_err() {
                        return Ended::Dropped { was_open: true };
                    }
                }
            },
        }
    }
}

/// Applies one server frame to the page; returns how the session ends if the frame ends it.
fn apply_frame(
    state: &RoomState,
    text: &str,
    resend: &mpsc::UnboundedSender<Command>,
) -> Option<Ended> {
    // Frames this client does not know yet are skipped: the protocol grows by new types.
    let Ok(frame) = serde_json::from_str::<ServerFrame>(text) else {
        return None;
    };
    match frame {
        ServerFrame::Message(message) => state.receive(message),
        ServerFrame::Error(error) => match error.client_id {
            // A passing refusal (server busy, too fast): keep it in the outbox and try again.
            Some(client_id) if is_passing(&error.code) => {
                state.notice.set(Some(error.message));
                schedule_resend(state, client_id, resend.clone());
            }
            Some(client_id) => state.refuse(&client_id, error.message),
            None => state.notice.set(Some(error.message)),
        },
        ServerFrame::RoomDeleted { .. } => return Some(Ended::RoomDeleted),
        ServerFrame::RoomRenamed { title, .. } => state.title.set(title),
    }
    None
}

/// Errors that say "not now" rather than "never".
fn is_passing(code: &str) -> bool {
    matches!(
        code,
        codes::INTERNAL | codes::OVERLOADED | codes::RATE_LIMITED
    )
}

/// Resends an outbox entry (same `client_id`, so it is still stored once) after a pause.
fn schedule_resend(state: &RoomState, client_id: String, resend: mpsc::UnboundedSender<Command>) {
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

/// `ws(s)://<this host>/ws/rooms/<slug>?after=<last id>`.
fn socket_url(state: &RoomState) -> Option<String> {
    let location = window().location();
    let scheme = if location.protocol().ok()? == "https:" {
        "wss"
    } else {
        "ws"
    };
    let host = location.host().ok()?;
    let slug = state.slug.get_value();
    Some(format!(
        "{scheme}://{host}/ws/rooms/{slug}?after={}",
        state.last_id()
    ))
}

/// A fresh idempotency key for one send.
pub fn new_client_id() -> String {
    let now = js_sys::Date::now() as u64;
    let random = (js_sys::Math::random() * 2f64.powi(52)) as u64;
    format!("{now:x}-{random:x}")
}
