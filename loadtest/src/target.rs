//! The three servers the same scenarios drive, and how each one's frames are spelled.
//!
//! - `commonground`: the documented wire protocol (docs/wire-protocol.md): `hello` with an
//!   invite token, `welcome` + `snapshot`, commands with an `id`, `ack`/`error`, room `event`s.
//! - `bare`: the bare broadcast peer (peers/bare): `join`, `publish`, `joined`, `ack`, and the
//!   same `event`/`said` envelope as Commonground, so both carry comparable bytes.
//! - `socketio`: Socket.IO 4 over the engine.io v4 websocket transport: `0{..}` open, `40`
//!   namespace connect, `42[..]` events, ping `2` answered with `3`.
//!
//! Every utterance's text starts with a marker `lt|SEQ|INTENDED_US|` followed by padding, so a
//! listener finds the sequence number and the intended send time without parsing the JSON.

use std::net::{IpAddr, SocketAddr};

use anyhow::{bail, Context as _};
use serde_json::Value;

/// Which server is under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    Commonground,
    Bare,
    Socketio,
}

impl Target {
    pub fn name(self) -> &'static str {
        match self {
            Target::Commonground => "commonground",
            Target::Bare => "bare",
            Target::Socketio => "socketio",
        }
    }

    /// The WebSocket path on the server.
    pub fn ws_path(self) -> &'static str {
        match self {
            Target::Commonground => "/ws",
            Target::Bare => "/",
            Target::Socketio => "/socket.io/?EIO=4&transport=websocket",
        }
    }

    /// The default base URL of each server as the peers and the run script start them.
    pub fn default_url(self) -> &'static str {
        match self {
            Target::Commonground => "http://127.0.0.1:8080",
            Target::Bare => "ws://127.0.0.1:9001",
            Target::Socketio => "http://127.0.0.1:3000",
        }
    }
}

/// Parses `http://HOST:PORT`, `ws://HOST:PORT` (a trailing path is ignored) into a socket
/// address, and refuses anything that is not a loopback address: the tool opens thousands of
/// connections and must never be pointed at someone else's server.
pub fn loopback_addr(url: &str) -> anyhow::Result<SocketAddr> {
    let rest = ["http://", "ws://"]
        .iter()
        .find_map(|p| url.strip_prefix(p))
        .with_context(|| format!("`{url}`: the URL must start with http:// or ws://"))?;
    let authority = rest.split('/').next().unwrap_or(rest);
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse::<u16>()
                .with_context(|| format!("`{url}`: bad port `{p}`"))?,
        ),
        None => (authority, 80),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip: IpAddr = if host == "localhost" {
        IpAddr::from([127, 0, 0, 1])
    } else {
        host.parse().with_context(|| {
            format!("`{url}`: the host must be a loopback IP literal (127.x.x.x, ::1) or localhost")
        })?
    };
    if !ip.is_loopback() {
        bail!("`{url}` is not a loopback address; the loadtest only targets 127.0.0.0/8 or ::1");
    }
    Ok(SocketAddr::new(ip, port))
}

/// A frame from the server, as much as the scenarios need of it.
#[derive(Debug)]
pub enum Incoming {
    /// An utterance carrying our marker.
    Said {
        seq: u64,
        intended_us: u64,
    },
    /// A reply to a command with a numeric id.
    Ack {
        id: u64,
    },
    /// A refused command (or a refusal without an id).
    Error {
        id: Option<u64>,
        code: String,
    },
    /// Commonground: `welcome` (with the member id).
    Welcome {
        member: String,
    },
    /// Commonground `snapshot`, bare `joined`, Socket.IO `joined`.
    Joined,
    /// Commonground: a room event, parsed (only the breakouts scenario reads these).
    Event(Value),
    /// Commonground `pong`.
    Pong {
        id: Option<u64>,
        server_time: u64,
    },
    /// Socket.IO: engine.io open packet `0{..}` or namespace connect `40`.
    EioOpen,
    EioConnected,
    /// engine.io ping `2`: answer `3`.
    EioPing,
    Other,
}

/// The marker at the start of every utterance.
pub fn marker_text(seq: u64, intended_us: u64, len: usize) -> String {
    let mut s = format!("lt|{seq}|{intended_us}|");
    while s.len() < len {
        s.push('x');
    }
    s
}

/// Finds the marker anywhere in a frame; the cheap path for the hot loop.
fn find_marker(frame: &str) -> Option<(u64, u64)> {
    let at = frame.find("lt|")?;
    let mut parts = frame[at + 3..].splitn(3, '|');
    let seq = parts.next()?.parse().ok()?;
    let intended = parts.next()?.parse().ok()?;
    Some((seq, intended))
}

fn id_of(v: &Value) -> Option<u64> {
    v.get("id").and_then(Value::as_u64)
}

/// Decodes one text frame. `full_events` asks for room events as parsed JSON (breakouts);
/// otherwise only utterances are recognised and other events are `Other`.
pub fn decode(target: Target, frame: &str, full_events: bool) -> Incoming {
    if !full_events {
        if let Some((seq, intended_us)) = find_marker(frame) {
            return Incoming::Said { seq, intended_us };
        }
    }
    match target {
        Target::Commonground | Target::Bare => decode_json(frame, full_events),
        Target::Socketio => decode_eio(frame),
    }
}

