//! `/api/signup`, `/api/login`, `/api/logout`, `/api/sessions/revoke`, `/api/me`,
//! `/api/session/guest`: who the session belongs to. Each is the account service's operation, with its rate limits.

use crate::http::{
    error::ApiError,
    extract::{ApiJson, ClientIp, MaybeIdentity},
    state::AppState,
};
use app::protocol::{Credentials, GuestRequest, Viewer};
use axum::{
    extract::State,
    http::StatusCode,
    routing::{get, post},
    Json, Router,
};
use tower_sessions::Session;

/// The session routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/me", get(me))
        .route("/api/signup", post(sign_up))
        .route("/api/login", post(log_in))
        .route("/api/logout", post(log_out))
        .route("/api/sessions/revoke", post(revoke_all))
        .route("/api/session/guest", post(guest))
}

/// The session's identity, or 401 `login_required`.
async fn me(MaybeIdentity(identity): MaybeIdentity) -> Result<Json<Viewer>, ApiError> {
    identity
        .map(|identity| Json(identity.viewer()))
        .ok_or_else(ApiError::login_required)
}

/// Creates an account and logs in: 201, or 409 when the name is taken (in any case).
async fn sign_up(
    State(state): State<AppState>,
    session: Session,
    ClientIp(client): ClientIp,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<(StatusCode, Json<Viewer>), ApiError> {
    let identity = state
        .accounts
        .sign_up(&session, client, &body.username, &body.password)
        .await?;
    Ok((StatusCode::CREATED, Json(identity.viewer())))
}

/// Logs in: 200, 401 `invalid_credentials`, or 429 after too many attempts (per IP and per
/// account).
async fn log_in(
    State(state): State<AppState>,
    session: Session,
    ClientIp(client): ClientIp,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<Json<Viewer>, ApiError> {
    let identity = state
        .accounts
        .log_in(&session, client, &body.username, &body.password)
        .await?;
    Ok(Json(identity.viewer()))
}

/// Ends the session (and rotates its id: the old cookie is worthless).
async fn log_out(State(state): State<AppState>, session: Session) -> Result<StatusCode, ApiError> {
    state.accounts.log_out(&session).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ends every session of the account (log out everywhere): 204; every open connection of
/// those sessions, on every process, is closed (close code 4401).
async fn revoke_all(
    State(state): State<AppState>,
    session: Session,
) -> Result<StatusCode, ApiError> {
    state.accounts.revoke_all(&session).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Gives the session a guest identity (where `--allow-guests` is on), or renames the guest.
async fn guest(
    State(state): State<AppState>,
    session: Session,
    ClientIp(client): ClientIp,
    ApiJson(body): ApiJson<GuestRequest>,
) -> Result<Json<Viewer>, ApiError> {
    let identity = state
        .accounts
        .start_guest(&session, client, &body.name)
        .await?;
    Ok(Json(identity.viewer()))
}
