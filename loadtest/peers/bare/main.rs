//! The bare limit: a minimal tokio-tungstenite broadcast server for the loadtest.
//!
//! Rooms and broadcast, nothing else: a client sends `{"type":"join","room":R}` (answered with
//! `{"type":"joined","room":R}`) and `{"type":"publish","id":N,"room":R,"text":T}`; the server
//! wraps the text in the same `event`/`said` envelope Commonground uses, serializes it **once**,
//! and hands the same bytes (`Utf8Bytes`, reference-counted) to every member of the room
//! through a `tokio::sync::broadcast` channel, then answers the publisher `{"type":"ack","id":N}`.
//! Each connection is one task that reads, and writes whatever the room queued, feeding
//! frames and flushing once per batch. A member that falls more than `QUEUE` frames behind is
//! closed with 4008, like Commonground's slow-consumer rule.
//!
//! Usage: `bare_broadcast [--bind 127.0.0.1:9001] [--threads 1]`. It prints
//! `listening on ADDR` once bound.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// Frames a member may fall behind before it is cut loose.
const QUEUE: usize = 4096;

#[derive(Debug)]
struct Room {
    tx: broadcast::Sender<Utf8Bytes>,
    seq: AtomicU64,
}

type Rooms = Arc<Mutex<HashMap<String, Arc<Room>>>>;

fn main() -> std::process::ExitCode {
    let mut bind: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 9001));
    let mut threads = 1usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next();
        let parsed = match (a.as_str(), v) {
            ("--bind", Some(v)) => v.parse().map(|b| bind = b).is_ok(),
            ("--threads", Some(v)) => v.parse().map(|t| threads = t).is_ok(),
            _ => false,
        };
        if !parsed {
            eprintln!("usage: bare_broadcast [--bind 127.0.0.1:9001] [--threads 1]");
            return std::process::ExitCode::from(64);
        }
    }
    let rt = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    };
    let rt = match rt {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bare_broadcast: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    if let Err(e) = rt.block_on(serve(bind)) {
        eprintln!("bare_broadcast: {e}");
        return std::process::ExitCode::FAILURE;
    }
    std::process::ExitCode::SUCCESS
}

async fn serve(bind: SocketAddr) -> std::io::Result<()> {
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let listener = TcpListener::bind(bind).await?;
    println!("listening on {}", listener.local_addr()?);
    let rooms: Rooms = Arc::default();
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(stream, Arc::clone(&rooms)));
    }
}

async fn connection(stream: TcpStream, rooms: Rooms) {
    // The same transport buffers as Commonground's gateway (READ_BUFFER_BYTES and
    // WRITE_BUFFER_BYTES in src/gateway/mod.rs), so the two differ only in what they do per
    // frame: a small read buffer for mostly idle connections, and a write buffer that lets
    // the frames of one batch leave in one write (the flush below ends every batch).
    let config = WebSocketConfig::default()
        .read_buffer_size(1024)
        .write_buffer_size(8 * 1024)
        .max_message_size(Some(64 * 1024));
    let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await else {
        return;
    };
    let mut sub: Option<broadcast::Receiver<Utf8Bytes>> = None;
    loop {
        tokio::select! {
            m = ws.next() => {
                let Some(Ok(m)) = m else { return };
                let Message::Text(t) = m else {
                    if m.is_close() { return; }
                    continue;
                };
                let Ok(v) = serde_json::from_str::<Value>(&t) else { continue };
                let room_name = v.get("room").and_then(Value::as_str).unwrap_or("").to_owned();
                let room = Arc::clone(rooms.lock().unwrap_or_else(|e| e.into_inner())
                    .entry(room_name.clone())
                    .or_insert_with(|| Arc::new(Room { tx: broadcast::channel(QUEUE).0, seq: AtomicU64::new(0) })));
                let reply = match v.get("type").and_then(Value::as_str) {
                    Some("join") => {
                        sub = Some(room.tx.subscribe());
                        json!({"type": "joined", "room": room_name})
                    }
                    Some("publish") => {
                        let seq = room.seq.fetch_add(1, Ordering::Relaxed) + 1;
                        let text = v.get("text").cloned().unwrap_or(Value::Null);
                        // Serialized once; every member gets a clone of the same bytes.
                        let frame = json!({"type": "event", "room": room_name, "seq": seq,
                            "event": {"type": "said", "text": text}}).to_string();
                        let _ = room.tx.send(Utf8Bytes::from(frame));
                        json!({"type": "ack", "id": v.get("id")})
                    }
                    _ => json!({"type": "error", "code": "invalid"}),
                };
                if ws.send(Message::text(reply.to_string())).await.is_err() {
                    return;
                }
            }
            r = recv(&mut sub) => match r {
                Ok(frame) => {
                    if ws.feed(Message::Text(frame)).await.is_err() { return; }
                    // Batch whatever else is already queued into the same flush.
                    while let Some(rx) = &mut sub {
                        match rx.try_recv() {
                            Ok(more) => if ws.feed(Message::Text(more)).await.is_err() { return; },
                            Err(broadcast::error::TryRecvError::Lagged(_)) => return slow(&mut ws).await,
                            Err(_) => break,
                        }
                    }
                    if ws.flush().await.is_err() { return; }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => return slow(&mut ws).await,
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }
}

/// A member fell too far behind: never skip frames silently, close with 4008.
async fn slow(ws: &mut tokio_tungstenite::WebSocketStream<TcpStream>) {
    let close = CloseFrame {
        code: CloseCode::from(4008),
        reason: "slow consumer".into(),
    };
    let _ = ws.close(Some(close)).await;
}

async fn recv(
    sub: &mut Option<broadcast::Receiver<Utf8Bytes>>,
) -> Result<Utf8Bytes, broadcast::error::RecvError> {
    match sub {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}
