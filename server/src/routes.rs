//! The router: every route and the middleware around them, assembled in one place.

use crate::{
    api, backend::ServerBackend, error::ApiError, layer::LayerHealth, origin, state::AppState,
    transport,
};
use app::{backend::SharedBackend, shell, App};
use axum::{
    extract::{DefaultBodyLimit, State},
    http::StatusCode,
    middleware,
    routing::get,
    Json, Router,
};
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};
use serde_json::json;
use std::sync::Arc;
use tower_http::{
    compression::CompressionLayer,
    limit::RequestBodyLimitLayer,
    trace::{DefaultOnFailure, TraceLayer},
};
use tower_sessions::{cookie::SameSite, Expiry, SessionManagerLayer, SessionStore};

/// Largest request body the API accepts.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// How the session cookie is set.
#[derive(Clone, Copy, Debug)]
pub struct CookiePolicy {
    /// Only over HTTPS (`--public-url https://…`).
    pub secure: bool,
    /// Days without use before the session expires (each use extends it).
    pub idle_days: u32,
}

/// Builds the application router.
pub fn router<S: SessionStore + Clone>(
    state: AppState,
    sessions: S,
    cookies: CookiePolicy,
) -> Router {
    let backend: SharedBackend = Arc::new(ServerBackend::new(state.clone()));
    let pages = generate_route_list(App);
    let leptos_options = state.leptos.clone();

    // HttpOnly: scripts cannot read it. SameSite=Lax: other sites' forms and fetches do not
    // carry it (links to us still do). Secure when served over HTTPS.
    let session_layer = SessionManagerLayer::new(sessions)
        .with_name("parlor_session")
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(cookies.secure)
        // Save on every use, so an active session keeps moving its expiry forward.
        .with_always_save(true)
        .with_expiry(Expiry::OnInactivity(
            tower_sessions::cookie::time::Duration::days(i64::from(cookies.idle_days.max(1))),
        ));

    let page_context = move || provide_context(backend.clone());
    Router::new()
        .route("/ws/rooms/{slug}", get(transport::ws::handler))
        .route("/healthz", get(health))
        .route("/livez", get(|| async { "ok" }))
        .merge(api::router())
        .leptos_routes_with_context(&state, pages, page_context.clone(), move || {
            shell(leptos_options.clone())
        })
        // Static files, else the app's 404 page (which needs the backend too).
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(page_context, shell))
        // Inner to outer: the rate limit only counts requests the origin guard let through,
        // so another site cannot spend a visitor's log-in budget.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth_rate_limit,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), origin::guard))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        // Server functions read their bodies without axum's extractors: cap every body.
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(middleware::from_fn(api_error_bodies))
        .layer(session_layer)
        .layer(CompressionLayer::new())
        .layer(security_headers::nosniff())
        .layer(security_headers::referrer_policy())
        .layer(security_headers::frame_options())
        // Failures are logged where they happen (`ApiError::internal`, the layer's state
        // changes); tower-http's line per 5xx would repeat them once per request — a
        // monitor polling /healthz while Redis is away would log an error every poll.
        .layer(
            TraceLayer::new_for_http()
                .on_failure(DefaultOnFailure::new().level(tracing::Level::DEBUG)),
        )
        .with_state(state)
}

/// The body limit answers a too-large request itself, in plain text, before any handler
/// runs; under `/api/` the client expects the API's JSON error body.
async fn api_error_bodies(
    request: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    let api = request.uri().path().starts_with("/api/");
    let response = next.run(request).await;
    let plain = !response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/json"));
    if api && plain && response.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        return axum::response::IntoResponse::into_response(ApiError::TooLarge(MAX_BODY_BYTES));
    }
    response
}

/// Log-in and sign-up attempts are limited per client IP, whichever way they come: the REST
/// API or the pages' server functions (plain forms included).
async fn auth_rate_limit(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    // Creating identities is limited too: each guest would get its own message budget.
    const AUTH_PATHS: [&str; 6] = [
        "/api/login",
        "/api/signup",
        "/api/session/guest",
        "/fn/login",
        "/fn/signup",
        "/fn/guest",
    ];
    if request.method() == axum::http::Method::POST && AUTH_PATHS.contains(&request.uri().path()) {
        let (parts, body) = request.into_parts();
        if let Err(limited) = state.limits.auth_attempt(state.client_ip(&parts)) {
            return axum::response::IntoResponse::into_response(limited);
        }
        return next
            .run(axum::extract::Request::from_parts(parts, body))
            .await;
    }
    next.run(request).await
}

/// Headers every response carries. The Content-Security-Policy, which needs the page's
/// nonce, is set on HTML pages by the shell (`app::security`).
mod security_headers {
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
}

/// `GET /healthz` (readiness): the store and the channel layer; 200 when both work, 503 when
/// either is degraded. `GET /livez` (liveness) only says the process answers: a load
/// balancer that should keep a process serving its local users through a Redis outage
/// checks that one instead.
async fn health(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    let store_ok = state.store.ping().await.is_ok();
    let layer = state.chat.layer();
    let layer_ok = layer.health() == LayerHealth::Ok;
    let status = if store_ok && layer_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let word = |ok: bool| if ok { "ok" } else { "degraded" };
    (
        status,
        Json(json!({
            "status": word(store_ok && layer_ok),
            "store": word(store_ok),
            "layer": { "kind": layer.kind(), "status": word(layer_ok) },
        })),
    )
}
