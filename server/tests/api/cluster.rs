//! Two `parlor serve` processes on one Redis Cluster (three masters, each with a replica,
//! all real `redis-server --cluster-enabled yes` processes joined by `redis-cli --cluster
//! create`): a room's messages cross between the processes by sharded pub/sub, and when the
//! master holding the room's topic is killed mid-stream, nothing acknowledged is lost — the
//! replica takes over, the processes resubscribe, re-read what they missed from the store
//! and carry on live.

use crate::{
    helpers::Client,
    multiprocess::{collect_ids, wait_for_health},
    process::{free_port, ParlorProcess},
};
use serde_json::{json, Value};
use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

/// Six nodes: three masters and a replica of each; killed when dropped.
struct RedisCluster {
    ports: Vec<u16>,
    children: Vec<Option<Child>>,
    _dir: tempfile::TempDir,
}

impl RedisCluster {
    async fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut ports, mut children) = (Vec::new(), Vec::new());
        for _ in 0..6 {
            let (port, child) = start_node(dir.path()).await;
            ports.push(port);
            children.push(Some(child));
        }
        let cluster = Self {
            ports,
            children,
            _dir: dir,
        };
        let created = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(cluster.ports.iter().map(|p| format!("127.0.0.1:{p}")))
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("redis-cli on PATH");
        assert!(created.success(), "redis-cli --cluster create");
        wait_until("the cluster is formed, a replica per master", || {
            cluster.ports.iter().all(|port| {
                cli(*port, &["CLUSTER", "INFO"]).contains("cluster_state:ok")
                    && cli(*port, &["CLUSTER", "NODES"]).matches("slave").count() == 3
            })
        })
        .await;
        // A replica that never finished its first sync will not stand for election.
        wait_until("every replica is in sync with its master", || {
            let in_sync = cluster.ports.iter().filter(|port| {
                cli(**port, &["INFO", "replication"]).contains("master_link_status:up")
            });
            in_sync.count() == 3
        })
        .await;
        cluster
    }

    fn url(&self) -> String {
        // Every seed node named, as an operator would: any live one is enough to start.
        let nodes: Vec<String> = self
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        format!("redis+cluster://{}", nodes.join(","))
    }

    /// The port of the master serving `key`'s slot now, as a live node sees it (none while
    /// the slot's master is failing and no replica has taken over yet).
    fn master_of(&self, key: &str) -> Option<u16> {
        let live = self.live_port();
        let slot: u16 = cli(live, &["CLUSTER", "KEYSLOT", key])
            .trim()
            .parse()
            .expect("a slot");
        for line in cli(live, &["CLUSTER", "NODES"]).lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 9 || !fields[2].contains("master") || fields[2].contains("fail") {
                continue;
            }
            let owns = fields[8..].iter().any(|range| {
                let (from, to) = range.split_once('-').unwrap_or((range, range));
                matches!((from.parse::<u16>(), to.parse::<u16>()), (Ok(f), Ok(t)) if f <= slot && slot <= t)
            });
            if owns {
                let address = fields[1].split('@').next().unwrap_or_default();
                return address.rsplit(':').next().and_then(|p| p.parse().ok());
            }
        }
        None
    }

    fn live_port(&self) -> u16 {
        self.ports
            .iter()
            .zip(&self.children)
            .find(|(_, child)| child.is_some())
            .map(|(port, _)| *port)
            .expect("a live node")
    }

    /// Kills the node on `port` abruptly (SIGKILL), as a crashed machine would look.
    fn kill(&mut self, port: u16) {
        let index = self.ports.iter().position(|p| *p == port).expect("a node");
        if let Some(mut child) = self.children[index].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for child in self.children.iter_mut().flatten() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One cluster node on a free port, answering PING. A port found free can be taken by a
/// test running beside this one before redis-server binds it (it then exits at once): such
/// a node is started again on other ports.
async fn start_node(dir: &std::path::Path) -> (u16, Child) {
    for _ in 0..5 {
        let port = free_port();
        let mut child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--cluster-enabled", "yes"])
            // The bus port is chosen too: port + 10000 may not exist.
            .args(["--cluster-port", &free_port().to_string()])
            .args(["--cluster-config-file", &format!("nodes-{port}.conf")])
            .args(["--cluster-node-timeout", "1000"])
            .args(["--save", "", "--appendonly", "no"])
            // A replica's first sync starts at once, not after Redis's 5 s delay.
            .args(["--repl-diskless-sync-delay", "0"])
            .arg("--dir")
            .arg(dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server on PATH (make test installs it)");
        let mut exited = false;
        let answers = wait_for(|| {
            exited = exited || matches!(child.try_wait(), Ok(Some(_)));
            exited || cli(port, &["PING"]).contains("PONG")
        })
        .await
            && !exited;
        if answers {
            return (port, child);
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("no redis-server cluster node would start (five tries)");
}

fn cli(port: u16, args: &[&str]) -> String {
    Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_default()
}

/// Whether `ready` holds within 20 s (polled every 50 ms, without blocking the runtime).
async fn wait_for(mut ready: impl FnMut() -> bool) -> bool {
    for _ in 0..400 {
        if ready() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

async fn wait_until(what: &str, ready: impl FnMut() -> bool) {
    assert!(wait_for(ready).await, "timed out waiting until {what}");
}

/// Posts on the REST API until stored (the same `client_id` each time, so a retry of a
/// request that was stored is not stored twice).
async fn post(client: &Client, room: &str, text: &str) {
    let mut last = String::new();
    for _ in 0..50 {
        let response = client
            .http
            .post(client.url(&format!("/api/rooms/{room}/messages")))
            .header("origin", client.url(""))
            .json(&json!({ "text": text, "client_id": text }))
            .send()
            .await;
        match response {
            Ok(response) if response.status().is_success() => return,
            Ok(response) => {
                last = format!(
                    "{}: {}",
                    response.status(),
                    response.text().await.unwrap_or_default()
                );
            }
            Err(error) => last = error.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{text} was never stored: {last}");
}

#[tokio::test]
async fn two_processes_on_a_redis_cluster_lose_nothing_when_a_master_dies() {
    let mut cluster = RedisCluster::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let database = dir.path().join("shared.db");
    let url = cluster.url();
    let a = ParlorProcess::start(&database, &["--redis", &url]).await;
    let b = ParlorProcess::start(&database, &["--redis", &url]).await;
    for process in [&a, &b] {
        let health = wait_for_health(&process.base(), 200).await;
        assert_eq!(health["layer"]["kind"], "redis");
    }

    let ann = Client::guest_at(&a.base(), "ann").await;
    ann.create_room("failover", "Failover").await;
    let mut on_a = Client::for_base(&a.base()).connect("failover", None).await;
    let mut on_b = Client::for_base(&b.base()).connect("failover", None).await;

    // The room's topic is on one shard; its master dies halfway through.
    let victim = cluster
        .master_of("parlor:group:room:failover")
        .expect("a master serves the room's topic");
    let total = 40;
    for i in 0..total {
        if i == total / 2 {
            cluster.kill(victim);
        }
        post(&ann, "failover", &format!("m{i:02}")).await;
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // The room's topic moved to the promoted replica.
    let promoted = wait_for(|| {
        let live = cluster.live_port();
        let master = cluster.master_of("parlor:group:room:failover");
        cli(live, &["CLUSTER", "INFO"]).contains("cluster_state:ok")
            && master.is_some_and(|port| port != victim)
    })
    .await;
    assert!(
        promoted,
        "no replica took over from {victim}: {}",
        cli(cluster.live_port(), &["CLUSTER", "NODES"])
    );

    let stored: Vec<Value> = ann
        .get("/api/rooms/failover/messages?after=0")
        .await
        .json()
        .await
        .expect("history");
    let stored_ids: Vec<i64> = stored.iter().filter_map(|m| m["id"].as_i64()).collect();
    assert_eq!(
        stored_ids.len(),
        total,
        "every acknowledged send was stored"
    );
    for (ws, who) in [(&mut on_a, "a watcher on A"), (&mut on_b, "a watcher on B")] {
        let ids = collect_ids(ws, total, Duration::from_secs(30)).await;
        assert_eq!(ids, stored_ids, "{who} saw every message once, in order");
    }

    // Both processes are healthy on the cluster as it is now, and the room is live again
    // across them: these arrive by pub/sub (nothing else would make B re-read the store).
    wait_for_health(&a.base(), 200).await;
    wait_for_health(&b.base(), 200).await;
    for i in 0..10 {
        post(&ann, "failover", &format!("after-{i}")).await;
    }
    let after = collect_ids(&mut on_b, 10, Duration::from_secs(5)).await;
    assert_eq!(after.len(), 10);
    on_b.expect_silence(Duration::from_millis(300)).await;
}
