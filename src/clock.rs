//! The shell's one clock: the engine never reads time, the room actors and gateways ask this.
//!
//! `TokioClock` captures the Unix time once at start and then adds `tokio::time::Instant`
//! elapsed time, so the server's timeline is monotonic (no jumps when the wall clock is
//! adjusted) and tests that pause tokio time move it too.

use std::fmt::Debug;
use std::time::Duration;

use tokio::time::Instant;

use crate::time::Millis;

/// Where the shell reads the time.
pub trait Clock: Send + Sync + Debug + 'static {
    /// Now, as Unix milliseconds on the server's timeline.
    fn now(&self) -> Millis;
    /// Now, as a monotonic tokio instant (for sleeps, timeouts and latency measurements).
    fn instant(&self) -> Instant;
    /// The tokio instant at which the timeline reaches `at` (now, if `at` is past).
    fn instant_at(&self, at: Millis) -> Instant {
        let now = self.now();
        self.instant() + Duration::from_millis(at.since(now))
    }
}

/// Unix base captured once plus tokio's monotonic elapsed time.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    base_unix_ms: u64,
    base: Instant,
}

impl TokioClock {
    // Reason: this adapter is the one place that reads the real clock (clippy.toml bans it
    // elsewhere); everything else gets time from a `Clock`.
    #[allow(clippy::disallowed_methods)]
    pub fn new() -> TokioClock {
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        TokioClock {
            base_unix_ms: unix,
            base: Instant::now(),
        }
    }
}

impl Default for TokioClock {
    fn default() -> TokioClock {
        TokioClock::new()
    }
}

impl Clock for TokioClock {
    fn now(&self) -> Millis {
        let elapsed =
            u64::try_from(self.instant().duration_since(self.base).as_millis()).unwrap_or(u64::MAX);
        Millis(self.base_unix_ms.saturating_add(elapsed))
    }

    // Reason: see `TokioClock::new`.
    #[allow(clippy::disallowed_methods)]
    fn instant(&self) -> Instant {
        Instant::now()
    }

    fn instant_at(&self, at: Millis) -> Instant {
        self.base + Duration::from_millis(at.since(Millis(self.base_unix_ms)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn paused_time_moves_the_clock() {
        let clock = TokioClock::new();
        let t0 = clock.now();
        tokio::time::advance(Duration::from_secs(90)).await;
        assert_eq!(clock.now().since(t0), 90_000);
        let later = t0 + 30_000;
        assert!(clock.instant_at(later) <= clock.instant());
        let future = clock.now() + 5_000;
        assert_eq!(
            clock.instant_at(future) - clock.instant(),
            Duration::from_secs(5)
        );
    }
}
