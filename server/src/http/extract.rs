//! What handlers take from a request, in the API's terms: JSON bodies and query strings whose
//! rejections are our JSON errors, the session's identity, and the client's address.

use super::{error::ApiError, state::AppState};
use crate::auth::Identity;
use axum::{
    extract::{
        rejection::{JsonRejection, QueryRejection},
        ConnectInfo, FromRequest, FromRequestParts,
    },
    http::{request::Parts, StatusCode},
};
use std::net::{IpAddr, SocketAddr};
use tower_sessions::Session;

/// Largest request body the API accepts.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// `Json<T>` whose rejection is our JSON error body, not axum's plain text.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

/// `Query<T>` whose rejection is our JSON error body.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(MAX_BODY_BYTES)
        } else if timed_out(&rejection) {
            ApiError::new(
                app::protocol::ErrorCode::Timeout,
                "The request body did not arrive in time.",
            )
        } else {
            ApiError::bad_request(rejection.body_text())
        }
    }
}

/// Whether a body failed because it stopped arriving (the body timeout).
fn timed_out(rejection: &JsonRejection) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(rejection);
    while let Some(current) = source {
        if current.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        source = current.source();
    }
    false
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::bad_request(rejection.body_text())
    }
}

/// The request's identity, if any: for handlers that serve everyone but may act
/// differently for a known user.
pub struct MaybeIdentity(pub Option<Identity>);

impl FromRequestParts<AppState> for MaybeIdentity {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let session = session_of(parts).ok_or_else(no_session)?;
        Ok(MaybeIdentity(state.accounts.identity(&session).await?))
    }
}

/// The request's identity: answers 401 `login_required` without one.
pub struct RequireIdentity(pub Identity);

impl FromRequestParts<AppState> for RequireIdentity {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match MaybeIdentity::from_request_parts(parts, state).await?.0 {
            Some(identity) => Ok(RequireIdentity(identity)),
            None => Err(ApiError::login_required()),
        }
    }
}

/// The client's address, for per-address limits.
pub struct ClientIp(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(parts, state.trust_proxy)))
    }
}

fn no_session() -> ApiError {
    ApiError::internal("no session on the request: is the session layer installed?")
}

/// Whether the request carries `Authorization: Bearer {expected}` (compared in constant
/// time: the comparison must not reveal how much of a guess was right).
pub fn bearer_matches(headers: &axum::http::HeaderMap, expected: &str) -> bool {
    use subtle::ConstantTimeEq;
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or("");
    !expected.is_empty() && bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}

/// Who is at the other end of the connection: the client's address and the connection's
/// slot in the accept loop's gate (a WebSocket keeps it while the socket is open).
pub struct Peer {
    /// The client's address, as [`ClientIp`] gives it.
    pub ip: Option<IpAddr>,
    /// The TCP connection's slot (absent outside Parlor's accept loop).
    pub slot: Option<super::serve::ConnectionSlot>,
}

impl FromRequestParts<AppState> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Peer {
            ip: client_ip(parts, state.trust_proxy),
            slot: parts
                .extensions
                .get::<super::serve::ConnectionSlot>()
                .cloned(),
        })
    }
}

/// The session the session layer attached to these request parts.
pub fn session_of(parts: &Parts) -> Option<Session> {
    parts.extensions.get::<Session>().cloned()
}

/// The client's IP: the peer address, or behind a trusted proxy the last `X-Forwarded-For`
/// entry (the one the proxy itself added; a client can put anything before it, in the same
/// header or an earlier one).
pub fn client_ip(parts: &Parts, trust_proxy: bool) -> Option<IpAddr> {
    if trust_proxy {
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .next_back()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|ip| ip.trim().parse().ok());
        if forwarded.is_some() {
            return forwarded;
        }
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip())
}
