//! Server memory and CPU from `/proc`, so every figure comes with its cost.

use std::time::Instant;

/// One reading of one process.
#[derive(Clone, Debug)]
pub struct Reading {
    pub pid: u32,
    /// Resident memory, KiB.
    pub rss_kib: u64,
    /// User + system CPU time so far, in clock ticks.
    pub cpu_ticks: u64,
    pub at: Instant,
}

/// Clock ticks per second (`getconf CLK_TCK`): 100 on every Linux this runs on.
pub const TICKS_PER_SECOND: f64 = 100.0;

/// Reads every pid; a pid that cannot be read is skipped (and reported as missing).
pub fn sample(pids: &[u32]) -> Vec<Reading> {
    pids.iter().filter_map(|pid| read(*pid)).collect()
}

fn read(pid: u32) -> Option<Reading> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces: fields are counted after its closing ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Reading {
        pid,
        rss_kib,
        cpu_ticks: utime + stime,
        at: Instant::now(),
    })
}

/// The servers' memory and open descriptors at one moment of a run (a soak's trace).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Sample {
    /// Seconds since the run began.
    pub at_s: f64,
    /// Resident memory of each server, KiB.
    pub rss_kib: Vec<u64>,
    /// Open file descriptors of each server.
    pub fds: Vec<usize>,
}

impl Sample {
    /// Reads every pid now.
    pub fn take(at: std::time::Duration, pids: &[u32]) -> Self {
        Self {
            at_s: at.as_secs_f64(),
            rss_kib: sample(pids).iter().map(|r| r.rss_kib).collect(),
            fds: pids
                .iter()
                .map(|pid| {
                    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |dir| dir.count())
                })
                .collect(),
        }
    }
}

/// CPU used between two readings of the same process, in percent of one core.
pub fn cpu_percent(before: &Reading, after: &Reading) -> f64 {
    let seconds = after.at.duration_since(before.at).as_secs_f64();
    if seconds <= 0.0 {
        return 0.0;
    }
    (after.cpu_ticks.saturating_sub(before.cpu_ticks) as f64 / TICKS_PER_SECOND) / seconds * 100.0
}
