//! Several `parlor serve` processes sharing one SQLite file and one real Redis: every client
//! gets every message once, in the store's order — also across a Redis outage — and
//! `parlor broadcast` reaches them all.

use crate::{
    helpers::{Client, Ws},
    process::{binary, free_port, ParlorProcess, RedisServer},
};
use serde_json::Value;
use std::{ffi::OsStr, time::Duration};

/// Reads `count` messages from `ws` (waiting up to `patience` in all) and returns their ids.
pub async fn collect_ids(ws: &mut Ws, count: usize, patience: Duration) -> Vec<i64> {
    let deadline = tokio::time::Instant::now() + patience;
    let mut ids = Vec::with_capacity(count);
    while ids.len() < count {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let frame = ws
            .next_json_within(left)
            .await
            .unwrap_or_else(|| panic!("only {} of {count} messages arrived: {ids:?}", ids.len()));
        match frame["type"].as_str() {
            Some("message") => ids.push(frame["id"].as_i64().expect("id")),
            _ => panic!("unexpected frame {frame}"),
        }
    }
    ids
}

fn assert_exactly_once_in_order(ids: &[i64], expected: &[i64], who: &str) {
    assert_eq!(
        ids, expected,
        "{who} must see every message once, in id order"
    );
}

/// Two processes on one database (an SQLite path or a PostgreSQL URL) and one Redis.
pub async fn start_pair(
    database: impl AsRef<OsStr>,
    redis: &RedisServer,
) -> (ParlorProcess, ParlorProcess) {
    let url = redis.url();
    let a = ParlorProcess::start(database.as_ref(), &["--redis", &url]).await;
    let b = ParlorProcess::start(database.as_ref(), &["--redis", &url]).await;
    for server in [&a, &b] {
        wait_for_health(&server.base(), 200).await;
    }
    (a, b)
}

