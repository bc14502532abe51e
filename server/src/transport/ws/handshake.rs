//! The handshake, and the consumer it starts: one task per connection running the reader and
//! the writer side by side.

use super::{
    reader::{self, Reader, ReaderEnd, Replies},
    writer, CLOSE_GRACE, MAX_MESSAGE_BYTES,
};
use crate::http::{gate::Pass, serve::ConnectionSlot};
use crate::{
    chat::RoomFeed,
    http::{
        admission::OriginRule,
        error::ApiError,
        extract::{ApiQuery, MaybeIdentity, Peer},
        state::AppState,
    },
};
use axum::{
    extract::{
        ws::{WebSocket, WebSocketUpgrade},
        Path, State,
    },
    http::HeaderMap,
    response::Response,
};
use futures::StreamExt;
use serde::Deserialize;
use std::sync::{atomic::AtomicU64, Arc};

/// Largest single frame read: the message limit, so a frame over it is refused at its header,
/// before its payload is buffered (a `too_large` error frame, then close code 1009).
const MAX_FRAME_BYTES: usize = MAX_MESSAGE_BYTES;
/// tungstenite reserves this much per connection for reading (its default of 128 KiB made
/// an idle socket cost ~130 KiB). Client frames are small; a larger one grows the buffer to
/// its size (up to the 64 KiB limit) when it comes. 1 KiB instead of 4 KiB: 3 KiB less per
/// idle socket (bench S4).
const READ_BUFFER_BYTES: usize = 1024;

/// The query string of the handshake.
#[derive(Debug, Deserialize)]
pub struct ConnectQuery {
    /// Resume after this message id (messages alone, from the store).
    after: Option<i64>,
    /// Resume after this room event seq (messages, edits, deletions); wins over `after`.
    since: Option<i64>,
}

/// The handshake: admitted (browsers always send `Origin` on a WebSocket handshake, so one
/// without it is refused, as is another site's), then joined to the room's group before the
/// upgrade, so anything stored from now on reaches this connection.
pub async fn handler(
    upgrade: WebSocketUpgrade,
    State(state): State<AppState>,
    Path(slug): Path<String>,
    ApiQuery(query): ApiQuery<ConnectQuery>,
    headers: HeaderMap,
    peer: Peer,
    MaybeIdentity(identity): MaybeIdentity,
) -> Result<Response, ApiError> {
    let admitted = state
        .admission
        .admit(
            &state.chat,
            &headers,
            peer.ip,
            (&slug, identity.as_ref()),
            OriginRule::Required,
        )
        .await?;
    let feed = state
        .chat
        .follow(
            &admitted.room,
            crate::transport::resume_from(query.since, query.after),
            identity.as_ref(),
        )
        .await?;
    let replies = Replies::new(state.chat.layer().clone(), feed.channel_name().clone());
    let reader = Reader::new(state.chat.clone(), admitted.room, identity, replies);
    let slot = (admitted.slot, peer.slot);
    Ok(upgrade
        .read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| run(socket, feed, reader, slot)))
}

/// One connection's consumer: the reader and the writer until either ends, then a short
/// grace for the other. The slot is held until the end.
async fn run(
    socket: WebSocket,
    feed: RoomFeed,
    reader: Reader,
    _slots: (Pass, Option<ConnectionSlot>),
) {
    let _open = crate::telemetry::OpenConnection::new("ws");
    let (sink, stream) = socket.split();
    // The reader counts what it hears; the writer, at each ping, checks that the count moved
    // (a timer per read would cost every wake-up of a busy connection).
    let heard = Arc::new(AtomicU64::new(0));
    // Boxed: each half is allocated at its own size. Inline, the compiler's layout of this
    // future (every state of both halves, plus the select and the grace timeouts) came to
    // 8 KB per connection, the largest part of an idle socket's memory.
    let mut reading = Box::pin(reader::run(stream, reader, heard.clone()));
    let mut writing = Box::pin(writer::run(sink, feed, heard));
    tokio::select! {
        end = &mut reading => {
            // The reader queued a last frame and a close (frame too large, too many
            // messages): the writer sends them. Otherwise the client is gone.
            if let ReaderEnd::Closing = end {
                let _ = tokio::time::timeout(CLOSE_GRACE, writing).await;
            }
        }
        () = &mut writing => {
            // We closed: keep reading briefly so the client's Close reply is consumed.
            let _ = tokio::time::timeout(CLOSE_GRACE, reading).await;
        }
    }
}
