//! Typing indicators: relayed, never stored, at most once per [`TYPING_RELAY_MS`] per user
//! and room on a process (clients send every 2 s while typing; the indicator shows for 5 s,
//! so every other frame is enough). Anything faster is dropped without a word (a client that types is
//! not misbehaving, and an answer would cost more than the relay).

use app::protocol::TYPING_RELAY_MS;
use std::{collections::HashMap, sync::Mutex, time::Duration};
use tokio::time::Instant;

/// Entries beyond which the throttle forgets the ones that no longer matter.
const PRUNE_AT: usize = 4_096;

/// The per-process throttle.
#[derive(Default)]
pub struct TypingThrottle {
    last: Mutex<HashMap<(i64, i64), Instant>>,
}

impl TypingThrottle {
    /// Whether `user_id` may be relayed as typing in `room_id` now (and records it if so).
    pub fn allow(&self, room_id: i64, user_id: i64) -> bool {
        let every = Duration::from_millis(u64::from(TYPING_RELAY_MS));
        let now = Instant::now();
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if last.len() >= PRUNE_AT {
            last.retain(|_, at| now.duration_since(*at) < every);
        }
        match last.get(&(room_id, user_id)) {
            // A little slack: a client timing its frames at exactly the interval is allowed.
            Some(at) if now.duration_since(*at) + Duration::from_millis(100) < every => false,
            _ => {
                last.insert((room_id, user_id), now);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_relay_per_interval_per_user_and_room() {
        let throttle = TypingThrottle::default();
        assert!(throttle.allow(1, 7));
        assert!(!throttle.allow(1, 7), "too soon");
        assert!(throttle.allow(1, 8), "another user");
        assert!(throttle.allow(2, 7), "another room");
    }
}
