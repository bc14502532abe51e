//! Private rooms and direct messages, black-box: a non-member (signed in or anonymous) is
//! told a private room does not exist on every path — room list, lobby feed, history, polls,
//! SSE, the WebSocket handshake, the server-rendered page, every action — while its members
//! use it like any room; a direct-message room is the one room of two accounts.

use crate::{
    events::react,
    helpers::{open_events, Client, TestServer, PATIENCE},
    transports::post,
};
use serde_json::{json, Value};
use std::time::Duration;

/// Creates a private room `slug` (the server adds a random suffix) inviting `members`;
/// its real slug.
async fn create_private(owner: &Client, slug: &str, members: &[&str]) -> String {
    let response = owner
        .post(
            "/api/rooms",
            &json!({ "slug": slug, "title": "Secret plans", "private": true, "members": members }),
        )
        .await;
    assert_eq!(response.status(), 201);
    let room: Value = response.json().await.expect("room JSON");
    assert_eq!(room["private"], true);
    let real = room["slug"].as_str().expect("slug").to_owned();
    assert!(real.starts_with(&format!("{slug}-")), "{real}");
    real
}

/// The slugs `client`'s room list shows.
async fn listed(client: &Client) -> Vec<String> {
    let rooms: Vec<Value> = client
        .get("/api/rooms")
        .await
        .json()
        .await
        .expect("rooms JSON");
    rooms
        .iter()
        .filter_map(|r| r["slug"].as_str().map(str::to_owned))
        .collect()
}

/// Every way into room `slug` answers `outsider` 404, and says nothing of the room.
async fn invisible_to(outsider: &Client, slug: &str, message_id: i64) {
    assert!(!listed(outsider).await.contains(&slug.to_owned()));
    let reads = [
        format!("/api/rooms/{slug}"),
        format!("/api/rooms/{slug}/messages"),
        format!("/api/rooms/{slug}/messages?since=0"),
        format!("/api/rooms/{slug}/messages?after=0&wait=1"),
        format!("/api/rooms/{slug}/presence"),
    ];
    for path in &reads {
        let response = outsider.get(path).await;
        assert_eq!(response.status(), 404, "GET {path}");
        let body = response.text().await.expect("body");
        assert!(!body.contains("Secret plans"), "GET {path}: {body}");
    }
    let events = open_events(outsider, slug, None, None).await;
    assert_eq!(events.status(), 404, "SSE");
    let page = outsider.get(&format!("/rooms/{slug}")).await;
    assert_eq!(page.status(), 404, "the server-rendered page");
    let page = page.text().await.expect("page");
    assert!(!page.contains("Secret plans") && !page.contains("the plan is"));
    match outsider
        .try_connect(slug, None, Some(&outsider.origin))
        .await
    {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 404, "the WebSocket handshake");
        }
        Err(other) => panic!("the handshake failed otherwise: {other}"),
        Ok(_) => panic!("a non-member opened the private room's WebSocket"),
    }
    let actions = [
        (
            format!("/api/rooms/{slug}/messages"),
            json!({ "text": "let me in" }),
        ),
        (format!("/api/rooms/{slug}/typing"), json!({})),
        (
            format!("/api/rooms/{slug}/read"),
            json!({ "up_to": message_id }),
        ),
        (
            format!("/api/rooms/{slug}/members"),
            json!({ "username": "intruder" }),
        ),
    ];
    for (path, body) in &actions {
        let status = outsider.post(path, body).await.status().as_u16();
        assert!(
            status == 404 || status == 401,
            "POST {path}: {status} (401 only for the anonymous)"
        );
    }
    let edits = outsider
        .get(&format!("/api/rooms/{slug}/messages/{message_id}/edits"))
        .await;
    assert!(matches!(edits.status().as_u16(), 401 | 404), "edits");
    let (status, _) = react(outsider, slug, message_id, "👍").await;
    assert!(status == 404 || status == 401, "react: {status}");
    let edit = outsider
        .patch(
            &format!("/api/rooms/{slug}/messages/{message_id}"),
            &json!({ "text": "mine now" }),
        )
        .await;
    assert!(matches!(edit.status().as_u16(), 401 | 404));
}

