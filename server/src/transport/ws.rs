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
    api::ApiQuery,
    auth::{self, Identity},
    chat::{encode, ChatError, ChatService, FeedEvent, Pending, Room, RoomFeed, Sent},
    error::ApiError,
    layer::{ChannelLayer, ChannelName, Delivery},
    origin::OriginCheck,
    state::AppState,
};
use app::protocol::{close_codes, codes, ClientFrame, ErrorBody, ServerFrame};
use axum::{
    extract::{
        ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade},
        Path, State,
    },
    http::HeaderMap,
    response::Response,
};
use futures::{
    stream::{FuturesOrdered, SplitSink, SplitStream},
    SinkExt, StreamExt,
};
use governor::DefaultDirectRateLimiter;
use serde::Deserialize;
use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};
use tokio::sync::OwnedSemaphorePermit;

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
/// How often the server pings. Browsers answer pings by themselves; a client that has sent
/// nothing at all (not even a pong) for [`SILENT_PINGS`] pings in a row is gone.
const PING_EVERY: Duration = Duration::from_secs(30);
const SILENT_PINGS: u32 = 2;
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
    ApiQuery(query): ApiQuery<ConnectQuery>,
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
    /// Held for the connection's life.
    _permit: OwnedSemaphorePermit,
}

/// How the reader answers its own client: through the connection's mailbox, so the writer
/// waits on one queue only (and an idle connection keeps no second one).
struct Replies {
    layer: Arc<dyn ChannelLayer>,
    channel: ChannelName,
}

impl Replies {
    /// Queues a frame for this client; false if the connection is gone.
    async fn frame(&self, frame: Utf8Bytes) -> bool {
        self.layer
            .send(&self.channel, Delivery::Frame(frame))
            .await
            .is_ok()
    }

    /// Queues a last frame, then a close with `code`.
    async fn close(&self, frame: Utf8Bytes, code: u16) {
        let _ = self
            .layer
            .send(&self.channel, Delivery::Close { frame, code })
            .await;
    }
}

/// How the reader stopped.
enum ReaderEnd {
    /// The client went away (or broke the protocol): nothing left to send.
    Gone,
    /// The reader queued a last frame and a close: let the writer send them.
    Closing,
}

