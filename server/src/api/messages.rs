//! `/api/rooms/{slug}/messages`: read history or poll for new messages; send without a
//! WebSocket (same body and idempotency as the `send` frame).

use super::{ApiJson, ApiQuery};
use crate::{auth::RequireIdentity, chat::MAX_PAGE, error::ApiError, state::AppState};
use app::protocol::{ChatMessage, SendRequest};
use axum::{
    extract::{Path, State},
    http::StatusCode,
    routing::get,
    Json, Router,
};
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/rooms/{slug}/messages", get(read).post(send))
}

/// Which messages to read.
#[derive(Debug, Deserialize)]
struct ReadQuery {
    /// Messages after this id, oldest first (polling, catch-up).
    after: Option<i64>,
    /// Messages before this id, oldest first (scrolling back). Ignored with `after`.
    before: Option<i64>,
    /// Page size (1–500, default 50 for history and 500 for `after`).
    limit: Option<u32>,
}

/// Short poll: answers at once with what matches (possibly an empty list).
async fn read(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    ApiQuery(query): ApiQuery<ReadQuery>,
) -> Result<Json<Vec<ChatMessage>>, ApiError> {
    let room = state.chat.room(&slug).await?;
    let messages = match query.after {
        Some(after) => {
            let limit = query.limit.unwrap_or(MAX_PAGE);
            state.chat.after(&room, after, limit).await?
        }
        None => {
            let limit = query.limit.unwrap_or(50);
            state.chat.history(&room, query.before, limit).await?
        }
    };
    Ok(Json(messages))
}

/// Stores and publishes a message: 201 with the message, or 200 with the earlier message
/// when this `client_id` was already stored for this user.
async fn send(
    State(state): State<AppState>,
    RequireIdentity(identity): RequireIdentity,
    Path(slug): Path<String>,
    ApiJson(body): ApiJson<SendRequest>,
) -> Result<(StatusCode, Json<ChatMessage>), ApiError> {
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
    Ok((status, Json(sent.message)))
}
