//! `POST /api/rooms/{slug}/messages`: send without a WebSocket (same body and idempotency
//! as the `send` frame). Reading (`GET`, history and polling) is a transport:
//! `transport::poll`; streaming is `transport::sse`.

use super::ApiJson;
use crate::{auth::RequireIdentity, error::ApiError, state::AppState, transport};
use app::protocol::{SendRequest, ServerFrame};
use axum::{
    extract::{Path, State},
    http::StatusCode,
    routing::get,
    Json, Router,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/rooms/{slug}/messages",
            get(transport::poll::read).post(send),
        )
        .route("/api/rooms/{slug}/events", get(transport::sse::events))
}

/// Stores and publishes a message: 201 with the message, or 200 with the earlier message
/// when this `client_id` was already stored for this user.
async fn send(
    State(state): State<AppState>,
    RequireIdentity(identity): RequireIdentity,
    Path(slug): Path<String>,
    ApiJson(body): ApiJson<SendRequest>,
) -> Result<(StatusCode, Json<ServerFrame>), ApiError> {
    state.limits.http_message(identity.user_id)?;
    let room = state.chat.room(&slug).await?;
    let sent = state
        .chat
        .send(&identity, &room, &body.text, body.client_id.as_deref())
        .await?;
    let status = if sent.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(ServerFrame::Message(sent.message))))
}
