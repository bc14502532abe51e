//! The REST API, black-box.

use crate::helpers::{TestServer, METRICS_TOKEN};
use serde_json::{json, Value};

#[tokio::test]
async fn rooms_can_be_created_listed_and_validated() {
    let server = TestServer::start().await;
    let ann = server.guest("ann").await;

    let created = ann
        .post(
            "/api/rooms",
            &json!({ "slug": "rust", "title": "  Rust talk " }),
        )
        .await;
    assert_eq!(created.status(), 201);
    let room: Value = created.json().await.expect("json");
    assert_eq!(room["slug"], "rust");
    assert_eq!(room["title"], "Rust talk");
    assert_eq!(room["message_count"], 0);

    let duplicate = ann
        .post("/api/rooms", &json!({ "slug": "rust", "title": "Again" }))
        .await;
    assert_eq!(duplicate.status(), 409);
    let body: Value = duplicate.json().await.expect("json");
    assert_eq!(body["error"]["code"], "conflict");

    for (slug, title) in [
        ("Bad Slug", "t"),
        ("", "t"),
        ("ok-slug", ""),
        ("x", &*"t".repeat(81)),
    ] {
        let response = ann
            .post("/api/rooms", &json!({ "slug": slug, "title": title }))
            .await;
        assert_eq!(response.status(), 422, "{slug:?} / {title:?}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"]["code"], "invalid");
    }

    let malformed = ann
        .http
        .post(ann.url("/api/rooms"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("send");
    assert_eq!(malformed.status(), 400);
    let body: Value = malformed.json().await.expect("json");
    assert!(body["error"]["message"].is_string());

    let list: Vec<Value> = ann.get("/api/rooms").await.json().await.expect("json");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["slug"], "rust");

    assert_eq!(ann.get("/api/rooms/rust").await.status(), 200);
    assert_eq!(ann.get("/api/rooms/nope").await.status(), 404);
    server.shutdown().await;
}

#[tokio::test]
async fn the_guest_session_is_the_identity() {
    let server = TestServer::start().await;
    let visitor = server.anonymous();
    let me = visitor.get("/api/me").await;
    assert_eq!(me.status(), 401);
    let body: Value = me.json().await.expect("json");
    assert_eq!(body["error"]["code"], "login_required");

    for bad in ["", "   ", &"x".repeat(33)] {
        let response = visitor
            .post("/api/session/guest", &json!({ "name": bad }))
            .await;
        assert_eq!(response.status(), 422, "{bad:?}");
    }

    let response = visitor
        .post("/api/session/guest", &json!({ "name": "민수" }))
        .await;
    assert_eq!(response.status(), 200);
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("a session cookie")
        .to_owned();
    assert!(cookie.starts_with("parlor_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");

    let me: Value = visitor.get("/api/me").await.json().await.expect("json");
    assert_eq!(me["name"], "민수");
    assert_eq!(me["guest"], true);
    assert!(me["username"].is_null(), "a guest has no username: {me}");

    assert_eq!(visitor.post("/api/logout", &json!({})).await.status(), 204);
    assert_eq!(visitor.get("/api/me").await.status(), 401);
    server.shutdown().await;
}

#[tokio::test]
async fn messages_can_be_posted_and_read_over_http() {
    let server = TestServer::start().await;
    let ann = server.guest("ann").await;
    ann.create_room("http", "HTTP").await;
    let mut watcher = server.anonymous().connect("http", None).await;

    let body = json!({ "text": "over http", "client_id": "h-1" });
    let first = ann.post("/api/rooms/http/messages", &body).await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.expect("json");
    assert_eq!(first["text"], "over http");
    // The WebSocket's frame, field for field.
    assert_eq!(watcher.next_message().await, first);

    let retry = ann.post("/api/rooms/http/messages", &body).await;
    assert_eq!(retry.status(), 200, "a retry returns the stored message");
    let retry: Value = retry.json().await.expect("json");
    assert_eq!(retry["id"], first["id"]);

    let anonymous = server
        .anonymous()
        .post("/api/rooms/http/messages", &json!({ "text": "hi" }))
        .await;
    assert_eq!(anonymous.status(), 401);
    let missing = ann
        .post("/api/rooms/nope/messages", &json!({ "text": "hi" }))
        .await;
    assert_eq!(missing.status(), 404);
    let invalid = ann
        .post("/api/rooms/http/messages", &json!({ "text": "" }))
        .await;
    assert_eq!(invalid.status(), 422);

    for i in 2..=4 {
        ann.post(
            "/api/rooms/http/messages",
            &json!({ "text": format!("m{i}") }),
        )
        .await;
    }
    let all: Vec<Value> = ann
        .get("/api/rooms/http/messages")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(all.len(), 4);
    let after_first: Vec<Value> = ann
        .get(&format!("/api/rooms/http/messages?after={}", first["id"]))
        .await
        .json()
        .await
        .expect("json");
    let texts: Vec<&str> = after_first
        .iter()
        .filter_map(|m| m["text"].as_str())
        .collect();
    assert_eq!(texts, ["m2", "m3", "m4"]);
    assert!(after_first.iter().all(|m| m["type"] == "message"));
    let newest: Vec<Value> = ann
        .get("/api/rooms/http/messages?limit=2")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(newest.len(), 2);
    assert_eq!(newest[1]["text"], "m4");
    let bad_query = ann.get("/api/rooms/http/messages?after=abc").await;
    assert_eq!(bad_query.status(), 400);
    server.shutdown().await;
}

#[tokio::test]
async fn cross_origin_posts_are_refused() {
    let server = TestServer::start().await;
    let ann = server.guest("ann").await;
    let response = ann
        .http
        .post(ann.url("/api/rooms"))
        .header("origin", "http://evil.example")
        .json(&json!({ "slug": "csrf", "title": "CSRF" }))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 403);
    assert_eq!(ann.get("/api/rooms/csrf").await.status(), 404);

    let same_origin = ann
        .http
        .post(ann.url("/api/rooms"))
        .header("origin", ann.origin.clone())
        .json(&json!({ "slug": "fine", "title": "Fine" }))
        .send()
        .await
        .expect("send");
    assert_eq!(same_origin.status(), 201);
    server.shutdown().await;
}