fn decode_json(frame: &str, full_events: bool) -> Incoming {
    // Room events are the bulk of the traffic; skip parsing them unless asked.
    if !full_events && frame.starts_with("{\"type\":\"event\"") {
        return Incoming::Other;
    }
    let Ok(v) = serde_json::from_str::<Value>(frame) else {
        return Incoming::Other;
    };
    match v.get("type").and_then(Value::as_str).unwrap_or("") {
        "ack" => match id_of(&v) {
            Some(id) => Incoming::Ack { id },
            None => Incoming::Other,
        },
        "error" => Incoming::Error {
            id: id_of(&v),
            code: v
                .get("code")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_owned(),
        },
        "welcome" => Incoming::Welcome {
            member: v
                .get("member")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
        },
        "snapshot" | "joined" | "resumed" => Incoming::Joined,
        "pong" => Incoming::Pong {
            id: id_of(&v),
            server_time: v.get("server_time").and_then(Value::as_u64).unwrap_or(0),
        },
        "event" if full_events => Incoming::Event(v),
        _ => Incoming::Other,
    }
}

fn decode_eio(frame: &str) -> Incoming {
    match frame.as_bytes().first() {
        Some(b'0') => return Incoming::EioOpen,
        Some(b'2') if frame.len() == 1 => return Incoming::EioPing,
        _ => {}
    }
    if frame.starts_with("40") {
        return Incoming::EioConnected;
    }
    if let Some(reason) = frame.strip_prefix("44") {
        return Incoming::Error {
            id: None,
            code: format!("connect_error {reason}"),
        };
    }
    let Some(body) = frame.strip_prefix("42") else {
        return Incoming::Other;
    };
    let Ok(Value::Array(items)) = serde_json::from_str::<Value>(body) else {
        return Incoming::Other;
    };
    match items.first().and_then(Value::as_str) {
        Some("joined") => Incoming::Joined,
        Some("ack") => match items.get(1).and_then(Value::as_u64) {
            Some(id) => Incoming::Ack { id },
            None => Incoming::Other,
        },
        _ => Incoming::Other,
    }
}

/// The frame that joins `room` (bare, Socket.IO) or says hello with `token` (Commonground).
pub fn join_frame(target: Target, room: &str, token: &str) -> String {
    match target {
        Target::Commonground => serde_json::json!({"type": "hello", "token": token}).to_string(),
        Target::Bare => serde_json::json!({"type": "join", "room": room}).to_string(),
        Target::Socketio => format!("42{}", serde_json::json!(["join", room])),
    }
}

/// The frame that publishes `text` to `room` as command `id`.
pub fn publish_frame(target: Target, room: &str, text: &str, id: u64) -> String {
    match target {
        Target::Commonground => {
            serde_json::json!({"type": "speak", "id": id, "text": text}).to_string()
        }
        Target::Bare => {
            serde_json::json!({"type": "publish", "id": id, "room": room, "text": text}).to_string()
        }
        Target::Socketio => format!("42{}", serde_json::json!(["publish", room, text, id])),
    }
}

/// A Commonground command frame with an id, e.g. `start`, `ping`.
pub fn command_frame(kind: &str, id: u64) -> String {
    serde_json::json!({"type": kind, "id": id}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_only() {
        assert!(loopback_addr("http://127.0.0.1:8080").is_ok());
        assert!(loopback_addr("ws://127.0.0.9:1/ws").is_ok());
        assert!(loopback_addr("ws://[::1]:9001").is_ok());
        assert!(loopback_addr("http://localhost:3000").is_ok());
        assert!(loopback_addr("http://10.0.0.1:8080").is_err());
        assert!(loopback_addr("http://example.com:8080").is_err());
        assert!(loopback_addr("ftp://127.0.0.1:8080").is_err());
    }

    #[test]
    fn marker_round_trip_in_each_envelope() {
        let text = marker_text(7, 123_456, 200);
        assert_eq!(text.len(), 200);
        let cg = format!(
            r#"{{"type":"event","room":"e/hall","seq":3,"at":1,"event":{{"type":"said","message":1,"member":"m","text":"{text}"}}}}"#
        );
        let sio = format!(r#"42["said",{{"room":"hall","seq":3,"text":"{text}"}}]"#);
        for (t, f) in [(Target::Commonground, cg), (Target::Socketio, sio)] {
            match decode(t, &f, false) {
                Incoming::Said { seq, intended_us } => assert_eq!((seq, intended_us), (7, 123_456)),
                other => panic!("{other:?}"),
            }
        }
        assert!(matches!(
            decode(Target::Socketio, "2", false),
            Incoming::EioPing
        ));
        assert!(matches!(
            decode(Target::Socketio, r#"42["ack",5]"#, false),
            Incoming::Ack { id: 5 }
        ));
        assert!(matches!(
            decode(Target::Commonground, r#"{"type":"error","id":4,"code":"rate_limited","message":"m"}"#, false),
            Incoming::Error { id: Some(4), code } if code == "rate_limited"
        ));
    }
}
