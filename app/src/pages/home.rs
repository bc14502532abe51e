//! `/`: the room list, rendered on the server, and the form that creates a room.

use crate::{
    error::AppError,
    protocol::RoomSummary,
    server_fns::{list_rooms, CreateRoom, OpenDirect},
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// The home page.
#[component]
pub fn HomePage() -> impl IntoView {
    let create = ServerAction::<CreateRoom>::new();
    let viewer = expect_context::<crate::identity::ViewerContext>();
    let query = use_query_map();
    let cursor = move || query.read().get("cursor");
    let rooms = Resource::new(
        move || (create.version().get(), cursor()),
        |(_, cursor)| list_rooms(cursor),
    );
    let notice = move || {
        (query.read().get("notice").as_deref() == Some("room-deleted")).then(
            || view! { <p class="banner" role="status">"That room was deleted by its owner."</p> },
        )
    };
    view! {
        <Title text="Rooms — Parlor"/>
        {notice}
        <section class="room-list">
            <h1>"Rooms"</h1>
            <Suspense fallback=|| view! { <p class="loading">"Loading rooms…"</p> }>
                {move || Suspend::new(async move {
                    match rooms.await {
                        Ok(list) => view! {
                            <RoomList rooms=list.rooms first_page=cursor().is_none()/>
                            {list.next_cursor.map(|next| view! {
                                <p class="more-rooms">
                                    <a href=format!("/?cursor={next}")>"More rooms"</a>
                                </p>
                            })}
                        }
                        .into_any(),
                        Err(error) => view! { <p class="error">{error.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
        <section class="create-room">
            <h2>"Create a room"</h2>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    let signed_in = viewer
                        .resource
                        .await
                        .ok()
                        .and_then(|session| session.viewer)
                        .is_some();
                    if signed_in {
                        view! { <CreateRoomForm action=create/> <DirectForm/> }.into_any()
                    } else {
                        view! {
                            <p class="login-hint">
                                <a href=crate::identity::login_link()>"Log in"</a>
                                " or "
                                <a href="/signup">"sign up"</a>
                                " to create a room."
                            </p>
                        }
                        .into_any()
                    }
                })}
            </Transition>
        </section>
    }
}

/// The rooms: the first page follows the lobby live; later pages are as rendered.
#[component]
fn RoomList(rooms: Vec<RoomSummary>, first_page: bool) -> impl IntoView {
    let lobby = expect_context::<crate::chat::Lobby>();
    if first_page {
        lobby.seed(&rooms);
        return view! {
            <Show
                when=move || !lobby.rooms.with(Vec::is_empty)
                fallback=|| view! { <p class="empty">"No rooms yet. Create the first one below."</p> }
            >
                <ul class="rooms">
                    <For
                        each=move || lobby.rooms.get()
                        key=|r| (r.slug.clone(), r.title.clone(), r.message_count)
                        let:room
                    >
                        <RoomItem room/>
                    </For>
                </ul>
            </Show>
        }
        .into_any();
    }
    if rooms.is_empty() {
        return view! { <p class="empty">"No rooms yet. Create the first one below."</p> }
            .into_any();
    }
    view! {
        <ul class="rooms">
            {rooms.into_iter().map(|room| view! { <RoomItem room/> }).collect_view()}
        </ul>
    }
    .into_any()
}

/// One room of the home page's list.
#[component]
fn RoomItem(room: RoomSummary) -> impl IntoView {
    let count = match room.message_count {
        1 => "1 message".to_owned(),
        n => format!("{n} messages"),
    };
    view! {
        <li class="room-item" data-slug=room.slug.clone()>
            <a href=format!("/rooms/{}", room.slug)>
                <span class="title">
                    {room.private.then(crate::chat::private_mark)}
                    {room.title}
                </span>
                <span class="slug">"#" {room.slug.clone()}</span>
            </a>
            <span class="count">{count}</span>
        </li>
    }
    .into_any()
}

/// Creating a room: an `ActionForm`, so it posts and shows errors even without WASM (the
/// server redirects back with the error in the URL and this page renders it).
#[component]
fn CreateRoomForm(action: ServerAction<CreateRoom>) -> impl IntoView {
    let error_for = move |field: &'static str| {
        move || {
            action
                .value()
                .get()
                .and_then(Result::err)
                .filter(|e| e.field() == Some(field))
                .map(|e| e.to_string())
        }
    };
    let general_error = move || {
        action
            .value()
            .get()
            .and_then(Result::err)
            .filter(|e: &AppError| e.field().is_none())
            .map(|e| e.to_string())
    };
    view! {
        <ActionForm action attr:class="create-room-form" attr:novalidate=true>
            <div class="field">
                <label for="room-slug">"Slug"</label>
                <input id="room-slug" name="slug" autocomplete="off" placeholder="rust-talk"
                    aria-describedby="room-slug-help room-slug-error"/>
                <small id="room-slug-help">"Lower-case letters, digits and -, up to 48."</small>
                <span id="room-slug-error" class="field-error" role="alert">{error_for("slug")}</span>
            </div>
            <div class="field">
                <label for="room-title">"Title"</label>
                <input id="room-title" name="title" autocomplete="off" placeholder="Rust talk"
                    aria-describedby="room-title-error"/>
                <span id="room-title-error" class="field-error" role="alert">{error_for("title")}</span>
            </div>
            <fieldset class="field private-room">
                <legend class="visually-hidden">"Who can see it"</legend>
                <label class="checkbox">
                    <input type="checkbox" name="private" value="on" id="room-private"/>
                    " Private: only the people I invite can see it"
                </label>
                <label for="room-members">"Invite (usernames)"</label>
                <input id="room-members" name="members" autocomplete="off" placeholder="ann, bob"
                    aria-describedby="room-members-error"/>
                <span id="room-members-error" class="field-error" role="alert">{error_for("members")}</span>
            </fieldset>
            <button type="submit">"Create room"</button>
            <p class="form-error" role="alert">{general_error}</p>
        </ActionForm>
    }
}

/// Opening a direct conversation with an account: a private room of the two of you.
#[component]
fn DirectForm() -> impl IntoView {
    let action = ServerAction::<OpenDirect>::new();
    let error = move || {
        action
            .value()
            .get()
            .and_then(Result::err)
            .map(|e| e.to_string())
    };
    view! {
        <h2>"Direct message"</h2>
        <ActionForm action attr:class="direct-form" attr:novalidate=true>
            <div class="field">
                <label for="direct-username">"Username"</label>
                <input id="direct-username" name="username" autocomplete="off" placeholder="ann"
                    aria-describedby="direct-error"/>
                <span id="direct-error" class="field-error" role="alert">{error}</span>
            </div>
            <button type="submit">"Message"</button>
        </ActionForm>
    }
}