#[tokio::test]
async fn a_private_room_is_invisible_to_everyone_else_on_every_path() {
    let server = TestServer::start().await;
    let ann = server.account("ann", "correct horse battery").await;
    let bo = server.account("bob", "correct horse battery").await;
    let cy = server.account("cyd", "correct horse battery").await;
    let slug = create_private(&ann, "plans", &["bob"]).await;
    let message = post(&ann, &slug, "the plan is at noon").await;
    let id = message["id"].as_i64().expect("id");

    // Members use it like any room.
    assert!(listed(&ann).await.contains(&slug));
    assert!(listed(&bo).await.contains(&slug));
    let reply = post(&bo, &slug, "see you there").await;
    assert_eq!(reply["room"], slug.as_str());
    let mut bo_ws = bo.connect(&slug, Some(0)).await;
    assert_eq!(bo_ws.next_message().await["text"], "the plan is at noon");

    invisible_to(&cy, &slug, id).await;
    invisible_to(&server.anonymous(), &slug, id).await;
    // A public room with the asked-for slug is still possible: nothing was taken from it.
    cy.create_room("plans", "Public plans").await;

    // The owner invites cy: now she sees it, and her lobby is told.
    let mut lobby = cy
        .connect_path("/ws/lobby", Some(&cy.origin))
        .await
        .expect("lobby");
    let invited = ann
        .post(
            &format!("/api/rooms/{slug}/members"),
            &json!({ "username": "cyd" }),
        )
        .await;
    assert_eq!(invited.status(), 204);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let frame = lobby
            .next_json_within(left)
            .await
            .expect("cy hears of the room");
        if frame["type"] == "room" && frame["room"]["slug"] == slug.as_str() {
            break;
        }
    }
    assert!(listed(&cy).await.contains(&slug));
    assert_eq!(
        cy.get(&format!("/api/rooms/{slug}/messages"))
            .await
            .status(),
        200
    );
    // Only the owner invites.
    let refused = bo
        .post(
            &format!("/api/rooms/{slug}/members"),
            &json!({ "username": "ann" }),
        )
        .await;
    assert_eq!(refused.status(), 403);
    server.shutdown().await;
}

#[tokio::test]
async fn the_lobby_tells_a_private_rooms_news_to_its_members_alone() {
    let server = TestServer::start().await;
    let ann = server.account("ann", "correct horse battery").await;
    let bo = server.account("bob", "correct horse battery").await;
    let cy = server.account("cyd", "correct horse battery").await;
    let mut lobbies = Vec::new();
    for who in [&bo, &cy] {
        lobbies.push(
            who.connect_path("/ws/lobby", Some(&who.origin))
                .await
                .expect("lobby"),
        );
    }
    let anonymous = server.anonymous();
    let mut anonymous_lobby = anonymous
        .connect_path("/ws/lobby", Some(&anonymous.origin))
        .await
        .expect("lobby");
    let slug = create_private(&ann, "quiet", &["bob"]).await;
    post(&ann, &slug, "psst").await;
    assert_eq!(
        ann.delete(&format!("/api/rooms/{slug}")).await.status(),
        204
    );
    // bo hears all three (created, message, gone); cy and the anonymous nothing of it.
    let mut heard = Vec::new();
    while let Some(frame) = lobbies[0].next_json_within(Duration::from_secs(2)).await {
        heard.push(frame);
    }
    assert!(
        heard
            .iter()
            .any(|f| f["type"] == "room" && f["room"]["last_message"]["excerpt"] == "psst"),
        "{heard:?}"
    );
    assert!(
        heard
            .iter()
            .any(|f| f["type"] == "room_gone" && f["slug"] == slug.as_str()),
        "{heard:?}"
    );
    for lobby in [&mut lobbies[1], &mut anonymous_lobby] {
        while let Some(frame) = lobby.next_json_within(Duration::from_millis(500)).await {
            assert!(
                !frame.to_string().contains(&slug),
                "a non-member heard {frame}"
            );
        }
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_direct_message_room_is_the_one_room_of_two_accounts() {
    let server = TestServer::start().await;
    let ann = server.account("ann", "correct horse battery").await;
    let bo = server.account("bob", "correct horse battery").await;
    let cy = server.account("cyd", "correct horse battery").await;
    let opened = ann.post("/api/dm", &json!({ "username": "bob" })).await;
    assert_eq!(opened.status(), 201);
    let room: Value = opened.json().await.expect("room JSON");
    let slug = room["slug"].as_str().expect("slug").to_owned();
    assert_eq!(room["private"], true);
    assert_eq!(room["title"], "ann & bob");
    for (who, with) in [(&ann, "bob"), (&bo, "ann"), (&bo, "ANN")] {
        let again = who.post("/api/dm", &json!({ "username": with })).await;
        assert_eq!(again.status(), 200, "the same room again");
        let again: Value = again.json().await.expect("room JSON");
        assert_eq!(again["slug"], slug.as_str());
    }
    let message = post(&ann, &slug, "just between us").await;
    assert_eq!(post(&bo, &slug, "agreed").await["room"], slug.as_str());
    invisible_to(&cy, &slug, message["id"].as_i64().expect("id")).await;

    for (body, says) in [
        (json!({ "username": "ann" }), "someone else"),
        (
            json!({ "username": "nobody-here" }),
            "no account named 'nobody-here'",
        ),
    ] {
        let refused = ann.post("/api/dm", &body).await;
        assert_eq!(refused.status(), 422, "{body}");
        let refusal: Value = refused.json().await.expect("error JSON");
        assert!(
            refusal["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(says)),
            "{refusal}"
        );
    }
    // Nobody can squat a direct-message slug as a room of their own.
    let squat = cy
        .post(
            "/api/rooms",
            &json!({ "slug": "dm-1-2", "title": "Gotcha" }),
        )
        .await;
    assert_eq!(squat.status(), 422);
    server.shutdown().await;
}
