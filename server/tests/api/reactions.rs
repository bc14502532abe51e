//! Reactions, black-box: a toggle puts one emoji on or takes it off, every member hears it,
//! the history counts them with who reacted (and which are the viewer's), and everything
//! that is not one emoji, or past the limits, or on a message that is not there, is refused
//! with nothing changed.

use crate::{
    events::{history, next_of, react},
    helpers::{TestServer, PATIENCE},
    transports::post,
};
use serde_json::{json, Value};

/// The reactions of message `id` in the history `viewer` reads.
async fn reactions_seen_by(viewer: &crate::helpers::Client, slug: &str, id: &Value) -> Value {
    let message = history(viewer, slug)
        .await
        .into_iter()
        .find(|m| &m["id"] == id)
        .expect("the message is in the history");
    message.get("reactions").cloned().unwrap_or(json!([]))
}

#[tokio::test]
async fn a_toggle_puts_an_emoji_on_and_takes_it_off() {
    let server = TestServer::start().await;
    let ann = server.guest("ann").await;
    let bob = server.guest("bob").await;
    ann.create_room("fun", "Fun").await;
    let message = post(&ann, "fun", "lunch?").await;
    let id = &message["id"];

    let (status, on) = react(&bob, "fun", id, "👍").await;
    assert_eq!(status, 200, "{on}");
    assert_eq!(on["type"], "reaction");
    assert_eq!(on["id"], *id);
    assert_eq!(on["emoji"], "👍");
    assert_eq!(on["on"], true);
    assert_eq!(on["user"]["name"], "bob");
    assert_eq!(
        on["seq"],
        message["seq"].as_i64().expect("seq") + 1,
        "a reaction is a room event"
    );
    assert_eq!(react(&ann, "fun", id, "👍").await.0, 200);
    // ❤ without its variation selector is the same heart.
    assert_eq!(react(&ann, "fun", id, "❤").await.1["emoji"], "❤️");

    let seen = reactions_seen_by(&bob, "fun", id).await;
    assert_eq!(seen[0]["emoji"], "👍");
    assert_eq!(seen[0]["count"], 2);
    assert_eq!(seen[0]["mine"], true, "bob's own");
    let names: Vec<&str> = seen[0]["users"]
        .as_array()
        .expect("users")
        .iter()
        .filter_map(|u| u["name"].as_str())
        .collect();
    assert_eq!(names, ["bob", "ann"], "who reacted, in order");
    assert_eq!(seen[1]["emoji"], "❤️");
    assert_eq!(seen[1]["mine"], false, "ann's, not bob's");

    let (_, off) = react(&bob, "fun", id, "👍").await;
    assert_eq!(off["on"], false);
    let seen = reactions_seen_by(&ann, "fun", id).await;
    assert_eq!(seen[0]["count"], 1);
    assert_eq!(seen[0]["mine"], true);
    server.shutdown().await;
}

#[tokio::test]
async fn anything_but_one_emoji_on_a_message_of_this_room_is_refused() {
    let server = TestServer::start().await;
    let ann = server.guest("ann").await;
    ann.create_room("here", "Here").await;
    ann.create_room("there", "There").await;
    let here = post(&ann, "here", "react to me").await;
    let there = post(&ann, "there", "not through here").await;
    let gone = post(&ann, "here", "soon gone").await;
    let gone_id = gone["id"].as_i64().expect("id");
    assert_eq!(
        ann.delete(&format!("/api/rooms/here/messages/{gone_id}"))
            .await
            .status(),
        200
    );
    for not_one in ["", "ok", "👍👍", "👍 🎉", "<script>", "1", ":+1:"] {
        let (status, body) = react(&ann, "here", &here["id"], not_one).await;
        assert_eq!(status, 422, "{not_one:?}: {body}");
        assert_eq!(body["error"]["code"], "invalid");
    }
    for (id, what) in [
        (&there["id"], "a message of another room"),
        (&gone["id"], "a deleted message"),
        (&json!(999_999), "an unknown id"),
    ] {
        let (status, body) = react(&ann, "here", id, "👍").await;
        assert_eq!(status, 404, "{what}: {body}");
        assert_eq!(body["error"]["code"], "not_found");
    }
    assert_eq!(
        reactions_seen_by(&ann, "here", &here["id"]).await,
        json!([])
    );
    assert_eq!(
        reactions_seen_by(&ann, "there", &there["id"]).await,
        json!([])
    );
    let anonymous = server.anonymous();
    assert_eq!(react(&anonymous, "here", &here["id"], "👍").await.0, 401);
    server.shutdown().await;
}

