//! The room view's behaviour in the browser: the connection, following the bottom,
//! scroll-back, the "New messages" divider and read markers.

use super::{client::Connection, state::OLDER_PAGE, RoomState};
use crate::{
    chat::Lobby,
    identity::ViewerContext,
    protocol::{ChatMessage, ClientFrame, ServerFrame},
};
use leptos::{html::Ol, prelude::*};

/// How close to the bottom (px) still counts as "at the bottom".
const BOTTOM_SLACK: i32 = 48;
/// How close to the top (px) loads the previous page.
const TOP_SLACK: i32 = 120;

/// Starts the connection and the effects of a room view.
pub(super) fn wire(
    state: RoomState,
    connection: StoredValue<Option<Connection>>,
    list: NodeRef<Ol>,
    divider: RwSignal<Option<i64>>,
) {
    let viewer = expect_context::<ViewerContext>();
    let lobby = use_context::<Lobby>();
    state.me.set_value(viewer.id());
    Effect::new(move |_| {
        connection.set_value(Some(Connection::start(state)));
    });
    // The socket reads the session once, at the handshake: when the identity changes
    // (a name was picked or changed), reconnect so the server sees it.
    Effect::new(move |previous: Option<Option<(i64, String)>>| {
        let key = viewer.key();
        state.me.set_value(key.as_ref().map(|k| k.0));
        if previous.is_some_and(|p| p != key) {
            connection.with_value(|c| c.as_ref().map(|c| c.reconnect()));
        }
        key
    });
    on_cleanup(move || {
        connection.with_value(|c| c.as_ref().map(|c| c.stop()));
    });

    // Where to open: at the first unread message (its count comes from the sidebar), or at
    // the bottom.
    Effect::new(move |done: Option<bool>| {
        if done == Some(true) {
            return true;
        }
        let Some(element) = list.get() else {
            return false;
        };
        // A link to one message (a search result): open there, loading older pages.
        if let Some(at) = linked_message() {
            jump_to_message(state, at);
            return true;
        }
        let marker = lobby.and_then(|l| {
            let slug = state.slug.get_value();
            l.rooms.with_untracked(|r| {
                r.iter()
                    .find(|r| r.slug == slug)
                    .map(|r| (r.unread, r.read_up_to))
            })
        });
        let me = viewer.key().map(|k| k.1);
        let first_unread = match marker {
            Some((unread, up_to)) if unread > 0 => state
                .messages
                .with_untracked(|messages| first_unread(messages, up_to, me.as_deref())),
            _ => None,
        };
        divider.set(first_unread);
        request_animation_frame(move || match first_unread {
            Some(id) => {
                let selector = format!("[data-id=\"{id}\"]");
                if let Ok(Some(target)) = element.query_selector(&selector) {
                    target.scroll_into_view();
                    state.at_bottom.set(false);
                    scrolled(state, list);
                }
            }
            None => {
                element.set_scroll_top(element.scroll_height());
                // Once more after the first layout settles (fonts, a wrapping header), unless
                // the reader has scrolled away meanwhile.
                set_timeout(
                    move || {
                        if state.at_bottom.get_untracked() {
                            element.set_scroll_top(element.scroll_height());
                        }
                    },
                    std::time::Duration::from_millis(150),
                );
            }
        });
        true
    });

    // Follow the bottom while the reader is there.
    Effect::new(move |_| {
        let count = state.messages.with(Vec::len) + state.pending.with(Vec::len);
        if state.at_bottom.get() {
            if let Some(element) = list.get_untracked() {
                request_animation_frame(move || element.set_scroll_top(element.scroll_height()));
            }
        }
        count
    });

    // Tell the server what was read: the newest message is visible and the tab has focus.
    let focused = RwSignal::new(document().has_focus().unwrap_or(true));
    let _ = window_event_listener(leptos::ev::focus, move |_| focused.set(true));
    let _ = window_event_listener(leptos::ev::blur, move |_| focused.set(false));
    Effect::new(move |_| {
        let newest = state.messages.with(|m| m.last().map(|m| m.id));
        if !(state.at_bottom.get() && focused.get() && !state.detached.get()) {
            return;
        }
        if state.status.get() != super::ConnState::Live {
            return;
        }
        let Some(newest) = newest else {
            return;
        };
        if newest > state.read_sent.get_value() {
            state.read_sent.set_value(newest);
            if let Some(lobby) = lobby {
                lobby.clear(&state.slug.get_value());
            }
            connection.with_value(|c| {
                c.as_ref()
                    .map(|c| c.signal(&ClientFrame::Read { up_to: newest }))
            });
        }
    });
}

/// The first message by someone else after the read marker `up_to` (or the first shown,
/// when the marker is older than the page).
fn first_unread(messages: &[ChatMessage], up_to: i64, me: Option<&str>) -> Option<i64> {
    messages
        .iter()
        .find(|m| m.id > up_to && Some(m.author.as_str()) != me)
        .map(|m| m.id)
}

