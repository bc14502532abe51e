//! What makes the room feel alive (issue 12): presence, typing, read markers and the lobby
//! feed, on one process and across two processes sharing Redis.

use crate::{
    helpers::{is_presence, Client, SseReader, TestServer, Ws},
    process::{ParlorProcess, RedisServer},
};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::time::Instant;

/// The next frame of `kind` within `wait` (others skipped), or `None`.
async fn frame_of(ws: &mut Ws, kind: &str, wait: Duration) -> Option<Value> {
    let deadline = Instant::now() + wait;
    loop {
        let frame = ws.next_any_within(deadline).await?;
        if frame["type"] == kind {
            return Some(frame);
        }
    }
}

fn names(list: &Value) -> Vec<String> {
    let mut names: Vec<String> = list
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

async fn post_id(client: &Client, slug: &str, text: &str) -> i64 {
    crate::transports::post(client, slug, text).await["id"]
        .as_i64()
        .expect("id")
}

#[tokio::test]
async fn presence_and_typing_cross_processes_and_a_dead_process_takes_its_members() {
    let redis = RedisServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let database = dir.path().join("shared.db");
    let url = redis.url();
    let a = ParlorProcess::start(&database, &["--redis", &url]).await;
    let mut b = ParlorProcess::start(&database, &["--redis", &url]).await;
    let wait = Duration::from_secs(10);

    let ann = Client::guest_at(&a.base(), "ann").await;
    let bob = Client::guest_at(&b.base(), "bob").await;
    ann.create_room("here", "Here").await;
    let mut ann_ws = ann.connect("here", None).await;
    let first = ann_ws
        .next_any_within(Instant::now() + wait)
        .await
        .expect("a frame");
    assert_eq!(first["type"], "presence", "presence comes first: {first}");
    assert_eq!(names(&first["members"]), ["ann"]);

    // bob on the other process sees ann; ann hears bob join.
    let mut bob_ws = bob.connect("here", None).await;
    let snapshot = frame_of(&mut bob_ws, "presence", wait)
        .await
        .expect("presence");
    assert_eq!(names(&snapshot["members"]), ["ann", "bob"], "{snapshot}");
    assert_eq!(snapshot["count"], 2);
    // (ann's own arrival may come first, as a diff of its own.)
    let mut joined = frame_of(&mut ann_ws, "presence_diff", wait)
        .await
        .expect("a diff");
    if names(&joined["joins"]) == ["ann"] {
        joined = frame_of(&mut ann_ws, "presence_diff", wait)
            .await
            .expect("a diff");
    }
    assert_eq!(names(&joined["joins"]), ["bob"], "{joined}");

    // A second tab is not a second member.
    let mut bob_tab = bob.connect("here", None).await;
    let again = frame_of(&mut bob_tab, "presence", wait)
        .await
        .expect("presence");
    assert_eq!(again["count"], 2);

    // Typing crosses processes, once per interval.
    bob_ws.send_json(json!({ "type": "typing" })).await;
    bob_ws.send_json(json!({ "type": "typing" })).await;
    let typing = frame_of(&mut ann_ws, "typing", wait).await.expect("typing");
    assert_eq!(typing["user"]["name"], "bob");
    assert!(
        frame_of(&mut ann_ws, "typing", Duration::from_millis(800))
            .await
            .is_none(),
        "the second typing frame within 2 s is dropped"
    );

    // Closing one of bob's tabs changes nothing; killing his process makes him leave.
    drop(bob_tab);
    b.kill();
    let started = Instant::now();
    let left = frame_of(&mut ann_ws, "presence_diff", Duration::from_secs(30))
        .await
        .expect("bob leaves within 30 s");
    assert_eq!(names(&left["leaves"]), ["bob"], "{left}");
    assert_eq!(left["count"], 1);
    println!("a dead process's member left after {:?}", started.elapsed());
    drop(bob_ws);
}

#[tokio::test]
async fn read_markers_clear_other_tabs_and_the_lobby_counts_unread() {
    let server = TestServer::start().await;
    let ann = server.account("ann", "correct horse battery").await;
    let bob = server.guest("bob").await;
    bob.create_room("news", "News").await;
    bob.create_room("other", "Other").await;
    let other_id = post_id(&bob, "other", "elsewhere").await;
    let mut tab1 = ann.connect("news", None).await;
    let mut tab2 = ann.connect("news", None).await;
    let mut lobby = ann
        .connect_path("/ws/lobby", Some(&server.origin()))
        .await
        .expect("lobby");
    let wait = Duration::from_secs(10);

    let mut last = 0;
    for text in ["one", "two @ann", "three"] {
        last = post_id(&bob, "news", text).await;
    }
    // The lobby counts them for ann: three unread, one mention.
    let mut counted = None;
    while let Some(frame) = frame_of(&mut lobby, "room", wait).await {
        if frame["room"]["slug"] == "news" && frame["room"]["unread"] == 3 {
            counted = Some(frame);
            break;
        }
    }
    let counted = counted.expect("the lobby counts three unread");
    assert_eq!(counted["room"]["mentions"], 1);
    assert_eq!(counted["room"]["last_message"]["excerpt"], "three");

    // Reading in one tab tells the other tab and the lobby.
    tab1.send_json(json!({ "type": "read", "up_to": last }))
        .await;
    let read = frame_of(&mut tab2, "read", wait)
        .await
        .expect("read in the other tab");
    assert_eq!(
        read,
        json!({ "type": "read", "room": "news", "up_to": last })
    );
    let cleared = frame_of(&mut lobby, "room", wait)
        .await
        .expect("room frame");
    assert_eq!(cleared["room"]["unread"], 0, "{cleared}");

    // The marker never moves back; other rooms' messages and unknown ids are refused.
    let back = ann
        .post("/api/rooms/news/read", &json!({ "up_to": last - 2 }))
        .await;
    assert_eq!(back.status(), 200);
    let body: Value = back.json().await.expect("json");
    assert_eq!(body["up_to"], last, "the marker stays where it was");
    tab1.send_json(json!({ "type": "read", "up_to": other_id }))
        .await;
    let refused = frame_of(&mut tab1, "error", wait)
        .await
        .expect("an error frame");
    assert_eq!(refused["code"], "invalid");
    let beyond = ann
        .post("/api/rooms/news/read", &json!({ "up_to": last + 1000 }))
        .await;
    assert_eq!(beyond.status(), 422);

    // The room list agrees.
    let rooms: Value = ann.get("/api/rooms").await.json().await.expect("json");
    let news = rooms
        .as_array()
        .and_then(|r| r.iter().find(|r| r["slug"] == "news"))
        .expect("news listed");
    assert_eq!(news["unread"], 0);
    let other = rooms
        .as_array()
        .and_then(|r| r.iter().find(|r| r["slug"] == "other"))
        .expect("other listed");
    assert_eq!(other["unread"], 1, "{other}");
}

#[tokio::test]
async fn the_lobby_stream_follows_rooms_created_renamed_and_deleted() {
    let server = TestServer::start().await;
    let ann = server.guest("ann").await;
    let bob = server.guest("bob").await;
    let response = ann.get("/api/lobby/events").await;
    assert_eq!(response.status(), 200);
    let mut events = SseReader::new(response);
    let wait = Duration::from_secs(10);

    bob.create_room("fresh", "Fresh").await;
    let created = events.next(wait).await.expect("an event");
    assert_eq!(created.event.as_deref(), Some("room"));
    let created: Value = serde_json::from_str(&created.data).expect("json");
    assert_eq!(created["room"]["title"], "Fresh");

    let renamed = bob
        .patch("/api/rooms/fresh", &json!({ "title": "Renamed" }))
        .await;
    assert_eq!(renamed.status(), 200);
    let renamed: Value =
        serde_json::from_str(&events.next(wait).await.expect("event").data).expect("json");
    assert_eq!(renamed["room"]["title"], "Renamed");

    post_id(&bob, "fresh", "hello").await;
    let active: Value =
        serde_json::from_str(&events.next(wait).await.expect("event").data).expect("json");
    assert_eq!(active["room"]["message_count"], 1);
    assert_eq!(active["room"]["unread"], 1, "{active}");

    assert_eq!(bob.delete("/api/rooms/fresh").await.status(), 204);
    let gone = events.next(wait).await.expect("event");
    assert_eq!(gone.event.as_deref(), Some("room_gone"));
    assert!(gone.data.contains("\"fresh\""));
}

#[tokio::test]
async fn polling_members_are_present_and_long_polls_carry_typing() {
    let server = TestServer::start().await;
    let ann = server.guest("ann").await;
    let bob = server.guest("bob").await;
    ann.create_room("polled", "Polled").await;
    let last = post_id(&ann, "polled", "start").await;
    // bob only polls; he is present for ann's socket.
    let short = bob
        .get(&format!("/api/rooms/polled/messages?after={last}"))
        .await;
    assert_eq!(short.status(), 200);
    let mut ann_ws = ann.connect("polled", None).await;
    let presence = frame_of(&mut ann_ws, "presence", Duration::from_secs(5))
        .await
        .expect("presence");
    assert_eq!(names(&presence["members"]), ["ann", "bob"], "{presence}");
    let rest: Value = bob
        .get("/api/rooms/polled/presence")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(rest["count"], 2);
    // Let the joins' diff go out first (a long poll would answer with it).
    tokio::time::sleep(Duration::from_millis(600)).await;

    // A long poll answers with ann's typing.
    let waiting = {
        let bob = bob.at(&server.origin());
        tokio::spawn(async move {
            let response = bob
                .get(&format!("/api/rooms/polled/messages?after={last}&wait=10"))
                .await;
            response.json::<Value>().await.expect("json")
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let typed = ann.post("/api/rooms/polled/typing", &json!({})).await;
    assert_eq!(typed.status(), 204);
    let answer = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the poll answers at once")
        .expect("task");
    let frames = answer.as_array().cloned().unwrap_or_default();
    assert!(
        frames
            .iter()
            .any(|f| f["type"] == "typing" && f["user"]["name"] == "ann"),
        "{answer}"
    );
    assert!(!frames.iter().any(is_presence) || frames.len() == 1);
}

#[tokio::test]
async fn a_hanging_redis_does_not_hold_up_new_connections() {
    let redis = RedisServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let database = dir.path().join("shared.db");
    let url = redis.url();
    let a = ParlorProcess::start(&database, &["--redis", &url]).await;
    let ann = Client::guest_at(&a.base(), "ann").await;
    ann.create_room("stuck", "Stuck").await;
    // Presence on Redis works first.
    let mut before = ann.connect("stuck", None).await;
    let first = frame_of(&mut before, "presence", Duration::from_secs(5)).await;
    assert!(first.is_some());
    drop(before);

    redis.pause();
    // Three people arrive while Redis is frozen: each waits at most for the subscription
    // (2 s) and the member list (0.5 s), not behind the others' presence calls.
    let mut sockets = Vec::new();
    for name in ["bo", "cy", "di"] {
        let who = Client::guest_at(&a.base(), name).await;
        let started = Instant::now();
        let mut ws = who.connect("stuck", None).await;
        let greeting = frame_of(&mut ws, "presence", Duration::from_secs(15))
            .await
            .expect("a presence frame, even with Redis frozen");
        let waited = started.elapsed();
        println!("{name} opened in {waited:?} with Redis frozen");
        assert!(
            waited < Duration::from_millis(3_500),
            "{name}'s connection waited {waited:?} on a frozen Redis"
        );
        assert_eq!(greeting["type"], "presence");
        sockets.push(ws);
    }
    let mut during = sockets.pop().expect("a socket");
    // Messages are still stored and delivered here.
    during.say("while Redis sleeps", None).await;
    let message = frame_of(&mut during, "message", Duration::from_secs(10))
        .await
        .expect("the message, delivered locally");
    assert_eq!(message["text"], "while Redis sleeps");
    redis.resume();
    drop(redis);
}
