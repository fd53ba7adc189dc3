//! Nodes as separate processes of the real binary, for the cluster, fault and restart tests:
//! on the shared Redis (127.0.0.1:6379) or a test's own ([`OwnRedis`]) under a unique key
//! prefix, with 1 s leases so takeovers are quick, or single (no Redis) on a data dir; and
//! the organizer API (through [`super::http`]) and WebSocket joins against them.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use super::{http, Client, WAIT};

pub const SHARED_REDIS: &str = "redis://127.0.0.1:6379/";
pub const ORG_KEY: &str = "cluster-organizer-key-0123456789";
pub const SECRET: &str = "cluster-token-secret-0123456789";

pub fn unique(test: &str) -> String {
    let nanos = std::time::SystemTime::UNIX_EPOCH
        .elapsed()
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("cgtest-{test}-{}-{nanos}", std::process::id())
}

/// The shipped town hall and its breakout protocol, in a directory of their own.
/// With `words`, also the nodes' word list (`words.txt`, not a protocol), one entry per line.
pub fn protocol_dir(words: Option<&str>) -> PathBuf {
    let dir = std::env::temp_dir().join(unique("cluster-node-protocols"));
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["joint-town-hall", "small-group-round"] {
        let from = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("protocols")
            .join(format!("{name}.toml"));
        std::fs::copy(&from, dir.join(format!("{name}.toml"))).unwrap();
    }
    if let Some(words) = words {
        std::fs::write(dir.join("words.txt"), words).unwrap();
    }
    dir
}

/// One node: a child process of the real binary, killed when dropped.
pub struct Node {
    pub child: Child,
    pub addr: SocketAddr,
}

/// A node on the shared Redis, on a free port.
pub fn spawn_node(prefix: &str, id: &str, protocols: &Path) -> Node {
    spawn_node_on(SHARED_REDIS, "127.0.0.1:0", prefix, id, protocols)
}

/// A node on the Redis at `redis` (e.g. an [`OwnRedis`]'s `url()`), bound to `bind`. The
/// nodes' word list is `protocols/words.txt` when there is one. With `CLUSTER_LOG` set, the
/// node logs at that level and its stdout is echoed, tagged with `id`.
pub fn spawn_node_on(redis: &str, bind: &str, prefix: &str, id: &str, protocols: &Path) -> Node {
    let mut child = Command::new(env!("CARGO_BIN_EXE_commonground"))
        .args(["serve", "--bind", bind, "--demo", "false"])
        .args(["--redis", redis, "--redis-prefix", prefix, "--node-id", id])
        .args([
            "--lease",
            "1s",
            "--shutdown-grace",
            "3s",
            "--reconnect-grace",
            "0s",
        ])
        .args(["--organizer-key", ORG_KEY, "--token-secret", SECRET])
        .arg("--protocols")
        .arg(protocols)
        .args(
            protocols
                .join("words.txt")
                .exists()
                .then(|| ["--word-list".into(), protocols.join("words.txt")])
                .into_iter()
                .flatten(),
        )
        .env(
            "RUST_LOG",
            std::env::var("CLUSTER_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the commonground binary starts");
    let addr = read_addr(&mut child, id);
    Node { child, addr }
}

/// A single node (no Redis) on `data_dir`, with the token secret generated there, like the
/// README's first command.
pub fn spawn_single(data_dir: &Path, protocols: &Path) -> Node {
    let mut child = Command::new(env!("CARGO_BIN_EXE_commonground"))
        .args(["serve", "--bind", "127.0.0.1:0", "--demo", "false"])
        .args(["--organizer-key", ORG_KEY, "--shutdown-grace", "3s"])
        .args(["--reconnect-grace", "0s"])
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--protocols")
        .arg(protocols)
        .env_remove("COMMONGROUND_CONFIG")
        .env_remove("COMMONGROUND_TOKEN_SECRET")
        .env(
            "RUST_LOG",
            std::env::var("CLUSTER_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the commonground binary starts");
    let addr = read_addr(&mut child, "single");
    Node { child, addr }
}

/// The address the node prints on stdout (bounded by [`WAIT`]); the rest of its stdout is
/// drained, and echoed with `CLUSTER_LOG` set.
fn read_addr(child: &mut Child, tag: &str) -> SocketAddr {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let echo = std::env::var("CLUSTER_LOG").is_ok();
    let tag = tag.to_string();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if echo {
                eprintln!("[{tag}] {line}");
            }
            if let Some(url) = line.strip_prefix("Commonground is listening on http://") {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        }
    });
    rx.recv_timeout(WAIT)
        .expect("the node prints its address")
        .parse()
        .unwrap()
}

