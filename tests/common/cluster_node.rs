//! Cluster nodes for the cluster tests: separate processes of the real binary on the shared
//! Redis (127.0.0.1:6379) under a unique key prefix, with 1 s leases so takeovers are quick,
//! and the organizer API and WebSocket joins against them.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Client, WAIT};

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

pub fn spawn_node(prefix: &str, id: &str, protocols: &Path) -> Node {
    let mut child = Command::new(env!("CARGO_BIN_EXE_commonground"))
        .args(["serve", "--bind", "127.0.0.1:0", "--demo", "false"])
        .args([
            "--redis",
            SHARED_REDIS,
            "--redis-prefix",
            prefix,
            "--node-id",
            id,
        ])
        .args(["--lease", "1s", "--shutdown-grace", "3s"])
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
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(url) = line.strip_prefix("Commonground is listening on http://") {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        }
    });
    let addr = rx
        .recv_timeout(WAIT)
        .expect("the node prints its address")
        .parse()
        .unwrap();
    Node { child, addr }
}

/// A single node (no Redis) on `data_dir`, with the token secret generated there, like the
/// README's first command.
pub fn spawn_single(data_dir: &Path, protocols: &Path) -> Node {
    let mut child = Command::new(env!("CARGO_BIN_EXE_commonground"))
        .args(["serve", "--bind", "127.0.0.1:0", "--demo", "false"])
        .args(["--organizer-key", ORG_KEY, "--shutdown-grace", "3s"])
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
    let addr = read_addr(&mut child);
    Node { child, addr }
}

fn read_addr(child: &mut Child) -> SocketAddr {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
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

/// One HTTP/1.1 request with the organizer key; the status and the body.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, String) {
    let mut stream = tokio::time::timeout(WAIT, TcpStream::connect(addr))
        .await
        .expect("connect in time")
        .unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: Bearer {ORG_KEY}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut buf))
        .await
        .expect("HTTP response in time")
        .unwrap();
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    // Chunked bodies: drop the chunk sizes (tests only look for substrings and JSON lines).
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, tail)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 || tail.len() < n {
                break;
            }
            out.push_str(&tail[..n]);
            rest = tail[n..].trim_start_matches("\r\n");
        }
        out
    } else {
        body.to_string()
    };
    (status, body)
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

    /// SIGTERM and wait: the graceful shutdown path.
    pub fn terminate(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
        let mut stream = tokio::time::timeout(WAIT, TcpStream::connect(self.addr))
            .await
            .expect("connect in time")
            .unwrap();
        let body = body.to_string();
        let req = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAuthorization: Bearer {ORG_KEY}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        stream.write_all(req.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        tokio::time::timeout(WAIT, stream.read_to_end(&mut buf))
            .await
            .expect("HTTP response in time")
            .unwrap();
        let text = String::from_utf8_lossy(&buf).to_string();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        assert!(head.contains(" 201 "), "{text}");
        serde_json::from_str(body).unwrap()
    }

    pub async fn create_event(&self) -> String {
        let v = self
            .post(
                "/api/events",
                json!({"title": "Cluster", "protocol": "joint-town-hall",
                    "communities": ["Dayton, OH", "Boulder, CO"], "seed": 7}),
            )
            .await;
        v["id"].as_str().unwrap().to_string()
    }

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
