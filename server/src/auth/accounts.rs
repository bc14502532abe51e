//! The account service: sign-up, log-in, guest sessions, log-out and revocation, with their
//! limits, for every way in (the REST API, the pages' server functions, plain HTML forms).
//!
//! The limits are applied here, by the operation, not by matching URL paths: renaming an
//! endpoint cannot turn them off. Every attempt counts against the client address's budget;
//! new identities also against its hourly sign-up budget; log-ins reserve an attempt on the
//! account before the password is checked. Password hashing goes through a bounded
//! [`Hasher`].
//!
//! Sessions: the store row is written when something changes and at most once a minute to
//! extend the session's expiry ([`SessionPolicy::touch_every`]), not on every request; a
//! session also ends after an absolute lifetime, when its account's sessions are revoked, and
//! (for guests) when guests are turned off. Ending a session tells its open connections on
//! every process to close.

use super::{password::Hasher, user_group, AuthError, Identity};
use crate::{
    layer::{ChannelLayer, Delivery},
    limits::Limits,
    store::{Store, StoreError, UserRecord},
};
use app::domain::{DisplayName, Password, Username};
use std::{net::IpAddr, sync::Arc, time::Duration};
use tower_sessions::Session;

/// The session keys.
const USER_ID: &str = "user_id";
/// When the session was bound (Unix ms): the absolute lifetime counts from here.
const BOUND_AT: &str = "bound_at";
/// When the session's expiry was last extended (Unix ms).
const TOUCHED_AT: &str = "touched_at";
/// The account's session epoch when the session was bound.
const EPOCH: &str = "epoch";
/// The session's handle: names it in the layer, without giving away its id.
const HANDLE: &str = "handle";

/// How sessions live and end.
#[derive(Clone, Copy, Debug)]
pub struct SessionPolicy {
    /// Whether visitors may chat under a display name without an account.
    pub allow_guests: bool,
    /// A session ends this long after it was bound, however active.
    pub max_age: Duration,
    /// The session's row is rewritten (its expiry extended) at most this often.
    pub touch_every: Duration,
}

/// Accounts and guest identities, bound to sessions. Cheap to clone.
#[derive(Clone)]
pub struct Accounts {
    /// Where users live.
    store: Store,
    /// Attempts per client address and per account.
    limits: Arc<Limits>,
    /// How sessions live.
    policy: SessionPolicy,
    /// Argon2, bounded.
    hasher: Hasher,
    /// Where ended sessions are announced.
    layer: Arc<dyn ChannelLayer>,
}

impl Accounts {
    /// The service over `store`, with these limits, policy and hasher; ended sessions are
    /// announced on `layer`.
    pub fn new(
        store: Store,
        limits: Arc<Limits>,
        policy: SessionPolicy,
        hasher: Hasher,
        layer: Arc<dyn ChannelLayer>,
    ) -> Self {
        Self {
            store,
            limits,
            policy,
            hasher,
            layer,
        }
    }

    /// Whether guest sessions are allowed.
    pub fn guests_allowed(&self) -> bool {
        self.policy.allow_guests
    }

    /// The password hasher (its queue depth is a metric).
    pub fn hasher(&self) -> &Hasher {
        &self.hasher
    }

    /// The identity bound to this session, if it still is one: the user exists, the session
    /// is within its lifetime and its account's epoch, and guests are allowed if it is a
    /// guest. A session past any of these is ended. Extends the session's expiry at most
    /// once per [`SessionPolicy::touch_every`].
    pub async fn identity(&self, session: &Session) -> Result<Option<Identity>, AuthError> {
        let Some(user_id) = session.get::<i64>(USER_ID).await? else {
            return Ok(None);
        };
        let now = crate::store::now_millis();
        let bound_at = session.get::<i64>(BOUND_AT).await?.unwrap_or(now);
        let Some(user) = self.store.user_by_id(user_id).await? else {
            session.flush().await?;
            return Ok(None);
        };
        let epoch = session.get::<i64>(EPOCH).await?.unwrap_or(0);
        let expired = now.saturating_sub(bound_at) > millis(self.policy.max_age);
        let revoked = epoch != user.session_epoch;
        let guests_off = user.is_guest && !self.policy.allow_guests;
        if expired || revoked || guests_off {
            session.flush().await?;
            return Ok(None);
        }
        let handle = self.touch(session, now, bound_at).await?;
        let mut identity = Identity::from(user);
        identity.session = handle;
        Ok(Some(identity))
    }

