//! The HTTP transports, black-box: SSE with Last-Event-ID resume, long polling that times out
//! empty or wakes when a message arrives, and one idempotency across POST and WebSocket.

use crate::helpers::{open_events, Client, SseReader, TestServer};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Posts `text` over REST and returns the stored message (201 expected).
pub async fn post(client: &Client, slug: &str, text: &str) -> Value {
    let response = client
        .post(
            &format!("/api/rooms/{slug}/messages"),
            &json!({ "text": text }),
        )
        .await;
    assert_eq!(response.status(), 201);
    response.json().await.expect("json")
}

#[tokio::test]
async fn sse_streams_messages_and_resumes_with_last_event_id() {
    let server = TestServer::start().await;
    let ann = server.guest("ann").await;
    ann.create_room("stream", "Stream").await;
    let reader = server.anonymous();

    let response = open_events(&reader, "stream", None, None).await;
    assert_eq!(response.status(), 200);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert!(header("content-type").starts_with("text/event-stream"));
    assert_eq!(header("cache-control"), "no-cache");
    assert_eq!(header("x-accel-buffering"), "no");
    let mut events = SseReader::new(response);

    let mut ids = Vec::new();
    for text in ["one", "two", "three"] {
        let sent = post(&ann, "stream", text).await;
        let event = events.next(Duration::from_secs(5)).await.expect("an event");
        assert_eq!(event.event.as_deref(), Some("message"));
        let frame: Value = serde_json::from_str(&event.data).expect("JSON data");
        assert_eq!(frame["type"], "message");
        assert_eq!(frame["text"], text);
        assert_eq!(
            event.id,
            Some(sent["seq"].to_string()),
            "the event id is the room event's seq"
        );
        ids.push(event.id.expect("id"));
    }
    drop(events);

    // Two more while disconnected; a reconnect with Last-Event-ID = "one" gets the rest,
    // without a gap and without repeats (Last-Event-ID wins over ?after=).
    post(&ann, "stream", "four").await;
    post(&ann, "stream", "five").await;
    let response = open_events(&reader, "stream", Some(0), Some(&ids[0])).await;
    let mut events = SseReader::new(response);
    let mut texts = Vec::new();
    while let Some(event) = events.next(Duration::from_millis(500)).await {
        let frame: Value = serde_json::from_str(&event.data).expect("JSON data");
        texts.push(frame["text"].as_str().expect("text").to_owned());
    }
    assert_eq!(texts, ["two", "three", "four", "five"]);
    server.shutdown().await;
}

#[tokio::test]
async fn sse_refuses_unknown_rooms_and_foreign_pages() {
    let server = TestServer::start().await;
    let ann = server.guest("ann").await;
    ann.create_room("private", "Private").await;
    assert_eq!(open_events(&ann, "nope", None, None).await.status(), 404);
    let foreign = ann
        .http
        .get(ann.url("/api/rooms/private/events"))
        .header("origin", "http://evil.example")
        .send()
        .await
        .expect("send");
    assert_eq!(foreign.status(), 403);
    server.shutdown().await;
}

#[tokio::test]
async fn a_long_poll_times_out_with_an_empty_list() {
    let server = TestServer::start().await;
    let ann = server.guest("ann").await;
    ann.create_room("quiet", "Quiet").await;
    let last = post(&ann, "quiet", "before").await["id"]
        .as_i64()
        .expect("id");
    let started = Instant::now();
    let response = ann
        .get(&format!("/api/rooms/quiet/messages?after={last}&wait=1"))
        .await;
    let waited = started.elapsed();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body, json!([]));
    assert!(
        waited >= Duration::from_millis(900),
        "it waited: {waited:?}"
    );

    // With something new it answers without waiting, like a short poll: a 30 s wait that
    // answers long before its end did not wait.
    let started = Instant::now();
    let messages: Vec<Value> = ann
        .get("/api/rooms/quiet/messages?after=0&wait=30")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(messages.len(), 1);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "it did not wait"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_waiting_long_poll_answers_with_the_message_that_arrives() {
    let server = TestServer::start().await;
    let ann = server.guest("ann").await;
    ann.create_room("wake", "Wake").await;
    let poller = server.anonymous();
    let poll = tokio::spawn(async move {
        let started = Instant::now();
        let response = poller.get("/api/rooms/wake/messages?after=0&wait=30").await;
        let body: Vec<Value> = response.json().await.expect("json");
        (started.elapsed(), body)
    });
    // Let the poll reach the server and start waiting.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = post(&ann, "wake", "wake up").await;
    let (waited, body) = poll.await.expect("poll task");
    assert_eq!(body.len(), 1);
    assert_eq!(body[0]["id"], sent["id"]);
    // Woken by the message, not by the end of its wait (how fast is measured by bench/).
    assert!(waited < Duration::from_secs(20), "waited {waited:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn one_client_id_over_post_and_websocket_is_stored_once() {
    let server = TestServer::start().await;
    let ann = server.guest("ann").await;
    ann.create_room("both", "Both").await;
    let posted = ann
        .post(
            "/api/rooms/both/messages",
            &json!({ "text": "sent twice", "client_id": "same-key" }),
        )
        .await;
    assert_eq!(posted.status(), 201);
    let posted: Value = posted.json().await.expect("json");
    let mut ws = ann.connect("both", None).await;
    ws.say("sent twice", Some("same-key")).await;
    let echoed = ws.next_message().await;
    assert_eq!(
        echoed["id"], posted["id"],
        "the WebSocket retry returns the stored one"
    );
    let stored: Vec<Value> = ann
        .get("/api/rooms/both/messages")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(stored.len(), 1);
    server.shutdown().await;
}
