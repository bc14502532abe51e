//! Expired sessions are deleted now and then by a background task that the running server
//! owns. tower-sessions' own loop stops for good on its first error (a locked database, a
//! full disk); this one logs and tries again at the next tick.

use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tower_sessions::session_store::ExpiredDeletion;

/// Deletes expired sessions every `every` until `stop` is cancelled.
pub async fn sweep_expired<S: ExpiredDeletion>(store: S, every: Duration, stop: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {
                if let Err(error) = store.delete_expired().await {
                    tracing::warn!(%error, "deleting expired sessions failed; retrying later");
                }
            }
        }
    }
}
