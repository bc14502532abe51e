//! The subscriber's connection, to one server (`SUBSCRIBE` on a pub/sub connection) or to a
//! cluster (`SSUBSCRIBE` over RESP3, each topic on the shard its name hashes to, messages
//! arriving as pushes). The subscriber task sees one interface either way.
//!
//! On a cluster, a node that goes away (a master killed, a network cut) counts as the whole
//! subscription lost: the subscriber reconnects with a fresh view of the cluster, which after
//! a failover names the promoted replica, subscribes again and has every local member resync
//! from the store. The client library would resubscribe by itself, but only once it learns the
//! new topology, and it could not say which messages were published in between; the store can.

use super::{
    target::RedisTarget,
    timeouts::{COMMAND_TIMEOUT, CONNECT_TIMEOUT},
};
use futures::StreamExt;
use redis::{
    aio::{PubSubSink, PubSubStream},
    cluster::ClusterClientBuilder,
    cluster_async::ClusterConnection,
    PushInfo, PushKind, Value,
};
use tokio::{sync::mpsc, time::timeout};

/// What the subscription hands over.
pub(super) enum Incoming {
    /// A message published on `topic`.
    Message {
        /// The Redis channel.
        topic: String,
        /// The encoded envelope.
        payload: Vec<u8>,
    },
    /// The server dropped the subscription to `topic` (on a cluster: its slot moved).
    Unsubscribed(String),
    /// The connection is gone.
    Lost(String),
}

/// A subscribed connection.
pub(super) enum Subscription {
    /// To the one server.
    Single {
        /// Sends (un)subscriptions and pings.
        sink: PubSubSink,
        /// Receives the messages.
        stream: PubSubStream,
    },
    /// To a cluster.
    Cluster {
        /// Routes each (un)subscription to its shard.
        connection: ClusterConnection,
        /// The pushes of every node: messages, confirmations, disconnections.
        pushes: mpsc::UnboundedReceiver<PushInfo>,
    },
}

impl Subscription {
    /// Connects, within the connect budget.
    pub(super) async fn open(target: &RedisTarget) -> Result<Self, String> {
        let connecting = async {
            match target {
                RedisTarget::Single(client) => {
                    let (sink, stream) = client.get_async_pubsub().await?.split();
                    Ok::<_, redis::RedisError>(Self::Single { sink, stream })
                }
                RedisTarget::Cluster { nodes, .. } => {
                    let (sender, pushes) = mpsc::unbounded_channel();
                    let client = ClusterClientBuilder::new(nodes.clone())
                        .use_protocol(redis::ProtocolVersion::RESP3)
                        .push_sender(sender)
                        .connection_timeout(CONNECT_TIMEOUT)
                        .response_timeout(COMMAND_TIMEOUT)
                        .retries(3)
                        .max_retry_wait(200)
                        .build()?;
                    let connection = client.get_async_connection().await?;
                    Ok(Self::Cluster { connection, pushes })
                }
            }
        };
        match timeout(CONNECT_TIMEOUT + COMMAND_TIMEOUT, connecting).await {
            Ok(Ok(subscription)) => Ok(subscription),
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err("connection timed out".to_owned()),
        }
    }

    /// Subscribes to `topic`; returns once the server confirmed it.
    pub(super) async fn subscribe(&mut self, topic: &str) -> Result<(), String> {
        match self {
            Self::Single { sink, .. } => command(sink.subscribe(topic)).await,
            Self::Cluster { connection, .. } => command(connection.ssubscribe(topic)).await,
        }
    }

    /// Unsubscribes from `topic`.
    pub(super) async fn unsubscribe(&mut self, topic: &str) -> Result<(), String> {
        match self {
            Self::Single { sink, .. } => command(sink.unsubscribe(topic)).await,
            Self::Cluster { connection, .. } => command(connection.sunsubscribe(topic)).await,
        }
    }

