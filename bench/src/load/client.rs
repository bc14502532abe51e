//! One simulated client: a WebSocket that records what it receives and, for senders, sends
//! timestamped messages at a fixed rate while the run lasts.
//!
//! Receiving is the hot path (every message reaches every member), so frames are not decoded:
//! the client checks the frame's leading type, reads the message id (to catch duplicates and
//! reordering) and the send timestamp at the start of the text, and records the latency.

use super::plan::{ClientPlan, ClientStats, Header, Phase, Transport};
use super::schedule::SendSchedule;
use futures::{SinkExt, StreamExt};
use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};
use tokio::{net::TcpSocket, sync::watch};
use tokio_tungstenite::{
    tungstenite::{
        client::IntoClientRequest, http::HeaderValue, protocol::WebSocketConfig, Message,
    },
    WebSocketStream,
};

type Socket = WebSocketStream<tokio::net::TcpStream>;

async fn connect(plan: &ClientPlan, after: Option<i64>) -> Result<Socket, String> {
    let resume = after.map(|id| format!("?after={id}")).unwrap_or_default();
    let url = format!(
        "{}/ws/rooms/{}{resume}",
        plan.base
            .replacen("http://", "ws://", 1)
            .replacen("https://", "wss://", 1),
        plan.room
    );
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| e.to_string())?;
    let headers = request.headers_mut();
    headers.insert(
        "origin",
        HeaderValue::from_str(&plan.base).map_err(|e| e.to_string())?,
    );
    if let Some(cookie) = plan.cookie() {
        headers.insert(
            "cookie",
            HeaderValue::from_str(cookie).map_err(|e| e.to_string())?,
        );
    }
    let authority = plan
        .base
        .split("://")
        .nth(1)
        .ok_or_else(|| format!("bad URL {}", plan.base))?;
    let server: SocketAddr = tokio::net::lookup_host(authority)
        .await
        .map_err(|e| e.to_string())?
        .next()
        .ok_or_else(|| format!("cannot resolve {authority}"))?;
    let socket = if server.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(|e| e.to_string())?;
    if let Some(source) = plan.source {
        socket
            .bind(SocketAddr::new(source, 0))
            .map_err(|e| format!("bind {source}: {e}"))?;
    }
    let stream = socket
        .connect(server)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    // Small buffers: tens of thousands of these share the machine with the server.
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let (socket, _) = tokio_tungstenite::client_async_with_config(request, stream, Some(config))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    Ok(socket)
}

/// Runs one client until the run is done.
pub async fn run(
    plan: ClientPlan,
    phase: watch::Receiver<Phase>,
    epoch: Instant,
    header: std::sync::Arc<Header>,
) -> ClientStats {
    match plan.transport {
        Transport::Ws => run_websocket(plan, phase, epoch, header).await,
        _ => super::http::run(plan, phase, epoch, header).await,
    }
}

async fn run_websocket(
    plan: ClientPlan,
    mut phase: watch::Receiver<Phase>,
    epoch: Instant,
    header: std::sync::Arc<Header>,
) -> ClientStats {
    let mut stats = ClientStats::new(plan.room_index);
    let mut schedule = SendSchedule::new(plan.sender.as_ref(), plan.arrivals);
    let mut resume = None;
    loop {
        stats.requests += 1;
        let started = Instant::now();
        let socket = match connect(&plan, resume).await {
            Ok(socket) => socket,
            Err(error) => {
                stats.first_error.get_or_insert(error);
                return stats;
            }
        };
        if !stats.connected {
            stats.connected = true;
            stats.connect_micros = started.elapsed().as_micros() as u64;
        }
        let lifetime = lifetime(&plan);
        let more = serve(
            socket,
            &mut stats,
            &mut schedule,
            &mut phase,
            epoch,
            &header,
            lifetime,
            plan.typing_every,
        )
        .await;
        if !more {
            return stats;
        }
        // Churn: come back from the last message seen; nothing may be missed.
        resume = Some(stats.last_id());
    }
}

/// How long a listener stays connected before it churns (`None`: until the run ends).
fn lifetime(plan: &ClientPlan) -> Option<Duration> {
    if plan.churn.is_zero() || plan.sender.is_some() {
        return None;
    }
    let mut byte = [0u8; 1];
    let fraction = match getrandom::fill(&mut byte) {
        Ok(()) => 0.5 + f64::from(byte[0]) / 255.0,
        Err(_) => 1.0,
    };
    Some(plan.churn.mul_f64(fraction))
}

/// One connection's life; true when the client should reconnect (churn), false when done.
#[allow(clippy::too_many_arguments)]
async fn serve(
    socket: Socket,
    stats: &mut ClientStats,
    schedule: &mut SendSchedule<'_>,
    phase: &mut watch::Receiver<Phase>,
    epoch: Instant,
    header: &Header,
    lifetime: Option<Duration>,
    typing_every: Option<Duration>,
) -> bool {
    let (mut sink, mut stream) = socket.split();
    // Typing at a random phase of its period, as a crowd types (only while the run sends).
    let mut typing = typing_every.map(|every| {
        let mut byte = [0u8; 2];
        let fraction = match getrandom::fill(&mut byte) {
            Ok(()) => f64::from(u16::from_le_bytes(byte)) / f64::from(u16::MAX),
            Err(_) => 0.5,
        };
        tokio::time::interval_at(tokio::time::Instant::now() + every.mul_f64(fraction), every)
    });
    let churn = async {
        match lifetime {
            Some(lifetime) => tokio::time::sleep(lifetime).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(churn);
    let again = loop {
        tokio::select! {
            changed = phase.changed() => {
                if changed.is_err() || !schedule.follow(*phase.borrow()) {
                    break false;
                }
            }
            () = &mut churn => break !matches!(*phase.borrow(), Phase::Done),
            _ = async {
                match typing.as_mut() {
                    Some(interval) => interval.tick().await,
                    None => std::future::pending().await,
                }
            } => {
                if matches!(*phase.borrow(), Phase::Running { .. })
                    && sink.send(Message::text(r#"{"type":"typing"}"#)).await.is_err()
                {
                    stats.closed_by_server = true;
                    break false;
                }
            }
            (sender, n) = schedule.next() => {
                let micros = epoch.elapsed().as_micros() as u64;
                let frame = header.frame(micros, sender.id, n);
                if sink.send(Message::text(frame)).await.is_err() {
                    stats.closed_by_server = true;
                    break false;
                }
                stats.sent += 1;
            }
            message = stream.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    stats.bytes += text.len() as u64 + if text.len() > 125 { 4 } else { 2 };
                    stats.observe(text.as_str(), epoch);
                }
                Some(Ok(Message::Close(frame))) => {
                    stats.closed_by_server = true;
                    stats.first_error.get_or_insert(format!("closed by the server: {frame:?}"));
                    break false;
                }
                Some(Ok(_)) => {}
                Some(Err(error)) => {
                    stats.closed_by_server = true;
                    stats.first_error.get_or_insert(error.to_string());
                    break false;
                }
                None => {
                    stats.closed_by_server = true;
                    break false;
                }
            },
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
    again
}
