//! `POST /api/rooms/{slug}/messages`: send without a WebSocket (same body and idempotency
//! as the `send` frame, same per-user message rate).

use super::created_or_found;
use crate::http::{
    error::ApiError,
    extract::{ApiJson, RequireIdentity},
    state::AppState,
};
use app::protocol::{SendRequest, ServerFrame};
use axum::{
    extract::{Path, State},
    http::StatusCode,
    routing::post,
    Json, Router,
};

/// The message routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/rooms/{slug}/messages", post(send))
}

/// Stores and publishes a message: 201 with the message, or 200 with the earlier message
/// when this `client_id` was already stored for this user.
async fn send(
    State(state): State<AppState>,
    RequireIdentity(identity): RequireIdentity,
    Path(slug): Path<String>,
    ApiJson(body): ApiJson<SendRequest>,
) -> Result<(StatusCode, Json<ServerFrame>), ApiError> {
    let sent = state
        .chat
        .post(&identity, &slug, &body.text, body.client_id.as_deref())
        .await?;
    Ok((
        created_or_found(sent.duplicate),
        Json(ServerFrame::Message(sent.message)),
    ))
}
