//! Prometheus metrics, hand-written: a few atomics and one text renderer for `GET /metrics`.
//!
//! Counters only go up; rates (events per second) are derived by Prometheus from `_total`
//! counters. Kept dependency-free because the set is small and fixed.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the command latency histogram, in seconds.
const LATENCY_BUCKETS: [f64; 10] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.1, 1.0,
];

#[derive(Debug, Default)]
pub struct Metrics {
    pub connections_open: AtomicI64,
    pub connections_total: AtomicU64,
    pub connections_refused: AtomicU64,
    pub rooms_live: AtomicI64,
    pub events_total: AtomicU64,
    pub commands_total: AtomicU64,
    pub slow_consumer_disconnects: AtomicU64,
    pub hello_failures: AtomicU64,
    /// Wrong organizer keys, and those answered 429 because their address had too many.
    pub key_failures: AtomicU64,
    pub key_failures_refused: AtomicU64,
    pub bad_frames: AtomicU64,
    /// Rehearsal previews running now, and those stopped because their client went away.
    pub previews_running: AtomicI64,
    pub previews_cancelled: AtomicU64,
    /// Resumes whose gap was over the byte budget, answered with a snapshot instead.
    pub resumes_too_large: AtomicU64,
    /// Commits rooms made to their store, and the inputs they carried (several inputs of
    /// one room share a commit when they arrive together).
    pub store_commits: AtomicU64,
    pub store_inputs: AtomicU64,
    latency_buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_us: AtomicU64,
    /// Refused commands by code. A std mutex: updates are a map insert, never held across
    /// an await.
    refused: Mutex<BTreeMap<&'static str, u64>>,
    /// The audio SFU's counters (shared with the media task).
    pub media: std::sync::Arc<crate::media::MediaStats>,
}

impl Metrics {
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn inc_gauge(gauge: &AtomicI64, delta: i64) {
        gauge.fetch_add(delta, Ordering::Relaxed);
    }

    pub fn refused(&self, code: impl Into<&'static str>) {
        let code = code.into();
        let mut map = self.refused.lock().unwrap_or_else(|e| e.into_inner());
        *map.entry(code).or_default() += 1;
    }

    pub fn refused_count(&self, code: &str) -> u64 {
        let map = self.refused.lock().unwrap_or_else(|e| e.into_inner());
        map.get(code).copied().unwrap_or(0)
    }

    pub fn command_latency(&self, d: Duration) {
        let secs = d.as_secs_f64();
        for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
            if secs <= *bound {
                self.latency_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.latency_sum_us.fetch_add(us, Ordering::Relaxed);
    }

    /// The Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let gauge = |out: &mut String, name: &str, help: &str, v: i64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        let counter = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        };
        gauge(
            &mut out,
            "commonground_connections_open",
            "Open WebSocket connections.",
            self.connections_open.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "commonground_connections_total",
            "WebSocket connections accepted.",
            load(&self.connections_total),
        );
        counter(
            &mut out,
            "commonground_connections_refused_total",
            "WebSocket upgrades refused (origin, rate limit, capacity, shutdown).",
            load(&self.connections_refused),
        );
        gauge(
            &mut out,
            "commonground_rooms_live",
            "Rooms with a running actor.",
            self.rooms_live.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "commonground_events_total",
            "Room events sequenced.",
            load(&self.events_total),
        );
        counter(
            &mut out,
            "commonground_commands_total",
            "Commands handled by rooms.",
            load(&self.commands_total),
        );
        counter(
            &mut out,
            "commonground_store_commits_total",
            "Commits rooms made to their store (journal or Redis).",
            load(&self.store_commits),
        );
        counter(
            &mut out,
            "commonground_store_inputs_total",
            "Inputs those commits made durable; over commits: inputs per commit.",
            load(&self.store_inputs),
        );
        counter(
            &mut out,
            "commonground_slow_consumer_disconnects_total",
            "Connections closed because their outbound queue overflowed.",
            load(&self.slow_consumer_disconnects),
        );
        counter(
            &mut out,
            "commonground_hello_failures_total",
            "Failed hellos (bad, expired or foreign tokens).",
            load(&self.hello_failures),
        );
        counter(
            &mut out,
            "commonground_organizer_key_failures_total",
            "Organizer requests with a wrong key.",
            load(&self.key_failures),
        );
        counter(
            &mut out,
            "commonground_organizer_key_rate_limited_total",
            "Wrong organizer keys answered 429 (too many from the address).",
            load(&self.key_failures_refused),
        );
        counter(
            &mut out,
            "commonground_bad_frames_total",
            "Client frames refused as invalid or too large.",
            load(&self.bad_frames),
        );
        counter(
            &mut out,
            "commonground_previews_cancelled_total",
            "Rehearsal previews stopped because their client went away.",
            load(&self.previews_cancelled),
        );
        gauge(
            &mut out,
            "commonground_previews_running",
            "Rehearsal previews running now.",
            self.previews_running.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "commonground_resumes_too_large_total",
            "Resumes over the byte budget, answered recovered: false and a snapshot.",
            load(&self.resumes_too_large),
        );
        let _ = writeln!(
            out,
            "# HELP commonground_refused_commands_total Commands refused, by code.\n# TYPE commonground_refused_commands_total counter"
        );
        {
            let map = self.refused.lock().unwrap_or_else(|e| e.into_inner());
            for (code, n) in map.iter() {
                let _ = writeln!(
                    out,
                    "commonground_refused_commands_total{{code=\"{code}\"}} {n}"
                );
            }
        }
        let name = "commonground_command_latency_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time from a command frame's arrival to its reply.\n# TYPE {name} histogram"
        );
        for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{bound}\"}} {}",
                load(&self.latency_buckets[i])
            );
        }
        let count = load(&self.latency_count);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let sum = load(&self.latency_sum_us) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {count}");
        self.media.render(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histogram() {
        let m = Metrics::default();
        Metrics::inc(&m.events_total);
        m.refused("forbidden");
        m.command_latency(Duration::from_micros(300));
        let text = m.render();
        assert!(text.contains("commonground_events_total 1"));
        assert!(text.contains("commonground_refused_commands_total{code=\"forbidden\"} 1"));
        assert!(text.contains("commonground_command_latency_seconds_bucket{le=\"0.0005\"} 1"));
        assert!(text.contains("commonground_command_latency_seconds_count 1"));
    }
}
