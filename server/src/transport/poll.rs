//! Short and long polling: `GET /api/rooms/{slug}/messages?since=SEQ[&wait=S]` (every room
//! event after a seq: messages, edits, deletions) or `?after=ID` (messages alone).
//!
//! Short poll (no `wait`): answers at once with what the store has after `since`/`after`.
//! Long poll (`wait` ≤ 30 s): joins the room's group first (a consumer with its own channel,
//! like a WebSocket), then reads the store; if nothing is new, it sleeps on the channel
//! until a message is published, reads the store again, or answers `[]` when `wait` runs
//! out. Three queries per poll: the room, the read, the read after the wake-up. The client
//! re-polls at once from its last id, so nothing falls between two polls. Nothing is kept
//! between requests: any server process can answer any poll.

use crate::{
    auth::Identity,
    chat::{Room, WatchEvent, MAX_PAGE},
    http::{
        admission::OriginRule,
        error::ApiError,
        extract::{ApiQuery, ClientIp, MaybeIdentity},
        state::AppState,
    },
};
use app::protocol::{ChatMessage, ServerFrame};
use axum::{
    extract::{Path, State},
    Json,
};
use serde::Deserialize;
use std::time::Duration;

/// Longest a long poll may wait.
pub const MAX_WAIT_SECONDS: u64 = 30;

/// Which messages to read, and how long to wait for them.
#[derive(Debug, Deserialize)]
pub struct ReadQuery {
    /// Messages after this id, oldest first (polling, catch-up).
    after: Option<i64>,
    /// Room events after this seq, in order (polling, catch-up); wins over `after`.
    since: Option<i64>,
    /// Messages before this id, oldest first (scrolling back). Ignored with `after`.
    before: Option<i64>,
    /// Page size (1–500; default 50 for history, 500 after an id).
    limit: Option<u32>,
    /// Long poll: wait up to this many seconds (≤ 30) for news after `since`/`after`.
    wait: Option<u64>,
}

/// The handler: history, short poll or long poll. Each message is the WebSocket's
/// `{"type":"message",…}` frame, so one decoder serves every transport.
pub async fn read(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    ApiQuery(query): ApiQuery<ReadQuery>,
    headers: axum::http::HeaderMap,
    ClientIp(client): ClientIp,
    MaybeIdentity(viewer): MaybeIdentity,
) -> Result<Json<Vec<ServerFrame>>, ApiError> {
    // Another site's page may not read the API with the visitor's cookie, even without
    // holding anything open.
    state
        .admission
        .check_origin(&headers, OriginRule::RefuseForeign)?;
    let frames = read_messages(&state, &slug, query, &headers, client, viewer.as_ref()).await?;
    Ok(Json(frames))
}

async fn read_messages(
    state: &AppState,
    slug: &str,
    query: ReadQuery,
    headers: &axum::http::HeaderMap,
    client: Option<std::net::IpAddr>,
    viewer: Option<&Identity>,
) -> Result<Vec<ServerFrame>, ApiError> {
    let wait = query.wait.unwrap_or(0).min(MAX_WAIT_SECONDS);
    let cursor = match (query.since, query.after) {
        (Some(since), _) if wait > 0 => Cursor::Since(since),
        (None, Some(after)) if wait > 0 => Cursor::After(after),
        _ => return read_now(state, slug, &query, viewer).await,
    };
    let limit = query.limit.unwrap_or(MAX_PAGE);
    // A waiting poll holds a connection slot: another site's pages may not take them.
    let admitted = state
        .admission
        .admit(
            &state.chat,
            headers,
            client,
            (slug, viewer),
            OriginRule::RefuseForeign,
        )
        .await?;
    // Present while waiting, and for a while after (until the next poll comes).
    let presence = state.chat.presence();
    let _here = viewer.map(|v| presence.enter(admitted.room.slug.as_str(), v.user_id, &v.name));
    let answer = wait_for_news(
        state,
        &admitted.room,
        cursor,
        limit,
        Duration::from_secs(wait),
        viewer.map(|v| v.user_id),
    )
    .await;
    if let Some(v) = viewer {
        presence.touch(admitted.room.slug.as_str(), v.user_id, &v.name);
    }
    answer
}

/// Where a poll reads from.
#[derive(Clone, Copy, Debug)]
enum Cursor {
    /// Messages after this id.
    After(i64),
    /// Room events after this seq.
    Since(i64),
}

