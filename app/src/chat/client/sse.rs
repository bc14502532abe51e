//! The HTTP streaming session: `EventSource` on `/api/rooms/{slug}/events?since={last seq}`;
//! sends go by POST. The browser reconnects an interrupted stream by itself, sending the
//! last event id (a room event's seq) so the server resumes without a gap.

use super::{
    apply_frame, count_bytes, count_request, open_or_command, post, unsent, Command, Ended, Link,
    OPEN_TIMEOUT_MS,
};
use crate::chat::state::ConnState;
use futures::StreamExt;
use gloo_net::eventsource::{futures::EventSource, State};
use leptos::prelude::*;
use std::time::Duration;

/// Event names the server sends: the frame types, and `ping` every 15 s.
const EVENTS: [&str; 11] = [
    "message",
    "message_edited",
    "message_deleted",
    "reaction",
    "room_renamed",
    "room_deleted",
    "ping",
    "presence",
    "presence_diff",
    "typing",
    "read",
];
/// A stream silent for this long is stuck (a proxy holding it back): give it up.
const SILENCE_MS: f64 = 35_000.0;

pub(super) async fn session(link: Link<'_>) -> Ended {
    let Link {
        state,
        commands,
        resend,
    } = link;
    let url = format!(
        "/api/rooms/{}/events?since={}",
        state.slug.get_value(),
        state.last_seq()
    );
    count_request(&state);
    let Ok(mut source) = EventSource::new(&url) else {
        return Ended::Dropped { was_open: false };
    };
    let mut subscriptions = Vec::new();
    for name in EVENTS {
        match source.subscribe(name) {
            Ok(subscription) => subscriptions.push(subscription),
            Err(_) => return Ended::Dropped { was_open: false },
        }
    }
    let mut events = futures::stream::select_all(subscriptions);

    // EventSource has no "open" future: watch its state.
    let opening = js_sys::Date::now();
    let open = async {
        loop {
            match source.state() {
                State::Open => return true,
                State::Closed => return false,
                State::Connecting if js_sys::Date::now() - opening > OPEN_TIMEOUT_MS => {
                    return false;
                }
                State::Connecting => {
                    gloo_timers::future::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    };
    if let Err(ended) = open_or_command(open, commands).await {
        return ended;
    }
    state.status.set(ConnState::Live);
    for frame in unsent(&state) {
        post::send(state, frame, resend.clone());
    }

    let mut was_connected = true;
    let mut last_heard = js_sys::Date::now();
    let mut ticks = gloo_timers::future::IntervalStream::new(500).fuse();
    loop {
        futures::select! {
            event = events.next() => match event {
                Some(Ok((name, message))) => {
                    last_heard = js_sys::Date::now();
                    let data = message.data().as_string().unwrap_or_default();
                    let id = message.last_event_id();
                    // "event: …\nid: …\ndata: …\n\n" as it came over the wire.
                    count_bytes(&state, data.len() + name.len() + id.len() + 20);
                    if let Some(ended) = apply_frame(&state, &data, &resend) {
                        return ended;
                    }
                }
                // The stream closed for good (the browser gave up reconnecting).
                Some(Err(_)) | None => {
                    if matches!(source.state(), State::Closed) {
                        return Ended::Dropped { was_open: true };
                    }
                }
            },
            _ = ticks.next() => {
                if js_sys::Date::now() - last_heard > SILENCE_MS {
                    return Ended::Dropped { was_open: true };
                }
                // The browser reconnects a dropped stream itself: show it, and count it.
                match source.state() {
                    State::Open => {
                        if !was_connected {
                            count_request(&state);
                            state.status.set(ConnState::Live);
                        }
                        was_connected = true;
                    }
                    State::Connecting => {
                        was_connected = false;
                        state.status.set(ConnState::Reconnecting);
                    }
                    State::Closed => return Ended::Dropped { was_open: true },
                }
            }
            command = commands.next() => match command {
                None => return Ended::Stopped,
                Some(Command::Reconnect) => return Ended::Restart,
                Some(Command::Send(frame)) => post::send(state, frame, resend.clone()),
            },
        }
    }
}
