//! Room events, black-box: edits and deletions follow their rules over REST and WebSocket,
//! a deleted text is gone from every answer, and a client that was away resumes with
//! `since=SEQ` on every transport and process and gets exactly what changed, in order.

use crate::{
    helpers::{open_events, Client, SseReader, TestServer, Ws, PATIENCE},
    process::{ParlorProcess, RedisServer},
    transports::post,
};
use serde_json::{json, Value};
use std::time::Duration;

/// Posts `text` and returns `(id, seq)` of the stored message.
async fn post_numbered(client: &Client, slug: &str, text: &str) -> (i64, i64) {
    let sent = post(client, slug, text).await;
    let id = sent["id"].as_i64().expect("id");
    let seq = sent["seq"].as_i64().expect("seq");
    (id, seq)
}

/// `PATCH`es message `id` of `slug` with `text`; the status and the body.
async fn edit(client: &Client, slug: &str, id: impl ToString, text: &str) -> (u16, Value) {
    let response = client
        .patch(
            &format!("/api/rooms/{slug}/messages/{}", id.to_string()),
            &json!({ "text": text }),
        )
        .await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// `DELETE`s message `id` of `slug`; the status and the body.
async fn delete(client: &Client, slug: &str, id: impl ToString) -> (u16, Value) {
    let response = client
        .delete(&format!("/api/rooms/{slug}/messages/{}", id.to_string()))
        .await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Toggles `emoji` on message `id` of `slug`; the status and the body.
pub async fn react(client: &Client, slug: &str, id: impl ToString, emoji: &str) -> (u16, Value) {
    let response = client
        .post(
            &format!("/api/rooms/{slug}/messages/{}/reactions", id.to_string()),
            &json!({ "emoji": emoji }),
        )
        .await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The room's history as the API answers it (the newest 50).
pub async fn history(client: &Client, slug: &str) -> Vec<Value> {
    client
        .get(&format!("/api/rooms/{slug}/messages"))
        .await
        .json()
        .await
        .expect("history JSON")
}

/// The stored message `id` as the history shows it.
async fn stored(client: &Client, slug: &str, id: i64) -> Value {
    history(client, slug)
        .await
        .into_iter()
        .find(|m| m["id"] == id)
        .unwrap_or_else(|| panic!("message {id} is in the history"))
}

/// The next frame of `kind` on `ws` (others skipped), or `None` within `wait`.
pub async fn next_of(ws: &mut Ws, kind: &str, wait: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let frame = ws.next_json_within(left).await?;
        if frame["type"] == kind {
            return Some(frame);
        }
    }
}

#[tokio::test]
async fn only_the_author_edits_and_the_author_or_the_owner_deletes() {
    let server = TestServer::start().await;
    let ann = server.guest("ann").await;
    let bob = server.guest("bob").await;
    let carl = server.guest("carl").await;
    ann.create_room("rules", "Rules").await;
    let (anns, anns_seq) = post_numbered(&ann, "rules", "ann wrote this").await;
    let (bobs, _) = post_numbered(&bob, "rules", "bob wrote this").await;
    let (bobs_other, _) = post_numbered(&bob, "rules", "bob again").await;

    // Someone else's message: refused, nothing changed, no seq used.
    let (status, body) = edit(&bob, "rules", anns, "bob was here").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");
    let (status, body) = delete(&carl, "rules", anns).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(stored(&ann, "rules", anns).await["text"], "ann wrote this");

    // The author edits: the text is validated like a new message.
    let (status, body) = edit(&ann, "rules", anns, "   ").await;
    assert_eq!(status, 422, "an empty edit is refused: {body}");
    let (status, body) = edit(&ann, "rules", anns, &"x".repeat(5000)).await;
    assert!(
        status == 413 || status == 422,
        "an oversize edit is refused: {status} {body}"
    );
    let (status, edited) = edit(&ann, "rules", anns, "ann fixed this").await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(edited["type"], "message_edited");
    assert_eq!(edited["id"], anns);
    assert_eq!(edited["text"], "ann fixed this");
    assert!(edited["edited_at"]
        .as_str()
        .is_some_and(|at| !at.is_empty()));
    let edit_seq = edited["seq"].as_i64().expect("seq");
    assert_eq!(
        edit_seq,
        anns_seq + 3,
        "the edit takes the room's next seq (refusals took none)"
    );
    let now = stored(&ann, "rules", anns).await;
    assert_eq!(now["text"], "ann fixed this");
    assert_eq!(now["edited_at"], edited["edited_at"]);

    // The owner reads the edit history; nobody else does.
    let earlier: Vec<Value> = ann
        .get(&format!("/api/rooms/rules/messages/{anns}/edits"))
        .await
        .json()
        .await
        .expect("edits JSON");
    assert_eq!(earlier.len(), 1);
    assert_eq!(earlier[0]["text"], "ann wrote this");
    let refused = bob
        .get(&format!("/api/rooms/rules/messages/{anns}/edits"))
        .await;
    assert_eq!(refused.status(), 403);

    // The owner deletes bob's message; bob deletes his own; both are tombstones.
    let (status, deleted) = delete(&ann, "rules", bobs).await;
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(
        deleted,
        json!({ "type": "message_deleted", "seq": edit_seq + 1, "id": bobs })
    );
    let (status, _) = delete(&bob, "rules", bobs_other).await;
    assert_eq!(status, 200);

    // Gone means gone: a deleted message can be neither edited nor deleted again, and an
    // unknown id or one that is not a number names no message.
    for (status, body) in [
        edit(&bob, "rules", bobs_other, "back from the dead").await,
        delete(&ann, "rules", bobs).await,
        edit(&ann, "rules", 999_999, "nobody").await,
        delete(&ann, "rules", "not-a-number").await,
    ] {
        assert_eq!(status, 404, "{body}");
        assert_eq!(body["error"]["code"], "not_found");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_message_of_another_room_cannot_be_changed_through_this_one() {
    let server = TestServer::start().await;
    let ann = server.guest("ann").await;
    ann.create_room("here", "Here").await;
    ann.create_room("there", "There").await;
    let (theirs, _) = post_numbered(&ann, "there", "stays as it is").await;
    assert_eq!(edit(&ann, "here", theirs, "moved?").await.0, 404);
    assert_eq!(delete(&ann, "here", theirs).await.0, 404);
    assert_eq!(
        stored(&ann, "there", theirs).await["text"],
        "stays as it is"
    );

    // Over the WebSocket the same refusal is an error frame, and nobody hears anything.
    let mut ws = ann.connect("here", None).await;
    ws.send_json(json!({ "type": "edit", "id": theirs, "text": "moved?" }))
        .await;
    let refusal = ws.next_json().await;
    assert_eq!(refusal["type"], "error", "{refusal}");
    assert_eq!(refusal["code"], "not_found");
    assert_eq!(
        stored(&ann, "there", theirs).await["text"],
        "stays as it is"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_deleted_text_never_appears_again() {
    let server = TestServer::start().await;
    let ann = server.guest("ann").await;
    ann.create_room("secret", "Secret").await;
    let (id, seq) = post_numbered(&ann, "secret", "my password is hunter2").await;
    edit(&ann, "secret", id, "my password is swordfish").await;
    post(&ann, "secret", "still here").await;
    assert_eq!(delete(&ann, "secret", id).await.0, 200);

    let history = ann
        .get("/api/rooms/secret/messages")
        .await
        .text()
        .await
        .expect("body");
    let replay = ann
        .get(&format!("/api/rooms/secret/messages?since={}", seq - 1))
        .await
        .text()
        .await
        .expect("body");
    let page = ann.get("/rooms/secret").await.text().await.expect("body");
    let mut sse = SseReader::new(open_events(&ann, "secret", Some(0), None).await);
    let mut streamed = String::new();
    while let Some(event) = sse.next(Duration::from_millis(500)).await {
        streamed.push_str(&event.data);
    }
    for (what, body) in [
        ("history", &history),
        ("replay", &replay),
        ("page", &page),
        ("SSE", &streamed),
    ] {
        assert!(body.contains("still here"), "{what} shows the room: {body}");
        for secret in ["hunter2", "swordfish"] {
            assert!(!body.contains(secret), "{what} shows deleted text: {body}");
        }
    }
    let tombstone = stored(&ann, "secret", id).await;
    assert_eq!(tombstone["deleted"], true);
    assert_eq!(tombstone["text"], "");
    let edits = ann
        .get(&format!("/api/rooms/secret/messages/{id}/edits"))
        .await;
    assert_eq!(
        edits.status(),
        404,
        "no history is left of a deleted message"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn edits_are_charged_to_the_message_rate() {
    let server = TestServer::start_with(|settings| {
        settings.serve.message_rate = 1;
        settings.serve.message_burst = 3;
    })
    .await;
    let ann = server.guest("ann").await;
    ann.create_room("slow", "Slow").await;
    let (id, _) = post_numbered(&ann, "slow", "one").await;
    let mut statuses = Vec::new();
    for i in 0..4 {
        statuses.push(edit(&ann, "slow", id, &format!("edit {i}")).await.0);
    }
    assert_eq!(
        statuses,
        [200, 200, 429, 429],
        "the burst of 3 is spent by one send and two edits"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn websocket_members_see_edits_and_deletions_and_refusals_are_error_frames() {
    let server = TestServer::start().await;
    let ann = server.guest("ann").await;
    let bob = server.guest("bob").await;
    ann.create_room("live", "Live").await;
    let mut ann_ws = ann.connect("live", None).await;
    let mut bob_ws = bob.connect("live", None).await;
    ann_ws.say("first draft", None).await;
    let message = ann_ws.next_message().await;
    bob_ws.next_message().await;
    let id = message["id"].as_i64().expect("id");

    bob_ws
        .send_json(json!({ "type": "edit", "id": id, "text": "bob's now" }))
        .await;
    let refusal = bob_ws.next_json().await;
    assert_eq!(refusal["type"], "error");
    assert_eq!(refusal["code"], "forbidden");
    let anonymous = server.anonymous();
    let mut watcher = anonymous.connect("live", None).await;
    watcher
        .send_json(json!({ "type": "delete", "id": id }))
        .await;
    assert_eq!(watcher.next_json().await["code"], "login_required");

    ann_ws
        .send_json(json!({ "type": "edit", "id": id, "text": "final" }))
        .await;
    for ws in [&mut ann_ws, &mut bob_ws, &mut watcher] {
        let edited = next_of(ws, "message_edited", PATIENCE)
            .await
            .expect("everyone hears the edit");
        assert_eq!(edited["id"], id);
        assert_eq!(edited["text"], "final");
        assert_eq!(edited["seq"], message["seq"].as_i64().expect("seq") + 1);
    }
    ann_ws
        .send_json(json!({ "type": "delete", "id": id }))
        .await;
    for ws in [&mut ann_ws, &mut bob_ws, &mut watcher] {
        let deleted = next_of(ws, "message_deleted", PATIENCE)
            .await
            .expect("everyone hears the deletion");
        assert_eq!(deleted["id"], id);
    }
    server.shutdown().await;
}

/// What a client away from the room missed, as `(type, id)` pairs with their seqs.
fn changes(frames: &[Value]) -> Vec<(String, i64, i64)> {
    frames
        .iter()
        .map(|f| {
            (
                f["type"].as_str().expect("type").to_owned(),
                f["id"].as_i64().expect("id"),
                f["seq"].as_i64().expect("seq"),
            )
        })
        .collect()
}

/// Makes four changes in `slug` while a client is away: edits `edited`, deletes `deleted`,
/// reacts to `reacted`, posts a new message. Returns what a resuming client must get, in
/// order.
async fn change_while_away(
    author: &Client,
    slug: &str,
    [edited, deleted, reacted]: [i64; 3],
    since: i64,
) -> Vec<(String, i64, i64)> {
    assert_eq!(edit(author, slug, edited, "edited while away").await.0, 200);
    assert_eq!(delete(author, slug, deleted).await.0, 200);
    assert_eq!(react(author, slug, reacted, "🎉").await.0, 200);
    let (new, _) = post_numbered(author, slug, "new while away").await;
    vec![
        ("message_edited".to_owned(), edited, since + 1),
        ("message_deleted".to_owned(), deleted, since + 2),
        ("reaction".to_owned(), reacted, since + 3),
        ("message".to_owned(), new, since + 4),
    ]
}

/// Reads frames from `ws` until `count` room events arrived (others skipped).
async fn room_events(ws: &mut Ws, count: usize) -> Vec<Value> {
    let mut frames = Vec::new();
    while frames.len() < count {
        let frame = ws.next_json().await;
        if frame.get("seq").is_some() {
            frames.push(frame);
        }
    }
    frames
}

/// Resumes `slug` from `since` on all three transports of `reader` and checks each gets
/// exactly `expected`.
async fn resume_everywhere(
    reader: &Client,
    slug: &str,
    since: i64,
    expected: &[(String, i64, i64)],
) {
    // WebSocket ?since=
    let mut ws = reader
        .connect_path(
            &format!("/ws/rooms/{slug}?since={since}"),
            Some(&reader.origin),
        )
        .await
        .expect("handshake");
    let got = room_events(&mut ws, expected.len()).await;
    assert_eq!(changes(&got), expected, "WebSocket since={since}");
    ws.expect_silence(Duration::from_millis(300)).await;

    // SSE Last-Event-ID (a seq now); event ids are seqs.
    let mut sse = SseReader::new(open_events(reader, slug, None, Some(&since.to_string())).await);
    let mut got = Vec::new();
    while let Some(event) = sse.next(Duration::from_millis(700)).await {
        let frame: Value = serde_json::from_str(&event.data).expect("JSON data");
        assert_eq!(
            event.id,
            Some(frame["seq"].to_string()),
            "the event id is the seq"
        );
        got.push(frame);
    }
    assert_eq!(changes(&got), expected, "SSE Last-Event-ID {since}");

    // Long poll ?since= answers at once with the backlog; a short poll too.
    for query in [format!("since={since}&wait=5"), format!("since={since}")] {
        let got: Vec<Value> = reader
            .get(&format!("/api/rooms/{slug}/messages?{query}"))
            .await
            .json()
            .await
            .expect("poll JSON");
        assert_eq!(changes(&got), expected, "poll {query}");
    }
}

#[tokio::test]
async fn a_client_away_gets_exactly_what_changed_on_every_transport() {
    let server = TestServer::start().await;
    let ann = server.guest("ann").await;
    ann.create_room("away", "Away").await;
    let (first, _) = post_numbered(&ann, "away", "to be edited").await;
    let (second, _) = post_numbered(&ann, "away", "to be deleted").await;
    let (third, since) = post_numbered(&ann, "away", "the last one seen").await;
    let expected = change_while_away(&ann, "away", [first, second, third], since).await;
    resume_everywhere(&server.anonymous(), "away", since, &expected).await;

    // The old cursor still works: after={id} gives messages, not events.
    let after: Vec<Value> = ann
        .get(&format!("/api/rooms/away/messages?after={second}"))
        .await
        .json()
        .await
        .expect("JSON");
    let types: Vec<_> = after.iter().map(|m| m["type"].clone()).collect();
    assert_eq!(types, [json!("message"), json!("message")]);
    server.shutdown().await;
}

#[tokio::test]
async fn a_waiting_long_poll_wakes_for_an_edit() {
    let server = TestServer::start().await;
    let ann = server.guest("ann").await;
    ann.create_room("wake", "Wake").await;
    let (id, seq) = post_numbered(&ann, "wake", "soon edited").await;
    let poller = server.anonymous();
    let poll = tokio::spawn(async move {
        poller
            .get(&format!("/api/rooms/wake/messages?since={seq}&wait=20"))
            .await
            .json::<Vec<Value>>()
            .await
            .expect("JSON")
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    edit(&ann, "wake", id, "edited").await;
    let got = tokio::time::timeout(Duration::from_secs(10), poll)
        .await
        .expect("woken by the edit, not the end of its wait")
        .expect("poll task");
    assert_eq!(changes(&got), [("message_edited".to_owned(), id, seq + 1)]);
    server.shutdown().await;
}

#[tokio::test]
async fn room_events_cross_processes_and_resume_on_the_other_one() {
    let redis = RedisServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let database = dir.path().join("shared.db");
    let a = ParlorProcess::start(&database, &["--redis", &redis.url()]).await;
    let b = ParlorProcess::start(&database, &["--redis", &redis.url()]).await;
    let ann = Client::guest_at(&a.base(), "ann").await;
    ann.create_room("both", "Both").await;
    let (first, _) = post_numbered(&ann, "both", "to be edited").await;
    let (second, _) = post_numbered(&ann, "both", "to be deleted").await;
    let (third, since) = post_numbered(&ann, "both", "the last one seen").await;

    // A member on the other process hears an edit live.
    let mut live = Client::for_base(&b.base()).connect("both", Some(0)).await;
    room_events(&mut live, 3).await;

    let expected = change_while_away(&ann, "both", [first, second, third], since).await;
    let got = room_events(&mut live, expected.len()).await;
    assert_eq!(changes(&got), expected, "live on the other process");
    resume_everywhere(&Client::for_base(&b.base()), "both", since, &expected).await;
}

#[tokio::test]
async fn the_room_list_forgets_a_deleted_last_message() {
    let server = TestServer::start().await;
    let ann = server.guest("ann").await;
    ann.create_room("lobbied", "Lobbied").await;
    let (id, _) = post_numbered(&ann, "lobbied", "regrettable words").await;
    let mut lobby = ann
        .connect_path("/ws/lobby", Some(&ann.origin))
        .await
        .expect("lobby socket");
    assert_eq!(delete(&ann, "lobbied", id).await.0, 200);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let update = loop {
        let frame = lobby
            .next_any_within(deadline)
            .await
            .expect("the lobby hears of it");
        if frame["type"] == "room" && frame["room"]["slug"] == "lobbied" {
            break frame;
        }
    };
    assert_eq!(update["room"]["last_message"]["excerpt"], "message deleted");
    let list = ann.get("/api/rooms").await.text().await.expect("body");
    assert!(
        list.contains("lobbied") && !list.contains("regrettable"),
        "{list}"
    );
    server.shutdown().await;
}
