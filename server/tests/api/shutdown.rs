//! SIGTERM with clients on every transport: each WebSocket gets 1001, SSE streams end,
//! waiting long polls answer, every acknowledged message is stored and published (another
//! process's reader gets it), and the process exits 0 within its shutdown timeout even though
//! one client never reads.

use crate::{
    helpers::{open_events, Client, SseReader},
    process::{ParlorProcess, RedisServer},
};
use serde_json::{json, Value};
use std::{collections::BTreeSet, time::Duration};
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, http::HeaderValue};

/// The shutdown budget the process under test gets.
const SHUTDOWN_TIMEOUT_SECS: u64 = 4;

/// A WebSocket whose client never reads, on a socket with a tiny receive buffer, so the
/// server's writes to it stall as soon as the room gets busy.
async fn never_reading(client: &Client, port: u16, slug: &str) -> impl Sized {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let tcp = socket
        .connect(([127, 0, 0, 1], port).into())
        .await
        .expect("connect");
    let mut request = format!("ws://127.0.0.1:{port}/ws/rooms/{slug}")
        .into_client_request()
        .expect("request");
    let headers = request.headers_mut();
    headers.insert("cookie", client.cookie().expect("session cookie"));
    headers.insert(
        "origin",
        HeaderValue::from_str(&client.origin).expect("origin"),
    );
    let (ws, _) = tokio_tungstenite::client_async(request, tcp)
        .await
        .expect("handshake");
    ws
}

/// Every message id in the room, through the REST history of `client`'s server.
async fn stored_ids(client: &Client, slug: &str) -> Vec<i64> {
    let mut ids = Vec::new();
    let mut after = 0;
    loop {
        let page: Vec<Value> = client
            .get(&format!(
                "/api/rooms/{slug}/messages?after={after}&limit=500"
            ))
            .await
            .json()
            .await
            .expect("json");
        if page.is_empty() {
            return ids;
        }
        for message in &page {
            after = message["id"].as_i64().expect("id");
            ids.push(after);
        }
    }
}

#[tokio::test]
async fn sigterm_closes_every_transport_and_loses_nothing_acknowledged() {
    let redis = RedisServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let database = dir.path().join("shutdown.db");
    let timeout = SHUTDOWN_TIMEOUT_SECS.to_string();
    let mut a = ParlorProcess::start(
        &database,
        &[
            "--redis",
            &redis.url(),
            "--shutdown-timeout",
            &timeout,
            "--mailbox-capacity",
            "100000",
        ],
    )
    .await;
    let b = ParlorProcess::start(&database, &["--redis", &redis.url()]).await;
    let ann = Client::guest_at(&a.base(), "ann").await;
    ann.create_room("bye", "Bye").await;

    // Clients of A on every transport, a reader on B, and a client of A that never reads.
    let mut watcher = Client::for_base(&b.base()).connect("bye", None).await;
    let mut ws = ann.connect("bye", None).await;
    let mut sse = SseReader::new(open_events(&ann, "bye", None, None).await);
    let _stuck = never_reading(&ann, a.port, "bye").await;
    let big = "x".repeat(4000);
    for i in 0..200 {
        ws.say(&big, Some(&format!("big-{i}"))).await;
    }
    let mut expected: BTreeSet<i64> = BTreeSet::new();
    for _ in 0..200 {
        expected.insert(ws.next_message().await["id"].as_i64().expect("id"));
    }
    let head = *expected.last().expect("messages");
    let poller = ann.at(&a.base());
    let long_poll = tokio::spawn(async move {
        poller
            .get(&format!("/api/rooms/bye/messages?after={head}&wait=30"))
            .await
    });
    // A sender that keeps posting while the server stops: whatever it saw acknowledged must
    // survive.
    let sender = ann.at(&a.base());
    let posting = tokio::spawn(async move {
        let mut acknowledged = Vec::new();
        for i in 0.. {
            let sent = sender
                .http
                .post(sender.url("/api/rooms/bye/messages"))
                .header("origin", &sender.origin)
                .json(&json!({ "text": format!("late {i}"), "client_id": format!("late-{i}") }))
                .send()
                .await;
            match sent {
                Ok(response) if response.status() == 201 => {
                    let body: Value = response.json().await.expect("json");
                    acknowledged.push(body["id"].as_i64().expect("id"));
                }
                _ => return acknowledged,
            }
        }
        acknowledged
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let started = tokio::time::Instant::now();
    a.terminate();
    assert_eq!(
        ws.expect_close().await,
        1001,
        "WebSockets are told to go away"
    );
    assert!(
        sse.until_end(Duration::from_secs(10)).await,
        "SSE streams end"
    );
    let polled = long_poll.await.expect("poll task");
    assert_eq!(polled.status(), 200, "a waiting long poll answers");
    let status = a
        .wait_exit(Duration::from_secs(SHUTDOWN_TIMEOUT_SECS + 6))
        .await
        .expect("the process exits although one client never reads");
    assert!(status.success(), "exit status {status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(SHUTDOWN_TIMEOUT_SECS + 6),
        "it kept to its timeout"
    );

    let acknowledged = posting.await.expect("sender task");
    assert!(!acknowledged.is_empty(), "some sends were acknowledged");
    expected.extend(acknowledged.iter().copied());
    let reader = Client::for_base(&b.base());
    let stored: BTreeSet<i64> = stored_ids(&reader, "bye").await.into_iter().collect();
    assert!(
        expected.is_subset(&stored),
        "every acknowledged message is stored: missing {:?}",
        expected.difference(&stored).collect::<Vec<_>>()
    );
    // Published too: B's reader got each acknowledged message, live.
    let mut seen = BTreeSet::new();
    while !expected.is_subset(&seen) {
        let Some(frame) = watcher.next_json_within(Duration::from_secs(10)).await else {
            break;
        };
        if frame["type"] == "message" {
            seen.insert(frame["id"].as_i64().expect("id"));
        }
    }
    assert!(
        expected.is_subset(&seen),
        "every acknowledged message was published: missing {:?}",
        expected.difference(&seen).collect::<Vec<_>>()
    );
    drop(b);
}
