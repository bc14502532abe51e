//! Sessions end, and their connections with them: log-out and "log out everywhere" close
//! the open sockets and streams of the sessions they end (on every process), and a guest
//! session stops being an identity once guests are turned off.

use crate::{
    helpers::{open_events, Client, SseReader, TestServer},
    process::{ParlorProcess, RedisServer},
};
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test]
async fn logging_out_closes_that_sessions_sockets_and_streams_only() {
    let server = TestServer::start().await;
    let ann = server.account("ann", "password1").await;
    let other_tab_elsewhere = Client::for_base(&server.url(""));
    let logged_in = other_tab_elsewhere
        .post(
            "/api/login",
            &json!({ "username": "ann", "password": "password1" }),
        )
        .await;
    assert_eq!(logged_in.status(), 200);
    ann.create_room("bye", "Bye").await;
    let mut ws = ann.connect("bye", None).await;
    let mut sse = SseReader::new(open_events(&ann, "bye", None, None).await);
    let mut elsewhere = other_tab_elsewhere.connect("bye", None).await;

    assert_eq!(ann.post("/api/logout", &json!({})).await.status(), 204);
    let notice = ws.next_json().await;
    assert_eq!(notice["code"], "login_required", "{notice}");
    assert_eq!(ws.expect_close().await, 4401);
    assert!(
        sse.until_end(Duration::from_secs(10)).await,
        "the stream ends"
    );
    // The same account's other session is untouched, and still posts.
    elsewhere.say("still here", None).await;
    assert_eq!(elsewhere.next_message().await["text"], "still here");
    server.shutdown().await;
}

#[tokio::test]
async fn revoking_every_session_closes_them_all_on_every_process() {
    let redis = RedisServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let database = dir.path().join("revoke.db");
    let a = ParlorProcess::start(&database, &["--redis", &redis.url()]).await;
    let b = ParlorProcess::start(&database, &["--redis", &redis.url()]).await;
    let first = Client::for_base(&a.base());
    let signed_up = first
        .post(
            "/api/signup",
            &json!({ "username": "bob", "password": "password1" }),
        )
        .await;
    assert_eq!(signed_up.status(), 201);
    first.create_room("all", "All").await;
    let second = Client::for_base(&b.base());
    let logged_in = second
        .post(
            "/api/login",
            &json!({ "username": "bob", "password": "password1" }),
        )
        .await;
    assert_eq!(logged_in.status(), 200);
    let mut on_a = first.connect("all", None).await;
    let mut on_b = second.connect("all", None).await;

    assert_eq!(
        first
            .post("/api/sessions/revoke", &json!({}))
            .await
            .status(),
        204
    );
    assert_eq!(on_a.expect_close().await, 4401);
    assert_eq!(
        on_b.expect_close().await,
        4401,
        "the other process's socket too"
    );
    for client in [&first, &second] {
        let me = client.get("/api/me").await;
        assert_eq!(me.status(), 401, "no session is an identity any more");
    }
}

#[tokio::test]
async fn guest_sessions_end_when_guests_are_turned_off() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = dir.path().join("guests.db");
    let with_guests = ParlorProcess::start(&database, &[]).await;
    let guest = Client::guest_at(&with_guests.base(), "visitor").await;
    let me: Value = guest.get("/api/me").await.json().await.expect("json");
    assert_eq!(me["guest"], true);
    drop(with_guests);

    let accounts_only = ParlorProcess::start_without_guests(&database).await;
    let later = guest.at(&accounts_only.base());
    assert_eq!(later.get("/api/me").await.status(), 401);
}
