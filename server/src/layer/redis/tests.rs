//! The Redis layer against a real `redis-server`: the shared contract (with members spread
//! over two layers, as two processes would be) and what happens while Redis is away.

use super::{timeouts::PING_EVERY, *};
use crate::layer::{contract, Channel, Frame};
use std::process::{Child, Command, Stdio};

/// A Redis for these tests: the one `make test` started (`PARLOR_TEST_REDIS_URL`), or a
/// private `redis-server` on a free port when run by hand. Never whatever listens on 6379.
struct TestRedis {
    url: String,
    _child: Option<ChildGuard>,
}

struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl TestRedis {
    async fn get() -> Self {
        if let Ok(url) = std::env::var("PARLOR_TEST_REDIS_URL") {
            return Self { url, _child: None };
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server on PATH (make test installs it)");
        let url = format!("redis://127.0.0.1:{port}");
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                break;
            }
            sleep(Duration::from_millis(20)).await;
        }
        Self {
            url,
            _child: Some(ChildGuard(child)),
        }
    }

    /// Two layers ("processes") on this Redis under a prefix no other test uses.
    async fn pair(&self, capacity: usize) -> Vec<Arc<dyn ChannelLayer>> {
        let prefix = format!("test-{}", super::super::new_process_id());
        let mut layers: Vec<Arc<dyn ChannelLayer>> = Vec::new();
        for _ in 0..2 {
            let layer = RedisLayer::start(&self.url, &prefix, capacity).expect("layer");
            assert!(
                layer.wait_connected(Duration::from_secs(5)).await,
                "Redis at {}",
                self.url
            );
            layers.push(Arc::new(layer));
        }
        layers
    }
}

#[tokio::test]
async fn contract_fan_out_reaches_every_member_once() {
    let redis = TestRedis::get().await;
    contract::fan_out_reaches_every_member_once(&redis.pair(16).await).await;
}

#[tokio::test]
async fn contract_a_batch_arrives_whole_and_in_order() {
    let redis = TestRedis::get().await;
    contract::a_batch_arrives_whole_and_in_order(&redis.pair(16).await).await;
}

#[tokio::test]
async fn contract_dropping_a_channel_leaves_its_groups() {
    let redis = TestRedis::get().await;
    contract::dropping_a_channel_leaves_its_groups(&redis.pair(16).await).await;
}

#[tokio::test]
async fn contract_send_reaches_one_channel_by_name() {
    let redis = TestRedis::get().await;
    contract::send_reaches_one_channel_by_name(&redis.pair(16).await).await;
}

#[tokio::test]
async fn contract_a_full_mailbox_drops_only_the_slow_consumer() {
    let redis = TestRedis::get().await;
    contract::full_mailbox_drops_only_the_slow_consumer(&redis.pair(4).await, 4).await;
}

#[tokio::test]
async fn contract_groups_are_independent() {
    let redis = TestRedis::get().await;
    contract::groups_are_independent(&redis.pair(16).await).await;
}

#[tokio::test]
async fn the_last_member_leaving_unsubscribes() {
    let redis = TestRedis::get().await;
    let layers = redis.pair(16).await;
    let mut watcher = Channel::open(layers[1].clone());
    watcher.join("room:count").await.expect("join");
    let mut publisher = redis::Client::open(redis.url.as_str())
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    // Find our prefix's topic through PUBSUB NUMSUB on every topic of this group name.
    let channels: Vec<String> = redis::cmd("PUBSUB")
        .arg("CHANNELS")
        .arg("*:group:room:count")
        .query_async(&mut publisher)
        .await
        .expect("pubsub channels");
    let ours: Vec<&String> = channels.iter().collect();
    assert!(!ours.is_empty(), "the group topic is subscribed");
    drop(watcher);
    // The UNSUBSCRIBE is asynchronous: poll until it lands.
    let mut remaining = usize::MAX;
    for _ in 0..100 {
        let counts: Vec<(String, usize)> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(&ours)
            .query_async(&mut publisher)
            .await
            .expect("numsub");
        remaining = counts.iter().map(|(_, n)| n).sum();
        if remaining == 0 {
            break;
        }
        sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        remaining, 0,
        "no process subscribes to a group without members"
    );
}

#[tokio::test]
async fn a_quiet_connection_passes_its_health_checks() {
    // Regression: PING in subscribed mode answers ["pong", ""]; reading it as a string
    // failed and dropped the connection at every check.
    let redis = TestRedis::get().await;
    let prefix = format!("quiet-{}", super::super::new_process_id());
    let layer = RedisLayer::start(&redis.url, &prefix, 16).expect("layer");
    assert!(layer.wait_connected(Duration::from_secs(5)).await);
    sleep(PING_EVERY * 8).await;
    assert_eq!(layer.health(), LayerHealth::Ok);
    assert_eq!(layer.subscriber_connections(), 1, "no reconnects");
}

#[tokio::test]
async fn an_unreachable_redis_degrades_but_serves_locally() {
    // Nothing listens on this port (we bound it and let go).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let layer: Arc<dyn ChannelLayer> = Arc::new(
        RedisLayer::start(&format!("redis://127.0.0.1:{port}"), "down", 16).expect("layer"),
    );
    sleep(Duration::from_millis(200)).await;
    assert_eq!(layer.health(), LayerHealth::Degraded);
    let mut member = Channel::open(layer.clone());
    tokio::time::timeout(Duration::from_secs(1), member.join("room:local"))
        .await
        .expect("joining does not hang while Redis is down")
        .expect("join");
    layer
        .group_send(
            "room:local",
            Delivery::Frame(Frame::from_static(r#"{"type":"x"}"#)),
        )
        .await
        .expect("local delivery works");
    assert!(matches!(
        timeout(Duration::from_secs(1), member.recv()).await,
        Ok(Some(Delivery::Frame(_)))
    ));
    assert!(layer.flush().await.is_err(), "nothing reached Redis");
}

#[tokio::test]
async fn one_commit_for_a_room_is_one_publish() {
    use futures::StreamExt;
    let redis = TestRedis::get().await;
    let layers = redis.pair(16).await;
    let mut member = Channel::open(layers[1].clone());
    member.join("room:one-publish").await.expect("join");
    let (mut sink, mut stream) = redis::Client::open(redis.url.as_str())
        .expect("client")
        .get_async_pubsub()
        .await
        .expect("pubsub")
        .split();
    sink.psubscribe("*:group:room:one-publish")
        .await
        .expect("psubscribe");
    let batch = (1..=5)
        .map(|id| Delivery::Message {
            id,
            seq: id,
            frame: Frame::from(format!(r#"{{"type":"message","id":{id}}}"#)),
        })
        .collect();
    layers[0]
        .group_send_many("room:one-publish", batch)
        .await
        .expect("send");
    for id in 1..=5 {
        match timeout(Duration::from_secs(3), member.recv()).await {
            Ok(Some(Delivery::Message { id: got, .. })) => assert_eq!(got, id),
            other => panic!("expected message {id}, got {other:?}"),
        }
    }
    let first = timeout(Duration::from_secs(3), stream.next()).await;
    assert!(matches!(first, Ok(Some(_))), "the batch was published");
    let second = timeout(Duration::from_millis(300), stream.next()).await;
    assert!(second.is_err(), "five messages, one PUBLISH");
}
