//! `/api/rooms`: list, create, show, delete.

use super::ApiJson;
use crate::{
    auth::{MaybeIdentity, RequireIdentity},
    error::ApiError,
    state::AppState,
};
use app::protocol::{CreateRoomRequest, RoomSummary};
use axum::{
    extract::{Path, State},
    http::StatusCode,
    routing::get,
    Json, Router,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/rooms", get(list).post(create))
        .route("/api/rooms/{slug}", get(show).delete(delete))
}

async fn list(State(state): State<AppState>) -> Result<Json<Vec<RoomSummary>>, ApiError> {
    Ok(Json(state.chat.list_rooms().await?))
}

async fn create(
    State(state): State<AppState>,
    MaybeIdentity(identity): MaybeIdentity,
    ApiJson(body): ApiJson<CreateRoomRequest>,
) -> Result<(StatusCode, Json<RoomSummary>), ApiError> {
    let room = state
        .chat
        .create_room(identity.as_ref(), &body.slug, &body.title)
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

async fn delete(
    State(state): State<AppState>,
    RequireIdentity(identity): RequireIdentity,
    Path(slug): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.chat.delete_room(&identity, &slug).await?;
    Ok(StatusCode::NO_CONTENT)
}
