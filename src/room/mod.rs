//! Live rooms: one actor task per room owns its engine; everyone else holds a `RoomHandle`.
//!
//! The handle is a bounded mpsc sender. Messages are a closed enum ([`RoomMsg`]); replies
//! come back on oneshot channels. See `actor.rs` for the loop.

pub mod actor;

use std::fmt;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::bus::{ConnId, Subscriber};
use crate::engine::command::Command;
use crate::engine::reject::Rejection;
use crate::gateway::wire::{ClientId, Resume};
use crate::token::Claims;

pub use actor::{RoomState, RoomSummary};

/// A room's id: `"{event}/hall"` for an event's main room.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomId(Arc<str>);

impl RoomId {
    pub fn hall(event: &str) -> RoomId {
        RoomId(Arc::from(format!("{event}/hall")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a connection joins: who (from its token), where its frames go, and what it has seen.
#[derive(Debug)]
pub struct JoinRequest {
    pub sub: Subscriber,
    pub claims: Claims,
    pub resume: Option<Resume>,
}

/// A successful join. The room already queued `welcome` and `snapshot` (or `resumed`) on the
/// connection's outbound queue, in order, before any live event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinReply {
    /// The last sequence number included in the snapshot or resume.
    pub seq: u64,
    pub recovered: Option<bool>,
}

/// Everything a room can be asked.
#[derive(Debug)]
pub enum RoomMsg {
    Join {
        req: Box<JoinRequest>,
        reply: oneshot::Sender<Result<JoinReply, Rejection>>,
    },
    /// The connection is gone; the member leaves when it was their last connection.
    Leave {
        conn: ConnId,
    },
    /// A member's command. The room queues the `ack` or `error` (with `id`) on the
    /// connection itself, after the events the command caused and before anything later
    /// (such as the close when the session ends); `reply` only reports the outcome.
    Command {
        conn: ConnId,
        id: Option<ClientId>,
        command: Command,
        reply: oneshot::Sender<Result<(), Rejection>>,
    },
    /// The organizer ends the event (through the HTTP API).
    End {
        reply: oneshot::Sender<()>,
    },
    Inspect {
        reply: oneshot::Sender<RoomSummary>,
    },
}

/// A cloneable address of a live room.
#[derive(Debug, Clone)]
pub struct RoomHandle {
    pub id: RoomId,
    pub tx: mpsc::Sender<RoomMsg>,
}
