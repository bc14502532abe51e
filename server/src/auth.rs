//! Who is making a request: resolved from the session cookie once per request or connection
//! handshake, then carried as an [`Identity`] (the consumer's `scope["user"]`).
//!
//! Identity for now is a guest display name; accounts will add a second way to obtain the
//! same `Identity`, so transports and services never change.

use crate::{
    error::ApiError,
    state::AppState,
    store::{Store, StoreError, UserRecord},
};
use app::{domain::DisplayName, protocol::Viewer};
use axum::{extract::FromRequestParts, http::request::Parts};
use tower_sessions::Session;

/// The session key holding the user id.
const USER_ID: &str = "user_id";

/// An authenticated author.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The user's row id.
    pub user_id: i64,
    /// The display name stamped on their messages.
    pub name: String,
    /// A display-name-only guest.
    pub guest: bool,
}

impl Identity {
    /// The identity as `GET /api/me` shows it.
    pub fn viewer(&self) -> Viewer {
        Viewer {
            id: self.user_id,
            name: self.name.clone(),
            guest: self.guest,
        }
    }
}

impl From<UserRecord> for Identity {
    fn from(user: UserRecord) -> Self {
        Self {
            user_id: user.id,
            name: user.display_name,
            guest: user.is_guest,
        }
    }
}

/// Why the session could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The session store failed.
    #[error("session store: {0}")]
    Session(#[from] tower_sessions::session::Error),
    /// The user table failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// The identity bound to this session, if any (a session whose user is gone has none).
pub async fn identity(session: &Session, store: &Store) -> Result<Option<Identity>, AuthError> {
    let Some(user_id) = session.get::<i64>(USER_ID).await? else {
        return Ok(None);
    };
    Ok(store.user_by_id(user_id).await?.map(Identity::from))
}

/// Gives the session a guest identity named `name`; a session that already has a guest
/// keeps its user (and so its messages) under the new name. The session id is rotated
/// whenever the identity changes, so a fixed session id cannot be planted beforehand.
pub async fn start_guest(
    session: &Session,
    store: &Store,
    name: &DisplayName,
) -> Result<Identity, AuthError> {
    if let Some(current) = identity(session, store).await? {
        if current.guest {
            if let Some(renamed) = store.rename_user(current.user_id, name.as_str()).await? {
                return Ok(renamed.into());
            }
        }
    }
    let user = store.create_guest(name.as_str()).await?;
    session.cycle_id().await?;
    session.insert(USER_ID, user.id).await?;
    Ok(user.into())
}

/// The request's identity, if any: an extractor for handlers that serve everyone but may
/// act differently for a known user.
pub struct MaybeIdentity(pub Option<Identity>);

impl FromRequestParts<AppState> for MaybeIdentity {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let session = session_of(parts)?;
        let identity = identity(&session, &state.store)
            .await
            .map_err(ApiError::internal)?;
        Ok(MaybeIdentity(identity))
    }
}

/// The request's identity: an extractor that answers 401 `login_required` without one.
pub struct RequireIdentity(pub Identity);

impl FromRequestParts<AppState> for RequireIdentity {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match MaybeIdentity::from_request_parts(parts, state).await?.0 {
            Some(identity) => Ok(RequireIdentity(identity)),
            None => Err(ApiError::LoginRequired),
        }
    }
}

/// The session the session layer attached to the request.
pub fn session_of(parts: &Parts) -> Result<Session, ApiError> {
    parts.extensions.get::<Session>().cloned().ok_or_else(|| {
        ApiError::internal("no session on the request: is the session layer installed?")
    })
}
