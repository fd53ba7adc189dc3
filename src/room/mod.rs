//! Live rooms: one actor task per room owns its engine; everyone else holds a `RoomHandle`.
//!
//! The handle is a bounded mpsc sender. Messages are a closed enum ([`RoomMsg`]); replies
//! come back on oneshot channels. See `actor.rs` for the loop and `groups.rs` for the
//! breakout handling.
//!
//! An event has one hall and, while a breakout runs, one room per group. The hall's actor
//! owns the groups: it has them spawned, joins and moves its members' connections into them
//! and ends them; a group room never closes a connection.

pub mod actor;
mod batch;
mod conns;
mod groups;
pub mod host;
mod journaled;
mod owner;
pub mod recover;
pub mod state;
mod store;
mod undo;
mod voiced;

use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use tokio::sync::{mpsc, oneshot};

use crate::bus::Outbound;
use crate::bus::{ConnId, Subscriber};
use crate::engine::command::Command;
use crate::engine::member::MemberId;
use crate::engine::Engine;
use crate::record::Logged;
use crate::token::Claims;
use crate::wire::{ClientId, LeftReason, Refusal, Resume, RoomId};

pub use crate::wire::RoomSummary;
pub use host::{Ownership, RoomHost};
pub use state::{RoomCtx, RoomState};

/// What a room is, which decides how it ends and whom it answers to.
#[derive(Debug, Clone)]
pub enum RoomKind {
    Hall,
    /// A breakout group: `index` is the engine's group number in the hall's breakout.
    Group {
        hall: RoomId,
        index: u32,
    },
}

/// A copy of a room's engine and typed log, for reports and transcripts.
#[derive(Debug, Clone)]
pub struct RoomRecord {
    pub room: RoomId,
    pub engine: Engine,
    pub log: Vec<Logged>,
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

/// Everything a room can be asked, grouped by who asks: a connection, the hall or one of its
/// groups, the HTTP API, or the cluster owner. A room's `handle` dispatches on the group, so
/// each sender's messages are handled in one place.
#[derive(Debug)]
pub enum RoomMsg {
    Conn(ConnMsg),
    Group(GroupMsg),
    Admin(AdminMsg),
    Cluster(ClusterMsg),
}

/// From a member's connection (through the gateway, or a cluster proxy on the owner).
#[derive(Debug)]
pub enum ConnMsg {
    Join {
        req: Box<JoinRequest>,
        reply: oneshot::Sender<Result<JoinReply, Refusal>>,
    },
    /// The connection is gone; the member leaves when it was their last connection.
    Leave { conn: ConnId },
    /// A member's command. The room queues the `ack` or `error` (with `id`) on `out`, the
    /// connection's queue, after the events the command caused and before anything later
    /// (such as the close when the session ends); `reply` only reports the outcome.
    Command {
        conn: ConnId,
        id: Option<ClientId>,
        command: Command,
        out: Arc<Outbound>,
        reply: oneshot::Sender<Result<(), Refusal>>,
    },
    /// Staff drop in to listen to a group (`join: true`) or leave it. Sent to the hall,
    /// which owns every group placement; it queues the `ack` or `error` itself.
    DropIn {
        conn: ConnId,
        id: Option<ClientId>,
        room: RoomId,
        join: bool,
    },
}

/// Between a hall and its breakout groups: the hall places connections and ends the groups;
/// a group sends the hall what its staff must see.
#[derive(Debug)]
pub enum GroupMsg {
    /// To a group: the hall joins a connection (server-initiated; the group queues its
    /// `welcome` and `snapshot` on the connection's queue).
    Attach { req: Box<JoinRequest> },
    /// To a group: the hall takes a connection out; the group queues `left_room`.
    Detach { conn: ConnId, reason: LeftReason },
    /// To a group: the first members are in; a group without a facilitator runs itself.
    Begin,
    /// To a group: the hall muted or unmuted `member` (moderation is event-wide).
    HallModeration {
        member: MemberId,
        muted: bool,
        by: MemberId,
    },
    /// To a group: the breakout ended; leave every connection open and stop.
    Close,
    /// To the hall: a group's report, closure, flag or hide (an encoded `group_event` frame)
    /// for every staff connection in the hall; dropped when `group` is no longer live.
    GroupEvent { group: RoomId, frame: Utf8Bytes },
    /// To a group: queue a `group_event` (`replay: true`) for each open report on `out`, a
    /// staff connection that just got its hall snapshot.
    OpenReports { out: Arc<Outbound> },
}

/// From the HTTP API (the organizer).
#[derive(Debug)]
pub enum AdminMsg {
    /// A copy of the engine and the typed log, for reports.
    Record {
        reply: oneshot::Sender<Box<RoomRecord>>,
    },
    /// The organizer ends the event.
    End {
        reply: oneshot::Sender<()>,
    },
    Inspect {
        reply: oneshot::Sender<RoomSummary>,
    },
}

/// From this node as the room's cluster owner.
#[derive(Debug)]
pub enum ClusterMsg {
    /// A connection the previous owner served and that is still open on its node; the new
    /// owner takes it on without sending it anything.
    Adopt { req: Box<JoinRequest> },
    /// Redis lost the room (restarted empty); the owner puts it back.
    Reseed,
}

/// A cloneable address of a live room.
#[derive(Debug, Clone)]
pub struct RoomHandle {
    pub id: RoomId,
    pub tx: mpsc::Sender<RoomMsg>,
}