/// What the store has after `cursor`, as frames.
async fn news(
    state: &AppState,
    room: &Room,
    cursor: Cursor,
    limit: u32,
    viewer: Option<i64>,
) -> Result<Vec<ServerFrame>, ApiError> {
    Ok(match cursor {
        Cursor::After(after) => messages(state.chat.after(room, after, limit, viewer).await?),
        Cursor::Since(since) => state.chat.events_since(room, since, limit, viewer).await?,
    })
}

/// History (neither `since` nor `after`) or a short poll: what the store has, at once.
async fn read_now(
    state: &AppState,
    slug: &str,
    query: &ReadQuery,
    viewer: Option<&Identity>,
) -> Result<Vec<ServerFrame>, ApiError> {
    let room = state.chat.room(slug, viewer).await?;
    let following = query.since.is_some() || query.after.is_some();
    // A short poll that follows the room keeps its user present for a while.
    if let (Some(v), true) = (viewer, following) {
        state
            .chat
            .presence()
            .touch(room.slug.as_str(), v.user_id, &v.name);
    }
    let limit = query.limit.unwrap_or(MAX_PAGE);
    let viewer_id = viewer.map(|v| v.user_id);
    match (query.since, query.after) {
        (Some(since), _) => news(state, &room, Cursor::Since(since), limit, viewer_id).await,
        (None, Some(after)) => news(state, &room, Cursor::After(after), limit, viewer_id).await,
        (None, None) => {
            let limit = query.limit.unwrap_or(50);
            Ok(messages(
                state
                    .chat
                    .history(&room, query.before, limit, viewer_id)
                    .await?,
            ))
        }
    }
}

/// A long poll: what follows `cursor`, as soon as there is any, or `[]` after `wait`.
async fn wait_for_news(
    state: &AppState,
    room: &Room,
    cursor: Cursor,
    limit: u32,
    wait: Duration,
    poller: Option<i64>,
) -> Result<Vec<ServerFrame>, ApiError> {
    let _open = crate::telemetry::OpenConnection::new("longpoll");
    // Join first, then look: a message stored in between is either already in the store
    // read or wakes the watch.
    let mut watch = state.chat.watch(room).await?;
    let ready = news(state, room, cursor, limit, poller).await?;
    if !ready.is_empty() {
        return Ok(ready);
    }
    let deadline = tokio::time::sleep(wait);
    tokio::pin!(deadline);
    loop {
        let event = tokio::select! {
            () = &mut deadline => None,
            event = watch.next() => Some(event),
        };
        match event {
            // Out of time, or the server is shutting down: nothing new (yet).
            None | Some(WatchEvent::ShuttingDown) => return Ok(Vec::new()),
            Some(WatchEvent::Changed) => {
                let ready = news(state, room, cursor, limit, poller).await?;
                // A late delivery of an event the client already has (another process's,
                // crossing in Redis) changes nothing for it: keep waiting.
                if !ready.is_empty() {
                    return Ok(ready);
                }
            }
            // Presence, typing, a rename: answered at once (the client polls again with
            // the same cursor), so polling members see them too.
            Some(WatchEvent::Ephemeral(frame)) => {
                match serde_json::from_str::<ServerFrame>(frame.as_str()) {
                    // The poller's own arrival is no news to it (else every first poll
                    // would answer at once).
                    Ok(ServerFrame::PresenceDiff { joins, leaves, .. })
                        if leaves.is_empty() && joins.iter().all(|m| Some(m.id) == poller) => {}
                    Ok(frame) => return Ok(vec![frame]),
                    Err(_) => {}
                }
            }
            Some(WatchEvent::Overflowed) => return news(state, room, cursor, limit, poller).await,
            Some(WatchEvent::Deleted) => {
                return Err(ApiError::not_found(format!(
                    "The room '{}' was deleted.",
                    room.slug.as_str()
                )));
            }
        }
    }
}

fn messages(list: Vec<ChatMessage>) -> Vec<ServerFrame> {
    list.into_iter().map(ServerFrame::Message).collect()
}

#[cfg(test)]
mod properties {
    use super::ReadQuery;
    use proptest::prelude::*;

    proptest! {
        /// Any query string reads as a query or a refusal (400), never a panic.
        #[test]
        fn query_strings_parse_or_are_refused(raw in "[a-z=&%0-9.+-]{0,80}") {
            let _ = serde_urlencoded::from_str::<ReadQuery>(&raw);
        }
    }
}
