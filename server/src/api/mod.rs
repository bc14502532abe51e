//! The JSON REST API (`/api/...`): thin handlers over the chat service and the session, used
//! by bots, tests, the load generator and clients without WebSockets. One module per
//! resource, each with its own `router()`.

mod admin;
mod messages;
mod rooms;
mod session;

use crate::{error::ApiError, routes::MAX_BODY_BYTES, state::AppState};
use axum::{
    extract::{rejection::JsonRejection, rejection::QueryRejection, FromRequest, FromRequestParts},
    http::StatusCode,
    routing::any,
    Router,
};

/// Every REST route.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(rooms::router())
        .merge(messages::router())
        .merge(session::router())
        .merge(admin::router())
        // An unknown API path answers in the API's terms, not with the site's HTML 404.
        .route(
            "/api/{*rest}",
            any(|| async { ApiError::NotFound("No such API endpoint.".to_owned()) }),
        )
}

/// `Json<T>` whose rejection is our JSON error body, not axum's plain text.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

/// `Query<T>` whose rejection is our JSON error body.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge(MAX_BODY_BYTES)
        } else {
            ApiError::BadRequest(rejection.body_text())
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::BadRequest(rejection.body_text())
    }
}
