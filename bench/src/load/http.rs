//! Clients of the HTTP transports: Server-Sent Events, long polling or short polling to
//! receive, POST to send. They count the bytes the transport costs: response headers and
//! bodies for polls, the raw event stream for SSE.

use super::plan::{text_stamp, ClientPlan, ClientStats, Header, Phase, Transport};
use super::schedule::SendSchedule;
use app::protocol::{ChatMessage, SendRequest};
use futures::StreamExt;
use std::{sync::OnceLock, time::Instant};
use tokio::sync::watch;

/// Seconds a long poll waits on the server.
const LONG_POLL_WAIT_S: u64 = 25;

/// One HTTP client (and connection pool) for every simulated client.
fn http() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .pool_max_idle_per_host(usize::MAX)
            .tcp_nodelay(true)
            .build()
            .unwrap_or_default()
    })
}

/// Bytes of a response's status line and headers.
fn head_bytes(response: &reqwest::Response) -> u64 {
    let headers: usize = response
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    (headers + 19) as u64
}

/// Runs one HTTP client until the run is done.
pub async fn run(
    plan: ClientPlan,
    mut phase: watch::Receiver<Phase>,
    epoch: Instant,
    header: std::sync::Arc<Header>,
) -> ClientStats {
    let mut stats = ClientStats::new(plan.room_index);
    let mut sent = 0;
    let mut closed = false;
    {
        let receive = receive(&plan, &mut stats, epoch);
        tokio::pin!(receive);
        let mut schedule = SendSchedule::new(plan.sender.as_ref(), plan.arrivals);
        loop {
            tokio::select! {
                changed = phase.changed() => {
                    if changed.is_err() || !schedule.follow(*phase.borrow()) {
                        break;
                    }
                }
                (sender, n) = schedule.next() => {
                    let micros = epoch.elapsed().as_micros() as u64;
                    let body = SendRequest {
                        text: header.text(micros, sender.id, n),
                        client_id: Some(format!("b{}-{n}", sender.id)),
                        reply_to: None,
                    };
                    let mut request = http()
                        .post(format!("{}/api/rooms/{}/messages", plan.base, plan.room))
                        .json(&body);
                    if let Some(cookie) = &sender.cookie {
                        request = request.header("cookie", cookie);
                    }
                    match request.send().await {
                        Ok(response) if response.status().is_success() => sent += 1,
                        Ok(_) | Err(_) => {}
                    }
                }
                () = &mut receive => {
                    closed = true;
                    break;
                }
            }
        }
    }
    stats.sent = sent;
    stats.closed_by_server |= closed;
    stats
}

/// Receives until the connection fails; returns then (the run goes on without it).
async fn receive(plan: &ClientPlan, stats: &mut ClientStats, epoch: Instant) {
    let started = Instant::now();
    let outcome = match plan.transport {
        Transport::Sse => stream_events(plan, stats, epoch, started).await,
        Transport::Longpoll => poll(plan, stats, epoch, started, true).await,
        Transport::Poll | Transport::Ws => poll(plan, stats, epoch, started, false).await,
    };
    if let Err(error) = outcome {
        if stats.first_error.is_none() {
            stats.first_error = Some(error);
        }
    }
}

fn connected(stats: &mut ClientStats, started: Instant) {
    if !stats.connected {
        stats.connected = true;
        stats.connect_micros = started.elapsed().as_micros() as u64;
    }
}

async fn stream_events(
    plan: &ClientPlan,
    stats: &mut ClientStats,
    epoch: Instant,
    started: Instant,
) -> Result<(), String> {
    let url = format!("{}/api/rooms/{}/events", plan.base, plan.room);
    stats.requests += 1;
    let response = http().get(url).send().await.map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("events: {}", response.status()));
    }
    stats.bytes += head_bytes(&response);
    connected(stats, started);
    let mut body = response.bytes_stream();
    let mut buffer = String::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| e.to_string())?;
        stats.bytes += chunk.len() as u64;
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            for line in block.lines() {
                if let Some(data) = line.strip_prefix("data: ") {
                    stats.observe(data, epoch);
                }
            }
        }
    }
    Err("the event stream ended".to_owned())
}

async fn poll(
    plan: &ClientPlan,
    stats: &mut ClientStats,
    epoch: Instant,
    started: Instant,
    long: bool,
) -> Result<(), String> {
    loop {
        let mut url = format!(
            "{}/api/rooms/{}/messages?after={}",
            plan.base,
            plan.room,
            stats.last_id()
        );
        if long {
            url.push_str(&format!("&wait={LONG_POLL_WAIT_S}"));
        }
        stats.requests += 1;
        let response = http().get(url).send().await.map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("poll: {}", response.status()));
        }
        stats.bytes += head_bytes(&response);
        connected(stats, started);
        let body = response.bytes().await.map_err(|e| e.to_string())?;
        stats.bytes += body.len() as u64;
        let messages: Vec<ChatMessage> =
            serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        for message in messages {
            stats.record(Some(message.id), text_stamp(&message.text), epoch);
        }
        if !long {
            tokio::time::sleep(plan.poll_interval).await;
        }
    }
}
