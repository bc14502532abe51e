//! Origin checks: the defence against cross-site WebSocket hijacking and cross-site form
//! posts (Django's `AllowedHostsOriginValidator` and CSRF origin check, in one place).
//!
//! A browser always sends `Origin` on WebSocket handshakes and on POST/DELETE; it is allowed
//! when it names this server (same host as the `Host` header) or one of `--allowed-origin`.

use super::error::ApiError;
use axum::{
    extract::{Request, State},
    http::{header, HeaderMap, Method},
    middleware::Next,
    response::{IntoResponse, Response},
};
use std::sync::Arc;

/// Which origins may talk to us.
#[derive(Clone, Debug, Default)]
pub struct OriginPolicy {
    /// Extra allowed origins, normalised (`scheme://host[:port]`, lower case).
    allowed: Vec<String>,
}

/// What a request's `Origin` header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OriginCheck {
    /// Same origin, or an allowed one.
    Allowed,
    /// No `Origin` header: not a browser's cross-site request (curl, bots, the CLI).
    Missing,
    /// Another site (or `null`).
    Refused,
}

impl OriginPolicy {
    /// A policy allowing this server's own origin plus `allowed`.
    pub fn new(allowed: &[String]) -> Self {
        Self {
            allowed: allowed.iter().map(|o| normalise(o)).collect(),
        }
    }

    /// Checks a request's headers.
    pub fn check(&self, headers: &HeaderMap) -> OriginCheck {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return OriginCheck::Missing;
        };
        let Ok(origin) = origin.to_str() else {
            return OriginCheck::Refused;
        };
        let origin = normalise(origin);
        if self.allowed.contains(&origin) {
            return OriginCheck::Allowed;
        }
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_ascii_lowercase);
        let authority = origin
            .split_once("://")
            .map(|(_, rest)| rest)
            .filter(|rest| !rest.is_empty());
        match (authority, host) {
            (Some(authority), Some(host)) if authority == host => OriginCheck::Allowed,
            _ => OriginCheck::Refused,
        }
    }

    /// Whether a state-changing request with these headers may proceed (see [`guard`]).
    pub fn allows_unsafe_request(&self, headers: &HeaderMap) -> bool {
        match self.check(headers) {
            OriginCheck::Allowed => true,
            OriginCheck::Refused => false,
            OriginCheck::Missing => !matches!(
                headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()),
                Some("cross-site" | "same-site")
            ),
        }
    }
}

fn normalise(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// Refuses state-changing requests (anything but GET, HEAD, OPTIONS) from other origins with
/// 403 before any handler runs.
///
/// Browsers send `Origin` on every such request, same-origin ones included. Without it, a
/// browser's `Sec-Fetch-Site` still tells a cross-site request apart; with neither header
/// the request does not come from a browser at all (curl, bots, the CLI), cannot be a
/// cross-site forgery, and passes.
pub async fn guard(
    State(policy): State<Arc<OriginPolicy>>,
    request: Request,
    next: Next,
) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if !safe && !policy.allows_unsafe_request(request.headers()) {
        return ApiError::bad_origin().into_response();
    }
    next.run(request).await
}
#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_str(host).expect("header"));
        if let Some(origin) = origin {
            headers.insert(
                header::ORIGIN,
                HeaderValue::from_str(origin).expect("header"),
            );
        }
        headers
    }

    #[test]
    fn same_origin_passes_and_others_do_not() {
        let policy = OriginPolicy::new(&["https://Chat.Example.com/".to_owned()]);
        assert_eq!(
            policy.check(&headers(Some("http://127.0.0.1:3000"), "127.0.0.1:3000")),
            OriginCheck::Allowed
        );
        assert_eq!(
            policy.check(&headers(Some("https://chat.example.com"), "internal:8080")),
            OriginCheck::Allowed
        );
        assert_eq!(
            policy.check(&headers(Some("http://evil.example"), "127.0.0.1:3000")),
            OriginCheck::Refused
        );
        assert_eq!(
            policy.check(&headers(Some("http://127.0.0.1:3001"), "127.0.0.1:3000")),
            OriginCheck::Refused,
            "another port is another origin"
        );
        assert_eq!(
            policy.check(&headers(Some("null"), "127.0.0.1:3000")),
            OriginCheck::Refused
        );
        assert_eq!(
            policy.check(&headers(None, "127.0.0.1:3000")),
            OriginCheck::Missing
        );
    }
}
