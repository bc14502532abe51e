//! Faults with real processes: a crash mid-stream, Redis dying under traffic, one of two
//! servers dying, a client that never reads, a crowd of log-ins, and one user's message rate
//! across processes. Each asserts what a user would notice: nothing acknowledged is lost or
//! doubled, the rest of the room is not held up, memory stays bounded.

use crate::{
    helpers::{Client, Ws, PATIENCE},
    process::{ParlorProcess, RedisServer},
};
use serde_json::{json, Value};
use std::{collections::BTreeSet, time::Duration};
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, http::HeaderValue};

/// A process's resident and peak memory, in KiB (from /proc).
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse::<u64>().ok())
            .expect("a memory figure")
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Every message of a room through `client`'s server, in id order.
async fn stored(client: &Client, slug: &str) -> Vec<Value> {
    let mut all = Vec::new();
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
        let Some(last) = page.last() else {
            return all;
        };
        after = last["id"].as_i64().expect("id");
        all.extend(page);
    }
}

/// Reads `count` message ids from `ws`, failing after `patience`.
async fn read_ids(ws: &mut Ws, count: usize, patience: Duration) -> Vec<i64> {
    let deadline = tokio::time::Instant::now() + patience;
    let mut ids = Vec::new();
    while ids.len() < count {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let frame = ws
            .next_json_within(left)
            .await
            .unwrap_or_else(|| panic!("only {} of {count} arrived", ids.len()));
        if frame["type"] == "message" {
            ids.push(frame["id"].as_i64().expect("id"));
        }
    }
    ids
}

/// Posts `text` with `client_id`; the stored message, or `None` if the server did not answer.
async fn post(client: &Client, slug: &str, text: &str, client_id: &str) -> Option<(u16, Value)> {
    let response = client
        .http
        .post(client.url(&format!("/api/rooms/{slug}/messages")))
        .header("origin", &client.origin)
        .json(&json!({ "text": text, "client_id": client_id }))
        .send()
        .await
        .ok()?;
    let status = response.status().as_u16();
    Some((status, response.json().await.ok()?))
}

