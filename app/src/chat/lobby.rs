//! The live room list shared by the sidebar, the home page and the tab title: seeded from
//! the server-rendered list, then kept current by one lobby connection per tab
//! (`/ws/lobby`, falling back to `/api/lobby/events`).

use crate::protocol::RoomSummary;
use leptos::prelude::*;

/// The tab's room list.
#[derive(Clone, Copy)]
pub struct Lobby {
    /// Rooms, most recently active first.
    pub rooms: RwSignal<Vec<RoomSummary>>,
    /// Whether the list was seeded (from the page's data) yet.
    seeded: StoredValue<bool>,
}

impl Lobby {
    /// Provides the list to every component below (once, in the layout).
    pub fn provide() -> Self {
        let lobby = Self {
            rooms: RwSignal::new(Vec::new()),
            seeded: StoredValue::new(false),
        };
        provide_context(lobby);
        #[cfg(feature = "hydrate")]
        Effect::new(move |_| client::start(lobby));
        lobby
    }

    /// Seeds the list with the server's first page (the first caller wins; the lobby
    /// connection keeps it current afterwards).
    pub fn seed(&self, rooms: &[RoomSummary]) {
        if !self.seeded.get_value() {
            self.seeded.set_value(true);
            self.rooms.set(rooms.to_vec());
        }
    }

    /// Replaces the list (after a reconnect, when frames may have been missed).
    pub fn replace(&self, rooms: Vec<RoomSummary>) {
        self.seeded.set_value(true);
        self.rooms.set(rooms);
    }

    /// A room was created, renamed, got a message or its counts changed: update it and
    /// move it to where its activity puts it.
    pub fn upsert(&self, room: RoomSummary) {
        self.rooms.update(|rooms| {
            rooms.retain(|r| r.slug != room.slug);
            let active = activity(&room);
            let at = rooms
                .iter()
                .position(|r| activity(r) < active)
                .unwrap_or(rooms.len());
            rooms.insert(at, room);
        });
    }

    /// A room was deleted.
    pub fn remove(&self, slug: &str) {
        self.rooms.update(|rooms| rooms.retain(|r| r.slug != slug));
    }

    /// Unread messages in every listed room (the tab title shows it).
    pub fn total_unread(&self) -> u32 {
        self.rooms
            .with(|rooms| rooms.iter().map(|r| r.unread).sum())
    }

    /// Marks a room read here at once (the server confirms through the lobby feed).
    pub fn clear(&self, slug: &str) {
        self.rooms.update(|rooms| {
            if let Some(room) = rooms.iter_mut().find(|r| r.slug == slug) {
                room.unread = 0;
                room.mentions = 0;
            }
        });
    }
}

/// When a room was last active, as a sortable string (RFC 3339 sorts as time).
fn activity(room: &RoomSummary) -> String {
    room.last_message
        .as_ref()
        .map(|m| m.sent_at.clone())
        .or_else(|| room.last_message_at.clone())
        .unwrap_or_default()
}

#[cfg(feature = "hydrate")]
mod client {
    //! The lobby connection: WebSocket first, SSE after two failed opens; on every
    //! reconnect the list is read again, since frames may have been missed meanwhile.
    use super::Lobby;
    use crate::protocol::ServerFrame;
    use futures::StreamExt;
    use gloo_net::websocket::{futures::WebSocket, Message};
    use leptos::prelude::*;
    use std::time::Duration;

    const FIRST_BACKOFF_MS: u64 = 500;
    const MAX_BACKOFF_MS: u64 = 10_000;
    const OPENS_BEFORE_SSE: u32 = 2;

    pub(super) fn start(lobby: Lobby) {
        leptos::task::spawn_local(run(lobby));
    }

    fn apply(lobby: &Lobby, text: &str) {
        match serde_json::from_str::<ServerFrame>(text) {
            Ok(ServerFrame::Room { room }) => lobby.upsert(room),
            Ok(ServerFrame::RoomGone { slug }) => lobby.remove(&slug),
            Ok(ServerFrame::Mention {
                room,
                title,
                message,
            }) => super::super::notify::show_mention(&room, &title, &message),
            _ => {}
        }
    }

    async fn resync(lobby: &Lobby) {
        if let Ok(list) = crate::server_fns::list_rooms(None).await {
            lobby.replace(list.rooms);
        }
    }

    async fn run(lobby: Lobby) {
        let mut backoff = 0;
        let mut failed_opens = 0;
        let mut first = true;
        loop {
            let opened = if failed_opens < OPENS_BEFORE_SSE {
                websocket(&lobby, &mut first).await
            } else {
                sse(&lobby, &mut first).await
            };
            if opened {
                failed_opens = 0;
                backoff = FIRST_BACKOFF_MS;
            } else {
                failed_opens += 1;
                backoff = (backoff * 2).clamp(FIRST_BACKOFF_MS, MAX_BACKOFF_MS);
            }
            let jitter = 0.5 + js_sys::Math::random();
            gloo_timers::future::sleep(Duration::from_millis((backoff as f64 * jitter) as u64))
                .await;
        }
    }

    /// One WebSocket until it closes; whether it ever opened.
    async fn websocket(lobby: &Lobby, first: &mut bool) -> bool {
        let location = window().location();
        let scheme = if location.protocol().ok().as_deref() == Some("https:") {
            "wss"
        } else {
            "ws"
        };
        let Ok(host) = location.host() else {
            return false;
        };
        let Ok(socket) = WebSocket::open(&format!("{scheme}://{host}/ws/lobby")) else {
            return false;
        };
        let started = js_sys::Date::now();
        let (_sink, mut stream) = socket.split();
        if !std::mem::take(first) {
            resync(lobby).await;
        }
        let mut heard = false;
        while let Some(message) = stream.next().await {
            match message {
                Ok(Message::Text(text)) => {
                    heard = true;
                    apply(lobby, &text);
                }
                Ok(Message::Bytes(_)) => {}
                Err(_) => break,
            }
        }
        // The lobby says nothing until something changes: a socket that stayed up for a
        // while worked, even if it heard nothing.
        heard || js_sys::Date::now() - started > 3_000.0
    }

    /// The SSE fallback until it fails for good; whether it ever opened.
    async fn sse(lobby: &Lobby, first: &mut bool) -> bool {
        let Ok(mut source) = gloo_net::eventsource::futures::EventSource::new("/api/lobby/events")
        else {
            return false;
        };
        let streams: Vec<_> = ["room", "room_gone", "mention"]
            .into_iter()
            .filter_map(|name| source.subscribe(name).ok())
            .collect();
        let mut events = futures::stream::select_all(streams);
        if !std::mem::take(first) {
            resync(lobby).await;
        }
        let mut opened = false;
        while let Some(event) = events.next().await {
            match event {
                Ok((_, message)) => {
                    opened = true;
                    apply(lobby, &message.data().as_string().unwrap_or_default());
                }
                Err(_) => {
                    if matches!(source.state(), gloo_net::eventsource::State::Closed) {
                        break;
                    }
                }
            }
        }
        source.close();
        opened
    }
}
