//! Messages without a WebSocket: `POST /api/rooms/{slug}/messages` sends (same body and
//! idempotency as the `send` frame, same per-user message rate), `PATCH …/messages/{id}`
//! edits, `DELETE …/messages/{id}` deletes, `POST …/messages/{id}/reactions` toggles an emoji,
//! and `GET …/messages/{id}/edits` shows the room's owner a message's earlier texts. Each
//! change answers with the room event everyone got.

use super::created_or_found;
use crate::chat::Draft;
use crate::http::{
    error::ApiError,
    extract::{ApiJson, RequireIdentity},
    state::AppState,
};
use app::protocol::{EarlierText, EditRequest, ReactRequest, SendRequest, ServerFrame};
use axum::{
    extract::{Path, State},
    http::StatusCode,
    routing::{get, patch, post},
    Json, Router,
};

/// The message routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/rooms/{slug}/messages", post(send))
        .route(
            "/api/rooms/{slug}/messages/{id}",
            patch(edit).delete(delete),
        )
        .route("/api/rooms/{slug}/messages/{id}/edits", get(edits))
        .route("/api/rooms/{slug}/messages/{id}/reactions", post(react))
}

/// Replaces the text of one's own message: 200 with the `message_edited` event.
async fn edit(
    State(state): State<AppState>,
    RequireIdentity(identity): RequireIdentity,
    Path((slug, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<EditRequest>,
) -> Result<Json<ServerFrame>, ApiError> {
    let id = message_id(&id)?;
    let room = state.chat.room(&slug, Some(&identity)).await?;
    Ok(Json(
        state.chat.edit(&identity, &room, id, &body.text).await?,
    ))
}

/// Deletes a message (one's own, or any as the room's owner): 200 with the
/// `message_deleted` event.
async fn delete(
    State(state): State<AppState>,
    RequireIdentity(identity): RequireIdentity,
    Path((slug, id)): Path<(String, String)>,
) -> Result<Json<ServerFrame>, ApiError> {
    let id = message_id(&id)?;
    let room = state.chat.room(&slug, Some(&identity)).await?;
    Ok(Json(state.chat.delete_message(&identity, &room, id).await?))
}

/// Puts an emoji on a message, or takes the caller's off: 200 with the `reaction` event.
async fn react(
    State(state): State<AppState>,
    RequireIdentity(identity): RequireIdentity,
    Path((slug, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<ReactRequest>,
) -> Result<Json<ServerFrame>, ApiError> {
    let id = message_id(&id)?;
    let room = state.chat.room(&slug, Some(&identity)).await?;
    Ok(Json(
        state.chat.react(&identity, &room, id, &body.emoji).await?,
    ))
}

/// A message's earlier texts, oldest first (the room's owner only).
async fn edits(
    State(state): State<AppState>,
    RequireIdentity(identity): RequireIdentity,
    Path((slug, id)): Path<(String, String)>,
) -> Result<Json<Vec<EarlierText>>, ApiError> {
    let id = message_id(&id)?;
    let room = state.chat.room(&slug, Some(&identity)).await?;
    let earlier = state.chat.earlier_texts(&identity, &room, id).await?;
    Ok(Json(
        earlier
            .into_iter()
            .map(|e| EarlierText {
                text: e.text,
                edited_at: crate::store::format_millis(e.edited_at),
            })
            .collect(),
    ))
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
        .post(
            &identity,
            &slug,
            Draft {
                text: &body.text,
                client_id: body.client_id.as_deref(),
                reply_to: body.reply_to,
            },
        )
        .await?;
    Ok((
        created_or_found(sent.duplicate),
        Json(ServerFrame::Message(sent.message)),
    ))
}

/// A message id from the path; anything else names no message (404, like an unknown id).
fn message_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::not_found(format!("There is no message '{raw}' in this room.")))
}
