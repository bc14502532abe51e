//! The WebSocket transport: `GET /ws/rooms/{slug}?after={id}`.
//!
//! The handshake checks the Origin, resolves the room (unknown → 404, before any upgrade)
//! and the session's identity, and joins the room's group. After the upgrade the consumer
//! runs two halves side by side:
//! - the reader parses client frames and hands sends to the chat service; every problem is
//!   answered with an error frame and the socket stays open (except an oversize frame,
//!   after which the stream cannot be trusted: it is answered, then closed with 1009);
//! - the writer forwards the room feed, writing every frame that is ready before one flush.
//!
//! The reader keeps reading until the stream ends, so tungstenite can answer the client's
//! Close frame and the client sees a clean close.

use crate::{
    auth::{self, Identity},
    chat::{encode, ChatError, ChatService, FeedEvent, Room, RoomFeed},
    error::ApiError,
    origin::OriginCheck,
    state::AppState,
};
use app::protocol::{close_codes, codes, ClientFrame, ErrorBody, ServerFrame};
use axum::{
    extract::{
        ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade},
        Path, Query, State,
    },
    http::HeaderMap,
    response::Response,
};
use futures::{
    stream::{SplitSink, SplitStream},
    SinkExt, StreamExt,
};
use governor::DefaultDirectRateLimiter;
use serde::Deserialize;
use std::time::Duration;
use tokio::sync::{mpsc, OwnedSemaphorePermit};

/// Largest message a client may send. A 4,000-character message is at most ~16 KiB of UTF-8
/// plus JSON escaping; 64 KiB leaves room without letting a client make us buffer megabytes.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// Largest single frame read. A frame between the two limits is read to its end and then
/// refused with a `too_large` error frame and close code 1009; a frame over this one is cut
/// off at its header (the client may see a reset instead of the explanation).
const MAX_FRAME_BYTES: usize = 1024 * 1024;
/// tungstenite reserves this much per connection for reading (its default of 128 KiB made
/// an idle socket cost ~130 KiB; see TOOLCHAIN.md).
const READ_BUFFER_BYTES: usize = 4 * 1024;
/// How often the server pings; a client silent for [`IDLE_TIMEOUT`] is dropped. Browsers
/// answer pings by themselves.
const PING_EVERY: Duration = Duration::from_secs(30);
const IDLE_TIMEOUT: Duration = Duration::from_secs(75);
/// Frames written before one flush at most (then flush, so one busy room cannot starve the
/// socket's other work).
const MAX_FRAMES_PER_FLUSH: usize = 128;
/// How long to wait for the client's Close reply after we closed.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// A client that does not take our frames for this long (its TCP window stays shut) is
/// disconnected: a stuck write would otherwise hold the connection forever.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// The query string of the handshake.
#[derive(Debug, Deserialize)]
pub struct ConnectQuery {
    /// Resume after this message id (catch-up from the store); absent = live only.
    after: Option<i64>,
}

/// The handshake.
pub async fn handler(
    upgrade: WebSocketUpgrade,
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Query(query): Query<ConnectQuery>,
    headers: HeaderMap,
    auth::MaybeIdentity(identity): auth::MaybeIdentity,
) -> Result<Response, ApiError> {
    // Browsers always send Origin on a WebSocket handshake; one without it, or from another
    // site, is refused before anything else (cross-site WebSocket hijacking).
    if state.origins.check(&headers) != OriginCheck::Allowed {
        return Err(ApiError::BadOrigin);
    }
    let room = state.chat.room(&slug).await?;
    let Ok(permit) = state.connections.clone().try_acquire_owned() else {
        return Err(ApiError::Overloaded);
    };
    // Join before the upgrade: anything stored from now on reaches this connection.
    let feed = state.chat.follow(&room, query.after).await?;
    let consumer = Consumer {
        chat: state.chat.clone(),
        room,
        identity,
        limiter: state.limits.connection_messages(),
        shutdown: state.shutdown.clone(),
        _permit: permit,
    };
    Ok(upgrade
        .read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| consumer.run(socket, feed)))
}

