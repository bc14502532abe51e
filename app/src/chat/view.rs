//! The chat room component: message list, connection badge and composer.
//!
//! Rendered on the server with the latest history; once hydrated it opens the room's
//! WebSocket (see `client.rs`) and the composer sends over it. Before hydration the composer
//! is a plain form that posts to a server function, so it works without JavaScript.

use super::state::{ConnState, RoomState, Transport};
use crate::{
    domain::MessageText,
    identity::ViewerContext,
    pages::RoomPageData,
    protocol::ChatMessage,
    server_fns::{DeleteRoom, PostMessage, RenameRoom},
    Hydrated,
};
use leptos::{ev::KeyboardEvent, prelude::*, server_fn::ServerFn};

/// A room: header, history, live messages and the composer.
#[component]
pub fn ChatRoom(data: RoomPageData) -> impl IntoView {
    // `?transport=ws|sse|longpoll|poll` forces one (tests, users behind bad proxies).
    let forced = leptos_router::hooks::use_query_map()
        .with_untracked(|query| query.get("transport"))
        .and_then(|token| Transport::parse(&token));
    let state = RoomState::new(
        data.room.slug.clone(),
        data.room.title.clone(),
        data.messages,
    )
    .force(forced);
    let owner_id = data.room.owner_id;
    let outbox = Outbox {
        state,
        draft: RwSignal::new(String::new()),
        #[cfg(feature = "hydrate")]
        connection: StoredValue::new(None),
    };

    #[cfg(feature = "hydrate")]
    {
        let viewer = expect_context::<ViewerContext>();
        let connection = outbox.connection;
        Effect::new(move |_| {
            connection.set_value(Some(super::client::Connection::start(state)));
        });
        // The socket reads the session once, at the handshake: when the identity changes
        // (a name was picked or changed), reconnect so the server sees it.
        Effect::new(move |previous: Option<Option<(i64, String)>>| {
            let key = viewer.key();
            if previous.is_some_and(|p| p != key) {
                connection.with_value(|c| c.as_ref().map(|c| c.reconnect()));
            }
            key
        });
        on_cleanup(move || {
            connection.with_value(|c| c.as_ref().map(|c| c.stop()));
        });
    }

    let slug = data.room.slug.clone();
    let composer_slug = slug.clone();
    view! {
        <section class="room" data-room=slug.clone()>
            <header class="room-header">
                <h1>{move || state.title.get()}</h1>
                <span class="slug">"#" {slug.clone()}</span>
                <ConnectionBadge status=state.status transport=state.transport/>
            </header>
            <OwnerTools slug=slug.clone() owner_id/>
            <ol class="messages" aria-live="polite" aria-label="Chat history">
                <For each=move || state.messages.get() key=|m| m.id let:message>
                    <MessageItem message/>
                </For>
                <For each=move || state.pending.get() key=|p| p.client_id.clone() let:pending>
                    <PendingItem pending state/>
                </For>
            </ol>
            <Show when=move || state.messages.with(Vec::is_empty) && state.pending.with(Vec::is_empty)>
                <p class="empty">"No messages yet. Say hello!"</p>
            </Show>
            <p class="notice" role="status">{move || state.notice.get()}</p>
            <Composer slug=composer_slug outbox/>
        </section>
    }
    .into_any()
}

/// The composer's draft and the way out of it: validated here (the server checks again),
/// queued in the outbox, then sent over the room's connection.
#[derive(Clone, Copy)]
struct Outbox {
    state: RoomState,
    draft: RwSignal<String>,
    #[cfg(feature = "hydrate")]
    connection: StoredValue<Option<super::client::Connection>>,
}

impl Outbox {
    /// Sends the draft, or says why it cannot be sent.
    fn submit(self) {
        // Tabs are control characters to the protocol; a pasted snippet keeps its indentation.
        let raw = self.draft.get_untracked().replace('\t', "    ");
        let text = match MessageText::parse(&raw) {
            Ok(text) => text,
            Err(invalid) => {
                self.state.notice.set(Some(invalid.message));
                return;
            }
        };
        self.state.notice.set(None);
        #[cfg(feature = "hydrate")]
        {
            let client_id = super::client::new_client_id();
            let frame = crate::protocol::ClientFrame::Send {
                text: text.as_str().to_owned(),
                client_id: Some(client_id.clone()),
            };
            let Ok(encoded) = serde_json::to_string(&frame) else {
                return;
            };
            self.state.pending.update(|p| {
                p.push(super::state::PendingSend {
                    client_id,
                    text: String::from(text),
                    frame: encoded.clone(),
                    failed: None,
                })
            });
            self.connection
                .with_value(|c| c.as_ref().map(|c| c.send(encoded)));
            self.draft.set(String::new());
        }
        #[cfg(not(feature = "hydrate"))]
        drop(text);
    }
}

