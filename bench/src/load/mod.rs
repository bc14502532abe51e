//! The load generator: set up rooms and senders, connect every client at a steady rate,
//! send for a while, drain, and report.

mod client;
mod http;
mod plan;
mod procstat;
mod report;
mod schedule;
mod setup;

use hdrhistogram::Histogram;
use plan::{ClientPlan, ClientStats, Phase, SenderPlan};
use std::{
    net::{IpAddr, Ipv4Addr},
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::sync::watch;

/// `bench load` flags.
#[derive(clap::Args, Clone, Debug)]
pub struct Options {
    /// Server base URL, e.g. `http://127.0.0.1:3000` (repeatable: clients are spread
    /// round-robin over the URLs, so several processes can be loaded at once).
    #[arg(long = "url", required = true)]
    pub urls: Vec<String>,
    /// Rooms to create and fill.
    #[arg(long, default_value_t = 20)]
    pub rooms: usize,
    /// WebSocket clients per room (senders included).
    #[arg(long, default_value_t = 50)]
    pub clients_per_room: usize,
    /// Clients per room that also send.
    #[arg(long, default_value_t = 5)]
    pub senders_per_room: usize,
    /// Messages per second per sender.
    #[arg(long, default_value_t = 2.0)]
    pub rate: f64,
    /// Seconds of sending (with no senders: seconds to hold the connections open).
    #[arg(long, default_value_t = 20.0)]
    pub duration: f64,
    /// New connections per second while connecting.
    #[arg(long, default_value_t = 1000.0)]
    pub connect_rate: f64,
    /// Bytes of text per message (at least the 33-byte timestamp header).
    #[arg(long, default_value_t = 100)]
    pub payload: usize,
    /// A server process to sample RSS and CPU of, from /proc (repeatable).
    #[arg(long = "server-pid")]
    pub server_pids: Vec<u32>,
    /// Spread connections over source addresses 127.0.0.1 … 127.0.0.N (more ephemeral ports
    /// for tens of thousands of sockets).
    #[arg(long, default_value_t = 1)]
    pub source_ips: u8,
    /// The target is `bench bare`: no rooms or sessions to set up.
    #[arg(long)]
    pub bare: bool,
    /// Seconds to wait after the last send for deliveries still on their way.
    #[arg(long, default_value_t = 5.0)]
    pub drain: f64,
    /// A name for this run in the report.
    #[arg(long, default_value = "load")]
    pub label: String,
    /// How clients follow their room (senders post over HTTP unless it is `ws`).
    #[arg(long, value_enum, default_value = "ws")]
    pub transport: plan::Transport,
    /// Milliseconds between two short polls (`--transport poll`).
    #[arg(long, default_value_t = 1000)]
    pub poll_interval: u64,
    /// WebSocket listeners reconnect about every this many seconds (0: never), resuming
    /// from their last message (a soak's churn).
    #[arg(long, default_value_t = 0.0)]
    pub churn: f64,
    /// How senders' send times are drawn: evenly spread over each period (`uniform`), or
    /// exponential gaps (`poisson`).
    #[arg(long, value_enum, default_value = "uniform")]
    pub arrivals: schedule::Arrivals,
    /// Seconds between samples of the servers' memory and open descriptors during the run
    /// (0: none); they appear in the report.
    #[arg(long, default_value_t = 0.0)]
    pub sample_every: f64,
    /// Every WebSocket client gets its own guest identity (so it is present in its room)
    /// and sends `{"type":"typing"}` every this many milliseconds while the run sends
    /// (0: listeners stay anonymous and silent). Measures what presence and typing cost.
    #[arg(long, default_value_t = 0)]
    pub typing_every_ms: u64,
}

/// Runs one load test and prints its report.
pub async fn run(options: Options) -> Result<(), String> {
    if options.rooms == 0 || options.clients_per_room == 0 {
        return Err("need at least one room and one client per room".to_owned());
    }
    if options.senders_per_room > options.clients_per_room {
        return Err("--senders-per-room cannot exceed --clients-per-room".to_owned());
    }
    let urls: Vec<String> = options
        .urls
        .iter()
        .map(|u| u.trim_end_matches('/').to_owned())
        .collect();
    let before = procstat::sample(&options.server_pids);

    let plan = setup::prepare(&options, &urls).await?;
    let epoch = Instant::now();
    let (phase_tx, phase_rx) = watch::channel(Phase::Connecting);
    let header = Arc::new(plan::Header::new(options.payload));

    // Connect at the requested rate, round-robin over URLs and source addresses.
    let connect_started = Instant::now();
    let mut tasks = Vec::with_capacity(options.rooms * options.clients_per_room);
    let gap = Duration::from_secs_f64(1.0 / options.connect_rate.max(1.0));
    let mut next_connect = tokio::time::Instant::now();
    let mut n = 0usize;
    for (room_index, room) in plan.rooms.iter().enumerate() {
        for member in 0..options.clients_per_room {
            let sender = (member < options.senders_per_room).then(|| SenderPlan {
                id: (room_index * options.senders_per_room + member) as u32,
                rate: options.rate,
                cookie: plan
                    .sender_cookies
                    .get(room_index * options.senders_per_room + member)
                    .cloned()
                    .flatten(),
            });
            let identity = plan
                .listener_cookies
                .get(room_index * options.clients_per_room + member)
                .cloned()
                .flatten();
            let client = ClientPlan {
                identity,
                typing_every: (options.typing_every_ms > 0)
                    .then(|| Duration::from_millis(options.typing_every_ms)),
                transport: options.transport,
                poll_interval: Duration::from_millis(options.poll_interval),
                base: urls[n % urls.len()].clone(),
                room: room.clone(),
                room_index,
                source: source_ip(n, options.source_ips),
                sender,
                churn: Duration::from_secs_f64(options.churn.max(0.0)),
                arrivals: options.arrivals,
            };
            n += 1;
            tokio::time::sleep_until(next_connect).await;
            next_connect += gap;
            tasks.push(tokio::spawn(client::run(
                client,
                phase_rx.clone(),
                epoch,
                header.clone(),
            )));
        }
    }
    // Let the last handshakes finish before measuring anything.
    let connected_by = connect_started.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let connected = procstat::sample(&options.server_pids);

    let run_started = Instant::now();
    let _ = phase_tx.send(Phase::Running {
        until: run_started + Duration::from_secs_f64(options.duration),
    });
    let samples = sample_during(&options, Duration::from_secs_f64(options.duration)).await;
    let cpu_window = run_started.elapsed();
    let after_run = procstat::sample(&options.server_pids);
    let _ = phase_tx.send(Phase::Draining);
    tokio::time::sleep(Duration::from_secs_f64(options.drain)).await;
    let _ = phase_tx.send(Phase::Done);

    let mut stats = Vec::with_capacity(tasks.len());
    for task in tasks {
        match task.await {
            Ok(client) => stats.push(client),
            Err(error) => return Err(format!("a client task failed: {error}")),
        }
    }
    let totals = Totals::from_clients(&stats, options.rooms)?;
    let mut report = report::Report::new(
        &options,
        &totals,
        connected_by,
        cpu_window,
        &before,
        &connected,
        &after_run,
    );
    report.add_samples(&samples);
    report.print();
    Ok(())
}

/// Sleeps through the run, sampling the servers every `--sample-every` seconds.
async fn sample_during(options: &Options, run: Duration) -> Vec<procstat::Sample> {
    let mut samples = Vec::new();
    if options.sample_every <= 0.0 {
        tokio::time::sleep(run).await;
        return samples;
    }
    let every = Duration::from_secs_f64(options.sample_every);
    let started = Instant::now();
    loop {
        samples.push(procstat::Sample::take(
            started.elapsed(),
            &options.server_pids,
        ));
        let left = run.saturating_sub(started.elapsed());
        if left.is_zero() {
            return samples;
        }
        tokio::time::sleep(left.min(every)).await;
    }
}

fn source_ip(n: usize, spread: u8) -> Option<IpAddr> {
    (spread > 1).then(|| {
        IpAddr::V4(Ipv4Addr::new(
            127,
            0,
            0,
            1 + (n % usize::from(spread)) as u8,
        ))
    })
}

/// Everything the clients saw, added up.
pub struct Totals {
    pub connections: u64,
    pub connect_failures: u64,
    pub connect_time: Histogram<u64>,
    pub sent: u64,
    pub expected: u64,
    pub received: u64,
    pub out_of_order: u64,
    pub errors: u64,
    pub closed_by_server: u64,
    pub latency: Histogram<u64>,
    pub first_error: Option<String>,
    pub bytes: u64,
    pub requests: u64,
}

impl Totals {
    fn from_clients(clients: &[ClientStats], rooms: usize) -> Result<Self, String> {
        let histogram =
            || Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).map_err(|e| e.to_string());
        let mut totals = Totals {
            connections: 0,
            connect_failures: 0,
            connect_time: histogram()?,
            sent: 0,
            expected: 0,
            received: 0,
            out_of_order: 0,
            errors: 0,
            closed_by_server: 0,
            latency: histogram()?,
            first_error: None,
            bytes: 0,
            requests: 0,
        };
        let mut sent_per_room = vec![0u64; rooms];
        let mut members_per_room = vec![0u64; rooms];
        for client in clients {
            if client.connected {
                totals.connections += 1;
                members_per_room[client.room_index] += 1;
                totals.connect_time.saturating_record(client.connect_micros);
            } else {
                totals.connect_failures += 1;
            }
            sent_per_room[client.room_index] += client.sent;
            totals.sent += client.sent;
            totals.received += client.received;
            totals.out_of_order += client.out_of_order;
            totals.errors += client.errors;
            totals.closed_by_server += u64::from(client.closed_by_server);
            totals.bytes += client.bytes;
            totals.requests += client.requests;
            totals
                .latency
                .add(&client.latency)
                .map_err(|e| e.to_string())?;
            if totals.first_error.is_none() {
                totals.first_error = client.first_error.clone();
            }
        }
        totals.expected = sent_per_room
            .iter()
            .zip(&members_per_room)
            .map(|(sent, members)| sent * members)
            .sum();
        Ok(totals)
    }
}