/// One connection's consumer.
struct Consumer {
    chat: ChatService,
    room: Room,
    /// Who is connected (`None` = anonymous, may read but not send).
    identity: Option<Identity>,
    /// This connection's message rate limit (`None`: unlimited).
    limiter: Option<DefaultDirectRateLimiter>,
    shutdown: tokio::sync::watch::Receiver<bool>,
    /// Held for the connection's life.
    _permit: OwnedSemaphorePermit,
}

/// What the reader asks the writer to send.
enum Reply {
    /// A frame for this client only (error, or the echo of a duplicate send).
    Frame(Utf8Bytes),
    /// A last frame, then close with this code and reason.
    Close(Utf8Bytes, u16, &'static str),
}

impl Consumer {
    async fn run(self, socket: WebSocket, feed: RoomFeed) {
        let (sink, stream) = socket.split();
        let (replies, reply_queue) = mpsc::channel(16);
        let sender = Sender {
            chat: self.chat.clone(),
            room: self.room.clone(),
            identity: self.identity.clone(),
            limiter: self.limiter,
            strikes: 0,
            strikes_since: tokio::time::Instant::now(),
        };
        let reader = read_loop(stream, sender, replies);
        let writer = write_loop(sink, feed, reply_queue, self.shutdown.clone());
        tokio::pin!(reader);
        tokio::pin!(writer);
        tokio::select! {
            () = &mut reader => {
                // The client left (or must be closed): the writer sends what the reader
                // queued last (an error frame, a Close) and stops when the queue ends.
                let _ = tokio::time::timeout(CLOSE_GRACE, writer).await;
            }
            () = &mut writer => {
                // We closed: keep reading briefly so the client's Close reply is consumed.
                let _ = tokio::time::timeout(CLOSE_GRACE, reader).await;
            }
        }
    }
}

/// The reader's side of a connection: who sends, where, and how fast they may.
struct Sender {
    chat: ChatService,
    room: Room,
    identity: Option<Identity>,
    limiter: Option<DefaultDirectRateLimiter>,
    /// Frames refused for going too fast in the current window.
    strikes: u32,
    /// When the current strike window began.
    strikes_since: tokio::time::Instant,
}

async fn read_loop(
    mut stream: SplitStream<WebSocket>,
    mut sender: Sender,
    replies: mpsc::Sender<Reply>,
) {
    loop {
        let next = match tokio::time::timeout(IDLE_TIMEOUT, stream.next()).await {
            Ok(Some(next)) => next,
            Ok(None) => return,
            Err(_) => {
                tracing::debug!("closing a silent WebSocket");
                return;
            }
        };
        let reply = match next {
            Ok(Message::Text(text)) => match sender.handle_text(text.as_str()).await {
                Handled::Reply(frame) => Some(frame),
                Handled::Quiet => None,
                Handled::Close(frame, code, reason) => {
                    let _ = replies.send(Reply::Close(frame, code, reason)).await;
                    return;
                }
            },
            Ok(Message::Binary(_)) => match sender.charge(None) {
                Handled::Close(frame, code, reason) => {
                    let _ = replies.send(Reply::Close(frame, code, reason)).await;
                    return;
                }
                Handled::Reply(frame) => Some(frame),
                Handled::Quiet => Some(error_frame(
                    codes::BAD_FRAME,
                    "Binary frames are not supported; send JSON text frames.",
                    None,
                )),
            },
            // Pings are answered by tungstenite; Close is answered while we keep reading.
            Ok(Message::Ping(_) | Message::Pong(_) | Message::Close(_)) => None,
            Err(error) => {
                if is_too_large(&error) {
                    let frame = error_frame(
                        codes::TOO_LARGE,
                        &format!("Messages are limited to {} KiB.", MAX_MESSAGE_BYTES / 1024),
                        None,
                    );
                    let _ = replies
                        .send(Reply::Close(
                            frame,
                            close_codes::TOO_LARGE,
                            "message too large",
                        ))
                        .await;
                } else {
                    tracing::debug!(%error, "WebSocket read failed");
                }
                return;
            }
        };
        if let Some(frame) = reply {
            if replies.send(Reply::Frame(frame)).await.is_err() {
                return;
            }
        }
    }
}

/// What to do after a client frame.
enum Handled {
    /// Answer this client with a frame.
    Reply(Utf8Bytes),
    /// Nothing to say (the message reaches everyone through the room).
    Quiet,
    /// Answer, then close with this code and reason.
    Close(Utf8Bytes, u16, &'static str),
}

/// Frames refused for going too fast within [`STRIKE_WINDOW`] after which the connection is
/// closed: a client that ignores `rate_limited` is abusive, not unlucky.
const MAX_STRIKES: u32 = 20;
const STRIKE_WINDOW: Duration = Duration::from_secs(10);

impl Sender {
    /// Charges one client frame to the rate limit: `Quiet` when it may proceed, otherwise
    /// the refusal (and, for a client that keeps pushing, the close).
    fn charge(&mut self, client_id: Option<String>) -> Handled {
        let Some(wait) = self
            .limiter
            .as_ref()
            .and_then(|limiter| crate::limits::wait_time(limiter.check()))
        else {
            return Handled::Quiet;
        };
        if self.strikes_since.elapsed() > STRIKE_WINDOW {
            self.strikes = 0;
            self.strikes_since = tokio::time::Instant::now();
        }
        self.strikes += 1;
        let refusal = error_frame(
            codes::RATE_LIMITED,
            &format!(
                "You are sending too fast; wait {:.1} s.",
                wait.as_secs_f64().max(0.1)
            ),
            client_id,
        );
        if self.strikes >= MAX_STRIKES {
            Handled::Close(refusal, close_codes::POLICY, "too many messages")
        } else {
            Handled::Reply(refusal)
        }
    }

