//! Instants on the server's timeline.
//!
//! Deadlines are stored as absolute Unix milliseconds so they survive a restart or a move to
//! another node, and so clients get deadlines rather than counters. The engine only ever
//! receives these values; it never reads a clock itself (see `clock.rs` for the one place that
//! does).

use std::fmt;
use std::ops::{Add, Sub};

use serde::{Deserialize, Serialize};

/// A point in time as Unix milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Millis(pub u64);

impl Millis {
    pub const ZERO: Millis = Millis(0);

    pub fn as_u64(self) -> u64 {
        self.0
    }

    /// Milliseconds from `earlier` to `self`, zero if `earlier` is later.
    pub fn since(self, earlier: Millis) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl Add<u64> for Millis {
    type Output = Millis;
    fn add(self, ms: u64) -> Millis {
        Millis(self.0.saturating_add(ms))
    }
}

impl Sub<u64> for Millis {
    type Output = Millis;
    fn sub(self, ms: u64) -> Millis {
        Millis(self.0.saturating_sub(ms))
    }
}

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

/// Formats a duration in milliseconds the way organizers write them: `2m`, `1m30s`, `45s`.
pub fn format_duration(ms: u64) -> String {
    let total_s = ms / 1000;
    let (h, m, s) = (total_s / 3600, (total_s / 60) % 60, total_s % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_durations_like_protocol_files() {
        assert_eq!(format_duration(0), "0s");
        assert_eq!(format_duration(45_000), "45s");
        assert_eq!(format_duration(120_000), "2m");
        assert_eq!(format_duration(90_000), "1m30s");
        assert_eq!(format_duration(3_723_000), "1h2m3s");
    }

    #[test]
    fn arithmetic_saturates() {
        assert_eq!(Millis(5) - 10, Millis(0));
        assert_eq!(Millis(5).since(Millis(10)), 0);
        assert_eq!(Millis(10).since(Millis(4)), 6);
    }
}