#[tokio::test]
async fn health_reports_store_writer_and_layer_to_the_token_only() {
    let server = TestServer::start().await;
    let anonymous: Value = server
        .anonymous()
        .get("/healthz")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        anonymous,
        json!({ "status": "ok" }),
        "no detail for strangers"
    );
    let response = server
        .anonymous()
        .http
        .get(server.url("/healthz"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["store"], "ok");
    assert_eq!(body["writer"], "ok");
    assert_eq!(body["layer"]["kind"], "memory");
    server.shutdown().await;
}

#[tokio::test]
async fn the_admin_api_publishes_through_the_chat_service() {
    let server = TestServer::start_with(|settings| {
        settings.serve.admin_token = Some("s3cret-token".to_owned());
    })
    .await;
    let ann = server.guest("ann").await;
    ann.create_room("announcements", "Announcements").await;
    let mut member = ann.connect("announcements", None).await;
    let path = "/api/admin/rooms/announcements/broadcast";
    let body = json!({ "text": "maintenance tonight", "as": "Ops" });

    let post = |token: Option<&'static str>| {
        let mut request = ann.http.post(ann.url(path)).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    assert_eq!(post(None).await.expect("send").status(), 401);
    assert_eq!(post(Some("wrong")).await.expect("send").status(), 401);
    let created = post(Some("s3cret-token")).await.expect("send");
    assert_eq!(created.status(), 201);
    let message: Value = created.json().await.expect("json");
    assert_eq!(message["author"], "Ops");

    let delivered = member.next_message().await;
    assert_eq!(delivered["id"], message["id"]);
    assert_eq!(delivered["text"], "maintenance tonight");
    let stored: Vec<Value> = ann
        .get("/api/rooms/announcements/messages")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(stored.len(), 1, "stored, not only published");

    let unknown_room = ann
        .http
        .post(ann.url("/api/admin/rooms/nope/broadcast"))
        .bearer_auth("s3cret-token")
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_eq!(unknown_room.status(), 404);
    server.shutdown().await;
}

#[tokio::test]
async fn the_admin_api_is_off_without_a_token() {
    let server = TestServer::start().await;
    let ann = server.guest("ann").await;
    ann.create_room("quiet", "Quiet").await;
    let response = ann
        .http
        .post(ann.url("/api/admin/rooms/quiet/broadcast"))
        .bearer_auth("anything")
        .json(&json!({ "text": "hello" }))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 404);
    server.shutdown().await;
}

#[tokio::test]
async fn a_client_id_reused_in_another_room_is_refused_not_mislabelled() {
    let server = TestServer::start().await;
    let ann = server.guest("ann").await;
    ann.create_room("first", "First").await;
    ann.create_room("second", "Second").await;
    let body = json!({ "text": "hello", "client_id": "reused" });
    assert_eq!(
        ann.post("/api/rooms/first/messages", &body).await.status(),
        201
    );
    let other = ann.post("/api/rooms/second/messages", &body).await;
    assert_eq!(other.status(), 422);
    let error: Value = other.json().await.expect("json");
    assert!(
        error["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("another room")),
        "{error}"
    );
    let second: Vec<Value> = ann
        .get("/api/rooms/second/messages")
        .await
        .json()
        .await
        .expect("json");
    assert!(second.is_empty());
    server.shutdown().await;
}

#[tokio::test]
async fn every_api_error_is_a_json_error_body() {
    let server = TestServer::start().await;
    let ann = server.guest("ann").await;
    ann.create_room("errors", "Errors").await;
    let error_code = |body: Value| body["error"]["code"].as_str().map(str::to_owned);

    // An unknown endpoint: the API's 404, not the site's HTML page.
    let unknown = ann.get("/api/no-such-thing").await;
    assert_eq!(unknown.status(), 404);
    assert_eq!(
        error_code(unknown.json().await.expect("json")).as_deref(),
        Some("not_found")
    );

    // A body over 64 KiB, with and without a declared length.
    let text = "x".repeat(70 * 1024);
    let declared = ann
        .post("/api/rooms/errors/messages", &json!({ "text": text }))
        .await;
    assert_eq!(declared.status(), 413);
    assert_eq!(
        error_code(declared.json().await.expect("json")).as_deref(),
        Some("too_large")
    );
    let chunks = futures::stream::iter((0..70).map(|_| Ok::<_, std::io::Error>(vec![b' '; 1024])));
    let streamed = ann
        .http
        .post(ann.url("/api/rooms/errors/messages"))
        .header("content-type", "application/json")
        .header("origin", server.origin())
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .expect("send");
    assert_eq!(streamed.status(), 413);
    assert_eq!(
        error_code(streamed.json().await.expect("json")).as_deref(),
        Some("too_large")
    );

    // A WebSocket handshake with a malformed `after`.
    let handshake = ann
        .http
        .get(ann.url("/ws/rooms/errors?after=soon"))
        .header("origin", server.origin())
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .expect("send");
    assert_eq!(handshake.status(), 400);
    assert_eq!(
        error_code(handshake.json().await.expect("json")).as_deref(),
        Some("bad_frame")
    );
}
