//! The router: every route and the middleware around them, assembled in one place.

use crate::{api, backend::ServerBackend, layer::LayerHealth, origin, state::AppState, transport};
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
use tower_http::{compression::CompressionLayer, trace::TraceLayer};
use tower_sessions::{cookie::SameSite, Expiry, SessionManagerLayer, SessionStore};

/// How long a session lives without use (each use extends it).
const SESSION_IDLE_DAYS: i64 = 14;
/// Largest request body the API accepts.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// Builds the application router.
pub fn router<S: SessionStore + Clone>(state: AppState, sessions: S) -> Router {
    let backend: SharedBackend =
        Arc::new(ServerBackend::new(state.chat.clone(), state.store.clone()));
    let pages = generate_route_list(App);
    let leptos_options = state.leptos.clone();

    let session_layer = SessionManagerLayer::new(sessions)
        .with_name("parlor_session")
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(false)
        .with_expiry(Expiry::OnInactivity(
            tower_sessions::cookie::time::Duration::days(SESSION_IDLE_DAYS),
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
        .layer(middleware::from_fn_with_state(state.clone(), origin::guard))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(session_layer)
        .layer(CompressionLayer::new())
        .layer(TraceLayer::new_for_http())
        .with_state(state)
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
