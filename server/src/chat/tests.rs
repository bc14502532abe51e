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
    (ChatService::start(store.clone(), layer), store, dir)
}

async fn author(store: &Store, name: &str) -> Identity {
    store.create_guest(name).await.expect("guest").into()
}

async fn next_text(feed: &mut RoomFeed) -> String {
    let event = tokio::time::timeout(Duration::from_secs(5), feed.next())
        .await
        .expect("an event in time")
        .expect("no error");
    match event {
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
    let mut feed = chat.follow(&room, None).await.expect("follow");

    let err = chat.send(&ann, &room, "  ", None).await.expect_err("empty");
    assert!(matches!(err, ChatError::Invalid(_)));

    let sent = chat
        .send(&ann, &room, " hi \n", Some("c1"))
        .await
        .expect("send");
    assert_eq!(sent.message.text, "hi");
    assert!(!sent.duplicate);
    // Stored before published: it is already readable.
    let stored = chat.after(&room, 0, 10).await.expect("read");
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
    let mut feed = chat.follow(&room, None).await.expect("follow");

    // Store three messages without publishing them, as if another process had and its
    // deliveries were lost on the way.
    let drafts: Vec<NewMessage> = (1..=3)
        .map(|i| NewMessage {
            room_id: room.id,
            author_id: ann.user_id,
            author_name: "ann".into(),
            text: format!("m{i}"),
            client_id: None,
            sent_at: 0,
        })
        .collect();
    let refs: Vec<&NewMessage> = drafts.iter().collect();
    let rows = store.insert_messages(&refs).await.expect("insert");
    let third = rows[2].record().clone();

    // Only the third is delivered: the feed notices seq 3 after seq 0 and reads 1..3.
    chat.layer()
        .group_send(
            &room.group(),
            Delivery::Message {
                id: third.id,
                seq: third.seq,
                frame: encode(&ServerFrame::Message(to_wire(&third, "gaps"))),
            },
        )
        .await
        .expect("deliver");
    for expected in ["m1", "m2", "m3"] {
        assert_eq!(next_text(&mut feed).await, expected);
    }
    // A late duplicate of the second is dropped; the next live message comes through.
    let second = rows[1].record().clone();
    chat.layer()
        .group_send(
            &room.group(),
            Delivery::Message {
                id: second.id,
                seq: second.seq,
                frame: encode(&ServerFrame::Message(to_wire(&second, "gaps"))),
            },
        )
        .await
        .expect("deliver");
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
    let mut feed = chat.follow(&room, None).await.expect("follow");
    let drafts: Vec<NewMessage> = (1..=2)
        .map(|i| NewMessage {
            room_id: room.id,
            author_id: ann.user_id,
            author_name: "ann".into(),
            text: format!("stored {i}"),
            client_id: None,
            sent_at: 0,
        })
        .collect();
    let refs: Vec<&NewMessage> = drafts.iter().collect();
    let rows = store.insert_messages(&refs).await.expect("insert");

    // Two processes' deliveries cross: seq 2 arrives before seq 1. The frames say "live"
    // where the rows say "stored", so the test sees which path each one took.
    for row in rows.iter().rev() {
        let mut record = row.record().clone();
        record.text = format!("live {}", record.seq);
        chat.layer()
            .group_send(
                &room.group(),
                Delivery::Message {
                    id: record.id,
                    seq: record.seq,
                    frame: encode(&ServerFrame::Message(to_wire(&record, "cross"))),
                },
            )
            .await
            .expect("deliver");
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
    let mut feed = chat.follow(&room, None).await.expect("follow");
    let lost = NewMessage {
        room_id: room.id,
        author_id: ann.user_id,
        author_name: "ann".into(),
        text: "lost in transit".into(),
        client_id: None,
        sent_at: 0,
    };
    store.insert_messages(&[&lost]).await.expect("insert");
    chat.layer()
        .group_send(&room.group(), Delivery::Resync)
        .await
        .expect("deliver");
    assert_eq!(next_text(&mut feed).await, "lost in transit");
}

#[tokio::test]
async fn catch_up_pages_through_a_long_backlog() {
    let (chat, store, _dir) = service().await;
    let ann = author(&store, "ann").await;
    let room = chat.create_room(&ann, "long", "Long").await.expect("room");
    let drafts: Vec<NewMessage> = (1..=(MAX_PAGE as usize * 2 + 7))
        .map(|i| NewMessage {
            room_id: room.id,
            author_id: ann.user_id,
            author_name: "ann".into(),
            text: format!("m{i}"),
            client_id: None,
            sent_at: 0,
        })
        .collect();
    let refs: Vec<&NewMessage> = drafts.iter().collect();
    store.insert_messages(&refs).await.expect("insert");
    let mut feed = chat.follow(&room, Some(0)).await.expect("follow");
    for i in 1..=drafts.len() {
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
    let mut feed = chat.follow(&room, None).await.expect("follow");
    let refused = chat
        .delete_room(&bob, "doomed")
        .await
        .expect_err("not the owner");
    assert!(matches!(refused, ChatError::Forbidden(_)));
    chat.delete_room(&ann, "doomed")
        .await
        .expect("owner deletes");
    match feed.next().await.expect("event") {
        FeedEvent::Close { code, .. } => {
            assert_eq!(code, app::protocol::close_codes::ROOM_DELETED)
        }
        other => panic!("expected a close, got {other:?}"),
    }
    assert!(matches!(
        chat.room("doomed").await,
        Err(ChatError::RoomNotFound(_))
    ));
}
