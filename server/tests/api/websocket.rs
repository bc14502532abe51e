//! The WebSocket transport, black-box: a real server on port 0 and real WebSocket clients.

use crate::helpers::{TestServer, PATIENCE};
use futures::SinkExt;
use serde_json::json;
use std::time::Duration;
use tokio_tungstenite::tungstenite::{self, Message};

#[tokio::test]
async fn two_clients_one_sends_both_receive_it_once() {
    let server = TestServer::start().await;
    let ann = server.guest("ann").await;
    let bob = server.guest("bob").await;
    ann.create_room("lobby", "Lobby").await;
    let mut ann_ws = ann.connect("lobby", None).await;
    let mut bob_ws = bob.connect("lobby", None).await;

    ann_ws.say("hello", Some("c-1")).await;
    for ws in [&mut ann_ws, &mut bob_ws] {
        let message = ws.next_message().await;
        assert_eq!(message["text"], "hello");
        assert_eq!(message["author"], "ann");
        assert_eq!(message["room"], "lobby");
        assert_eq!(message["client_id"], "c-1");
        assert!(message["id"].as_i64().is_some_and(|id| id > 0));
        assert!(chrono::DateTime::parse_from_rfc3339(
            message["sent_at"].as_str().expect("sent_at")
        )
        .is_ok());
    }
    ann_ws.expect_silence(Duration::from_millis(300)).await;
    bob_ws.expect_silence(Duration::from_millis(300)).await;
    server.shutdown().await;
}

#[tokio::test]
async fn everyone_sees_the_same_order() {
    let server = TestServer::start().await;
    let ann = server.guest("ann").await;
    let bob = server.guest("bob").await;
    ann.create_room("order", "Order").await;
    let mut ann_ws = ann.connect("order", None).await;
    let mut bob_ws = bob.connect("order", None).await;
    let mut watcher = server.anonymous().connect("order", None).await;

    for i in 0..20 {
        ann_ws.say(&format!("ann {i}"), None).await;
        bob_ws.say(&format!("bob {i}"), None).await;
    }
    let mut seen = Vec::new();
    for ws in [&mut ann_ws, &mut bob_ws, &mut watcher] {
        let mut ids = Vec::new();
        for _ in 0..40 {
            ids.push(ws.next_message().await["id"].as_i64().expect("id"));
        }
        seen.push(ids);
    }
    assert!(
        seen[0].windows(2).all(|w| w[0] < w[1]),
        "ids ascend: {:?}",
        seen[0]
    );
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[0], seen[2]);
    server.shutdown().await;
}

#[tokio::test]
async fn catch_up_with_after_then_live() {
    let server = TestServer::start().await;
    let ann = server.guest("ann").await;
    ann.create_room("history", "History").await;
    let mut ann_ws = ann.connect("history", None).await;
    let mut ids = Vec::new();
    for i in 1..=5 {
        ann_ws.say(&format!("m{i}"), None).await;
        ids.push(ann_ws.next_message().await["id"].as_i64().expect("id"));
    }

    let bob = server.guest("bob").await;
    let mut bob_ws = bob.connect("history", Some(ids[1])).await;
    for expected in ["m3", "m4", "m5"] {
        assert_eq!(bob_ws.next_message().await["text"], expected);
    }
    ann_ws.say("m6", None).await;
    assert_eq!(bob_ws.next_message().await["text"], "m6");
    bob_ws.expect_silence(Duration::from_millis(300)).await;

    // after=0 replays the whole room; no `after` means live only.
    let mut all = bob.connect("history", Some(0)).await;
    for i in 1..=6 {
        assert_eq!(all.next_message().await["text"], format!("m{i}"));
    }
    let mut live = bob.connect("history", None).await;
    live.expect_silence(Duration::from_millis(300)).await;
    server.shutdown().await;
}

