//! One stored message in the list: author, time, the quote of the message it answers, text,
//! "(edited)", its reactions, the tombstone of a deleted one, and — once hydrated — its
//! actions: reply and react (anyone who may post), edit in place (the author) and delete (the
//! author or the room's owner), the server checking them all again.

use super::{
    mentions::TextWithMentions,
    reactions::{ReactionChips, ReactionPicker},
    RoomState,
};
use crate::{
    identity::ViewerContext,
    protocol::{ChatMessage, ReplyRef},
    Hydrated,
};
use leptos::{ev::KeyboardEvent, prelude::*};

/// One stored message. The list keys rows by id and edit state, so an edit or a deletion
/// re-renders just this row.
#[component]
pub fn MessageItem(
    message: ChatMessage,
    /// Whether it continues the previous message's group (same author, within minutes):
    /// then its name and avatar are left for screen readers only.
    #[prop(optional)]
    continued: bool,
    state: RoomState,
) -> impl IntoView {
    let id = message.id;
    let author_id = message.author_id;
    if message.deleted {
        return view! {
            <li class="message deleted" data-id=id data-deleted="true">
                <span class="author">{message.author}</span>
                <Time sent_at=message.sent_at/>
                {message.reply_to.map(|quote| view! { <Quote quote state/> })}
                <span class="text tombstone">"message deleted"</span>
            </li>
        }
        .into_any();
    }
    let edited = message.edited_at.clone().map(|at| {
        view! { <span class="edited" title=format!("edited {at}")>"(edited)"</span> }
    });
    let editing = move || state.editing.get() == Some(id);
    let text = StoredValue::new(message.text.clone());
    let viewer = expect_context::<ViewerContext>();
    let hydrated = use_context::<Hydrated>().map(|h| h.0);
    let can_react =
        Signal::derive(move || hydrated.is_some_and(|h| h.get()) && viewer.id().is_some());
    let mine = move || viewer.id() == Some(author_id);
    let large = super::present::is_emoji_only(&message.text);
    view! {
        <li
            class="message"
            class:continued=continued
            class:mine=mine
            class:emoji-only=large
            class:highlighted=move || state.highlighted.get() == Some(id)
            data-id=id
            data-author=author_id
            data-edited=message.edited_at.is_some().then_some("true")
        >
            <span class="byline">
                <span class=super::present::avatar_class(author_id) aria-hidden="true">
                    {super::present::initial(&message.author)}
                </span>
                <span class="author">{message.author.clone()}</span>
            </span>
            <span class="stamp">
                {edited}
                <Time sent_at=message.sent_at.clone()/>
            </span>
            {message.reply_to.clone().map(|quote| view! { <Quote quote state/> })}
            <Show
                when=editing
                fallback=move || view! { <TextWithMentions text=text.get_value()/> }
            >
                <Editor id text=text.get_value() state/>
            </Show>
            <ReactionChips id reactions=message.reactions.clone() state can_react/>
            {view! { <Actions message=message.clone() state/> }.into_any()}
        </li>
    }
    .into_any()
}

/// Reply, react, edit and delete, shown after hydration to whoever may use them.
#[component]
fn Actions(message: ChatMessage, state: RoomState) -> impl IntoView {
    let viewer = expect_context::<ViewerContext>();
    let hydrated = use_context::<Hydrated>().map(|h| h.0);
    let id = message.id;
    let message = StoredValue::new(message);
    let can_edit = move || message.with_value(|m| state.can_edit(m, viewer.id()));
    let can_delete = move || message.with_value(|m| state.can_delete(m, viewer.id()));
    let can_reply = move || viewer.id().is_some();
    let confirming = RwSignal::new(false);
    let shown = move || {
        hydrated.is_some_and(|h| h.get())
            && state.editing.get() != Some(id)
            && (can_reply() || can_edit() || can_delete())
    };
    let reply = move |_| {
        message.with_value(|m| {
            state
                .replying
                .set(Some(ReplyRef::quoting(m.id, m.author.clone(), &m.text)));
        });
        focus_composer();
    };
    let delete = move |_| {
        confirming.set(false);
        #[cfg(feature = "hydrate")]
        super::client::delete_message(state, id);
    };
    view! {
        <Show when=shown>
            <span class="actions">
                <Show when=can_reply>
                    <button type="button" class="reply" on:click=reply>"Reply"</button>
                    <ReactionPicker id state/>
                </Show>
                <Show when=can_edit>
                    <button type="button" class="edit" on:click=move |_| state.editing.set(Some(id))>
                        "Edit"
                    </button>
                </Show>
                <Show
                    when=move || confirming.get()
                    fallback=move || view! {
                        <Show when=can_delete>
                            <button type="button" class="delete" on:click=move |_| confirming.set(true)>
                                "Delete"
                            </button>
                        </Show>
                    }
                >
                    <span class="confirm" role="group" aria-label="Delete this message?">
                        "Delete this message?"
                        <button type="button" class="danger confirm-delete" on:click=delete>"Delete"</button>
                        <button type="button" class="cancel" on:click=move |_| confirming.set(false)>
                            "Cancel"
                        </button>
                    </span>
                </Show>
            </span>
        </Show>
    }
    .into_any()
}

