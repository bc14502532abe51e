//! Accounts, sessions, room ownership and the secure defaults, black-box.

use crate::helpers::{Client, TestServer};
use futures::SinkExt;
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::{self, Message};

fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("parlor_session="))
        .map(str::to_owned)
}

fn cookie_value(set_cookie: &str) -> &str {
    set_cookie
        .split(';')
        .next()
        .and_then(|pair| pair.split_once('='))
        .map_or("", |(_, value)| value)
}

#[tokio::test]
async fn sign_up_log_out_and_log_in_again_rotating_the_session() {
    let server = TestServer::start().await;
    let client = server.anonymous();
    let signed_up = client
        .post(
            "/api/signup",
            &json!({ "username": "Ann.Lee", "password": "correct horse" }),
        )
        .await;
    assert_eq!(signed_up.status(), 201);
    let first_cookie = session_cookie(&signed_up).expect("a session cookie");
    assert!(first_cookie.contains("HttpOnly"), "{first_cookie}");
    assert!(first_cookie.contains("SameSite=Lax"), "{first_cookie}");
    assert!(!first_cookie.contains("Secure"), "plain http: not Secure");
    let viewer: Value = signed_up.json().await.expect("json");
    assert_eq!(viewer["name"], "Ann.Lee");
    assert_eq!(viewer["guest"], false);
    let me: Value = client.get("/api/me").await.json().await.expect("json");
    assert_eq!(me["name"], "Ann.Lee");
    assert_eq!(me["username"], "Ann.Lee");

    assert_eq!(client.post("/api/logout", &json!({})).await.status(), 204);
    assert_eq!(client.get("/api/me").await.status(), 401);
    // The old session id is dead: replaying it gets nothing.
    let replay = reqwest::Client::new()
        .get(client.url("/api/me"))
        .header(
            "cookie",
            format!("parlor_session={}", cookie_value(&first_cookie)),
        )
        .send()
        .await
        .expect("send");
    assert_eq!(replay.status(), 401);

    let wrong = client
        .post(
            "/api/login",
            &json!({ "username": "ann.lee", "password": "wrong horse" }),
        )
        .await;
    assert_eq!(wrong.status(), 401);
    let body: Value = wrong.json().await.expect("json");
    assert_eq!(body["error"]["code"], "invalid_credentials");
    let nobody = client
        .post(
            "/api/login",
            &json!({ "username": "nobody", "password": "whatever1" }),
        )
        .await;
    assert_eq!(nobody.status(), 401, "unknown names get the same answer");

    // Any letter case logs in; the session id is new.
    let logged_in = client
        .post(
            "/api/login",
            &json!({ "username": "ANN.LEE", "password": "correct horse" }),
        )
        .await;
    assert_eq!(logged_in.status(), 200);
    let second_cookie = session_cookie(&logged_in).expect("a new session cookie");
    assert_ne!(cookie_value(&first_cookie), cookie_value(&second_cookie));
    let me: Value = client.get("/api/me").await.json().await.expect("json");
    assert_eq!(me["name"], "Ann.Lee");
    server.shutdown().await;
}

