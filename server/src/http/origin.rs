//! Origin checks: the defence against cross-site WebSocket hijacking and cross-site form
//! posts (Django's `AllowedHostsOriginValidator` and CSRF origin check, in one place).
//!
//! A browser always sends `Origin` on WebSocket handshakes and on POST/DELETE; it is allowed
//! when it names this server — the same scheme, host and port as the request (`Host`, and
//! behind a trusted proxy `X-Forwarded-Proto`) — or is `--public-url` or one of
//! `--allowed-origin`.
//!
//! With `--public-url` set, the server also refuses requests whose `Host` is not one of its
//! names ([`host_guard`]): a page on an attacker's domain that resolves to this server (DNS
//! rebinding) cannot talk to it as if it were same-origin.

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
    /// The hosts (`host[:port]`) this server answers to when `--public-url` is set: the public
    /// URL's and the allowed origins'. Empty: any `Host`.
    hosts: Vec<String>,
    /// Whether `X-Forwarded-Proto` tells the request's scheme (behind a trusted proxy).
    trust_proxy: bool,
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
    /// A policy allowing this server's own origin plus `allowed` (which includes the public
    /// URL, if any); `public_url` also limits the `Host`s answered.
    pub fn new(allowed: &[String], public_url: Option<&str>, trust_proxy: bool) -> Self {
        let allowed: Vec<String> = allowed.iter().map(|o| normalise(o)).collect();
        let hosts = match public_url {
            Some(_) => allowed
                .iter()
                .filter_map(|o| authority(o))
                .map(str::to_owned)
                .collect(),
            None => Vec::new(),
        };
        Self {
            allowed,
            hosts,
            trust_proxy,
        }
    }

    /// Whether a request for this `Host` may be answered.
    pub fn allows_host(&self, headers: &HeaderMap) -> bool {
        if self.hosts.is_empty() {
            return true;
        }
        headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .is_some_and(|host| {
                self.hosts
                    .iter()
                    .any(|known| known.eq_ignore_ascii_case(host))
            })
    }

    /// The request's own origin: its scheme and its `Host`.
    fn own_origin(&self, headers: &HeaderMap) -> Option<String> {
        let host = headers.get(header::HOST)?.to_str().ok()?;
        let scheme = self
            .trust_proxy
            .then(|| headers.get("x-forwarded-proto"))
            .flatten()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .filter(|scheme| matches!(*scheme, "http" | "https"))
            .unwrap_or("http");
        Some(normalise(&format!("{scheme}://{host}")))
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
        if self.allowed.contains(&origin) || self.own_origin(headers).as_ref() == Some(&origin) {
            OriginCheck::Allowed
        } else {
            OriginCheck::Refused
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

/// `host[:port]` of a normalised origin.
fn authority(origin: &str) -> Option<&str> {
    origin
        .split_once("://")
        .map(|(_, rest)| rest)
        .filter(|rest| !rest.is_empty())
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

/// Refuses a request whose `Host` is not one of this server's names (when `--public-url` is
/// set), except the health checks, which load balancers make by address.
pub async fn host_guard(
    State(policy): State<Arc<OriginPolicy>>,
    request: Request,
    next: Next,
) -> Response {
    let health = matches!(request.uri().path(), "/healthz" | "/livez" | "/metrics");
    if !health && !policy.allows_host(request.headers()) {
        return ApiError::new(
            app::protocol::ErrorCode::BadOrigin,
            "This server does not answer to that host name.",
        )
        .into_response();
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
        let policy = OriginPolicy::new(&["https://Chat.Example.com/".to_owned()], None, false);
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
        assert_eq!(
            policy.check(&headers(Some("https://127.0.0.1:3000"), "127.0.0.1:3000")),
            OriginCheck::Refused,
            "another scheme is another origin"
        );
    }

    #[test]
    fn behind_a_trusted_proxy_the_forwarded_scheme_counts() {
        let mut forwarded = headers(Some("https://chat.internal"), "chat.internal");
        forwarded.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert_eq!(
            OriginPolicy::new(&[], None, true).check(&forwarded),
            OriginCheck::Allowed
        );
        assert_eq!(
            OriginPolicy::new(&[], None, false).check(&forwarded),
            OriginCheck::Refused,
            "without --trust-proxy the header is not believed"
        );
    }

    #[test]
    fn with_a_public_url_only_its_hosts_are_answered() {
        let public = "https://chat.example.com".to_owned();
        let policy = OriginPolicy::new(std::slice::from_ref(&public), Some(&public), false);
        assert!(policy.allows_host(&headers(None, "chat.example.com")));
        assert!(policy.allows_host(&headers(None, "CHAT.example.com")));
        assert!(!policy.allows_host(&headers(None, "attacker.example")));
        assert!(OriginPolicy::new(&[], None, false).allows_host(&headers(None, "anything")));
    }
}
