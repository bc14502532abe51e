//! The group-commit writer: the tasks that own every message insert.
//!
//! Senders queue a job and wait for its reply. A task takes everything queued (up to
//! [`MAX_BATCH`]), stores it in one transaction, publishes the new rows in id order, then
//! answers each sender. Under load a batch grows to cover the fsync; when idle a batch is one
//! message and costs no extra latency. Each room belongs to one task (its *lane*), so within
//! a process a room's deliveries leave in exactly the order the store assigned.
//!
//! SQLite has one writer at a time, so it gets one lane. PostgreSQL takes several
//! transactions at once (a batch locks only its own rooms' rows), so it gets
//! [`Store::writer_lanes`] of them: while one lane waits for its commit, another inserts.
//!
//! When senders trickle in faster than one per [`CommitWindow`], the task holds a batch open
//! for that window (1 ms by default) before committing, so a steady stream of messages costs
//! one commit and one fsync per window rather than one per message; slower than that, a
//! message is committed at once and the window costs nothing. When they come much faster
//! (eight or more per window), they come in bursts, and the batch closes as soon as a
//! burst is in rather than at the window's end. A sender is still answered only after its
//! commit.
//!
//! Closing stops the queue (new sends fail at once), then stores, publishes and answers
//! everything that was already queued before the task ends: nothing acknowledged is lost.

use super::{encode, room::room_group, to_wire, typing::PendingTyping, ChatError};
use crate::{
    layer::{ChannelLayer, Delivery},
    store::{Inserted, NewMessage, Store, StoreError},
};
use app::{domain::RoomSlug, protocol::ServerFrame};
use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use tokio::{
    sync::{mpsc, oneshot},
    task::JoinHandle,
};
use tokio_util::sync::CancellationToken;

/// Largest batch stored in one transaction.
const MAX_BATCH: usize = 512;
/// Jobs that may wait for the writer before senders are slowed down (back-pressure).
const QUEUE: usize = 8192;

/// How long a batch may stay open for more messages, and the arrival rate from which it
/// does. Below the rate the expected gain (less than one more message per window) is not
/// worth the wait.
#[derive(Clone, Copy, Debug)]
pub struct CommitWindow {
    /// The longest wait (zero: commit at once, always).
    pub window: Duration,
}

impl Default for CommitWindow {
    fn default() -> Self {
        Self {
            window: Duration::from_millis(1),
        }
    }
}

/// One message waiting to be stored.
struct WriteJob {
    /// The row to insert.
    draft: NewMessage,
    /// The room's slug, for the published frame and the group name.
    room_slug: RoomSlug,
    /// Where the outcome goes.
    reply: oneshot::Sender<Result<Inserted, ChatError>>,
}