#[tokio::test]
async fn usernames_are_checked_and_unique_without_regard_to_case() {
    let server = TestServer::start().await;
    server.account("민수_01", "password1").await;
    server.account("Zoë", "password1").await;
    let client = server.anonymous();
    for (username, password, status) in [
        ("MINSU", "password1", 201),
        ("민수_01", "password1", 409),
        ("ZOË", "password1", 409),
        ("ab", "password1", 422),
        ("has space", "password1", 422),
        ("<img src=x>", "password1", 422),
        ("shortpw", "1234567", 422),
    ] {
        let response = Client::for_base(&client.url(""))
            .post(
                "/api/signup",
                &json!({ "username": username, "password": password }),
            )
            .await;
        assert_eq!(response.status(), status, "{username:?}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn passwords_are_stored_as_argon2id_hashes() {
    let server = TestServer::start().await;
    server.account("hashed", "a secret phrase").await;
    let database = sqlx::SqlitePool::connect(&format!("sqlite:{}", server.database.display()))
        .await
        .expect("open the database");
    let stored: String =
        sqlx::query_scalar("SELECT password_hash FROM users WHERE username_key = 'hashed'")
            .fetch_one(&database)
            .await
            .expect("row");
    assert!(stored.starts_with("$argon2id$"), "{stored}");
    assert!(!stored.contains("a secret phrase"));
    server.shutdown().await;
}

#[tokio::test]
async fn the_cookie_is_secure_behind_an_https_public_url() {
    let server = TestServer::start_with(|settings| {
        settings.serve.public_url = Some("https://chat.example.com".to_owned());
    })
    .await;
    // Only the public name is answered (DNS rebinding): by address, the request is refused.
    let by_address = server
        .anonymous()
        .post(
            "/api/signup",
            &json!({ "username": "secure", "password": "password1" }),
        )
        .await;
    assert_eq!(by_address.status(), 403);
    let client = server.anonymous();
    let response = client
        .http
        .post(client.url("/api/signup"))
        .header("host", "chat.example.com")
        .header("origin", "https://chat.example.com")
        .json(&json!({ "username": "secure", "password": "password1" }))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 201);
    let cookie = session_cookie(&response).expect("cookie");
    assert!(cookie.contains("Secure"), "{cookie}");
    server.shutdown().await;
}

#[tokio::test]
async fn without_allow_guests_only_accounts_post() {
    let server = TestServer::start_with(|settings| settings.serve.allow_guests = false).await;
    let visitor = server.anonymous();
    let guest = visitor
        .post("/api/session/guest", &json!({ "name": "drive-by" }))
        .await;
    assert_eq!(guest.status(), 403);
    let anonymous_room = visitor
        .post("/api/rooms", &json!({ "slug": "anon", "title": "Anon" }))
        .await;
    assert_eq!(
        anonymous_room.status(),
        401,
        "creating a room needs an account"
    );

    let ann = server.account("ann", "password1").await;
    ann.create_room("members", "Members").await;
    let mut reader = visitor.connect("members", None).await;
    reader.say("can I post?", Some("a1")).await;
    let refusal = reader.next_json().await;
    assert_eq!(refusal["code"], "login_required");
    let mut ws = ann.connect("members", None).await;
    ws.say("only members post", None).await;
    assert_eq!(reader.next_message().await["text"], "only members post");
    server.shutdown().await;
}

#[tokio::test]
async fn brute_force_log_in_gets_429_per_account_and_per_ip() {
    let server = TestServer::start().await;
    server.account("target", "the real one").await;
    // Per account: a handful of wrong guesses, then 429 even from a "different" client.
    let mut statuses = Vec::new();
    for i in 0..8 {
        let response = Client::for_base(&server.url(""))
            .post(
                "/api/login",
                &json!({ "username": "target", "password": format!("guess-{i}-xx") }),
            )
            .await;
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            assert!(retry_after.is_some_and(|s| s >= 1), "Retry-After is set");
            let body: Value = response.json().await.expect("json");
            assert_eq!(body["error"]["code"], "rate_limited");
        }
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    assert_eq!(statuses[0], 401);

    // Per IP: many names from one address (the default allows 30 a minute).
    let mut limited = false;
    for i in 0..40 {
        let response = server
            .anonymous()
            .post(
                "/api/login",
                &json!({ "username": format!("name{i}"), "password": "whatever1" }),
            )
            .await;
        if response.status() == 429 {
            limited = true;
            break;
        }
    }
    assert!(limited, "the IP limit applies across accounts");
    server.shutdown().await;
}

#[tokio::test]
async fn only_the_owner_renames_or_deletes_and_members_are_told() {
    let server = TestServer::start().await;
    let owner = server.account("owner", "password1").await;
    let other = server.account("other", "password1").await;
    owner.create_room("owned", "Owned").await;
    let room: Value = owner
        .get("/api/rooms/owned")
        .await
        .json()
        .await
        .expect("json");
    let me: Value = owner.get("/api/me").await.json().await.expect("json");
    assert_eq!(room["owner_id"], me["id"]);

    let mut member = other.connect("owned", None).await;
    let mut watcher = server.anonymous().connect("owned", None).await;

    assert_eq!(
        other
            .patch("/api/rooms/owned", &json!({ "title": "Mine now" }))
            .await
            .status(),
        403
    );
    assert_eq!(other.delete("/api/rooms/owned").await.status(), 403);
    assert_eq!(
        server.anonymous().delete("/api/rooms/owned").await.status(),
        401
    );

    let renamed = owner
        .patch("/api/rooms/owned", &json!({ "title": "Renamed" }))
        .await;
    assert_eq!(renamed.status(), 200);
    let event = member.next_json().await;
    assert_eq!(event["type"], "room_renamed");
    assert_eq!(event["title"], "Renamed");

    assert_eq!(owner.delete("/api/rooms/owned").await.status(), 204);
    for ws in [&mut member, &mut watcher] {
        // The rename event may come first; then the deletion.
        let mut frame = ws.next_json().await;
        if frame["type"] == "room_renamed" {
            frame = ws.next_json().await;
        }
        assert_eq!(frame["type"], "room_deleted");
        assert_eq!(frame["room"], "owned");
        assert_eq!(ws.expect_close().await, 4410);
    }
    assert_eq!(owner.get("/api/rooms/owned").await.status(), 404);
    server.shutdown().await;
}

#[tokio::test]
async fn a_websocket_without_origin_or_from_another_site_is_refused() {
    let server = TestServer::start().await;
    let ann = server.account("ann", "password1").await;
    ann.create_room("guarded", "Guarded").await;
    for origin in [None, Some("http://evil.example"), Some("null")] {
        match ann.try_connect("guarded", None, origin).await {
            Err(tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 403, "{origin:?}")
            }
            Err(other) => panic!("expected 403 for {origin:?}, got {other}"),
            Ok(_) => panic!("{origin:?} must not get a socket"),
        }
    }
    server.shutdown().await;
}

