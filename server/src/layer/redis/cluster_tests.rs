//! The Redis layer on a real three-master Redis Cluster (`redis-server --cluster-enabled
//! yes`, joined by `redis-cli --cluster create`): the layer contract with members on two
//! layers, and the presence and rate scripts, whose keys must each stay on one shard.

use super::*;
use crate::{
    layer::{contract, presence::PresenceEntry, presence::PresenceRegistry},
    limits::SharedRate,
};
use std::process::{Child, Command, Stdio};

/// Three masters on free ports, each with its own free cluster-bus port; killed when dropped.
struct TestCluster {
    ports: Vec<u16>,
    children: Vec<Child>,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl TestCluster {
    async fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let mut children = Vec::new();
        for port in &ports {
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--cluster-enabled", "yes"])
                .args(["--cluster-port", &free_port().to_string()])
                .args(["--cluster-config-file", &format!("nodes-{port}.conf")])
                .args(["--cluster-node-timeout", "1000"])
                .args(["--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(dir.path())
                .stdout(Stdio::null())
                .spawn()
                .expect("redis-server on PATH (make test installs it)");
            children.push(child);
        }
        let cluster = Self {
            ports,
            children,
            _dir: dir,
        };
        for port in &cluster.ports {
            wait_until(|| redis_cli(*port, &["PING"]).contains("PONG")).await;
        }
        let nodes: Vec<String> = cluster
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let created = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&nodes)
            .arg("--cluster-yes")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("redis-cli on PATH");
        assert!(created.success(), "redis-cli --cluster create");
        for port in &cluster.ports {
            wait_until(|| redis_cli(*port, &["CLUSTER", "INFO"]).contains("cluster_state:ok"))
                .await;
        }
        cluster
    }

    fn url(&self) -> String {
        let nodes: Vec<String> = self
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        format!("redis+cluster://{}", nodes.join(","))
    }

    /// Two layers ("processes") on the cluster under a fresh prefix.
    async fn pair(&self, capacity: usize) -> Vec<Arc<dyn ChannelLayer>> {
        let prefix = format!("test-{}", super::super::new_process_id());
        let mut layers: Vec<Arc<dyn ChannelLayer>> = Vec::new();
        for _ in 0..2 {
            let layer = RedisLayer::start(&self.url(), &prefix, capacity).expect("layer");
            assert!(
                layer.wait_connected(Duration::from_secs(10)).await,
                "the cluster at {}",
                self.url()
            );
            layers.push(Arc::new(layer));
        }
        layers
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn redis_cli(port: u16, args: &[&str]) -> String {
    Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_default()
}

async fn wait_until(mut ready: impl FnMut() -> bool) {
    for _ in 0..300 {
        if ready() {
            return;
        }
        sleep(Duration::from_millis(50)).await;
    }
    panic!("the Redis Cluster never became ready");
}

/// One cluster for the whole contract (forming one takes a second or two).
#[tokio::test]
async fn the_layer_contract_holds_on_a_redis_cluster() {
    let cluster = TestCluster::start().await;
    contract::fan_out_reaches_every_member_once(&cluster.pair(16).await).await;
    contract::a_batch_arrives_whole_and_in_order(&cluster.pair(16).await).await;
    contract::dropping_a_channel_leaves_its_groups(&cluster.pair(16).await).await;
    contract::send_reaches_one_channel_by_name(&cluster.pair(16).await).await;
    contract::full_mailbox_drops_only_the_slow_consumer(&cluster.pair(4).await, 4).await;
    contract::groups_are_independent(&cluster.pair(16).await).await;

    // Presence: two processes' registries agree, whichever shard a room's keys live on.
    let url = cluster.url();
    let target = RedisTarget::parse(&url).expect("cluster URL");
    let prefix = format!("test-{}", super::super::new_process_id());
    let here = RedisPresence::new(target.clone(), &prefix, "p1");
    let there = RedisPresence::new(target, &prefix, "p2");
    let ann = PresenceEntry {
        user_id: 7,
        name: "ann".to_owned(),
    };
    for room in ["room:a", "room:b", "room:c", "room:d"] {
        assert!(
            here.arrive(room, &ann).await.expect("arrive"),
            "new in {room}"
        );
        assert!(
            !there.arrive(room, &ann).await.expect("arrive"),
            "second tab"
        );
        let (count, members) = there.members(room, 50).await.expect("members");
        assert_eq!((count, members), (1, vec![ann.clone()]));
        assert!(!here.depart(room, 7).await.expect("depart"), "still on p2");
        assert!(there.depart(room, 7).await.expect("depart"), "gone");
    }
    let renewed = here.renew(&[]).await.expect("renew sweeps every room");
    assert!(renewed.left.is_empty());

    // The shared rate: one budget whichever process asks.
    let one = RedisRate::new(&url, &prefix).expect("rate");
    let two = RedisRate::new(&url, &prefix).expect("rate");
    assert!(matches!(one.allow(1, 1, 1).await, Some(Ok(()))));
    assert!(matches!(two.allow(1, 1, 1).await, Some(Err(_))));
}