    /// Checks that the connection still answers (a silent network failure would otherwise
    /// go unnoticed until the next message that never comes).
    pub(super) async fn ping(&mut self) -> Result<(), String> {
        // Subscribed, Redis answers PING with an array ["pong", ""]: any answer will do.
        match self {
            Self::Single { sink, .. } => {
                command(async {
                    sink.ping::<Value>().await?;
                    Ok(())
                })
                .await
            }
            Self::Cluster { connection, .. } => {
                command(async {
                    redis::cmd("PING")
                        .query_async::<Value>(connection)
                        .await
                        .map(drop)
                })
                .await
            }
        }
    }

    /// The next thing that happened. Cancel-safe: nothing is lost when another branch of a
    /// `select!` wins.
    pub(super) async fn next(&mut self) -> Incoming {
        match self {
            Self::Single { stream, .. } => match stream.next().await {
                Some(message) => Incoming::Message {
                    topic: message.get_channel_name().to_owned(),
                    payload: message.get_payload_bytes().to_vec(),
                },
                None => Incoming::Lost("the connection closed".to_owned()),
            },
            Self::Cluster { pushes, .. } => loop {
                let Some(push) = pushes.recv().await else {
                    return Incoming::Lost("the cluster connection closed".to_owned());
                };
                if let Some(incoming) = from_push(push) {
                    return incoming;
                }
            },
        }
    }
}

/// What a cluster push means to the subscriber; `None` for confirmations and the rest.
fn from_push(push: PushInfo) -> Option<Incoming> {
    let mut data = push.data.into_iter();
    match push.kind {
        PushKind::SMessage => {
            let topic = bytes_of(data.next()?)?;
            let payload = bytes_of(data.next()?)?;
            Some(Incoming::Message {
                topic: String::from_utf8(topic).ok()?,
                payload,
            })
        }
        PushKind::SUnsubscribe => {
            let topic = String::from_utf8(bytes_of(data.next()?)?).ok()?;
            Some(Incoming::Unsubscribed(topic))
        }
        PushKind::Disconnection => Some(Incoming::Lost(
            "a Redis Cluster node closed its connection".to_owned(),
        )),
        _ => None,
    }
}

fn bytes_of(value: Value) -> Option<Vec<u8>> {
    match value {
        Value::BulkString(bytes) => Some(bytes),
        Value::SimpleString(text) => Some(text.into_bytes()),
        _ => None,
    }
}

async fn command(
    request: impl std::future::Future<Output = redis::RedisResult<()>>,
) -> Result<(), String> {
    match timeout(COMMAND_TIMEOUT, request).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err("Redis stopped answering".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::{from_push, Incoming};
    use redis::{PushInfo, PushKind, Value};

    #[test]
    fn cluster_pushes_become_messages_drops_and_losses() {
        let message = PushInfo {
            kind: PushKind::SMessage,
            data: vec![
                Value::BulkString(b"parlor:group:room:a".to_vec()),
                Value::BulkString(b"payload".to_vec()),
            ],
        };
        assert!(matches!(
            from_push(message),
            Some(Incoming::Message { topic, payload })
                if topic == "parlor:group:room:a" && payload == b"payload"
        ));
        let dropped = PushInfo {
            kind: PushKind::SUnsubscribe,
            data: vec![Value::BulkString(b"t".to_vec()), Value::Int(0)],
        };
        assert!(matches!(from_push(dropped), Some(Incoming::Unsubscribed(t)) if t == "t"));
        let gone = PushInfo {
            kind: PushKind::Disconnection,
            data: vec![],
        };
        assert!(matches!(from_push(gone), Some(Incoming::Lost(_))));
        let confirmed = PushInfo {
            kind: PushKind::SSubscribe,
            data: vec![Value::BulkString(b"t".to_vec()), Value::Int(1)],
        };
        assert!(from_push(confirmed).is_none());
    }
}