#[tokio::test]
async fn cross_site_posts_without_origin_are_refused_too() {
    let server = TestServer::start().await;
    let ann = server.account("ann", "password1").await;
    let response = ann
        .http
        .post(ann.url("/api/rooms"))
        .header("sec-fetch-site", "cross-site")
        .json(&json!({ "slug": "csrf", "title": "CSRF" }))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 403);
    // A server function posted by another site's form is refused the same way.
    let form = ann
        .http
        .post(ann.url("/fn/create_room"))
        .header("origin", "http://evil.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("slug=csrf2&title=CSRF")
        .send()
        .await
        .expect("send");
    assert_eq!(form.status(), 403);
    assert_eq!(ann.get("/api/rooms/csrf").await.status(), 404);
    assert_eq!(ann.get("/api/rooms/csrf2").await.status(), 404);
    server.shutdown().await;
}

#[tokio::test]
async fn sending_too_fast_is_refused_then_disconnected() {
    let server = TestServer::start_with(|settings| {
        settings.serve.message_rate = 1;
        settings.serve.message_burst = 3;
    })
    .await;
    let ann = server.account("fast", "password1").await;
    ann.create_room("flood", "Flood").await;
    let mut ws = ann.connect("flood", None).await;
    for i in 0..40 {
        let frame =
            json!({ "type": "send", "text": format!("m{i}"), "client_id": format!("f{i}") });
        if ws
            .stream
            .send(Message::text(frame.to_string()))
            .await
            .is_err()
        {
            break;
        }
    }
    let mut stored = 0;
    let mut limited = 0;
    loop {
        match ws.next_json_within(Duration::from_secs(3)).await {
            Some(frame) if frame["type"] == "message" => stored += 1,
            Some(frame) if frame["code"] == "rate_limited" => {
                assert!(frame["client_id"].is_string());
                limited += 1;
            }
            Some(other) => panic!("unexpected {other}"),
            None => break,
        }
    }
    assert_eq!(stored, 3, "the burst got through");
    assert_eq!(limited, 20, "then refusals, until the socket was closed");
    // The limit is the user's, not the connection's: over HTTP the same budget runs out
    // (at most the burst refills meanwhile), and the refusal says when to come back.
    let mut refused = None;
    for i in 0..10 {
        let response = ann
            .post(
                "/api/rooms/flood/messages",
                &json!({ "text": format!("http {i}") }),
            )
            .await;
        if response.status() == 429 {
            refused = Some(response);
            break;
        }
        assert_eq!(response.status(), 201);
    }
    let refused = refused.expect("the user's budget runs out over HTTP too");
    let retry_after: u64 = refused
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    let later = ann
        .post("/api/rooms/flood/messages", &json!({ "text": "over http" }))
        .await;
    assert_eq!(later.status(), 201, "after Retry-After it goes through");
    server.shutdown().await;
}

