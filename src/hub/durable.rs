//! Single node: the journal is the store of record. A new event's metadata is stored before
//! the API answers 201, and at start every stored event is brought back, a running hall's
//! live breakout groups with it.

use super::*;
use crate::engine::event::EventKind;
use crate::engine::phase::PhaseState;
use crate::journal::{JournalError, LiveGroup};

/// How many times the hall's breakouts were opened, from its typed record: a rebuilt hall
/// (`RoomState::openings` is not part of the engine) numbers its openings on from there.
pub(super) fn openings_of(state: &RoomState) -> u32 {
    let n = state
        .record
        .iter()
        .filter(|l| matches!(l.event.kind, EventKind::BreakoutOpened { .. }))
        .count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl Hub {
    /// Queues the event's metadata for the journal; the returned ack resolves once stored.
    pub fn queue_meta(&self, event: &str) -> Option<Ack> {
        let meta = self.meta_bytes(event)?;
        Some(self.ctx.journal.put_event(event, meta))
    }

    /// Makes a new event durable before the API answers 201; when the journal cannot store
    /// it the event is forgotten again and the caller gets `unavailable`.
    pub async fn persist_meta(&self, event: &str) -> Result<(), HubError> {
        let Some(ack) = self.queue_meta(event) else {
            return Err(HubError::UnknownEvent(event.to_string()));
        };
        if let Err(e) = journal::wait(ack).await {
            tracing::error!(event, "cannot store the event: {e}");
            self.purge(event);
            return Err(HubError::Unavailable);
        }
        self.share_meta_now(event).await
    }

    /// Single node, at start: brings back every event the journal holds. A running event's
    /// hall is rebuilt (snapshot + inputs through the engine, checked against the last stored
    /// event) and parked, so its first join wakes it and its timers fire at their stored
    /// deadlines; an ended event keeps its final state for the report until its retention
    /// runs out. A running hall's live breakout groups start again with it
    /// ([`Hub::recover_groups`]). Fails on a hall whose replay does not match what is stored.
    pub fn recover(self: &Arc<Self>) -> Result<usize, String> {
        let journal = Arc::clone(&self.ctx.journal);
        let metas = journal.events().map_err(|e| e.to_string())?;
        let mut n = 0;
        for bytes in metas {
            let meta: Meta = serde_json::from_slice(&bytes)
                .map_err(|e| format!("stored event metadata: {e}"))?;
            let event = meta.info.id.clone();
            let Some(protocol) = self.library.get(&meta.info.protocol) else {
                tracing::error!(event, protocol = %meta.info.protocol,
                    "a stored event's protocol is not in the library; it is not served");
                continue;
            };
            let hall = RoomId::hall(&event);
            let stored = journal
                .load_room(hall.as_str())
                .map_err(|e| e.to_string())?;
            let seed = meta.seed;
            let fresh = || Some(Engine::new(Arc::clone(&protocol), self.engine_config(seed)));
            let mut state = crate::room::recover::rebuild(&hall, &stored, fresh, self.ctx.log_len)
                .map_err(|e| format!("room {hall}: {e}"))?;
            state.openings = openings_of(&state);
            let in_breakout = matches!(state.engine.phase(), Some(PhaseState::Breakout(_)));
            let openings = state.openings;
            // Group numbers are never reused: continue after the highest stored one.
            let next_group = journal
                .rooms(&event)
                .map_err(|e| e.to_string())?
                .iter()
                .filter_map(|r| {
                    r.strip_prefix(&format!("{event}/group-"))?
                        .parse::<u32>()
                        .ok()
                })
                .max()
                .map_or(1, |m| m.saturating_add(1));
            let mut info = meta.info;
            let ended = info.ended || state.engine.session() == Session::Ended;
            let slot = if ended {
                let at = info
                    .ended_at
                    .or_else(|| state.record.last().map(|l| l.event.at))
                    .unwrap_or_else(|| self.ctx.clock.now());
                info.ended = true;
                info.ended_at = Some(at);
                info.purge_at = Some(at + info.retention_secs.saturating_mul(1000));
                Slot::Ended(Arc::new(state))
            } else if stored.events.is_empty() && stored.snapshot.is_none() {
                Slot::Empty
            } else {
                Slot::Parked(Box::new(state))
            };
            let ended_at = info.ended_at;
            let parked = matches!(slot, Slot::Parked(_));
            self.lock().insert(
                event.clone(),
                Entry {
                    info,
                    protocol,
                    seed,
                    slot,
                    groups: BTreeMap::new(),
                    next_group,
                    shared: false,
                },
            );
            if let (true, Some(at)) = (ended, ended_at) {
                self.schedule_purge(&event, at);
            }
            let groups = if parked && in_breakout {
                self.recover_groups(&event, &hall, openings)
                    .map_err(|e| format!("breakout groups of {hall}: {e}"))?
            } else {
                0
            };
            let ended_groups = self
                .recover_ended_groups(&event, &hall)
                .map_err(|e| format!("ended breakout groups of {hall}: {e}"))?;
            tracing::info!(
                event,
                seq = stored.top(),
                ended,
                groups,
                ended_groups,
                "event recovered from the journal"
            );
            n += 1;
        }
        Ok(n)
    }

    /// Single node, at start: every group room the hall had that is not live again (closed
    /// before the restart, or of an event that ended), rebuilt from its own rows as an ended
    /// group, so the report and the transcript after a restart still cover it. A group whose
    /// rows do not rebuild is left out and logged. Returns how many.
    fn recover_ended_groups(&self, event: &str, hall: &RoomId) -> Result<usize, JournalError> {
        let journal = Arc::clone(&self.ctx.journal);
        let mut n = 0;
        for LiveGroup {
            index,
            room,
            opening,
        } in journal.group_rooms(hall.as_str())?
        {
            let Some(id) = RoomId::parse(event, &room) else {
                tracing::error!(
                    room,
                    "a recorded breakout group has no room id of its event"
                );
                continue;
            };
            let live = self
                .lock()
                .get(event)
                .is_some_and(|e| e.groups.contains_key(&id));
            if live {
                continue;
            }
            let stored = journal.load_room(id.as_str())?;
            let state = match crate::room::recover::rebuild(&id, &stored, || None, self.ctx.log_len)
            {
                Ok(state) => state,
                Err(e) => {
                    tracing::error!(room = %id, "cannot rebuild an ended breakout group for the report: {e}");
                    continue;
                }
            };
            if let Some(entry) = self.lock().get_mut(event) {
                entry.groups.insert(
                    id,
                    Group::Ended {
                        index,
                        opening,
                        state: Arc::new(state),
                    },
                );
                n += 1;
            }
        }
        Ok(n)
    }

    /// Single node, at start: the hall's live breakout groups as it last recorded them
    /// (`sync_groups`), each rebuilt from its own rows (the snapshot every group journals at
    /// its start, then its inputs) and started again as a live group of the parked hall,
    /// which holds their handles. So a member who comes back is placed in the same group
    /// room (the hall's `place` on join), whose record, turns and queue go on and whose
    /// timers fire at their stored deadlines. Only groups of the hall's current opening are
    /// started (a crash between a reassignment and its record leaves the old ones behind);
    /// a group whose rows do not rebuild is left out, logged, and its members get a new
    /// room when they are placed. Returns how many were started.
    fn recover_groups(
        self: &Arc<Self>,
        event: &str,
        hall: &RoomId,
        openings: u32,
    ) -> Result<usize, JournalError> {
        let journal = Arc::clone(&self.ctx.journal);
        let mut started = 0;
        for LiveGroup {
            index,
            room,
            opening,
        } in journal.load_groups(hall.as_str())?
        {
            if opening != openings {
                tracing::info!(
                    room,
                    opening,
                    openings,
                    "a recorded group of an earlier opening is not started"
                );
                continue;
            }
            let Some(id) = RoomId::parse(event, &room) else {
                tracing::error!(
                    room,
                    "a recorded breakout group has no room id of its event"
                );
                continue;
            };
            let stored = journal.load_room(id.as_str())?;
            // A group is rebuilt from its snapshot alone: it has no protocol of its own here.
            let state = match crate::room::recover::rebuild(&id, &stored, || None, self.ctx.log_len)
            {
                Ok(state) => state,
                Err(e) => {
                    tracing::error!(room = %id, "cannot rebuild a breakout group; it is not started: {e}");
                    continue;
                }
            };
            if self.spawn_group_recovered(event, hall, &id, index, opening, state) {
                tracing::info!(room = %id, index, seq = stored.top(), "breakout group recovered from the journal");
                started += 1;
            }
        }
        Ok(started)
    }
}
