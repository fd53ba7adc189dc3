//! What the durable journal costs: commands per second through one node and the ack latency
//! (p50/p99) with the SQLite journal vs in memory (`--ephemeral`), at a number of busy rooms.
//!
//! One in-process server per mode; each room is its own event with one facilitator
//! connection that sends `broadcast` commands in a closed loop (send, await the `ack`),
//! over real WebSockets on loopback. Run it in release:
//!
//! `cargo run --release --example journal_bench -- 10 2000`  (room counts; 10 s per run)
//! `cargo run --release --example journal_bench -- 2000@2`  (2,000 rooms, each paced at 2
//! commands/s: the added ack latency at a load the writer can carry, not its ceiling)
//! `cargo run --release --example journal_bench -- hall:2000`  (joins into one hall)

// A benchmark measures wall-clock time; the server under test still reads only its Clock.
#![allow(clippy::disallowed_methods)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;

use commonground::api::events::{mint_invite, CreateInvite};
use commonground::config::{Config, ServeArgs};
use commonground::engine::member::Role;
use commonground::server::Server;

const RUN: Duration = Duration::from_secs(10);

fn config(data_dir: Option<PathBuf>) -> Config {
    let protocols = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("protocols");
    let mut c = Config::resolve(ServeArgs {
        bind: Some("127.0.0.1:0".parse().unwrap()),
        organizer_key: Some("bench-organizer-key-0123456789".into()),
        token_secret: Some("bench-token-secret-0123456789".into()),
        protocols: Some(protocols),
        demo: Some(false),
        ephemeral: Some(data_dir.is_none()),
        data_dir,
        ..ServeArgs::default()
    })
    .unwrap();
    c.command_rate = 1_000_000;
    c.command_burst = 1_000_000;
    c.connect_rate = 1_000_000;
    c.connect_burst = 1_000_000;
    c.max_connections = 100_000;
    c
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn text(v: Value) -> Message {
    Message::Text(v.to_string().into())
}

/// Sends one command with the next id; its round trip when acknowledged.
async fn cmd(ws: &mut Ws, id: &mut u64, mut v: Value) -> Option<Duration> {
    *id += 1;
    v["id"] = json!(*id);
    let t = Instant::now();
    ws.send(text(v)).await.ok()?;
    while let Some(Ok(m)) = ws.next().await {
        if let Message::Text(frame) = m {
            let r: Value = serde_json::from_str(&frame).ok()?;
            if r["id"] == json!(*id) {
                return (r["type"] == "ack").then(|| t.elapsed());
            }
        }
    }
    None
}

/// `rate`: commands per second per room (each room's sends spread over the second); `None`:
/// a closed loop, as fast as acks come back.
async fn run(rooms: usize, rate: Option<f64>, data_dir: Option<PathBuf>) -> (f64, u64, u64, u64) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Server::start(listener, config(data_dir)).await.unwrap();
    let state = server.state().clone();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.run(async {
        let _ = stop_rx.await;
    }));
    let communities = vec!["Dayton, OH".to_string(), "Boulder, CO".to_string()];
    let mut tokens = Vec::new();
    for i in 0..rooms {
        let ev = state
            .hub
            .create_event(
                &format!("bench {i}"),
                "joint-town-hall",
                &communities,
                Some(1),
            )
            .unwrap();
        state.hub.persist_meta(&ev.id).await.unwrap();
        let inv = mint_invite(
            &state,
            &ev.id,
            CreateInvite {
                role: Role::Facilitator,
                name: format!("Fac {i}"),
                community: None,
                ttl_seconds: None,
            },
        )
        .unwrap();
        tokens.push(inv.token);
    }
    let lat: Arc<Mutex<Vec<u32>>> = Arc::default();
    let go = Instant::now() + Duration::from_secs(3);
    let mut tasks = Vec::new();
    for (room, token) in tokens.into_iter().enumerate() {
        let lat = Arc::clone(&lat);
        tasks.push(tokio::spawn(async move {
            let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
                .await
                .unwrap();
            ws.send(text(json!({"type": "hello", "token": token})))
                .await
                .unwrap();
            let mut id = 0u64;
            cmd(&mut ws, &mut id, json!({"type": "start"})).await;
            tokio::time::sleep_until(go.into()).await;
            let mut mine = Vec::new();
            let end = go + RUN;
            let mut n = 0u64;
            let period = rate.map(|r| Duration::from_secs_f64(1.0 / r));
            // Rooms start spread over one period, so a paced load is not a burst per tick.
            let mut slot =
                go + period.map_or(Duration::ZERO, |p| p.mul_f64(room as f64 / rooms as f64));
            while Instant::now() < end {
                if let Some(p) = period {
                    tokio::time::sleep_until(slot.into()).await;
                    slot += p;
                    if slot >= end {
                        break;
                    }
                }
                n += 1;
                let v = json!({"type": "broadcast", "text": format!("m{n}")});
                if let Some(d) = cmd(&mut ws, &mut id, v).await {
                    mine.push(u32::try_from(d.as_micros()).unwrap_or(u32::MAX));
                }
            }
            lat.lock().await.extend(mine);
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let mut l = std::mem::take(&mut *lat.lock().await);
    l.sort_unstable();
    let _ = stop_tx.send(());
    let _ = serving.await;
    let q = |p: f64| {
        u64::from(
            l.get(((l.len() as f64 * p) as usize).min(l.len().saturating_sub(1)))
                .copied()
                .unwrap_or(0),
        )
    };
    (
        l.len() as f64 / RUN.as_secs_f64(),
        q(0.5),
        q(0.99),
        l.len() as u64,
    )
}

/// `hall:N`: N participants join one hall at once; how many joins per second it takes.
async fn hall(n: usize, data_dir: Option<PathBuf>) -> f64 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Server::start(listener, config(data_dir)).await.unwrap();
    let state = server.state().clone();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.run(async {
        let _ = stop_rx.await;
    }));
    let communities = vec!["Dayton, OH".to_string(), "Boulder, CO".to_string()];
    let ev = state
        .hub
        .create_event("bench hall", "joint-town-hall", &communities, Some(1))
        .unwrap();
    state.hub.persist_meta(&ev.id).await.unwrap();
    let mut tokens = Vec::new();
    for i in 0..n {
        let req = CreateInvite {
            role: Role::Participant,
            name: format!("P {i}"),
            community: Some(communities[i % 2].clone()),
            ttl_seconds: None,
        };
        tokens.push(mint_invite(&state, &ev.id, req).unwrap().token);
    }
    let t = Instant::now();
    let mut tasks = Vec::new();
    for token in tokens {
        tasks.push(tokio::spawn(async move {
            let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
                .await
                .ok()?;
            ws.send(text(json!({"type": "hello", "token": token})))
                .await
                .ok()?;
            while let Some(Ok(m)) = ws.next().await {
                if let Message::Text(frame) = m {
                    if frame.contains("\"type\":\"snapshot\"") {
                        return Some(ws);
                    }
                }
            }
            None
        }));
    }
    let mut open = Vec::new();
    for task in tasks {
        if let Ok(Some(ws)) = task.await {
            open.push(ws);
        }
    }
    let rate = open.len() as f64 / t.elapsed().as_secs_f64();
    drop(open);
    let _ = stop_tx.send(());
    let _ = serving.await;
    rate
}

fn halls_given() -> bool {
    std::env::args().skip(1).any(|a| a.starts_with("hall:"))
}

#[tokio::main]
async fn main() {
    let halls: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.strip_prefix("hall:")?.parse().ok())
        .collect();
    for n in halls {
        for durable in [false, true] {
            let dir = durable.then(|| {
                std::env::temp_dir()
                    .join(format!("cg-bench-{}", commonground::config::random_hex(6)))
            });
            let rate = hall(n, dir.clone()).await;
            println!(
                "hall of {n}: {} joins/s ({})",
                rate.round(),
                if durable { "SQLite" } else { "in memory" }
            );
            if let Some(d) = dir {
                let _ = std::fs::remove_dir_all(d);
            }
        }
    }
    let counts: Vec<(usize, Option<f64>)> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("hall:"))
        .filter_map(|a| match a.split_once('@') {
            Some((n, r)) => Some((n.parse().ok()?, Some(r.parse().ok()?))),
            None => Some((a.parse().ok()?, None)),
        })
        .collect();
    let counts = if counts.is_empty() && halls_given() {
        Vec::new()
    } else if counts.is_empty() {
        vec![(10, None), (2000, None)]
    } else {
        counts
    };
    println!("| busy rooms | journal | commands/s | ack p50 | ack p99 |");
    println!("|---:|---|---:|---:|---:|");
    for (rooms, rate) in counts {
        for durable in [false, true] {
            let dir = durable.then(|| {
                std::env::temp_dir()
                    .join(format!("cg-bench-{}", commonground::config::random_hex(6)))
            });
            let (done, p50, p99, _) = run(rooms, rate, dir.clone()).await;
            let busy = match rate {
                Some(r) => format!("{rooms} × {r}/s"),
                None => format!("{rooms} (closed loop)"),
            };
            println!(
                "| {busy} | {} | {done:.0} | {:.2} ms | {:.2} ms |",
                if durable {
                    "SQLite (FULL, group commit)"
                } else {
                    "in memory"
                },
                p50 as f64 / 1000.0,
                p99 as f64 / 1000.0
            );
            if let Some(d) = dir {
                let _ = std::fs::remove_dir_all(d);
            }
        }
    }
}
