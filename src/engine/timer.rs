//! A deadline with an optional warning before it, as data.
//!
//! The engine never sleeps: it reports its earliest deadline and the room actor wakes it with
//! a tick. A timer's next wake-up is its warning while that has not fired, then its deadline.

use serde::{Deserialize, Serialize};

use crate::time::Millis;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timer {
    pub deadline: Millis,
    /// When the warning fires; `None` once it has fired or when there is none.
    pub warn_at: Option<Millis>,
}

/// What a due timer is doing at its wake-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    Warning,
    Deadline,
}

impl Timer {
    /// A timer `duration_ms` after `at`, warning `warn_ms` before its deadline when the warning
    /// fits inside the duration.
    pub fn new(at: Millis, duration_ms: u64, warn_ms: u64) -> Timer {
        let deadline = at + duration_ms;
        let warn_at = (warn_ms > 0 && warn_ms < duration_ms).then(|| deadline - warn_ms);
        Timer { deadline, warn_at }
    }

    /// The next moment this timer needs attention.
    pub fn next(&self) -> Millis {
        self.warn_at.unwrap_or(self.deadline)
    }

    /// Whether the timer needs attention at `now`, and for what. A warning that is due is
    /// consumed by this call.
    pub fn take_due(&mut self, now: Millis) -> Option<Due> {
        match self.warn_at {
            Some(w) if w <= now => {
                self.warn_at = None;
                Some(Due::Warning)
            }
            _ if self.deadline <= now => Some(Due::Deadline),
            _ => None,
        }
    }

    /// Moves the timer later, as a pause does.
    pub fn shift(&mut self, ms: u64) {
        self.deadline = self.deadline + ms;
        if let Some(w) = self.warn_at.as_mut() {
            *w = *w + ms;
        }
    }

    /// Adds time to the deadline. A warning that already fired is re-armed when the new
    /// deadline leaves room for it, so people are warned again before the new end.
    pub fn extend(&mut self, now: Millis, ms: u64, warn_ms: u64) {
        self.deadline = self.deadline + ms;
        let warn = self.deadline - warn_ms;
        self.warn_at = (warn_ms > 0 && warn > now).then_some(warn);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warning_fires_before_deadline_once() {
        let mut t = Timer::new(Millis(1000), 10_000, 2_000);
        assert_eq!(t.next(), Millis(9_000));
        assert_eq!(t.take_due(Millis(8_999)), None);
        assert_eq!(t.take_due(Millis(9_000)), Some(Due::Warning));
        assert_eq!(t.next(), Millis(11_000));
        assert_eq!(t.take_due(Millis(9_500)), None);
        assert_eq!(t.take_due(Millis(11_000)), Some(Due::Deadline));
    }

    #[test]
    fn warning_longer_than_duration_is_dropped() {
        let t = Timer::new(Millis(0), 1_000, 5_000);
        assert_eq!(t.warn_at, None);
    }

    #[test]
    fn extend_rearms_the_warning() {
        let mut t = Timer::new(Millis(0), 10_000, 2_000);
        t.take_due(Millis(8_000));
        t.extend(Millis(9_000), 30_000, 2_000);
        assert_eq!(t.deadline, Millis(40_000));
        assert_eq!(t.warn_at, Some(Millis(38_000)));
    }
}
