//! Per-address limits: connection attempts, failed hellos (bad tokens), rehearsal previews,
//! wrong organizer keys and join-link redemptions.
//!
//! All are governor keyed limiters (GCRA, one atomic per address). An address whose failed
//! hellos exceed the quota has its failed hellos answered `rate_limited` for a minute; an
//! address whose wrong organizer keys exceed theirs has its wrong keys answered `429
//! rate_limited` for a minute. Neither ever refuses the right credential: an attacker does not
//! know it, and an organizer on the venue's shared Wi-Fi must still get in. `retain` runs
//! periodically to forget addresses that went quiet.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::Config;
use crate::time::Millis;

/// How long an address stays refused after too many failed hellos or wrong keys.
pub const BLOCK_MS: u64 = 60_000;
/// Rehearsal previews per address per minute (bursts of [`PREVIEW_BURST`]): an organizer
/// trying settings clicks a few times a minute; each preview costs up to a few CPU-seconds.
pub const PREVIEWS_PER_MINUTE: u32 = 12;
pub const PREVIEW_BURST: u32 = 6;
/// The default lives with the setting (`config`, below this module).
pub use crate::config::KEY_FAILURES_PER_MINUTE;

#[derive(Debug)]
pub struct Limits {
    connect: DefaultKeyedRateLimiter<IpAddr>,
    hello_failures: DefaultKeyedRateLimiter<IpAddr>,
    previews: DefaultKeyedRateLimiter<IpAddr>,
    /// Commands per member (event, member id), shared by all of the member's sockets.
    commands: DefaultKeyedRateLimiter<(String, String)>,
    key_failures: DefaultKeyedRateLimiter<IpAddr>,
    /// Join-link redemptions (each mints a member).
    joins: DefaultKeyedRateLimiter<IpAddr>,
    /// Addresses refused until the given time. A std mutex: lookups only, no await.
    blocked: Mutex<HashMap<IpAddr, Millis>>,
    /// Addresses refused organizer requests until the given time.
    key_blocked: Mutex<HashMap<IpAddr, Millis>>,
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
            commands: RateLimiter::keyed(
                Quota::per_second(nz(config.command_rate)).allow_burst(nz(config.command_burst)),
            ),
            previews: RateLimiter::keyed(
                Quota::per_minute(nz(PREVIEWS_PER_MINUTE)).allow_burst(nz(PREVIEW_BURST)),
            ),
            key_failures: RateLimiter::keyed(
                Quota::per_minute(nz(config.key_failures_per_minute))
                    .allow_burst(nz(config.key_failures_per_minute)),
            ),
            joins: RateLimiter::keyed(
                Quota::per_minute(nz(config.joins_per_minute))
                    .allow_burst(nz(config.joins_per_minute)),
            ),
            blocked: Mutex::new(HashMap::new()),
            key_blocked: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one command from the member's quota (`key` is the event and the member id): a
    /// member's sockets share it, so opening more of them buys no more commands.
    pub fn allow_command(&self, key: &(String, String)) -> bool {
        self.commands.check_key(key).is_ok()
    }

    /// Takes one join-link redemption from the address's quota (`joins_per_minute`).
    pub fn allow_join(&self, ip: IpAddr) -> bool {
        self.joins.check_key(&ip).is_ok()
    }

    /// Takes one rehearsal preview from the address's quota.
    pub fn allow_preview(&self, ip: IpAddr) -> bool {
        self.previews.check_key(&ip).is_ok()
    }

    /// Whether the address's wrong organizer keys are answered `rate_limited` (too many of
    /// them lately). The right key is never refused because of it.
    pub fn is_key_blocked(&self, ip: IpAddr, now: Millis) -> bool {
        let blocked = self.key_blocked.lock().unwrap_or_else(|e| e.into_inner());
        blocked.get(&ip).is_some_and(|until| *until > now)
    }

    /// Counts a wrong organizer key; past the quota the address's wrong keys are refused
    /// for a minute. True when this one is over the quota (or the address already was).
    pub fn key_failed(&self, ip: IpAddr, now: Millis) -> bool {
        if self.is_key_blocked(ip, now) {
            return true;
        }
        if self.key_failures.check_key(&ip).is_ok() {
            return false;
        }
        tracing::warn!(%ip, "too many wrong organizer keys; refusing this address's guesses for a minute");
        let mut blocked = self.key_blocked.lock().unwrap_or_else(|e| e.into_inner());
        blocked.insert(ip, now + BLOCK_MS);
        true
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
        self.previews.retain_recent();
        self.commands.retain_recent();
        self.commands.shrink_to_fit();
        self.key_failures.retain_recent();
        self.joins.retain_recent();
        self.joins.shrink_to_fit();
        self.connect.shrink_to_fit();
        self.hello_failures.shrink_to_fit();
        self.previews.shrink_to_fit();
        self.key_failures.shrink_to_fit();
        for map in [&self.blocked, &self.key_blocked] {
            let mut blocked = map.lock().unwrap_or_else(|e| e.into_inner());
            blocked.retain(|_, until| *until > now);
        }
    }
}