/// The writer's queues and their tasks, one per lane.
pub(super) struct Writer {
    /// Where jobs go: lane `room_id mod lanes`.
    lanes: Vec<mpsc::Sender<WriteJob>>,
    /// Tells the tasks to stop taking jobs and drain.
    stop: CancellationToken,
    /// The tasks, joined by `close`.
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Writer {
    /// Starts one task per lane the store can write on at once.
    pub(super) fn start(
        store: Store,
        layer: Arc<dyn ChannelLayer>,
        window: CommitWindow,
        typing: Arc<PendingTyping>,
    ) -> Self {
        let stop = CancellationToken::new();
        let (lanes, tasks) = (0..store.writer_lanes().max(1))
            .map(|_| {
                let (queue, jobs) = mpsc::channel(QUEUE);
                let task = tokio::spawn(run(
                    store.clone(),
                    layer.clone(),
                    jobs,
                    stop.clone(),
                    window,
                    typing.clone(),
                ));
                (queue, task)
            })
            .unzip();
        Self {
            lanes,
            stop,
            tasks: Mutex::new(tasks),
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
        let lane = usize::try_from(job.draft.room_id.rem_euclid(self.lanes.len() as i64))
            .unwrap_or_default();
        self.lanes[lane]
            .send(job)
            .await
            .map_err(|_| ChatError::WriterGone)?;
        Ok(answer)
    }

    /// Whether the tasks still take jobs.
    pub(super) fn is_running(&self) -> bool {
        self.lanes.iter().all(|lane| !lane.is_closed())
    }

    /// Stops taking jobs, drains the queues and waits for the tasks.
    pub(super) async fn close(&self) {
        self.stop.cancel();
        let tasks = std::mem::take(
            &mut *self
                .tasks
                .lock()
                .unwrap_or_else(|poison| poison.into_inner()),
        );
        for task in tasks {
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
    window: CommitWindow,
    typing: Arc<PendingTyping>,
) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    let mut arrivals = Arrivals::default();
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
        if arrivals.busy(received, window.window) && !stop.is_cancelled() {
            if arrivals.expected(window.window) >= BURSTY_PER_WINDOW {
                hold_while_arriving(&mut queue, &mut jobs, window.window).await;
            } else {
                hold_open(&mut queue, &mut jobs, window.window).await;
            }
        }
        store_and_publish(&store, layer.as_ref(), &typing, &mut jobs).await;
    }
}

/// Takes more jobs until the window has passed or the batch is full.
async fn hold_open(
    queue: &mut mpsc::Receiver<WriteJob>,
    jobs: &mut Vec<WriteJob>,
    window: Duration,
) {
    let deadline = tokio::time::Instant::now() + window;
    while jobs.len() < MAX_BATCH {
        let room = MAX_BATCH - jobs.len();
        match tokio::time::timeout_at(deadline, queue.recv_many(jobs, room)).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// From this many expected arrivals per window on, a held batch closes as soon as the queue
/// stays empty for [`IDLE_ROUNDS`] scheduler rounds instead of waiting out the window.
/// Arrivals that fast come in bursts (a wave of senders answered by the last commit sending
/// again): once the burst is in, the rest of the window is only delay — up to a third of a
/// commit cycle in the store benchmark (bench/RESULTS.md, 2026-12-03). tokio's timers tick
/// in whole milliseconds, too coarse to wait for a gap of a few microseconds.
const BURSTY_PER_WINDOW: f64 = 8.0;
/// Scheduler rounds without a new job after which a fast-arriving batch is committed.
const IDLE_ROUNDS: u32 = 3;

/// Takes more jobs while they keep coming: each round lets every runnable task (and the I/O
/// driver) run once, then takes what they queued; the batch closes after [`IDLE_ROUNDS`]
/// empty rounds, at the window's end, or when full.
async fn hold_while_arriving(
    queue: &mut mpsc::Receiver<WriteJob>,
    jobs: &mut Vec<WriteJob>,
    window: Duration,
) {
    let deadline = Instant::now() + window;
    let mut idle = 0;
    while jobs.len() < MAX_BATCH && idle < IDLE_ROUNDS && Instant::now() < deadline {
        tokio::task::yield_now().await;
        let before = jobs.len();
        while jobs.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        idle = if jobs.len() == before { idle + 1 } else { 0 };
    }
}

/// The recent arrival rate, measured over the last tenth of a second.
#[derive(Default)]
struct Arrivals {
    since: Option<Instant>,
    count: usize,
    per_second: f64,
}

impl Arrivals {
    /// Counts `received` jobs; true when more than one job is expected within `window`.
    fn busy(&mut self, received: usize, window: Duration) -> bool {
        if window.is_zero() {
            return false;
        }
        let now = Instant::now();
        let since = *self.since.get_or_insert(now);
        self.count += received;
        let elapsed = now.duration_since(since);
        if elapsed >= Duration::from_millis(100) {
            self.per_second = self.count as f64 / elapsed.as_secs_f64();
            self.since = Some(now);
            self.count = 0;
        }
        self.expected(window) >= 1.0
    }

    /// Jobs expected within `window` at the recent rate.
    fn expected(&self, window: Duration) -> f64 {
        self.per_second * window.as_secs_f64()
    }
}

/// Commits one batch, publishes its new rows in order (with the typing frames waiting for
/// their rooms, which then cost no write of their own), answers every sender, then tells the
/// people its messages mention.
async fn store_and_publish(
    store: &Store,
    layer: &dyn ChannelLayer,
    typing: &PendingTyping,
    jobs: &mut Vec<WriteJob>,
) {
    let started = std::time::Instant::now();
    let (drafts, waiting): (Vec<NewMessage>, Vec<_>) = jobs
        .drain(..)
        .map(|job| (job.draft, (job.room_slug, job.reply)))
        .unzip();
    let written = store.write_messages(drafts).await;
    let outcomes = written.outcomes;
    let stored = outcomes
        .iter()
        .filter(|outcome| matches!(outcome, Ok(Inserted::New(_))))
        .count();
    crate::telemetry::batch_stored(stored, started.elapsed());
    // Publish before answering, so a sender's own socket sees its message no later than the
    // acknowledgement. One `group_send_many` per room: one pass over its members, one Redis
    // PUBLISH; rooms keep their id order.
    let mut by_room: Vec<(i64, &RoomSlug, Vec<Delivery>)> = Vec::new();
    for ((room_slug, _), outcome) in waiting.iter().zip(&outcomes) {
        if let Ok(Inserted::New(record)) = outcome {
            let delivery = Delivery::Message {
                id: record.id,
                seq: record.seq,
                frame: encode(&ServerFrame::Message(to_wire(record, room_slug.as_str()))),
            };
            match by_room
                .iter_mut()
                .find(|(room, ..)| *room == record.room_id)
            {
                Some((.., deliveries)) => deliveries.push(delivery),
                None => by_room.push((record.room_id, room_slug, vec![delivery])),
            }
        }
    }
    for (_, room_slug, mut deliveries) in by_room {
        // Typing first: a typist's own message, right behind, clears their indicator.
        if let Some(frames) = typing.take(room_slug.as_str()) {
            deliveries.splice(0..0, frames.into_iter().map(Delivery::Frame));
        }
        // The rows are committed whatever happens here; a member that misses a delivery
        // recovers it from the store (gap or resync), so a layer failure is logged, not
        // returned to the sender.
        if let Err(error) = layer
            .group_send_many(&room_group(room_slug.as_str()), deliveries)
            .await
        {
            tracing::debug!(%error, "publishing stored messages failed");
        }
    }
    let mentioning = super::mentions::collect(&written.rooms, &outcomes);
    super::lobby::announce_activity(layer, written.rooms, &outcomes).await;
    for ((_, reply), outcome) in waiting.into_iter().zip(outcomes) {
        // The sender may have gone (client disconnected): nothing to tell.
        let _ = reply.send(outcome.map_err(log_failure));
    }
    // After the answers: resolving usernames is a read, and no sender should wait for it.
    super::mentions::deliver(store, layer, mentioning).await;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_opens_only_when_more_than_one_message_per_window_arrives() {
        let window = Duration::from_millis(1);
        let mut trickle = Arrivals::default();
        let mut stream = Arrivals::default();
        assert!(!trickle.busy(1, window), "no history: commit at once");
        assert!(!stream.busy(1, window));
        std::thread::sleep(Duration::from_millis(110));
        // 50 in ~110 ms is ~450/s: under one per millisecond.
        assert!(!trickle.busy(49, window));
        // 300 in ~110 ms is ~2,700/s: a batch is worth holding open.
        assert!(stream.busy(299, window));
        assert!(
            !Arrivals::default().busy(1_000, Duration::ZERO),
            "a zero window is off"
        );
    }
}
