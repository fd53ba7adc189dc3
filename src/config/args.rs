//! Where settings come from before they are resolved: the `serve` flags and their
//! `COMMONGROUND_*` environment variables ([`ServeArgs`], read by clap) and the optional TOML
//! file ([`FileConfig`]). Both are all-optional so that [`super::Config::resolve`] can fill
//! the gaps in order: flags, environment, file, defaults.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{parse_duration, parse_on_off};

/// Flags (and their environment variables) for `commonground serve`. Every field is optional
/// so that the file and the defaults can fill the gaps.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// TOML file with any of the settings below (flags and environment win over it).
    #[arg(long, env = "COMMONGROUND_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "COMMONGROUND_BIND")]
    pub bind: Option<SocketAddr>,
    /// Public base URL used in invite links [default: http://<bind address>].
    #[arg(long, env = "COMMONGROUND_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Organizer API key (Bearer token for /api/events) [default: random, printed at start].
    /// The environment variable keeps it out of `ps`; so does `--organizer-key-file`. At
    /// least 22 characters of `A-Z a-z 0-9 - _` (128 bits as base64url or 32 hex digits).
    #[arg(long, env = "COMMONGROUND_ORGANIZER_KEY", hide_env_values = true)]
    pub organizer_key: Option<String>,
    /// File holding the organizer key (one line; a trailing newline is ignored), so the key
    /// shows neither in `ps` nor in the environment. Not together with `--organizer-key`.
    #[arg(long, env = "COMMONGROUND_ORGANIZER_KEY_FILE")]
    pub organizer_key_file: Option<PathBuf>,
    /// Secret that signs invite tokens (at least 16 bytes) [default: generated once and kept
    /// in the data dir, so invite links survive restarts; random per start with --ephemeral].
    #[arg(long, env = "COMMONGROUND_TOKEN_SECRET", hide_env_values = true)]
    pub token_secret: Option<String>,
    /// Directory of protocol files [default: the repository's protocols/].
    #[arg(long, env = "COMMONGROUND_PROTOCOLS")]
    pub protocols: Option<PathBuf>,
    /// Create the demo event and print its invite links [default: true].
    #[arg(long, env = "COMMONGROUND_DEMO")]
    pub demo: Option<bool>,
    /// Comma-separated Origins allowed to open a WebSocket, or `*` [default: the origin of
    /// --public-url; without one, http://127.0.0.1:PORT and http://localhost:PORT; never the
    /// request's Host; a missing Origin (non-browser client) is always allowed].
    #[arg(long, env = "COMMONGROUND_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Option<Vec<String>>,
    /// Time a new connection has to send `hello` [default: 10s].
    #[arg(long, env = "COMMONGROUND_HELLO_TIMEOUT", value_parser = parse_duration)]
    pub hello_timeout: Option<Duration>,
    /// Close a connection that sent nothing (not even a pong) for this long [default: 60s].
    #[arg(long, env = "COMMONGROUND_IDLE_TIMEOUT", value_parser = parse_duration)]
    pub idle_timeout: Option<Duration>,
    /// Interval between server pings [default: 20s].
    #[arg(long, env = "COMMONGROUND_PING_INTERVAL", value_parser = parse_duration)]
    pub ping_interval: Option<Duration>,
    /// Largest client message in bytes [default: 16384].
    #[arg(long, env = "COMMONGROUND_MAX_MESSAGE_BYTES")]
    pub max_message_bytes: Option<usize>,
    /// Per-connection outbound queue bound in bytes; a client behind by more is cut loose
    /// with close code 4008 [default: 262144].
    #[arg(long, env = "COMMONGROUND_OUTBOUND_QUEUE_BYTES")]
    pub outbound_queue_bytes: Option<usize>,
    /// Most open WebSocket connections [default: 10000].
    #[arg(long, env = "COMMONGROUND_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Commands per second per connection [default: 20].
    #[arg(long, env = "COMMONGROUND_COMMAND_RATE")]
    pub command_rate: Option<u32>,
    /// Command burst per connection [default: 40].
    #[arg(long, env = "COMMONGROUND_COMMAND_BURST")]
    pub command_burst: Option<u32>,
    /// WebSocket connection attempts per second per client address [default: 50].
    #[arg(long, env = "COMMONGROUND_CONNECT_RATE")]
    pub connect_rate: Option<u32>,
    /// Connection-attempt burst per client address [default: 200].
    #[arg(long, env = "COMMONGROUND_CONNECT_BURST")]
    pub connect_burst: Option<u32>,
    /// Failed hellos (bad tokens) per minute per client address before the address is
    /// refused for a minute [default: 30].
    #[arg(long, env = "COMMONGROUND_HELLO_FAILURES_PER_MINUTE")]
    pub hello_failures_per_minute: Option<u32>,
    /// Wrong organizer keys per minute per client address; beyond it, wrong keys from the
    /// address are answered `429 rate_limited` for a minute (the right key always works)
    /// [default: 10].
    #[arg(long, env = "COMMONGROUND_KEY_FAILURES_PER_MINUTE")]
    pub key_failures_per_minute: Option<u32>,
    /// Join-link redemptions (new members) per minute per client address; beyond it
    /// `POST /api/join/{code}` is `429 rate_limited` [default: 30].
    #[arg(long, env = "COMMONGROUND_JOINS_PER_MINUTE")]
    pub joins_per_minute: Option<u32>,
    /// Most events this server holds, running or ended and not yet purged; beyond it
    /// `POST /api/events` is `409 too_many_events` [default: 10000].
    #[arg(long, env = "COMMONGROUND_MAX_EVENTS")]
    pub max_events: Option<usize>,
    /// A room with nobody connected for this long is parked (its task ends) [default: 10m].
    #[arg(long, env = "COMMONGROUND_ROOM_IDLE", value_parser = parse_duration)]
    pub room_idle: Option<Duration>,
    /// How long a member whose last connection dropped keeps their place in line and the
    /// floor (the turn's own timer keeps running); `0s` leaves at once [default: 30s].
    #[arg(long, env = "COMMONGROUND_RECONNECT_GRACE", value_parser = parse_duration)]
    pub reconnect_grace: Option<Duration>,
    /// Time a new HTTP connection has to send its request headers (slowloris) [default: 10s].
    #[arg(long, env = "COMMONGROUND_HEADER_TIMEOUT", value_parser = parse_duration)]
    pub header_timeout: Option<Duration>,
    /// Most open TCP connections from one client address, counted before anything is parsed
    /// [default: 2500].
    #[arg(long, env = "COMMONGROUND_MAX_CONNECTIONS_PER_ADDRESS")]
    pub max_connections_per_address: Option<usize>,
    /// Events kept per room for resume [default: 5000].
    #[arg(long, env = "COMMONGROUND_EVENT_LOG_LEN")]
    pub event_log_len: Option<usize>,
    /// Commands queued per room before `unavailable` [default: 1024].
    #[arg(long, env = "COMMONGROUND_ROOM_INBOX")]
    pub room_inbox: Option<usize>,
    /// How long shutdown waits for connections and rooms [default: 5s].
    #[arg(long, env = "COMMONGROUND_SHUTDOWN_GRACE", value_parser = parse_duration)]
    pub shutdown_grace: Option<Duration>,
    /// File of words and phrases (one per line, `#` comments) that flag a message for
    /// moderators; it never blocks a message [default: none].
    #[arg(long, env = "COMMONGROUND_WORD_LIST")]
    pub word_list: Option<PathBuf>,
    /// Redis URL (`redis://HOST:PORT`); set, the node runs in cluster mode and shares rooms
    /// with every node on the same Redis and prefix [default: none, single node].
    #[arg(long, env = "COMMONGROUND_REDIS", hide_env_values = true)]
    pub redis: Option<String>,
    /// This node's id in the cluster [default: random].
    #[arg(long, env = "COMMONGROUND_NODE_ID")]
    pub node_id: Option<String>,
    /// Prefix of every Redis key and channel [default: cg].
    #[arg(long, env = "COMMONGROUND_REDIS_PREFIX")]
    pub redis_prefix: Option<String>,
    /// Room lease in cluster mode: how long a dead owner holds a room [default: 5s].
    #[arg(long, env = "COMMONGROUND_LEASE", value_parser = parse_duration)]
    pub lease: Option<Duration>,
    /// How long an event's data (event log, transcript, report) is kept after it ends, for
    /// events created without their own `retention_secs`; 1s to 365d [default: 30d].
    #[arg(long, env = "COMMONGROUND_RETENTION", value_parser = parse_duration)]
    pub retention: Option<Duration>,
    /// Directory of the durable journal (SQLite) and the generated token secret; created
    /// (mode 0700) on first start [default: ./commonground-data].
    #[arg(long, env = "COMMONGROUND_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Keep everything in memory: a restart loses every event (tests, demos).
    #[arg(long, env = "COMMONGROUND_EPHEMERAL", num_args = 0..=1, default_missing_value = "true")]
    pub ephemeral: Option<bool>,
    /// Voice: `on` runs the embedded audio SFU, `off` the text-only server [default: on].
    #[arg(long, env = "COMMONGROUND_MEDIA", value_parser = parse_on_off)]
    pub media: Option<bool>,
    /// UDP address of the audio SFU, one socket for every peer [default: 127.0.0.1:0].
    #[arg(long, env = "COMMONGROUND_MEDIA_BIND")]
    pub media_bind: Option<SocketAddr>,
    /// Address announced to browsers in the SDP answer, when the bind address is not the one
    /// they reach (NAT, a wildcard bind) [default: the bound address].
    #[arg(long, env = "COMMONGROUND_MEDIA_PUBLIC_ADDR")]
    pub media_public_addr: Option<SocketAddr>,
    /// Most audio peers on this server, every room together; 1 to 100000 [default: 2000].
    #[arg(long, env = "COMMONGROUND_MEDIA_MAX_PEERS")]
    pub media_max_peers: Option<usize>,
    /// Most audio peers in one room (hall or group); 1 to media_max_peers [default: 1000].
    #[arg(long, env = "COMMONGROUND_MEDIA_MAX_ROOM_PEERS")]
    pub media_max_room_peers: Option<usize>,
    /// How long an answered peer has to complete ICE and DTLS before it is dropped; 1s to
    /// 120s [default: 15s].
    #[arg(long, env = "COMMONGROUND_MEDIA_CONNECT_TIMEOUT", value_parser = parse_duration)]
    pub media_connect_timeout: Option<Duration>,
}

