//! The reader half of a WebSocket consumer: client frames in, sends handed to the chat
//! service, every refusal answered through the connection's own mailbox (so the writer waits
//! on one queue only, and an idle connection keeps no second one).
//!
//! Sends are pipelined: the next frame is read while earlier messages are committed (in
//! order; the store writes a connection's messages in submission order), so a client is
//! never held to one message per commit. At most [`MAX_IN_FLIGHT`] wait at once; past that
//! the reader stops reading and the client's TCP window fills (back-pressure).

use super::{
    frames::{describe_bad_frame, error_frame, fault_frame},
    CLOSE_GRACE, MAX_MESSAGE_BYTES,
};
use crate::{
    auth::Identity,
    chat::{encode, ChatError, ChatService, Draft, Pending, Room, Sent},
    layer::{ChannelLayer, ChannelName, CloseReason, Delivery, Frame},
    limits::{wait_time, Limited},
};
use app::protocol::{ClientFrame, ErrorCode, ServerFrame};
use axum::extract::ws::{Message, WebSocket};
use futures::{
    stream::{FuturesOrdered, SplitStream},
    StreamExt,
};
use governor::DefaultDirectRateLimiter;
use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};
use tokio::time::Instant;

/// Sends a connection may have waiting for their commit at once.
const MAX_IN_FLIGHT: usize = 64;
/// Refusals for going too fast within [`STRIKE_WINDOW`] after which the connection is
/// closed: a client that ignores `rate_limited` is abusive, not unlucky.
const MAX_STRIKES: u32 = 20;
const STRIKE_WINDOW: Duration = Duration::from_secs(10);

/// The outcome of a submitted send, with the client_id to answer errors with.
type InFlight = futures::future::BoxFuture<'static, (Result<Sent, ChatError>, Option<String>)>;

/// How the reader answers its own client: through the connection's mailbox.
pub(super) struct Replies {
    layer: Arc<dyn ChannelLayer>,
    channel: ChannelName,
}

impl Replies {
    /// Replies through `channel` (the connection's feed's channel) on `layer`.
    pub(super) fn new(layer: Arc<dyn ChannelLayer>, channel: ChannelName) -> Self {
        Self { layer, channel }
    }

    /// Queues a frame for this client; false if the connection is gone.
    async fn frame(&self, frame: Frame) -> bool {
        self.layer
            .send(&self.channel, Delivery::Frame(frame))
            .await
            .is_ok()
    }

    /// Queues a last frame, then the end of the connection for `reason`.
    async fn close(&self, frame: Frame, reason: CloseReason) {
        let _ = self
            .layer
            .send(&self.channel, Delivery::Close { frame, reason })
            .await;
    }
}

/// How the reader stopped.
pub(super) enum ReaderEnd {
    /// The client went away (or broke the protocol): nothing left to send.
    Gone,
    /// The reader queued a last frame and a close: let the writer send them.
    Closing,
}

