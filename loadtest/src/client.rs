//! Opening client WebSockets: bounded connect concurrency, rotating loopback source
//! addresses, small buffers, and a clock every task shares.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::SinkExt as _;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;

pub type Ws = WebSocketStream<TcpStream>;

/// Why a connection attempt failed, in the buckets the reports count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectError {
    /// HTTP 429 on the upgrade: the server's connect rate limiter.
    RateLimited,
    /// Another HTTP status on the upgrade (403, 503, ...).
    Http(u16),
    Timeout,
    Io(String),
}

impl ConnectError {
    pub fn bucket(&self) -> String {
        match self {
            ConnectError::RateLimited => "http_429_rate_limited".into(),
            ConnectError::Http(s) => format!("http_{s}"),
            ConnectError::Timeout => "connect_timeout".into(),
            ConnectError::Io(e) => format!("io: {e}"),
        }
    }
}

/// Shared by every client of a run.
#[derive(Debug)]
pub struct Connector {
    server: SocketAddr,
    path: &'static str,
    sources: Vec<IpAddr>,
    next_source: AtomicUsize,
    permits: Semaphore,
    n_sources: u8,
    concurrency: usize,
    timeout: Duration,
}

impl Connector {
    /// `n_sources` loopback source addresses 127.0.0.1.. (IPv4 targets only; an IPv6 target
    /// uses the kernel's choice). Each address has its own ~28k ephemeral ports.
    pub fn new(
        server: SocketAddr,
        path: &'static str,
        n_sources: u8,
        concurrency: usize,
        timeout: Duration,
    ) -> Arc<Connector> {
        let sources = match server.ip() {
            IpAddr::V4(_) => (1..=n_sources.max(1))
                .map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, 0, i)))
                .collect(),
            IpAddr::V6(_) => Vec::new(),
        };
        Arc::new(Connector {
            server,
            path,
            sources,
            next_source: AtomicUsize::new(0),
            permits: Semaphore::new(concurrency.max(1)),
            n_sources,
            concurrency,
            timeout,
        })
    }

    /// The `n_sources` it was made with (for a connector to another node of the same run).
    pub fn source_count(&self) -> u8 {
        self.n_sources
    }

    /// Handshakes it lets run at once.
    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// Opens one WebSocket, holding a connect permit only for the TCP + upgrade handshake.
    pub async fn connect(&self) -> Result<Ws, ConnectError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| ConnectError::Io("closed".into()))?;
        match tokio::time::timeout(self.timeout, self.connect_inner()).await {
            Ok(r) => r,
            Err(_) => Err(ConnectError::Timeout),
        }
    }

    async fn connect_inner(&self) -> Result<Ws, ConnectError> {
        let io = |e: std::io::Error| ConnectError::Io(e.kind().to_string());
        let socket = match self.server {
            SocketAddr::V4(_) => TcpSocket::new_v4().map_err(io)?,
            SocketAddr::V6(_) => TcpSocket::new_v6().map_err(io)?,
        };
        if !self.sources.is_empty() {
            let i = self.next_source.fetch_add(1, Ordering::Relaxed) % self.sources.len();
            socket
                .bind(SocketAddr::new(self.sources[i], 0))
                .map_err(io)?;
        }
        let stream = socket.connect(self.server).await.map_err(io)?;
        stream.set_nodelay(true).map_err(io)?;
        let req = format!("ws://{}{}", self.server, self.path)
            .into_client_request()
            .map_err(|e| ConnectError::Io(e.to_string()))?;
        // Small buffers: tungstenite's 128 KiB default read buffer would cost 1.3 GB at 10k
        // clients and make the generator, not the server, the thing we measure.
        let config = WebSocketConfig::default()
            .read_buffer_size(8 * 1024)
            .write_buffer_size(0);
        match tokio_tungstenite::client_async_with_config(req, stream, Some(config)).await {
            Ok((ws, _)) => Ok(ws),
            Err(tungstenite::Error::Http(res)) if res.status().as_u16() == 429 => {
                Err(ConnectError::RateLimited)
            }
            Err(tungstenite::Error::Http(res)) => Err(ConnectError::Http(res.status().as_u16())),
            Err(e) => Err(ConnectError::Io(e.to_string())),
        }
    }
}

/// Sends one text frame.
pub async fn send_text(ws: &mut Ws, text: String) -> Result<(), tungstenite::Error> {
    ws.send(Message::text(text)).await
}

/// The process-wide origin of the microsecond clock that utterance markers carry.
fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(now)
}

/// Monotonic now. The loadtest measures real time, which the workspace's clippy.toml bans
/// elsewhere; this and [`unix_now_us`] are the only places that read a clock.
#[allow(clippy::disallowed_methods)]
pub fn now() -> Instant {
    Instant::now()
}

/// Microseconds since the process origin, for markers.
pub fn us_since_origin(t: Instant) -> u64 {
    u64::try_from(t.saturating_duration_since(origin()).as_micros()).unwrap_or(u64::MAX)
}

/// Wall-clock Unix microseconds, compared with the server's `at` (same host, same clock).
#[allow(clippy::disallowed_methods)]
pub fn unix_now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// Call once at start so the origin precedes every marker.
pub fn init_clock() {
    let _ = origin();
}
