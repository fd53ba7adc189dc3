//! A per-source-address budget for datagrams that no peer accepts: stray STUN, garbage,
//! packets from addresses that are nobody's.
//!
//! Why: every such datagram costs the SFU a scan of the node's peers (`Rtc::accepts`) before
//! it is known to be nobody's. One address flooding STUN would turn that into a busy loop
//! that delays every real peer's audio. The budget charges only refused datagrams; once an
//! address has spent it, its datagrams are dropped before the scan, in constant time.
//!
//! Memory is bounded: at most [`MAX_SOURCES`] addresses are tracked. When the table is full,
//! addresses whose budget has refilled are forgotten (they owe nothing); if it is still
//! full (many spoofed sources at once), new addresses share one overflow bucket, so a
//! spoofing flood is throttled as a whole instead of growing the table.
//!
//! Pure: time is passed in.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Addresses tracked at once.
pub const MAX_SOURCES: usize = 4096;
/// Refused datagrams an address may send in a burst. A browser's ICE checks before it is
/// connected are a handful; this leaves a wide margin.
pub const BURST: u32 = 64;
/// How fast a spent budget refills: one datagram per this interval (50 per second).
pub const REFILL_EVERY: Duration = Duration::from_millis(20);

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: u32,
    /// When `tokens` was last brought up to date.
    at: Instant,
}

impl Bucket {
    fn full(now: Instant) -> Bucket {
        Bucket {
            tokens: BURST,
            at: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at);
        let gained = (elapsed.as_millis() / REFILL_EVERY.as_millis()).min(u128::from(BURST)) as u32;
        if gained > 0 {
            self.tokens = (self.tokens + gained).min(BURST);
            self.at += REFILL_EVERY * gained;
        }
        if self.tokens == BURST {
            self.at = now;
        }
    }

    fn is_full(&self, now: Instant) -> bool {
        let mut b = *self;
        b.refill(now);
        b.tokens == BURST
    }
}

/// The budgets of the sources that sent refused datagrams lately.
#[derive(Debug)]
pub struct SourceBudget {
    sources: HashMap<SocketAddr, Bucket>,
    /// Shared by new addresses while the table is full; created on first use.
    overflow: Option<Bucket>,
    cap: usize,
}

impl Default for SourceBudget {
    fn default() -> SourceBudget {
        SourceBudget::new()
    }
}

impl SourceBudget {
    pub fn new() -> SourceBudget {
        SourceBudget::with_cap(MAX_SOURCES)
    }

    pub fn with_cap(cap: usize) -> SourceBudget {
        SourceBudget {
            sources: HashMap::new(),
            overflow: None,
            cap,
        }
    }

    /// Whether a datagram from `source` is still worth looking at: false once the
    /// address has spent its budget on refused datagrams. Costs nothing.
    pub fn allows(&mut self, source: SocketAddr, now: Instant) -> bool {
        let full = self.sources.len() >= self.cap;
        let bucket = match self.sources.get_mut(&source) {
            Some(b) => b,
            None if full => self.overflow.get_or_insert(Bucket::full(now)),
            None => return true,
        };
        bucket.refill(now);
        bucket.tokens > 0
    }

    /// Charges one refused datagram to `source`.
    pub fn charge(&mut self, source: SocketAddr, now: Instant) {
        if !self.sources.contains_key(&source) && self.sources.len() >= self.cap {
            self.sources.retain(|_, b| !b.is_full(now));
        }
        let bucket = if self.sources.contains_key(&source) || self.sources.len() < self.cap {
            self.sources.entry(source).or_insert(Bucket::full(now))
        } else {
            self.overflow.get_or_insert(Bucket::full(now))
        };
        bucket.refill(now);
        bucket.tokens = bucket.tokens.saturating_sub(1);
    }

    /// Addresses tracked now (for `/metrics`).
    pub fn tracked(&self) -> usize {
        self.sources.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An origin only: the tests move time by adding to it, never by reading the clock.
    #[allow(clippy::disallowed_methods)]
    fn origin() -> Instant {
        Instant::now()
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([192, 0, 2, 1], port))
    }

    #[test]
    fn a_source_is_cut_after_its_burst_and_refills_with_time() {
        let t0 = origin();
        let mut b = SourceBudget::new();
        for _ in 0..BURST {
            assert!(b.allows(addr(1), t0));
            b.charge(addr(1), t0);
        }
        assert!(!b.allows(addr(1), t0), "budget spent");
        assert!(b.allows(addr(2), t0), "another address is untouched");
        assert!(!b.allows(addr(1), t0 + REFILL_EVERY / 2));
        assert!(
            b.allows(addr(1), t0 + REFILL_EVERY),
            "one datagram refilled"
        );
        b.charge(addr(1), t0 + REFILL_EVERY);
        assert!(!b.allows(addr(1), t0 + REFILL_EVERY));
        assert!(b.allows(addr(1), t0 + REFILL_EVERY * (BURST + 1)));
    }

    #[test]
    fn many_sources_never_grow_the_table_past_its_cap() {
        let t0 = origin();
        let mut b = SourceBudget::with_cap(8);
        for port in 0..1_000u16 {
            for _ in 0..BURST {
                b.charge(addr(port), t0);
            }
            assert!(b.tracked() <= 8);
        }
        // The overflow bucket is spent too: a new spoofed address is throttled.
        assert!(!b.allows(addr(5_000), t0));
        // Once the tracked addresses owe nothing, they make room again.
        let later = t0 + REFILL_EVERY * (BURST + 1);
        b.charge(addr(6_000), later);
        assert_eq!(b.tracked(), 1);
        assert!(b.allows(addr(7_000), later));
    }
}
