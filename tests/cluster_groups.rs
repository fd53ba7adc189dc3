//! Cluster mode, for the browser client: staff on a node that does not own the hall still
//! learn the breakout group room ids (`groups`), and snapshots carry the message history
//! (`state.messages`), also after the hall's owner is killed and another node rebuilt the room
//! from Redis. Separate processes of the real binary on the shared Redis (127.0.0.1:6379)
//! under a unique key prefix; leases are 1 s so the takeover is quick.
//!
//! Waits are bounded (every read has a timeout, loops have a bound); nothing measures
//! wall-clock time.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Client, WAIT};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SHARED_REDIS: &str = "redis://127.0.0.1:6379/";
const ORG_KEY: &str = "cluster-organizer-key";
const SECRET: &str = "cluster-token-secret-0123456789";

fn unique(test: &str) -> String {
    let nanos = std::time::SystemTime::UNIX_EPOCH
        .elapsed()
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("cgtest-{test}-{}-{nanos}", std::process::id())
}

/// The shipped town hall and its breakout protocol, in a directory of their own.
fn protocol_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(unique("cluster-groups-protocols"));
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["joint-town-hall", "small-group-round"] {
        let from = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("protocols")
            .join(format!("{name}.toml"));
        std::fs::copy(&from, dir.join(format!("{name}.toml"))).unwrap();
    }
    dir
}

/// One node: a child process of the real binary, killed when dropped.
struct Node {
    child: Child,
    addr: SocketAddr,
}

fn spawn_node(prefix: &str, id: &str, protocols: &Path) -> Node {
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

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Node {
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    async fn post(&self, path: &str, body: Value) -> Value {
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

    async fn create_event(&self) -> String {
        let v = self
            .post(
                "/api/events",
                json!({"title": "Cluster", "protocol": "joint-town-hall",
                    "communities": ["Dayton, OH", "Boulder, CO"], "seed": 7}),
            )
            .await;
        v["id"].as_str().unwrap().to_string()
    }

    async fn invite(&self, event: &str, role: &str, name: &str, community: Option<&str>) -> String {
        let v = self
            .post(
                &format!("/api/events/{event}/invites"),
                json!({"role": role, "name": name, "community": community}),
            )
            .await;
        v["token"].as_str().unwrap().to_string()
    }

    async fn connect(&self) -> Client {
        let url = format!("ws://{}/ws", self.addr);
        let connect = tokio_tungstenite::connect_async_with_config(url, None, true);
        let (ws, _) = tokio::time::timeout(WAIT, connect)
            .await
            .expect("connect in time")
            .expect("websocket connects");
        Client::new(ws)
    }

    async fn join(&self, token: &str) -> Client {
        Client::hello(self.connect().await, token).await
    }
}

/// The live group rooms in a `groups` frame, by index.
fn group_rooms(frame: &Value) -> BTreeMap<u64, String> {
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

/// A key's value on the shared Redis, through `redis-cli`.
fn redis_get(key: &str) -> Option<String> {
    let out = Command::new("redis-cli")
        .args(["-p", "6379", "GET", key])
        .output()
        .ok()?;
    let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (!s.is_empty()).then_some(s)
}

fn texts(snapshot: &Value) -> Vec<String> {
    snapshot["state"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_on_another_node_learn_group_rooms_and_history_survives_the_owner() {
    tokio::time::timeout(Duration::from_secs(60), inner())
        .await
        .expect("the test finishes within 60 s");
}

async fn inner() {
    let dir = protocol_dir();
    let prefix = unique("cgroups");
    let mut n1 = spawn_node(&prefix, "n1", &dir);
    let n2 = spawn_node(&prefix, "n2", &dir);
    let event = n1.create_event().await;
    let hall = format!("{event}/hall");
    // The facilitator joins first, on n1: n1 owns the hall; everyone else is on n2.
    let fac_t = n1.invite(&event, "facilitator", "Fran", None).await;
    let mod_t = n2.invite(&event, "moderator", "Mo", None).await;
    let a_t = n2
        .invite(&event, "participant", "Ana", Some("Dayton, OH"))
        .await;
    let c_t = n2
        .invite(&event, "participant", "Cal", Some("Boulder, CO"))
        .await;
    let mut fac = n1.join(&fac_t).await;
    let mut moder = n2.join(&mod_t).await;
    let mut a = n2.join(&a_t).await;
    let mut c = n2.join(&c_t).await;
    fac.ok(json!({"type": "start"})).await;
    let said = ["Welcome to both cities.", "Please be kind."];
    for text in said {
        fac.ok(json!({"type": "speak", "text": text})).await;
    }
    for _ in 0..3 {
        fac.ok(json!({"type": "next_phase"})).await;
    }
    // The hall's owner is the node the moderator is not on.
    let lease = redis_get(&format!("{prefix}:{{{hall}}}:lease"));
    assert_eq!(lease.as_deref(), Some("n1"));

    // The moderator on n2 hears of the group room, and it accepts a drop-in there.
    let h = hall.clone();
    let frame = moder
        .recv_until(move |v| {
            v["type"] == "groups" && v["room"] == h.as_str() && v["groups"] != json!([])
        })
        .await;
    let rooms = group_rooms(&frame);
    assert_eq!(rooms.len(), 1, "two people make one group: {frame}");
    let group = rooms[&0].clone();
    assert!(group.starts_with(&format!("{event}/group-")), "{group}");
    let h = hall.clone();
    let w = a
        .recv_until(move |v| v["type"] == "welcome" && v["room"] != h.as_str())
        .await;
    assert_eq!(w["room"], group.as_str());
    moder
        .ok(json!({"type": "join_room", "room": group.clone()}))
        .await;
    let g = group.clone();
    moder
        .recv_until(move |v| v["type"] == "snapshot" && v["room"] == g.as_str())
        .await;
    // The facilitator on the owner gets it too; participants do not.
    let h = hall.clone();
    let f = fac
        .recv_until(move |v| v["type"] == "groups" && v["room"] == h.as_str())
        .await;
    assert_eq!(group_rooms(&f), rooms);
    for p in [&mut a, &mut c] {
        p.send(json!({"type": "ping", "id": 999})).await;
        let mut pending = Vec::new();
        for _ in 0..1_000 {
            let v = p.recv_json().await;
            let pong = v["type"] == "pong";
            pending.push(v);
            if pong {
                break;
            }
        }
        assert!(
            !pending.iter().any(|v| v["type"] == "groups"),
            "{pending:?}"
        );
    }

    // A late joiner on n2 gets the hall's messages in its snapshot.
    let late_t = n2.invite(&event, "observer", "Lee", None).await;
    let late = n2.join(&late_t).await;
    assert_eq!(texts(late.snapshot.as_ref().unwrap()), said);

    // The owner dies: n2 rebuilds the hall from Redis (snapshot + input log). A staff member
    // who comes in now gets the same group room right after the snapshot, and the history
    // came over with the engine.
    n1.kill();
    let org_t = n2.invite(&event, "organizer", "Oda", None).await;
    let mut org = n2.join(&org_t).await;
    assert_eq!(texts(org.snapshot.as_ref().unwrap()), said);
    // (On another node than the owner, a live event may come between the two.)
    let next = org.recv_until(|v| v["type"] != "event").await;
    assert_eq!(next["type"], "groups", "{next}");
    assert_eq!(group_rooms(&next), rooms);
    drop((late, n2));
}
