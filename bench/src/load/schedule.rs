//! When a sender sends, the same for every transport (the WebSocket client and the HTTP ones).
//!
//! Two arrival models, both at `rate` messages per second per sender on average:
//! - `uniform` (the default): one message every `1 / rate` seconds, each sender starting at
//!   its own point of the period. The starting points follow the golden-ratio sequence
//!   (`frac(id × 0.618…)`), which spreads any number of senders evenly over the whole period:
//!   a crowd does not send in lockstep, and a server is not handed ready-made bursts to batch.
//! - `poisson`: independent exponential gaps with mean `1 / rate` (a memoryless crowd): the
//!   same average load with the clumps and lulls real arrivals have.

pub use super::plan::Arrivals;
use super::plan::{Phase, SenderPlan};
use std::time::{Duration, Instant};

/// The golden ratio's fractional part: consecutive multiples mod 1 fill [0, 1) evenly.
const GOLDEN: f64 = 0.618_033_988_749_895;

/// Where sender `id` starts within the period, as a fraction of it.
pub fn phase_of(id: u32) -> f64 {
    (f64::from(id) * GOLDEN).fract()
}

/// A sender's clock; for a client that only listens it never ticks.
pub struct SendSchedule<'a> {
    sender: Option<&'a SenderPlan>,
    arrivals: Arrivals,
    /// When the next message is due, and until when sending lasts.
    ticking: Option<(tokio::time::Instant, Instant)>,
    /// The number of the next message.
    next: u64,
    /// The Poisson draws' generator (xorshift, seeded by the sender's id: runs repeat).
    random: u64,
}

impl<'a> SendSchedule<'a> {
    /// A schedule for `sender` (none: a listener).
    pub fn new(sender: Option<&'a SenderPlan>, arrivals: Arrivals) -> Self {
        let seed = sender.map_or(1, |s| {
            u64::from(s.id)
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .wrapping_add(1)
        });
        Self {
            sender,
            arrivals,
            ticking: None,
            next: 0,
            random: seed | 1,
        }
    }

    /// Follows a phase change; false once the run is over.
    pub fn follow(&mut self, phase: Phase) -> bool {
        match phase {
            Phase::Running { until } => {
                if let Some(sender) = self.sender {
                    let period = self.period(sender);
                    let first = match self.arrivals {
                        Arrivals::Uniform => period.mul_f64(phase_of(sender.id)),
                        Arrivals::Poisson => self.gap(period),
                    };
                    self.ticking = Some((tokio::time::Instant::now() + first, until));
                }
            }
            Phase::Draining => self.ticking = None,
            Phase::Done => return false,
            Phase::Connecting => {}
        }
        true
    }

    /// Waits for the next message to send: the sender and the message's number. Pending
    /// forever when not sending. Cancel-safe (only a sleep is awaited; the due time is kept).
    pub async fn next(&mut self) -> (&'a SenderPlan, u64) {
        loop {
            let (Some(sender), Some((due, until))) = (self.sender, self.ticking) else {
                return std::future::pending().await;
            };
            tokio::time::sleep_until(due).await;
            if Instant::now() >= until {
                self.ticking = None;
                continue;
            }
            let period = self.period(sender);
            let gap = match self.arrivals {
                Arrivals::Uniform => period,
                Arrivals::Poisson => self.gap(period),
            };
            // Due times advance from the schedule, not from now: a late tick is followed by
            // the next on time (no drift, no make-up burst beyond what was missed).
            self.ticking = Some((due + gap, until));
            let n = self.next;
            self.next += 1;
            return (sender, n);
        }
    }

    fn period(&self, sender: &SenderPlan) -> Duration {
        Duration::from_secs_f64(1.0 / sender.rate.max(0.001))
    }

    /// An exponential gap with mean `period`.
    fn gap(&mut self, period: Duration) -> Duration {
        self.random ^= self.random << 13;
        self.random ^= self.random >> 7;
        self.random ^= self.random << 17;
        // A uniform draw in (0, 1]: never 0, so the logarithm is finite.
        let uniform = ((self.random >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
        period.mul_f64(-uniform.ln())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hundred_senders_cover_the_whole_period() {
        let mut phases: Vec<f64> = (0..100).map(phase_of).collect();
        phases.sort_by(f64::total_cmp);
        // Every tenth of the period holds some senders, and none holds many.
        for decile in 0..10 {
            let lo = f64::from(decile) / 10.0;
            let inside = phases
                .iter()
                .filter(|p| **p >= lo && **p < lo + 0.1)
                .count();
            assert!((7..=13).contains(&inside), "decile {decile}: {inside}");
        }
    }

    #[test]
    fn poisson_gaps_average_the_period() {
        let plan = SenderPlan {
            id: 7,
            rate: 10.0,
            cookie: None,
        };
        let mut schedule = SendSchedule::new(Some(&plan), Arrivals::Poisson);
        let period = Duration::from_millis(100);
        let total: f64 = (0..20_000)
            .map(|_| schedule.gap(period).as_secs_f64())
            .sum();
        let mean = total / 20_000.0;
        assert!((mean - 0.1).abs() < 0.005, "mean gap {mean}");
    }
}
