//! The session cookie: how it is set, and the layer that resolves it on every request.

use tower_sessions::{cookie::SameSite, Expiry, SessionManagerLayer, SessionStore};

/// How the session cookie is set.
#[derive(Clone, Copy, Debug)]
pub struct CookiePolicy {
    /// Only over HTTPS (`--public-url https://…`).
    pub secure: bool,
    /// Days without use before the session expires (use extends it).
    pub idle_days: u32,
}

/// The session layer. HttpOnly: scripts cannot read the cookie. SameSite=Lax: other sites'
/// forms and fetches do not carry it (links to us still do). Secure when served over HTTPS.
pub fn layer<S: SessionStore + Clone>(
    sessions: S,
    cookies: CookiePolicy,
) -> SessionManagerLayer<S> {
    SessionManagerLayer::new(sessions)
        .with_name("parlor_session")
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(cookies.secure)
        // Saved only when it changes: the account service extends an active session's expiry
        // at most once a minute, so a request (a static file, /livez) writes nothing.
        .with_always_save(false)
        .with_expiry(Expiry::OnInactivity(
            tower_sessions::cookie::time::Duration::days(i64::from(cookies.idle_days.max(1))),
        ))
}
