//! Server functions: the pages' calls into the server. Each is a thin wrapper over the
//! [`Backend`](crate::backend::Backend) port, so pages and the REST API share one set of
//! services. Endpoints are fixed (`/fn/...`) so a plain HTML form can post to them before the
//! WASM has loaded, and so they never collide with the REST API under `/api`.

use crate::{
    error::AppError,
    pages::RoomPageData,
    protocol::{ChatMessage, RoomList, RoomSummary, SessionInfo, Viewer},
};
use leptos::prelude::*;

/// How many messages a room page renders on the server.
pub const HISTORY_ON_PAGE: u32 = 50;

/// The session, for the header and the composer.
#[server(prefix = "/fn", endpoint = "session")]
pub async fn get_session() -> Result<SessionInfo, AppError> {
    crate::backend::serve(move |backend, parts| async move { backend.session(&parts).await }).await
}

/// Creates an account, logs in, and goes to `next` (a local path) or home.
#[server(prefix = "/fn", endpoint = "signup")]
pub async fn sign_up(
    username: String,
    password: String,
    next: Option<String>,
) -> Result<Viewer, AppError> {
    crate::backend::serve(move |backend, parts| async move {
        let viewer = backend.sign_up(&parts, &username, &password).await?;
        leptos_axum::redirect(local_path(next.as_deref()));
        Ok(viewer)
    })
    .await
}

/// Logs in, and goes to `next` (a local path) or home.
#[server(prefix = "/fn", endpoint = "login")]
pub async fn log_in(
    username: String,
    password: String,
    next: Option<String>,
) -> Result<Viewer, AppError> {
    crate::backend::serve(move |backend, parts| async move {
        let viewer = backend.log_in(&parts, &username, &password).await?;
        leptos_axum::redirect(local_path(next.as_deref()));
        Ok(viewer)
    })
    .await
}

/// Logs out (the page stays where it is).
#[server(prefix = "/fn", endpoint = "logout")]
pub async fn log_out() -> Result<(), AppError> {
    crate::backend::serve(move |backend, parts| async move { backend.log_out(&parts).await }).await
}

/// Renames a room (owner only).
#[server(prefix = "/fn", endpoint = "rename_room")]
pub async fn rename_room(slug: String, title: String) -> Result<RoomSummary, AppError> {
    crate::backend::serve(move |backend, parts| async move {
        backend.rename_room(&parts, &slug, &title).await
    })
    .await
}

/// Deletes a room (owner only), then goes back to the room list.
#[server(prefix = "/fn", endpoint = "delete_room")]
pub async fn delete_room(slug: String) -> Result<(), AppError> {
    crate::backend::serve(move |backend, parts| async move {
        backend.delete_room(&parts, &slug).await?;
        leptos_axum::redirect("/?notice=room-deleted");
        Ok(())
    })
    .await
}

/// Where to go after logging in: a path on this site, never another site, so the `next`
/// parameter cannot send users elsewhere. Browsers drop tabs and newlines from URLs and read
/// a backslash as `/`, so `/<TAB>/evil.example` or `/\evil.example` would become
/// `//evil.example`: anything but a plain, visible path is refused (which also keeps it a
/// valid header value).
pub fn local_path(next: Option<&str>) -> &str {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && path.bytes().all(|b| b > 0x20 && b != 0x7f && b != b'\\') =>
        {
            path
        }
        _ => "/",
    }
}

/// How many rooms the home page lists at once (the most active first; a link leads on).
pub const ROOMS_ON_PAGE: u32 = 50;

/// A page of the room list on the home page, after `cursor` (from the previous page).
#[server(prefix = "/fn", endpoint = "rooms")]
pub async fn list_rooms(cursor: Option<String>) -> Result<RoomList, AppError> {
    crate::backend::serve(move |backend, req| async move {
        backend.list_rooms(&req, cursor.as_deref()).await
    })
    .await
}

/// The newest messages with every word of `q`, in the rooms the session may read.
#[server(prefix = "/fn", endpoint = "search")]
pub async fn search_messages(q: String) -> Result<Vec<ChatMessage>, AppError> {
    crate::backend::serve(move |backend, req| async move { backend.search(&req, &q).await }).await
}

/// Creates a room, then takes the browser into it. A ticked `private` box makes it visible
/// only to the creator and the accounts in `members` (usernames, separated by commas or
/// spaces).
#[server(prefix = "/fn", endpoint = "create_room")]
pub async fn create_room(
    slug: String,
    title: String,
    private: Option<String>,
    members: Option<String>,
) -> Result<RoomSummary, AppError> {
    crate::backend::serve(move |backend, parts| async move {
        let members = private.is_some().then(|| {
            members
                .unwrap_or_default()
                .split([',', ' '])
                .map(|name| name.trim().trim_start_matches('@').to_owned())
                .filter(|name| !name.is_empty())
                .collect::<Vec<String>>()
        });
        let room = backend.create_room(&parts, &slug, &title, members).await?;
        leptos_axum::redirect(&format!("/rooms/{}", room.slug));
        Ok(room)
    })
    .await
}

/// Opens (or reopens) the direct-message room of the session's user and the account
/// `username`, then takes the browser into it.
#[server(prefix = "/fn", endpoint = "direct")]
pub async fn open_direct(username: String) -> Result<RoomSummary, AppError> {
    crate::backend::serve(move |backend, parts| async move {
        let username = username.trim().trim_start_matches('@').to_owned();
        let room = backend.open_direct(&parts, &username).await?;
        leptos_axum::redirect(&format!("/rooms/{}", room.slug));
        Ok(room)
    })
    .await
}

/// A room with its latest messages, for the room page.
#[server(prefix = "/fn", endpoint = "room")]
pub async fn room_page(slug: String) -> Result<RoomPageData, AppError> {
    crate::backend::serve(move |backend, parts| async move {
        backend.room_page(&parts, &slug, HISTORY_ON_PAGE).await
    })
    .await
}

/// Picks (or changes) the session's display name.
#[server(prefix = "/fn", endpoint = "guest")]
pub async fn start_guest(name: String) -> Result<Viewer, AppError> {
    crate::backend::serve(
        move |backend, parts| async move { backend.start_guest(&parts, &name).await },
    )
    .await
}

/// Posts a message from the composer form when the page has no WASM (yet); once hydrated the
/// composer sends over the WebSocket instead. The plain-form post redirects back to the room.
#[server(prefix = "/fn", endpoint = "post_message")]
pub async fn post_message(
    room: String,
    text: String,
    client_id: Option<String>,
) -> Result<ChatMessage, AppError> {
    crate::backend::serve(move |backend, parts| async move {
        let client_id = client_id.as_deref().filter(|id| !id.is_empty());
        let message = backend
            .post_message(&parts, &room, &text, client_id)
            .await?;
        // A plain form post goes back to a clean room URL; a script stays where it is.
        if crate::backend::is_plain_form(&parts) {
            leptos_axum::redirect(&format!("/rooms/{}", message.room));
        }
        Ok(message)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(local_path(Some("/rooms/lobby?x=1")), "/rooms/lobby?x=1");
        assert_eq!(local_path(None), "/");
        for hostile in [
            "//evil.example",
            "https://evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "/\r\nSet-Cookie: x=1",
            "evil",
            "/ /evil",
        ] {
            assert_eq!(local_path(Some(hostile)), "/", "{hostile:?}");
        }
    }
}
