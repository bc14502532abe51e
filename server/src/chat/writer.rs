//! The group-commit writer: one task that owns every message insert.
//!
//! Senders queue a job and wait for its reply. The task takes everything queued (up to
//! [`MAX_BATCH`]), stores it in one transaction, publishes the new rows in id order, then
//! answers each sender. Under load a batch grows to cover the fsync; when idle a batch is one
//! message and costs no extra latency. Publishing from this one task also means that, within
//! a process, deliveries leave in exactly the order the store assigned.
//!
//! Closing stops the queue (new sends fail at once), then stores, publishes and answers
//! everything that was already queued before the task ends: nothing acknowledged is lost.

use super::{encode, room::room_group, to_wire, ChatError};
use crate::{
    layer::{ChannelLayer, Delivery},
    store::{Inserted, NewMessage, Store, StoreError},
};
use app::{domain::RoomSlug, protocol::ServerFrame};
use std::sync::{Arc, Mutex};
use tokio::{
    sync::{mpsc, oneshot},
    task::JoinHandle,
};
use tokio_util::sync::CancellationToken;

/// Largest batch stored in one transaction.
const MAX_BATCH: usize = 512;
/// Jobs that may wait for the writer before senders are slowed down (back-pressure).
const QUEUE: usize = 8192;

/// One message waiting to be stored.
struct WriteJob {
    /// The row to insert.
    draft: NewMessage,
    /// The room's slug, for the published frame and the group name.
    room_slug: RoomSlug,
    /// Where the outcome goes.
    reply: oneshot::Sender<Result<Inserted, ChatError>>,
}

/// The writer's queue and its task.
pub(super) struct Writer {
    /// Where jobs go.
    queue: mpsc::Sender<WriteJob>,
    /// Tells the task to stop taking jobs and drain.
    stop: CancellationToken,
    /// The task, joined by `close`.
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Writer {
    /// Starts the task.
    pub(super) fn start(store: Store, layer: Arc<dyn ChannelLayer>) -> Self {
        let (queue, jobs) = mpsc::channel(QUEUE);
        let stop = CancellationToken::new();
        let task = tokio::spawn(run(store, layer, jobs, stop.clone()));
        Self {
            queue,
            stop,
            task: Mutex::new(Some(task)),
        }
    }

    /// Queues a message; the receiver gets the outcome once it is committed.
    pub(super) async fn queue(
        &self,
        draft: NewMessage,
        room_slug: RoomSlug,
    ) -> Result<oneshot::Receiver<Result<Inserted, ChatError>>, ChatError> {
        let (reply, answer) = oneshot::channel();
        let job = WriteJob {
            draft,
            room_slug,
            reply,
        };
        self.queue
            .send(job)
            .await
            .map_err(|_| ChatError::WriterGone)?;
        Ok(answer)
    }

    /// Whether the task still takes jobs.
    pub(super) fn is_running(&self) -> bool {
        !self.queue.is_closed()
    }

    /// Stops taking jobs, drains the queue and waits for the task.
    pub(super) async fn close(&self) {
        self.stop.cancel();
        let task = self
            .task
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .take();
        if let Some(task) = task {
            if let Err(error) = task.await {
                tracing::error!(%error, "the message writer failed");
            }
        }
    }
}

async fn run(
    store: Store,
    layer: Arc<dyn ChannelLayer>,
    mut queue: mpsc::Receiver<WriteJob>,
    stop: CancellationToken,
) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    loop {
        let received = tokio::select! {
            biased;
            received = queue.recv_many(&mut jobs, MAX_BATCH) => received,
            () = stop.cancelled() => {
                // No new jobs from now on; the ones already queued are still received.
                queue.close();
                queue.recv_many(&mut jobs, MAX_BATCH).await
            }
        };
        if received == 0 {
            return;
        }
        store_and_publish(&store, layer.as_ref(), &mut jobs).await;
    }
}

/// Commits one batch, publishes its new rows in order, and answers every sender.
async fn store_and_publish(store: &Store, layer: &dyn ChannelLayer, jobs: &mut Vec<WriteJob>) {
    let started = std::time::Instant::now();
    let (drafts, waiting): (Vec<NewMessage>, Vec<_>) = jobs
        .drain(..)
        .map(|job| (job.draft, (job.room_slug, job.reply)))
        .unzip();
    let outcomes = store.write_messages(drafts).await;
    let stored = outcomes
        .iter()
        .filter(|outcome| matches!(outcome, Ok(Inserted::New(_))))
        .count();
    crate::telemetry::batch_stored(stored, started.elapsed());
    for ((room_slug, reply), outcome) in waiting.into_iter().zip(outcomes) {
        if let Ok(Inserted::New(record)) = &outcome {
            let slug = room_slug.as_str();
            let delivery = Delivery::Message {
                id: record.id,
                seq: record.seq,
                frame: encode(&ServerFrame::Message(to_wire(record, slug))),
            };
            // The row is committed whatever happens here; a member that misses this
            // delivery recovers it from the store (gap or resync), so a layer failure is
            // logged, not returned to the sender.
            if let Err(error) = layer.group_send(&room_group(slug), delivery).await {
                tracing::debug!(%error, "publishing a stored message failed");
            }
        }
        // The sender may have gone (client disconnected): nothing to tell.
        let _ = reply.send(outcome.map_err(log_failure));
    }
}

/// A message's failure, logged unless its batch's failure was logged already.
fn log_failure(error: StoreError) -> ChatError {
    match &error {
        StoreError::BatchFailed(_) => {}
        StoreError::Constraint(reason) => tracing::debug!(%reason, "a message was refused"),
        other => tracing::error!(error = %other, "storing a message failed"),
    }
    ChatError::Store(error)
}
