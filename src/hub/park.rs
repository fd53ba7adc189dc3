//! Idle rooms: an idle hall parks its state here (the task ends, the engine and log stay),
//! and an owner's actor that stopped in cluster mode leaves an empty slot.

use super::*;

impl Hub {
    /// Called by an idle actor: parks its state unless a message is waiting. Returns whether
    /// it parked (and the actor should stop).
    pub(crate) fn park(
        &self,
        event: &str,
        state: &mut RoomState,
        rx: &mpsc::Receiver<RoomMsg>,
    ) -> bool {
        let mut map = self.lock();
        // Gateways look the handle up under this lock, so once the slot says `Parked` the next
        // lookup respawns the room from the parked state. A message already queued is handled
        // first; one sent with an older handle after this point finds the channel closed (or
        // its reply dropped) and the gateway looks the room up again.
        if !rx.is_empty() {
            return false;
        }
        let Some(entry) = map.get_mut(event) else {
            return true;
        };
        let engine = Engine::new(Arc::clone(&entry.protocol), self.engine_config(entry.seed));
        let taken = std::mem::replace(state, RoomState::new(engine));
        entry.slot = Slot::Parked(Box::new(taken));
        true
    }

    /// Cluster mode: a room's actor stopped (it handed the room back or lost it); its state
    /// lives in Redis, not here.
    pub(crate) fn owner_stopped(&self, event: &str, room: &RoomId) {
        let mut map = self.lock();
        let Some(entry) = map.get_mut(event) else {
            return;
        };
        if *room == RoomId::hall(event) {
            if let Slot::Live(_) = entry.slot {
                entry.slot = Slot::Empty;
            }
        }
    }
}
