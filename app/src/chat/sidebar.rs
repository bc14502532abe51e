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
        <ul class="room-links" on:keydown=switch_by_keyboard>
            <For
                each=move || {
                    let rooms = lobby.rooms.get();
                    // A message elsewhere moves its room up: whoever is arrowing through
                    // the list keeps their place.
                    crate::focus::keep_across_update(".room-links .room-link", "data-slug");
                    rooms
                }
                key=|r| (r.slug.clone(), r.title.clone(), r.unread, r.mentions, r.last_message.as_ref().map(|m| m.id))
                let:room
            >
                <RoomLink room active=Signal::derive(move || location.pathname.get())/>
            </For>
        </ul>
    }
}

/// ↑ / ↓ (and Home / End) move the focus between the room links, so the list is a room
/// switcher by keyboard: Enter opens the focused room (a client-side navigation).
fn switch_by_keyboard(event: leptos::ev::KeyboardEvent) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::{JsCast, JsValue};
        let key = event.key();
        let Some(list) = event
            .current_target()
            .and_then(|target| target.dyn_into::<web_sys::Element>().ok())
        else {
            return;
        };
        let Ok(links) = list.query_selector_all("a") else {
            return;
        };
        let count = links.length();
        if count == 0 {
            return;
        }
        let active = JsValue::from(document().active_element());
        let current =
            (0..count).find(|&i| links.item(i).map(JsValue::from).as_ref() == Some(&active));
        let next = match (key.as_str(), current) {
            ("ArrowDown", Some(i)) => (i + 1).min(count - 1),
            ("ArrowUp", Some(i)) => i.saturating_sub(1),
            ("ArrowDown" | "Home", None) | ("Home", Some(_)) => 0,
            ("ArrowUp" | "End", None) | ("End", Some(_)) => count - 1,
            _ => return,
        };
        event.prevent_default();
        if let Some(link) = links
            .item(next)
            .and_then(|node| node.dyn_into::<web_sys::HtmlElement>().ok())
        {
            let _ = link.focus();
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = event;
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
