//! The running server's background tasks, owned in one place: each is spawned with a name
//! and a shared stop signal, and shutdown cancels them all and waits for each (aborting, with
//! a warning, one that does not stop in time). No task outlives the server unnoticed.

use std::{future::Future, time::Duration};
use tokio::{task::JoinHandle, time::Instant};
use tokio_util::sync::CancellationToken;

/// A set of named background tasks sharing one stop signal.
pub struct Tasks {
    /// Cancelled when the tasks should stop.
    stop: CancellationToken,
    /// What runs, by name (for the logs).
    running: Vec<(&'static str, JoinHandle<()>)>,
}

impl Tasks {
    /// No tasks yet.
    pub fn new() -> Self {
        Self {
            stop: CancellationToken::new(),
            running: Vec::new(),
        }
    }

    /// The signal the tasks watch (a task that loops selects on `cancelled()`).
    pub fn stop_signal(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Spawns `task` under `name`.
    pub fn spawn(&mut self, name: &'static str, task: impl Future<Output = ()> + Send + 'static) {
        self.running.push((name, tokio::spawn(task)));
    }

    /// Signals every task to stop and waits for each until `deadline`; a task still running
    /// then is aborted.
    pub async fn stop(self, deadline: Instant) {
        self.stop.cancel();
        for (name, mut task) in self.running {
            match tokio::time::timeout_at(deadline, &mut task).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::error!(task = name, %error, "a background task failed"),
                Err(_) => {
                    tracing::warn!(task = name, "a background task did not stop in time");
                    task.abort();
                }
            }
        }
    }
}

impl Default for Tasks {
    fn default() -> Self {
        Self::new()
    }
}

/// Runs `tick` every `every` until `stop` is cancelled.
pub async fn every(every: Duration, stop: CancellationToken, mut tick: impl FnMut()) {
    let mut interval = tokio::time::interval(every);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = interval.tick() => tick(),
        }
    }
}
