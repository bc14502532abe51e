//! `GET /healthz` (readiness), `GET /livez` (liveness) and `GET /metrics` (Prometheus).
//!
//! Readiness covers the store, the message writer and the channel layer (with Redis, its
//! publisher and subscriber): 200 when all work, 503 when any is degraded. Liveness only
//! says the process answers: a load balancer that should keep a process serving its local
//! users through a Redis outage checks that one.
//!
//! What the process says about itself stays off the open internet: on the public listener
//! `/healthz` answers only `{"status"}` and `/metrics` does not exist, unless the request
//! carries `--metrics-token` as a bearer token; the private listener (`--metrics-addr`)
//! answers both in full.

use super::{extract::bearer_matches, state::AppState};
use crate::{layer::LayerHealth, telemetry};
use axum::{
    extract::State,
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use serde_json::{json, Value};

/// The health and metrics routes of the public listener.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(public_health))
        .route("/livez", get(|| async { "ok" }))
        .route("/metrics", get(public_metrics))
}

/// The routes of the private listener: everything, without a token.
pub fn private_router(state: AppState) -> Router {
    Router::new()
        .route(
            "/healthz",
            get(|State(state): State<AppState>| async move { health(&state).await }),
        )
        .route("/livez", get(|| async { "ok" }))
        .route("/metrics", get(|| async { metrics() }))
        .with_state(state)
}

fn authorized(state: &AppState, headers: &HeaderMap) -> bool {
    state
        .metrics_token
        .as_deref()
        .is_some_and(|token| bearer_matches(headers, token))
}

async fn public_health(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (status, Json(body)) = health(&state).await;
    if authorized(&state, &headers) {
        (status, Json(body)).into_response()
    } else {
        (status, Json(json!({ "status": body["status"] }))).into_response()
    }
}

async fn public_metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if authorized(&state, &headers) {
        metrics()
    } else {
        super::error::ApiError::not_found("No such endpoint.").into_response()
    }
}

fn metrics() -> Response {
    let mut response = telemetry::render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

async fn health(state: &AppState) -> (StatusCode, Json<Value>) {
    let store_ok = state.chat.store_ok().await;
    let writer_ok = state.chat.writer_ok();
    let layer = state.chat.layer();
    let layer_ok = layer.health() == LayerHealth::Ok;
    let all_ok = store_ok && writer_ok && layer_ok;
    let status = if all_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let word = |ok: bool| if ok { "ok" } else { "degraded" };
    let mut layer_json = json!({ "kind": layer.kind(), "status": word(layer_ok) });
    for (part, ok) in layer.parts() {
        layer_json[part] = json!(word(ok));
    }
    (
        status,
        Json(json!({
            "status": word(all_ok),
            "store": word(store_ok),
            "writer": word(writer_ok),
            "layer": layer_json,
        })),
    )
}