    /// Handles one text frame. Every frame counts against the rate limit, malformed ones
    /// included: each is answered, so each costs us something.
    async fn handle_text(&mut self, text: &str) -> Handled {
        let parsed = serde_json::from_str::<ClientFrame>(text);
        let client_id = match &parsed {
            Ok(ClientFrame::Send { client_id, .. }) => client_id.clone(),
            Err(_) => None,
        };
        match self.charge(client_id) {
            Handled::Quiet => {}
            refused => return refused,
        }
        let frame = match parsed {
            Ok(frame) => frame,
            Err(error) => return Handled::Reply(describe_bad_frame(text, &error)),
        };
        match frame {
            ClientFrame::Send { text, client_id } => {
                let Some(author) = &self.identity else {
                    return Handled::Reply(error_frame(
                        codes::LOGIN_REQUIRED,
                        "Log in to post in this room.",
                        client_id,
                    ));
                };
                match self
                    .chat
                    .send(author, &self.room, &text, client_id.as_deref())
                    .await
                {
                    // Delivered to the whole group (this client included) by the layer.
                    Ok(sent) if !sent.duplicate => Handled::Quiet,
                    // A retry of something already stored: only the sender needs the answer.
                    Ok(sent) => Handled::Reply(encode(&ServerFrame::Message(sent.message))),
                    Err(error) => Handled::Reply(chat_error_frame(&error, client_id)),
                }
            }
        }
    }
}

/// Says precisely what is wrong with a frame that did not decode.
fn describe_bad_frame(text: &str, error: &serde_json::Error) -> Utf8Bytes {
    #[derive(Deserialize)]
    struct Probe {
        #[serde(rename = "type")]
        kind: Option<serde_json::Value>,
    }
    match serde_json::from_str::<Probe>(text) {
        Err(_) if serde_json::from_str::<serde_json::Value>(text).is_err() => {
            error_frame(codes::BAD_JSON, "The frame is not valid JSON.", None)
        }
        Err(_) => error_frame(codes::BAD_FRAME, "A frame must be a JSON object.", None),
        Ok(Probe { kind: None }) => {
            error_frame(codes::BAD_FRAME, "The frame has no \"type\" field.", None)
        }
        Ok(Probe {
            kind: Some(serde_json::Value::String(kind)),
        }) if kind == "send" => error_frame(
            codes::BAD_FRAME,
            &format!("Bad \"send\" frame: {error}."),
            None,
        ),
        Ok(Probe { kind: Some(kind) }) => error_frame(
            codes::UNKNOWN_TYPE,
            &format!("Unknown frame type {kind}; the server understands \"send\"."),
            None,
        ),
    }
}

fn chat_error_frame(error: &ChatError, client_id: Option<String>) -> Utf8Bytes {
    if error.is_internal() {
        tracing::error!(%error, "send over WebSocket failed");
    }
    error_frame(error.code(), &error.public_message(), client_id)
}

fn error_frame(code: &str, message: &str, client_id: Option<String>) -> Utf8Bytes {
    encode(&ServerFrame::Error(ErrorBody {
        code: code.to_owned(),
        message: message.to_owned(),
        client_id,
    }))
}

fn is_too_large(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if let Some(tungstenite::Error::Capacity(_)) = current.downcast_ref::<tungstenite::Error>()
        {
            return true;
        }
        source = current.source();
    }
    false
}

async fn write_loop(
    mut sink: SplitSink<WebSocket, Message>,
    mut feed: RoomFeed,
    mut replies: mpsc::Receiver<Reply>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.reset();
    loop {
        let step = tokio::select! {
            biased;
            _ = shutdown.wait_for(|stopping| *stopping) => {
                Step::Close(None, close_codes::GOING_AWAY, "server shutting down")
            }
            reply = replies.recv() => match reply {
                Some(Reply::Frame(frame)) => Step::Write(Message::Text(frame)),
                Some(Reply::Close(frame, code, reason)) => Step::Close(Some(frame), code, reason),
                // The reader ended: the client is gone.
                None => return,
            },
            event = feed.next() => step_for(event),
            _ = ping.tick() => Step::Write(Message::Ping(Default::default())),
        };
        match step {
            Step::Write(message) => {
                if !within_time(sink.feed(message)).await {
                    return;
                }
                // Write whatever else is ready, then flush once.
                let mut written = 1;
                while written < MAX_FRAMES_PER_FLUSH {
                    let Some(event) = feed.try_next_ready() else {
                        break;
                    };
                    match step_for(Ok(event)) {
                        Step::Write(message) => {
                            if !within_time(sink.feed(message)).await {
                                return;
                            }
                            written += 1;
                        }
                        close @ Step::Close(..) => {
                            close_with(&mut sink, close).await;
                            return;
                        }
                    }
                }
                if !within_time(sink.flush()).await {
                    return;
                }
            }
            close @ Step::Close(..) => {
                close_with(&mut sink, close).await;
                return;
            }
        }
    }
}

/// Whether a write finished, successfully, within [`WRITE_TIMEOUT`].
async fn within_time(write: impl std::future::Future<Output = Result<(), axum::Error>>) -> bool {
    matches!(tokio::time::timeout(WRITE_TIMEOUT, write).await, Ok(Ok(())))
}

/// What the writer does next.
enum Step {
    /// Queue this message.
    Write(Message),
    /// Send the frame (if any), then close with code and reason.
    Close(Option<Utf8Bytes>, u16, &'static str),
}

fn step_for(event: Result<FeedEvent, ChatError>) -> Step {
    match event {
        Ok(FeedEvent::Frame { frame, .. }) => Step::Write(Message::Text(frame)),
        Ok(FeedEvent::Close { frame, code }) => Step::Close(Some(frame), code, "room deleted"),
        Ok(FeedEvent::Overflowed) => Step::Close(
            Some(error_frame(
                codes::OVERLOADED,
                "You fell too far behind; reconnect with ?after=<last id> to catch up.",
                None,
            )),
            close_codes::OVERLOADED,
            "too far behind",
        ),
        Err(error) => {
            tracing::error!(%error, "room feed failed");
            Step::Close(None, 1011, "internal error")
        }
    }
}

async fn close_with(sink: &mut SplitSink<WebSocket, Message>, step: Step) {
    let Step::Close(frame, code, reason) = step else {
        return;
    };
    if let Some(frame) = frame {
        if !within_time(sink.feed(Message::Text(frame))).await {
            return;
        }
    }
    within_time(sink.send(Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    }))))
    .await;
}