    /// Extends the session's expiry when the last extension is old enough (the one write of
    /// an active session per interval), and returns its handle.
    async fn touch(&self, session: &Session, now: i64, bound_at: i64) -> Result<u64, AuthError> {
        let touched_at = session.get::<i64>(TOUCHED_AT).await?.unwrap_or(0);
        let handle = session.get::<u64>(HANDLE).await?;
        if now.saturating_sub(touched_at) >= millis(self.policy.touch_every) || handle.is_none() {
            session.insert(TOUCHED_AT, now).await?;
            session.insert(BOUND_AT, bound_at).await?;
            if handle.is_none() {
                session.insert(HANDLE, new_handle()).await?;
            }
        }
        Ok(session.get::<u64>(HANDLE).await?.unwrap_or(0))
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
        // A taken name is refused before the expensive hash (the insert still decides).
        if self.store.username_taken(&username.key()).await? {
            return Err(AuthError::UsernameTaken(username.to_string()));
        }
        self.limits.signup(client)?;
        let hash = self.hasher.hash(&password).await?;
        let user = self
            .store
            .create_account(username.as_str(), &username.key(), &hash)
            .await
            .map_err(|error| match error {
                StoreError::Duplicate => AuthError::UsernameTaken(username.to_string()),
                other => AuthError::Store(other),
            })?;
        self.bind(session, user).await
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
        self.limits.reserve_login(&key)?;
        let user = self.check_password(&key, &password).await?;
        self.limits.login_succeeded(&key);
        self.bind(session, user).await
    }

    async fn check_password(
        &self,
        key: &str,
        password: &Password,
    ) -> Result<UserRecord, AuthError> {
        let Some((user, hash)) = self.store.account_by_key(key).await? else {
            self.hasher.verify_nothing(password).await?;
            return Err(AuthError::InvalidCredentials);
        };
        if self.hasher.verify(password, &hash).await? {
            Ok(user)
        } else {
            Err(AuthError::InvalidCredentials)
        }
    }

    /// Ends the session: its record is deleted, the cookie cleared, and its open
    /// connections, on every process, are closed. The next request starts a new session.
    pub async fn log_out(&self, session: &Session) -> Result<(), AuthError> {
        let user_id = session.get::<i64>(USER_ID).await?;
        let handle = session.get::<u64>(HANDLE).await?.unwrap_or(0);
        session.flush().await?;
        if let (Some(user_id), true) = (user_id, handle != 0) {
            self.announce_end(user_id, handle).await;
        }
        Ok(())
    }

    /// Ends every session of this session's account (log out everywhere), closing all their
    /// connections on every process.
    pub async fn revoke_all(&self, session: &Session) -> Result<(), AuthError> {
        let Some(identity) = self.identity(session).await? else {
            return Err(AuthError::LoginRequired);
        };
        self.store.revoke_sessions(identity.user_id).await?;
        session.flush().await?;
        self.announce_end(identity.user_id, 0).await;
        Ok(())
    }

    async fn announce_end(&self, user_id: i64, session: u64) {
        let ended = Delivery::SessionEnded { session };
        if let Err(error) = self.layer.group_send(&user_group(user_id), ended).await {
            tracing::warn!(%error, "telling a session's connections to close failed");
        }
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
        if !self.policy.allow_guests {
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
                let mut identity = Identity::from(renamed);
                identity.session = current.session;
                return Ok(identity);
            }
        }
        self.limits.signup(client)?;
        let user = self.store.create_guest(name.as_str()).await?;
        self.bind(session, user).await
    }

    /// Binds the session to a user under a fresh session id, so an id planted before the
    /// log-in (session fixation) is worthless after it.
    async fn bind(&self, session: &Session, user: UserRecord) -> Result<Identity, AuthError> {
        let now = crate::store::now_millis();
        let handle = new_handle();
        session.cycle_id().await?;
        session.insert(USER_ID, user.id).await?;
        session.insert(EPOCH, user.session_epoch).await?;
        session.insert(BOUND_AT, now).await?;
        session.insert(TOUCHED_AT, now).await?;
        session.insert(HANDLE, handle).await?;
        let mut identity = Identity::from(user);
        identity.session = handle;
        Ok(identity)
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// A random, non-zero session handle.
fn new_handle() -> u64 {
    let mut bytes = [0u8; 8];
    let handle = if getrandom::fill(&mut bytes).is_ok() {
        u64::from_le_bytes(bytes)
    } else {
        crate::store::now_millis().unsigned_abs()
    };
    handle.max(1)
}
