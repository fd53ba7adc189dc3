//! Per-address limits: connection attempts, and failed hellos (bad tokens).
//!
//! Both are governor keyed limiters (GCRA, one atomic per address). An address whose failed
//! hellos exceed the quota is refused (HTTP 429) for a minute. `retain` runs periodically to
//! forget addresses that went quiet.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::Config;
use crate::time::Millis;

/// How long an address stays refused after too many failed hellos.
pub const BLOCK_MS: u64 = 60_000;

#[derive(Debug)]
pub struct Limits {
    connect: DefaultKeyedRateLimiter<IpAddr>,
    hello_failures: DefaultKeyedRateLimiter<IpAddr>,
    /// Addresses refused until the given time. A std mutex: lookups only, no await.
    blocked: Mutex<HashMap<IpAddr, Millis>>,
}

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN)
}

impl Limits {
    pub fn new(config: &Config) -> Limits {
        Limits {
            connect: RateLimiter::keyed(
                Quota::per_second(nz(config.connect_rate)).allow_burst(nz(config.connect_burst)),
            ),
            hello_failures: RateLimiter::keyed(
                Quota::per_minute(nz(config.hello_failures_per_minute))
                    .allow_burst(nz(config.hello_failures_per_minute)),
            ),
            blocked: Mutex::new(HashMap::new()),
        }
    }

    pub fn allow_connect(&self, ip: IpAddr) -> bool {
        self.connect.check_key(&ip).is_ok()
    }

    pub fn is_blocked(&self, ip: IpAddr, now: Millis) -> bool {
        let blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
        blocked.get(&ip).is_some_and(|until| *until > now)
    }

    /// Counts a failed hello; past the quota the address is refused for a minute.
    pub fn hello_failed(&self, ip: IpAddr, now: Millis) {
        if self.hello_failures.check_key(&ip).is_err() {
            tracing::warn!(%ip, "too many failed hellos; refusing this address for a minute");
            let mut blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
            blocked.insert(ip, now + BLOCK_MS);
        }
    }

    /// Forgets addresses whose limits are back to fresh.
    pub fn retain(&self, now: Millis) {
        self.connect.retain_recent();
        self.hello_failures.retain_recent();
        self.connect.shrink_to_fit();
        self.hello_failures.shrink_to_fit();
        let mut blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
        blocked.retain(|_, until| *until > now);
    }
}
