//! The behaviour every channel layer must have, written once and run against each
//! implementation. Each check takes one or more layers: a slice of several layers models
//! several processes sharing one Redis, with members spread over them.

use super::{Channel, ChannelLayer, Delivery, Frame};
use std::{sync::Arc, time::Duration};
use tokio::time::timeout;

/// How long a delivery may take to arrive (Redis adds a network hop).
const ARRIVAL: Duration = Duration::from_secs(3);
/// How long to watch for a delivery that must not come.
const QUIET: Duration = Duration::from_millis(300);

fn message(id: i64) -> Delivery {
    Delivery::Message {
        id,
        seq: id,
        frame: Frame::from(format!(r#"{{"type":"message","id":{id}}}"#)),
    }
}

fn id_of(delivery: &Delivery) -> i64 {
    match delivery {
        Delivery::Message { id, .. } => *id,
        other => panic!("expected a message delivery, got {other:?}"),
    }
}

async fn expect_delivery(channel: &mut Channel) -> Delivery {
    timeout(ARRIVAL, channel.recv())
        .await
        .expect("a delivery should arrive in time")
        .expect("the channel should still be open")
}

async fn expect_nothing(channel: &mut Channel) {
    if let Ok(Some(extra)) = timeout(QUIET, channel.recv()).await {
        panic!("unexpected extra delivery: {extra:?}");
    }
}

async fn open_members(
    layers: &[Arc<dyn ChannelLayer>],
    per_layer: usize,
    group: &str,
) -> Vec<Channel> {
    let mut members = Vec::new();
    for layer in layers {
        for _ in 0..per_layer {
            let mut channel = Channel::open(layer.clone());
            channel.join(group).await.expect("join");
            members.push(channel);
        }
    }
    members
}

/// `group_send` reaches every member in every process exactly once, sharing one frame.
pub async fn fan_out_reaches_every_member_once(layers: &[Arc<dyn ChannelLayer>]) {
    let group = "room:fan-out";
    let mut members = open_members(layers, 5, group).await;
    for sender in layers {
        sender
            .group_send(group, message(7))
            .await
            .expect("group_send");
        for member in &mut members {
            assert_eq!(id_of(&expect_delivery(member).await), 7);
        }
    }
    for member in &mut members {
        expect_nothing(member).await;
    }
}

/// `group_send_many` (one commit's messages for a room: one Redis PUBLISH) reaches every
/// member in every process once, in order.
pub async fn a_batch_arrives_whole_and_in_order(layers: &[Arc<dyn ChannelLayer>]) {
    let group = "room:batch";
    let mut members = open_members(layers, 3, group).await;
    for (n, sender) in layers.iter().enumerate() {
        let first = 100 * (n as i64 + 1);
        let batch = (first..first + 5).map(message).collect();
        sender
            .group_send_many(group, batch)
            .await
            .expect("group_send_many");
        for member in &mut members {
            for id in first..first + 5 {
                assert_eq!(id_of(&expect_delivery(member).await), id);
            }
        }
    }
    for member in &mut members {
        expect_nothing(member).await;
    }
}

/// A dropped channel leaves its groups; the others keep receiving.
pub async fn dropping_a_channel_leaves_its_groups(layers: &[Arc<dyn ChannelLayer>]) {
    let group = "room:drop";
    let mut members = open_members(layers, 2, group).await;
    let gone = members.remove(0);
    let gone_name = gone.name().to_string();
    drop(gone);
    layers[0]
        .group_send(group, message(1))
        .await
        .expect("group_send");
    for member in &mut members {
        assert_eq!(id_of(&expect_delivery(member).await), 1);
    }
    assert!(
        layers[0].send(&gone_name, message(2)).await.is_err(),
        "a dropped channel must not be reachable by name"
    );
}

/// `send` reaches exactly the named channel, wherever it lives.
pub async fn send_reaches_one_channel_by_name(layers: &[Arc<dyn ChannelLayer>]) {
    let first = &layers[0];
    let last = &layers[layers.len() - 1];
    let mut here = Channel::open(first.clone());
    let mut there = Channel::open(last.clone());
    here.join("room:direct").await.expect("join");
    there.join("room:direct").await.expect("join");
    first
        .send(there.name(), message(3))
        .await
        .expect("send by name");
    assert_eq!(id_of(&expect_delivery(&mut there).await), 3);
    expect_nothing(&mut here).await;
}

/// A consumer that stops reading is dropped when its mailbox fills; the group is not slowed
/// and the others get everything.
pub async fn full_mailbox_drops_only_the_slow_consumer(
    layers: &[Arc<dyn ChannelLayer>],
    capacity: usize,
) {
    let group = "room:slow";
    let layer = &layers[0];
    let mut slow = Channel::open(layer.clone());
    let mut fast = Channel::open(layer.clone());
    slow.join(group).await.expect("join");
    fast.join(group).await.expect("join");
    let total = capacity as i64 + 3;
    for id in 1..=total {
        layer.group_send(group, message(id)).await.expect("send");
        assert_eq!(id_of(&expect_delivery(&mut fast).await), id);
    }
    // The slow one got what fit, then its mailbox was closed.
    let mut got = Vec::new();
    while let Ok(Some(delivery)) = timeout(ARRIVAL, slow.recv()).await {
        got.push(id_of(&delivery));
    }
    assert_eq!(got, (1..=capacity as i64).collect::<Vec<_>>());
    assert!(slow.recv().await.is_none(), "the slow mailbox is closed");
}

/// Deliveries to one group do not reach another.
pub async fn groups_are_independent(layers: &[Arc<dyn ChannelLayer>]) {
    let mut a = open_members(layers, 1, "room:a").await;
    let mut b = open_members(layers, 1, "room:b").await;
    layers[0]
        .group_send("room:a", message(11))
        .await
        .expect("send");
    for member in &mut a {
        assert_eq!(id_of(&expect_delivery(member).await), 11);
    }
    for member in &mut b {
        expect_nothing(member).await;
    }
}