/// The answered message, quoted above the reply; a click jumps to it (loading older pages
/// when it is not in the list), a deleted one shows its tombstone.
#[component]
fn Quote(quote: ReplyRef, state: RoomState) -> impl IntoView {
    let target = quote.id;
    let jump = move |_| {
        #[cfg(feature = "hydrate")]
        super::live::jump_to_message(state, target);
        #[cfg(not(feature = "hydrate"))]
        let _ = (state, target);
    };
    let excerpt = if quote.deleted {
        view! { <span class="quote-text tombstone">"message deleted"</span> }.into_any()
    } else {
        view! { <span class="quote-text">{quote.excerpt}</span> }.into_any()
    };
    view! {
        <button
            type="button"
            class="quote"
            data-reply-to=target
            data-deleted=quote.deleted.then_some("true")
            title="Show the message this answers"
            on:click=jump
        >
            <span class="quote-author">{quote.author}</span>
            {excerpt}
        </button>
    }
}

/// Puts the cursor in the composer (after choosing to reply).
fn focus_composer() {
    #[cfg(feature = "hydrate")]
    if let Some(field) = document().get_element_by_id("composer-text") {
        use wasm_bindgen::JsCast;
        if let Ok(field) = field.dyn_into::<web_sys::HtmlElement>() {
            let _ = field.focus();
        }
    }
}

/// The text in place, editable: Enter saves, Shift+Enter is a new line, Esc cancels.
#[component]
fn Editor(id: i64, text: String, state: RoomState) -> impl IntoView {
    let draft = RwSignal::new(text.clone());
    let field = NodeRef::<leptos::html::Textarea>::new();
    Effect::new(move |_| {
        if let Some(field) = field.get() {
            let _ = field.focus();
        }
    });
    let original = StoredValue::new(text);
    let save = move || {
        let text = draft.get_untracked().replace('\t', "    ");
        if original.with_value(|o| *o == text) {
            state.editing.set(None);
            return;
        }
        if let Err(invalid) = crate::domain::MessageText::parse(&text) {
            state.notice.set(Some(invalid.message));
            return;
        }
        send_edit(state, id, text);
    };
    let on_keydown = move |ev: KeyboardEvent| match ev.key().as_str() {
        "Escape" => {
            ev.prevent_default();
            state.editing.set(None);
        }
        // Enter that ends an IME composition only commits the composed text.
        "Enter" if !ev.shift_key() && !ev.is_composing() && ev.key_code() != 229 => {
            ev.prevent_default();
            save();
        }
        _ => {}
    };
    view! {
        <form class="editor" on:submit=move |ev| { ev.prevent_default(); save(); }>
            <label class="visually-hidden" for=format!("edit-{id}")>"Edit message"</label>
            <textarea
                id=format!("edit-{id}")
                node_ref=field
                rows="2"
                prop:value=move || draft.get()
                on:input=move |ev| draft.set(event_target_value(&ev))
                on:keydown=on_keydown
            ></textarea>
            <span class="editor-buttons">
                <button type="submit" class="save">"Save"</button>
                <button type="button" class="cancel" on:click=move |_| state.editing.set(None)>
                    "Cancel"
                </button>
                <span class="hint">"Enter saves · Esc cancels"</span>
            </span>
        </form>
    }
}

/// Sends an edit (in the browser; the server-rendered page has no editor to save).
#[cfg(feature = "hydrate")]
fn send_edit(state: RoomState, id: i64, text: String) {
    super::client::edit_message(state, id, text);
}

#[cfg(not(feature = "hydrate"))]
fn send_edit(_state: RoomState, _id: i64, _text: String) {}

/// A timestamp: UTC on the server (it cannot know the reader's zone), local after hydration;
/// the full date and time on hover.
#[component]
fn Time(sent_at: String) -> impl IntoView {
    let hydrated = use_context::<Hydrated>().map(|h| h.0);
    let utc = sent_at.get(11..16).unwrap_or_default().to_owned();
    let utc_full = format!("{} {utc} UTC", sent_at.get(..10).unwrap_or_default());
    let (iso, iso_full) = (sent_at.clone(), sent_at.clone());
    let live = move || hydrated.is_some_and(|h| h.get());
    let shown = move || {
        if live() {
            local_hours_minutes(&iso).unwrap_or_else(|| utc.clone())
        } else {
            format!("{utc} UTC")
        }
    };
    let full = move || {
        live()
            .then(|| local_date_time(&iso_full))
            .flatten()
            .unwrap_or_else(|| utc_full.clone())
    };
    view! { <time datetime=sent_at title=full>{shown}</time> }
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

/// The date and time in the reader's zone and language ("Thursday 3 December 2026 at 09:29").
#[cfg(feature = "hydrate")]
fn local_date_time(iso: &str) -> Option<String> {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_str(iso));
    if date.get_time().is_nan() {
        return None;
    }
    let language = web_sys::window()
        .and_then(|window| window.navigator().language())
        .unwrap_or_else(|| "en".to_owned());
    let options = js_sys::Object::new();
    for (key, value) in [("dateStyle", "full"), ("timeStyle", "short")] {
        js_sys::Reflect::set(&options, &key.into(), &value.into()).ok()?;
    }
    Some(date.to_locale_string(&language, &options).into())
}

#[cfg(not(feature = "hydrate"))]
fn local_date_time(_iso: &str) -> Option<String> {
    None
}
