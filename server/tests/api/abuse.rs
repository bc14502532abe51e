//! What one hostile client can do, and what stops it: slow and idle connections are closed,
//! connection and stream caps per address answer 429, bodies time out, WebSocket protocol
//! violations get their close codes, quotas refuse floods, and foreign pages cannot read.

use crate::helpers::{Client, TestServer, METRICS_TOKEN};
use futures::SinkExt;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tokio_tungstenite::tungstenite::{
    self,
    protocol::frame::{
        coding::{Data, OpCode},
        Frame,
    },
    Message,
};

/// Waits for the server to close `tcp` (EOF or reset), reading whatever it says first;
/// `None` if it stays open for `within`.
async fn closed_within(tcp: &mut TcpStream, within: Duration) -> Option<String> {
    let mut said = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, tcp.read(&mut buffer)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(String::from_utf8_lossy(&said).into_owned()),
            Ok(Ok(n)) => said.extend_from_slice(&buffer[..n]),
        }
    }
}

#[tokio::test]
async fn half_a_request_line_and_an_idle_keep_alive_are_closed() {
    let server = TestServer::start_with(|settings| settings.serve.header_timeout = 1).await;
    let mut slow = TcpStream::connect(server.addr).await.expect("connect");
    slow.write_all(b"GET / HTT").await.expect("write");
    assert!(
        closed_within(&mut slow, Duration::from_secs(15))
            .await
            .is_some(),
        "a client that never finishes its headers is cut off"
    );

    let mut idle = TcpStream::connect(server.addr).await.expect("connect");
    idle.write_all(b"GET /livez HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("write");
    let said = closed_within(&mut idle, Duration::from_secs(15))
        .await
        .expect("an idle kept-alive connection is closed");
    assert!(
        said.starts_with("HTTP/1.1 200"),
        "it was answered first: {said}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn one_address_gets_its_share_of_connections_and_streams() {
    let server = TestServer::start_with(|settings| {
        settings.serve.max_connections_per_ip = 4;
        settings.serve.max_streams_per_ip = 2;
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(TcpStream::connect(server.addr).await.expect("connect"));
    }
    let mut fifth = TcpStream::connect(server.addr).await.expect("connect");
    let said = closed_within(&mut fifth, Duration::from_secs(10))
        .await
        .expect("refused at once");
    assert!(said.starts_with("HTTP/1.1 429"), "{said}");
    assert!(said.contains("retry-after: 5"), "{said}");
    drop(held);
    // The server notices the closes a moment later.
    let probe = Client::for_base(&server.url(""));
    for _ in 0..100 {
        if let Ok(response) = probe.http.get(server.url("/livez")).send().await {
            if response.status() == 200 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(probe);

    let ann = server.guest("ann").await;
    ann.create_room("share", "Share").await;
    let _one = ann.connect("share", None).await;
    let _two = ann.connect("share", None).await;
    let refused = ann
        .try_connect("share", None, Some(&ann.origin))
        .await
        .err()
        .expect("a third stream from one address is refused");
    match refused {
        tungstenite::Error::Http(response) => {
            assert_eq!(response.status(), 429);
            assert!(response.headers().get("retry-after").is_some());
        }
        other => panic!("expected 429, got {other:?}"),
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_body_that_never_finishes_times_out() {
    let server = TestServer::start_with(|settings| settings.serve.body_timeout = 1).await;
    let ann = server.guest("ann").await;
    let cookie = ann.cookie().expect("cookie");
    let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
    let head = format!(
        "POST /api/rooms HTTP/1.1\r\nhost: {addr}\r\norigin: http://{addr}\r\n\
         cookie: {cookie}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"slug\"",
        addr = server.addr,
        cookie = cookie.to_str().expect("ascii")
    );
    tcp.write_all(head.as_bytes()).await.expect("write");
    let said = closed_within(&mut tcp, Duration::from_secs(15))
        .await
        .expect("the request is given up");
    assert!(said.starts_with("HTTP/1.1 408"), "{said}");
    server.shutdown().await;
}

#[tokio::test]
async fn websocket_violations_get_their_close_codes() {
    let server = TestServer::start().await;
    let ann = server.guest("ann").await;
    ann.create_room("rules", "Rules").await;

    let mut ws = ann.connect("rules", None).await;
    let not_utf8 = Frame::message(vec![0xff, 0xfe, 0xfd], OpCode::Data(Data::Text), true);
    ws.stream
        .send(Message::Frame(not_utf8))
        .await
        .expect("send");
    assert_eq!(ws.expect_close().await, 1007, "invalid UTF-8");

    let mut ws = ann.connect("rules", None).await;
    let mut reserved = Frame::message(b"{}".to_vec(), OpCode::Data(Data::Text), true);
    reserved.header_mut().rsv1 = true;
    ws.stream
        .send(Message::Frame(reserved))
        .await
        .expect("send");
    assert_eq!(
        ws.expect_close().await,
        1002,
        "a reserved bit without an extension"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_room_flood_is_refused_and_the_list_comes_in_pages() {
    let server = TestServer::start_with(|settings| {
        settings.serve.room_quota = "3/5".parse().expect("quota");
    })
    .await;
    let ann = server.guest("ann").await;
    for i in 0..3 {
        let created = ann
            .post(
                "/api/rooms",
                &json!({ "slug": format!("r{i}"), "title": "R" }),
            )
            .await;
        assert_eq!(created.status(), 201);
    }
    let refused = ann
        .post("/api/rooms", &json!({ "slug": "r3", "title": "R" }))
        .await;
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().get("retry-after").is_some());
    let body: Value = refused.json().await.expect("json");
    assert_eq!(body["error"]["code"], "quota_exceeded");
    server.shutdown().await;

    // Many rooms (from many people): pages of the most active first, nothing twice.
    let server = TestServer::start().await;
    let mut people = Vec::new();
    for p in 0..6 {
        let person = server.guest(&format!("p{p}")).await;
        for r in 0..10 {
            person.create_room(&format!("room-{p}-{r}"), "Room").await;
        }
        people.push(person);
    }
    let first = people[0].get("/api/rooms?limit=50").await;
    let link = first
        .headers()
        .get("link")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .expect("a next page");
    let first: Vec<Value> = first.json().await.expect("json");
    assert_eq!(first.len(), 50);
    assert_eq!(first[0]["slug"], "room-5-9", "the newest first");
    let next = link
        .strip_prefix('<')
        .and_then(|rest| rest.split_once('>'))
        .map(|(path, _)| path.to_owned())
        .expect("a link");
    let second: Vec<Value> = people[0].get(&next).await.json().await.expect("json");
    assert_eq!(second.len(), 10);
    let mut slugs: Vec<&str> = first
        .iter()
        .chain(&second)
        .filter_map(|room| room["slug"].as_str())
        .collect();
    slugs.sort_unstable();
    slugs.dedup();
    assert_eq!(slugs.len(), 60, "every room once");
    let home = people[0].get("/").await.text().await.expect("html");
    assert_eq!(home.matches("class=\"room-item\"").count(), 50);
    assert!(home.contains("More rooms"), "the home page links on");
    let bad = people[0].get("/api/rooms?cursor=nonsense").await;
    assert_eq!(bad.status(), 422);
    server.shutdown().await;
}

#[tokio::test]
async fn foreign_pages_cannot_read_streams_or_polls() {
    let server = TestServer::start().await;
    let ann = server.guest("ann").await;
    ann.create_room("open", "Open").await;
    for path in [
        "/api/rooms/open/messages",
        "/api/rooms/open/messages?after=0&wait=1",
        "/api/rooms/open/events",
    ] {
        let response = ann
            .http
            .get(ann.url(path))
            .header("sec-fetch-site", "cross-site")
            .send()
            .await
            .expect("GET");
        assert_eq!(response.status(), 403, "{path}");
    }
    let same_site = ann.get("/api/rooms/open/messages").await;
    assert_eq!(same_site.status(), 200);
    // Another scheme is another origin.
    let https = ann
        .try_connect(
            "open",
            None,
            Some(&server.origin().replace("http://", "https://")),
        )
        .await;
    assert!(https.is_err(), "an https origin is not this http server");
    server.shutdown().await;
}

#[tokio::test]
async fn session_rows_are_not_written_per_request() {
    let server = TestServer::start().await;
    let ann = server.account("steady", "password1").await;
    let expiry = || async {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite:{}", server.database.display()))
            .await
            .expect("open the database");
        let expiries: Vec<(String, Vec<u8>)> =
            sqlx::query_as("SELECT expiry_date, data FROM tower_sessions")
                .fetch_all(&pool)
                .await
                .expect("sessions");
        pool.close().await;
        expiries
    };
    let before = expiry().await;
    for _ in 0..20 {
        let me = ann.get("/api/me").await;
        assert_eq!(me.status(), 200);
        assert!(
            me.headers().get("set-cookie").is_none(),
            "no cookie per request"
        );
        let asset = ann.get("/favicon.svg").await;
        assert!(
            asset.headers().get("set-cookie").is_none(),
            "none on static files"
        );
    }
    assert_eq!(expiry().await, before, "the session row was not rewritten");
    server.shutdown().await;
}

#[tokio::test]
async fn metrics_are_served_to_the_token_only() {
    let server = TestServer::start().await;
    let ann = server.guest("ann").await;
    ann.create_room("counted", "Counted").await;
    ann.post("/api/rooms/counted/messages", &json!({ "text": "one" }))
        .await;
    assert_eq!(ann.get("/metrics").await.status(), 404);
    let metrics = Client::for_base(&server.url(""))
        .http
        .get(server.url("/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .expect("GET");
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.expect("text");
    for name in [
        "parlor_messages_stored_total",
        "parlor_store_batch_seconds_bucket",
        "parlor_connections",
        "parlor_layer_up",
    ] {
        assert!(text.contains(name), "{name} in\n{text}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_stream_whose_client_reads_nothing_is_dropped() {
    let server = TestServer::start_with(|settings| {
        settings.serve.stall_timeout = 2;
        settings.serve.message_rate = 0;
        // Only the stall can end this stream, not a full mailbox.
        settings.serve.mailbox_capacity = 10_000;
    })
    .await;
    let ann = server.guest("ann").await;
    ann.create_room("stalled", "Stalled").await;
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let mut reader = socket.connect(server.addr).await.expect("connect");
    reader
        .write_all(b"GET /api/rooms/stalled/events HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("write");
    // More than the kernel's buffers hold (a few MiB).
    let text = "z".repeat(4000);
    for i in 0..1500 {
        let sent = ann
            .post(
                "/api/rooms/stalled/messages",
                &json!({ "text": text, "client_id": format!("s{i}") }),
            )
            .await;
        assert_eq!(sent.status(), 201);
    }
    // Longer than the stall limit without reading; then what was buffered ends in a close,
    // not in an endless stream.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut buffer = vec![0u8; 1 << 16];
    let mut total = 0;
    let ended = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match reader.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => total += n,
            }
        }
    })
    .await;
    assert!(
        ended.is_ok(),
        "the server dropped the stalled stream (read {total} bytes)"
    );
    server.shutdown().await;
}