#[tokio::test]
async fn bad_frames_get_error_frames_and_the_socket_stays_open() {
    let server = TestServer::start().await;
    let ann = server.guest("ann").await;
    ann.create_room("errors", "Errors").await;
    let mut ws = ann.connect("errors", None).await;

    let cases: Vec<(String, &str)> = vec![
        ("this is not json".into(), "bad_json"),
        ("[1,2,3]".into(), "bad_frame"),
        (r#"{"text":"no type"}"#.into(), "bad_frame"),
        (r#"{"type":"dance"}"#.into(), "unknown_type"),
        (r#"{"type":"send"}"#.into(), "bad_frame"),
        (r#"{"type":"send","text":"   "}"#.into(), "invalid"),
        (r#"{"type":"send","text":"bell\u0007"}"#.into(), "invalid"),
        (
            json!({"type":"send","text":"x".repeat(4001)}).to_string(),
            "invalid",
        ),
        (
            r#"{"type":"send","text":"ok","client_id":"has space"}"#.into(),
            "invalid",
        ),
    ];
    for (frame, code) in &cases {
        ws.send_text(frame).await;
        let reply = ws.next_json().await;
        assert_eq!(reply["type"], "error", "{frame} → {reply}");
        assert_eq!(reply["code"], *code, "{frame} → {reply}");
        assert!(reply["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    ws.stream
        .send(Message::binary(vec![1, 2, 3]))
        .await
        .expect("send binary");
    assert_eq!(ws.next_json().await["code"], "bad_frame");

    // The refused send names its client_id so the client can stop retrying it.
    ws.say("\u{1b}[31mred", Some("refused-1")).await;
    let reply = ws.next_json().await;
    assert_eq!(reply["client_id"], "refused-1");

    // Still open, and 4,000 characters is fine.
    let longest = "가".repeat(4000);
    ws.say(&longest, None).await;
    assert_eq!(ws.next_message().await["text"], longest);
    server.shutdown().await;
}

#[tokio::test]
async fn a_frame_over_64_kib_is_refused_and_the_socket_closed() {
    let server = TestServer::start().await;
    let ann = server.guest("ann").await;
    ann.create_room("big", "Big").await;
    let mut ws = ann.connect("big", None).await;
    let huge = json!({ "type": "send", "text": "x".repeat(70 * 1024) }).to_string();
    ws.send_text(&huge).await;
    let reply = ws.next_json().await;
    assert_eq!(reply["code"], "too_large");
    assert_eq!(ws.expect_close().await, 1009);
    // Nothing was stored.
    let stored: serde_json::Value = ann
        .get("/api/rooms/big/messages")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(stored, json!([]));
    server.shutdown().await;
}

#[tokio::test]
async fn an_unknown_room_is_refused_before_the_upgrade() {
    let server = TestServer::start().await;
    let ann = server.guest("ann").await;
    for slug in ["nope", "Not-A-Slug"] {
        match ann.try_connect(slug, None, Some(&ann.origin)).await {
            Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 404),
            Err(other) => panic!("expected a 404 response, got {other}"),
            Ok(_) => panic!("the upgrade must be refused"),
        }
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_foreign_origin_is_refused_with_403() {
    let server = TestServer::start().await;
    let ann = server.guest("ann").await;
    ann.create_room("guarded", "Guarded").await;
    match ann
        .try_connect("guarded", None, Some("http://evil.example"))
        .await
    {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
        Err(other) => panic!("expected 403, got {other}"),
        Ok(_) => panic!("a foreign origin must not get a socket"),
    }
    server.shutdown().await;
}

#[tokio::test]
async fn anonymous_sockets_read_but_cannot_post() {
    let server = TestServer::start().await;
    let ann = server.guest("ann").await;
    ann.create_room("readers", "Readers").await;
    let mut reader = server.anonymous().connect("readers", None).await;
    reader.say("let me in", Some("anon-1")).await;
    let reply = reader.next_json().await;
    assert_eq!(reply["type"], "error");
    assert_eq!(reply["code"], "login_required");
    assert_eq!(reply["client_id"], "anon-1");

    let mut ann_ws = ann.connect("readers", None).await;
    ann_ws.say("hi readers", None).await;
    assert_eq!(reader.next_message().await["text"], "hi readers");
    server.shutdown().await;
}

#[tokio::test]
async fn a_retried_client_id_is_stored_once() {
    let server = TestServer::start().await;
    let ann = server.guest("ann").await;
    ann.create_room("retry", "Retry").await;
    let mut watcher = server.anonymous().connect("retry", None).await;
    let mut ws = ann.connect("retry", None).await;
    ws.say("only once", Some("same-id")).await;
    let first = ws.next_message().await;
    assert_eq!(watcher.next_message().await["id"], first["id"]);

    // The retry (say, after a reconnect) is answered to the sender with the same message…
    let mut again = ann.connect("retry", None).await;
    again.say("only once", Some("same-id")).await;
    assert_eq!(again.next_message().await["id"], first["id"]);
    // …and nobody else sees it twice.
    watcher.expect_silence(Duration::from_millis(300)).await;
    let stored: Vec<serde_json::Value> = ann
        .get("/api/rooms/retry/messages")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(stored.len(), 1);
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_closes_sockets_with_going_away() {
    let server = TestServer::start().await;
    let ann = server.guest("ann").await;
    ann.create_room("bye", "Bye").await;
    let mut ws = ann.connect("bye", None).await;
    let closing = tokio::spawn(server.shutdown());
    assert_eq!(ws.expect_close().await, 1001);
    tokio::time::timeout(PATIENCE, closing)
        .await
        .expect("shutdown completes")
        .expect("shutdown task");
}