#[tokio::test]
async fn a_message_carries_20_emoji_and_8_from_each_user() {
    let server = TestServer::start_with(|settings| {
        settings.serve.message_rate = 1000;
        settings.serve.message_burst = 1000;
    })
    .await;
    let emoji = [
        "😀", "😁", "😂", "🤣", "😃", "😄", "😅", "😆", "😉", "😊", "😋", "😎", "😍", "😘", "🥰",
        "😗", "😙", "🥲", "🙂", "🤗", "🤩",
    ];
    let people = [
        server.guest("ann").await,
        server.guest("bob").await,
        server.guest("cy").await,
    ];
    people[0].create_room("many", "Many").await;
    let message = post(&people[0], "many", "so many feelings").await;
    let id = &message["id"];
    for (i, emoji) in emoji[..8].iter().enumerate() {
        assert_eq!(
            react(&people[0], "many", id, emoji).await.0,
            200,
            "ann's {i}"
        );
    }
    let (status, body) = react(&people[0], "many", id, emoji[8]).await;
    assert_eq!(status, 429, "a ninth from ann: {body}");
    assert_eq!(body["error"]["code"], "quota_exceeded");
    for emoji in &emoji[8..16] {
        assert_eq!(react(&people[1], "many", id, emoji).await.0, 200);
    }
    for emoji in &emoji[16..20] {
        assert_eq!(react(&people[2], "many", id, emoji).await.0, 200);
    }
    let (status, body) = react(&people[2], "many", id, emoji[20]).await;
    assert_eq!(status, 429, "a 21st emoji: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("20")),
        "{body}"
    );
    assert_eq!(
        react(&people[2], "many", id, emoji[0]).await.0,
        200,
        "one already there can still be added to"
    );
    let seen = reactions_seen_by(&people[2], "many", id).await;
    assert_eq!(seen.as_array().map(Vec::len), Some(20));
    assert_eq!(seen[0]["count"], 2);
    server.shutdown().await;
}

#[tokio::test]
async fn websocket_members_hear_reactions_and_refusals_are_error_frames() {
    let server = TestServer::start().await;
    let ann = server.guest("ann").await;
    let bob = server.guest("bob").await;
    ann.create_room("live", "Live").await;
    let mut ann_ws = ann.connect("live", None).await;
    let mut bob_ws = bob.connect("live", None).await;
    ann_ws.say("react to this", None).await;
    let message = ann_ws.next_message().await;
    bob_ws.next_message().await;
    let id = message["id"].as_i64().expect("id");

    bob_ws
        .send_json(json!({ "type": "react", "id": id, "emoji": "not one" }))
        .await;
    let refusal = bob_ws.next_json().await;
    assert_eq!(refusal["type"], "error", "{refusal}");
    assert_eq!(refusal["code"], "invalid");

    bob_ws
        .send_json(json!({ "type": "react", "id": id, "emoji": "🎉" }))
        .await;
    for ws in [&mut ann_ws, &mut bob_ws] {
        let reaction = next_of(ws, "reaction", PATIENCE)
            .await
            .expect("the reaction arrives");
        assert_eq!(reaction["id"], id);
        assert_eq!(reaction["emoji"], "🎉");
        assert_eq!(reaction["on"], true);
        assert_eq!(reaction["user"]["name"], "bob");
        assert_eq!(reaction["seq"], message["seq"].as_i64().expect("seq") + 1);
    }
    server.shutdown().await;
}
