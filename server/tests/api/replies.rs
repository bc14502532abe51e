//! Replies, black-box: a message may answer another of the same room; the quote follows the
//! original's edits, becomes a tombstone when it is deleted, and never carries deleted text.

use crate::{events::history, helpers::TestServer, transports::post};
use serde_json::{json, Value};

/// Posts `text` answering `reply_to`; the status and the body.
async fn reply(
    client: &crate::helpers::Client,
    slug: &str,
    text: &str,
    reply_to: Value,
) -> (u16, Value) {
    let response = client
        .post(
            &format!("/api/rooms/{slug}/messages"),
            &json!({ "text": text, "reply_to": reply_to }),
        )
        .await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_reply_quotes_the_original_as_it_stands() {
    let server = TestServer::start().await;
    let ann = server.guest("ann").await;
    let bob = server.guest("bob").await;
    ann.create_room("thread", "Thread").await;
    let original = post(&ann, "thread", "lunch at noon?\nor later").await;
    let id = original["id"].as_i64().expect("id");
    assert!(
        original["reply_to"].is_null(),
        "a plain message answers nothing"
    );

    // Live: the answer reaches the room with its quote.
    let mut ws = ann.connect("thread", None).await;
    let (status, answer) = reply(&bob, "thread", "noon works", json!(id)).await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(
        answer["reply_to"],
        json!({ "id": id, "author": "ann", "excerpt": "lunch at noon? or later" })
    );
    let live = ws.next_message().await;
    assert_eq!(live["reply_to"], answer["reply_to"]);

    // Over the WebSocket too.
    ws.send_json(json!({ "type": "send", "text": "see you", "reply_to": id }))
        .await;
    assert_eq!(ws.next_message().await["reply_to"]["id"], id);

    // The quote is read from the original: its edit shows, its deletion leaves a tombstone
    // and takes the words with it.
    let edited = ann
        .patch(
            &format!("/api/rooms/thread/messages/{id}"),
            &json!({ "text": "lunch at one?" }),
        )
        .await;
    assert_eq!(edited.status(), 200);
    let quote = |list: &[Value]| {
        list.iter()
            .find(|m| m["text"] == "noon works")
            .map(|m| m["reply_to"].clone())
            .expect("the reply is in the history")
    };
    assert_eq!(
        quote(&history(&ann, "thread").await)["excerpt"],
        "lunch at one?"
    );
    let deleted = ann
        .delete(&format!("/api/rooms/thread/messages/{id}"))
        .await;
    assert_eq!(deleted.status(), 200);
    let now = quote(&history(&ann, "thread").await);
    assert_eq!(now["deleted"], true);
    assert_eq!(now["excerpt"], "");
    let page = ann.get("/rooms/thread").await.text().await.expect("page");
    assert!(!page.contains("lunch at"), "the page quotes deleted text");
    server.shutdown().await;
}

#[tokio::test]
async fn replies_to_other_rooms_unknown_or_deleted_messages_are_refused() {
    let server = TestServer::start().await;
    let ann = server.guest("ann").await;
    ann.create_room("here", "Here").await;
    ann.create_room("there", "There").await;
    let elsewhere = post(&ann, "there", "in another room").await["id"].clone();
    let gone = post(&ann, "here", "soon gone").await["id"].clone();
    let removed = ann
        .delete(&format!("/api/rooms/here/messages/{gone}"))
        .await;
    assert_eq!(removed.status(), 200);
    for target in [elsewhere, gone, json!(999_999)] {
        let (status, body) = reply(&ann, "here", "answer", target.clone()).await;
        assert_eq!(status, 404, "reply to {target}: {body}");
        assert_eq!(body["error"]["code"], "not_found");
    }
    let (status, body) = reply(&ann, "here", "answer", json!("one")).await;
    assert!(
        status == 400 || status == 422,
        "a reply_to that is not an id: {status} {body}"
    );

    // Over the WebSocket: an error frame with the send's client_id, nothing stored.
    let mut ws = ann.connect("here", None).await;
    ws.send_json(
        json!({ "type": "send", "text": "answer", "reply_to": 999_999, "client_id": "r1" }),
    )
    .await;
    let refusal = ws.next_json().await;
    assert_eq!(refusal["code"], "not_found", "{refusal}");
    assert_eq!(refusal["client_id"], "r1");
    let texts: Vec<Value> = history(&ann, "here")
        .await
        .iter()
        .map(|m| m["text"].clone())
        .collect();
    assert_eq!(
        texts,
        [json!("")],
        "only the tombstone: no answer was stored"
    );
    server.shutdown().await;
}
