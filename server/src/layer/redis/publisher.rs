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
    timeouts::{COMMAND_TIMEOUT, CONNECT_TIMEOUT},
};
use crate::layer::Delivery;
use bytes::Bytes;
use redis::aio::MultiplexedConnection;
use std::{collections::HashSet, sync::Arc};
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

/// The task's state.
pub(super) struct Publisher {
    /// Where to connect.
    pub(super) client: redis::Client,
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
            let mut connection = tokio::select! {
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
            match self.serve(&mut connection, &mut batch).await {
                Some(reason) => {
                    self.health.set_publisher(false, &reason);
                    retry_at = Instant::now();
                }
                None => return,
            }
        }
    }

    /// Connects, then tells every process to resync the groups we failed to reach.
    async fn reconnect(&self) -> Result<MultiplexedConnection, String> {
        let mut connection = connect(&self.client).await?;
        let dropped = self.health.take_dropped();
        if let Err(reason) = resync_topics(&mut connection, &dropped).await {
            for topic in dropped {
                self.health.note_dropped(Some(topic));
            }
            return Err(reason);
        }
        Ok(connection)
    }

    /// Publishes batches until the connection fails (`Some(reason)`) or the layer closes.
    async fn serve(
        &mut self,
        connection: &mut MultiplexedConnection,
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

    /// Sends one batch as one pipeline (plus resyncs for groups dropped meanwhile), then
    /// answers the flushes in it.
    async fn publish_batch(
        &self,
        connection: &mut MultiplexedConnection,
        batch: &mut Vec<Outgoing>,
    ) -> Result<(), String> {
        let mut pipe = redis::pipe();
        let mut group_topics = Vec::new();
        let mut flushes = Vec::new();
        let dropped = self.health.take_dropped();
        if !dropped.is_empty() {
            let resync = encode("", None, &Delivery::Resync);
            for topic in &dropped {
                pipe.publish(topic, resync.as_ref()).ignore();
            }
            group_topics.extend(dropped);
        }
        let mut published = group_topics.len();
        for outgoing in batch.drain(..) {
            match outgoing {
                Outgoing::Publish {
                    topic,
                    to_group,
                    payload,
                } => {
                    pipe.publish(&topic, payload.as_ref()).ignore();
                    published += 1;
                    if to_group {
                        group_topics.push(topic);
                    }
                }
                Outgoing::Flush(done) => flushes.push(done),
            }
        }
        let sent = if published == 0 {
            Ok(())
        } else {
            query(pipe.query_async::<()>(connection)).await
        };
        if sent.is_err() {
            for topic in group_topics {
                self.health.note_dropped(Some(topic));
            }
        }
        if sent.is_ok() {
            self.health.note_queue_drained();
        }
        for done in flushes {
            let _ = done.send(sent.is_ok());
        }
        sent
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

async fn connect(client: &redis::Client) -> Result<MultiplexedConnection, String> {
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(COMMAND_TIMEOUT));
    match timeout(
        CONNECT_TIMEOUT + COMMAND_TIMEOUT,
        client.get_multiplexed_async_connection_with_config(&config),
    )
    .await
    {
        Ok(Ok(connection)) => Ok(connection),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err("connection timed out".to_owned()),
    }
}

/// Tells every process to resync the groups of `topics` (their members may have missed our
/// publishes while Redis was away).
async fn resync_topics(
    connection: &mut MultiplexedConnection,
    topics: &HashSet<String>,
) -> Result<(), String> {
    if topics.is_empty() {
        return Ok(());
    }
    // An empty origin: this process's own members resync too (harmless: they re-read and
    // find nothing new).
    let payload = encode("", None, &Delivery::Resync);
    let mut pipe = redis::pipe();
    for topic in topics {
        pipe.publish(topic, payload.as_ref()).ignore();
    }
    query(pipe.query_async::<()>(connection)).await
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
