//! The server's configuration: one typed `Config`, resolved and validated before any port is
//! bound.
//!
//! Sources, highest first: command-line flags, `COMMONGROUND_*` environment variables (clap
//! reads both into [`ServeArgs`]), an optional TOML file (`--config`), then defaults. A bad
//! value is a [`ConfigError`] naming the key; `main` prints it on one line and exits with 64.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::engine::moderation::WordList;
use crate::protocol::load;

/// How long an event's data is kept after it ends, unless the event or the server says
/// otherwise: long enough to write up a town hall, short enough not to become an archive.
pub const DEFAULT_RETENTION_SECS: u64 = 30 * 24 * 3600;
/// Shortest retention an event may ask for (tests use it; a real event wants hours or days).
pub const MIN_RETENTION_SECS: u64 = 1;
/// Longest retention: a year. Anything longer is an archive, which this server is not.
pub const MAX_RETENTION_SECS: u64 = 365 * 24 * 3600;

/// Default wrong organizer keys per address per minute (`key_failures_per_minute`) before
/// the address's wrong keys are answered 429 for a minute: a person mistyping retries a
/// handful of times; 128-bit keys make guessing hopeless anyway. Owned here, with the
/// setting, so the configuration does not reach up into `limits`.
pub const KEY_FAILURES_PER_MINUTE: u32 = 10;
/// Default join-link redemptions per address per minute (`joins_per_minute`): a household or
/// a library's Wi-Fi signs a few people up at once; a script minting members from one
/// address gets 30 a minute, and each link's own cap bounds it further.
pub const JOINS_PER_MINUTE: u32 = 30;
/// Default most events one server holds (`max_events`): running, or ended and kept for their
/// retention. An organization running a town hall a day with the default 30-day retention
/// holds about 30; 10,000 is far past any real use, and bounds the registry, the journal's
/// recovery at start and `GET /api/events` against a script creating events in a loop.
pub const DEFAULT_MAX_EVENTS: usize = 10_000;
/// A dropped phone or a Wi-Fi hiccup reconnects in seconds; half a minute keeps the speaker's
/// floor and everyone's place through that without holding a line for someone who is gone.
pub const DEFAULT_RECONNECT_GRACE_MS: u64 = 30_000;

/// Largest word-list file read. A list is for a few hundred terms; a file far larger is
/// almost certainly the wrong file, and the list travels with every engine snapshot in
/// cluster mode.
pub const MAX_WORD_LIST_BYTES: u64 = 64 * 1024;

mod args;
#[cfg(test)]
mod tests;

use args::FileConfig;
pub use args::ServeArgs;

/// The effective configuration. Fields are public so tests can shape a server; production
/// code builds it only through [`Config::resolve`].
#[derive(Debug, Clone)]
pub struct Config {
    pub bind: SocketAddr,
    pub public_url: Option<String>,
    pub organizer_key: String,
    /// True when the key was generated at start (main prints it).
    pub organizer_key_generated: bool,
    pub token_secret: Vec<u8>,
    /// True when the secret was generated at start (the data dir's secret replaces it).
    pub token_secret_generated: bool,
    pub protocols_dir: PathBuf,
    pub demo: bool,
    /// Allowed `Origin` values; empty means the default (`gateway::allowed_origins`: the
    /// public URL's origin, else the bound address's); `*` allows any.
    pub allowed_origins: Vec<String>,
    pub hello_timeout: Duration,
    pub idle_timeout: Duration,
    pub ping_interval: Duration,
    pub max_message_bytes: usize,
    pub outbound_queue_bytes: usize,
    pub max_connections: usize,
    pub command_rate: u32,
    pub command_burst: u32,
    pub connect_rate: u32,
    pub connect_burst: u32,
    pub hello_failures_per_minute: u32,
    /// Wrong organizer keys per minute per address before further wrong keys get 429.
    pub key_failures_per_minute: u32,
    /// Join-link redemptions per minute per address before further ones get 429.
    pub joins_per_minute: u32,
    /// Most events held (running, or ended and not purged yet).
    pub max_events: usize,
    pub room_idle: Duration,
    /// How long a member whose last connection dropped keeps their place and the floor.
    pub reconnect_grace: Duration,
    /// A connection that has not sent whole request headers this long after it opened (or
    /// after its last response) is dropped.
    pub header_timeout: Duration,
    pub max_connections_per_address: usize,
    pub event_log_len: usize,
    pub room_inbox: usize,
    pub shutdown_grace: Duration,
    /// Words and phrases that flag messages for moderators (empty: nothing is flagged). Read
    /// once at start; every room shares it.
    pub word_list: Arc<WordList>,
    /// Cluster mode when set: the Redis URL.
    pub redis: Option<String>,
    pub node_id: String,
    pub redis_prefix: String,
    pub lease: Duration,
    /// Default retention of an event's data after it ends (whole seconds).
    pub retention: Duration,
    /// Where the journal and the token secret live (single node, unless `ephemeral`).
    pub data_dir: PathBuf,
    /// Nothing is written to disk; a restart starts empty.
    pub ephemeral: bool,
    /// The audio SFU runs (`--media on`).
    pub media: bool,
    pub media_bind: SocketAddr,
    pub media_public_addr: Option<SocketAddr>,
    /// Audio peers on this server (`--media-max-peers`).
    pub media_max_peers: usize,
    /// Audio peers in one room (`--media-max-room-peers`).
    pub media_max_room_peers: usize,
    /// ICE and DTLS must complete within this (`--media-connect-timeout`).
    pub media_connect_timeout: Duration,
}

