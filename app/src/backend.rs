//! The UI's port to the server: the few things server functions need, as a trait that the
//! `server` crate implements and provides through Leptos context.
//!
//! This keeps `app` free of sqlx, redis and tower-sessions (which must never reach the WASM
//! build), and keeps server functions as thin as REST handlers: both call the same services.

use crate::{
    error::AppError,
    pages::RoomPageData,
    protocol::{ChatMessage, RoomSummary, Viewer},
};
use http::request::Parts;
use std::sync::Arc;

/// The services behind Parlor's pages. Methods that depend on who is asking take the request's
/// `Parts`, from which the implementation reads the session. Inputs arrive raw: the services
/// behind the trait parse them, exactly as they do for the REST API.
#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Who the session belongs to, if anyone.
    async fn viewer(&self, req: &Parts) -> Result<Option<Viewer>, AppError>;

    /// Every room, for the home page.
    async fn list_rooms(&self) -> Result<Vec<RoomSummary>, AppError>;

    /// Creates a room owned by the session's identity.
    async fn create_room(
        &self,
        req: &Parts,
        slug: &str,
        title: &str,
    ) -> Result<RoomSummary, AppError>;

    /// A room and its latest `limit` messages (oldest first), or `NotFound`.
    async fn room_page(&self, slug: &str, limit: u32) -> Result<RoomPageData, AppError>;

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
pub(crate) fn request() -> Result<(SharedBackend, Parts), AppError> {
    let backend = leptos::prelude::use_context::<SharedBackend>().ok_or_else(|| {
        leptos::logging::error!("no Backend in Leptos context");
        AppError::Internal
    })?;
    let parts = leptos::prelude::use_context::<Parts>().ok_or_else(|| {
        leptos::logging::error!("no request Parts in Leptos context");
        AppError::Internal
    })?;
    Ok((backend, parts))
}
