//! Transports: the four ways a client reaches a room. Each authenticates once at the
//! handshake, then bridges its connection and a [`RoomFeed`](crate::chat::RoomFeed) (a
//! consumer), and hands every send to the chat service:
//! - [`ws`]: WebSocket, both directions on one connection;
//! - [`sse`]: HTTP streaming (Server-Sent Events), sends by POST;
//! - [`poll`]: long polling (a waiting consumer per request) and short polling.

pub mod poll;
pub mod sse;
pub mod ws;
