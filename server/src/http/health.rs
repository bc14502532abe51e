//! `GET /healthz` (readiness) and `GET /livez` (liveness).
//!
//! Readiness covers the store, the message writer and the channel layer: 200 when all work,
//! 503 when any is degraded. Liveness only says the process answers: a load balancer that
//! should keep a process serving its local users through a Redis outage checks that one.

use super::state::AppState;
use crate::layer::LayerHealth;
use axum::{extract::State, http::StatusCode, routing::get, Json, Router};
use serde_json::json;

/// The two health routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(health))
        .route("/livez", get(|| async { "ok" }))
}

async fn health(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
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
    (
        status,
        Json(json!({
            "status": word(all_ok),
            "store": word(store_ok),
            "writer": word(writer_ok),
            "layer": { "kind": layer.kind(), "status": word(layer_ok) },
        })),
    )
}
