//! Parlor as DESIGN.md's "Many machines" draws it, on one box: the repository's own
//! `deploy/nginx.conf` (only its ports changed) in front of three `parlor serve` processes on
//! one PostgreSQL and one Redis. Clients on a WebSocket, an SSE stream and plain requests go
//! through nginx only; one process is killed mid-test; they carry on, and every message is
//! stored and seen exactly once, in order.

use crate::{
    helpers::{open_events, Client, SseReader},
    multiprocess::wait_for_health,
    process::{free_port, ParlorProcess, RedisServer},
    store_contract::fresh_postgres_database,
};
use futures::StreamExt;
use serde_json::{json, Value};
use std::{
    ffi::OsStr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};
use tokio_tungstenite::tungstenite::Message;

/// nginx running `deploy/nginx.conf` from a temporary prefix, in the foreground.
struct Nginx {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Nginx {
    /// Starts nginx in front of the processes on `upstreams` (the file names three).
    async fn start(upstreams: [u16; 3]) -> Self {
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/nginx.conf");
        let mut config = std::fs::read_to_string(&source).expect("deploy/nginx.conf");
        let port = free_port();
        for (default, port) in ["127.0.0.1:3001", "127.0.0.1:3002", "127.0.0.1:3003"]
            .iter()
            .zip(upstreams)
        {
            assert!(
                config.contains(default),
                "deploy/nginx.conf names {default}"
            );
            config = config.replace(default, &format!("127.0.0.1:{port}"));
        }
        assert!(config.contains("listen 127.0.0.1:8080"));
        config = config.replace("listen 127.0.0.1:8080", &format!("listen 127.0.0.1:{port}"));
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("logs")).expect("logs");
        // Run as root, nginx's workers drop to `nobody`: they must write their temp files.
        for sub in ["", "logs"] {
            let path = dir.path().join(sub);
            let _ = Command::new("chmod").arg("777").arg(&path).status();
        }
        let file = dir.path().join("nginx.conf");
        std::fs::write(&file, config).expect("write nginx.conf");
        let child = Command::new(nginx_binary())
            .arg("-p")
            .arg(format!("{}/", dir.path().display()))
            .arg("-c")
            .arg(&file)
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx (scripts/install-tools.sh --test installs it)");
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Self {
                    child,
                    port,
                    _dir: dir,
                };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        drop(Self {
            child,
            port,
            _dir: dir,
        });
        panic!("nginx never listened on {port}");
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Nginx {
    /// SIGTERM, not SIGKILL: the master stops its workers before it exits (killed outright it
    /// would leave them running, orphaned).
    fn drop(&mut self) {
        let stopped = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .is_ok_and(|status| status.success());
        if !stopped {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

fn nginx_binary() -> PathBuf {
    ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|path| path.exists())
        .unwrap_or_else(|| PathBuf::from("nginx"))
}

/// A follower on a WebSocket through nginx that reconnects (`?since=` its last seq) whenever
/// its socket is cut or quiet, until it has `count` messages; returns their ids in order.
async fn follow_on_websocket(client: Client, count: usize) -> Vec<i64> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    let mut ids = Vec::new();
    let mut since = 0;
    while ids.len() < count && tokio::time::Instant::now() < deadline {
        let origin = client.url("");
        let Ok(mut ws) = client
            .connect_path(&format!("/ws/rooms/edge?since={since}"), Some(&origin))
            .await
        else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(3), ws.stream.next()).await;
            let text = match frame {
                Ok(Some(Ok(Message::Text(text)))) => text,
                Ok(Some(Ok(_))) => continue,
                _ => break, // cut, closed or quiet: reconnect from `since`
            };
            let frame: Value = serde_json::from_str(text.as_str()).expect("JSON frame");
            if frame["type"] == "message" {
                ids.push(frame["id"].as_i64().expect("id"));
                since = frame["seq"].as_i64().expect("seq");
            }
            if ids.len() == count {
                break;
            }
        }
    }
    ids
}

/// The same on SSE, resuming with `Last-Event-ID` (the last seq).
async fn follow_on_sse(client: Client, count: usize) -> Vec<i64> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    let mut ids = Vec::new();
    let mut last: Option<String> = None;
    while ids.len() < count && tokio::time::Instant::now() < deadline {
        let response = open_events(&client, "edge", None, last.as_deref()).await;
        if !response.status().is_success() {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        let mut events = SseReader::new(response);
        while let Some(event) = events.next(Duration::from_secs(3)).await {
            if event.event.as_deref() == Some("message") {
                let frame: Value = serde_json::from_str(&event.data).expect("JSON event");
                ids.push(frame["id"].as_i64().expect("id"));
                last = event.id.clone();
            }
            if ids.len() == count {
                break;
            }
        }
    }
    ids
}

/// Posts through nginx, trying again (same `client_id`) while the request fails: a request
/// cut mid-way on the killed process may or may not have been stored.
async fn post_until_stored(client: &Client, text: &str) {
    for _ in 0..50 {
        let response = client
            .http
            .post(client.url("/api/rooms/edge/messages"))
            .header("origin", client.url(""))
            .json(&json!({ "text": text, "client_id": text }))
            .send()
            .await;
        if response.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{text} was never stored");
}

/// How many connections of `transport` the process at `base` holds (its `/metrics`).
async fn open_connections(base: &str, transport: &str) -> f64 {
    let metrics = reqwest::Client::new()
        .get(format!("{base}/metrics"))
        .bearer_auth(crate::helpers::METRICS_TOKEN)
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    let prefix = format!("parlor_connections{{transport=\"{transport}\"}} ");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn three_processes_behind_nginx_on_postgres_and_redis_lose_nothing_when_one_dies() {
    let database = fresh_postgres_database().await;
    let redis = RedisServer::start().await;
    let redis_url = redis.url();
    let mut processes = Vec::new();
    for _ in 0..3 {
        let process = ParlorProcess::start(
            OsStr::new(&database),
            &["--redis", &redis_url, "--trust-proxy"],
        )
        .await;
        wait_for_health(&process.base(), 200).await;
        processes.push(process);
    }
    let ports = [0, 1, 2].map(|i| {
        let base = processes[i].base();
        base.rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port")
    });
    let nginx = Nginx::start(ports).await;
    let base = nginx.base();

    let ann = Client::guest_at(&base, "ann").await;
    ann.create_room("edge", "Edge").await;
    let watcher_ws = Client::guest_at(&base, "wes").await;
    let watcher_sse = Client::guest_at(&base, "sue").await;
    let total = 30;
    let on_ws = tokio::spawn(follow_on_websocket(watcher_ws, total));
    let on_sse = tokio::spawn(follow_on_sse(watcher_sse, total));
    tokio::time::sleep(Duration::from_millis(500)).await;

    for i in 0..total {
        if i == total / 2 {
            // Mid-stream, the process holding the WebSocket follower dies abruptly.
            let mut victim = None;
            for (index, process) in processes.iter().enumerate() {
                if open_connections(&process.base(), "ws").await > 0.0 {
                    victim = Some(index);
                }
            }
            let victim = victim.expect("one process holds the WebSocket");
            processes[victim].kill();
        }
        post_until_stored(&ann, &format!("m{i:02}")).await;
        tokio::time::sleep(Duration::from_millis(30)).await;
    }

    // Plain requests through nginx: every message once, in order, whichever process answers.
    let stored: Vec<Value> = ann
        .get("/api/rooms/edge/messages?after=0")
        .await
        .json()
        .await
        .expect("history");
    let texts: Vec<&str> = stored.iter().filter_map(|m| m["text"].as_str()).collect();
    let expected: Vec<String> = (0..total).map(|i| format!("m{i:02}")).collect();
    assert_eq!(texts, expected, "every message stored once, in order");
    let seqs: Vec<i64> = stored.iter().filter_map(|m| m["seq"].as_i64()).collect();
    assert_eq!(
        seqs,
        (1..=total as i64).collect::<Vec<_>>(),
        "no gap in seqs"
    );
    let stored_ids: Vec<i64> = stored.iter().filter_map(|m| m["id"].as_i64()).collect();

    let ws_ids = on_ws.await.expect("websocket follower");
    assert_eq!(
        ws_ids, stored_ids,
        "the WebSocket follower saw each message once, in order"
    );
    let sse_ids = on_sse.await.expect("SSE follower");
    assert_eq!(
        sse_ids, stored_ids,
        "the SSE follower saw each message once, in order"
    );
}
