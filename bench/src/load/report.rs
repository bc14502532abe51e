//! The report: a table for people and one JSON line for scripts (`bench/run.py`).

use super::{procstat, Options, Totals};
use hdrhistogram::Histogram;
use serde_json::json;
use std::time::Duration;

pub struct Report {
    json: serde_json::Value,
}

fn ms(histogram: &Histogram<u64>, quantile: f64) -> f64 {
    if histogram.is_empty() {
        return 0.0;
    }
    (histogram.value_at_quantile(quantile) as f64 / 1000.0 * 100.0).round() / 100.0
}

impl Report {
    pub fn new(
        options: &Options,
        totals: &Totals,
        connected_in: Duration,
        window: Duration,
        before: &[procstat::Reading],
        connected: &[procstat::Reading],
        after_run: &[procstat::Reading],
    ) -> Self {
        let seconds = window.as_secs_f64().max(0.001);
        let servers: Vec<serde_json::Value> = before
            .iter()
            .map(|start| {
                let at_connect = connected.iter().find(|r| r.pid == start.pid);
                let at_end = after_run.iter().find(|r| r.pid == start.pid);
                let cpu = match (at_connect, at_end) {
                    (Some(a), Some(b)) => procstat::cpu_percent(a, b),
                    _ => 0.0,
                };
                json!({
                    "pid": start.pid,
                    "rss_before_kib": start.rss_kib,
                    "rss_connected_kib": at_connect.map(|r| r.rss_kib),
                    "rss_end_kib": at_end.map(|r| r.rss_kib),
                    "cpu_percent": (cpu * 10.0).round() / 10.0,
                })
            })
            .collect();
        let rss_growth: u64 = before
            .iter()
            .filter_map(|start| {
                connected
                    .iter()
                    .find(|r| r.pid == start.pid)
                    .map(|c| c.rss_kib.saturating_sub(start.rss_kib))
            })
            .sum();
        let per_connection = if totals.connections > 0 && !before.is_empty() {
            Some((rss_growth as f64 / totals.connections as f64 * 100.0).round() / 100.0)
        } else {
            None
        };
        let lost = totals.expected.saturating_sub(totals.received);
        // What each delivery cost the servers: CPU time over the run / deliveries in it.
        let cpu_seconds: f64 = servers
            .iter()
            .filter_map(|s| s["cpu_percent"].as_f64())
            .map(|percent| percent / 100.0 * seconds)
            .sum();
        let cpu_per_1000 = (totals.received > 0 && !servers.is_empty()).then(|| {
            (cpu_seconds * 1000.0 / (totals.received as f64 / 1000.0) * 1000.0).round() / 1000.0
        });
        let json = json!({
            "label": options.label,
            "servers": options.urls.len(),
            "rooms": options.rooms,
            "clients_per_room": options.clients_per_room,
            "senders_per_room": options.senders_per_room,
            "rate_per_sender": options.rate,
            "payload_bytes": options.payload,
            "duration_s": options.duration,
            "connections": totals.connections,
            "connect_failures": totals.connect_failures,
            "connect_seconds": (connected_in.as_secs_f64() * 100.0).round() / 100.0,
            "connect_ms_p50": ms(&totals.connect_time, 0.5),
            "connect_ms_p99": ms(&totals.connect_time, 0.99),
            "messages_sent": totals.sent,
            "deliveries_expected": totals.expected,
            "deliveries_received": totals.received,
            "lost": lost,
            "out_of_order": totals.out_of_order,
            "deliveries_per_s": (totals.received as f64 / seconds).round(),
            "latency_ms": {
                "p50": ms(&totals.latency, 0.5),
                "p90": ms(&totals.latency, 0.9),
                "p99": ms(&totals.latency, 0.99),
                "max": ms(&totals.latency, 1.0),
            },
            "errors": totals.errors,
            "transport": options.transport,
            "arrivals": options.arrivals,
            "requests": totals.requests,
            "bytes_received": totals.bytes,
            "bytes_per_delivery": if totals.received > 0 {
                ((totals.bytes as f64 / totals.received as f64) * 10.0).round() / 10.0
            } else {
                0.0
            },
            "closed_by_server": totals.closed_by_server,
            "first_error": totals.first_error,
            "server": servers,
            "server_rss_per_connection_kib": per_connection,
            "server_cpu_ms_per_1000_deliveries": cpu_per_1000,
        });
        Self { json }
    }

    /// Adds the run's trace of server memory and descriptors (a soak).
    pub fn add_samples(&mut self, samples: &[procstat::Sample]) {
        if !samples.is_empty() {
            self.json["samples"] = json!(samples);
        }
    }

    pub fn print(&self) {
        let j = &self.json;
        let row = |name: &str, value: String| println!("  {name:<28} {value}");
        println!("== {} ==", j["label"].as_str().unwrap_or("load"));
        row(
            "connections",
            format!(
                "{} ok, {} failed, in {} s (p50 {} ms, p99 {} ms)",
                j["connections"],
                j["connect_failures"],
                j["connect_seconds"],
                j["connect_ms_p50"],
                j["connect_ms_p99"]
            ),
        );
        row("messages sent", j["messages_sent"].to_string());
        row(
            "deliveries",
            format!(
                "{} of {} expected ({} lost, {} out of order)",
                j["deliveries_received"], j["deliveries_expected"], j["lost"], j["out_of_order"]
            ),
        );
        row("deliveries/s", j["deliveries_per_s"].to_string());
        row(
            "transport",
            format!(
                "{} ({} requests, {} bytes received, {} per delivery)",
                j["transport"], j["requests"], j["bytes_received"], j["bytes_per_delivery"]
            ),
        );
        let l = &j["latency_ms"];
        row(
            "latency ms p50/p90/p99/max",
            format!("{} / {} / {} / {}", l["p50"], l["p90"], l["p99"], l["max"]),
        );
        row(
            "errors / closed by server",
            format!("{} / {}", j["errors"], j["closed_by_server"]),
        );
        if let Some(first) = j["first_error"].as_str() {
            row("first error", first.to_owned());
        }
        if let Some(servers) = j["server"].as_array() {
            for server in servers {
                row(
                    &format!("server pid {}", server["pid"]),
                    format!(
                        "RSS {} → {} → {} KiB, CPU {} %",
                        server["rss_before_kib"],
                        server["rss_connected_kib"],
                        server["rss_end_kib"],
                        server["cpu_percent"]
                    ),
                );
            }
        }
        if !j["server_cpu_ms_per_1000_deliveries"].is_null() {
            row(
                "server CPU per 1,000 deliveries",
                format!("{} ms", j["server_cpu_ms_per_1000_deliveries"]),
            );
        }
        if !j["server_rss_per_connection_kib"].is_null() {
            row(
                "server RSS per connection",
                format!("{} KiB", j["server_rss_per_connection_kib"]),
            );
        }
        println!("JSON {}", self.json);
    }
}
