//! The UI's port to the server: the few things server functions need, as a trait that the
//! `server` crate implements and provides through Leptos context.
//!
//! This keeps `app` free of sqlx, redis and tower-sessions (which must never reach the WASM
//! build), and keeps server functions as thin as REST handlers: both call the same services.

use crate::{
    error::AppError,
    pages::RoomPageData,
    protocol::{ChatMessage, RoomList, RoomSummary, SessionInfo, Viewer},
};
use http::request::Parts;
use std::sync::Arc;

/// The services behind Parlor's pages. Methods that depend on who is asking take the request's
/// `Parts`, from which the implementation reads the session. Inputs arrive raw: the services
/// behind the trait parse them, exactly as they do for the REST API.
#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Who the session belongs to, if anyone, and what a visitor may do.
    async fn session(&self, req: &Parts) -> Result<SessionInfo, AppError>;

    /// Creates an account and logs the session into it.
    async fn sign_up(
        &self,
        req: &Parts,
        username: &str,
        password: &str,
    ) -> Result<Viewer, AppError>;

    /// Logs the session into an account.
    async fn log_in(&self, req: &Parts, username: &str, password: &str)
        -> Result<Viewer, AppError>;

    /// Ends the session.
    async fn log_out(&self, req: &Parts) -> Result<(), AppError>;

    /// Renames a room (owner only).
    async fn rename_room(
        &self,
        req: &Parts,
        slug: &str,
        title: &str,
    ) -> Result<RoomSummary, AppError>;

    /// Deletes a room (owner only).
    async fn delete_room(&self, req: &Parts, slug: &str) -> Result<(), AppError>;

    /// A page of the room list (most active first), after `cursor`, with the session's
    /// unread counts.
    async fn list_rooms(&self, req: &Parts, cursor: Option<&str>) -> Result<RoomList, AppError>;

    /// Creates a room owned by the session's identity; with `members` (usernames) it is
    /// private to them and the owner.
    async fn create_room(
        &self,
        req: &Parts,
        slug: &str,
        title: &str,
        members: Option<Vec<String>>,
    ) -> Result<RoomSummary, AppError>;

    /// The newest messages with every word of `query` in the rooms the session may read.
    async fn search(&self, req: &Parts, query: &str) -> Result<Vec<ChatMessage>, AppError>;

    /// The direct-message room of the session's user and the account `username`.
    async fn open_direct(&self, req: &Parts, username: &str) -> Result<RoomSummary, AppError>;

    /// A room and its latest `limit` messages (oldest first), or `NotFound`.
    async fn room_page(
        &self,
        req: &Parts,
        slug: &str,
        limit: u32,
    ) -> Result<RoomPageData, AppError>;

    /// Gives the session a guest identity with this display name.
    async fn start_guest(&self, req: &Parts, name: &str) -> Result<Viewer, AppError>;

    /// Posts a message through the chat service (the form fallback when there is no WASM).
    async fn post_message(
        &self,
        req: &Parts,
        slug: &str,
        text: &str,
        client_id: Option<&str>,
    ) -> Result<ChatMessage, AppError>;
}

/// How the backend travels through Leptos context.
pub type SharedBackend = Arc<dyn Backend>;

/// The backend and the current request, for a server function.
fn request() -> Result<(SharedBackend, Parts), AppError> {
    let backend = leptos::prelude::use_context::<SharedBackend>().ok_or_else(|| {
        leptos::logging::error!("no Backend in Leptos context");
        AppError::internal()
    })?;
    let parts = leptos::prelude::use_context::<Parts>().ok_or_else(|| {
        leptos::logging::error!("no request Parts in Leptos context");
        AppError::internal()
    })?;
    Ok((backend, parts))
}

/// A server function's body, given the backend and the request; a failure (the context
/// missing included) gets its HTTP status through [`respond`].
pub(crate) async fn serve<T, F, Fut>(body: F) -> Result<T, AppError>
where
    F: FnOnce(SharedBackend, Parts) -> Fut,
    Fut: std::future::Future<Output = Result<T, AppError>>,
{
    let result = match request() {
        Ok((backend, parts)) => body(backend, parts).await,
        Err(error) => Err(error),
    };
    respond(result)
}

/// Gives a failed server function a fitting HTTP status (422, 409, 404, …) instead of 500.
/// Plain HTML form posts (no WASM yet) are left alone: they must stay redirects back to the
/// page, which then shows the error.
fn respond<T>(result: Result<T, AppError>) -> Result<T, AppError> {
    use leptos::prelude::use_context;
    if let Err(error) = &result {
        let response = use_context::<leptos_axum::ResponseOptions>();
        let parts = use_context::<Parts>();
        if let (Some(response), Some(parts)) = (response, parts) {
            if !is_plain_form(&parts) {
                if let Ok(status) = http::StatusCode::from_u16(error.code.http_status()) {
                    response.set_status(status);
                }
            }
            if let Some(retry_after) = error.retry_after {
                if let Ok(value) = http::HeaderValue::from_str(&retry_after.to_string()) {
                    response.insert_header(http::header::RETRY_AFTER, value);
                }
            }
        }
    }
    result
}

/// Whether the request is a browser's plain form post (no WASM), which expects a page back.
pub(crate) fn is_plain_form(parts: &Parts) -> bool {
    parts
        .headers
        .get(http::header::ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}
