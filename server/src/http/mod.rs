//! The HTTP edge: everything that knows HTTP. It admits requests (body limits, the Origin
//! rule, connection slots, the session cookie resolved into an identity) and mounts the REST
//! API (`crate::api`), the transports (`crate::transport`), the health checks and the
//! Leptos pages, with the middleware around them. Past this edge, nothing knows HTTP.
//!
//! - [`state`]: what handlers reach; [`error`]: the API's error bodies; [`extract`]: bodies,
//!   queries, identities and client addresses in the API's terms;
//! - [`serve`]: the accept loop (header, idle and stall timeouts, per-address and total
//!   connection caps through a [`gate`], [`stall`] detection);
//! - [`origin`]: the Origin checks; [`admission`]: connection admission for the transports;
//! - [`sessions`]: the cookie; [`headers`]: security headers; [`health`]: `/healthz`;
//! - [`backend`]: the server functions' port onto the same services.

pub mod admission;
pub mod backend;
pub mod error;
pub mod extract;
pub mod gate;
pub mod headers;
pub mod health;
pub mod origin;
pub mod serve;
pub mod sessions;
pub mod stall;
pub mod state;

use crate::{api, transport};
use app::{backend::SharedBackend, shell, App};
use axum::{extract::DefaultBodyLimit, middleware, Router};
use backend::ServerBackend;
use error::ApiError;
use extract::MAX_BODY_BYTES;
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};
use sessions::CookiePolicy;
use state::AppState;
use std::{sync::Arc, time::Duration};
use tower_http::{
    compression::{CompressionLayer, CompressionLevel},
    limit::RequestBodyLimitLayer,
    services::ServeDir,
    timeout::RequestBodyTimeoutLayer,
    trace::{DefaultOnFailure, TraceLayer},
};
use tower_sessions::SessionStore;

/// The compression quality of responses made per request (pages, API bodies): brotli 4 and
/// gzip 4, the usual setting for dynamic content.
const PAGE_COMPRESSION: i32 = 4;

/// Builds the application router.
pub fn router<S: SessionStore + Clone>(
    state: AppState,
    sessions: S,
    cookies: CookiePolicy,
    body_timeout: Duration,
) -> Router {
    let backend: SharedBackend = Arc::new(ServerBackend::new(state.clone()));
    let pages = generate_route_list(App);
    let leptos_options = state.leptos.clone();
    let page_context = move || provide_context(backend.clone());
    Router::new()
        .merge(transport::router())
        .merge(api::router())
        .merge(health::router())
        .leptos_routes_with_context(&state, pages, page_context.clone(), move || {
            shell(leptos_options.clone())
        })
        // Static files, else the app's 404 page (which needs the backend too). Files are
        // served by ServeDir alone, never inside a Leptos render: a page rendering at the
        // same moment must not lend its response options (a 404 status, its CSP) to them.
        .fallback_service(static_files(&state, page_context))
        .layer(middleware::from_fn_with_state(
            state.admission.origins().clone(),
            origin::guard,
        ))
        .layer(middleware::from_fn_with_state(
            state.admission.origins().clone(),
            origin::host_guard,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        // Server functions read their bodies without axum's extractors: cap every body.
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        // A client that trickles its body out holds a request open: it gets this long.
        // (Outside the limit, so a body over the limit still reads as "too large".)
        .layer(RequestBodyTimeoutLayer::new(body_timeout))
        .layer(middleware::from_fn(api_error_bodies))
        .layer(sessions::layer(sessions, cookies))
        // Brotli's own default is its slowest quality (11), which cost 3.5 ms of CPU on a
        // 40 KB room page; 4 is what CDNs use for pages made per request: within a few
        // percent of the size, at a fraction of the CPU. (Site files are precompressed at 11.)
        .layer(CompressionLayer::new().quality(CompressionLevel::Precise(PAGE_COMPRESSION)))
        .layer(headers::nosniff())
        .layer(headers::referrer_policy())
        .layer(headers::frame_options())
        .layer(middleware::from_fn(headers::cache_static))
        // Failures are logged where they happen (`ApiError`, the layer's state changes);
        // tower-http's line per 5xx would repeat them once per request — a monitor polling
        // /healthz while Redis is away would log an error every poll.
        .layer(
            TraceLayer::new_for_http()
                .on_failure(DefaultOnFailure::new().level(tracing::Level::DEBUG)),
        )
        .with_state(state)
}

/// The site's files (`target/site`: the hashed JS, WASM and CSS, the favicon), or the app's
/// 404 page for a path that is not a file.
fn static_files(
    state: &AppState,
    page_context: impl Fn() + Clone + Send + 'static,
) -> ServeDir<
    impl tower::Service<
            axum::extract::Request,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
            Future = impl Send,
        > + Clone,
> {
    let not_found =
        leptos_axum::file_and_error_handler_with_context::<AppState, _>(page_context, shell);
    let root = state.leptos.site_root.clone();
    let state = state.clone();
    let page = tower::service_fn(move |request: axum::extract::Request| {
        let (not_found, state) = (not_found.clone(), state.clone());
        async move {
            let uri = request.uri().clone();
            Ok::<_, std::convert::Infallible>(
                not_found(uri, axum::extract::State(state), request).await,
            )
        }
    });
    ServeDir::new(&*root)
        .precompressed_br()
        .precompressed_gzip()
        // The app's 404 page for any method, as before (ServeDir alone answers 405).
        .call_fallback_on_method_not_allowed(true)
        .fallback(page)
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
        return axum::response::IntoResponse::into_response(ApiError::too_large(MAX_BODY_BYTES));
    }
    response
}
