//! Shared helpers for the server tests: a real server on 127.0.0.1:0, an HTTP client
//! (`http.rs`, hyper's), separate node processes (`cluster_node.rs`), and a WebSocket client
//! that keeps what it received.
//!
//! Timeouts here only bound waiting (a hung server fails the test instead of hanging it);
//! no assertion depends on how fast anything is.

#![allow(dead_code)]

pub mod cluster_node;
pub mod http;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use commonground::config::{Config, ServeArgs};
use commonground::server::{AppState, Server, ServerError};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub use http::HttpResponse;

pub const ORG_KEY: &str = "test-organizer-key-0123456789";
/// Bound on any single wait.
pub const WAIT: Duration = Duration::from_secs(20);

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A small protocol library with short timers, written to a fresh temp dir.
pub fn protocol_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "commonground-test-{}-{}",
        std::process::id(),
        commonground::config::random_hex(6)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("test-hall.toml"),
        r#"name = "test-hall"
title = "Test hall"
description = "An open floor with reflect-back, then a one-second closing reflection."

[[phase]]
id = "open"
kind = "queue"
title = "Open floor"
prompt = "What matters to you?"
ordering = "fifo"
turn = "60s"
reflect_back = { turn = "30s", clarify = "20s", attempts = 1, confirm = "20s" }

[[phase]]
id = "closing"
kind = "reflection"
title = "Closing"
prompt = "One thing you heard."
duration = "1s"
notes = "shared_anonymous"
"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("test-open.toml"),
        r#"name = "test-open"
title = "Open floor only"
description = "An open floor with long timers, for tests that must not advance on their own."

[[phase]]
id = "open"
kind = "queue"
title = "Open floor"
prompt = "What matters to you?"
ordering = "fifo"
turn = "10m"
"#,
    )
    .unwrap();
    dir
}

/// A config for tests: port 0, a known organizer key, no demo, the test protocols.
/// Writes protocol `name` into `dir`: one open floor (a FIFO queue) whose turns end on their
/// own after `turn` (e.g. `"3s"`), for the tests that watch a turn's timer across a fault.
pub fn write_open_floor(dir: &Path, name: &str, turn: &str) {
    std::fs::write(
        dir.join(format!("{name}.toml")),
        format!(
            r#"name = "{name}"
title = "Open floor, short turns"
description = "An open floor whose turns end on their own after {turn}."

[[phase]]
id = "open"
kind = "queue"
title = "Open floor"
prompt = "What matters to you?"
ordering = "fifo"
turn = "{turn}"
"#
        ),
    )
    .unwrap();
}

pub fn test_config() -> Config {
    let args = ServeArgs {
        bind: Some("127.0.0.1:0".parse().unwrap()),
        organizer_key: Some(ORG_KEY.into()),
        token_secret: Some("test-token-secret-0123456789".into()),
        protocols: Some(protocol_dir()),
        demo: Some(false),
        // In-process servers keep nothing on disk (never in the cwd); the restart tests run
        // the binary on a temp data dir.
        ephemeral: Some(true),
        // The suite sends many wrong keys from 127.0.0.1 on purpose (`tests/auth_matrix.rs`);
        // `tests/api_limits.rs` tests the quota itself.
        key_failures_per_minute: Some(100_000),
        // The suites assert that a closed connection leaves at once; `tests/outage.rs` tests
        // the reconnect grace itself.
        reconnect_grace: Some(Duration::ZERO),
        ..ServeArgs::default()
    };
    Config::resolve(args).unwrap()
}

/// A test library with a Q&A phase long enough not to end during a test, and per-connection
/// rates high enough that a flood reaches the room (the rate limiter has its own tests).
pub fn qa_config() -> Config {
    let mut config = test_config();
    std::fs::write(
        config.protocols_dir.join("test-qa.toml"),
        r#"name = "test-qa"
title = "Questions"
description = "Audience questions with up-votes."

[[phase]]
id = "qa"
kind = "qa"
title = "Questions"
prompt = "Ask the panel."
answer_turn = "10m"
"#,
    )
    .unwrap();
    config.command_rate = 10_000;
    config.command_burst = 10_000;
    config
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<Result<(), ServerError>>>,
}

pub async fn start_server(config: Config) -> TestServer {
    // `RUST_LOG=commonground=debug cargo test` shows the server's logs.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let listener = TcpListener::bind(config.bind).await.unwrap();
    let server = Server::new(listener, config).unwrap();
    let addr = server.local_addr().unwrap();
    let state = server.state().clone();
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(server.run(async move {
        let _ = rx.await;
    }));
    TestServer {
        addr,
        state,
        shutdown: Some(tx),
        handle: Some(handle),
    }
}

