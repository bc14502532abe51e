//! `/rooms/{slug}`: the room's latest messages rendered on the server, then live.

use super::NotFound;
use crate::{chat::ChatRoom, protocol::ErrorCode, server_fns::room_page};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

/// Text for `<Title>`. leptos_meta 0.8 writes the server-rendered `<title>` without escaping
/// it, so a room named `</title><script>…` would end the element early: escape on the server.
/// In the browser the same component sets `document.title`, which takes plain text.
fn title_text(text: &str) -> String {
    if cfg!(feature = "ssr") {
        text.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    } else {
        text.to_owned()
    }
}

/// The room page. Unknown rooms render the 404 page with a 404 status.
#[component]
pub fn RoomPage() -> impl IntoView {
    let params = use_params_map();
    let slug = move || params.read().get("slug").unwrap_or_default();
    let data = Resource::new(slug, room_page);
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading the room…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(data) => view! {
                        <Title text=title_text(&format!("{} — Parlor", data.room.title))/>
                        <ChatRoom data/>
                    }
                    .into_any(),
                    Err(error) if error.code == ErrorCode::NotFound => view! { <NotFound/> }.into_any(),
                    Err(error) => view! { <p class="error">{error.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}
