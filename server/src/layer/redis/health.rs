//! The Redis connections' health, shared by the subscriber and the publisher: what
//! `/healthz` reports, logged once per change of the combined state (not once per message),
//! and the group topics whose publishes may have been lost (they are told to resync).

use std::{
    collections::HashSet,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Mutex,
    },
};

/// Connection health, logged once per change.
pub(super) struct Health {
    /// `redis://host:port` without credentials, for logs.
    url: String,
    /// Whether the publisher's connection is up.
    publisher: AtomicBool,
    /// Whether the subscriber's connection is up and subscribed.
    subscriber: AtomicBool,
    /// The last combined state logged (`None` before the first).
    reported: Mutex<Option<bool>>,
    /// Group topics whose deliveries may not have reached other processes.
    dropped: Mutex<HashSet<String>>,
    /// Subscriber connections made so far (one, unless Redis went away).
    pub(super) subscriber_connections: AtomicU64,
    /// Whether the publish queue overflowed and has not drained since.
    queue_full: AtomicBool,
}

impl Health {
    /// Both connections down, nothing logged yet.
    pub(super) fn new(url: &str) -> Self {
        Self {
            url: redacted(url),
            publisher: AtomicBool::new(false),
            subscriber: AtomicBool::new(false),
            reported: Mutex::new(None),
            dropped: Mutex::new(HashSet::new()),
            subscriber_connections: AtomicU64::new(0),
            queue_full: AtomicBool::new(false),
        }
    }

    /// A publish was dropped for a full queue; the first of an episode is logged.
    pub(super) fn note_queue_full(&self) {
        if !self.queue_full.swap(true, Ordering::AcqRel) {
            tracing::warn!(
                "the Redis publish queue is full: dropping publishes; their rooms re-read \
                 from the database once Redis keeps up"
            );
        }
    }

    /// The publisher sent a batch: an overflow episode, if any, is over.
    pub(super) fn note_queue_drained(&self) {
        if self.queue_full.swap(false, Ordering::AcqRel) {
            tracing::info!("the Redis publish queue drained");
        }
    }

    /// Both connections up.
    pub(super) fn ok(&self) -> bool {
        self.publisher_ok() && self.subscriber.load(Ordering::Acquire)
    }

    /// The subscriber's connection is up and subscribed.
    pub(super) fn subscriber_ok(&self) -> bool {
        self.subscriber.load(Ordering::Acquire)
    }

    /// The publisher's connection is up (other processes can be reached).
    pub(super) fn publisher_ok(&self) -> bool {
        self.publisher.load(Ordering::Acquire)
    }

    /// Records the publisher's state; `reason` explains a loss.
    pub(super) fn set_publisher(&self, up: bool, reason: &str) {
        self.publisher.store(up, Ordering::Release);
        self.report(reason);
    }

    /// Records the subscriber's state; `reason` explains a loss.
    pub(super) fn set_subscriber(&self, up: bool, reason: &str) {
        self.subscriber.store(up, Ordering::Release);
        self.report(reason);
    }

    fn report(&self, reason: &str) {
        let now = self.ok();
        crate::telemetry::layer_up(now);
        let mut reported = self
            .reported
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if *reported == Some(now) {
            return;
        }
        // Both connections start down: say nothing until one of them has a verdict.
        let first = reported.is_none();
        if now {
            tracing::info!(redis = %self.url, "channel layer connected to Redis");
        } else if first {
            if reason.is_empty() {
                return;
            }
            tracing::warn!(
                redis = %self.url,
                %reason,
                "Redis is unreachable: serving this process only, retrying with backoff"
            );
        } else {
            tracing::warn!(
                redis = %self.url,
                %reason,
                "lost Redis: serving this process only, retrying with backoff"
            );
        }
        *reported = Some(now);
    }

    /// Remembers that a publish to `topic` (a group topic) may not have gone out.
    pub(super) fn note_dropped(&self, topic: Option<String>) {
        if let Some(topic) = topic {
            crate::telemetry::publishes_dropped(1);
            self.dropped
                .lock()
                .unwrap_or_else(|poison| poison.into_inner())
                .insert(topic);
        }
    }

    /// The group topics to tell to resync, emptying the list.
    pub(super) fn take_dropped(&self) -> HashSet<String> {
        std::mem::take(
            &mut *self
                .dropped
                .lock()
                .unwrap_or_else(|poison| poison.into_inner()),
        )
    }
}

/// The URL without a password, for logs.
pub(super) fn redacted(url: &str) -> String {
    match url.split_once('@') {
        Some((scheme_and_auth, host)) => {
            let scheme = scheme_and_auth.split("://").next().unwrap_or("redis");
            format!("{scheme}://…@{host}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn urls_are_redacted_for_logs() {
        assert_eq!(
            redacted("redis://:secret@host:6379/0"),
            "redis://…@host:6379/0"
        );
        assert_eq!(redacted("redis://host:6379"), "redis://host:6379");
    }
}
