//! `@name` in the composer: while the draft ends in `@` and the start of a name, the names
//! of the room's people (who is here, and who wrote the messages shown) that match are
//! offered; ↑/↓ choose, Enter or Tab completes, Esc closes. In the list, mentions are
//! highlighted, those of the viewer most.

use super::RoomState;
use crate::{
    identity::ViewerContext,
    protocol::{text_pieces, TextPiece},
};
use leptos::{ev::KeyboardEvent, prelude::*};

/// Names offered at most.
const OFFERED: usize = 6;

/// The name being typed after a trailing `@` (empty right after the `@`), if any.
pub fn mention_prefix(draft: &str) -> Option<&str> {
    let at = draft.rfind('@')?;
    let before = draft[..at].chars().next_back();
    if before.is_some_and(|c| !c.is_whitespace()) {
        return None;
    }
    let prefix = &draft[at + 1..];
    let name_char = |c: char| c.is_alphanumeric() || matches!(c, '_' | '.' | '-');
    prefix.chars().all(name_char).then_some(prefix)
}

/// The names among `names` that start with `prefix` (any case), each once, at most
/// [`OFFERED`], not the viewer's own.
pub fn suggest(prefix: &str, names: &[String], me: Option<&str>) -> Vec<String> {
    let prefix = prefix.to_lowercase();
    let mut offered: Vec<String> = Vec::new();
    for name in names {
        let lower = name.to_lowercase();
        let mine = me.is_some_and(|me| me.to_lowercase() == lower);
        if !mine && lower.starts_with(&prefix) && !offered.iter().any(|o| o.to_lowercase() == lower)
        {
            offered.push(name.clone());
            if offered.len() == OFFERED {
                break;
            }
        }
    }
    offered
}

/// The composer's name completion.
#[derive(Clone, Copy)]
pub struct MentionPicker {
    draft: RwSignal<String>,
    options: Memo<Vec<String>>,
    selected: RwSignal<usize>,
    /// Closed with Esc until the draft changes.
    dismissed: RwSignal<bool>,
}

impl MentionPicker {
    /// Completion for `draft` from `state`'s people.
    pub fn new(state: RoomState, draft: RwSignal<String>) -> Self {
        let viewer = expect_context::<ViewerContext>();
        let dismissed = RwSignal::new(false);
        let options = Memo::new(move |_| {
            let text = draft.get();
            let Some(prefix) = mention_prefix(&text) else {
                return Vec::new();
            };
            if dismissed.get() {
                return Vec::new();
            }
            let mut names: Vec<String> = state
                .members
                .with(|m| m.iter().map(|m| m.name.clone()).collect());
            state.messages.with(|list| {
                names.extend(list.iter().rev().map(|m| m.author.clone()));
            });
            let me = viewer.key().map(|k| k.1);
            suggest(prefix, &names, me.as_deref())
        });
        Self {
            draft,
            options,
            selected: RwSignal::new(0),
            dismissed,
        }
    }

    /// The draft changed (typed): a closed list may open again.
    pub fn typed(self) {
        self.dismissed.set(false);
        self.selected.set(0);
    }

    /// Handles a key while names are offered; true if it was the picker's.
    pub fn keydown(self, ev: &KeyboardEvent) -> bool {
        let count = self.options.with_untracked(Vec::len);
        if count == 0 {
            return false;
        }
        match ev.key().as_str() {
            "ArrowDown" => self.selected.update(|s| *s = (*s + 1) % count),
            "ArrowUp" => self.selected.update(|s| *s = (*s + count - 1) % count),
            "Enter" | "Tab" => {
                let chosen = self
                    .options
                    .with_untracked(|o| o.get(self.selected.get_untracked()).cloned());
                if let Some(name) = chosen {
                    self.complete(&name);
                }
            }
            "Escape" => self.dismissed.set(true),
            _ => return false,
        }
        ev.prevent_default();
        true
    }

    /// Replaces the `@prefix` at the draft's end with `@name `.
    fn complete(self, name: &str) {
        self.draft.update(|draft| {
            if let Some(at) = draft.rfind('@') {
                draft.truncate(at);
                draft.push('@');
                draft.push_str(name);
                draft.push(' ');
            }
        });
        self.selected.set(0);
    }
}

/// The offered names, above the composer.
#[component]
pub fn MentionList(picker: MentionPicker) -> impl IntoView {
    view! {
        <Show when=move || picker.options.with(|o| !o.is_empty())>
            <ul class="mention-list" role="listbox" aria-label="People to mention">
                {move || {
                    picker
                        .options
                        .get()
                        .into_iter()
                        .enumerate()
                        .map(|(i, name)| {
                            let chosen = name.clone();
                            view! {
                                <li
                                    role="option"
                                    class="mention-option"
                                    aria-selected=move || (picker.selected.get() == i).to_string()
                                    // mousedown, not click: the composer keeps the focus.
                                    on:mousedown=move |ev| {
                                        ev.prevent_default();
                                        picker.complete(&chosen);
                                    }
                                >
                                    "@"
                                    {name}
                                </li>
                            }
                        })
                        .collect_view()
                }}
            </ul>
        </Show>
    }
}

/// A message's text with its mentions marked (`.mention`, and `.me` for the viewer's).
#[component]
pub fn TextWithMentions(text: String) -> impl IntoView {
    let viewer = expect_context::<ViewerContext>();
    let pieces: Vec<(bool, String)> = text_pieces(&text)
        .into_iter()
        .map(|piece| match piece {
            TextPiece::Plain(plain) => (false, plain.to_owned()),
            TextPiece::Mention(name) => (true, name.to_owned()),
        })
        .collect();
    view! {
        <span class="text">
            {pieces
                .into_iter()
                .map(|(mention, piece)| {
                    if mention {
                        let lower = piece.to_lowercase();
                        let mine = move || viewer.key().is_some_and(|k| k.1.to_lowercase() == lower);
                        view! { <span class="mention" class:me=mine>"@" {piece}</span> }.into_any()
                    } else {
                        with_links(&piece).into_any()
                    }
                })
                .collect_view()}
        </span>
    }
}

/// Plain text with its web addresses as links that open in a new tab, tell the site nothing
/// of where the reader came from and carry no endorsement (`nofollow`). Only `http(s)://`
/// addresses are ever linked (never `javascript:`); the text is escaped by the renderer.
fn with_links(text: &str) -> impl IntoView {
    super::present::link_pieces(text)
        .into_iter()
        .map(|piece| match piece {
            super::present::LinkPiece::Text(text) => text.to_owned().into_any(),
            super::present::LinkPiece::Link(address) => view! {
                <a href=address.to_owned() rel="noopener noreferrer nofollow" target="_blank">
                    {address.to_owned()}
                </a>
            }
            .into_any(),
        })
        .collect_view()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_is_a_name_started_after_a_trailing_at() {
        assert_eq!(mention_prefix("hi @an"), Some("an"));
        assert_eq!(mention_prefix("@"), Some(""));
        assert_eq!(mention_prefix("mail a@b"), None, "not after a word");
        assert_eq!(mention_prefix("hi @ann and"), None, "the name was finished");
        assert_eq!(mention_prefix("no at sign"), None);
    }

    #[test]
    fn suggestions_match_the_start_once_and_leave_out_the_viewer() {
        let names: Vec<String> = ["Ann", "bo", "anna", "ann", "Cy"]
            .map(String::from)
            .to_vec();
        assert_eq!(suggest("an", &names, Some("anna")), ["Ann"]);
        assert_eq!(suggest("", &names, None).len(), 4, "each name once");
    }
}
