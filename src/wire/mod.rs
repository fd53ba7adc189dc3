//! The WebSocket wire format (v1): client envelopes in, server messages out, close codes and
//! room ids. Below the rooms, the bus and the cluster, which all speak it; the gateway is only
//! its first reader (ARCHITECTURE.md, "Layers").
//!
//! Documented in `docs/wire-protocol.md`; `tests/wire_doc.rs` checks every example there
//! against these types. Client frames are parsed by hand at the envelope level (`type`, `id`)
//! so that an unknown type or field is an `invalid` error with the request's `id`, and the
//! command itself is read by [`Command::from_fields`], which refuses unknown fields.
//!
//! The envelope also carries routing that is not the engine's business: `room` on a command
//! (which of the event's rooms it is for; the hall when absent) and the gateway's own
//! `join_room` / `leave_room` (staff dropping in on a breakout group).

mod close;
mod code;
mod room_id;
pub mod strict;
mod summary;

pub use close::CloseReason;
pub use code::{Code, ErrorCode, Refusal};
pub use room_id::RoomId;
pub use summary::{PhaseSummary, RoomSummary, SessionState};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::engine::command::Command;
use crate::engine::event::EventKind;
use crate::engine::member::{MemberId, Role};
use crate::time::Millis;

/// The wire protocol version sent in `welcome`.
pub const WIRE_VERSION: u32 = 1;
/// Longest string `id` a client may attach.
pub const MAX_ID_CHARS: usize = 64;

/// A client's request id, echoed in the reply: a string (at most 64 characters) or a number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ClientId {
    Num(serde_json::Number),
    Str(String),
}

/// `resume` in a hello: the room and the last sequence number the client processed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resume {
    pub room: String,
    pub last_seq: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hello {
    pub token: String,
    #[serde(default)]
    pub resume: Option<Resume>,
}

/// A parsed client frame.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientMsg {
    Hello {
        id: Option<ClientId>,
        hello: Hello,
    },
    Ping {
        id: Option<ClientId>,
    },
    Command {
        id: Option<ClientId>,
        /// The room the command is for; `None` is the hall.
        room: Option<String>,
        command: Command,
    },
    /// Staff drop in to listen to a breakout group (`join: true`) or leave it.
    DropIn {
        id: Option<ClientId>,
        room: String,
        join: bool,
    },
    /// Audio signaling (`media_offer`, `media_candidate`, `media_leave`).
    Media {
        id: Option<ClientId>,
        /// The room whose audio this is; `None` is the hall.
        room: Option<String>,
        req: MediaReq,
    },
}

/// What an audio signaling message asks.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum MediaReq {
    /// Join the room's audio with this SDP offer (a sending track means consent to be heard
    /// when the floor is yours).
    MediaOffer {
        sdp: String,
    },
    /// A trickled ICE candidate. The server is ICE-lite and learns the client's address from
    /// its connectivity checks, so this is accepted and not needed.
    MediaCandidate {
        candidate: String,
    },
    MediaLeave,
}

/// A frame that could not be read: the `invalid` error to send, with the id when it was
/// readable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadFrame {
    pub id: Option<ClientId>,
    pub message: String,
}

fn bad(id: Option<ClientId>, message: impl Into<String>) -> BadFrame {
    BadFrame {
        id,
        message: message.into(),
    }
}

