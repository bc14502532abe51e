//! The JSON REST API (`/api/...`): thin handlers over the chat service and the session, used
//! by bots, tests, the load generator and clients without WebSockets. One module per
//! resource, each with its own `router()`.

mod admin;
mod messages;
mod rooms;
mod session;

use crate::{error::ApiError, state::AppState};
use axum::{
    extract::{rejection::JsonRejection, rejection::QueryRejection, FromRequest, FromRequestParts},
    Router,
};

/// Every REST route.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(rooms::router())
        .merge(messages::router())
        .merge(session::router())
        .merge(admin::router())
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
        ApiError::BadRequest(rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::BadRequest(rejection.body_text())
    }
}
