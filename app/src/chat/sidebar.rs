//! The sidebar: every room with its last message and the viewer's unread and mention
//! badges, live (see [`super::Lobby`]). Links are client-side navigations: the sidebar and
//! the lobby connection survive moving between rooms.

use super::Lobby;
use crate::{protocol::RoomSummary, server_fns::list_rooms};
use leptos::prelude::*;
use leptos_router::hooks::use_location;

/// The sidebar (rendered on the server with the first page of rooms).
#[component]
pub fn Sidebar() -> impl IntoView {
    let lobby = expect_context::<Lobby>();
    let rooms = Resource::new(|| (), |_| list_rooms(None));
    view! {
        <aside class="sidebar" aria-label="Rooms">
            <crate::pages::SearchBox/>
            <super::notify::NotifyToggle/>
            <h2 class="sidebar-title"><a href="/">"Rooms"</a></h2>
            <Suspense fallback=|| view! { <p class="loading">"Loading rooms…"</p> }>
                {move || Suspend::new(async move {
                    if let Ok(list) = rooms.await {
                        lobby.seed(&list.rooms);
                    }
                    view! { <RoomLinks lobby/> }
                })}
            </Suspense>
        </aside>
    }
}

/// The live list of room links.
#[component]
pub fn RoomLinks(lobby: Lobby) -> impl IntoView {
    let location = use_location();
    view! {
        <ul class="room-links">
            <For
                each=move || lobby.rooms.get()
                key=|r| (r.slug.clone(), r.title.clone(), r.unread, r.mentions, r.last_message.as_ref().map(|m| m.id))
                let:room
            >
                <RoomLink room active=Signal::derive(move || location.pathname.get())/>
            </For>
        </ul>
    }
}

#[component]
fn RoomLink(room: RoomSummary, active: Signal<String>) -> impl IntoView {
    let href = format!("/rooms/{}", room.slug);
    let is_active = {
        let href = href.clone();
        move || active.get() == href
    };
    let excerpt = room
        .last_message
        .as_ref()
        .map(|m| format!("{}: {}", m.author, m.excerpt))
        .unwrap_or_else(|| "No messages yet".to_owned());
    let unread = room.unread;
    let mentions = room.mentions;
    let badge = match unread {
        0 => None,
        n if n >= crate::protocol::UNREAD_CAP => Some("999+".to_owned()),
        n => Some(n.to_string()),
    };
    view! {
        <li class="room-link" data-slug=room.slug.clone() data-unread=unread>
            <a href=href.clone() aria-current=move || is_active().then_some("page")>
                <span class="room-link-title">
                    {room.private.then(private_mark)}
                    {room.title.clone()}
                </span>
                <span class="room-link-excerpt">{excerpt}</span>
                {(mentions > 0).then(|| view! {
                    <span class="badge mention" title="Mentions of you">"@" {mentions}</span>
                })}
                {badge.map(|b| view! {
                    <span class="badge unread" aria-label=format!("{unread} unread")>{b}</span>
                })}
            </a>
        </li>
    }
}

/// The mark of a private room beside its title (sidebar and home page).
pub fn private_mark() -> AnyView {
    view! { <span class="lock" title="Private: members only" aria-label="private">"🔒 "</span> }
        .into_any()
}
