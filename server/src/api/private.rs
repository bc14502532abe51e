//! Direct messages and private-room members: `POST /api/dm {"username"}` opens (or returns)
//! the one private room of the caller and that account, and `POST /api/rooms/{slug}/members
//! {"username"}` lets a private room's owner invite an account. A private room's other
//! routes are the public ones: they answer 404 to anyone who is not a member.

use super::created_or_found;
use crate::http::{
    error::ApiError,
    extract::{ApiJson, RequireIdentity},
    state::AppState,
};
use app::protocol::{RoomSummary, UsernameRequest};
use axum::{
    extract::{Path, State},
    http::StatusCode,
    routing::post,
    Json, Router,
};

/// The direct-message and membership routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/dm", post(open_direct))
        .route("/api/rooms/{slug}/members", post(invite))
}

/// 201 with the new direct-message room, or 200 with the existing one.
async fn open_direct(
    State(state): State<AppState>,
    RequireIdentity(identity): RequireIdentity,
    ApiJson(body): ApiJson<UsernameRequest>,
) -> Result<(StatusCode, Json<RoomSummary>), ApiError> {
    let (room, created) = state.chat.open_direct(&identity, &body.username).await?;
    let summary = state.chat.summary(&room).await?;
    Ok((created_or_found(!created), Json(summary)))
}

/// 204: the account is a member of the private room now (the owner only).
async fn invite(
    State(state): State<AppState>,
    RequireIdentity(identity): RequireIdentity,
    Path(slug): Path<String>,
    ApiJson(body): ApiJson<UsernameRequest>,
) -> Result<StatusCode, ApiError> {
    state.chat.invite(&identity, &slug, &body.username).await?;
    Ok(StatusCode::NO_CONTENT)
}
