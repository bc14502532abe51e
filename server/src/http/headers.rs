//! Headers every response carries. The Content-Security-Policy, which needs the page's
//! nonce, is set on HTML pages by the shell (`app::security`).

use axum::{
    extract::Request,
    http::{header, HeaderValue},
    middleware::Next,
    response::Response,
};
use tower_http::set_header::SetResponseHeaderLayer;

/// Cache rules for static files (and `Vary: Accept-Encoding`, since they go out
/// precompressed): a file whose name carries its content hash
/// (`/pkg/parlor.<hash>.wasm`) never changes, so browsers keep it a year without asking;
/// other static files are revalidated after an hour (they carry `Last-Modified`).
pub async fn cache_static(request: Request, next: Next) -> Response {
    let rule = static_rule(request.uri().path());
    let mut response = next.run(request).await;
    if let Some(rule) = rule {
        if response.status().is_success() && !response.headers().contains_key(header::CACHE_CONTROL)
        {
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static(rule));
        }
        // The file goes out as its .br, its .gz or itself, by the request's Accept-Encoding
        // (ServeDir's precompressed files): a shared cache must key on it.
        let varies = response
            .headers()
            .get_all(header::VARY)
            .iter()
            .any(|value| value.as_bytes().eq_ignore_ascii_case(b"accept-encoding"));
        if response.status().is_success() && !varies {
            response
                .headers_mut()
                .append(header::VARY, HeaderValue::from_static("accept-encoding"));
        }
    }
    response
}

/// The `Cache-Control` of a static file's path (`None`: not a static file).
fn static_rule(path: &str) -> Option<&'static str> {
    let name = path.rsplit('/').next().unwrap_or("");
    let hashed = path.starts_with("/pkg/") && {
        let mut parts = name.rsplit('.');
        let extension = parts.next().unwrap_or("");
        let hash = parts.next().unwrap_or("");
        matches!(extension, "js" | "wasm" | "css")
            && hash.len() >= 10
            && hash
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && parts.next().is_some()
    };
    if hashed {
        Some("public, max-age=31536000, immutable")
    } else if path.starts_with("/pkg/") || name.ends_with(".svg") || name.ends_with(".ico") {
        Some("public, max-age=3600")
    } else {
        None
    }
}

/// Browsers must not guess content types (a JSON body is never run as a script).
pub fn nosniff() -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    )
}

/// Other sites learn our origin at most, never a room's URL.
pub fn referrer_policy() -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(
        header::REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    )
}

/// No framing (clickjacking), for browsers that predate CSP's frame-ancestors.
pub fn frame_options() -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(
        header::X_FRAME_OPTIONS,
        HeaderValue::from_static("DENY"),
    )
}

#[cfg(test)]
mod tests {
    use super::static_rule;

    #[test]
    fn only_hashed_files_are_immutable() {
        assert_eq!(
            static_rule("/pkg/parlor.Xk2_9aQ-bB3c.wasm"),
            Some("public, max-age=31536000, immutable")
        );
        assert_eq!(
            static_rule("/pkg/parlor.wasm"),
            Some("public, max-age=3600")
        );
        assert_eq!(static_rule("/favicon.svg"), Some("public, max-age=3600"));
        assert_eq!(static_rule("/rooms/lobby"), None);
    }
}
