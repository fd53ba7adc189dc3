//! The seam between room actors and gateways: rooms publish sequenced events, connections
//! subscribe per room.
//!
//! Each event is serialized once by its room into a [`Sequenced`] frame; the bus hands the
//! same bytes to every subscriber whose member may see it. Delivery is a non-blocking push
//! into each connection's byte-bounded [`Outbound`] queue: a full queue closes that
//! connection (4008) and never slows the room. `local` is the in-process implementation;
//! `cluster` is the owner's side in cluster mode, where events travel through Redis and
//! every connection the room serves is a proxy for a connection on some node.

pub mod cluster;
pub mod local;
pub mod queue;
pub mod registry;

use std::fmt::Debug;
use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;

use crate::engine::event::Audience;
use crate::engine::member::{MemberId, Role};
use crate::wire::CloseReason;
use crate::wire::RoomId;

pub use queue::Outbound;

/// One event of a room, numbered and already encoded as its wire frame.
#[derive(Debug)]
pub struct Sequenced {
    pub seq: u64,
    pub audience: Audience,
    /// The complete `{"type":"event",...}` text frame.
    pub frame: Utf8Bytes,
}

/// A connection's identity on this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// A connection subscribed to a room: who it is (for audience checks) and where its frames go.
#[derive(Debug, Clone)]
pub struct Subscriber {
    pub conn: ConnId,
    pub member: MemberId,
    pub role: Role,
    pub out: Arc<Outbound>,
}

/// Moves sequenced events from a room to the connections subscribed to it.
pub trait Bus: Send + Sync + Debug + 'static {
    /// Delivers `event` to every subscriber of `room` that may see it, without waiting.
    fn publish(&self, room: &RoomId, event: &Arc<Sequenced>);
    /// Adds a connection to a room's fan-out. The room calls this inside its actor, right
    /// after it queued the snapshot, so nothing is lost or duplicated in between.
    fn subscribe(&self, room: &RoomId, sub: Subscriber);
    /// `subscribe` for a connection whose snapshot (or resume) ended at `after`. In cluster
    /// mode the connection's node delivers the room's events after that number.
    fn subscribe_at(&self, room: &RoomId, sub: Subscriber, after: u64) {
        let _ = after;
        self.subscribe(room, sub);
    }
    fn unsubscribe(&self, room: &RoomId, conn: ConnId);
    /// Closes, after what is already queued, the connections of one member (`Some`) or of
    /// everyone in the room (`None`).
    fn disconnect(&self, room: &RoomId, member: Option<&MemberId>, reason: CloseReason);
    /// Connections subscribed to `room` on this node.
    fn subscribers(&self, room: &RoomId) -> usize;
}