/// Parses one client text frame. A key repeated in any object is refused (`invalid`): the
/// frame would mean one thing here and another to a reader that keeps the first key.
pub fn parse_client(text: &str) -> Result<ClientMsg, BadFrame> {
    let value: Value = strict::from_str(text).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => bad(None, format!("the frame is refused: {e}")),
        _ => bad(None, format!("the frame is not valid JSON: {e}")),
    })?;
    let Value::Object(mut map) = value else {
        return Err(bad(None, "a frame must be a JSON object with a `type`"));
    };
    let id = match map.remove("id") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(ClientId::Num(n)),
        Some(Value::String(s)) if s.chars().count() <= MAX_ID_CHARS => Some(ClientId::Str(s)),
        Some(Value::String(_)) => {
            return Err(bad(
                None,
                format!("`id` is limited to {MAX_ID_CHARS} characters"),
            ))
        }
        Some(_) => return Err(bad(None, "`id` must be a string or a number")),
    };
    let ty = match map.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(_) => return Err(bad(id, "`type` must be a string")),
        None => return Err(bad(id, "missing field `type`")),
    };
    match ty.as_str() {
        "hello" => {
            map.remove("type");
            let hello: Hello = serde_json::from_value(Value::Object(map))
                .map_err(|e| bad(id.clone(), format!("hello: {e}")))?;
            Ok(ClientMsg::Hello { id, hello })
        }
        "ping" => {
            map.remove("type");
            if let Some(key) = map.keys().next() {
                return Err(bad(id, format!("unknown field `{key}` for ping")));
            }
            Ok(ClientMsg::Ping { id })
        }
        "media_offer" | "media_candidate" | "media_leave" => {
            let room = match map.remove("room") {
                None | Some(Value::Null) => None,
                Some(Value::String(r)) => Some(r),
                Some(_) => return Err(bad(id, "`room` must be a string")),
            };
            let req: MediaReq = serde_json::from_value(Value::Object(map))
                .map_err(|e| bad(id.clone(), format!("{ty}: {e}")))?;
            Ok(ClientMsg::Media { id, room, req })
        }
        "join_room" | "leave_room" => {
            map.remove("type");
            let room = match map.remove("room") {
                Some(Value::String(r)) => r,
                Some(_) => return Err(bad(id, "`room` must be a string")),
                None => return Err(bad(id, format!("missing field `room` for {ty}"))),
            };
            if let Some(key) = map.keys().next() {
                return Err(bad(id, format!("unknown field `{key}` for {ty}")));
            }
            Ok(ClientMsg::DropIn {
                id,
                room,
                join: ty == "join_room",
            })
        }
        _ => {
            let room = match map.remove("room") {
                None | Some(Value::Null) => None,
                Some(Value::String(r)) => Some(r),
                Some(_) => return Err(bad(id, "`room` must be a string")),
            };
            let command = Command::from_fields(map).map_err(|e| bad(id.clone(), e.0))?;
            Ok(ClientMsg::Command { id, room, command })
        }
    }
}

/// One room event on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventFrame {
    pub room: String,
    pub seq: u64,
    pub at: Millis,
    pub event: EventKind,
}

/// An event inside `resumed.events`, which carries its own `"type": "event"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TaggedEvent {
    Event(EventFrame),
}

/// Why a connection left a breakout group room (it stays open, in the hall).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeftReason {
    /// The breakout ended (or was recalled, or reassigned).
    Closed,
    /// The facilitator moved the member to another group.
    Moved,
    /// The member left (`leave_room`, or the connection's member left the group).
    Left,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusLevel {
    Info,
    Warning,
}

/// Every message the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    Welcome {
        v: u32,
        member: MemberId,
        name: String,
        role: Role,
        community: Option<String>,
        event: String,
        room: String,
        server_time: Millis,
    },
    Snapshot {
        room: String,
        seq: u64,
        /// The room as this member sees it (`engine::view::RoomView`).
        state: Value,
    },
    Resumed {
        room: String,
        recovered: bool,
        events: Vec<TaggedEvent>,
    },
    Event(EventFrame),
    Ack {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<ClientId>,
    },
    Error {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<ClientId>,
        code: String,
        message: String,
    },
    Pong {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<ClientId>,
        server_time: Millis,
    },
    /// The SDP answer to a `media_offer` (ICE-lite; the server's one candidate inside).
    MediaAnswer {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<ClientId>,
        room: String,
        sdp: String,
    },
    Status {
        level: StatusLevel,
        message: String,
    },
    /// The connection is no longer in a breakout group room (no more events from it); it
    /// stays open and in the hall, whose events never stopped.
    LeftRoom {
        room: String,
        reason: LeftReason,
        hall: String,
    },
    /// Hall, staff only: the live breakout group rooms (empty when none), after a snapshot or
    /// resume and whenever they change, so staff can drop in without guessing room ids.
    Groups {
        room: String,
        groups: Vec<GroupRoom>,
    },
    /// Hall, staff only: a breakout group's `report_filed`, `report_closed`,
    /// `message_flagged` or `hidden`, so moderators see trouble in every group without
    /// listening in. `text` is the reported or flagged message's text when there is one;
    /// `replay` marks a still-open report re-sent after a staff member's hall snapshot.
    /// Staff listening in to the group also get the group's own event: clients dedupe by
    /// (group room, report id) and (group room, message id).
    GroupEvent {
        room: String,
        group: GroupRoom,
        at: Millis,
        event: EventKind,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
        #[serde(default)]
        replay: bool,
    },
}

/// A live breakout group: the engine's group index and the group's room id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRoom {
    pub index: u32,
    pub room: String,
}

