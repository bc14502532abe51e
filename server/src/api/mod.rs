//! The JSON REST API (`/api/...`): thin handlers over the chat and account services, used by
//! bots, tests, the load generator and clients without WebSockets. One module per resource,
//! each with its own `router()`; reading a room's messages (history, polls, the event
//! stream) is a transport and lives in `crate::transport`.

mod activity;
mod admin;
mod messages;
mod private;
mod rooms;
mod search;
mod session;

use crate::http::{error::ApiError, state::AppState};
use axum::{routing::any, Router};

/// Every REST route.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(rooms::router())
        .merge(messages::router())
        .merge(private::router())
        .merge(search::router())
        .merge(activity::router())
        .merge(session::router())
        .merge(admin::router())
        // An unknown API path answers in the API's terms, not with the site's HTML 404.
        .route(
            "/api/{*rest}",
            any(|| async { ApiError::not_found("No such API endpoint.") }),
        )
}

/// 201 for something new, 200 for a retry that found the earlier one.
fn created_or_found(duplicate: bool) -> axum::http::StatusCode {
    if duplicate {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::CREATED
    }
}
