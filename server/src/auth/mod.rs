//! Who is making a request: resolved from the session once per request or connection
//! handshake, then carried as an [`Identity`] (the consumer's `scope["user"]`).
//!
//! Two ways lead to an identity: an account (username and password) or, where
//! `--allow-guests` is on, a guest display name. Both go through the [`Accounts`] service,
//! which the REST API and the pages' server functions share, with its rate limits; the
//! transports and the chat service only ever see the resulting `Identity`. Nothing here knows
//! HTTP: the session is tower-sessions' handle, whatever carried its cookie.

mod accounts;
pub mod password;
pub mod sessions;

pub use accounts::{Accounts, SessionPolicy};

use crate::{fault::Fault, limits::Limited, store::StoreError, store::UserRecord};
use app::{
    domain::Invalid,
    protocol::{ErrorCode, Viewer},
};

/// An authenticated author.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The user's row id.
    pub user_id: i64,
    /// The display name stamped on their messages.
    pub name: String,
    /// A display-name-only guest.
    pub guest: bool,
    /// The handle of the session it was resolved from (0: not from a session, e.g. a system
    /// author): its connections close when that session ends.
    pub session: u64,
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
            session: 0,
        }
    }
}

/// Why a sign-up, log-in or guest session was refused, or the session could not be used.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A username, password or display name failed validation.
    #[error("{0}")]
    Invalid(#[from] Invalid),
    /// Another account has this name (in any letter case).
    #[error("The username '{0}' is taken.")]
    UsernameTaken(String),
    /// No such account, or the wrong password (deliberately not saying which).
    #[error("Wrong username or password.")]
    InvalidCredentials,
    /// Too many attempts from this address, or on this account.
    #[error("{0}")]
    RateLimited(#[from] Limited),
    /// Guest sessions are off (`--allow-guests` is not set).
    #[error("Guests are not allowed here: sign up or log in.")]
    GuestsOff,
    /// A guest name was asked for while logged in to an account.
    #[error("You are logged in to an account; log out to chat as a guest.")]
    HasAccount,
    /// The action needs an identity.
    #[error("Log in first.")]
    LoginRequired,
    /// Password hashing is at capacity, or failed.
    #[error(transparent)]
    Hash(#[from] password::HashError),
    /// The session store failed.
    #[error("session store: {0}")]
    Session(#[from] tower_sessions::session::Error),
    /// The user table failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

impl Fault for AuthError {
    fn code(&self) -> ErrorCode {
        match self {
            AuthError::Invalid(_) => ErrorCode::Invalid,
            AuthError::UsernameTaken(_) => ErrorCode::Conflict,
            AuthError::InvalidCredentials => ErrorCode::InvalidCredentials,
            AuthError::RateLimited(_) => ErrorCode::RateLimited,
            AuthError::GuestsOff | AuthError::HasAccount => ErrorCode::Forbidden,
            AuthError::LoginRequired => ErrorCode::LoginRequired,
            AuthError::Hash(password::HashError::Busy) => ErrorCode::Unavailable,
            AuthError::Hash(_) | AuthError::Session(_) | AuthError::Store(_) => ErrorCode::Internal,
        }
    }

    fn field(&self) -> Option<&'static str> {
        match self {
            AuthError::Invalid(invalid) => Some(invalid.field),
            AuthError::UsernameTaken(_) => Some("username"),
            _ => None,
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            AuthError::RateLimited(limited) => Some(limited.retry_after),
            AuthError::Hash(password::HashError::Busy) => Some(1),
            _ => None,
        }
    }
}

/// The group every connection of a user joins: what concerns the user wherever they are
/// connected (their sessions ending, and later mentions and direct messages).
pub fn user_group(user_id: i64) -> String {
    format!("user:{user_id}")
}
