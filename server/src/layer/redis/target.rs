//! Where Redis is: one server (`redis://host:port`) or a Redis Cluster
//! (`redis+cluster://h1:p1,h2:p2,h3:p3`), and the command connection to either.
//!
//! Everything but the subscriber talks to Redis through [`Connection`], which is a
//! multiplexed connection to the one server or a cluster connection that routes each
//! command to the shard owning its key. On a cluster, publishes go out as `SPUBLISH` and
//! subscriptions as `SSUBSCRIBE`: sharded pub/sub keeps a room's traffic on the one shard
//! its topic hashes to, where plain `PUBLISH` would be copied to every node of the cluster.

use super::timeouts::{COMMAND_TIMEOUT, CONNECT_TIMEOUT};
use redis::{
    aio::{ConnectionLike, MultiplexedConnection},
    cluster::{ClusterClient, ClusterClientBuilder},
    cluster_async::ClusterConnection,
    Cmd, Pipeline, RedisFuture, Value,
};

/// The URL scheme that names a cluster.
const CLUSTER_SCHEME: &str = "redis+cluster://";

/// A Redis deployment Parlor can connect to.
#[derive(Clone)]
pub enum RedisTarget {
    /// One server.
    Single(redis::Client),
    /// A Redis Cluster, reached from any of its seed nodes.
    Cluster {
        /// The seed nodes' URLs (`redis://[auth@]host:port`).
        nodes: Vec<String>,
        /// A client for commands (publishes, presence, rates); boxed, being large.
        client: Box<ClusterClient>,
    },
}

impl RedisTarget {
    /// Parses `--redis`: `redis://…` (or `rediss://…`) for one server,
    /// `redis+cluster://[user:password@]h1:p1,h2:p2,…` for a cluster (port 6379 when left
    /// out). Anything else is refused with the reason.
    pub fn parse(url: &str) -> Result<Self, String> {
        let Some(rest) = url.strip_prefix(CLUSTER_SCHEME) else {
            if !(url.starts_with("redis://")
                || url.starts_with("rediss://")
                || url.starts_with("unix://")
                || url.starts_with("redis+unix://"))
            {
                return Err(format!(
                    "{:?} is not a Redis URL: use redis://host:port for one server or \
                     redis+cluster://host1:port1,host2:port2 for a Redis Cluster",
                    super::health::redacted(url)
                ));
            }
            return redis::Client::open(url)
                .map(Self::Single)
                .map_err(|e| format!("bad Redis URL {:?}: {e}", super::health::redacted(url)));
        };
        let nodes = cluster_nodes(rest)?;
        let client = ClusterClientBuilder::new(nodes.clone())
            .connection_timeout(CONNECT_TIMEOUT)
            .response_timeout(COMMAND_TIMEOUT)
            // A command to a shard in failover fails fast: the layer's own reconnect and
            // resync recover, instead of the command retrying for seconds.
            .retries(3)
            .max_retry_wait(200)
            .build()
            .map_err(|e| format!("bad Redis Cluster URL: {e}"))?;
        Ok(Self::Cluster {
            nodes,
            client: Box::new(client),
        })
    }

    /// Whether this is a cluster (sharded pub/sub).
    pub fn is_cluster(&self) -> bool {
        matches!(self, Self::Cluster { .. })
    }

    /// A command connection, within the connect budget.
    pub async fn connect(&self) -> Result<Connection, String> {
        let connecting = async {
            match self {
                Self::Single(client) => {
                    let config = redis::AsyncConnectionConfig::new()
                        .set_connection_timeout(Some(CONNECT_TIMEOUT))
                        .set_response_timeout(Some(COMMAND_TIMEOUT));
                    client
                        .get_multiplexed_async_connection_with_config(&config)
                        .await
                        .map(Connection::Single)
                }
                Self::Cluster { client, .. } => {
                    client.get_async_connection().await.map(Connection::Cluster)
                }
            }
        };
        match tokio::time::timeout(CONNECT_TIMEOUT + COMMAND_TIMEOUT, connecting).await {
            Ok(Ok(connection)) => Ok(connection),
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err("connection timed out".to_owned()),
        }
    }

    /// The publish command for this deployment: `SPUBLISH` on a cluster, `PUBLISH` else.
    pub fn publish_command(&self) -> &'static str {
        if self.is_cluster() {
            "SPUBLISH"
        } else {
            "PUBLISH"
        }
    }
}

/// `h1:p1,h2:p2` (after the scheme, maybe with `user:password@` first and a `/…` after)
/// into one `redis://` URL per node.
fn cluster_nodes(rest: &str) -> Result<Vec<String>, String> {
    let (auth, hosts) = match rest.rsplit_once('@') {
        Some((auth, hosts)) => (format!("{auth}@"), hosts),
        None => (String::new(), rest),
    };
    let hosts = hosts.split(['/', '?']).next().unwrap_or_default();
    let mut nodes = Vec::new();
    for host in hosts.split(',').map(str::trim).filter(|h| !h.is_empty()) {
        let (name, port) = match host.rsplit_once(':') {
            Some((name, port)) => (
                name,
                port.parse::<u16>()
                    .map_err(|_| format!("bad port in Redis Cluster node {host:?}"))?,
            ),
            None => (host, 6379),
        };
        if name.is_empty() {
            return Err(format!("no host in Redis Cluster node {host:?}"));
        }
        nodes.push(format!("redis://{auth}{name}:{port}"));
    }
    if nodes.is_empty() {
        return Err(
            "redis+cluster:// names no node: use redis+cluster://host1:port1,host2:port2"
                .to_owned(),
        );
    }
    Ok(nodes)
}

/// A command connection to one server or to a cluster; cheap to clone (both multiplex).
#[derive(Clone)]
pub enum Connection {
    /// To the one server.
    Single(MultiplexedConnection),
    /// To a cluster: each command goes to the shard of its key.
    Cluster(ClusterConnection),
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(connection) => connection.req_packed_command(cmd),
            Self::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(connection) => connection.req_packed_commands(pipeline, offset, count),
            Self::Cluster(connection) => connection.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(connection) => connection.get_db(),
            Self::Cluster(connection) => connection.get_db(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{cluster_nodes, RedisTarget};

    #[test]
    fn cluster_urls_name_every_node_with_its_port_and_credentials() {
        assert_eq!(
            cluster_nodes("h1:7000,h2:7001,h3").expect("nodes"),
            ["redis://h1:7000", "redis://h2:7001", "redis://h3:6379"]
        );
        assert_eq!(
            cluster_nodes(":secret@10.0.0.1:7000,10.0.0.2:7000/").expect("nodes"),
            [
                "redis://:secret@10.0.0.1:7000",
                "redis://:secret@10.0.0.2:7000"
            ]
        );
        assert!(cluster_nodes("").is_err());
        assert!(cluster_nodes("h1:notaport").is_err());
        assert!(cluster_nodes(":7000").is_err());
    }

    #[test]
    fn the_scheme_chooses_single_or_cluster_and_others_are_refused() {
        assert!(!RedisTarget::parse("redis://127.0.0.1:6379")
            .expect("single")
            .is_cluster());
        let cluster =
            RedisTarget::parse("redis+cluster://127.0.0.1:7000,127.0.0.1:7001").expect("cluster");
        assert!(cluster.is_cluster());
        assert_eq!(cluster.publish_command(), "SPUBLISH");
        let refused = RedisTarget::parse("http://127.0.0.1:6379")
            .err()
            .expect("refused");
        assert!(refused.contains("not a Redis URL"), "{refused}");
    }
}
