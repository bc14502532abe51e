//! The chat room component: message list, connection badge and composer.
//!
//! Rendered on the server with the latest history; once hydrated it opens the room's
//! WebSocket (see `client.rs`) and the composer sends over it. Before hydration the composer
//! is a plain form that posts to a server function, so it works without JavaScript.

use super::{
    days::Calendar,
    mentions::{MentionList, MentionPicker},
    message::MessageItem,
    state::{ConnState, RoomState, Transport},
};
use crate::{
    domain::MessageText,
    identity::ViewerContext,
    pages::RoomPageData,
    server_fns::{DeleteRoom, PostMessage, RenameRoom},
};
use leptos::{ev::KeyboardEvent, prelude::*, server_fn::ServerFn};

/// A room: header with who is here, the scrolling history, what is typed, the composer.
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
    state.owner_id.set_value(owner_id);
    let outbox = Outbox {
        state,
        draft: RwSignal::new(String::new()),
        #[cfg(feature = "hydrate")]
        connection: StoredValue::new(None),
        #[cfg(feature = "hydrate")]
        typed_at: StoredValue::new(0.0),
    };
    let list = NodeRef::<leptos::html::Ol>::new();
    // Days are counted in UTC until this room has hydrated (the server's count, so both
    // render the same rows), then in the reader's zone. The room's own effect, not the app's
    // `Hydrated`: a room can hydrate after the app (under a Suspense), when that is already on.
    let local_days = RwSignal::new(false);
    Effect::new(move |_| local_days.set(true));
    // The first unread message gets a "New messages" divider (from the sidebar's count).
    let divider = RwSignal::new(None::<i64>);

    #[cfg(feature = "hydrate")]
    super::live::wire(state, outbox.connection, list, divider);

    let slug = data.room.slug.clone();
    let composer_slug = slug.clone();
    let on_scroll = move |_| {
        #[cfg(feature = "hydrate")]
        super::live::scrolled(state, list);
    };
    let jump = move |_| {
        #[cfg(feature = "hydrate")]
        super::live::jump_to_latest(state, list);
    };
    view! {
        <section class="room" data-room=slug.clone()>
            <header class="room-header">
                <a href="/" class="back" aria-label="Back to the rooms">"‹"</a>
                <div class="room-title">
                    <h1>{move || state.title.get()}</h1>
                    <span class="slug">"#" {slug.clone()}</span>
                </div>
                <Presence state/>
                <ConnectionBadge status=state.status transport=state.transport/>
            </header>
            <OwnerTools slug=slug.clone() owner_id/>
            <ConnectionBanner state outbox/>
            <div class="timeline">
                <ol class="messages" node_ref=list aria-label="Chat history" on:scroll=on_scroll>
                    <li class="history-edge" aria-hidden="true">
                        {move || if state.loading_older.get() {
                            "Loading older messages…"
                        } else if state.older_done.get() {
                            "The beginning of the room"
                        } else {
                            ""
                        }}
                    </li>
                    // Keyed by what a row shows, so an edit or a deletion re-renders that row.
                    // Grouped: a message that continues its author's run shows no name.
                    // Days: in UTC until hydrated (as the server rendered), then local.
                    <For
                        each=move || {
                            // A reaction or an edit re-creates its row: a keyboard user on
                            // its buttons stays there.
                            crate::focus::keep_across_update(".messages li.message", "data-id");
                            super::present::rows(
                                &state.messages.get(),
                                &Calendar::local(local_days.get()),
                            )
                        }
                        key=|row| (row.message.id, row.message.edited_at.clone(), row.message.deleted, row.message.reply_to.clone(), row.message.reactions.clone(), row.continued, row.day.clone())
                        let:row
                    >
                        {row.day.map(|day| view! { <li class="day"><h2>{day}</h2></li> })}
                        <Show when={let id = row.message.id; move || divider.get() == Some(id)}>
                            <li class="divider" role="separator">"New messages"</li>
                        </Show>
                        <MessageItem message=row.message continued=row.continued state/>
                    </For>
                    <For each=move || state.pending.get() key=|p| (p.client_id.clone(), p.failed.clone()) let:pending>
                        <PendingItem pending outbox/>
                    </For>
                </ol>
                <Show when=move || { state.unseen.get() > 0 || state.detached.get() }>
                    <button type="button" class="jump" on:click=jump>
                        {move || match state.unseen.get() {
                            0 => "↓ Latest messages".to_owned(),
                            1 => "↓ 1 new message".to_owned(),
                            n => format!("↓ {n} new messages"),
                        }}
                    </button>
                </Show>
            </div>
            <Show when=move || state.messages.with(Vec::is_empty) && state.pending.with(Vec::is_empty)>
                <p class="empty">"No messages yet. Say hello!"</p>
            </Show>
            <p class="typing" aria-live="polite">{move || typing_line(&state)}</p>
            <p class="notice" role="status">{move || state.notice.get()}</p>
            // New messages, announced politely without re-reading the whole list.
            <p class="visually-hidden" aria-live="polite">
                {move || state.messages.with(|m| m.last().map(|m| if m.deleted {
                    format!("{}: message deleted", m.author)
                } else {
                    format!("{}: {}", m.author, m.text)
                }))}
            </p>
            <Composer slug=composer_slug outbox/>
        </section>
    }
    .into_any()
}

