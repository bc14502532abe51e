//! The publisher task: sends every PUBLISH of this process, in order, pipelined in batches,
//! on its own (multiplexed) connection.
//!
//! While Redis is away nothing can go out: those publishes are dropped and their groups are
//! remembered; once the connection is back, every process is told to resync those groups
//! from the store. A full queue drops the same way (see `RedisLayer::publish`).

use super::{
    backoff::Backoff,
    envelope::encode,
    health::Health,
    target::{Connection, RedisTarget},
    timeouts::COMMAND_TIMEOUT,
};
use crate::layer::Delivery;
use bytes::Bytes;
use std::{collections::HashMap, sync::Arc};
use tokio::{
    sync::{mpsc, oneshot},
    time::{timeout, Instant},
};
use tokio_util::sync::CancellationToken;

/// Publishes sent in one pipeline at most.
const PUBLISH_BATCH: usize = 512;

/// Work for the publisher, in order.
pub(super) enum Outgoing {
    /// PUBLISH `payload` on `topic`; a group topic is told to resync if this fails.
    Publish {
        /// The Redis channel.
        topic: String,
        /// Whether `topic` is a group's (which can resync) rather than a process's.
        to_group: bool,
        /// The encoded envelope.
        payload: Bytes,
    },
    /// Answer `true` once everything queued before has been accepted by Redis.
    Flush(oneshot::Sender<bool>),
}

/// One publish on its way out.
struct Pending {
    /// The Redis channel.
    topic: String,
    /// The encoded envelope.
    payload: Bytes,
    /// Whether `topic` is a group's, which resyncs if this is lost.
    to_group: bool,
}

/// The task's state.
pub(super) struct Publisher {
    /// Where to connect.
    pub(super) target: RedisTarget,
    /// What to publish.
    pub(super) queue: mpsc::Receiver<Outgoing>,
    /// Shared health (and the dropped topics).
    pub(super) health: Arc<Health>,
    /// Cancelled when the layer closes.
    pub(super) stop: CancellationToken,
}

impl Publisher {
    /// Runs until the layer closes.
    pub(super) async fn run(mut self) {
        let mut backoff = Backoff::new();
        let mut batch = Vec::with_capacity(PUBLISH_BATCH);
        let mut retry_at = Instant::now();
        loop {
            let connection = tokio::select! {
                biased;
                () = self.stop.cancelled() => return,
                () = tokio::time::sleep_until(retry_at) => match self.reconnect().await {
                    Ok(connection) => connection,
                    Err(reason) => {
                        self.health.set_publisher(false, &reason);
                        retry_at = Instant::now() + backoff.next_delay();
                        continue;
                    }
                },
                received = self.queue.recv_many(&mut batch, PUBLISH_BATCH) => {
                    if received == 0 {
                        return;
                    }
                    self.drop_unsendable(&mut batch);
                    continue;
                }
            };
            backoff.reset();
            self.health.set_publisher(true, "");
            match self.serve(&connection, &mut batch).await {
                Some(reason) => {
                    self.health.set_publisher(false, &reason);
                    retry_at = Instant::now();
                }
                None => return,
            }
        }
    }

    /// Connects, then tells every process to resync the groups we failed to reach.
    async fn reconnect(&self) -> Result<Connection, String> {
        let connection = self.target.connect().await?;
        let resyncs = self.resyncs_of_dropped();
        if let Err(reason) = self.send(&connection, &resyncs).await {
            self.note_lost(resyncs);
            return Err(reason);
        }
        Ok(connection)
    }

    /// A resync publish for every group topic whose deliveries may have been lost. An empty
    /// origin: this process's own members resync too (harmless: they re-read and find
    /// nothing new).
    fn resyncs_of_dropped(&self) -> Vec<Pending> {
        let dropped = self.health.take_dropped();
        if dropped.is_empty() {
            return Vec::new();
        }
        let resync = encode("", None, &Delivery::Resync);
        dropped
            .into_iter()
            .map(|topic| Pending {
                topic,
                payload: resync.clone(),
                to_group: true,
            })
            .collect()
    }

