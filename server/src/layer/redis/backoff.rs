//! Reconnect delays: exponential, capped, with jitter so a fleet does not reconnect in
//! lockstep.

use std::time::Duration;

/// Retry delays: from the first to the longest.
const FIRST_RETRY: Duration = Duration::from_millis(100);
const LONGEST_RETRY: Duration = Duration::from_secs(5);

/// Exponential backoff with ±25 % jitter.
pub(super) struct Backoff {
    /// The delay before jitter that the next call returns.
    next: Duration,
}

impl Backoff {
    /// Starts at the first (shortest) delay.
    pub(super) fn new() -> Self {
        Self { next: FIRST_RETRY }
    }

    /// Back to the shortest delay (after a success).
    pub(super) fn reset(&mut self) {
        self.next = FIRST_RETRY;
    }

    /// The delay to wait now; the following one doubles, up to the longest.
    pub(super) fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(LONGEST_RETRY);
        let mut byte = [0u8; 1];
        let jitter = if getrandom::fill(&mut byte).is_ok() {
            f64::from(byte[0]) / 255.0 * 0.5 + 0.75
        } else {
            1.0
        };
        delay.mul_f64(jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_to_a_cap_and_reset() {
        let mut backoff = Backoff::new();
        let first = backoff.next_delay();
        assert!(first <= FIRST_RETRY.mul_f64(1.25) && first >= FIRST_RETRY.mul_f64(0.75));
        for _ in 0..20 {
            assert!(backoff.next_delay() <= LONGEST_RETRY.mul_f64(1.25));
        }
        backoff.reset();
        assert!(backoff.next_delay() <= FIRST_RETRY.mul_f64(1.25));
    }
}
