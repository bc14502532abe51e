//! When a sender sends: one tick per `1 / rate` seconds while the run is in its sending
//! phase, the same for every transport (the WebSocket client and the HTTP ones).

use super::client::{Phase, SenderPlan};
use std::time::{Duration, Instant};
use tokio::time::{Interval, MissedTickBehavior};

/// A sender's clock; for a client that only listens it never ticks.
pub struct SendSchedule<'a> {
    sender: Option<&'a SenderPlan>,
    /// Ticking, and until when.
    ticking: Option<(Interval, Instant)>,
    /// The number of the next message.
    next: u64,
}

impl<'a> SendSchedule<'a> {
    /// A schedule for `sender` (none: a listener).
    pub fn new(sender: Option<&'a SenderPlan>) -> Self {
        Self {
            sender,
            ticking: None,
            next: 0,
        }
    }

    /// Follows a phase change; false once the run is over.
    pub fn follow(&mut self, phase: Phase) -> bool {
        match phase {
            Phase::Running { until } => {
                if let Some(sender) = self.sender {
                    let period = Duration::from_secs_f64(1.0 / sender.rate.max(0.001));
                    // Spread senders over the period so they do not fire in lockstep.
                    let offset = period.mul_f64(f64::from(sender.id % 997) / 997.0);
                    let mut interval =
                        tokio::time::interval_at(tokio::time::Instant::now() + offset, period);
                    interval.set_missed_tick_behavior(MissedTickBehavior::Burst);
                    self.ticking = Some((interval, until));
                }
            }
            Phase::Draining => self.ticking = None,
            Phase::Done => return false,
            Phase::Connecting => {}
        }
        true
    }

    /// Waits for the next message to send: the sender and the message's number. Pending
    /// forever when not sending. Cancel-safe (only the interval's tick is awaited).
    pub async fn next(&mut self) -> (&'a SenderPlan, u64) {
        loop {
            let (Some(sender), Some((interval, until))) = (self.sender, &mut self.ticking) else {
                return std::future::pending().await;
            };
            interval.tick().await;
            if Instant::now() >= *until {
                self.ticking = None;
                continue;
            }
            let n = self.next;
            self.next += 1;
            return (sender, n);
        }
    }
}
