//! What nodes say to each other over Redis: forwarded joins and commands (to a room's
//! owner), frames and replies (back to the node holding the connection), the engine inputs
//! kept in a room's log, and the encoding of a published event.
//!
//! Everything is JSON except the event payload, which carries the already-encoded wire frame
//! byte for byte behind a small header (`seq epoch\naudience\nframe`) so no node re-encodes
//! an event and the stream entry and the pub/sub message are the same bytes.

use serde::{Deserialize, Serialize};

use crate::engine::command::Command;
use crate::engine::event::Audience;
use crate::engine::member::{MemberId, Role};
use crate::engine::Input;
use crate::time::Millis;
use crate::token::Claims;
use crate::wire::{ClientId, Code, Refusal, Resume, RoomSummary};

/// Forwarded to a room's owner on the room's inbox channel. `node` is where the connection
/// lives; `conn` is its id there.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
pub enum ToOwner {
    Join {
        node: String,
        conn: u64,
        claims: Claims,
        resume: Option<Resume>,
    },
    Cmd {
        node: String,
        conn: u64,
        room: String,
        id: Option<ClientId>,
        command: Command,
    },
    DropIn {
        node: String,
        conn: u64,
        room: String,
        id: Option<ClientId>,
        join: bool,
    },
    Leave {
        node: String,
        conn: u64,
    },
    /// The organizer ends the event (HTTP API on any node).
    End {
        node: String,
        req: u64,
        event: String,
    },
    /// The hall's live summary (`GET /api/events/{id}` on any node).
    Summary {
        node: String,
        req: u64,
        event: String,
    },
}

/// A join's outcome as the owner saw it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "r", rename_all = "snake_case")]
pub enum JoinOutcome {
    Ok {
        seq: u64,
        recovered: Option<bool>,
    },
    Refused {
        code: Code,
        message: String,
    },
    /// The room could not take it (it stopped or lost its lease): retry.
    Unavailable,
}

/// Sent to the node holding a connection, on that node's channel.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
pub enum ToNode {
    /// Text frames for one connection, in order (welcome, snapshot, ack, error, ...).
    Frames {
        conn: u64,
        frames: Vec<String>,
    },
    /// From now on, deliver `room`'s events after `after` to the connection.
    Sub {
        conn: u64,
        room: String,
        after: u64,
    },
    Unsub {
        conn: u64,
        room: String,
    },
    /// Close the connection (after what is queued when `flush`).
    Close {
        conn: u64,
        code: u16,
        flush: bool,
    },
    Joined {
        conn: u64,
        outcome: JoinOutcome,
    },
    /// The command's outcome; its `ack` or `error` frame came just before.
    Done {
        conn: u64,
        refused: Option<Code>,
    },
    /// Reply to a request: `End` (no summary) or `Summary` (the hall's, typed; `None` when
    /// the owner does not run it).
    Reply {
        req: u64,
        summary: Option<RoomSummary>,
    },
    /// The node's own pub/sub probe.
    Probe {
        n: u64,
    },
}

/// An engine input in the room's input log, with the time it was applied.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoggedInput {
    pub now: Millis,
    pub input: WireInput,
}

/// The serde form of [`Input`] (the engine's own type is not serializable).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
pub enum WireInput {
    Join {
        member: MemberId,
        name: String,
        role: Role,
        community: Option<String>,
    },
    Leave {
        member: MemberId,
    },
    Command {
        from: MemberId,
        command: Command,
    },
    Tick,
    /// The room was down from `since` to the logged `now` (`Input::Outage`).
    Outage {
        since: Millis,
    },
    Start,
    HallModeration {
        member: MemberId,
        muted: bool,
        by: MemberId,
    },
    Voiced {
        voiced: Vec<(MemberId, u64)>,
    },
}

impl From<&Input> for WireInput {
    fn from(i: &Input) -> WireInput {
        match i.clone() {
            Input::Join {
                member,
                name,
                role,
                community,
            } => WireInput::Join {
                member,
                name,
                role,
                community,
            },
            Input::Leave { member } => WireInput::Leave { member },
            Input::Command { from, command } => WireInput::Command { from, command },
            Input::Tick => WireInput::Tick,
            Input::Outage { since } => WireInput::Outage { since },
            Input::Start => WireInput::Start,
            Input::HallModeration { member, muted, by } => {
                WireInput::HallModeration { member, muted, by }
            }
            Input::Voiced { voiced } => WireInput::Voiced { voiced },
        }
    }
}

impl From<WireInput> for Input {
    fn from(i: WireInput) -> Input {
        match i {
            WireInput::Join {
                member,
                name,
                role,
                community,
            } => Input::Join {
                member,
                name,
                role,
                community,
            },
            WireInput::Leave { member } => Input::Leave { member },
            WireInput::Command { from, command } => Input::Command { from, command },
            WireInput::Tick => Input::Tick,
            WireInput::Outage { since } => Input::Outage { since },
            WireInput::Start => Input::Start,
            WireInput::HallModeration { member, muted, by } => {
                Input::HallModeration { member, muted, by }
            }
            WireInput::Voiced { voiced } => Input::Voiced { voiced },
        }
    }
}

/// A published event, decoded.
#[derive(Debug, Clone)]
pub struct EventPayload {
    pub seq: u64,
    pub epoch: u64,
    pub audience: Audience,
    pub frame: String,
}

pub fn encode_event(seq: u64, epoch: u64, audience: &Audience, frame: &str) -> Vec<u8> {
    let aud = serde_json::to_string(audience).unwrap_or_else(|_| "{\"to\":\"staff\"}".into());
    format!("{seq} {epoch}\n{aud}\n{frame}").into_bytes()
}

pub fn decode_event(bytes: &[u8]) -> Option<EventPayload> {
    let text = std::str::from_utf8(bytes).ok()?;
    let (head, rest) = text.split_once('\n')?;
    let (aud, frame) = rest.split_once('\n')?;
    let (seq, epoch) = head.split_once(' ')?;
    Some(EventPayload {
        seq: seq.parse().ok()?,
        epoch: epoch.parse().ok()?,
        audience: serde_json::from_str(aud).ok()?,
        frame: frame.to_string(),
    })
}

/// A refusal from its wire parts.
pub fn rejection(code: Code, message: String) -> Refusal {
    Refusal::new(code, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_logged_and_read_back_with_its_window() {
        let logged = LoggedInput {
            now: Millis(10_000),
            input: WireInput::from(&Input::Outage {
                since: Millis(4_000),
            }),
        };
        let json = serde_json::to_string(&logged).unwrap();
        assert_eq!(json, r#"{"now":10000,"input":{"k":"outage","since":4000}}"#);
        let back: LoggedInput = serde_json::from_str(&json).unwrap();
        assert_eq!(
            Input::from(back.input),
            Input::Outage {
                since: Millis(4_000)
            }
        );
    }

    #[test]
    fn event_payload_round_trips() {
        let a = Audience::MemberAndStaff(MemberId::new("m1"));
        let b = encode_event(7, 3, &a, "{\"type\":\"event\",\"x\":\"a\\nb\"}");
        let d = decode_event(&b).unwrap();
        assert_eq!((d.seq, d.epoch, d.audience), (7, 3, a));
        assert_eq!(d.frame, "{\"type\":\"event\",\"x\":\"a\\nb\"}");
    }
}
