//! The account service: sign-up, log-in, guest sessions and log-out, with their rate limits,
//! for every way in (the REST API, the pages' server functions, plain HTML forms).
//!
//! The limits are applied here, by the operation, not by matching URL paths: renaming an
//! endpoint cannot turn them off. Every attempt counts against the client address's budget;
//! log-ins also count failures per account.

use super::{password, AuthError, Identity};
use crate::{
    limits::Limits,
    store::{Store, StoreError, UserRecord},
};
use app::domain::{DisplayName, Password, Username};
use std::{net::IpAddr, sync::Arc};
use tower_sessions::Session;

/// The session key holding the user id.
const USER_ID: &str = "user_id";

/// Accounts and guest identities, bound to sessions. Cheap to clone.
#[derive(Clone)]
pub struct Accounts {
    /// Where users live.
    store: Store,
    /// Attempts per client address and per account.
    limits: Arc<Limits>,
    /// Whether visitors may chat under a display name without an account.
    allow_guests: bool,
}

impl Accounts {
    /// The service over `store`, with these limits and guest policy.
    pub fn new(store: Store, limits: Arc<Limits>, allow_guests: bool) -> Self {
        Self {
            store,
            limits,
            allow_guests,
        }
    }

    /// Whether guest sessions are allowed.
    pub fn guests_allowed(&self) -> bool {
        self.allow_guests
    }

    /// The identity bound to this session, if any (a session whose user is gone has none).
    pub async fn identity(&self, session: &Session) -> Result<Option<Identity>, AuthError> {
        let Some(user_id) = session.get::<i64>(USER_ID).await? else {
            return Ok(None);
        };
        Ok(self.store.user_by_id(user_id).await?.map(Identity::from))
    }

    /// Creates an account and logs the session into it.
    pub async fn sign_up(
        &self,
        session: &Session,
        client: Option<IpAddr>,
        username: &str,
        password: &str,
    ) -> Result<Identity, AuthError> {
        self.limits.auth_attempt(client)?;
        let username = Username::parse(username)?;
        let password = Password::parse(password)?;
        let hash = password::hash(&password).await?;
        let user = self
            .store
            .create_account(username.as_str(), &username.key(), &hash)
            .await
            .map_err(|error| match error {
                StoreError::Duplicate => AuthError::UsernameTaken(username.to_string()),
                other => AuthError::Store(other),
            })?;
        bind(session, &user).await?;
        Ok(user.into())
    }

    /// Checks the password and logs the session in. Unknown names cost as much time as
    /// known ones, and both fail with the same error; so do malformed ones, which cannot
    /// match any account.
    pub async fn log_in(
        &self,
        session: &Session,
        client: Option<IpAddr>,
        username: &str,
        password: &str,
    ) -> Result<Identity, AuthError> {
        self.limits.auth_attempt(client)?;
        let (Ok(username), Ok(password)) = (Username::parse(username), Password::parse(password))
        else {
            return Err(AuthError::InvalidCredentials);
        };
        let key = username.key();
        self.limits.login_allowed(&key)?;
        let outcome = self.check_password(&key, &password).await;
        self.limits.login_outcome(&key, outcome.is_ok());
        let user = outcome?;
        bind(session, &user).await?;
        Ok(user.into())
    }

    async fn check_password(
        &self,
        key: &str,
        password: &Password,
    ) -> Result<UserRecord, AuthError> {
        let Some((user, hash)) = self.store.account_by_key(key).await? else {
            password::verify_nothing(password).await;
            return Err(AuthError::InvalidCredentials);
        };
        if password::verify(password, &hash).await {
            Ok(user)
        } else {
            Err(AuthError::InvalidCredentials)
        }
    }

    /// Ends the session: its record is deleted and the cookie cleared; the next request
    /// starts a new session with a new id.
    pub async fn log_out(&self, session: &Session) -> Result<(), AuthError> {
        session.flush().await?;
        Ok(())
    }

    /// Gives the session a guest identity named `name` (where guests are allowed); a session
    /// that already has a guest keeps its user (and so its messages) under the new name. The
    /// session id is rotated whenever the identity changes, so a fixed session id cannot be
    /// planted beforehand.
    pub async fn start_guest(
        &self,
        session: &Session,
        client: Option<IpAddr>,
        name: &str,
    ) -> Result<Identity, AuthError> {
        if !self.allow_guests {
            return Err(AuthError::GuestsOff);
        }
        self.limits.auth_attempt(client)?;
        let current = self.identity(session).await?;
        if current.as_ref().is_some_and(|identity| !identity.guest) {
            return Err(AuthError::HasAccount);
        }
        let name = DisplayName::parse(name)?;
        if let Some(current) = current {
            if let Some(renamed) = self
                .store
                .rename_user(current.user_id, name.as_str())
                .await?
            {
                return Ok(renamed.into());
            }
        }
        let user = self.store.create_guest(name.as_str()).await?;
        bind(session, &user).await?;
        Ok(user.into())
    }
}

/// Binds the session to a user under a fresh session id, so an id planted before the log-in
/// (session fixation) is worthless after it.
async fn bind(session: &Session, user: &UserRecord) -> Result<(), AuthError> {
    session.cycle_id().await?;
    session.insert(USER_ID, user.id).await?;
    Ok(())
}