impl ServerMsg {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("server messages always serialize")
    }

    /// An `error` frame; `code` is a typed code ([`ErrorCode`], the engine's `RejectCode`,
    /// [`Code`]) or one a lower layer owns (the media's).
    pub fn error(
        id: Option<ClientId>,
        code: impl Into<&'static str>,
        message: impl Into<String>,
    ) -> ServerMsg {
        ServerMsg::Error {
            id,
            code: code.into().to_string(),
            message: message.into(),
        }
    }
}

/// Encodes one event frame (serialized once per event, shared by every receiver).
pub fn encode_event(room: &str, seq: u64, at: Millis, event: &EventKind) -> String {
    #[derive(Serialize)]
    struct Borrowed<'a> {
        #[serde(rename = "type")]
        ty: &'static str,
        room: &'a str,
        seq: u64,
        at: Millis,
        event: &'a EventKind,
    }
    serde_json::to_string(&Borrowed {
        ty: "event",
        room,
        seq,
        at,
        event,
    })
    .expect("events always serialize")
}

/// Encodes `resumed` around event frames that are already encoded, byte for byte.
pub fn encode_resumed<'a>(
    room: &str,
    recovered: bool,
    frames: impl Iterator<Item = &'a str>,
) -> String {
    let room = serde_json::to_string(room).expect("strings serialize");
    let mut out =
        format!("{{\"type\":\"resumed\",\"room\":{room},\"recovered\":{recovered},\"events\":[");
    for (i, f) in frames.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(f);
    }
    out.push_str("]}");
    out
}

/// The snapshot frame; `state` is serialized here, once, for the joining member.
pub fn encode_snapshot(room: &str, seq: u64, state: &impl Serialize) -> String {
    #[derive(Serialize)]
    struct Borrowed<'a, S> {
        #[serde(rename = "type")]
        ty: &'static str,
        room: &'a str,
        seq: u64,
        state: &'a S,
    }
    serde_json::to_string(&Borrowed {
        ty: "snapshot",
        room,
        seq,
        state,
    })
    .expect("views always serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes() {
        assert!(matches!(
            parse_client(r#"{"type":"ping","id":3}"#),
            Ok(ClientMsg::Ping { id: Some(_) })
        ));
        let e = parse_client(r#"{"type":"shout","id":"a"}"#).unwrap_err();
        assert_eq!(e.id, Some(ClientId::Str("a".into())));
        assert!(parse_client("[1]").is_err());
        assert!(parse_client("nope").is_err());
        assert!(parse_client(r#"{"type":"ping","x":1}"#).is_err());
        assert!(parse_client(r#"{"type":"hello"}"#).is_err());
        assert!(parse_client(r#"{"type":"raise_hand","id":{"a":1}}"#).is_err());
        assert!(matches!(
            parse_client(r#"{"type":"raise_hand","room":"e/group-1"}"#),
            Ok(ClientMsg::Command { room: Some(r), .. }) if r == "e/group-1"
        ));
        assert!(parse_client(r#"{"type":"raise_hand","room":3}"#).is_err());
        assert!(matches!(
            parse_client(r#"{"type":"join_room","id":1,"room":"e/group-1"}"#),
            Ok(ClientMsg::DropIn { join: true, .. })
        ));
        assert!(parse_client(r#"{"type":"leave_room"}"#).is_err());
        assert!(parse_client(r#"{"type":"leave_room","room":"r","x":1}"#).is_err());
        let left = r#"{"type":"left_room","room":"e/group-1","reason":"closed","hall":"e/hall"}"#;
        let parsed: ServerMsg = serde_json::from_str(left).unwrap();
        assert_eq!(parsed.to_json(), left);
        let long = "x".repeat(65);
        assert!(parse_client(&format!(r#"{{"type":"ping","id":"{long}"}}"#)).is_err());
    }

    #[test]
    fn encoded_events_match_the_dto() {
        let ev = EventKind::HandLowered {
            member: MemberId::new("m"),
        };
        let text = encode_event("e/hall", 3, Millis(7), &ev);
        let parsed: ServerMsg = serde_json::from_str(&text).unwrap();
        assert_eq!(
            parsed,
            ServerMsg::Event(EventFrame {
                room: "e/hall".into(),
                seq: 3,
                at: Millis(7),
                event: ev
            })
        );
        let resumed = encode_resumed("e/hall", true, [text.as_str()].into_iter());
        let parsed: ServerMsg = serde_json::from_str(&resumed).unwrap();
        assert!(
            matches!(parsed, ServerMsg::Resumed { recovered: true, events, .. } if events.len() == 1)
        );
    }
}
