//! What each simulated client is asked to do and what it records: the plans, the run's
//! phases and the per-client statistics, shared by the WebSocket client, the HTTP
//! transports and the send schedule.

use hdrhistogram::Histogram;
use std::{
    net::IpAddr,
    time::{Duration, Instant},
};

/// How send times are drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arrivals {
    /// Evenly spaced, senders spread over the period.
    Uniform,
    /// Exponential gaps (Poisson arrivals).
    Poisson,
}

/// Where the run is; clients follow it through a watch channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Connecting; nobody sends yet.
    Connecting,
    /// Senders send until `until`.
    Running { until: Instant },
    /// Sending is over; deliveries may still arrive.
    Draining,
    /// Report: close and return.
    Done,
}

/// How a client follows its room.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// One WebSocket, both ways.
    Ws,
    /// Server-Sent Events down, POST up.
    Sse,
    /// `?after=&wait=25` re-sent at once, POST up.
    Longpoll,
    /// `?after=` every `--poll-interval` ms, POST up.
    Poll,
}

/// What one client does.
pub struct ClientPlan {
    /// How it follows the room.
    pub transport: Transport,
    /// Pause between short polls.
    pub poll_interval: Duration,
    /// `http://host:port` of its server.
    pub base: String,
    /// The room's slug.
    pub room: String,
    /// The room's index (for per-room totals).
    pub room_index: usize,
    /// Local address to connect from, if spreading over several.
    pub source: Option<IpAddr>,
    /// Set for senders.
    pub sender: Option<SenderPlan>,
    /// Listeners reconnect after about this long (0: never), resuming from their last
    /// message, as people's phones and laptops do.
    pub churn: Duration,
    /// How a sender's send times are drawn.
    pub arrivals: Arrivals,
    /// The session cookie of a listener with its own identity (`--typing-every-ms`).
    pub identity: Option<String>,
    /// Send `typing` this often while the run sends (`--typing-every-ms`).
    pub typing_every: Option<Duration>,
}

impl ClientPlan {
    /// The session cookie the client connects with: its sender's, or its own identity's.
    pub fn cookie(&self) -> Option<&str> {
        self.sender
            .as_ref()
            .and_then(|s| s.cookie.as_deref())
            .or(self.identity.as_deref())
    }
}

/// What a sender sends.
pub struct SenderPlan {
    /// Unique sender number (part of every client_id).
    pub id: u32,
    /// Messages per second.
    pub rate: f64,
    /// Session cookie of its guest identity (none for the bare server).
    pub cookie: Option<String>,
}

/// The fixed part of every message text, built once.
pub struct Header {
    padding: String,
}

/// Bytes of `{ts:016}-{sender:06}-{n:08} ` at the start of every text.
const STAMP: usize = 33;

impl Header {
    pub fn new(payload: usize) -> Self {
        Self {
            padding: "x".repeat(payload.saturating_sub(STAMP)),
        }
    }

    /// The text of message `n` of `sender`, stamped with the send time.
    pub fn text(&self, micros: u64, sender: u32, n: u64) -> String {
        format!("{micros:016}-{sender:06}-{n:08} {}", self.padding)
    }

    /// The whole `send` frame for message `n` of `sender`.
    pub fn frame(&self, micros: u64, sender: u32, n: u64) -> String {
        format!(
            r#"{{"type":"send","text":"{micros:016}-{sender:06}-{n:08} {}","client_id":"b{sender}-{n}"}}"#,
            self.padding
        )
    }
}

/// What one client saw.
pub struct ClientStats {
    pub room_index: usize,
    pub connected: bool,
    pub connect_micros: u64,
    pub sent: u64,
    pub received: u64,
    pub out_of_order: u64,
    pub errors: u64,
    pub closed_by_server: bool,
    pub latency: Histogram<u64>,
    pub first_error: Option<String>,
    /// Bytes received (payloads; for HTTP responses, headers too).
    pub bytes: u64,
    /// HTTP requests or connections made.
    pub requests: u64,
    last_id: i64,
}

impl ClientStats {
    /// Empty statistics for a client of room `room_index`.
    pub fn new(room_index: usize) -> Self {
        Self {
            room_index,
            connected: false,
            connect_micros: 0,
            sent: 0,
            received: 0,
            out_of_order: 0,
            errors: 0,
            closed_by_server: false,
            // 1 µs … 120 s, 3 significant figures: bounded memory per client.
            latency: Histogram::new_with_bounds(1, 120_000_000, 3)
                .expect("constant histogram bounds are valid"),
            first_error: None,
            bytes: 0,
            requests: 0,
            last_id: 0,
        }
    }

    /// One frame (WebSocket) or event (SSE).
    pub fn observe(&mut self, text: &str, epoch: Instant) {
        if text.starts_with(r#"{"type":"message""#) {
            self.observe_message(text, epoch);
        } else if text.starts_with(r#"{"type":"error""#) {
            self.errors += 1;
            if self.first_error.is_none() {
                self.first_error = Some(text.chars().take(200).collect());
            }
        }
    }
}

impl ClientStats {
    /// One message object (a frame, or an element of a poll's list): checks its id order and
    /// records the latency of benchmark messages.
    pub fn observe_message(&mut self, text: &str, epoch: Instant) {
        self.record(number_after(text, r#""id":"#), stamp(text), epoch);
    }

    /// A delivered message: its id (order check) and, for benchmark messages, its send stamp.
    pub fn record(&mut self, id: Option<i64>, sent_at: Option<u64>, epoch: Instant) {
        if let Some(id) = id {
            if id <= self.last_id {
                self.out_of_order += 1;
            } else {
                self.last_id = id;
            }
        }
        if let Some(sent_at) = sent_at {
            let now = epoch.elapsed().as_micros() as u64;
            self.latency
                .saturating_record(now.saturating_sub(sent_at).max(1));
            self.received += 1;
        }
    }

    /// The newest message id seen (for `?after=`).
    pub fn last_id(&self) -> i64 {
        self.last_id
    }
}

/// The integer after `key` in `text`.
fn number_after(text: &str, key: &str) -> Option<i64> {
    let start = text.find(key)? + key.len();
    let digits = text[start..].bytes().take_while(u8::is_ascii_digit).count();
    text[start..start + digits].parse().ok()
}

/// The send timestamp in an encoded frame's text.
fn stamp(frame: &str) -> Option<u64> {
    let start = frame.find(r#""text":""#)? + 8;
    text_stamp(frame.get(start..)?)
}

/// The send timestamp at the start of a benchmark message's text.
pub fn text_stamp(text: &str) -> Option<u64> {
    let digits = text.get(..16)?;
    if text.as_bytes().get(16) != Some(&b'-') {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_a_parseable_stamp() {
        let header = Header::new(100);
        let frame = header.frame(1_234_567, 42, 7);
        let value: serde_json::Value = serde_json::from_str(&frame).expect("valid JSON");
        let text = value["text"].as_str().expect("text");
        assert_eq!(text.len(), 100);
        let echoed = format!(
            r#"{{"type":"message","id":9,"room":"r","author":"a","text":{},"client_id":"b42-7","sent_at":"x"}}"#,
            serde_json::to_string(text).expect("json")
        );
        assert_eq!(stamp(&echoed), Some(1_234_567));
        assert_eq!(number_after(&echoed, r#""id":"#), Some(9));
        assert_eq!(stamp(r#"{"type":"message","id":1,"text":"hello"}"#), None);
    }
}
