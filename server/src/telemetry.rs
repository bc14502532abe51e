//! What Parlor counts, in one place: every metric's name and meaning, recorded through the
//! `metrics` facade where things happen and rendered for Prometheus at `/metrics`
//! ([`render`]). Recording is a few atomic operations; nothing here blocks.

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

/// The process's recorder (one per process: servers started in tests share it).
static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder once per process.
pub fn install() {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("parlor_store_batch_seconds".to_owned()),
                &[0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1.0],
            )
            .and_then(|builder| {
                builder.set_buckets_for_metric(
                    Matcher::Full("parlor_store_batch_messages".to_owned()),
                    &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0],
                )
            });
        match builder.and_then(|builder| builder.install_recorder()) {
            Ok(handle) => Some(handle),
            Err(error) => {
                tracing::warn!(%error, "metrics are off: the recorder could not be installed");
                None
            }
        }
    });
}

/// The Prometheus text exposition of every metric.
pub fn render() -> String {
    HANDLE
        .get()
        .and_then(Option::as_ref)
        .map(PrometheusHandle::render)
        .unwrap_or_default()
}

/// A connection held open, by transport (`ws`, `sse`, `longpoll`) or `http` for TCP: counted
/// in `parlor_connections` while the guard lives.
pub struct OpenConnection(&'static str);

impl OpenConnection {
    /// Counts one more open connection of `kind`.
    pub fn new(kind: &'static str) -> Self {
        gauge!("parlor_connections", "transport" => kind).increment(1.0);
        Self(kind)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        gauge!("parlor_connections", "transport" => self.0).decrement(1.0);
    }
}

/// A batch of messages committed: `parlor_messages_stored_total`, and the batch's size and
/// commit time histograms.
pub fn batch_stored(messages: usize, took: Duration) {
    counter!("parlor_messages_stored_total").increment(messages as u64);
    histogram!("parlor_store_batch_messages").record(messages as f64);
    histogram!("parlor_store_batch_seconds").record(took.as_secs_f64());
}

/// Deliveries handed to local mailboxes: `parlor_deliveries_total`.
pub fn delivered(count: usize) {
    counter!("parlor_deliveries_total").increment(count as u64);
}

/// Slow consumers dropped for a full mailbox: `parlor_mailbox_overflows_total`.
pub fn mailboxes_overflowed(count: usize) {
    counter!("parlor_mailbox_overflows_total").increment(count as u64);
}

/// A request refused by a limit: `parlor_refusals_total{reason}` (`rate_limited`,
/// `quota_exceeded`, `argon2_busy`, `connections_full`, `streams_full`, …).
pub fn refused(reason: &'static str) {
    counter!("parlor_refusals_total", "reason" => reason).increment(1);
}

/// The channel layer's state: `parlor_layer_up` (1 or 0).
pub fn layer_up(up: bool) {
    gauge!("parlor_layer_up").set(if up { 1.0 } else { 0.0 });
}

/// A (re)connection of the layer's subscriber: `parlor_layer_reconnects_total`.
pub fn layer_connected() {
    counter!("parlor_layer_reconnects_total").increment(1);
}

/// Publishes dropped (Redis away or far behind; their groups resync):
/// `parlor_layer_publishes_dropped_total`.
pub fn publishes_dropped(count: usize) {
    counter!("parlor_layer_publishes_dropped_total").increment(count as u64);
}

/// Password hashes admitted (running or queued): `parlor_argon2_queue`.
pub fn argon2_queue(depth: usize) {
    gauge!("parlor_argon2_queue").set(depth as f64);
}
