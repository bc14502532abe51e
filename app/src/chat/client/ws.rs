//! The WebSocket session: `ws(s)://host/ws/rooms/{slug}?since={last seq}`, both directions.

use super::{
    apply_frame, count_bytes, count_request, open_or_command, unsent, Command, Ended, Link,
    OPEN_TIMEOUT_MS,
};
use crate::{chat::state::ConnState, protocol::close_codes};
use futures::{FutureExt, SinkExt, StreamExt};
use gloo_net::websocket::{futures::WebSocket, Message, State, WebSocketError};
use leptos::prelude::*;

/// One socket, from open to close.
pub(super) async fn session(link: Link<'_>) -> Ended {
    let Link {
        state,
        commands,
        resend,
    } = link;
    let Some(url) = socket_url(&state) else {
        return Ended::Stopped;
    };
    count_request(&state);
    let Ok(mut socket) = WebSocket::open(&url) else {
        return Ended::Dropped { was_open: false };
    };
    if let Err(ended) = open_or_command(opened(&mut socket), commands).await {
        return ended;
    }
    state.status.set(ConnState::Live);
    let (mut sink, mut stream) = socket.split();
    for frame in unsent(&state) {
        if sink.send(Message::Text(frame)).await.is_err() {
            return Ended::Dropped { was_open: true };
        }
    }
    loop {
        futures::select! {
            incoming = stream.next().fuse() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    // Payload plus the frame header (2 bytes, 4 past 125 bytes).
                    count_bytes(&state, text.len() + if text.len() > 125 { 4 } else { 2 });
                    if let Some(ended) = apply_frame(&state, &text, &resend) {
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
                Some(Command::Reconnect) => return Ended::Restart,
                Some(Command::Send(frame)) => {
                    if sink.send(Message::Text(frame)).await.is_err() {
                        return Ended::Dropped { was_open: true };
                    }
                }
            },
        }
    }
}

/// Waits until the socket is open (true) or failed (false). `poll_ready` wakes on `open` and
/// `error`, but a connection refused with only a `close` event (some proxies) wakes nothing,
/// so the state is also checked every 100 ms.
async fn opened(socket: &mut WebSocket) -> bool {
    let deadline = js_sys::Date::now() + OPEN_TIMEOUT_MS;
    loop {
        match socket.state() {
            State::Open => return true,
            State::Closing | State::Closed => return false,
            State::Connecting if js_sys::Date::now() > deadline => return false,
            State::Connecting => {}
        }
        let ready =
            futures::future::poll_fn(|cx| SinkExt::<Message>::poll_ready_unpin(socket, cx)).fuse();
        let tick = gloo_timers::future::sleep(std::time::Duration::from_millis(100)).fuse();
        futures::pin_mut!(ready, tick);
        futures::select! {
            _ = ready => {}
            _ = tick => {}
        }
    }
}

/// `ws(s)://<this host>/ws/rooms/<slug>?since=<last seq>`.
fn socket_url(state: &crate::chat::RoomState) -> Option<String> {
    let location = window().location();
    let scheme = if location.protocol().ok()? == "https:" {
        "wss"
    } else {
        "ws"
    };
    let host = location.host().ok()?;
    let slug = state.slug.get_value();
    Some(format!(
        "{scheme}://{host}/ws/rooms/{slug}?since={}",
        state.last_seq()
    ))
}
