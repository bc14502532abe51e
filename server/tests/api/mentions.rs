//! Mentions reach the people they name (issue 13): a `mention` frame on the named user's own
//! group, so their lobby socket, their SSE stream and their room sockets hear of it on every
//! process — never the author, never a non-member of a private room, never a guest's name.

use crate::{
    helpers::{Client, SseReader, Ws},
    process::{ParlorProcess, RedisServer},
};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::time::Instant;

const WAIT: Duration = Duration::from_secs(10);

/// A logged-in account on the server at `base`.
async fn account_at(base: &str, username: &str) -> Client {
    Client::account_at(base, username, "correct horse battery").await
}

/// The next `mention` frame within `wait` (other frames skipped), or `None`.
async fn next_mention(ws: &mut Ws, wait: Duration) -> Option<Value> {
    crate::events::next_of(ws, "mention", wait).await
}

/// The next SSE event named `mention` within `wait`, parsed.
async fn next_sse_mention(events: &mut SseReader, wait: Duration) -> Option<Value> {
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = events.next(left).await?;
        if event.event.as_deref() == Some("mention") {
            return serde_json::from_str(&event.data).ok();
        }
    }
}

async fn post(client: &Client, slug: &str, text: &str) -> i64 {
    crate::transports::post(client, slug, text).await["id"]
        .as_i64()
        .expect("id")
}

#[tokio::test]
async fn a_mention_reaches_the_named_users_every_connection_on_every_process() {
    let redis = RedisServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let database = dir.path().join("shared.db");
    let url = redis.url();
    let a = ParlorProcess::start(&database, &["--redis", &url]).await;
    let b = ParlorProcess::start(&database, &["--redis", &url]).await;

    let ann = account_at(&a.base(), "ann").await;
    let bo = account_at(&b.base(), "Bob").await;
    let cy = account_at(&b.base(), "cyd").await;
    ann.create_room("general", "General").await;
    ann.create_room("side", "Side").await;

    // bo listens on process B three ways: the lobby socket, the lobby's SSE stream and a
    // socket in another room. cy and ann listen on their lobbies.
    let mut bo_lobby = bo
        .connect_path("/ws/lobby", Some(&bo.origin))
        .await
        .expect("bo's lobby");
    let mut bo_events = SseReader::new(bo.get("/api/lobby/events").await);
    let mut bo_elsewhere = bo.connect("side", None).await;
    let mut cy_lobby = cy
        .connect_path("/ws/lobby", Some(&cy.origin))
        .await
        .expect("cy's lobby");
    let mut ann_lobby = ann
        .connect_path("/ws/lobby", Some(&ann.origin))
        .await
        .expect("ann's lobby");

    // Case does not matter; the author's own name and a name nobody has are ignored.
    let id = post(&ann, "general", "lunch? @bob @ann @nobody").await;
    let want = |frame: &Value| {
        assert_eq!(frame["room"], "general", "{frame}");
        assert_eq!(frame["title"], "General", "{frame}");
        assert_eq!(frame["message"]["id"], id, "{frame}");
        assert_eq!(frame["message"]["author"], "ann", "{frame}");
        assert_eq!(
            frame["message"]["excerpt"], "lunch? @bob @ann @nobody",
            "{frame}"
        );
    };
    want(
        &next_mention(&mut bo_lobby, WAIT)
            .await
            .expect("bo's lobby hears it"),
    );
    want(
        &next_sse_mention(&mut bo_events, WAIT)
            .await
            .expect("bo's SSE stream hears it"),
    );
    want(
        &next_mention(&mut bo_elsewhere, WAIT)
            .await
            .expect("bo's socket in another room hears it"),
    );

    // A private room's mention reaches its members alone: cy, named but not invited, hears
    // nothing of it. Her next mention frame is the public one that follows (one writer and
    // one Redis connection keep them in order).
    let response = ann
        .post(
            "/api/rooms",
            &json!({ "slug": "plans", "title": "Secret plans", "private": true, "members": ["Bob"] }),
        )
        .await;
    assert_eq!(response.status(), 201);
    let private: Value = response.json().await.expect("json");
    let private_slug = private["slug"].as_str().expect("slug").to_owned();
    post(&ann, &private_slug, "@cyd must not know, @BOB may").await;
    let secret = next_mention(&mut bo_lobby, WAIT)
        .await
        .expect("bo, a member, hears of it");
    assert_eq!(secret["room"], private_slug.as_str());
    let public = post(&ann, "general", "@cyd welcome").await;
    let heard = next_mention(&mut cy_lobby, WAIT)
        .await
        .expect("cy hears of the public mention");
    assert_eq!(
        heard["message"]["id"], public,
        "cy heard of the private room: {heard}"
    );
    assert!(!heard.to_string().contains("must not know"), "{heard}");

    // ann mentioned herself and was mentioned by nobody: her lobby carries no mention.
    post(&bo, "general", "no names here").await;
    let deadline = Instant::now() + Duration::from_millis(800);
    while let Some(frame) = ann_lobby.next_any_within(deadline).await {
        assert_ne!(
            frame["type"], "mention",
            "ann was told of her own mention: {frame}"
        );
    }
}