#[tokio::test]
async fn a_crash_mid_stream_loses_nothing_acknowledged_and_retries_store_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = dir.path().join("crash.db");
    let mut server = ParlorProcess::start(&database, &[]).await;
    let ann = Client::guest_at(&server.base(), "ann").await;
    ann.create_room("crash", "Crash").await;
    let sender = ann.at(&server.base());
    let sending = tokio::spawn(async move {
        let mut acknowledged = Vec::new();
        let mut attempted = 0;
        loop {
            let client_id = format!("c{attempted}");
            attempted += 1;
            match post(&sender, "crash", &format!("m {attempted}"), &client_id).await {
                Some((201, body)) => acknowledged.push((client_id, body["id"].clone())),
                _ => return (acknowledged, attempted),
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    server.kill();
    let (acknowledged, attempted) = sending.await.expect("sender");
    assert!(
        !acknowledged.is_empty(),
        "some sends were acknowledged before the crash"
    );

    let restarted = ParlorProcess::start(&database, &[]).await;
    let again = ann.at(&restarted.base());
    // The client retries everything it sent, acknowledged or not, with the same ids.
    for n in 0..attempted {
        let (status, _) = post(&again, "crash", &format!("m {}", n + 1), &format!("c{n}"))
            .await
            .expect("the restarted server answers");
        assert!(status == 200 || status == 201, "retry c{n}: {status}");
    }
    let messages = stored(&again, "crash").await;
    let client_ids: Vec<&str> = messages
        .iter()
        .filter_map(|m| m["client_id"].as_str())
        .collect();
    let distinct: BTreeSet<&str> = client_ids.iter().copied().collect();
    assert_eq!(client_ids.len(), attempted, "each send stored exactly once");
    assert_eq!(distinct.len(), attempted);
    for (client_id, id) in &acknowledged {
        let kept = messages
            .iter()
            .find(|m| m["client_id"] == client_id.as_str());
        assert_eq!(kept.map(|m| &m["id"]), Some(id), "{client_id} kept its id");
    }
}

#[tokio::test]
async fn redis_dying_under_traffic_loses_nothing_for_a_reader_elsewhere() {
    let mut redis = RedisServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let database = dir.path().join("redis.db");
    let a = ParlorProcess::start(&database, &["--redis", &redis.url()]).await;
    let b = ParlorProcess::start(&database, &["--redis", &redis.url()]).await;
    let ann = Client::guest_at(&a.base(), "ann").await;
    ann.create_room("storm", "Storm").await;
    let mut reader = Client::for_base(&b.base()).connect("storm", None).await;
    let mut writer = ann.connect("storm", None).await;
    let total = 300;
    let sending = tokio::spawn(async move {
        for i in 0..total {
            writer.say(&format!("m{i}"), Some(&format!("s{i}"))).await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        writer
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    redis.kill();
    tokio::time::sleep(Duration::from_millis(800)).await;
    redis.restart().await;
    let _writer = sending.await.expect("sender");
    let expected: Vec<i64> = stored(&ann, "storm")
        .await
        .iter()
        .filter_map(|m| m["id"].as_i64())
        .collect();
    assert_eq!(expected.len(), total, "every send was stored");
    let ids = read_ids(&mut reader, total, Duration::from_secs(30)).await;
    assert_eq!(
        ids, expected,
        "the reader on the other process got all, in order, once"
    );
}

#[tokio::test]
async fn when_one_of_two_processes_dies_the_other_keeps_serving() {
    let redis = RedisServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let database = dir.path().join("survive.db");
    let mut a = ParlorProcess::start(&database, &["--redis", &redis.url()]).await;
    let b = ParlorProcess::start(&database, &["--redis", &redis.url()]).await;
    let bob = Client::guest_at(&b.base(), "bob").await;
    bob.create_room("left", "Left").await;
    let mut on_a = Client::for_base(&a.base()).connect("left", None).await;
    let mut on_b = bob.connect("left", None).await;
    for i in 0..20 {
        on_b.say(&format!("before {i}"), None).await;
    }
    let seen_on_a = read_ids(&mut on_a, 20, PATIENCE).await;
    read_ids(&mut on_b, 20, PATIENCE).await;

    a.kill();
    for i in 0..20 {
        on_b.say(&format!("after {i}"), None).await;
    }
    read_ids(&mut on_b, 20, PATIENCE).await;
    // A's client reconnects to the survivor from its last message and misses nothing.
    let last = *seen_on_a.last().expect("ids");
    let mut moved = Client::for_base(&b.base())
        .connect("left", Some(last))
        .await;
    let caught_up = read_ids(&mut moved, 20, PATIENCE).await;
    let expected: Vec<i64> = stored(&bob, "left")
        .await
        .iter()
        .filter_map(|m| m["id"].as_i64())
        .filter(|id| *id > last)
        .collect();
    assert_eq!(caught_up, expected);
}

/// A WebSocket whose client never reads, on a socket with a tiny receive buffer.
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
    request.headers_mut().insert(
        "origin",
        HeaderValue::from_str(&client.origin).expect("origin"),
    );
    tokio_tungstenite::client_async(request, tcp)
        .await
        .expect("handshake")
}

#[tokio::test]
async fn a_client_that_never_reads_holds_up_no_one_and_memory_stays_bounded() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = ParlorProcess::start(&dir.path().join("stuck.db"), &[]).await;
    let ann = Client::guest_at(&server.base(), "ann").await;
    ann.create_room("busy", "Busy").await;
    let _stuck = never_reading(&ann, server.port, "busy").await;
    let mut reader = Client::for_base(&server.base()).connect("busy", None).await;
    let mut writer = ann.connect("busy", None).await;
    let (rss_before, _) = memory_kib(server.pid());
    let total = 2000;
    let text = "y".repeat(1000);
    let writing = tokio::spawn(async move {
        for i in 0..total {
            writer.say(&text, Some(&format!("b{i}"))).await;
        }
        writer
    });
    let ids = read_ids(&mut reader, total, Duration::from_secs(60)).await;
    let _writer = writing.await.expect("writer");
    assert_eq!(ids.len(), total, "the room kept moving");
    let (rss_after, _) = memory_kib(server.pid());
    let grown_mib = rss_after.saturating_sub(rss_before) / 1024;
    assert!(grown_mib < 64, "the stuck client cost {grown_mib} MiB");
    // It comes back (its connection was dropped: it fell behind) and catches up from where it
    // was, without loss.
    let first = ids[0] - 1;
    let mut back = Client::for_base(&server.base())
        .connect("busy", Some(first))
        .await;
    let resumed = read_ids(&mut back, total, Duration::from_secs(60)).await;
    assert_eq!(resumed, ids);
}

#[tokio::test]
async fn three_hundred_log_ins_at_once_keep_memory_flat() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = ParlorProcess::start(
        &dir.path().join("argon.db"),
        &[
            "--auth-per-minute",
            "0",
            "--max-connections-per-ip",
            "0",
            "--argon2-queue",
            "8",
        ],
    )
    .await;
    // The first hash (start-up's) has happened: the peak from here on is what the crowd costs.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, peak_before) = memory_kib(server.pid());
    let attempts = (0..300).map(|i| {
        let client = Client::for_base(&server.base());
        async move {
            let response = client
                .http
                .post(client.url("/api/login"))
                .header("origin", &client.origin)
                .json(&json!({ "username": format!("nobody{i}"), "password": "whatever1" }))
                .send()
                .await
                .expect("answered");
            let retry = response.headers().get("retry-after").is_some();
            (response.status().as_u16(), retry)
        }
    });
    let outcomes = futures::future::join_all(attempts).await;
    let (_, peak_after) = memory_kib(server.pid());
    for (status, retry) in &outcomes {
        assert!(matches!(status, 401 | 503), "status {status}");
        if *status == 503 {
            assert!(retry, "a 503 says when to come back");
        }
    }
    assert!(
        outcomes.iter().any(|(status, _)| *status == 503),
        "the queue filled"
    );
    let grown_mib = peak_after.saturating_sub(peak_before) / 1024;
    assert!(
        grown_mib < 150,
        "the crowd cost {grown_mib} MiB at its peak"
    );
}

#[tokio::test]
async fn one_users_message_rate_is_shared_across_processes() {
    let redis = RedisServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let database = dir.path().join("rate.db");
    let flags = [
        "--redis",
        &redis.url(),
        "--message-rate",
        "1",
        "--message-burst",
        "4",
    ];
    let a = ParlorProcess::start(&database, &flags).await;
    let b = ParlorProcess::start(&database, &flags).await;
    let ann = Client::guest_at(&a.base(), "ann").await;
    ann.create_room("shared", "Shared").await;
    let on_b = ann.at(&b.base());
    let mut accepted = 0;
    for i in 0..16 {
        let client = if i % 2 == 0 { &ann } else { &on_b };
        if let Some((201, _)) = post(client, "shared", "hi", &format!("r{i}")).await {
            accepted += 1;
        }
    }
    // One budget: the burst of 4 (and a refill or two while posting), not 4 per process.
    assert!((4..=6).contains(&accepted), "{accepted} accepted");
}
