//! Transports: the ways a client reaches a room. Each authenticates once at the handshake,
//! then bridges its connection and a [`RoomFeed`](crate::chat::RoomFeed) (a consumer), and
//! hands every send to the chat service.

pub mod ws;
