//! Parlor's accept loop: hyper's connection builder with a timer, so the limits that a bare
//! `axum::serve` leaves off apply to every connection:
//! - a client must send its request headers within the header timeout, and a kept-alive
//!   connection that stays idle that long is closed (hyper starts the same timer whenever a
//!   connection waits for its next request): half a request line holds nothing for long;
//! - header bytes are capped ([`MAX_HEADER_BUFFER`]);
//! - writes that make no progress for the stall limit fail ([`StallGuard`]): a client that
//!   stops reading loses its connection, whatever runs on it;
//! - connections are counted per client address and in total ([`Gate`]); one over either cap
//!   gets a short 429 or 503 with `Retry-After` and is closed.
//!
//! Every connection task lives in one `JoinSet`: shutdown asks them to finish (hyper's
//! graceful shutdown), and whatever is left at the deadline is aborted with the set.

use super::{
    gate::{Full, Gate, Pass},
    stall::StallGuard,
};
use axum::{extract::ConnectInfo, Router};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto::Builder, graceful::GracefulShutdown},
    service::TowerToHyperService,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::{io::AsyncWriteExt, net::TcpListener, net::TcpStream, task::JoinSet};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// The largest read buffer of an HTTP/1 connection, and so the most header bytes a request
/// may carry (hyper's default is ~400 KiB).
const MAX_HEADER_BUFFER: usize = 64 * 1024;
/// Refusals written at once at most; past this, a refused connection is simply closed.
const MAX_REFUSING: usize = 256;
/// How long a refusal may take to write.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(2);

/// A TCP connection's slot in the gate, shared with the requests on it (a WebSocket
/// handshake keeps it for the socket's life).
#[derive(Clone)]
pub struct ConnectionSlot(#[allow(dead_code)] Arc<Pass>);

/// The limits of every connection.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// Time to send the request headers, and to stay idle between requests.
    pub header_timeout: Duration,
    /// Time a write may wait without progress before the connection is dropped.
    pub stall_timeout: Duration,
}

/// Stops the loop in two steps: `stop` stops accepting and asks connections to finish;
/// `cut_off` aborts those still open.
#[derive(Clone, Debug, Default)]
pub struct Stopping {
    /// Stop accepting; graceful shutdown of open connections.
    pub stop: CancellationToken,
    /// Abort what is still open.
    pub cut_off: CancellationToken,
}

/// Serves `app` on `listener` until stopped.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    gate: Gate,
    limits: ConnectionLimits,
    stopping: Stopping,
) {
    let builder = builder(limits);
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            () = stopping.stop.cancelled() => break,
            accepted = listener.accept() => accepted,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of descriptors, or a connection reset before we took it: not fatal.
                tracing::debug!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let pass = match gate.enter(Some(peer.ip())) {
            Ok(pass) => pass,
            Err(full) => {
                crate::telemetry::refused(match full {
                    Full::Total => "connections_full",
                    Full::PerAddress => "connections_per_ip",
                });
                if connections.len() < gate.in_use() + MAX_REFUSING {
                    connections.spawn(refuse(tcp, full));
                }
                continue;
            }
        };
        if let Err(error) = tcp.set_nodelay(true) {
            // Small frames must leave at once: without TCP_NODELAY, Nagle's algorithm and
            // delayed ACKs add up to 40 ms to a delivery.
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
        let io = TokioIo::new(StallGuard::new(tcp, limits.stall_timeout));
        // An upgraded connection (a WebSocket) outlives hyper's connection task: its
        // handler keeps a clone of the slot for as long as the socket is open.
        let pass = ConnectionSlot(Arc::new(pass));
        let held = pass.clone();
        let service = app
            .clone()
            .map_request(move |mut request: hyper::Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request.extensions_mut().insert(held.clone());
                request
            });
        let connection = builder
            .serve_connection_with_upgrades(io, TowerToHyperService::new(service))
            .into_owned();
        let watched = graceful.watch(connection);
        connections.spawn(async move {
            let _open = crate::telemetry::OpenConnection::new("http");
            if let Err(error) = watched.await {
                tracing::debug!(%error, "connection ended with an error");
            }
            drop(pass);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = stopping.cut_off.cancelled() => {}
    }
    // Dropping the set aborts whatever is still running.
    connections.abort_all();
    while connections.join_next().await.is_some() {}
}

fn builder(limits: ConnectionLimits) -> Builder<TokioExecutor> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_HEADER_BUFFER);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(limits.header_timeout))
        .keep_alive_timeout(limits.header_timeout);
    builder
}

/// Answers a connection over a cap with a short error and closes it.
async fn refuse(mut tcp: TcpStream, full: Full) {
    let (status, code, message) = match full {
        Full::Total => (
            "503 Service Unavailable",
            "overloaded",
            "The server is at its connection limit; retry shortly.",
        ),
        Full::PerAddress => (
            "429 Too Many Requests",
            "rate_limited",
            "Too many connections from your address; close some and retry.",
        ),
    };
    let body = format!(r#"{{"error":{{"code":"{code}","message":"{message}"}}}}"#);
    let response = format!(
        "HTTP/1.1 {status}\r\nretry-after: 5\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let write = async {
        tcp.write_all(response.as_bytes()).await?;
        tcp.shutdown().await
    };
    let _ = tokio::time::timeout(REFUSAL_TIMEOUT, write).await;
}

/// The total connection cap: `wanted`, or less if the process may not open that many
/// descriptors (the soft limit is raised to the hard one first). A margin stays free for
/// the database, Redis, log files and accept itself.
pub fn connection_cap(wanted: usize) -> usize {
    const RESERVED: u64 = 128;
    let allowed = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(error) => {
            tracing::warn!(%error, "cannot read the open-file limit; keeping --max-connections");
            return wanted;
        }
    };
    let fit = usize::try_from(allowed.saturating_sub(RESERVED).max(16)).unwrap_or(usize::MAX);
    if fit < wanted {
        tracing::info!(
            open_files = allowed,
            connections = fit,
            "the open-file limit caps connections below --max-connections"
        );
    }
    wanted.min(fit)
}