/// A change to a stored message.
enum Change<'a> {
    /// New text for a message.
    Edit(i64, &'a str),
    /// Delete a message.
    Delete(i64),
    /// Toggle an emoji on a message.
    React(i64, &'a str),
}

/// What to do after one input.
enum Action {
    /// Nothing to say (a message reaches everyone through the room).
    Nothing,
    /// Answer this client with a frame.
    Reply(Frame),
    /// A message was queued for storing; its outcome comes later.
    Track(Pending, Option<String>),
    /// Answer, then end the connection.
    Close(Frame, CloseReason),
    /// The stream is broken: stop.
    Stop,
}

/// The reader's side of a connection: who sends, where, and how fast they may.
pub(super) struct Reader {
    chat: ChatService,
    room: Room,
    /// Who is connected (`None` = anonymous, may read but not send).
    identity: Option<Identity>,
    /// This connection's limit on frames that carry no message (`None`: unlimited).
    frames: Option<DefaultDirectRateLimiter>,
    /// Refusals for going too fast in the current window, and when it began.
    strikes: u32,
    strikes_since: Instant,
    /// The way back to the client.
    replies: Replies,
}

impl Reader {
    /// The reader of a connection by `identity` to `room`.
    pub(super) fn new(
        chat: ChatService,
        room: Room,
        identity: Option<Identity>,
        replies: Replies,
    ) -> Self {
        Self {
            frames: chat.connection_frames(),
            chat,
            room,
            identity,
            strikes: 0,
            strikes_since: Instant::now(),
            replies,
        }
    }

    /// Decides what one WebSocket message means.
    async fn on_message(&mut self, message: Result<Message, axum::Error>) -> Action {
        match message {
            Ok(Message::Text(text)) => self.on_text(text.as_str()).await,
            Ok(Message::Binary(_)) => self.unusable(error_frame(
                ErrorCode::BadFrame,
                "Binary frames are not supported; send JSON text frames.",
                None,
            )),
            // Pings are answered by tungstenite; Close is answered while we keep reading.
            Ok(Message::Ping(_) | Message::Pong(_) | Message::Close(_)) => Action::Nothing,
            Err(error) => read_failed(&error),
        }
    }

    /// Handles one text frame.
    async fn on_text(&mut self, text: &str) -> Action {
        match serde_json::from_str::<ClientFrame>(text) {
            Ok(ClientFrame::Send {
                text,
                client_id,
                reply_to,
            }) => self.on_send(&text, client_id, reply_to).await,
            Ok(ClientFrame::Typing) => self.on_typing().await,
            Ok(ClientFrame::Read { up_to }) => self.on_read(up_to).await,
            Ok(ClientFrame::Edit { id, text }) => self.on_change(Change::Edit(id, &text)).await,
            Ok(ClientFrame::Delete { id }) => self.on_change(Change::Delete(id)).await,
            Ok(ClientFrame::React { id, emoji }) => self.on_change(Change::React(id, &emoji)).await,
            Err(error) => self.unusable(describe_bad_frame(text, &error)),
        }
    }

    /// Hands a send to the chat service (which charges it to the author's message rate).
    async fn on_send(
        &mut self,
        text: &str,
        client_id: Option<String>,
        reply_to: Option<i64>,
    ) -> Action {
        let Some(author) = &self.identity else {
            return self.unusable(error_frame(
                ErrorCode::LoginRequired,
                "Log in to post in this room.",
                client_id,
            ));
        };
        match self
            .chat
            .submit(
                author,
                &self.room,
                Draft {
                    text,
                    client_id: client_id.as_deref(),
                    reply_to,
                },
            )
            .await
        {
            Ok(pending) => Action::Track(pending, client_id),
            Err(ChatError::RateLimited(limited)) => self.strike(limited, client_id),
            Err(error) => Action::Reply(fault_frame(&error, client_id)),
        }
    }

    /// Relays "typing" (throttled by the chat service; too frequent ones vanish).
    async fn on_typing(&mut self) -> Action {
        let Some(who) = &self.identity else {
            return self.unusable(error_frame(
                ErrorCode::LoginRequired,
                "Log in to chat in this room.",
                None,
            ));
        };
        match self.chat.typing(who, &self.room).await {
            Ok(()) => Action::Nothing,
            Err(error) => Action::Reply(fault_frame(&error, None)),
        }
    }

    /// Moves the read marker; the user's tabs hear it through their own group.
    async fn on_read(&mut self, up_to: i64) -> Action {
        let Some(who) = &self.identity else {
            return self.unusable(error_frame(
                ErrorCode::LoginRequired,
                "Log in to keep read markers.",
                None,
            ));
        };
        match self.chat.mark_read(who, &self.room, up_to).await {
            Ok(_) => Action::Nothing,
            Err(error) => self.unusable(fault_frame(&error, None)),
        }
    }

    /// Edits, deletes or reacts to a message; everyone (this client too) hears it through the room.
    async fn on_change(&mut self, change: Change<'_>) -> Action {
        let Some(who) = &self.identity else {
            return self.unusable(error_frame(
                ErrorCode::LoginRequired,
                "Log in to change messages.",
                None,
            ));
        };
        let outcome = match change {
            Change::Edit(id, text) => self.chat.edit(who, &self.room, id, text).await,
            Change::Delete(id) => self.chat.delete_message(who, &self.room, id).await,
            Change::React(id, emoji) => self.chat.react(who, &self.room, id, emoji).await,
        };
        match outcome {
            Ok(_) => Action::Nothing,
            Err(ChatError::RateLimited(limited)) => self.strike(limited, None),
            Err(error) => self.unusable(fault_frame(&error, None)),
        }
    }

    /// A frame that carries no message still costs an answer: it counts against this
    /// connection's frame rate, and past it the client is told to slow down instead.
    fn unusable(&mut self, answer: Frame) -> Action {
        let wait = self
            .frames
            .as_ref()
            .and_then(|limiter| wait_time(limiter.check()));
        match wait {
            None => Action::Reply(answer),
            Some(wait) => self.strike(
                Limited {
                    retry_after: wait.as_secs().max(1),
                },
                None,
            ),
        }
    }

    /// Refuses a frame for going too fast; a client that keeps pushing is disconnected.
    fn strike(&mut self, limited: Limited, client_id: Option<String>) -> Action {
        if self.strikes_since.elapsed() > STRIKE_WINDOW {
            self.strikes = 0;
            self.strikes_since = Instant::now();
        }
        self.strikes += 1;
        let refusal = error_frame(
            ErrorCode::RateLimited,
            &format!("You are sending too fast; wait {} s.", limited.retry_after),
            client_id,
        );
        if self.strikes >= MAX_STRIKES {
            Action::Close(refusal, CloseReason::TooFast)
        } else {
            Action::Reply(refusal)
        }
    }
}

/// Reads until the stream ends or the reader closes the connection.
pub(super) async fn run(
    mut stream: SplitStream<WebSocket>,
    mut reader: Reader,
    heard: Arc<AtomicU64>,
) -> ReaderEnd {
    let mut in_flight: FuturesOrdered<InFlight> = FuturesOrdered::new();
    loop {
        let action = tokio::select! {
            biased;
            Some((outcome, client_id)) = in_flight.next(), if !in_flight.is_empty() => {
                stored(outcome, client_id)
            }
            next = stream.next(), if in_flight.len() < MAX_IN_FLIGHT => match next {
                Some(message) => {
                    heard.fetch_add(1, Ordering::Relaxed);
                    // Boxed: the send path's state (validation, rate check, queueing) is
                    // allocated while a frame is handled, not held by every idle socket.
                    Box::pin(reader.on_message(message)).await
                }
                None => Action::Stop,
            },
        };
        match action {
            Action::Nothing => {}
            Action::Reply(frame) => {
                if !reader.replies.frame(frame).await {
                    return ReaderEnd::Gone;
                }
            }
            Action::Track(pending, client_id) => {
                in_flight.push_back(Box::pin(async move { (pending.await, client_id) }));
            }
            Action::Close(frame, reason) => {
                finish(&mut in_flight).await;
                reader.replies.close(frame, reason).await;
                return ReaderEnd::Closing;
            }
            Action::Stop => return ReaderEnd::Gone,
        }
    }
}

/// What the sender hears once its message is stored.
fn stored(outcome: Result<Sent, ChatError>, client_id: Option<String>) -> Action {
    match outcome {
        // Delivered to the whole group (this client included) by the layer.
        Ok(sent) if !sent.duplicate => Action::Nothing,
        // A retry of something already stored: only the sender needs the answer.
        Ok(sent) => Action::Reply(encode(&ServerFrame::Message(sent.message))),
        Err(error) => Action::Reply(fault_frame(&error, client_id)),
    }
}

/// Lets the sends already accepted finish before a close, so their messages reach the
/// client (they are in its mailbox by then) ahead of the close.
async fn finish(in_flight: &mut FuturesOrdered<InFlight>) {
    let drain = async { while in_flight.next().await.is_some() {} };
    let _ = tokio::time::timeout(CLOSE_GRACE, drain).await;
}

/// What to do after a read error: say what was wrong and close with the code RFC 6455 asks
/// for (1009 too big, 1007 not UTF-8, 1002 bad framing), or stop when the connection broke.
fn read_failed(error: &axum::Error) -> Action {
    let (code, message, reason) = match tungstenite_error(error) {
        Some(tungstenite::Error::Capacity(_)) => (
            ErrorCode::TooLarge,
            format!("Messages are limited to {} KiB.", MAX_MESSAGE_BYTES / 1024),
            CloseReason::TooLarge,
        ),
        Some(tungstenite::Error::Utf8(_)) => (
            ErrorCode::BadFrame,
            "Text frames must be UTF-8.".to_owned(),
            CloseReason::InvalidText,
        ),
        Some(tungstenite::Error::Protocol(violation)) => (
            ErrorCode::BadFrame,
            format!("WebSocket protocol error: {violation}."),
            CloseReason::ProtocolError,
        ),
        _ => {
            tracing::debug!(%error, "WebSocket read failed");
            return Action::Stop;
        }
    };
    Action::Close(error_frame(code, &message, None), reason)
}

/// The tungstenite error under axum's.
fn tungstenite_error(error: &axum::Error) -> Option<&tungstenite::Error> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if let Some(found) = current.downcast_ref::<tungstenite::Error>() {
            return Some(found);
        }
        source = current.source();
    }
    None
}
