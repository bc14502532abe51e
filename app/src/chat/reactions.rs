//! Reactions on a message: the chips under it (emoji, count, who on hover or long press, a
//! click toggles the viewer's own) and the picker that puts a new one on — the common emoji
//! plus a field for any other, which the server checks is exactly one emoji.

use super::RoomState;
use crate::protocol::ReactionCount;
use leptos::{ev::KeyboardEvent, prelude::*};

/// The emoji the picker offers at once.
pub const COMMON_EMOJI: [&str; 8] = ["👍", "❤️", "😂", "🎉", "😮", "😢", "🙏", "👀"];

/// The chips under a message, one per emoji, in the order they were first put on.
#[component]
pub fn ReactionChips(
    id: i64,
    reactions: Vec<ReactionCount>,
    state: RoomState,
    /// Whether the viewer may react (logged in): otherwise the chips only show.
    can_react: Signal<bool>,
) -> impl IntoView {
    if reactions.is_empty() {
        return ().into_any();
    }
    let me = state.me.try_get_value().flatten();
    let chips = reactions
        .into_iter()
        .map(|reaction| {
            let mine = reaction.mine || reaction.users.iter().any(|u| Some(u.id) == me);
            let who = who_reacted(&reaction);
            let emoji = StoredValue::new(reaction.emoji.clone());
            let label = format!("{} {}: {}", reaction.emoji, reaction.count, who);
            view! {
                <li>
                    <button
                        type="button"
                        class="reaction"
                        class:mine=mine
                        aria-pressed=if mine { "true" } else { "false" }
                        aria-label=label
                        title=who
                        disabled=move || !can_react.get()
                        data-emoji=reaction.emoji.clone()
                        on:click=move |_| react(state, id, emoji.get_value())
                    >
                        <span class="reaction-emoji">{reaction.emoji.clone()}</span>
                        <span class="reaction-count">{reaction.count}</span>
                    </button>
                </li>
            }
        })
        .collect_view();
    view! { <ul class="reactions" aria-label="Reactions">{chips}</ul> }.into_any()
}

/// "ann, bo and 3 others" for a chip's hover text.
fn who_reacted(reaction: &ReactionCount) -> String {
    let names: Vec<&str> = reaction.users.iter().map(|u| u.name.as_str()).collect();
    let others = (reaction.count as usize).saturating_sub(names.len());
    let listed = names.join(", ");
    match others {
        0 => listed,
        1 => format!("{listed} and 1 other"),
        n => format!("{listed} and {n} others"),
    }
}

/// The "React" button and its picker.
#[component]
pub fn ReactionPicker(id: i64, state: RoomState) -> impl IntoView {
    let open = RwSignal::new(false);
    let other = RwSignal::new(String::new());
    let button = NodeRef::<leptos::html::Button>::new();
    // Closing the picker removes the control that had the focus: it goes back to "React",
    // not to the top of the page.
    let close = move || {
        open.set(false);
        if let Some(button) = button.get_untracked() {
            let _ = button.focus();
        }
    };
    let choose = move |emoji: String| {
        close();
        other.set(String::new());
        react(state, id, emoji);
    };
    let on_keydown = move |ev: KeyboardEvent| {
        if ev.key() == "Escape" && open.get_untracked() {
            ev.prevent_default();
            close();
        }
    };
    let common = COMMON_EMOJI
        .iter()
        .map(|emoji| {
            let emoji = *emoji;
            view! {
                <button
                    type="button"
                    class="pick"
                    aria-label=format!("React with {emoji}")
                    on:click=move |_| choose(emoji.to_owned())
                >
                    {emoji}
                </button>
            }
        })
        .collect_view();
    view! {
        <span class="react-wrap" on:keydown=on_keydown>
            <button
                node_ref=button
                type="button"
                class="react"
                aria-haspopup="true"
                aria-expanded=move || if open.get() { "true" } else { "false" }
                on:click=move |_| open.update(|o| *o = !*o)
            >
                "React"
            </button>
            <Show when=move || open.get()>
                <span class="picker" role="group" aria-label="Pick a reaction">
                    {common.clone()}
                    <form
                        class="pick-other"
                        on:submit=move |ev| {
                            ev.prevent_default();
                            let emoji = other.get_untracked().trim().to_owned();
                            if !emoji.is_empty() {
                                choose(emoji);
                            }
                        }
                    >
                        <label class="visually-hidden" for=format!("emoji-{id}")>"Any emoji"</label>
                        <input
                            id=format!("emoji-{id}")
                            class="emoji-field"
                            placeholder="any emoji"
                            maxlength="32"
                            autocomplete="off"
                            prop:value=move || other.get()
                            on:input=move |ev| other.set(event_target_value(&ev))
                        />
                        <button type="submit" class="pick-other-add">"Add"</button>
                    </form>
                </span>
            </Show>
        </span>
    }
    .into_any()
}

/// Toggles the viewer's `emoji` on message `id` (in the browser; nothing on the server).
#[cfg(feature = "hydrate")]
fn react(state: RoomState, id: i64, emoji: String) {
    super::client::react_to_message(state, id, emoji);
}

#[cfg(not(feature = "hydrate"))]
fn react(_state: RoomState, _id: i64, _emoji: String) {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Member;

    #[test]
    fn hover_text_names_the_first_and_counts_the_rest() {
        let member = |id, name: &str| Member {
            id,
            name: name.into(),
        };
        let reaction = ReactionCount {
            emoji: "👍".into(),
            count: 4,
            mine: false,
            users: vec![member(1, "ann"), member(2, "bo")],
        };
        assert_eq!(who_reacted(&reaction), "ann, bo and 2 others");
        let alone = ReactionCount {
            count: 1,
            users: vec![member(1, "ann")],
            ..reaction
        };
        assert_eq!(who_reacted(&alone), "ann");
    }
}
