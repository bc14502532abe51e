//! `/api/rooms`: list, create, show, delete.

use crate::http::{
    error::ApiError,
    extract::{ApiJson, RequireIdentity},
    state::AppState,
};
use app::protocol::{CreateRoomRequest, RenameRoomRequest, RoomSummary};
use axum::{
    extract::{Path, State},
    http::StatusCode,
    routing::get,
    Json, Router,
};

/// The room routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/rooms", get(list).post(create))
        .route("/api/rooms/{slug}", get(show).patch(rename).delete(delete))
}

async fn list(State(state): State<AppState>) -> Result<Json<Vec<RoomSummary>>, ApiError> {
    Ok(Json(state.chat.list_rooms().await?))
}

/// Creates a room owned by the caller (an account, or a guest where guests are allowed).
async fn create(
    State(state): State<AppState>,
    RequireIdentity(identity): RequireIdentity,
    ApiJson(body): ApiJson<CreateRoomRequest>,
) -> Result<(StatusCode, Json<RoomSummary>), ApiError> {
    let room = state
        .chat
        .create_room(&identity, &body.slug, &body.title)
        .await?;
    Ok((StatusCode::CREATED, Json(state.chat.summary(&room).await?)))
}

async fn show(
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> Result<Json<RoomSummary>, ApiError> {
    let room = state.chat.room(&slug).await?;
    Ok(Json(state.chat.summary(&room).await?))
}

/// Renames a room (owner only); members see a `room_renamed` event.
async fn rename(
    State(state): State<AppState>,
    RequireIdentity(identity): RequireIdentity,
    Path(slug): Path<String>,
    ApiJson(body): ApiJson<RenameRoomRequest>,
) -> Result<Json<RoomSummary>, ApiError> {
    let room = state
        .chat
        .rename_room(&identity, &slug, &body.title)
        .await?;
    Ok(Json(state.chat.summary(&room).await?))
}

/// Deletes a room (owner only): members in every process get `room_deleted` and are
/// disconnected with close code 4410.
async fn delete(
    State(state): State<AppState>,
    RequireIdentity(identity): RequireIdentity,
    Path(slug): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.chat.delete_room(&identity, &slug).await?;
    Ok(StatusCode::NO_CONTENT)
}