/// A setting that cannot be used, with the key that holds it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {reason}")]
    File { path: String, reason: String },
    #[error("invalid value for `{key}`: {reason}")]
    Invalid { key: &'static str, reason: String },
}

/// `on`/`off` (also `true`/`false`), for switches such as `--media`.
pub fn parse_on_off(s: &str) -> Result<bool, String> {
    match s {
        "on" | "true" => Ok(true),
        "off" | "false" => Ok(false),
        _ => Err(format!("`{s}`: use on or off")),
    }
}

fn invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        reason: reason.into(),
    }
}

/// The upper bound of `--media-max-peers`: one UDP socket and one task serve them all.
pub const MAX_MEDIA_PEERS: usize = 100_000;

impl Config {
    /// The media flags: an address a browser can be told must be a real one.
    fn validate_media(&self) -> Result<(), ConfigError> {
        if !(1..=MAX_MEDIA_PEERS).contains(&self.media_max_peers) {
            return Err(invalid(
                "media_max_peers",
                format!("must be between 1 and {MAX_MEDIA_PEERS}"),
            ));
        }
        if !(1..=self.media_max_peers).contains(&self.media_max_room_peers) {
            return Err(invalid(
                "media_max_room_peers",
                "must be between 1 and media_max_peers",
            ));
        }
        let t = self.media_connect_timeout;
        if !(Duration::from_secs(1)..=Duration::from_secs(120)).contains(&t) {
            return Err(invalid(
                "media_connect_timeout",
                "must be between 1s and 120s",
            ));
        }
        if !self.media {
            return Ok(());
        }
        match self.media_public_addr {
            Some(a) if a.ip().is_unspecified() || a.port() == 0 => Err(invalid(
                "media_public_addr",
                "must be a concrete address and port browsers can reach",
            )),
            Some(_) if self.media_bind.port() == 0 => Err(invalid(
                "media_bind",
                "needs a fixed port when media_public_addr is set (the NAT forwards it)",
            )),
            None if self.media_bind.ip().is_unspecified() => Err(invalid(
                "media_public_addr",
                "is required when media_bind is a wildcard address",
            )),
            _ => Ok(()),
        }
    }

