//! The group-commit writer: one task that owns every message insert.
//!
//! Senders queue a job and wait for its reply. The task takes everything queued (up to
//! [`MAX_BATCH`]), stores it in one transaction, publishes the new rows in id order, then
//! answers each sender. Under load a batch grows to cover the fsync; when idle a batch is one
//! message and costs no extra latency. Publishing from this one task also means that, within
//! a process, deliveries leave in exactly the order the store assigned.

use super::{encode, to_wire, ChatError};
use crate::{
    layer::{room_group, ChannelLayer, Delivery},
    store::{Inserted, NewMessage, Store, StoreError},
};
use app::{domain::RoomSlug, protocol::ServerFrame};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Largest batch stored in one transaction.
const MAX_BATCH: usize = 512;
/// Jobs that may wait for the writer before senders are slowed down (back-pressure).
const QUEUE: usize = 8192;

/// One message waiting to be stored.
pub(super) struct WriteJob {
    /// The row to insert.
    pub draft: NewMessage,
    /// The room's slug, for the published frame and the group name.
    pub room_slug: RoomSlug,
    /// Where the outcome goes.
    pub reply: oneshot::Sender<Result<Inserted, ChatError>>,
}

/// Starts the writer; it stops when every sender handle is dropped.
pub(super) fn spawn(store: Store, layer: Arc<dyn ChannelLayer>) -> mpsc::Sender<WriteJob> {
    let (sender, receiver) = mpsc::channel(QUEUE);
    tokio::spawn(run(store, layer, receiver));
    sender
}

async fn run(store: Store, layer: Arc<dyn ChannelLayer>, mut queue: mpsc::Receiver<WriteJob>) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let outcomes = commit(&store, &jobs).await;
        for (job, outcome) in jobs.drain(..).zip(outcomes) {
            if let Ok(Inserted::New(record)) = &outcome {
                let slug = job.room_slug.as_str();
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
            let _ = job.reply.send(outcome);
        }
    }
}

/// Stores a batch. If a row's content made the transaction fail (say, its room was deleted
/// meanwhile), retries each message on its own so that row cannot fail the others; any other
/// failure (disk, lock timeout) fails the whole batch at once rather than stalling on
/// hundreds of retries.
async fn commit(store: &Store, jobs: &[WriteJob]) -> Vec<Result<Inserted, ChatError>> {
    let drafts: Vec<&NewMessage> = jobs.iter().map(|j| &j.draft).collect();
    match store.insert_messages(&drafts).await {
        Ok(done) => done.into_iter().map(Ok).collect(),
        Err(error) if drafts.len() == 1 => vec![Err(log_failure(error))],
        Err(error) if !error.is_constraint() => {
            let reason = error.to_string();
            tracing::error!(%error, batch = drafts.len(), "storing a batch of messages failed");
            drafts
                .iter()
                .map(|_| Err(ChatError::Store(StoreError::BatchFailed(reason.clone()))))
                .collect()
        }
        Err(error) => {
            tracing::warn!(%error, batch = drafts.len(), "batch insert failed; retrying one by one");
            let mut outcomes = Vec::with_capacity(drafts.len());
            for draft in drafts {
                let outcome = store
                    .insert_messages(&[draft])
                    .await
                    .map_err(log_failure)
                    .and_then(|mut done| done.pop().ok_or(ChatError::WriterGone));
                outcomes.push(outcome);
            }
            outcomes
        }
    }
}

fn log_failure(error: StoreError) -> ChatError {
    tracing::error!(%error, "storing a message failed");
    ChatError::Store(error)
}
