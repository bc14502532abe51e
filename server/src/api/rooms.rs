//! `/api/rooms`: list, create, show, delete.

use crate::http::{
    error::ApiError,
    extract::{ApiJson, ApiQuery, MaybeIdentity, RequireIdentity},
    state::AppState,
};
use app::protocol::{CreateRoomRequest, RenameRoomRequest, RoomSummary};
use axum::{
    extract::{Path, State},
    http::StatusCode,
    routing::get,
    Json, Router,
};
use axum::{
    http::{header, HeaderValue},
    response::{IntoResponse, Response},
};
use serde::Deserialize;

/// The room routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/rooms", get(list).post(create))
        .route("/api/rooms/{slug}", get(show).patch(rename).delete(delete))
}

/// `?limit` (1–200, default 50) and `?cursor` (from the previous page's `Link`).
#[derive(Debug, Deserialize)]
struct ListQuery {
    limit: Option<u32>,
    cursor: Option<String>,
}

/// A page of rooms, most recently active first; `Link: <…>; rel="next"` leads on.
async fn list(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ListQuery>,
    MaybeIdentity(viewer): MaybeIdentity,
) -> Result<Response, ApiError> {
    let limit = query.limit.unwrap_or(50);
    let page = state
        .chat
        .list_rooms(viewer.as_ref(), limit, query.cursor.as_deref())
        .await?;
    let mut response = Json(page.rooms).into_response();
    if let Some(next) = page.next_cursor {
        let link = format!("</api/rooms?limit={limit}&cursor={next}>; rel=\"next\"");
        if let Ok(value) = HeaderValue::from_str(&link) {
            response.headers_mut().insert(header::LINK, value);
        }
    }
    Ok(response)
}

/// Creates a room owned by the caller (an account, or a guest where guests are allowed);
/// `"private": true` makes it visible only to the caller and the `members` invited.
async fn create(
    State(state): State<AppState>,
    RequireIdentity(identity): RequireIdentity,
    ApiJson(body): ApiJson<CreateRoomRequest>,
) -> Result<(StatusCode, Json<RoomSummary>), ApiError> {
    let room = if body.private {
        state
            .chat
            .create_private_room(&identity, &body.slug, &body.title, &body.members)
            .await?
    } else {
        state
            .chat
            .create_room(&identity, &body.slug, &body.title)
            .await?
    };
    Ok((StatusCode::CREATED, Json(state.chat.summary(&room).await?)))
}

async fn show(
    State(state): State<AppState>,
    MaybeIdentity(viewer): MaybeIdentity,
    Path(slug): Path<String>,
) -> Result<Json<RoomSummary>, ApiError> {
    let room = state.chat.room(&slug, viewer.as_ref()).await?;
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