    /// Resolves flags/environment over the optional file over defaults, then validates.
    pub fn resolve(args: ServeArgs) -> Result<Config, ConfigError> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let dur = |key: &'static str, v: Option<String>| -> Result<Option<Duration>, ConfigError> {
            v.map(|s| parse_duration(&s).map_err(|e| invalid(key, e)))
                .transpose()
        };
        let bind = match (args.bind, file.bind) {
            (Some(b), _) => b,
            (None, Some(s)) => s
                .parse()
                .map_err(|e| invalid("bind", format!("`{s}`: {e}")))?,
            (None, None) => SocketAddr::from(([127, 0, 0, 1], 8080)),
        };
        let key_file = args.organizer_key_file.or(file.organizer_key_file);
        let key = args.organizer_key.or(file.organizer_key);
        let (organizer_key, organizer_key_generated) = match (key, key_file) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "organizer_key_file",
                    "give the organizer key or a file holding it, not both",
                ))
            }
            (Some(k), None) => (k, false),
            (None, Some(path)) => (read_key_file(&path)?, false),
            (None, None) => (random_hex(16), true),
        };
        let word_list = match args.word_list.or(file.word_list) {
            Some(path) => Arc::new(read_word_list(&path)?),
            None => Arc::default(),
        };
        let (token_secret, token_secret_generated) = match args.token_secret.or(file.token_secret) {
            Some(s) => (s.into_bytes(), false),
            None => (random_hex(32).into_bytes(), true),
        };
        let media = match (args.media, file.media) {
            (Some(m), _) => m,
            (None, Some(s)) => parse_on_off(&s).map_err(|e| invalid("media", e))?,
            (None, None) => true,
        };
        let addr =
            |key: &'static str, v: Option<String>| -> Result<Option<SocketAddr>, ConfigError> {
                v.map(|s| s.parse().map_err(|e| invalid(key, format!("`{s}`: {e}"))))
                    .transpose()
            };
        let media_bind = match args.media_bind {
            Some(b) => b,
            None => addr("media_bind", file.media_bind)?
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0))),
        };
        let media_public_addr = match args.media_public_addr {
            Some(a) => Some(a),
            None => addr("media_public_addr", file.media_public_addr)?,
        };
        let config = Config {
            media,
            media_bind,
            media_public_addr,
            media_max_peers: args
                .media_max_peers
                .or(file.media_max_peers)
                .unwrap_or(2_000),
            media_max_room_peers: args
                .media_max_room_peers
                .or(file.media_max_room_peers)
                .unwrap_or(1_000),
            media_connect_timeout: pick(
                args.media_connect_timeout,
                dur("media_connect_timeout", file.media_connect_timeout)?,
                15_000,
            ),
            bind,
            public_url: args.public_url.or(file.public_url),
            organizer_key,
            organizer_key_generated,
            token_secret,
            token_secret_generated,
            protocols_dir: args
                .protocols
                .or(file.protocols)
                .unwrap_or_else(load::default_dir),
            demo: args.demo.or(file.demo).unwrap_or(true),
            allowed_origins: args
                .allowed_origins
                .or(file.allowed_origins)
                .unwrap_or_default(),
            hello_timeout: pick(
                args.hello_timeout,
                dur("hello_timeout", file.hello_timeout)?,
                10_000,
            ),
            idle_timeout: pick(
                args.idle_timeout,
                dur("idle_timeout", file.idle_timeout)?,
                60_000,
            ),
            ping_interval: pick(
                args.ping_interval,
                dur("ping_interval", file.ping_interval)?,
                20_000,
            ),
            max_message_bytes: args
                .max_message_bytes
                .or(file.max_message_bytes)
                .unwrap_or(16 * 1024),
            outbound_queue_bytes: args
                .outbound_queue_bytes
                .or(file.outbound_queue_bytes)
                .unwrap_or(256 * 1024),
            max_connections: args
                .max_connections
                .or(file.max_connections)
                .unwrap_or(10_000),
            command_rate: args.command_rate.or(file.command_rate).unwrap_or(20),
            command_burst: args.command_burst.or(file.command_burst).unwrap_or(40),
            connect_rate: args.connect_rate.or(file.connect_rate).unwrap_or(50),
            connect_burst: args.connect_burst.or(file.connect_burst).unwrap_or(200),
            hello_failures_per_minute: args
                .hello_failures_per_minute
                .or(file.hello_failures_per_minute)
                .unwrap_or(30),
            key_failures_per_minute: args
                .key_failures_per_minute
                .or(file.key_failures_per_minute)
                .unwrap_or(KEY_FAILURES_PER_MINUTE),
            joins_per_minute: args
                .joins_per_minute
                .or(file.joins_per_minute)
                .unwrap_or(JOINS_PER_MINUTE),
            max_events: args
                .max_events
                .or(file.max_events)
                .unwrap_or(DEFAULT_MAX_EVENTS),
            room_idle: pick(args.room_idle, dur("room_idle", file.room_idle)?, 600_000),
            reconnect_grace: pick(
                args.reconnect_grace,
                dur("reconnect_grace", file.reconnect_grace)?,
                DEFAULT_RECONNECT_GRACE_MS,
            ),
            header_timeout: pick(
                args.header_timeout,
                dur("header_timeout", file.header_timeout)?,
                10_000,
            ),
            max_connections_per_address: args
                .max_connections_per_address
                .or(file.max_connections_per_address)
                .unwrap_or(2_500),
            event_log_len: args.event_log_len.or(file.event_log_len).unwrap_or(5_000),
            room_inbox: args.room_inbox.or(file.room_inbox).unwrap_or(1_024),
            shutdown_grace: pick(
                args.shutdown_grace,
                dur("shutdown_grace", file.shutdown_grace)?,
                5_000,
            ),
            word_list,
            redis: args.redis.or(file.redis),
            node_id: args
                .node_id
                .or(file.node_id)
                .unwrap_or_else(|| random_hex(4)),
            redis_prefix: args
                .redis_prefix
                .or(file.redis_prefix)
                .unwrap_or_else(|| "cg".into()),
            lease: pick(args.lease, dur("lease", file.lease)?, 5_000),
            retention: pick(
                args.retention,
                dur("retention", file.retention)?,
                DEFAULT_RETENTION_SECS * 1000,
            ),
            data_dir: args
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("commonground-data")),
            ephemeral: args.ephemeral.or(file.ephemeral).unwrap_or(false),
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks every value; the first bad one is reported with its key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_media()?;
        if !organizer_key_strong(&self.organizer_key) {
            return Err(invalid(
                "organizer_key",
                format!(
                    "use at least {MIN_ORGANIZER_KEY_CHARS} characters of A-Z, a-z, 0-9, `-` and `_` \
                     (128 bits), such as the output of `openssl rand -hex 16`"
                ),
            ));
        }
        if !self.ephemeral && self.data_dir.as_os_str().is_empty() {
            return Err(invalid(
                "data_dir",
                "must name a directory (or use --ephemeral)",
            ));
        }
        if self.token_secret.len() < 16 {
            return Err(invalid("token_secret", "use at least 16 bytes"));
        }
        if let Some(url) = &self.public_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(invalid("public_url", "must start with http:// or https://"));
            }
        }
        for o in &self.allowed_origins {
            let ok = o == "*" || o.starts_with("http://") || o.starts_with("https://");
            if !ok {
                return Err(invalid(
                    "allowed_origins",
                    format!("`{o}` is not an origin such as https://example.org (or *)"),
                ));
            }
        }
        let nonzero = [
            ("hello_timeout", self.hello_timeout),
            ("idle_timeout", self.idle_timeout),
            ("ping_interval", self.ping_interval),
            ("room_idle", self.room_idle),
            ("header_timeout", self.header_timeout),
        ];
        for (key, d) in nonzero {
            if d.is_zero() {
                return Err(invalid(key, "must be longer than zero"));
            }
        }
        if self.ping_interval >= self.idle_timeout {
            return Err(invalid(
                "ping_interval",
                "must be shorter than idle_timeout",
            ));
        }
        if !(256..=1024 * 1024).contains(&self.max_message_bytes) {
            return Err(invalid(
                "max_message_bytes",
                "must be between 256 and 1048576",
            ));
        }
        if self.outbound_queue_bytes < self.max_message_bytes {
            return Err(invalid(
                "outbound_queue_bytes",
                "must be at least max_message_bytes",
            ));
        }
        let positive = [
            ("max_connections", self.max_connections),
            (
                "max_connections_per_address",
                self.max_connections_per_address,
            ),
            ("command_rate", self.command_rate as usize),
            ("command_burst", self.command_burst as usize),
            ("connect_rate", self.connect_rate as usize),
            ("connect_burst", self.connect_burst as usize),
            (
                "hello_failures_per_minute",
                self.hello_failures_per_minute as usize,
            ),
            (
                "key_failures_per_minute",
                self.key_failures_per_minute as usize,
            ),
            ("joins_per_minute", self.joins_per_minute as usize),
            ("max_events", self.max_events),
            ("event_log_len", self.event_log_len),
            ("room_inbox", self.room_inbox),
        ];
        for (key, n) in positive {
            if n == 0 {
                return Err(invalid(key, "must be at least 1"));
            }
        }
        if let Some(url) = &self.redis {
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                return Err(invalid("redis", "must start with redis:// or rediss://"));
            }
        }
        let id_ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 64
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        };
        if !id_ok(&self.node_id) {
            return Err(invalid(
                "node_id",
                "use 1 to 64 letters, digits, `-`, `_` or `.`",
            ));
        }
        if self.redis_prefix.is_empty() || self.redis_prefix.contains(['{', '}']) {
            return Err(invalid("redis_prefix", "must be non-empty, without braces"));
        }
        if self.lease < Duration::from_millis(300) {
            return Err(invalid("lease", "must be at least 300ms"));
        }
        let retention = self.retention.as_secs();
        let (lo, hi) = (MIN_RETENTION_SECS, MAX_RETENTION_SECS);
        if !(lo..=hi).contains(&retention) || self.retention.subsec_nanos() != 0 {
            return Err(invalid(
                "retention",
                "must be whole seconds between 1s and 365d",
            ));
        }
        Ok(())
    }
}