/// One HTTP/1.1 request with the organizer key (and a JSON body); the status and the body.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, String) {
    let auth = format!("Bearer {ORG_KEY}");
    let body = body.map(|b| b.to_string());
    let res = http::request(
        addr,
        method,
        path,
        &[
            ("Authorization", auth.as_str()),
            ("Content-Type", "application/json"),
        ],
        body.as_deref(),
    )
    .await;
    (res.status, res.body)
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Node {
    /// SIGKILL: the process gets no chance to flush or clean up anything.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM (the graceful shutdown path), then waits (bounded: 10 s, then SIGKILL) for
    /// the process to exit.
    pub fn terminate(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.kill();
    }

    /// An organizer request to this node: the status and the body.
    pub async fn http(&self, method: &str, path: &str, body: Option<Value>) -> (u16, String) {
        request(self.addr, method, path, body).await
    }

    /// An organizer `POST` that must answer 201; its JSON body.
    pub async fn post(&self, path: &str, body: Value) -> Value {
        let (status, text) = self.http("POST", path, Some(body)).await;
        assert_eq!(status, 201, "POST {path}: {text}");
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("POST {path}: not JSON ({e}): {text}"))
    }

    /// Creates an event of `protocol` for Dayton and Boulder; its id.
    pub async fn create_event(&self, protocol: &str) -> String {
        let v = self
            .post(
                "/api/events",
                json!({"title": "Cluster", "protocol": protocol,
                    "communities": ["Dayton, OH", "Boulder, CO"], "seed": 7}),
            )
            .await;
        v["id"].as_str().unwrap().to_string()
    }

    /// Mints an invite; its token.
    pub async fn invite(
        &self,
        event: &str,
        role: &str,
        name: &str,
        community: Option<&str>,
    ) -> String {
        let v = self
            .post(
                &format!("/api/events/{event}/invites"),
                json!({"role": role, "name": name, "community": community}),
            )
            .await;
        v["token"].as_str().unwrap().to_string()
    }

    pub async fn connect(&self) -> Client {
        let url = format!("ws://{}/ws", self.addr);
        let connect = tokio_tungstenite::connect_async_with_config(url, None, true);
        let (ws, _) = tokio::time::timeout(WAIT, connect)
            .await
            .expect("connect in time")
            .expect("websocket connects");
        Client::new(ws)
    }

    pub async fn join(&self, token: &str) -> Client {
        Client::hello(self.connect().await, token).await
    }

    /// Says hello with `resume`; returns the client and the `resumed` frame (after which,
    /// when not recovered, the snapshot has been read too).
    pub async fn resume(&self, token: &str, room: &str, last_seq: u64) -> (Client, Value) {
        let mut c = self.connect().await;
        c.send(json!({"type": "hello", "token": token,
            "resume": {"room": room, "last_seq": last_seq}}))
            .await;
        let welcome = c.recv_json().await;
        assert_eq!(welcome["type"], "welcome", "{welcome}");
        c.member = welcome["member"].as_str().unwrap().to_string();
        c.room = welcome["room"].as_str().unwrap().to_string();
        c.last_seq = last_seq;
        let resumed = c.recv_json().await;
        assert_eq!(resumed["type"], "resumed", "{resumed}");
        if resumed["recovered"] == false {
            let snap = c.recv_json().await;
            assert_eq!(snap["type"], "snapshot", "{snap}");
            c.snapshot = Some(snap);
        }
        (c, resumed)
    }

    /// The status of `GET /readyz`.
    pub async fn ready(&self) -> u16 {
        self.http("GET", "/readyz", None).await.0
    }
}

/// A test's own Redis on a free port, without persistence (a restart loses everything),
/// killed when dropped.
pub struct OwnRedis {
    child: Child,
    pub port: u16,
}

impl OwnRedis {
    /// On a free port.
    pub fn start() -> OwnRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        OwnRedis::start_on(port)
    }

    /// On `port` (e.g. again on a stopped one's port: an empty Redis at the same URL).
    pub fn start_on(port: u16) -> OwnRedis {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed");
        // Owned (and so killed and waited for on drop) before anything can fail.
        let r = OwnRedis { child, port };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return r;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server did not start on {port}");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// SIGKILL and wait.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The live group rooms in a `groups` frame, by index.
pub fn group_rooms(frame: &Value) -> BTreeMap<u64, String> {
    frame["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["index"].as_u64().unwrap(),
                g["room"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}
