//! The lobby feed's two transports: `GET /ws/lobby` (WebSocket) and `GET /api/lobby/events`
//! (Server-Sent Events, for networks that block WebSockets). Both carry the same frames —
//! `room` and `room_gone` — for the session's viewer (see `chat::lobby`). The WebSocket takes
//! no client frames; anything the client sends only proves it is alive.

use crate::http::gate::Pass;
use crate::{
    chat::{FeedEvent, LobbyFeed},
    http::{
        admission::OriginRule,
        error::ApiError,
        extract::{ClientIp, MaybeIdentity, Peer},
        state::AppState,
    },
};
use app::protocol::close_codes;
use axum::{
    extract::{
        ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade},
        State,
    },
    http::HeaderMap,
    response::{sse::Event, Response},
};
use futures::{stream, SinkExt, StreamExt};
use std::{convert::Infallible, time::Duration};

/// A client that does not take a frame for this long is gone.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Heartbeats without a word (or a pong) from the client after which it is gone.
const SILENT_PINGS: u32 = 2;
/// The lobby's client frames are tiny (nothing but pongs is expected).
const MAX_CLIENT_FRAME: usize = 4 * 1024;

/// `GET /ws/lobby`.
pub async fn websocket(
    upgrade: WebSocketUpgrade,
    State(state): State<AppState>,
    headers: HeaderMap,
    peer: Peer,
    MaybeIdentity(viewer): MaybeIdentity,
) -> Result<Response, ApiError> {
    let slot = state
        .admission
        .admit_stream(&headers, peer.ip, OriginRule::Required)?;
    let feed = state.chat.lobby(viewer.as_ref()).await?;
    let slots = (slot, peer.slot);
    Ok(upgrade
        .read_buffer_size(1024)
        .max_message_size(MAX_CLIENT_FRAME)
        .max_frame_size(MAX_CLIENT_FRAME)
        .on_upgrade(move |socket| async move {
            let _slots = slots;
            let _open = crate::telemetry::OpenConnection::new("ws-lobby");
            Box::pin(run(socket, feed)).await;
        }))
}

async fn run(socket: WebSocket, mut feed: LobbyFeed) {
    let (mut sink, mut stream) = socket.split();
    let mut silent = 0u32;
    loop {
        tokio::select! {
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => silent = 0,
            },
            event = feed.next() => {
                let message = match event {
                    Ok(FeedEvent::Frame { frame, .. }) => match Utf8Bytes::try_from(frame.into_bytes()) {
                        Ok(text) => Message::Text(text),
                        Err(_) => continue,
                    },
                    Ok(FeedEvent::Heartbeat) => {
                        silent += 1;
                        if silent > SILENT_PINGS {
                            return;
                        }
                        Message::Ping(Default::default())
                    }
                    Ok(FeedEvent::Close { frame, .. }) => {
                        if let Ok(text) = Utf8Bytes::try_from(frame.into_bytes()) {
                            let _ = sink.feed(Message::Text(text)).await;
                        }
                        close(&mut sink, close_codes::SESSION_ENDED, "session ended").await;
                        return;
                    }
                    Ok(FeedEvent::ShuttingDown) => {
                        close(&mut sink, close_codes::GOING_AWAY, "server shutting down").await;
                        return;
                    }
                    Ok(FeedEvent::Overflowed) => {
                        close(&mut sink, close_codes::OVERLOADED, "too far behind").await;
                        return;
                    }
                    Err(error) => {
                        tracing::error!(%error, "lobby feed failed");
                        close(&mut sink, close_codes::INTERNAL, "internal error").await;
                        return;
                    }
                };
                match tokio::time::timeout(WRITE_TIMEOUT, sink.send(message)).await {
                    Ok(Ok(())) => {}
                    _ => return,
                }
            }
        }
    }
}

async fn close(
    sink: &mut futures::stream::SplitSink<WebSocket, Message>,
    code: u16,
    reason: &'static str,
) {
    let frame = Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    }));
    let _ = tokio::time::timeout(WRITE_TIMEOUT, sink.send(frame)).await;
}

/// `GET /api/lobby/events`: the same frames as SSE events named by their type.
pub async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientIp(client): ClientIp,
    MaybeIdentity(viewer): MaybeIdentity,
) -> Result<Response, ApiError> {
    let slot = state
        .admission
        .admit_stream(&headers, client, OriginRule::RefuseForeign)?;
    let feed = state.chat.lobby(viewer.as_ref()).await?;
    Ok(super::sse::respond(stream_of(feed, slot)))
}

fn stream_of(
    feed: LobbyFeed,
    slot: Pass,
) -> impl futures::Stream<Item = Result<Event, Infallible>> {
    let first = Event::default()
        .retry(Duration::from_millis(1000))
        .comment("connected");
    let open = crate::telemetry::OpenConnection::new("sse-lobby");
    stream::once(async move { Ok::<_, Infallible>(first) }).chain(stream::unfold(
        (feed, (slot, open), false),
        |(mut feed, held, done)| async move {
            if done {
                return None;
            }
            loop {
                match feed.next().await {
                    Ok(FeedEvent::Frame { frame, .. }) => {
                        return Some((
                            Ok(super::sse::to_event(None, frame.as_str())),
                            (feed, held, false),
                        ))
                    }
                    Ok(FeedEvent::Close { frame, .. }) => {
                        return Some((
                            Ok(super::sse::to_event(None, frame.as_str())),
                            (feed, held, true),
                        ))
                    }
                    Ok(FeedEvent::Heartbeat) => continue,
                    Ok(FeedEvent::Overflowed | FeedEvent::ShuttingDown) => return None,
                    Err(error) => {
                        tracing::error!(%error, "lobby stream failed");
                        return None;
                    }
                }
            }
        },
    ))
}
