//! The admin API: publishing into a room from outside a consumer (a cron job, a deploy hook,
//! another service), the way Django code calls `group_send` from a view or a Celery task.
//! It goes through the chat service like every other message: stored, then published.
//!
//! Off unless `PARLOR_ADMIN_TOKEN` is set; requests carry `Authorization: Bearer <token>`.

use super::created_or_found;
use crate::http::{
    error::ApiError,
    extract::{bearer_matches, ApiJson},
    state::AppState,
};
use app::protocol::ServerFrame;
use axum::{
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    routing::post,
    Json, Router,
};
use serde::Deserialize;

/// The admin routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/admin/rooms/{slug}/broadcast", post(broadcast))
}

/// `POST /api/admin/rooms/{slug}/broadcast` body.
#[derive(Debug, Deserialize)]
struct BroadcastRequest {
    /// The message text (same rules as any message).
    text: String,
    /// The author name shown (a system user), default "Parlor".
    #[serde(default, rename = "as")]
    author: Option<String>,
    /// Optional idempotency key, as for any send.
    #[serde(default)]
    client_id: Option<String>,
}

async fn broadcast(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(slug): Path<String>,
    ApiJson(body): ApiJson<BroadcastRequest>,
) -> Result<(StatusCode, Json<ServerFrame>), ApiError> {
    authorize(&state, &headers)?;
    let author = body.author.as_deref().unwrap_or("Parlor");
    let sent = state
        .chat
        .announce(author, &slug, &body.text, body.client_id.as_deref())
        .await?;
    Ok((
        created_or_found(sent.duplicate),
        Json(ServerFrame::Message(sent.message)),
    ))
}

/// 404 when the admin API is off (it does not exist), 401 without the right token.
fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(expected) = state.admin_token.as_deref() else {
        return Err(ApiError::not_found(
            "The admin API is off: set PARLOR_ADMIN_TOKEN to enable it.",
        ));
    };
    if bearer_matches(headers, expected) {
        Ok(())
    } else {
        Err(ApiError::unauthorized())
    }
}
