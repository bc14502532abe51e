//! The chat service against a real SQLite file and the in-memory layer.

use super::*;
use crate::{
    layer::{memory::MemoryLayer, Delivery},
    store::test_support::temp_store,
};
use std::time::Duration;

async fn service() -> (ChatService, Store, tempfile::TempDir) {
    let (store, dir) = temp_store().await;
    let layer: Arc<dyn ChannelLayer> = Arc::new(MemoryLayer::new(64));
    let limits = Arc::new(crate::limits::Limits::new(
        crate::limits::LimitSettings::default(),
    ));
    (ChatService::start(store.clone(), layer, limits), store, dir)
}

async fn author(store: &Store, name: &str) -> Identity {
    store.create_guest(name).await.expect("guest").into()
}

/// Stores messages by `author` without publishing them, as another process would whose
/// deliveries were lost (or are still) on the way.
async fn store_unpublished(
    store: &Store,
    room: &Room,
    author: &Identity,
    texts: impl IntoIterator<Item = String>,
) -> Vec<crate::store::MessageRecord> {
    let drafts: Vec<NewMessage> = texts
        .into_iter()
        .map(|text| NewMessage {
            room_id: room.id,
            author_id: author.user_id,
            author_name: author.name.clone(),
            text,
            client_id: None,
            sent_at: 0,
            reply_to: None,
        })
        .collect();
    let refs: Vec<&NewMessage> = drafts.iter().collect();
    let rows = store.insert_messages(&refs).await.expect("insert");
    rows.iter().map(|row| row.record().clone()).collect()
}

/// Sends a delivery to everyone in the room's group.
async fn publish(chat: &ChatService, room: &Room, delivery: Delivery) {
    chat.layer()
        .group_send(&room.group(), delivery)
        .await
        .expect("deliver");
}

/// Publishes a stored message to the room's group the way the chat service does.
async fn deliver(chat: &ChatService, room: &Room, record: &crate::store::MessageRecord) {
    let frame = encode(&ServerFrame::Message(to_wire(record, room.slug.as_str())));
    let (id, seq) = (record.id, record.seq);
    publish(chat, room, Delivery::Message { id, seq, frame }).await;
}

/// The next event that is not presence (a feed opens with the room's members).
async fn next_event(feed: &mut RoomFeed) -> FeedEvent {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(5), feed.next())
            .await
            .expect("an event in time")
            .expect("no error");
        if let FeedEvent::Frame { frame, .. } = &event {
            if frame.as_str().starts_with(r#"{"type":"presence"#) {
                continue;
            }
        }
        return event;
    }
}

async fn next_text(feed: &mut RoomFeed) -> String {
    match next_event(feed).await {
        FeedEvent::Frame { frame, .. } => {
            let value: serde_json::Value = serde_json::from_str(frame.as_str()).expect("json");
            value["text"].as_str().expect("a message").to_owned()
        }
        other => panic!("expected a frame, got {other:?}"),
    }
}

#[tokio::test]
async fn send_validates_stores_then_publishes() {
    let (chat, store, _dir) = service().await;
    let ann = author(&store, "ann").await;
    let room = chat.create_room(&ann, "r", "R").await.expect("room");
    let mut feed = chat
        .follow(&room, Resume::Live, None)
        .await
        .expect("follow");

    let err = chat.send(&ann, &room, "  ", None).await.expect_err("empty");
    assert!(matches!(err, ChatError::Invalid(_)));

    let sent = chat
        .send(&ann, &room, " hi \n", Some("c1"))
        .await
        .expect("send");
    assert_eq!(sent.message.text, "hi");
    assert!(!sent.duplicate);
    // Stored before published: it is already readable.
    let stored = chat.after(&room, 0, 10, None).await.expect("read");
    assert_eq!(stored, vec![sent.message.clone()]);
    assert_eq!(next_text(&mut feed).await, "hi");

    let again = chat
        .send(&ann, &room, "hi", Some("c1"))
        .await
        .expect("retry");
    assert!(again.duplicate);
    assert_eq!(again.message.id, sent.message.id);
}

#[tokio::test]
async fn a_feed_repairs_gaps_and_drops_duplicates() {
    let (chat, store, _dir) = service().await;
    let ann = author(&store, "ann").await;
    let room = chat.create_room(&ann, "gaps", "Gaps").await.expect("room");
    let mut feed = chat
        .follow(&room, Resume::Live, None)
        .await
        .expect("follow");

    // Store three messages without publishing them, as if another process had and its
    // deliveries were lost on the way.
    let rows = store_unpublished(&store, &room, &ann, (1..=3).map(|i| format!("m{i}"))).await;

    // Only the third is delivered: the feed notices seq 3 after seq 0, waits out the
    // reorder window for 1 and 2, then reads 1..3 from the store.
    deliver(&chat, &room, &rows[2]).await;
    for expected in ["m1", "m2", "m3"] {
        assert_eq!(next_text(&mut feed).await, expected);
    }
    // A late duplicate of the second is dropped; the next live message comes through.
    deliver(&chat, &room, &rows[1]).await;
    chat.send(&ann, &room, "m4", None).await.expect("send");
    assert_eq!(next_text(&mut feed).await, "m4");
}