impl Consumer {
    async fn run(self, socket: WebSocket, feed: RoomFeed) {
        let (sink, stream) = socket.split();
        let replies = Replies {
            layer: self.chat.layer().clone(),
            channel: feed.channel_name().clone(),
        };
        let sender = Sender {
            chat: self.chat.clone(),
            room: self.room.clone(),
            identity: self.identity.clone(),
            limiter: self.limiter,
            strikes: 0,
            strikes_since: tokio::time::Instant::now(),
        };
        // The reader counts what it hears; the writer, at each ping, checks that the count
        // moved (a timer per read would cost every wake-up of a busy connection).
        let heard = Arc::new(AtomicU64::new(0));
        let reader = read_loop(stream, sender, replies, heard.clone());
        let writer = write_loop(sink, feed, heard);
        tokio::pin!(reader);
        tokio::pin!(writer);
        tokio::select! {
            end = &mut reader => {
                // The reader queued a last frame and a close (frame too large, too many
                // messages): the writer sends them. Otherwise the client is gone.
                if let ReaderEnd::Closing = end {
                    let _ = tokio::time::timeout(CLOSE_GRACE, writer).await;
                }
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

/// Sends a connection may have waiting for their commit at once; past this the reader
/// stops reading (the client's TCP window fills: back-pressure).
const MAX_IN_FLIGHT: usize = 64;

/// The outcome of a submitted send, with the client_id to answer errors with.
type InFlight = futures::future::BoxFuture<'static, (Result<Sent, ChatError>, Option<String>)>;

async fn read_loop(
    mut stream: SplitStream<WebSocket>,
    mut sender: Sender,
    replies: Replies,
    heard: Arc<AtomicU64>,
) -> ReaderEnd {
    // Sends are pipelined: the next frame is read while earlier messages are committed
    // (in order; the store writes a connection's messages in submission order), so a
    // client is never held to one message per commit.
    let mut in_flight: FuturesOrdered<InFlight> = FuturesOrdered::new();
    loop {
        let reply = tokio::select! {
            biased;
            Some((outcome, client_id)) = in_flight.next(), if !in_flight.is_empty() => {
                match outcome {
                    // Delivered to the whole group (this client included) by the layer.
                    Ok(sent) if !sent.duplicate => None,
                    // A retry of something already stored: only the sender needs the answer.
                    Ok(sent) => Some(encode(&ServerFrame::Message(sent.message))),
                    Err(error) => Some(chat_error_frame(&error, client_id)),
                }
            }
            next = stream.next(), if in_flight.len() < MAX_IN_FLIGHT => {
                let Some(next) = next else {
                    return ReaderEnd::Gone;
                };
                heard.fetch_add(1, Ordering::Relaxed);
                match next {
                    Ok(Message::Text(text)) => match sender.handle_text(text.as_str()).await {
                        Handled::Reply(frame) => Some(frame),
                        Handled::Quiet => None,
                        Handled::Submitted(pending, client_id) => {
                            in_flight.push_back(Box::pin(async move {
                                (pending.await, client_id)
                            }));
                            None
                        }
                        Handled::Close(frame, code) => {
                            finish(&mut in_flight).await;
                            replies.close(frame, code).await;
                            return ReaderEnd::Closing;
                        }
                    },
                    Ok(Message::Binary(_)) => match sender.charge(None) {
                        Handled::Close(frame, code) => {
                            finish(&mut in_flight).await;
                            replies.close(frame, code).await;
                            return ReaderEnd::Closing;
                        }
                        Handled::Reply(frame) => Some(frame),
                        Handled::Quiet | Handled::Submitted(..) => Some(error_frame(
                            codes::BAD_FRAME,
                            "Binary frames are not supported; send JSON text frames.",
                            None,
                        )),
                    },
                    // Pings are answered by tungstenite; Close is answered while we keep
                    // reading.
                    Ok(Message::Ping(_) | Message::Pong(_) | Message::Close(_)) => None,
                    Err(error) => {
                        if is_too_large(&error) {
                            let frame = error_frame(
                                codes::TOO_LARGE,
                                &format!(
                                    "Messages are limited to {} KiB.",
                                    MAX_MESSAGE_BYTES / 1024
                                ),
                                None,
                            );
                            replies.close(frame, close_codes::TOO_LARGE).await;
                            return ReaderEnd::Closing;
                        }
                        tracing::debug!(%error, "WebSocket read failed");
                        return ReaderEnd::Gone;
                    }
                }
            }
        };
        if let Some(frame) = reply {
            if !replies.frame(frame).await {
                return ReaderEnd::Gone;
            }
        }
    }
}

/// Lets the sends already accepted finish before a close, so their messages reach the
/// client (they are in its mailbox by then) ahead of the close.
async fn finish(in_flight: &mut FuturesOrdered<InFlight>) {
    let drain = async { while in_flight.next().await.is_some() {} };
    let _ = tokio::time::timeout(CLOSE_GRACE, drain).await;
}

/// What to do after a client frame.
enum Handled {
    /// Answer this client with a frame.
    Reply(Utf8Bytes),
    /// Nothing to say (the message reaches everyone through the room).
    Quiet,
    /// A message was queued for storing; its outcome comes later.
    Submitted(Pending, Option<String>),
    /// Answer, then close with this code.
    Close(Utf8Bytes, u16),
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
            Handled::Close(refusal, close_codes::POLICY)
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
                    .submit(author, &self.room, &text, client_id.as_deref())
                    .await
                {
                    Ok(pending) => Handled::Submitted(pending, client_id),
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
    heard: Arc<AtomicU64>,
) {
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.reset();
    let mut last_heard = 0;
    let mut silent_pings = 0;
    loop {
        // Shutdown arrives through the feed (the layer tells every local channel), so this
        // loop waits on nothing that every connection shares.
        let step = tokio::select! {
            biased;
            event = feed.next() => step_for(event),
            _ = ping.tick() => {
                let now = heard.load(Ordering::Relaxed);
                silent_pings = if now == last_heard { silent_pings + 1 } else { 0 };
                last_heard = now;
                if silent_pings >= SILENT_PINGS {
                    tracing::debug!("closing a silent WebSocket");
                    return;
                }
                Step::Write(Message::Ping(Default::default()))
            }
        };
        // A batch usually completes at once (the socket takes it); only one that waits gets
        // a deadline: a client that stops reading is dropped.
        let batch = write_batch(&mut sink, &mut feed, step);
        tokio::pin!(batch);
        let outcome = match futures::poll!(&mut batch) {
            std::task::Poll::Ready(outcome) => outcome,
            std::task::Poll::Pending => match tokio::time::timeout(WRITE_TIMEOUT, batch).await {
                Ok(outcome) => outcome,
                Err(_) => return,
            },
        };
        if let Batch::Ended = outcome {
            return;
        }
    }
}

/// How a batch of writes went.
enum Batch {
    /// Written and flushed; go on.
    Written,
    /// The connection is closed or broken.
    Ended,
}

/// Writes `first` and whatever else is ready without waiting, then flushes once.
async fn write_batch(
    sink: &mut SplitSink<WebSocket, Message>,
    feed: &mut RoomFeed,
    first: Step,
) -> Batch {
    let mut next = Some(first);
    let mut written = 0;
    while let Some(step) = next.take() {
        match step {
            Step::Write(message) => {
                if sink.feed(message).await.is_err() {
                    return Batch::Ended;
                }
                written += 1;
            }
            close @ Step::Close(..) => {
                close_with(sink, close).await;
                return Batch::Ended;
            }
        }
        if written < MAX_FRAMES_PER_FLUSH {
            next = feed.try_next_ready().map(|event| step_for(Ok(event)));
        }
    }
    if sink.flush().await.is_err() {
        Batch::Ended
    } else {
        Batch::Written
    }
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
        Ok(FeedEvent::ShuttingDown) => {
            Step::Close(None, close_codes::GOING_AWAY, "server shutting down")
        }
        Ok(FeedEvent::Close { frame, code }) => Step::Close(Some(frame), code, close_reason(code)),
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

/// The reason text sent with a close code of ours.
fn close_reason(code: u16) -> &'static str {
    match code {
        close_codes::ROOM_DELETED => "room deleted",
        close_codes::TOO_LARGE => "message too large",
        close_codes::POLICY => "too many messages",
        close_codes::OVERLOADED => "too far behind",
        close_codes::GOING_AWAY => "server shutting down",
        _ => "closing",
    }
}

async fn close_with(sink: &mut SplitSink<WebSocket, Message>, step: Step) {
    let Step::Close(frame, code, reason) = step else {
        return;
    };
    if let Some(frame) = frame {
        if sink.feed(Message::Text(frame)).await.is_err() {
            return;
        }
    }
    let _ = sink
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        })))
        .await;
}
