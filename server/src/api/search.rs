//! `GET /api/search?q=&room=&limit=`: the newest messages with every word of `q` (word
//! prefixes), in the rooms the caller may read or in `room` alone.

use crate::http::{
    error::ApiError,
    extract::{ApiQuery, MaybeIdentity},
    state::AppState,
};
use app::protocol::ChatMessage;
use axum::{extract::State, routing::get, Json, Router};
use serde::Deserialize;

/// The search route.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/search", get(search))
}

/// `?q` (1–200 characters), `?room` (a slug), `?limit` (1–100, default 50).
#[derive(Debug, Deserialize)]
struct SearchQuery {
    #[serde(default)]
    q: String,
    room: Option<String>,
    limit: Option<u32>,
}

/// The matching messages, newest first, each with its room's slug.
async fn search(
    State(state): State<AppState>,
    MaybeIdentity(viewer): MaybeIdentity,
    ApiQuery(query): ApiQuery<SearchQuery>,
) -> Result<Json<Vec<ChatMessage>>, ApiError> {
    let found = state
        .chat
        .search(
            viewer.as_ref(),
            &query.q,
            query.room.as_deref(),
            query.limit.unwrap_or(50),
        )
        .await?;
    Ok(Json(found))
}
