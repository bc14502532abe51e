//! The writer half of a WebSocket consumer: the room feed out, every frame that is ready
//! written before one flush; pings to notice a client that has gone silent; and a deadline
//! on writes, so a client that stops reading cannot hold the connection forever.

use super::frames::{close_for, error_frame};
use crate::{
    chat::{ChatError, FeedEvent, RoomFeed},
    layer::Frame,
};
use app::protocol::{close_codes, ErrorCode};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures::{stream::SplitSink, SinkExt};
use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

/// Heartbeats (one every `lifecycle::HEARTBEAT`, 30 s) without a word from the client after
/// which it is gone. Each heartbeat sends a ping; browsers answer pings by themselves.
const SILENT_PINGS: u32 = 2;
/// Frames written before one flush at most (then flush, so one busy room cannot starve the
/// socket's other work).
const MAX_FRAMES_PER_FLUSH: usize = 128;
/// A client that does not take our frames for this long (its TCP window stays shut) is
/// disconnected.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

type Sink = SplitSink<WebSocket, Message>;

/// What the writer does next.
enum Step {
    /// Queue this message.
    Write(Message),
    /// Send the frame (if any), then close with code and reason.
    Close(Option<Frame>, u16, &'static str),
}

/// Counts pings without an answer (anything the reader heard counts as one).
struct Liveness {
    heard: Arc<AtomicU64>,
    last_heard: u64,
    silent_pings: u32,
}

impl Liveness {
    /// Whether the client said anything since the last ping (or is still within its grace).
    fn still_there(&mut self) -> bool {
        let now = self.heard.load(Ordering::Relaxed);
        self.silent_pings = if now == self.last_heard {
            self.silent_pings + 1
        } else {
            0
        };
        self.last_heard = now;
        self.silent_pings < SILENT_PINGS
    }
}

/// Forwards the feed until the connection ends or the feed closes it. The loop waits on the
/// feed alone: shutdown and the heartbeat arrive through it too (the layer tells every local
/// channel), so a busy connection's wake-ups touch no timer.
pub(super) async fn run(mut sink: Sink, mut feed: RoomFeed, heard: Arc<AtomicU64>) {
    let mut liveness = Liveness {
        heard,
        last_heard: 0,
        silent_pings: 0,
    };
    loop {
        let step = match feed.next().await {
            Ok(FeedEvent::Heartbeat) => {
                if !liveness.still_there() {
                    tracing::debug!("closing a silent WebSocket");
                    return;
                }
                Step::Write(Message::Ping(Default::default()))
            }
            event => step_for(event),
        };
        if !write_in_time(&mut sink, &mut feed, step).await {
            return;
        }
    }
}

/// Writes a batch. It usually completes at once (the socket takes it); only one that waits
/// gets a deadline. False when the connection is over.
async fn write_in_time(sink: &mut Sink, feed: &mut RoomFeed, step: Step) -> bool {
    // Boxed: allocated per batch written, so an idle connection does not carry its state.
    let mut batch = Box::pin(write_batch(sink, feed, step));
    match futures::poll!(&mut batch) {
        std::task::Poll::Ready(open) => open,
        std::task::Poll::Pending => tokio::time::timeout(WRITE_TIMEOUT, batch)
            .await
            .unwrap_or(false),
    }
}

/// Writes `first` and whatever else is ready without waiting, then flushes once. False when
/// the connection is closed or broken.
async fn write_batch(sink: &mut Sink, feed: &mut RoomFeed, first: Step) -> bool {
    let mut next = Some(first);
    let mut written = 0;
    while let Some(step) = next.take() {
        match step {
            Step::Write(message) => {
                if sink.feed(message).await.is_err() {
                    return false;
                }
                written += 1;
            }
            Step::Close(frame, code, reason) => {
                close_with(sink, frame, code, reason).await;
                return false;
            }
        }
        if written < MAX_FRAMES_PER_FLUSH {
            next = feed.try_next_ready().map(|event| step_for(Ok(event)));
        }
    }
    sink.flush().await.is_ok()
}

fn step_for(event: Result<FeedEvent, ChatError>) -> Step {
    match event {
        Ok(FeedEvent::Frame { frame, .. }) => match text(frame) {
            Some(text) => Step::Write(Message::Text(text)),
            None => Step::Close(None, close_codes::INTERNAL, "internal error"),
        },
        Ok(FeedEvent::ShuttingDown) => {
            Step::Close(None, close_codes::GOING_AWAY, "server shutting down")
        }
        // Met while batching writes: the next wait answers the following heartbeat.
        Ok(FeedEvent::Heartbeat) => Step::Write(Message::Ping(Default::default())),
        Ok(FeedEvent::Close { frame, reason }) => {
            let (code, text) = close_for(reason);
            Step::Close(Some(frame), code, text)
        }
        Ok(FeedEvent::Overflowed) => Step::Close(
            Some(error_frame(
                ErrorCode::Overloaded,
                "You fell too far behind; reconnect with ?after=<last id> to catch up.",
                None,
            )),
            close_codes::OVERLOADED,
            "too far behind",
        ),
        Err(error) => {
            tracing::error!(%error, "room feed failed");
            Step::Close(None, close_codes::INTERNAL, "internal error")
        }
    }
}

/// A layer frame as a WebSocket text message.
fn text(frame: Frame) -> Option<Utf8Bytes> {
    Utf8Bytes::try_from(frame.into_bytes()).ok()
}

async fn close_with(sink: &mut Sink, frame: Option<Frame>, code: u16, reason: &'static str) {
    if let Some(text) = frame.and_then(text) {
        if sink.feed(Message::Text(text)).await.is_err() {
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