/// Fewest characters of an organizer key: 22 base64url characters are 132 bits.
pub const MIN_ORGANIZER_KEY_CHARS: usize = 22;

/// Whether a key is at least [`MIN_ORGANIZER_KEY_CHARS`] characters, all of `A-Z a-z 0-9 -
/// _` (base64url or hex): at least 128 bits when it is random, and nothing that a header
/// could mangle (no spaces, no padding).
pub fn organizer_key_strong(key: &str) -> bool {
    key.len() >= MIN_ORGANIZER_KEY_CHARS
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Reads `--organizer-key-file`: its one line, without the trailing newline.
fn read_key_file(path: &Path) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        invalid(
            "organizer_key_file",
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    Ok(text.trim_end_matches(['\n', '\r']).to_string())
}

fn pick(flag: Option<Duration>, file: Option<Duration>, default_ms: u64) -> Duration {
    flag.or(file).unwrap_or(Duration::from_millis(default_ms))
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::File {
        path: path.display().to_string(),
        reason: e.message().to_string(),
    })
}

/// Reads a word list: one entry per line, blank lines and `#` comments skipped.
fn read_word_list(path: &Path) -> Result<WordList, ConfigError> {
    let cannot = |reason: String| invalid("word_list", format!("{}: {reason}", path.display()));
    let len = std::fs::metadata(path)
        .map_err(|e| cannot(e.to_string()))?
        .len();
    if len > MAX_WORD_LIST_BYTES {
        return Err(cannot(format!(
            "the file is {len} bytes; a word list may have at most {MAX_WORD_LIST_BYTES}"
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| cannot(e.to_string()))?;
    Ok(WordList::parse(&text))
}

/// Parses `"500ms"`, `"10s"`, `"2m"`, `"1h"`, `"30d"` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration such as 500ms, 10s, 2m or 1h"))?;
    let ms = match unit.trim() {
        "ms" => n,
        "" | "s" => n.saturating_mul(1_000),
        "m" => n.saturating_mul(60_000),
        "h" => n.saturating_mul(3_600_000),
        "d" => n.saturating_mul(86_400_000),
        _ => return Err(format!("`{s}` has an unknown unit; use ms, s, m, h or d")),
    };
    Ok(Duration::from_millis(ms))
}

/// `n` random bytes as lowercase hex (keys, secrets, ids).
pub fn random_hex(n: usize) -> String {
    let mut buf = vec![0u8; n];
    // The OS random source failing is not recoverable for key generation.
    getrandom::fill(&mut buf).expect("the operating system's random source failed");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}