/// [`start_server`] in cluster mode when `config.redis` is set (connects to Redis first).
pub async fn start_cluster_server(config: Config) -> TestServer {
    let listener = TcpListener::bind(config.bind).await.unwrap();
    let server = Server::start(listener, config).await.unwrap();
    let addr = server.local_addr().unwrap();
    let state = server.state().clone();
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(server.run(async move {
        let _ = rx.await;
    }));
    TestServer {
        addr,
        state,
        shutdown: Some(tx),
        handle: Some(handle),
    }
}

impl TestServer {
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// Sends one HTTP request (`Connection: close`) and reads the whole response.
    pub async fn http(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> HttpResponse {
        http::request(self.addr, method, path, headers, body).await
    }

    /// An organizer request with a JSON body.
    pub async fn org(&self, method: &str, path: &str, body: Option<Value>) -> HttpResponse {
        let auth = format!("Bearer {ORG_KEY}");
        let body = body.map(|b| b.to_string());
        self.http(
            method,
            path,
            body.as_deref(),
            &[
                ("Authorization", auth.as_str()),
                ("Content-Type", "application/json"),
            ],
        )
        .await
    }

    pub async fn create_event(&self, protocol: &str) -> String {
        let res = self
            .org(
                "POST",
                "/api/events",
                Some(json!({"title": "Test", "protocol": protocol,
                    "communities": ["Dayton, OH", "Boulder, CO"], "seed": 7})),
            )
            .await;
        assert_eq!(res.status, 201, "{}", res.body);
        res.json()["id"].as_str().unwrap().to_string()
    }

    /// Mints an invite and returns its token.
    pub async fn invite(
        &self,
        event: &str,
        role: &str,
        name: &str,
        community: Option<&str>,
    ) -> String {
        let res = self
            .org(
                "POST",
                &format!("/api/events/{event}/invites"),
                Some(json!({"role": role, "name": name, "community": community})),
            )
            .await;
        assert_eq!(res.status, 201, "{}", res.body);
        res.json()["token"].as_str().unwrap().to_string()
    }

    /// Opens a WebSocket without saying hello.
    pub async fn connect(&self) -> Client {
        let connect = tokio_tungstenite::connect_async_with_config(self.ws_url(), None, true);
        let (ws, _) = tokio::time::timeout(WAIT, connect)
            .await
            .expect("connect in time")
            .expect("websocket connects");
        Client::new(ws)
    }

    /// Opens a WebSocket with an `Origin` header; returns the HTTP status on refusal.
    pub async fn connect_with_origin(&self, origin: &str) -> Result<Client, u16> {
        let mut req = self.ws_url().into_client_request().unwrap();
        req.headers_mut().insert("origin", origin.parse().unwrap());
        match tokio_tungstenite::connect_async_with_config(req, None, true).await {
            Ok((ws, _)) => Ok(Client::new(ws)),
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
            Err(e) => panic!("unexpected connect error: {e}"),
        }
    }

    /// Connects, says hello and waits for `welcome` and `snapshot`.
    pub async fn join(&self, token: &str) -> Client {
        let c = self.connect().await;
        Client::hello(c, token).await
    }
}

impl Client {
    /// Says hello on an open socket and waits for `welcome` and `snapshot`.
    pub async fn hello(mut c: Client, token: &str) -> Client {
        c.send(json!({"type": "hello", "token": token})).await;
        let welcome = c.recv_json().await;
        assert_eq!(welcome["type"], "welcome", "{welcome}");
        c.member = welcome["member"].as_str().unwrap().to_string();
        c.room = welcome["room"].as_str().unwrap().to_string();
        let snap = c.recv_json().await;
        assert_eq!(snap["type"], "snapshot", "{snap}");
        c.last_seq = snap["seq"].as_u64().unwrap();
        c.snapshot = Some(snap);
        c
    }
}

impl TestServer {
    pub async fn metric(&self, name: &str) -> f64 {
        let res = self.http("GET", "/metrics", None, &[]).await;
        res.body
            .lines()
            .find_map(|l| l.strip_prefix(name).and_then(|r| r.trim().parse().ok()))
            .unwrap_or(0.0)
    }

    /// Triggers shutdown and waits for `run` to return.
    pub async fn stop(mut self) -> Result<(), ServerError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let handle = self.handle.take().unwrap();
        tokio::time::timeout(WAIT, handle)
            .await
            .expect("run returns in time")
            .unwrap()
    }
}

/// A WebSocket client that keeps every event it saw.
pub struct Client {
    pub ws: Ws,
    pub member: String,
    pub room: String,
    pub last_seq: u64,
    pub snapshot: Option<Value>,
    /// Every `event` frame received, in order (including those inside `resumed`).
    pub events: Vec<Value>,
    /// Messages read while waiting for a reply and not yet consumed.
    pending: std::collections::VecDeque<Value>,
    next_id: u64,
}