/// After a scroll: whether the reader is at the bottom, and the previous page when near
/// the top.
pub(super) fn scrolled(state: RoomState, list: NodeRef<Ol>) {
    let Some(element) = list.get_untracked() else {
        return;
    };
    let from_bottom = element.scroll_height() - element.scroll_top() - element.client_height();
    let at_bottom = from_bottom <= BOTTOM_SLACK && !state.detached.get_untracked();
    if at_bottom != state.at_bottom.get_untracked() {
        state.at_bottom.set(at_bottom);
    }
    if at_bottom && state.unseen.get_untracked() > 0 {
        state.unseen.set(0);
    }
    if element.scroll_top() <= TOP_SLACK
        && !state.loading_older.get_untracked()
        && !state.older_done.get_untracked()
    {
        load_older(state, list);
    }
}

/// Loads the page before the first message shown, keeping what the reader sees in place.
fn load_older(state: RoomState, list: NodeRef<Ol>) {
    let Some(first) = state.messages.with_untracked(|m| m.first().map(|m| m.id)) else {
        state.older_done.set(true);
        return;
    };
    state.loading_older.set(true);
    leptos::task::spawn_local(async move {
        let url = format!(
            "/api/rooms/{}/messages?before={first}&limit={OLDER_PAGE}",
            state.slug.get_value()
        );
        let older = fetch_messages(&url).await;
        state.loading_older.set(false);
        let Some(older) = older else {
            return;
        };
        if older.len() < OLDER_PAGE as usize {
            state.older_done.set(true);
        }
        let Some(element) = list.get_untracked() else {
            return;
        };
        let before = element.scroll_height() - element.scroll_top();
        state.prepend(older);
        request_animation_frame(move || {
            element.set_scroll_top(element.scroll_height() - before);
        });
    });
}

/// Back to the newest messages (reloading them when the list was detached).
pub(super) fn jump_to_latest(state: RoomState, list: NodeRef<Ol>) {
    state.unseen.set(0);
    if !state.detached.get_untracked() {
        state.at_bottom.set(true);
        if let Some(element) = list.get_untracked() {
            element.set_scroll_top(element.scroll_height());
        }
        return;
    }
    leptos::task::spawn_local(async move {
        let url = format!("/api/rooms/{}/messages?limit=50", state.slug.get_value());
        if let Some(latest) = fetch_messages(&url).await {
            state.detached.set(false);
            state.older_done.set(false);
            state.messages.set(latest);
            state.at_bottom.set(true);
        }
    });
}

/// Messages one step of a jump to an old message loads.
const JUMP_PAGE: u32 = 200;
/// Steps after which a jump gives up (the message is that far back: 5,000 messages).
const JUMP_PAGES: usize = 25;
/// How long a message jumped to stays highlighted.
const HIGHLIGHT_MS: u64 = 2_000;

/// Scrolls to message `id` (a reply's quote was clicked) and highlights it, loading older
/// pages first while it is further back than the list goes.
/// The message the page's address points at (`?at={id}`), if any.
fn linked_message() -> Option<i64> {
    let search = window().location().search().ok()?;
    search
        .trim_start_matches('?')
        .split('&')
        .find_map(|pair| pair.strip_prefix("at="))
        .and_then(|id| id.parse().ok())
}

pub(super) fn jump_to_message(state: RoomState, id: i64) {
    leptos::task::spawn_local(async move {
        for _ in 0..JUMP_PAGES {
            let (present, first) = state.messages.with_untracked(|list| {
                (
                    list.binary_search_by_key(&id, |m| m.id).is_ok(),
                    list.first().map(|m| m.id),
                )
            });
            let Some(first) = first.filter(|first| !present && id < *first) else {
                break;
            };
            let url = format!(
                "/api/rooms/{}/messages?before={first}&limit={JUMP_PAGE}",
                state.slug.get_value()
            );
            match fetch_messages(&url).await {
                Some(older) if !older.is_empty() => state.prepend(older),
                _ => {
                    state.older_done.set(true);
                    break;
                }
            }
        }
        // Reading back there: the list must not snap down to the newest.
        state.at_bottom.set(false);
        request_animation_frame(move || {
            let selector = format!(".messages [data-id=\"{id}\"]");
            match document().query_selector(&selector) {
                Ok(Some(target)) => {
                    target.scroll_into_view();
                    state.highlighted.set(Some(id));
                    set_timeout(
                        move || {
                            if state.highlighted.get_untracked() == Some(id) {
                                state.highlighted.set(None);
                            }
                        },
                        std::time::Duration::from_millis(HIGHLIGHT_MS),
                    );
                }
                _ => state.notice.set(Some(
                    "That message is too far back to show here.".to_owned(),
                )),
            }
        });
    });
}

async fn fetch_messages(url: &str) -> Option<Vec<ChatMessage>> {
    let response = gloo_net::http::Request::get(url).send().await.ok()?;
    if !response.ok() {
        return None;
    }
    let frames: Vec<serde_json::Value> = response.json().await.ok()?;
    Some(
        frames
            .into_iter()
            .filter_map(|v| match serde_json::from_value(v) {
                Ok(ServerFrame::Message(m)) => Some(m),
                _ => None,
            })
            .collect(),
    )
}
