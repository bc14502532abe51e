//! The polling sessions: `GET /api/rooms/{slug}/messages?since={last seq}`, either waiting on
//! the server for the next room event (`&wait=25`, long polling: re-sent at once) or answered
//! at once and repeated every few seconds (short polling). Sends go by POST.

use super::{
    apply, apply_ephemeral, count_bytes, count_request, post, room_api, unsent, Command, Ended,
    Link,
};
use crate::{chat::state::ConnState, protocol::ServerFrame};
use futures::{FutureExt, StreamExt};
use leptos::prelude::*;
use std::time::Duration;

/// Which kind of polling.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// The server holds the request until a message arrives (or 25 s pass).
    Long,
    /// The server answers at once; the client asks again every few seconds.
    Short,
}

/// Seconds a long poll may wait on the server.
const LONG_POLL_WAIT_S: u32 = 25;
/// Pause between two short polls.
const SHORT_POLL_EVERY_MS: u64 = 2_000;

/// What one poll brought.
enum Polled {
    /// Room events (stored) and presence, typing or read frames (a long poll answers with those
    /// as they happen).
    Frames(Vec<ServerFrame>),
    RoomGone,
    Failed,
}

pub(super) async fn session(link: Link<'_>, mode: Mode) -> Ended {
    let Link {
        state,
        commands,
        resend,
    } = link;
    let mut was_open = false;
    let mut pause = Duration::ZERO;
    loop {
        // The first long poll answers at once (it is how we know the server is reachable);
        // the following ones wait for news.
        let url = match mode {
            Mode::Long if was_open => format!(
                "{}/messages?since={}&wait={LONG_POLL_WAIT_S}",
                room_api(&state),
                state.last_seq()
            ),
            Mode::Long | Mode::Short => {
                format!("{}/messages?since={}", room_api(&state), state.last_seq())
            }
        };
        let wait = pause;
        let poll = async move {
            gloo_timers::future::sleep(wait).await;
            count_request(&state);
            fetch(&state, &url).await
        }
        .fuse();
        futures::pin_mut!(poll);
        let polled = loop {
            futures::select! {
                polled = poll => break polled,
                command = commands.next() => match command {
                    None => return Ended::Stopped,
                    Some(Command::Reconnect) => return Ended::Restart,
                    Some(Command::Send(frame)) => post::send(state, frame, resend.clone()),
                },
            }
        };
        match polled {
            Polled::Frames(frames) => {
                if !was_open {
                    was_open = true;
                    state.status.set(ConnState::Live);
                    for frame in unsent(&state) {
                        post::send(state, frame, resend.clone());
                    }
                    // Who is here: a stream gets it first, a poll asks.
                    fetch_presence(state);
                }
                for frame in frames {
                    if let Some(ended) = apply(&state, frame, &resend) {
                        return ended;
                    }
                }
                // Short polls see presence only by asking.
                if mode == Mode::Short {
                    fetch_presence(state);
                }
                pause = match mode {
                    Mode::Long => Duration::ZERO,
                    Mode::Short => Duration::from_millis(SHORT_POLL_EVERY_MS),
                };
            }
            Polled::RoomGone => return Ended::RoomDeleted,
            Polled::Failed => return Ended::Dropped { was_open },
        }
    }
}

async fn fetch(state: &crate::chat::RoomState, url: &str) -> Polled {
    let Ok(response) = gloo_net::http::Request::get(url).send().await else {
        return Polled::Failed;
    };
    if response.status() == 404 {
        return Polled::RoomGone;
    }
    if !response.ok() {
        return Polled::Failed;
    }
    // Every poll pays for its response headers too: that is the cost the comparison shows.
    let headers: usize = response
        .headers()
        .entries()
        .map(|(name, value)| name.len() + value.len() + 4)
        .sum::<usize>()
        + 17;
    let Ok(body) = response.text().await else {
        return Polled::Failed;
    };
    count_bytes(state, headers + body.len());
    // Frames this client does not know are skipped, not a failed poll.
    match serde_json::from_str::<Vec<serde_json::Value>>(&body) {
        Ok(values) => Polled::Frames(
            values
                .into_iter()
                .filter_map(|value| serde_json::from_value(value).ok())
                .collect(),
        ),
        Err(_) => Polled::Failed,
    }
}

/// `GET /api/rooms/{slug}/presence`, applied when it answers.
fn fetch_presence(state: crate::chat::RoomState) {
    leptos::task::spawn_local(async move {
        let url = format!("{}/presence", room_api(&state));
        if let Ok(response) = gloo_net::http::Request::get(&url).send().await {
            if let Ok(frame) = response.json::<ServerFrame>().await {
                apply_ephemeral(&state, frame);
            }
        }
    });
}