#[tokio::test]
async fn hostile_text_is_stored_and_returned_verbatim() {
    let server = TestServer::start().await;
    let ann = server.account("ann", "password1").await;
    let xss = "<img src=x onerror=alert(1)>";
    let sql = "'; DROP TABLE messages; --";
    let title = "</title><img src=x onerror=alert(1)>";
    let created = ann
        .post("/api/rooms", &json!({ "slug": "hostile", "title": title }))
        .await;
    assert_eq!(created.status(), 201);
    for text in [xss, sql] {
        let sent = ann
            .post("/api/rooms/hostile/messages", &json!({ "text": text }))
            .await;
        assert_eq!(sent.status(), 201);
    }
    let messages: Vec<Value> = ann
        .get("/api/rooms/hostile/messages")
        .await
        .json()
        .await
        .expect("json");
    let texts: Vec<&str> = messages.iter().filter_map(|m| m["text"].as_str()).collect();
    assert_eq!(texts, [xss, sql]);
    let room: Value = ann
        .get("/api/rooms/hostile")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(room["title"], title);
    // And the server-rendered page escapes them, the <title> included.
    let html = ann.get("/rooms/hostile").await.text().await.expect("html");
    assert!(!html.contains(xss), "{html}");
    assert!(!html.contains(title), "{html}");
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
    assert!(
        html.contains("&#39;; DROP TABLE messages; --")
            || html.contains("'; DROP TABLE messages; --")
    );
    server.shutdown().await;
}

#[tokio::test]
async fn pages_carry_security_headers_and_a_nonced_csp() {
    let server = TestServer::start().await;
    let response = server.anonymous().get("/").await;
    assert_eq!(response.status(), 200);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .unwrap_or_default()
    };
    let csp = header("content-security-policy");
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert_eq!(header("referrer-policy"), "strict-origin-when-cross-origin");
    assert_eq!(header("x-frame-options"), "DENY");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("'wasm-unsafe-eval'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("a nonce in the policy")
        .to_owned();
    let html = response.text().await.expect("html");
    assert!(
        html.contains(&format!("nonce=\"{nonce}\"")),
        "inline scripts carry the policy's nonce"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn the_log_in_limits_hold_for_the_api_and_the_server_function_alike() {
    let server = TestServer::start_with(|settings| {
        settings.serve.auth_per_minute = 4;
        settings.serve.login_per_account_per_minute = 2;
    })
    .await;
    let client = server.anonymous();
    let form_login = |password: &str| {
        client
            .http
            .post(client.url("/fn/login"))
            .header("origin", &client.origin)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("username=target&password={password}"))
            .send()
    };
    // Per account: two failures lock it, whichever way they came.
    let api = client
        .post(
            "/api/login",
            &json!({ "username": "target", "password": "wrong-one" }),
        )
        .await;
    assert_eq!(api.status(), 401);
    let form = form_login("wrong-two").await.expect("send");
    assert_eq!(form.status(), 401);
    let locked = form_login("wrong-three").await.expect("send");
    assert_eq!(
        locked.status(),
        429,
        "the account is locked for the form too"
    );
    assert!(locked.headers().get("retry-after").is_some());
    // Per address: the four attempts a minute are spent by now (three above, one here).
    let other = client
        .post(
            "/api/login",
            &json!({ "username": "someone", "password": "whatever1" }),
        )
        .await;
    assert_eq!(other.status(), 401);
    let spent = client
        .post(
            "/api/login",
            &json!({ "username": "another", "password": "whatever1" }),
        )
        .await;
    assert_eq!(
        spent.status(),
        429,
        "the address's budget is shared by both ways in"
    );
    server.shutdown().await;
}