/// The same settings in a TOML file. Durations are strings such as `"10s"` or `"500ms"`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileConfig {
    pub(super) bind: Option<String>,
    pub(super) public_url: Option<String>,
    pub(super) organizer_key: Option<String>,
    pub(super) organizer_key_file: Option<PathBuf>,
    pub(super) token_secret: Option<String>,
    pub(super) protocols: Option<PathBuf>,
    pub(super) demo: Option<bool>,
    pub(super) allowed_origins: Option<Vec<String>>,
    pub(super) hello_timeout: Option<String>,
    pub(super) idle_timeout: Option<String>,
    pub(super) ping_interval: Option<String>,
    pub(super) max_message_bytes: Option<usize>,
    pub(super) outbound_queue_bytes: Option<usize>,
    pub(super) max_connections: Option<usize>,
    pub(super) command_rate: Option<u32>,
    pub(super) command_burst: Option<u32>,
    pub(super) connect_rate: Option<u32>,
    pub(super) connect_burst: Option<u32>,
    pub(super) hello_failures_per_minute: Option<u32>,
    pub(super) key_failures_per_minute: Option<u32>,
    pub(super) joins_per_minute: Option<u32>,
    pub(super) max_events: Option<usize>,
    pub(super) room_idle: Option<String>,
    pub(super) reconnect_grace: Option<String>,
    pub(super) header_timeout: Option<String>,
    pub(super) max_connections_per_address: Option<usize>,
    pub(super) event_log_len: Option<usize>,
    pub(super) room_inbox: Option<usize>,
    pub(super) shutdown_grace: Option<String>,
    pub(super) word_list: Option<PathBuf>,
    pub(super) redis: Option<String>,
    pub(super) node_id: Option<String>,
    pub(super) redis_prefix: Option<String>,
    pub(super) lease: Option<String>,
    pub(super) retention: Option<String>,
    pub(super) data_dir: Option<PathBuf>,
    pub(super) ephemeral: Option<bool>,
    pub(super) media: Option<String>,
    pub(super) media_bind: Option<String>,
    pub(super) media_public_addr: Option<String>,
    pub(super) media_max_peers: Option<usize>,
    pub(super) media_max_room_peers: Option<usize>,
    pub(super) media_connect_timeout: Option<String>,
}