/// "ann is typing…", "ann and bo are typing…", "several people are typing…".
fn typing_line(state: &RoomState) -> String {
    state.typing.with(|list| match list.as_slice() {
        [] => String::new(),
        [(one, _)] => format!("{} is typing…", one.name),
        [(one, _), (two, _)] => format!("{} and {} are typing…", one.name, two.name),
        _ => "Several people are typing…".to_owned(),
    })
}

/// Who is here: a count and the first names; the whole list on click.
#[component]
fn Presence(state: RoomState) -> impl IntoView {
    let summary = move || {
        let count = state.member_count.get();
        let names: Vec<String> = state
            .members
            .with(|m| m.iter().take(3).map(|m| m.name.clone()).collect());
        match count {
            0 => String::new(),
            1 => format!("1 here: {}", names.join(", ")),
            n => {
                let more = n.saturating_sub(names.len());
                if more > 0 {
                    format!("{n} here: {} +{more}", names.join(", "))
                } else {
                    format!("{n} here: {}", names.join(", "))
                }
            }
        }
    };
    view! {
        <details class="presence" data-count=move || state.member_count.get()>
            <summary>{summary}</summary>
            <ul class="members">
                <For each=move || state.members.get() key=|m| m.id let:member>
                    <li class="member" data-user=member.id>
                        <span class=super::present::avatar_class(member.id) aria-hidden="true">
                            {super::present::initial(&member.name)}
                        </span>
                        <span class="member-name">{member.name.clone()}</span>
                    </li>
                </For>
            </ul>
        </details>
    }
}

/// Offline or reconnecting, in words, with a way to retry now.
#[component]
fn ConnectionBanner(state: RoomState, outbox: Outbox) -> impl IntoView {
    let now = RwSignal::new(0.0_f64);
    let online = RwSignal::new(true);
    #[cfg(feature = "hydrate")]
    {
        use leptos::prelude::set_interval;
        now.set(js_sys::Date::now());
        online.set(window().navigator().on_line());
        set_interval(
            move || {
                now.set(js_sys::Date::now());
                online.set(window().navigator().on_line());
                state.prune_typing(js_sys::Date::now(), None);
            },
            std::time::Duration::from_millis(500),
        );
    }
    // Lost until live again: a retry that starts as "connecting" must not hide the banner
    // (and the button someone is about to press) for a moment.
    let lost = Memo::new(move |before: Option<&bool>| match state.status.get() {
        ConnState::Reconnecting => true,
        ConnState::Live | ConnState::Closed | ConnState::Static => false,
        ConnState::Connecting => before.copied().unwrap_or(false),
    });
    let shown = move || !online.get() || lost.get();
    let text = move || {
        if !online.get() {
            return "You are offline. Messages you send wait here and go out when you are back."
                .to_owned();
        }
        match state.retry_at.get() {
            Some(at) => {
                let seconds = ((at - now.get()) / 1000.0).ceil().max(0.0);
                format!("Connection lost. Reconnecting in {seconds} s…")
            }
            None => "Reconnecting…".to_owned(),
        }
    };
    let retry = move |_| {
        #[cfg(feature = "hydrate")]
        outbox
            .connection
            .with_value(|c| c.as_ref().map(|c| c.reconnect()));
        #[cfg(not(feature = "hydrate"))]
        let _ = outbox;
    };
    view! {
        <Show when=shown>
            <div class="conn-banner" role="status">
                <span>{text}</span>
                <button type="button" class="retry-now" on:click=retry>"Retry now"</button>
            </div>
        </Show>
    }
}

/// The composer's draft and the way out of it: validated here (the server checks again),
/// queued in the outbox, then sent over the room's connection.
#[derive(Clone, Copy)]
pub(super) struct Outbox {
    state: RoomState,
    draft: RwSignal<String>,
    #[cfg(feature = "hydrate")]
    pub(super) connection: StoredValue<Option<super::client::Connection>>,
    /// When this tab last said it was typing (ms since the epoch).
    #[cfg(feature = "hydrate")]
    typed_at: StoredValue<f64>,
}

