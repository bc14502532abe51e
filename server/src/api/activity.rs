//! The REST forms of the WebSocket's `typing` and `read` frames, and the room's presence,
//! so SSE and polling clients can do what a WebSocket client does.

use crate::http::{
    error::ApiError,
    extract::{ApiJson, MaybeIdentity, RequireIdentity},
    state::AppState,
};
use app::protocol::{ReadRequest, ServerFrame};
use axum::{
    extract::{Path, State},
    http::StatusCode,
    routing::{get, post},
    Json, Router,
};

/// The routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/rooms/{slug}/typing", post(typing))
        .route("/api/rooms/{slug}/read", post(read))
        .route("/api/rooms/{slug}/presence", get(presence))
}

/// `POST /api/rooms/{slug}/typing`: 204 (relayed, or dropped as too frequent).
async fn typing(
    State(state): State<AppState>,
    RequireIdentity(identity): RequireIdentity,
    Path(slug): Path<String>,
) -> Result<StatusCode, ApiError> {
    let room = state.chat.room(&slug, Some(&identity)).await?;
    state.chat.typing(&identity, &room).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/rooms/{slug}/read` `{"up_to": id}`: the `read` frame with where the marker
/// stands (it never moves back).
async fn read(
    State(state): State<AppState>,
    RequireIdentity(identity): RequireIdentity,
    Path(slug): Path<String>,
    ApiJson(body): ApiJson<ReadRequest>,
) -> Result<Json<ServerFrame>, ApiError> {
    let room = state.chat.room(&slug, Some(&identity)).await?;
    let up_to = state.chat.mark_read(&identity, &room, body.up_to).await?;
    Ok(Json(ServerFrame::Read {
        room: room.slug.to_string(),
        up_to,
    }))
}

/// `GET /api/rooms/{slug}/presence`: the `presence` frame (count and up to 50 members).
async fn presence(
    State(state): State<AppState>,
    MaybeIdentity(viewer): MaybeIdentity,
    Path(slug): Path<String>,
) -> Result<Json<ServerFrame>, ApiError> {
    let room = state.chat.room(&slug, viewer.as_ref()).await?;
    Ok(Json(
        state.chat.presence().snapshot(room.slug.as_str()).await,
    ))
}
