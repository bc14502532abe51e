//! Headers every response carries. The Content-Security-Policy, which needs the page's
//! nonce, is set on HTML pages by the shell (`app::security`).

use axum::http::{header, HeaderValue};
use tower_http::set_header::SetResponseHeaderLayer;

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
