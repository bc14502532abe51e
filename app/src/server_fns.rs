//! Server functions: the pages' calls into the server. Each is a thin wrapper over the
//! [`Backend`](crate::backend::Backend) port, so pages and the REST API share one set of
//! services. Endpoints are fixed (`/fn/...`) so a plain HTML form can post to them before the
//! WASM has loaded, and so they never collide with the REST API under `/api`.

use crate::{
    error::AppError,
    pages::RoomPageData,
    protocol::{ChatMessage, RoomSummary, Viewer},
};
use leptos::prelude::*;

/// How many messages a room page renders on the server.
pub const HISTORY_ON_PAGE: u32 = 50;

/// Who is browsing, for the header and the composer.
#[server(prefix = "/fn", endpoint = "viewer")]
pub async fn get_viewer() -> Result<Option<Viewer>, AppError> {
    crate::backend::respond(
        async {
            let (backend, parts) = crate::backend::request()?;
            backend.viewer(&parts).await
        }
        .await,
    )
}

/// The room list on the home page.
#[server(prefix = "/fn", endpoint = "rooms")]
pub async fn list_rooms() -> Result<Vec<RoomSummary>, AppError> {
    crate::backend::respond(
        async {
            let (backend, _) = crate::backend::request()?;
            backend.list_rooms().await
        }
        .await,
    )
}

/// Creates a room, then takes the browser into it.
#[server(prefix = "/fn", endpoint = "create_room")]
pub async fn create_room(slug: String, title: String) -> Result<RoomSummary, AppError> {
    crate::backend::respond(
        async {
            let (backend, parts) = crate::backend::request()?;
            let room = backend.create_room(&parts, &slug, &title).await?;
            leptos_axum::redirect(&format!("/rooms/{}", room.slug));
            Ok(room)
        }
        .await,
    )
}

/// A room with its latest messages, for the room page.
#[server(prefix = "/fn", endpoint = "room")]
pub async fn room_page(slug: String) -> Result<RoomPageData, AppError> {
    crate::backend::respond(
        async {
            let (backend, _) = crate::backend::request()?;
            backend.room_page(&slug, HISTORY_ON_PAGE).await
        }
        .await,
    )
}

/// Picks (or changes) the session's display name.
#[server(prefix = "/fn", endpoint = "guest")]
pub async fn start_guest(name: String) -> Result<Viewer, AppError> {
    crate::backend::respond(
        async {
            let (backend, parts) = crate::backend::request()?;
            backend.start_guest(&parts, &name).await
        }
        .await,
    )
}

/// Posts a message from the composer form when the page has no WASM (yet); once hydrated the
/// composer sends over the WebSocket instead. The plain-form post redirects back to the room.
#[server(prefix = "/fn", endpoint = "post_message")]
pub async fn post_message(
    room: String,
    text: String,
    client_id: Option<String>,
) -> Result<ChatMessage, AppError> {
    crate::backend::respond(
        async {
            let (backend, parts) = crate::backend::request()?;
            let client_id = client_id.as_deref().filter(|id| !id.is_empty());
            let message = backend
                .post_message(&parts, &room, &text, client_id)
                .await?;
            leptos_axum::redirect(&format!("/rooms/{}", message.room));
            Ok(message)
        }
        .await,
    )
}