pub async fn wait_for_health(base: &str, want: u16) -> Value {
    let client = reqwest::Client::new();
    let mut last = None;
    for _ in 0..200 {
        let request = client
            .get(format!("{base}/healthz"))
            .bearer_auth(crate::helpers::METRICS_TOKEN);
        if let Ok(response) = request.send().await {
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            if status == want {
                return body;
            }
            last = Some((status, body));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{base}/healthz never answered {want}; last: {last:?}");
}

#[tokio::test]
async fn clients_on_two_processes_get_every_message_once_in_the_same_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    two_processes_deliver_every_message_once_in_order(dir.path().join("shared.db").as_os_str())
        .await;
}

/// Two processes on `database` and one Redis: four clients, two writers at once; everyone
/// sees every message once, in the store's order.
pub async fn two_processes_deliver_every_message_once_in_order(database: &OsStr) {
    let redis = RedisServer::start().await;
    let (a, b) = start_pair(database, &redis).await;

    let ann = Client::guest_at(&a.base(), "ann").await;
    let bob = Client::guest_at(&b.base(), "bob").await;
    ann.create_room("shared", "Shared").await;
    let mut ann_ws = ann.connect("shared", None).await;
    let mut bob_ws = bob.connect("shared", None).await;
    let mut watch_a = Client::for_base(&a.base()).connect("shared", None).await;
    let mut watch_b = Client::for_base(&b.base()).connect("shared", None).await;

    // Both processes write at the same time: the store's order is the one truth.
    for i in 0..40 {
        ann_ws.say(&format!("ann {i}"), None).await;
        bob_ws.say(&format!("bob {i}"), None).await;
    }
    let patience = Duration::from_secs(15);
    let reference = collect_ids(&mut watch_a, 80, patience).await;
    let stored: Vec<Value> = ann
        .get("/api/rooms/shared/messages?after=0")
        .await
        .json()
        .await
        .expect("json");
    let stored_ids: Vec<i64> = stored.iter().filter_map(|m| m["id"].as_i64()).collect();
    assert_eq!(stored_ids.len(), 80);
    assert_exactly_once_in_order(&reference, &stored_ids, "a watcher on A");
    for (ws, who) in [
        (&mut watch_b, "a watcher on B"),
        (&mut ann_ws, "ann on A"),
        (&mut bob_ws, "bob on B"),
    ] {
        let ids = collect_ids(ws, 80, patience).await;
        assert_exactly_once_in_order(&ids, &stored_ids, who);
        ws.expect_silence(Duration::from_millis(300)).await;
    }
}

#[tokio::test]
async fn a_redis_outage_loses_nothing() {
    let mut redis = RedisServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let database = dir.path().join("shared.db");
    let (a, b) = start_pair(&database, &redis).await;

    let ann = Client::guest_at(&a.base(), "ann").await;
    let bob = Client::guest_at(&b.base(), "bob").await;
    ann.create_room("outage", "Outage").await;
    let ann_ws = ann.connect("outage", None).await;
    let bob_ws = bob.connect("outage", None).await;
    let watch_a = Client::for_base(&a.base()).connect("outage", None).await;
    let watch_b = Client::for_base(&b.base()).connect("outage", None).await;

    let mut clients = [
        (watch_a, "a watcher on A"),
        (watch_b, "a watcher on B"),
        (ann_ws, "ann on A"),
        (bob_ws, "bob on B"),
    ];
    let mut seen = vec![Vec::new(); clients.len()];

    // 0..30 with Redis; 30..60 while Redis is down; then Redis returns and nobody sends:
    // only the resync can bring each process the other's messages. Then 60..90 again.
    for phase in 0..3 {
        if phase == 1 {
            redis.kill();
            // Both servers notice and say so.
            wait_for_health(&a.base(), 503).await;
            let health = wait_for_health(&b.base(), 503).await;
            assert_eq!(health["layer"]["status"], "degraded");
        }
        for i in phase * 30..(phase + 1) * 30 {
            // Alternate processes (ann is on A, bob on B). Each send is stored and
            // delivered to its own process's members even while Redis is down.
            let sender = if i % 2 == 0 { 2 } else { 3 };
            let text = format!("{} {i}", clients[sender].1);
            clients[sender].0.say(&text, Some(&format!("c{i}"))).await;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if phase == 1 {
            redis.restart().await;
            wait_for_health(&a.base(), 200).await;
            wait_for_health(&b.base(), 200).await;
        }
        if phase == 0 {
            continue;
        }
        let stored: Vec<Value> = ann
            .get("/api/rooms/outage/messages?after=0")
            .await
            .json()
            .await
            .expect("json");
        let stored_ids: Vec<i64> = stored.iter().filter_map(|m| m["id"].as_i64()).collect();
        assert_eq!(stored_ids.len(), (phase + 1) * 30, "every send was stored");
        for ((ws, who), ids) in clients.iter_mut().zip(seen.iter_mut()) {
            let missing = stored_ids.len() - ids.len();
            ids.extend(collect_ids(ws, missing, Duration::from_secs(20)).await);
            assert_exactly_once_in_order(ids, &stored_ids, who);
            ws.expect_silence(Duration::from_millis(300)).await;
        }
    }
}

#[tokio::test]
async fn a_server_starts_without_redis_and_connects_when_it_appears() {
    let port = free_port();
    let dir = tempfile::tempdir().expect("temp dir");
    let server = ParlorProcess::start(
        &dir.path().join("alone.db"),
        &["--redis", &format!("redis://127.0.0.1:{port}")],
    )
    .await;
    let health = wait_for_health(&server.base(), 503).await;
    assert_eq!(health["store"], "ok");
    assert_eq!(health["layer"]["kind"], "redis");
    assert_eq!(health["layer"]["status"], "degraded");

    // Local chat works meanwhile.
    let ann = Client::guest_at(&server.base(), "ann").await;
    ann.create_room("solo", "Solo").await;
    let mut ws = ann.connect("solo", None).await;
    ws.say("still here", None).await;
    assert_eq!(ws.next_message().await["text"], "still here");

    let mut redis = RedisServer::on_port(port);
    redis.restart().await;
    let health = wait_for_health(&server.base(), 200).await;
    assert_eq!(health["layer"]["status"], "ok");
}

#[tokio::test]
async fn deleting_a_room_kicks_its_members_on_every_process() {
    let redis = RedisServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let database = dir.path().join("shared.db");
    let (a, b) = start_pair(&database, &redis).await;
    let owner = Client::guest_at(&a.base(), "owner").await;
    owner.create_room("doomed", "Doomed").await;
    let mut on_a = Client::for_base(&a.base()).connect("doomed", None).await;
    let mut on_b = Client::for_base(&b.base()).connect("doomed", None).await;

    assert_eq!(owner.delete("/api/rooms/doomed").await.status(), 204);
    for ws in [&mut on_a, &mut on_b] {
        let frame = ws.next_json().await;
        assert_eq!(frame["type"], "room_deleted");
        assert_eq!(frame["room"], "doomed");
        assert_eq!(ws.expect_close().await, 4410);
    }
    // Nobody can rejoin it.
    let again = Client::for_base(&b.base())
        .try_connect("doomed", None, Some(&b.base()))
        .await;
    assert!(again.is_err());
}

#[tokio::test]
async fn parlor_broadcast_reaches_clients_of_every_server() {
    let redis = RedisServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let database = dir.path().join("shared.db");
    let (a, b) = start_pair(&database, &redis).await;
    Client::guest_at(&a.base(), "ann")
        .await
        .create_room("news", "News")
        .await;
    let mut on_a = Client::for_base(&a.base()).connect("news", None).await;
    let mut on_b = Client::for_base(&b.base()).connect("news", None).await;

    let output = std::process::Command::new(binary())
        .arg("broadcast")
        .arg("--database")
        .arg(&database)
        .args(["--redis", &redis.url(), "--room", "news"])
        .args(["--text", "deploy at 5 pm", "--as", "Ops"])
        .output()
        .expect("run parlor broadcast");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for ws in [&mut on_a, &mut on_b] {
        let message = ws.next_message().await;
        assert_eq!(message["text"], "deploy at 5 pm");
        assert_eq!(message["author"], "Ops");
    }

    // Without Redis it explains why it cannot work and what to do instead.
    let output = std::process::Command::new(binary())
        .arg("broadcast")
        .arg("--database")
        .arg(&database)
        .args(["--room", "news", "--text", "hello"])
        .env_remove("PARLOR_REDIS_URL")
        .output()
        .expect("run parlor broadcast");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--redis"), "{stderr}");
    assert!(stderr.contains("/api/admin/rooms/"), "{stderr}");
}
