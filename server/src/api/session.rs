//! `/api/signup`, `/api/login`, `/api/logout`, `/api/me`, `/api/session/guest`: who the
//! session belongs to.

use super::ApiJson;
use crate::{
    auth::{self, MaybeIdentity},
    chat::ChatError,
    error::ApiError,
    state::AppState,
};
use app::{
    domain::{DisplayName, Password, Username},
    protocol::{Credentials, GuestRequest, Viewer},
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
        .route("/api/signup", post(sign_up))
        .route("/api/login", post(log_in))
        .route("/api/logout", post(log_out))
        .route("/api/session/guest", post(guest))
}

/// The session's identity, or 401 `login_required`.
async fn me(MaybeIdentity(identity): MaybeIdentity) -> Result<Json<Viewer>, ApiError> {
    identity
        .map(|identity| Json(identity.viewer()))
        .ok_or(ApiError::LoginRequired)
}

/// Creates an account and logs in: 201, or 409 when the name is taken (in any case).
async fn sign_up(
    State(state): State<AppState>,
    session: Session,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<(StatusCode, Json<Viewer>), ApiError> {
    let username = Username::parse(&body.username).map_err(ChatError::from)?;
    let password = Password::parse(&body.password).map_err(ChatError::from)?;
    let identity = auth::sign_up(&session, &state.store, &username, &password).await?;
    Ok((StatusCode::CREATED, Json(identity.viewer())))
}

/// Logs in: 200, 401 `invalid_credentials`, or 429 after too many attempts (per IP and per
/// account).
async fn log_in(
    State(state): State<AppState>,
    session: Session,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<Json<Viewer>, ApiError> {
    // A malformed name or password cannot match any account: same answer as a wrong one.
    let (Ok(username), Ok(password)) = (
        Username::parse(&body.username),
        Password::parse(&body.password),
    ) else {
        return Err(ApiError::InvalidCredentials);
    };
    let key = username.key();
    state.limits.login_allowed(&key)?;
    let outcome = auth::log_in(&session, &state.store, &username, &password).await;
    state.limits.login_outcome(&key, outcome.is_ok());
    Ok(Json(outcome?.viewer()))
}

/// Ends the session (and rotates its id: the old cookie is worthless).
async fn log_out(session: Session) -> Result<StatusCode, ApiError> {
    auth::log_out(&session).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Gives the session a guest identity (where `--allow-guests` is on), or renames the guest.
async fn guest(
    State(state): State<AppState>,
    session: Session,
    MaybeIdentity(current): MaybeIdentity,
    ApiJson(body): ApiJson<GuestRequest>,
) -> Result<Json<Viewer>, ApiError> {
    if !state.allow_guests {
        return Err(ApiError::Forbidden(
            "Guests are not allowed here: sign up or log in.".to_owned(),
        ));
    }
    if current.is_some_and(|identity| !identity.guest) {
        return Err(ApiError::Forbidden(
            "You are logged in to an account; log out to chat as a guest.".to_owned(),
        ));
    }
    let name = DisplayName::parse(&body.name).map_err(ChatError::from)?;
    let identity = auth::start_guest(&session, &state.store, &name).await?;
    Ok(Json(identity.viewer()))
}
