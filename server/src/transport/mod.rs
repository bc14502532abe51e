//! Transports: the four ways a client reaches a room. Each is admitted once at the edge
//! (`crate::http::admission`: origin, room, connection slot), then bridges its connection and
//! a [`RoomFeed`](crate::chat::RoomFeed) (a consumer), and hands every send to the chat
//! service:
//! - [`ws`]: WebSocket, both directions on one connection;
//! - [`sse`]: HTTP streaming (Server-Sent Events), sends by POST;
//! - [`poll`]: long polling (a waiting consumer per request) and short polling.

pub mod lobby;
pub mod poll;
pub mod sse;
pub mod ws;

use crate::{chat::Resume, http::state::AppState};
use axum::{routing::get, Router};

/// Where a connection resumes, from its query: `since={seq}` (every room event after it)
/// wins over `after={message id}` (messages alone); neither: live from now.
pub(crate) fn resume_from(since: Option<i64>, after: Option<i64>) -> Resume {
    match (since, after) {
        (Some(since), _) => Resume::Since(since),
        (None, Some(after)) => Resume::After(after),
        (None, None) => Resume::Live,
    }
}

/// The transports' routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ws/rooms/{slug}", get(ws::handshake::handler))
        .route("/api/rooms/{slug}/messages", get(poll::read))
        .route("/api/rooms/{slug}/events", get(sse::events))
        .route("/ws/lobby", get(lobby::websocket))
        .route("/api/lobby/events", get(lobby::events))
}
