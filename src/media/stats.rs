//! The media layer's counters for `/metrics`: peers, forwarded and dropped packets by
//! reason, bytes, failures.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;

use crate::media::gate::DropReason;

/// Counts one. The media layer sits below `metrics` (which renders these counters), so it
/// keeps its own helper rather than importing upward.
pub(crate) fn inc(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

#[derive(Debug, Default)]
pub struct MediaStats {
    pub peers: AtomicI64,
    /// Listener peers (every connected peer listens).
    pub listeners: AtomicI64,
    pub forwarded_packets: AtomicU64,
    pub forwarded_bytes: AtomicU64,
    /// Dropped by the gate, indexed like [`DropReason::ALL`].
    pub dropped: [AtomicU64; 5],
    /// Datagrams no peer accepted (unknown source, stray STUN, garbage).
    pub dropped_unknown: AtomicU64,
    /// Datagrams that are neither STUN, DTLS nor RTP.
    pub dropped_malformed: AtomicU64,
    /// Datagrams dropped unread because their source spent its budget (`media::budget`).
    pub dropped_rate_limited: AtomicU64,
    /// Source addresses the budget tracks now (bounded by `budget::MAX_SOURCES`).
    pub tracked_sources: AtomicI64,
    /// Peers that did not complete ICE and DTLS within the timeout.
    pub ice_timeouts: AtomicU64,
    /// Peers str0m closed on an error (DTLS, SRTP).
    pub peer_errors: AtomicU64,
    /// Offers refused (malformed, too large, full).
    pub offers_refused: AtomicU64,
    /// Connected listeners per room. A room leaves the map with its last listener, so the
    /// label set is bounded by the rooms that have audio right now.
    room_listeners: Mutex<BTreeMap<String, i64>>,
}

impl MediaStats {
    pub fn dropped(&self, reason: DropReason) {
        let idx = DropReason::ALL
            .iter()
            .position(|r| *r == reason)
            .unwrap_or(0);
        self.dropped[idx].fetch_add(1, Ordering::Relaxed);
    }

    pub fn dropped_count(&self, reason: DropReason) -> u64 {
        let idx = DropReason::ALL
            .iter()
            .position(|r| *r == reason)
            .unwrap_or(0);
        self.dropped[idx].load(Ordering::Relaxed)
    }

    /// A listener connected in `room` (`+1`) or a connected one left (`-1`).
    pub fn room_listener(&self, room: &str, delta: i64) {
        let mut rooms = self
            .room_listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let n = rooms.entry(room.to_string()).or_insert(0);
        *n += delta;
        if *n <= 0 {
            rooms.remove(room);
        }
    }

    /// Connected listeners in `room` now.
    pub fn room_listeners(&self, room: &str) -> i64 {
        let rooms = self
            .room_listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        rooms.get(room).copied().unwrap_or(0)
    }

    /// Appends the media families in the Prometheus text format.
    pub fn render(&self, out: &mut String) {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let one = |out: &mut String, name: &str, kind: &str, help: &str, v: String| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
            );
        };
        one(
            out,
            "commonground_media_peers",
            "gauge",
            "WebRTC audio peers.",
            self.peers.load(Ordering::Relaxed).to_string(),
        );
        one(
            out,
            "commonground_media_listeners",
            "gauge",
            "Connected audio peers receiving the floor.",
            self.listeners.load(Ordering::Relaxed).to_string(),
        );
        let name = "commonground_media_room_listeners";
        let _ = writeln!(
            out,
            "# HELP {name} Connected audio listeners per room (rooms with none are not listed).\n# TYPE {name} gauge"
        );
        {
            let rooms = self
                .room_listeners
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            for (room, n) in rooms.iter() {
                // Room ids are `evt-…/hall` or `evt-…/group-N`: nothing to escape.
                let _ = writeln!(out, "{name}{{room=\"{room}\"}} {n}");
            }
        }
        one(
            out,
            "commonground_media_forwarded_packets_total",
            "counter",
            "Audio packets forwarded to listeners (one per listener).",
            load(&self.forwarded_packets).to_string(),
        );
        one(
            out,
            "commonground_media_forwarded_bytes_total",
            "counter",
            "Audio payload bytes forwarded to listeners.",
            load(&self.forwarded_bytes).to_string(),
        );
        let name = "commonground_media_dropped_packets_total";
        let _ = writeln!(
            out,
            "# HELP {name} Inbound audio packets the gate did not forward, by reason.\n# TYPE {name} counter"
        );
        for (i, r) in DropReason::ALL.iter().enumerate() {
            let _ = writeln!(
                out,
                "{name}{{reason=\"{}\"}} {}",
                r.label(),
                load(&self.dropped[i])
            );
        }
        for (reason, v) in [
            ("unknown_source", &self.dropped_unknown),
            ("malformed", &self.dropped_malformed),
            ("source_rate_limited", &self.dropped_rate_limited),
        ] {
            let _ = writeln!(out, "{name}{{reason=\"{reason}\"}} {}", load(v));
        }
        one(
            out,
            "commonground_media_tracked_sources",
            "gauge",
            "Source addresses of refused datagrams whose budget is tracked.",
            self.tracked_sources.load(Ordering::Relaxed).to_string(),
        );
        one(
            out,
            "commonground_media_ice_timeouts_total",
            "counter",
            "Audio peers that never completed ICE and DTLS.",
            load(&self.ice_timeouts).to_string(),
        );
        one(
            out,
            "commonground_media_peer_errors_total",
            "counter",
            "Audio peers closed on a DTLS or SRTP error.",
            load(&self.peer_errors).to_string(),
        );
        one(
            out,
            "commonground_media_offers_refused_total",
            "counter",
            "media_offer messages refused (malformed, too large, full, media off).",
            load(&self.offers_refused).to_string(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listeners_are_counted_per_room_and_a_room_without_any_is_not_listed() {
        let stats = MediaStats::default();
        stats.room_listener("evt-a/hall", 1);
        stats.room_listener("evt-a/hall", 1);
        stats.room_listener("evt-a/group-1", 1);
        let mut out = String::new();
        stats.render(&mut out);
        assert!(out.contains("commonground_media_room_listeners{room=\"evt-a/hall\"} 2"));
        assert!(out.contains("commonground_media_room_listeners{room=\"evt-a/group-1\"} 1"));
        stats.room_listener("evt-a/group-1", -1);
        let mut out = String::new();
        stats.render(&mut out);
        assert!(!out.contains("group-1"), "{out}");
        assert_eq!(stats.room_listeners("evt-a/hall"), 2);
    }
}