impl Outbox {
    /// Says "typing" at most every [`crate::protocol::TYPING_EVERY_MS`] while the draft
    /// has text (IME composition included).
    fn typing(self) {
        #[cfg(feature = "hydrate")]
        {
            let now = js_sys::Date::now();
            let every = f64::from(crate::protocol::TYPING_EVERY_MS);
            if self.draft.with_untracked(|d| d.trim().is_empty())
                || now - self.typed_at.get_value() < every
            {
                return;
            }
            self.typed_at.set_value(now);
            self.connection.with_value(|c| {
                c.as_ref()
                    .map(|c| c.signal(&crate::protocol::ClientFrame::Typing))
            });
        }
    }

    /// Puts a refused message back in the outbox and sends it again (same `client_id`).
    fn retry(self, client_id: &str) {
        #[cfg(feature = "hydrate")]
        {
            let mut frame = None;
            self.state.pending.update(|p| {
                if let Some(entry) = p.iter_mut().find(|s| s.client_id == client_id) {
                    entry.failed = None;
                    frame = Some(entry.frame.clone());
                }
            });
            if let Some(frame) = frame {
                self.connection
                    .with_value(|c| c.as_ref().map(|c| c.send(frame)));
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = client_id;
    }

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
            let reply_to = self.state.replying.get_untracked().map(|quote| quote.id);
            let frame = crate::protocol::ClientFrame::Send {
                text: text.as_str().to_owned(),
                client_id: Some(client_id.clone()),
                reply_to,
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
            self.state.replying.set(None);
            self.typed_at.set_value(0.0);
            // Sending brings you back to the newest message.
            self.state.at_bottom.set(true);
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
    let picker = MentionPicker::new(outbox.state, draft);
    let on_keydown = move |ev: KeyboardEvent| {
        if !ev.is_composing() && picker.keydown(&ev) {
            return;
        }
        if ev.key() == "Escape" && outbox.state.replying.with_untracked(Option::is_some) {
            ev.prevent_default();
            outbox.state.replying.set(None);
            return;
        }
        // ↑ in an empty composer edits your last message, as in Slack and Discord.
        if ev.key() == "ArrowUp" && draft.with_untracked(|d| d.is_empty()) {
            let state = outbox.state;
            let me = viewer.id();
            let last = state.messages.with_untracked(|list| {
                list.iter()
                    .rev()
                    .find(|m| state.can_edit(m, me))
                    .map(|m| m.id)
            });
            if let Some(id) = last {
                ev.prevent_default();
                state.editing.set(Some(id));
            }
            return;
        }
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
                <Show when=move || outbox.state.replying.with(Option::is_some)>
                    <div class="replying" role="status">
                        <span class="replying-label">
                            "Replying to "
                            <strong>{move || outbox.state.replying.with(|r| r.as_ref().map(|r| r.author.clone()))}</strong>
                            ": "
                            <span class="replying-excerpt">
                                {move || outbox.state.replying.with(|r| r.as_ref().map(|r| r.excerpt.clone()))}
                            </span>
                        </span>
                        <button
                            type="button"
                            class="cancel-reply"
                            aria-label="Cancel the reply"
                            on:click=move |_| outbox.state.replying.set(None)
                        >"×"</button>
                    </div>
                </Show>
                <MentionList picker/>
                <input type="hidden" name="room" value=slug.clone()/>
                <input type="hidden" name="client_id" value=form_client_id.clone()/>
                <label class="visually-hidden" for="composer-text">"Message"</label>
                <textarea
                    id="composer-text"
                    name="text"
                    rows="2"
                    placeholder="Write a message… (Enter sends, Shift+Enter for a new line)"
                    prop:value=move || draft.get()
                    on:input=move |ev| {
                        draft.set(event_target_value(&ev));
                        picker.typed();
                        outbox.typing();
                    }
                    on:compositionupdate=move |_| outbox.typing()
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

/// A message on its way (greyed, with a clock), or refused (with the reason, Retry and
/// Delete).
#[component]
fn PendingItem(pending: super::state::PendingSend, outbox: Outbox) -> impl IntoView {
    let state = outbox.state;
    let client_id = StoredValue::new(pending.client_id.clone());
    let delete = move |_| {
        let id = client_id.get_value();
        state.pending.update(|p| p.retain(|s| s.client_id != id));
    };
    let retry = move |_| outbox.retry(&client_id.get_value());
    let failed = pending.failed.clone();
    let is_failed = failed.is_some();
    view! {
        <li class="message pending" data-failed=is_failed.then_some("true")>
            <span class="author">"you"</span>
            {match failed {
                None => view! {
                    <span class="meta queued" title="Waiting to be sent">
                        <span aria-hidden="true">"🕓"</span>
                        " sending…"
                    </span>
                }
                .into_any(),
                Some(reason) => view! {
                    <span class="meta failed">
                        {reason}
                        <button type="button" class="retry" on:click=retry>"Retry"</button>
                        <button type="button" class="delete" on:click=delete>"Delete"</button>
                    </span>
                }
                .into_any(),
            }}
            <span class="text">{pending.text.clone()}</span>
        </li>
    }
    .into_any()
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
