//! `/api/me`, `/api/session/guest`, `/api/logout`: who the session belongs to.

use super::ApiJson;
use crate::{
    auth::{self, MaybeIdentity},
    error::ApiError,
    state::AppState,
};
use app::{
    domain::DisplayName,
    protocol::{GuestRequest, Viewer},
};
use axum::{
    extract::State,
    http::StatusCode,
    routing::{get, post},
    Json, Router,
};
use tower_sessions::Session;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/me", get(me))
        .route("/api/session/guest", post(guest))
        .route("/api/logout", post(logout))
}

/// The session's identity, or 401 `login_required`.
async fn me(MaybeIdentity(identity): MaybeIdentity) -> Result<Json<Viewer>, ApiError> {
    identity
        .map(|identity| Json(identity.viewer()))
        .ok_or(ApiError::LoginRequired)
}

/// Gives the session a guest identity with this display name (or renames the guest).
async fn guest(
    State(state): State<AppState>,
    session: Session,
    ApiJson(body): ApiJson<GuestRequest>,
) -> Result<Json<Viewer>, ApiError> {
    let name = DisplayName::parse(&body.name).map_err(crate::chat::ChatError::from)?;
    let identity = auth::start_guest(&session, &state.store, &name).await?;
    Ok(Json(identity.viewer()))
}

/// Ends the session.
async fn logout(session: Session) -> Result<StatusCode, ApiError> {
    session.flush().await.map_err(ApiError::internal)?;
    Ok(StatusCode::NO_CONTENT)
}
