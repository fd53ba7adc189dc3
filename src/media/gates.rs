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
    /// Voiced floor milliseconds per room and member, for the report. Kept apart from the
    /// gates because it outlives the session (the report is read after the end); bounded by
    /// the members who were heard on this node.
    voiced: Mutex<HashMap<RoomId, HashMap<MemberId, u64>>>,
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
            let mut voiced = self.voiced.lock().unwrap_or_else(|e| e.into_inner());
            *voiced
                .entry(room.clone())
                .or_default()
                .entry(member.clone())
                .or_default() += FRAME_MS;
        }
        res
    }

    /// Voiced floor milliseconds of `member` in `room` so far.
    pub fn voiced_ms(&self, room: &RoomId, member: &MemberId) -> u64 {
        let voiced = self.voiced.lock().unwrap_or_else(|e| e.into_inner());
        voiced
            .get(room)
            .and_then(|m| m.get(member))
            .copied()
            .unwrap_or(0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<RoomId, RoomGate>> {
        // A panic while holding the lock cannot leave a gate half-applied in a way that
        // matters more than refusing all audio, so a poisoned lock is used as is.
        self.rooms.lock().unwrap_or_else(|e| e.into_inner())
    }
}