/// How a connection ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Closed {
    Code(u16, String),
    /// EOF or reset without a close frame.
    Dropped,
}

impl Client {
    pub fn new(ws: Ws) -> Client {
        Client {
            ws,
            member: String::new(),
            room: String::new(),
            last_seq: 0,
            snapshot: None,
            events: Vec::new(),
            pending: Default::default(),
            next_id: 1,
        }
    }

    pub async fn send(&mut self, v: Value) {
        tokio::time::timeout(WAIT, self.ws.send(Message::text(v.to_string())))
            .await
            .expect("send in time")
            .unwrap();
    }

    pub async fn send_raw(&mut self, m: Message) {
        self.ws.send(m).await.unwrap();
    }

    /// The next message that is not a ping/pong; `None` when the socket ended.
    pub async fn recv_msg(&mut self) -> Option<Message> {
        loop {
            let m = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a message in time");
            match m {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(m)) => return Some(m),
                _ => return None,
            }
        }
    }

    /// The next unconsumed JSON message.
    pub async fn recv_json(&mut self) -> Value {
        match self.pending.pop_front() {
            Some(v) => v,
            None => self.read_json().await,
        }
    }

    /// Reads the next JSON message off the socket; records events.
    pub async fn read_json(&mut self) -> Value {
        match self.recv_msg().await {
            Some(Message::Text(t)) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                self.record(&v);
                v
            }
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    fn record(&mut self, v: &Value) {
        match v["type"].as_str() {
            Some("event") => {
                self.last_seq = v["seq"].as_u64().unwrap();
                self.events.push(v.clone());
            }
            Some("resumed") => {
                for e in v["events"].as_array().unwrap() {
                    self.last_seq = e["seq"].as_u64().unwrap();
                    self.events.push(e.clone());
                }
            }
            Some("snapshot") => self.last_seq = v["seq"].as_u64().unwrap(),
            _ => {}
        }
    }

    /// Reads until a message matches.
    pub async fn recv_until(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        loop {
            let v = self.recv_json().await;
            if pred(&v) {
                return v;
            }
        }
    }

    /// Reads until an event of this type.
    pub async fn event(&mut self, ty: &str) -> Value {
        self.recv_until(|v| v["type"] == "event" && v["event"]["type"] == ty)
            .await
    }

    /// Sends a command with a fresh id and returns its `ack` or `error`.
    pub async fn cmd(&mut self, mut v: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        v["id"] = json!(id);
        self.send(v).await;
        let is_reply =
            |m: &Value| (m["type"] == "ack" || m["type"] == "error") && m["id"] == json!(id);
        loop {
            let m = self.read_json().await;
            if is_reply(&m) {
                return m;
            }
            self.pending.push_back(m);
        }
    }

    /// Sends a command and asserts it was acknowledged.
    pub async fn ok(&mut self, v: Value) {
        let what = v.to_string();
        let r = self.cmd(v).await;
        assert_eq!(r["type"], "ack", "{what} -> {r}");
    }

    /// Sends a command and returns the refusal code.
    pub async fn refused(&mut self, v: Value) -> String {
        let what = v.to_string();
        let r = self.cmd(v).await;
        assert_eq!(r["type"], "error", "{what} -> {r}");
        r["code"].as_str().unwrap().to_string()
    }

    /// Reads (skipping data) until the server closes; returns how.
    pub async fn closed(&mut self) -> Closed {
        loop {
            match tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("the close in time")
            {
                Some(Ok(Message::Close(Some(f)))) => {
                    // Complete the closing handshake.
                    let _ = self.ws.close(None).await;
                    return Closed::Code(u16::from(f.code), f.reason.to_string());
                }
                Some(Ok(Message::Close(None))) => return Closed::Code(1005, String::new()),
                Some(Ok(Message::Text(t))) => {
                    if let Ok(v) = serde_json::from_str::<Value>(&t) {
                        self.record(&v);
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return Closed::Dropped,
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// Close code helper for readability.
pub fn code(c: CloseCode) -> u16 {
    u16::from(c)
}

/// `test_config()` whose protocol library also holds these shipped protocols (from
/// `protocols/`), e.g. `joint-town-hall` with its breakout sub-protocol.
pub fn config_with_shipped(names: &[&str]) -> Config {
    let config = test_config();
    for name in names {
        let from = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("protocols")
            .join(format!("{name}.toml"));
        std::fs::copy(&from, config.protocols_dir.join(format!("{name}.toml")))
            .unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
    }
    config
}
