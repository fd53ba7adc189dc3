//! The hub seen from below: the rooms' `RoomHost` and the cluster node's `NodeHost`.

use super::*;

/// The rooms' view of the registry.
impl RoomHost for Hub {
    fn park(&self, event: &str, state: &mut RoomState, rx: &mpsc::Receiver<RoomMsg>) -> bool {
        Hub::park(self, event, state, rx)
    }

    fn owner_stopped(&self, event: &str, room: &RoomId) {
        Hub::owner_stopped(self, event, room);
    }

    fn live_room(&self, event: &str, room: &RoomId) -> Option<RoomHandle> {
        Hub::live_room(self, event, room)
    }

    fn room_ended(self: Arc<Self>, event: &str, state: RoomState) {
        Hub::room_ended(&self, event, state);
    }

    fn group_ended(&self, event: &str, room: &RoomId, state: RoomState) {
        Hub::group_ended(self, event, room, state);
    }

    fn spawn_group(
        self: Arc<Self>,
        event: &str,
        hall: &RoomId,
        index: u32,
        opening: u32,
        protocol: &str,
    ) -> Result<RoomHandle, SpawnError> {
        Hub::spawn_group(&self, event, hall, index, opening, protocol).map_err(Into::into)
    }

    fn fresh_engine(&self, event: &str) -> Option<Engine> {
        Hub::fresh_engine(self, event)
    }

    fn meta_bytes(&self, event: &str) -> Option<Vec<u8>> {
        Hub::meta_bytes(self, event)
    }
}

/// The cluster node's view of the registry.
impl NodeHost for Hub {
    fn knows(&self, event: &str) -> bool {
        self.event(event).is_some()
    }

    fn ended(&self, event: &str) -> bool {
        self.event(event).is_some_and(|e| e.ended)
    }

    fn load_meta(&self, bytes: &[u8]) -> bool {
        Hub::load_meta(self, bytes)
    }

    fn protocol_and_seed(&self, event: &str) -> Option<(Arc<Protocol>, u64)> {
        Hub::protocol_and_seed(self, event)
    }

    fn engine_config(&self, seed: u64) -> EngineConfig {
        Hub::engine_config(self, seed)
    }

    fn spawn_owned(
        self: Arc<Self>,
        event: &str,
        state: RoomState,
        epoch: u64,
        lease: CancellationToken,
    ) -> RoomHandle {
        Hub::spawn_owned(&self, event, state, epoch, lease)
    }

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
    ) -> RoomHandle {
        Hub::spawn_group_owned(
            &self, event, hall, room, index, opening, state, epoch, lease,
        )
    }

    fn live_room(&self, event: &str, room: &RoomId) -> Option<RoomHandle> {
        Hub::live_room(self, event, room)
    }

    fn end_local(self: Arc<Self>, event: String) -> BoxFuture<'static, bool> {
        Box::pin(async move { Hub::end_local(&self, &event).await.is_ok() })
    }

    fn summary(self: Arc<Self>, event: String) -> BoxFuture<'static, Option<RoomSummary>> {
        Box::pin(async move { Hub::summary(&self, &event).await.ok() })
    }
}