    /// These did not go out: their groups resync once Redis is back.
    fn note_lost(&self, lost: Vec<Pending>) {
        for pending in lost {
            self.health
                .note_dropped(pending.to_group.then_some(pending.topic));
        }
    }

    /// Publishes batches until the connection fails (`Some(reason)`) or the layer closes.
    async fn serve(
        &mut self,
        connection: &Connection,
        batch: &mut Vec<Outgoing>,
    ) -> Option<String> {
        loop {
            let received = tokio::select! {
                biased;
                () = self.stop.cancelled() => return None,
                received = self.queue.recv_many(batch, PUBLISH_BATCH) => received,
            };
            if received == 0 {
                return None;
            }
            if let Err(reason) = self.publish_batch(connection, batch).await {
                return Some(reason);
            }
        }
    }

    /// Sends one batch (plus resyncs for groups dropped meanwhile), then answers the
    /// flushes in it.
    async fn publish_batch(
        &self,
        connection: &Connection,
        batch: &mut Vec<Outgoing>,
    ) -> Result<(), String> {
        let mut publishes = self.resyncs_of_dropped();
        publishes.reserve(batch.len());
        let mut flushes = Vec::new();
        for outgoing in batch.drain(..) {
            match outgoing {
                Outgoing::Publish {
                    topic,
                    to_group,
                    payload,
                } => publishes.push(Pending {
                    topic,
                    payload,
                    to_group,
                }),
                Outgoing::Flush(done) => flushes.push(done),
            }
        }
        let sent = self.send(connection, &publishes).await;
        if sent.is_ok() {
            self.health.note_queue_drained();
        } else {
            self.note_lost(publishes);
        }
        for done in flushes {
            let _ = done.send(sent.is_ok());
        }
        sent
    }

    /// Publishes `publishes` in order. One server: one pipeline. A cluster: one pipeline per
    /// topic (a pipeline may not span shards), all at once; each topic's own order holds,
    /// and the next batch waits for this one, so a room's messages never overtake.
    async fn send(&self, connection: &Connection, publishes: &[Pending]) -> Result<(), String> {
        if publishes.is_empty() {
            return Ok(());
        }
        let command = self.target.publish_command();
        if !self.target.is_cluster() {
            let mut pipe = redis::pipe();
            for pending in publishes {
                pipe.cmd(command)
                    .arg(&pending.topic)
                    .arg(pending.payload.as_ref())
                    .ignore();
            }
            let mut connection = connection.clone();
            return query(pipe.query_async::<()>(&mut connection)).await;
        }
        let mut by_topic: HashMap<&str, redis::Pipeline> = HashMap::new();
        for pending in publishes {
            by_topic
                .entry(&pending.topic)
                .or_insert_with(redis::pipe)
                .cmd(command)
                .arg(&pending.topic)
                .arg(pending.payload.as_ref())
                .ignore();
        }
        let sends = by_topic.into_values().map(|pipe| {
            let mut connection = connection.clone();
            async move { pipe.query_async::<()>(&mut connection).await }
        });
        query(async {
            futures::future::join_all(sends)
                .await
                .into_iter()
                .collect::<redis::RedisResult<Vec<()>>>()
                .map(drop)
        })
        .await
    }

    /// Not connected: these cannot go out; their groups resync later.
    fn drop_unsendable(&self, batch: &mut Vec<Outgoing>) {
        for outgoing in batch.drain(..) {
            match outgoing {
                Outgoing::Publish {
                    topic, to_group, ..
                } => self.health.note_dropped(to_group.then_some(topic)),
                Outgoing::Flush(done) => {
                    let _ = done.send(false);
                }
            }
        }
    }
}

async fn query(
    request: impl std::future::Future<Output = redis::RedisResult<()>>,
) -> Result<(), String> {
    match timeout(COMMAND_TIMEOUT, request).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err("Redis stopped answering".to_owned()),
    }
}
