//! Every room's gate, shared by the room actors (who feed engine events) and the media task
//! (who asks, per packet, who may be heard).
//!
//! Why shared state behind a mutex rather than a channel: a room actor's `emit` is
//! synchronous and must not lose or delay a gate change (a dropped `floor_released` would
//! leave someone audible). Applying an event is a few map operations, so the actor updates
//! the gate in place, before the event is even published, and the media task reads the
//! result on its next packet. The lock is held for one `apply` or one `may_forward`, never
//! across an await.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::engine::event::{Event, EventKind};
use crate::engine::member::MemberId;
use crate::media::gate::{DropReason, RoomGate, Voice};
use crate::time::Millis;
use crate::wire::RoomId;

/// The gates of the rooms on this node.
#[derive(Debug, Default)]
pub struct Gates {
    rooms: Mutex<HashMap<RoomId, RoomGate>>,
    /// Voiced floor milliseconds per room and member not yet reported to the room, which
    /// journals them as `Input::Voiced` (see `room/voiced.rs`) and takes them out of here; so
    /// this holds about a second of talk per room and is bounded by the rooms being heard.
    pending: Mutex<HashMap<RoomId, HashMap<MemberId, u64>>>,
}

/// One Opus frame: the voiced time one forwarded frame with voice activity stands for.
const FRAME_MS: u64 = 20;

impl Gates {
    pub fn new() -> Gates {
        Gates::default()
    }

    /// The room actor's one hook: follow an event the engine emitted in `room`.
    pub fn follow(&self, room: &RoomId, event: &Event) {
        let mut rooms = self.lock();
        // An ended session hears nobody again, so its gate is dropped; that keeps the map
        // bounded by the live rooms.
        if let EventKind::SessionEnded = event.kind {
            rooms.remove(room);
            // The room reported before the ending input unless it had just reported; what a
            // quarter of a second held goes with the gate.
            self.lock_pending().remove(room);
            return;
        }
        rooms.entry(room.clone()).or_default().apply(event);
    }

    /// Runs `f` on a room's gate (created empty if the room has had no event yet).
    pub fn with<R>(&self, room: &RoomId, f: impl FnOnce(&mut RoomGate) -> R) -> R {
        let mut rooms = self.lock();
        f(rooms.entry(room.clone()).or_default())
    }

    /// The SFU's per-frame question, with the voice-activity bookkeeping in the same step:
    /// a forwarded floor frame flagged as voice counts 20 ms of voiced time.
    pub fn check_frame(
        &self,
        room: &RoomId,
        member: &MemberId,
        now: Millis,
        voice_activity: bool,
    ) -> Result<Voice, DropReason> {
        let res = self.with(room, |g| g.may_forward(member, now));
        if res == Ok(Voice::Floor) && voice_activity {
            *self
                .lock_pending()
                .entry(room.clone())
                .or_default()
                .entry(member.clone())
                .or_default() += FRAME_MS;
        }
        res
    }

    /// Voiced floor milliseconds of `member` in `room` not yet reported to the room.
    pub fn pending_voiced_ms(&self, room: &RoomId, member: &MemberId) -> u64 {
        self.lock_pending()
            .get(room)
            .and_then(|m| m.get(member))
            .copied()
            .unwrap_or(0)
    }

    /// Whether `room` has voiced time waiting to be reported.
    pub fn has_voiced(&self, room: &RoomId) -> bool {
        self.lock_pending().contains_key(room)
    }

    /// Takes the voiced time measured in `room` since the last take, per member, in a stable
    /// order (the journaled input is the same however the map iterates).
    pub fn take_voiced(&self, room: &RoomId) -> Vec<(MemberId, u64)> {
        let mut v: Vec<(MemberId, u64)> = self
            .lock_pending()
            .remove(room)
            .map(|m| m.into_iter().collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Puts back what `take_voiced` returned when the room could not store it.
    pub fn restore_voiced(&self, room: &RoomId, voiced: Vec<(MemberId, u64)>) {
        let mut pending = self.lock_pending();
        let m = pending.entry(room.clone()).or_default();
        for (member, ms) in voiced {
            *m.entry(member).or_default() += ms;
        }
    }

    fn lock_pending(&self) -> std::sync::MutexGuard<'_, HashMap<RoomId, HashMap<MemberId, u64>>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<RoomId, RoomGate>> {
        // A panic while holding the lock cannot leave a gate half-applied in a way that
        // matters more than refusing all audio, so a poisoned lock is used as is.
        self.rooms.lock().unwrap_or_else(|e| e.into_inner())
    }
}