/// The composer: a real form (works without WASM) whose submit is taken over once hydrated.
#[component]
fn Composer(slug: String, outbox: Outbox) -> impl IntoView {
    let viewer = expect_context::<ViewerContext>();
    // A fresh key per render: a double-submitted form is stored once.
    let form_client_id = format!("form-{}", crate::random_token());
    let draft = outbox.draft;
    let on_keydown = move |ev: KeyboardEvent| {
        if ev.key() != "Enter" || ev.shift_key() {
            return;
        }
        // Enter that ends an IME composition (Korean, Japanese, Chinese input) must only
        // commit the composed text. keyCode 229 covers browsers that report the composing
        // keydown without `isComposing`.
        if ev.is_composing() || ev.key_code() == 229 {
            return;
        }
        ev.prevent_default();
        outbox.submit();
    };
    view! {
        <Show
            when=move || viewer.id().is_some()
            fallback=move || view! {
                <p class="login-hint">
                    <a href=crate::identity::login_link()>"Log in"</a>
                    " or "
                    <a href="/signup">"sign up"</a>
                    " to post"
                    {move || viewer.guests_allowed().then_some(", or pick a display name above")}
                    "."
                </p>
            }
        >
            <form
                class="composer"
                method="post"
                action=PostMessage::url()
                on:submit=move |ev| {
                    ev.prevent_default();
                    outbox.submit();
                }
            >
                <input type="hidden" name="room" value=slug.clone()/>
                <input type="hidden" name="client_id" value=form_client_id.clone()/>
                <label class="visually-hidden" for="composer-text">"Message"</label>
                <textarea
                    id="composer-text"
                    name="text"
                    rows="2"
                    placeholder="Write a message… (Enter sends, Shift+Enter for a new line)"
                    prop:value=move || draft.get()
                    on:input=move |ev| draft.set(event_target_value(&ev))
                    on:keydown=on_keydown
                ></textarea>
                <button type="submit">"Send"</button>
            </form>
        </Show>
    }
    .into_any()
}

/// Rename and delete, for the room's owner only (the server checks again).
#[component]
fn OwnerTools(slug: String, owner_id: Option<i64>) -> impl IntoView {
    let viewer = expect_context::<ViewerContext>();
    let rename = ServerAction::<RenameRoom>::new();
    let delete = ServerAction::<DeleteRoom>::new();
    let error = move || {
        rename
            .value()
            .get()
            .and_then(Result::err)
            .or_else(|| delete.value().get().and_then(Result::err))
            .map(|e| e.to_string())
    };
    let is_owner = move || owner_id.is_some() && viewer.id() == owner_id;
    let slug = StoredValue::new(slug);
    view! {
        <Show when=is_owner>
            <details class="owner-tools">
                <summary>"Room settings"</summary>
                <ActionForm action=rename attr:class="rename-form" attr:novalidate=true>
                    <input type="hidden" name="slug" value=slug.get_value()/>
                    <label for="rename-title">"New title"</label>
                    <input id="rename-title" name="title" autocomplete="off"/>
                    <button type="submit">"Rename"</button>
                </ActionForm>
                <ActionForm action=delete attr:class="delete-form">
                    <input type="hidden" name="slug" value=slug.get_value()/>
                    <button type="submit" class="danger">"Delete room"</button>
                </ActionForm>
                <p class="form-error" role="alert">{error}</p>
            </details>
        </Show>
    }
    .into_any()
}

/// A message on its way (greyed), or refused (with the reason and a way to dismiss it).
#[component]
fn PendingItem(pending: super::state::PendingSend, state: RoomState) -> impl IntoView {
    let client_id = pending.client_id.clone();
    let dismiss = move |_| {
        let id = client_id.clone();
        state.pending.update(|p| p.retain(|s| s.client_id != id));
    };
    let failed = pending.failed.is_some();
    view! {
        <li class="message pending" data-failed=failed.then_some("true")>
            <span class="author">"you"</span>
            <span class="meta">
                {pending.failed.clone().unwrap_or_else(|| "sending…".to_owned())}
                <Show when=move || failed>
                    <button type="button" class="dismiss" title="Dismiss" on:click=dismiss.clone()>
                        "×"
                    </button>
                </Show>
            </span>
            <span class="text">{pending.text.clone()}</span>
        </li>
    }
    .into_any()
}

/// One stored message.
#[component]
fn MessageItem(message: ChatMessage) -> impl IntoView {
    view! {
        <li class="message" data-id=message.id>
            <span class="author">{message.author}</span>
            <Time sent_at=message.sent_at/>
            <span class="text">{message.text}</span>
        </li>
    }
    .into_any()
}

/// A timestamp: UTC on the server (it cannot know the reader's zone), local after hydration.
#[component]
fn Time(sent_at: String) -> impl IntoView {
    let hydrated = use_context::<Hydrated>().map(|h| h.0);
    let utc = sent_at.get(11..16).unwrap_or_default().to_owned();
    let iso = sent_at.clone();
    let shown = move || {
        if hydrated.is_some_and(|h| h.get()) {
            local_hours_minutes(&iso).unwrap_or_else(|| utc.clone())
        } else {
            format!("{utc} UTC")
        }
    };
    view! { <time datetime=sent_at.clone() title=sent_at>{shown}</time> }
}

#[cfg(feature = "hydrate")]
fn local_hours_minutes(iso: &str) -> Option<String> {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_str(iso));
    let hours = date.get_hours();
    if hours > 23 {
        return None; // Invalid Date
    }
    Some(format!("{:02}:{:02}", hours, date.get_minutes()))
}

#[cfg(not(feature = "hydrate"))]
fn local_hours_minutes(_iso: &str) -> Option<String> {
    None
}

/// The connection state and transport, in words and as `data-state` / `data-transport`
/// for tests and styling.
#[component]
pub fn ConnectionBadge(
    status: RwSignal<ConnState>,
    transport: RwSignal<Transport>,
) -> impl IntoView {
    view! {
        <span
            class="connection"
            data-state=move || status.get().token()
            data-transport=move || transport.get().token()
            aria-live="polite"
        >
            {move || status.get().label()}
            <span class="transport">" · " {move || transport.get().label()}</span>
        </span>
    }
    .into_any()
}
