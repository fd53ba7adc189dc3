//! What the cluster node asks of the event registry above it ([`NodeHost`], implemented by
//! the hub): the node takes rooms over and serves forwarded messages, so it must spawn
//! actors and find live rooms, but it does not import the hub.

use std::fmt;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::engine::EngineConfig;
use crate::protocol::Protocol;
use crate::room::host::BoxFuture;
use crate::room::{RoomHandle, RoomState, RoomSummary};
use crate::wire::RoomId;

/// The event registry as the cluster node sees it.
pub trait NodeHost: Send + Sync + fmt::Debug {
    /// Whether the registry knows the event (created here or loaded from Redis).
    fn knows(&self, event: &str) -> bool;
    /// Whether the event is known and ended.
    fn ended(&self, event: &str) -> bool;
    /// Loads an event's shared metadata; true when it is known afterwards.
    fn load_meta(&self, bytes: &[u8]) -> bool;
    /// The hall's protocol and seed, to build its engine when no snapshot is stored.
    fn protocol_and_seed(&self, event: &str) -> Option<(Arc<Protocol>, u64)>;
    /// The engine configuration for a given seed (the server's word list).
    fn engine_config(&self, seed: u64) -> EngineConfig;
    /// Starts a hall's actor on this node, which took it over under `epoch`.
    fn spawn_owned(
        self: Arc<Self>,
        event: &str,
        state: RoomState,
        epoch: u64,
        lease: CancellationToken,
    ) -> RoomHandle;
    /// Starts a breakout group's actor on this node, which took it over with its hall.
    #[allow(clippy::too_many_arguments)]
    fn spawn_group_owned(
        self: Arc<Self>,
        event: &str,
        hall: &RoomId,
        room: &RoomId,
        index: u32,
        opening: u32,
        state: RoomState,
        epoch: u64,
        lease: CancellationToken,
    ) -> RoomHandle;
    /// A live room of an event by id, without spawning anything.
    fn live_room(&self, event: &str, room: &RoomId) -> Option<RoomHandle>;
    /// Ends an event whose hall runs (or may be started) on this node; false when it could
    /// not be reached.
    fn end_local(self: Arc<Self>, event: String) -> BoxFuture<'static, bool>;
    /// The live summary of an event's hall; `None` when unknown or unreachable.
    fn summary(self: Arc<Self>, event: String) -> BoxFuture<'static, Option<RoomSummary>>;
}
