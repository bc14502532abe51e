//! Search, black-box: every word of the query (as word prefixes) over the rooms the caller
//! may read; a private room's messages reach its members alone, deleted and edited-away
//! words are not found, and a query is text, never syntax.

use crate::{helpers::Client, helpers::TestServer, transports::post};
use serde_json::{json, Value};

/// `GET /api/search` with `query`; the status and the texts found (newest first).
async fn search(client: &Client, query: &str) -> (u16, Vec<String>) {
    let response = client.get(&format!("/api/search?{query}")).await;
    let status = response.status().as_u16();
    let found: Value = response.json().await.unwrap_or(Value::Null);
    let texts = found
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|m| m["text"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    (status, texts)
}

#[tokio::test]
async fn search_finds_what_the_caller_may_read_and_nothing_deleted() {
    let server = TestServer::start().await;
    let ann = server.account("ann", "correct horse battery").await;
    let bob = server.account("bob", "correct horse battery").await;
    ann.create_room("food", "Food").await;
    ann.create_room("work", "Work").await;
    post(&ann, "food", "Lunch at the café at noon?").await;
    post(&ann, "work", "lunch meeting moved").await;
    let secret = ann
        .post(
            "/api/rooms",
            &json!({ "slug": "hush", "title": "Hush", "private": true }),
        )
        .await
        .json::<Value>()
        .await
        .expect("room JSON");
    let hush = secret["slug"].as_str().expect("slug").to_owned();
    post(&ann, &hush, "secret lunch plans").await;

    assert_eq!(search(&ann, "q=lunch").await.1.len(), 3);
    let (status, found) = search(&bob, "q=lunch").await;
    assert_eq!(status, 200);
    assert_eq!(found, ["lunch meeting moved", "Lunch at the café at noon?"]);
    assert_eq!(search(&server.anonymous(), "q=secret").await.1.len(), 0);
    assert_eq!(
        search(&bob, "q=cafe%20noon").await.1.len(),
        1,
        "every word, accents aside"
    );
    assert_eq!(
        search(&ann, "q=lunch&room=work").await.1,
        ["lunch meeting moved"]
    );
    assert_eq!(
        search(&bob, &format!("q=lunch&room={hush}")).await.0,
        404,
        "a private room is not found by a non-member"
    );
    let results: Vec<Value> = ann
        .get("/api/search?q=meeting")
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(results[0]["room"], "work", "each result names its room");

    // Edited away and deleted words are gone from search.
    let edited = post(&ann, "food", "pizza tonight").await;
    let id = edited["id"].as_i64().expect("id");
    ann.patch(
        &format!("/api/rooms/food/messages/{id}"),
        &json!({ "text": "sushi tonight" }),
    )
    .await;
    assert!(search(&ann, "q=pizza").await.1.is_empty());
    assert_eq!(search(&ann, "q=sushi").await.1.len(), 1);
    ann.delete(&format!("/api/rooms/food/messages/{id}")).await;
    assert!(search(&ann, "q=sushi").await.1.is_empty());

    // Queries are text: FTS5 operators and quotes find nothing odd and never fail.
    for hostile in [
        "%22",
        "*",
        "NEAR(lunch",
        "text%3Alunch",
        "lunch%20OR%20pizza",
        "-lunch",
    ] {
        let (status, _) = search(&ann, &format!("q={hostile}")).await;
        assert_eq!(status, 200, "{hostile}");
    }
    assert_eq!(search(&ann, "q=").await.0, 422);
    assert_eq!(search(&ann, &format!("q={}", "a".repeat(201))).await.0, 422);
    server.shutdown().await;
}

#[tokio::test]
async fn the_search_page_links_each_result_to_its_message() {
    let server = TestServer::start().await;
    let ann = server.guest("ann").await;
    ann.create_room("food", "Food").await;
    let message = post(&ann, "food", "dumplings on friday").await;
    let page = ann
        .get("/search?q=dumplings")
        .await
        .text()
        .await
        .expect("page");
    let link = format!("/rooms/food?at={}", message["id"]);
    assert!(page.contains(&link), "{page}");
    assert!(page.contains("dumplings on friday"));
    server.shutdown().await;
}