#[tokio::test]
async fn a_feed_puts_crossed_deliveries_back_in_order_without_the_store() {
    let (chat, store, _dir) = service().await;
    let ann = author(&store, "ann").await;
    let room = chat
        .create_room(&ann, "cross", "Cross")
        .await
        .expect("room");
    let mut feed = chat
        .follow(&room, Resume::Live, None)
        .await
        .expect("follow");
    let texts = (1..=2).map(|i| format!("stored {i}"));
    let rows = store_unpublished(&store, &room, &ann, texts).await;

    // Two processes' deliveries cross: seq 2 arrives before seq 1. The frames say "live"
    // where the rows say "stored", so the test sees which path each one took.
    for mut record in rows.into_iter().rev() {
        record.text = format!("live {}", record.seq);
        deliver(&chat, &room, &record).await;
    }
    assert_eq!(next_text(&mut feed).await, "live 1");
    assert_eq!(next_text(&mut feed).await, "live 2");
}

#[tokio::test]
async fn resync_reads_what_the_layer_lost() {
    let (chat, store, _dir) = service().await;
    let ann = author(&store, "ann").await;
    let room = chat
        .create_room(&ann, "resync", "Resync")
        .await
        .expect("room");
    let mut feed = chat
        .follow(&room, Resume::Live, None)
        .await
        .expect("follow");
    store_unpublished(&store, &room, &ann, ["lost in transit".to_owned()]).await;
    publish(&chat, &room, Delivery::Resync).await;
    assert_eq!(next_text(&mut feed).await, "lost in transit");
}

#[tokio::test]
async fn catch_up_pages_through_a_long_backlog() {
    let (chat, store, _dir) = service().await;
    let ann = author(&store, "ann").await;
    let room = chat.create_room(&ann, "long", "Long").await.expect("room");
    let backlog = MAX_PAGE as usize * 2 + 7;
    store_unpublished(&store, &room, &ann, (1..=backlog).map(|i| format!("m{i}"))).await;
    let mut feed = chat
        .follow(&room, Resume::After(0), None)
        .await
        .expect("follow");
    for i in 1..=backlog {
        assert_eq!(next_text(&mut feed).await, format!("m{i}"));
    }
    chat.send(&ann, &room, "live", None).await.expect("send");
    assert_eq!(next_text(&mut feed).await, "live");
}

#[tokio::test]
async fn only_the_owner_deletes_a_room_and_members_are_told() {
    let (chat, store, _dir) = service().await;
    let ann = author(&store, "ann").await;
    let bob = author(&store, "bob").await;
    let room = chat
        .create_room(&ann, "doomed", "Doomed")
        .await
        .expect("room");
    let mut feed = chat
        .follow(&room, Resume::Live, None)
        .await
        .expect("follow");
    let refused = chat
        .delete_room(&bob, "doomed")
        .await
        .expect_err("not the owner");
    assert!(matches!(refused, ChatError::Forbidden(_)));
    chat.delete_room(&ann, "doomed")
        .await
        .expect("owner deletes");
    match next_event(&mut feed).await {
        FeedEvent::Close { reason, .. } => assert_eq!(reason, CloseReason::RoomDeleted),
        other => panic!("expected a close, got {other:?}"),
    }
    assert!(matches!(
        chat.room("doomed", None).await,
        Err(ChatError::RoomNotFound(_))
    ));
}

#[tokio::test]
async fn a_watch_wakes_on_messages_ignores_other_frames_and_reports_an_overflow() {
    let (chat, store, _dir) = service().await;
    let ann = author(&store, "ann").await;
    let room = chat
        .create_room(&ann, "watch", "Watch")
        .await
        .expect("room");

    let mut watch = chat.watch(&room).await.expect("watch");
    chat.send(&ann, &room, "hello", None).await.expect("send");
    assert!(matches!(watch.next().await, WatchEvent::Changed));

    // More deliveries than the mailbox holds (64 here): the layer drops it. Frames that are
    // not messages wake the watch with the frame (a poll answers with it); the overflow
    // comes after what was queued, and says so.
    let not_a_message = ServerFrame::Error(app::protocol::ErrorBody::new(
        app::protocol::ErrorCode::Internal,
        "not a message",
    ));
    for _ in 0..100 {
        publish(&chat, &room, Delivery::Frame(encode(&not_a_message))).await;
    }
    let first = tokio::time::timeout(Duration::from_secs(5), watch.next())
        .await
        .expect("the watch answers at once");
    assert!(matches!(first, WatchEvent::Ephemeral(_)));
    let mut frames = 1;
    loop {
        match tokio::time::timeout(Duration::from_secs(5), watch.next())
            .await
            .expect("the watch answers at once")
        {
            WatchEvent::Ephemeral(_) => frames += 1,
            WatchEvent::Overflowed => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(frames < 100, "the mailbox was bounded: {frames} frames");
}
