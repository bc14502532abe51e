//! The WebSocket transport: `GET /ws/rooms/{slug}?after={id}`.
//!
//! The [`handshake`] is admitted like every transport (origin, room, slot), resolves the
//! session's identity and joins the room's group before the upgrade. After it the consumer
//! runs two halves side by side:
//! - the [`reader`] parses client frames and hands sends to the chat service; every problem
//!   is answered with an error frame and the socket stays open (except an oversize frame,
//!   after which the stream cannot be trusted: it is answered, then closed with 1009);
//! - the [`writer`] forwards the room feed, writing every frame that is ready before one
//!   flush.
//!
//! The reader keeps reading until the stream ends, so tungstenite can answer the client's
//! Close frame and the client sees a clean close. [`frames`] holds the error frames and the
//! close codes.

mod frames;
pub mod handshake;
mod reader;
mod writer;

use std::time::Duration;

/// Largest message a client may send. A 4,000-character message is at most ~16 KiB of UTF-8
/// plus JSON escaping; 64 KiB leaves room without letting a client make us buffer megabytes.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// How long to wait for the other half after one half ended (the client's Close reply, or
/// the writer's last frames).
const CLOSE_GRACE: Duration = Duration::from_secs(2);
