//! Typing indicators: relayed, never stored, at most once per [`TYPING_RELAY_MS`] per user
//! and room on a process (clients send every 2 s while typing; the indicator shows for 5 s,
//! so every other frame is enough). Anything faster is dropped without a word (a client that types is
//! not misbehaving, and an answer would cost more than the relay).
//!
//! Relayed frames wait in [`PendingTyping`] until their room's next message batch carries
//! them (no extra wake-up for any member) or, in a quiet room, until the presence task's
//! deadline for the room sends them on their own.

use crate::layer::Frame;
use app::protocol::TYPING_RELAY_MS;
use std::{collections::HashMap, sync::Mutex, time::Duration};
use tokio::time::Instant;

/// Typing frames waiting to be relayed, per room (slug), with when each room's are due.
/// Shared by the presence task, which sends a room's when they are due, and the message
/// writer, which sends them along with the room's next messages: in a busy room typing
/// then costs members no write of its own.
#[derive(Default)]
pub struct PendingTyping {
    rooms: Mutex<HashMap<String, (Instant, Vec<Frame>)>>,
}

impl PendingTyping {
    fn rooms(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Vec<Frame>)>> {
        self.rooms
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Adds a frame for `room`; a room's first frame sets its deadline to `due`.
    pub fn push(&self, room: &str, frame: Frame, due: Instant) {
        let mut rooms = self.rooms();
        match rooms.get_mut(room) {
            Some((_, frames)) => frames.push(frame),
            None => {
                rooms.insert(room.to_owned(), (due, vec![frame]));
            }
        }
    }

    /// Takes what waits for `room` (to send with its messages).
    pub fn take(&self, room: &str) -> Option<Vec<Frame>> {
        let mut rooms = self.rooms();
        if rooms.is_empty() {
            return None;
        }
        rooms.remove(room).map(|(_, frames)| frames)
    }

    /// Takes every room's frames that are due at `now` (or all of them).
    pub fn take_due(&self, now: Instant, all: bool) -> Vec<(String, Vec<Frame>)> {
        let mut rooms = self.rooms();
        let due: Vec<String> = rooms
            .iter()
            .filter(|(_, (at, _))| all || *at <= now)
            .map(|(room, _)| room.clone())
            .collect();
        due.into_iter()
            .filter_map(|room| rooms.remove(&room).map(|(_, frames)| (room, frames)))
            .collect()
    }

    /// Whether nothing waits (the presence task then stops ticking for typing).
    pub fn is_empty(&self) -> bool {
        self.rooms().is_empty()
    }
}

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

    #[test]
    fn pending_typing_goes_with_a_message_or_when_due() {
        let pending = PendingTyping::default();
        let now = Instant::now();
        let frame = |s: &str| Frame::from(s.to_owned());
        pending.push("a", frame("1"), now + Duration::from_millis(500));
        pending.push("a", frame("2"), now);
        pending.push("b", frame("3"), now + Duration::from_millis(100));
        assert_eq!(
            pending.take("a").map(|f| f.len()),
            Some(2),
            "a message takes both"
        );
        assert!(pending.take("a").is_none());
        assert!(pending.take_due(now, false).is_empty(), "b is not due yet");
        let due = pending.take_due(now + Duration::from_millis(100), false);
        assert_eq!(due.len(), 1);
        assert!(pending.is_empty());
    }
}
