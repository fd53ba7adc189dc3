//! What a room actor asks of the layers above it, as two small interfaces: [`RoomHost`] (the
//! event registry: the hub) and [`Ownership`] (cluster mode: this node's side of the room's
//! lease). The rooms sit below the hub and the cluster node, which spawn them; these traits
//! let an actor call back up without importing either, and without late binding.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::cluster::store::Store;
use crate::engine::Engine;
use crate::room::{RoomHandle, RoomMsg, RoomState};
use crate::wire::RoomId;

/// A boxed future, for the one asynchronous call an actor makes upward.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a breakout group room could not be opened (logged by the hall).
pub type SpawnError = Box<dyn std::error::Error + Send + Sync>;

/// The registry of events and their rooms, as a room actor sees it (implemented by the hub).
pub trait RoomHost: Send + Sync + fmt::Debug {
    /// An idle actor parks its state unless a message is waiting; true when it parked (and
    /// the actor should stop).
    fn park(&self, event: &str, state: &mut RoomState, rx: &mpsc::Receiver<RoomMsg>) -> bool;
    /// Cluster mode: the owner's actor stopped; forget its handle.
    fn owner_stopped(&self, event: &str, room: &RoomId);
    /// A live room of the event (a group asks for its hall), without spawning anything.
    fn live_room(&self, event: &str, room: &RoomId) -> Option<RoomHandle>;
    /// A hall whose session ended: its state stays for the report until retention ends.
    fn room_ended(self: Arc<Self>, event: &str, state: RoomState);
    /// A group room the hall ended: its state stays for the report.
    fn group_ended(&self, event: &str, room: &RoomId, state: RoomState);
    /// Opens the room of breakout group `index` for a hall, running `protocol`.
    fn spawn_group(
        self: Arc<Self>,
        event: &str,
        hall: &RoomId,
        index: u32,
        opening: u32,
        protocol: &str,
    ) -> Result<RoomHandle, SpawnError>;
    /// A new engine for the event's hall (its protocol and seed), to rebuild from a journal.
    fn fresh_engine(&self, event: &str) -> Option<Engine>;
    /// The event's metadata as the cluster stores it (put back with a reseeded room).
    fn meta_bytes(&self, event: &str) -> Option<Vec<u8>>;
}

/// Cluster mode: this node's side of the leases of the rooms it owns (implemented by the
/// cluster node).
pub trait Ownership: Send + Sync + fmt::Debug {
    /// The Redis primitives (fenced appends, snapshots, leases).
    fn store(&self) -> &Store;
    /// A room whose lease the actor took itself (a breakout group).
    fn register_owned(&self, room: &RoomId, epoch: u64, cancel: CancellationToken);
    /// The actor of an owned room stopped; `release` gives the lease back.
    fn room_stopped<'a>(&'a self, room: &'a RoomId, epoch: u64, release: bool)
        -> BoxFuture<'a, ()>;
    /// The room was put back into a Redis that had lost it, under a new epoch.
    fn reowned(&self, room: &RoomId, epoch: u64);
}
