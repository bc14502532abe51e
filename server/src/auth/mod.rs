//! Who is making a request: resolved from the session cookie once per request or connection
//! handshake, then carried as an [`Identity`] (the consumer's `scope["user"]`).
//!
//! Two ways lead to an identity: an account (username and password, [`sign_up`] /
//! [`log_in`]) or, where `--allow-guests` is on, a guest display name ([`start_guest`]).
//! Transports and services only ever see the resulting `Identity`.

pub mod password;

use crate::{
    error::ApiError,
    state::AppState,
    store::{Store, StoreError, UserRecord},
};
use app::{
    domain::{DisplayName, Password, Username},
    protocol::Viewer,
};
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
            username: (!self.guest).then(|| self.name.clone()),
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

/// Why the session could not be read or written, or a sign-up or log-in was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Another account has this name (in any letter case).
    #[error("The username '{0}' is taken.")]
    UsernameTaken(String),
    /// No such account, or the wrong password (deliberately not saying which).
    #[error("Wrong username or password.")]
    InvalidCredentials,
    /// Password hashing failed.
    #[error(transparent)]
    Hash(#[from] password::HashError),
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

/// Creates an account and logs the session into it.
pub async fn sign_up(
    session: &Session,
    store: &Store,
    username: &Username,
    password: &Password,
) -> Result<Identity, AuthError> {
    let hash = password::hash(password).await?;
    let user = store
        .create_account(username.as_str(), &username.key(), &hash)
        .await
        .map_err(|error| match error {
            StoreError::Duplicate => AuthError::UsernameTaken(username.to_string()),
            other => AuthError::Store(other),
        })?;
    bind(session, &user).await?;
    Ok(user.into())
}

/// Checks the password and logs the session in. Unknown names cost as much time as known
/// ones, and both fail with the same error.
pub async fn log_in(
    session: &Session,
    store: &Store,
    username: &Username,
    password: &Password,
) -> Result<Identity, AuthError> {
    let Some((user, hash)) = store.account_by_key(&username.key()).await? else {
        password::verify_nothing(password).await;
        return Err(AuthError::InvalidCredentials);
    };
    if !password::verify(password, &hash).await {
        return Err(AuthError::InvalidCredentials);
    }
    bind(session, &user).await?;
    Ok(user.into())
}

/// Ends the session: its record is deleted and the cookie cleared; the next request starts
/// a new session with a new id.
pub async fn log_out(session: &Session) -> Result<(), AuthError> {
    session.flush().await?;
    Ok(())
}

/// Binds the session to a user under a fresh session id, so an id planted before the log-in
/// (session fixation) is worthless after it.
async fn bind(session: &Session, user: &UserRecord) -> Result<(), AuthError> {
    session.cycle_id().await?;
    session.insert(USER_ID, user.id).await?;
    Ok(())
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
    bind(session, &user).await?;
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
