//! HTTP streaming: `GET /api/rooms/{slug}/events?since=SEQ` (or `?after=ID`), Server-Sent
//! Events.
//!
//! The same frames as the WebSocket, one event each: `event:` is the frame's type and, for
//! room events (messages, edits, deletions), `id:` is the event's seq, so a browser's
//! `EventSource` reconnects with `Last-Event-ID` and resumes without a gap, edits of old
//! messages included (the header wins over `since` and `after`). Every 15 s
//! of silence a keep-alive goes out — a `: keep-alive` comment and an empty `ping` event — so
//! proxies do not time the stream out and clients can notice a stalled one; `Cache-Control: no-cache` and `X-Accel-Buffering: no` stop proxies from
//! buffering it. The stream is a consumer like any
//! other: it has its own channel in the room's group.

use crate::http::gate::Pass;
use crate::{
    chat::{FeedEvent, RoomFeed},
    http::{
        admission::OriginRule,
        error::ApiError,
        extract::{ApiQuery, ClientIp, MaybeIdentity},
        state::AppState,
    },
};
use axum::{
    extract::{Path, State},
    http::{header, HeaderMap, HeaderValue},
    response::{
        sse::{Event, KeepAlive, Sse},
        IntoResponse, Response,
    },
};
use futures::stream::{self, StreamExt};
use serde::Deserialize;
use std::{convert::Infallible, time::Duration};

/// How often an idle stream says it is alive.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How long a browser should wait before reconnecting (SSE `retry:`), in milliseconds.
const RETRY_MS: u64 = 1000;

/// The query string.
#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    /// Resume after this message id (messages alone). `Last-Event-ID` takes precedence.
    after: Option<i64>,
    /// Resume after this room event seq. `Last-Event-ID` (also a seq) takes precedence.
    since: Option<i64>,
}

/// The handler.
pub async fn events(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    ApiQuery(query): ApiQuery<EventsQuery>,
    headers: HeaderMap,
    ClientIp(client): ClientIp,
    MaybeIdentity(viewer): MaybeIdentity,
) -> Result<Response, ApiError> {
    // A cross-site page may not read our stream with the visitor's cookie (EventSource
    // sends Origin only cross-origin, so its absence is fine here).
    let admitted = state
        .admission
        .admit(
            &state.chat,
            &headers,
            client,
            (&slug, viewer.as_ref()),
            OriginRule::RefuseForeign,
        )
        .await?;
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok());
    // Event ids are seqs: the browser's automatic reconnect resumes every room event.
    let resume = crate::transport::resume_from(last_event_id.or(query.since), query.after);
    let feed = state
        .chat
        .follow(&admitted.room, resume, viewer.as_ref())
        .await?;
    let events = stream_of(feed, admitted.slot);
    Ok(respond(events))
}

/// A stream of events as the response every SSE endpoint gives: the keep-alive, and the
/// headers that stop proxies from buffering it. The keep-alive is the customary comment plus
/// a named `ping` event: scripts cannot see comments, but they see the event, so a client
/// notices a stream that a buffering proxy holds back, and falls back.
pub(super) fn respond(
    events: impl futures::Stream<Item = Result<Event, Infallible>> + Send + 'static,
) -> Response {
    let mut response = Sse::new(events)
        .keep_alive(
            KeepAlive::new().interval(KEEP_ALIVE).event(
                Event::default()
                    .comment("keep-alive")
                    .event("ping")
                    .data(""),
            ),
        )
        .into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// The feed as SSE events, after a first comment that sets the browser's retry delay. The
/// slot is held as long as the stream lives.
fn stream_of(feed: RoomFeed, slot: Pass) -> impl futures::Stream<Item = Result<Event, Infallible>> {
    let first = Event::default()
        .retry(Duration::from_millis(RETRY_MS))
        .comment("connected");
    let open = crate::telemetry::OpenConnection::new("sse");
    stream::once(async move { Ok::<_, Infallible>(first) }).chain(stream::unfold(
        (feed, (slot, open), false),
        |(mut feed, slot, done)| async move {
            if done {
                return None;
            }
            let (event, last) = loop {
                match feed.next().await {
                    Ok(FeedEvent::Frame { seq, frame }) => {
                        break (to_event(seq, frame.as_str()), false)
                    }
                    // The room is gone: say so, then end the stream.
                    Ok(FeedEvent::Close { frame, .. }) => {
                        break (to_event(None, frame.as_str()), true)
                    }
                    // The stream has its own keep-alive.
                    Ok(FeedEvent::Heartbeat) => continue,
                    // Fell behind, or shutting down: end the stream; the browser reconnects
                    // with Last-Event-ID.
                    Ok(FeedEvent::Overflowed | FeedEvent::ShuttingDown) => return None,
                    Err(error) => {
                        tracing::error!(%error, "event stream failed");
                        return None;
                    }
                }
            };
            Some((Ok(event), (feed, slot, last)))
        },
    ))
}

/// One SSE event: `event:` from the frame's `"type"`, `id:` the seq of room events.
pub(super) fn to_event(seq: Option<i64>, frame: &str) -> Event {
    let kind = frame_type(frame).unwrap_or("message");
    let event = Event::default().event(kind).data(frame);
    match seq {
        Some(seq) => event.id(seq.to_string()),
        None => event,
    }
}

/// The `"type"` of an encoded server frame (always its first field).
fn frame_type(frame: &str) -> Option<&str> {
    let rest = frame.strip_prefix(r#"{"type":""#)?;
    rest.split('"').next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_types_become_event_names() {
        assert_eq!(frame_type(r#"{"type":"message","id":1}"#), Some("message"));
        assert_eq!(
            frame_type(r#"{"type":"room_deleted","room":"x"}"#),
            Some("room_deleted")
        );
        assert_eq!(frame_type("{}"), None);
    }
}
