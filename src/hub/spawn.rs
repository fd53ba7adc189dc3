//! Starting room actors, written once: a hall on its first join (or respawned from its
//! parked state, or rebuilt from the journal), a hall this node took over (cluster mode),
//! a breakout group for a hall, a group taken over with its hall (cluster mode) or brought
//! back with its hall at start (single node).

use super::*;
use crate::room::GroupMsg;

impl Hub {
    /// The live room of an event, spawning (or respawning a parked) actor when needed.
    pub fn room(self: &Arc<Self>, event: &str) -> Result<RoomHandle, HubError> {
        let mut map = self.lock();
        let entry = map
            .get_mut(event)
            .ok_or_else(|| HubError::UnknownEvent(event.to_string()))?;
        let state = match std::mem::replace(&mut entry.slot, Slot::Empty) {
            Slot::Live(h) if !h.tx.is_closed() => {
                entry.slot = Slot::Live(h.clone());
                return Ok(h);
            }
            Slot::Live(_) => {
                tracing::error!(event, "room actor stopped without parking; starting afresh");
                None
            }
            Slot::Ended(state) => {
                entry.slot = Slot::Ended(state);
                return Err(HubError::Ended);
            }
            Slot::Parked(state) => Some(*state),
            Slot::Empty => None,
        };
        if self.ctx.cancel.is_cancelled() {
            return Err(HubError::Unavailable);
        }
        // In cluster mode a hall runs only where its lease is (`spawn_owned`).
        if self.ctx.cluster.is_some() {
            return Err(HubError::Unavailable);
        }
        let fresh = || Engine::new(Arc::clone(&entry.protocol), self.engine_config(entry.seed));
        let state = match state {
            Some(s) => s,
            // Nothing in memory: the journal holds whatever was stored of the room.
            None if self.ctx.journal.durable() => {
                let hall = RoomId::hall(event);
                let rebuilt = self
                    .ctx
                    .journal
                    .load_room(hall.as_str())
                    .map_err(|e| e.to_string())
                    .and_then(|stored| {
                        let fresh = || Some(fresh());
                        crate::room::recover::rebuild(&hall, &stored, fresh, self.ctx.log_len)
                    });
                match rebuilt {
                    Ok(mut s) => {
                        s.openings = durable::openings_of(&s);
                        s
                    }
                    Err(e) => {
                        tracing::error!(room = %hall, "cannot rebuild the room from the journal: {e}");
                        return Err(HubError::Unavailable);
                    }
                }
            }
            None => RoomState::new(fresh()),
        };
        Ok(self.launch(
            Some(entry),
            event,
            RoomId::hall(event),
            Place::Hall,
            state,
            None,
        ))
    }

    /// Cluster mode: starts the hall's actor on this node, which now owns it under `epoch`.
    pub fn spawn_owned(
        self: &Arc<Self>,
        event: &str,
        state: RoomState,
        epoch: u64,
        lease: CancellationToken,
    ) -> RoomHandle {
        let mut map = self.lock();
        let owned = Some((epoch, lease));
        self.launch(
            map.get_mut(event),
            event,
            RoomId::hall(event),
            Place::Hall,
            state,
            owned,
        )
    }

    /// Spawns the room of breakout group `index` for a hall actor, running `protocol` from
    /// the library.
    pub(crate) fn spawn_group(
        self: &Arc<Self>,
        event: &str,
        hall: &RoomId,
        index: u32,
        opening: u32,
        protocol: &str,
    ) -> Result<RoomHandle, HubError> {
        let p = self
            .library
            .get(protocol)
            .ok_or_else(|| HubError::UnknownProtocol(protocol.to_string()))?;
        if self.ctx.cancel.is_cancelled() {
            return Err(HubError::Unavailable);
        }
        let mut map = self.lock();
        let entry = map
            .get_mut(event)
            .ok_or_else(|| HubError::UnknownEvent(event.to_string()))?;
        let n = entry.next_group;
        entry.next_group += 1;
        let id = RoomId::group(event, n);
        let seed = entry
            .seed
            .wrapping_add(u64::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        // No reconnect grace in a group: its `Leave` also means "moved to another group"; the
        // hall keeps a dropped member's place and puts them back in their group on return.
        let config = self.engine_config(seed).with_reconnect_grace(0);
        let state = RoomState::new(Engine::new(p, config));
        let place = Place::Group {
            hall: hall.clone(),
            index,
            opening,
        };
        Ok(self.launch(Some(entry), event, id, place, state, None))
    }

    /// Cluster mode: starts a breakout group's actor on this node, which took it over (with
    /// its hall) under `epoch`.
    #[allow(clippy::too_many_arguments)]
    pub fn spawn_group_owned(
        self: &Arc<Self>,
        event: &str,
        hall: &RoomId,
        room: &RoomId,
        index: u32,
        opening: u32,
        state: RoomState,
        epoch: u64,
        lease: CancellationToken,
    ) -> RoomHandle {
        let mut map = self.lock();
        let place = Place::Group {
            hall: hall.clone(),
            index,
            opening,
        };
        let owned = Some((epoch, lease));
        self.launch(map.get_mut(event), event, room.clone(), place, state, owned)
    }

    /// Single node, at start: starts a breakout group rebuilt from the journal as live group
    /// `index` of the event's parked hall, whose parked state holds its handle (as a hall
    /// that parked with live groups does), so the hall places members in it when it wakes.
    /// A group that had not begun before the restart (it is told to begin after its first
    /// members' `Attach`) is told now: its members from before are in its roster. False when
    /// the hall is not parked (nothing to start the group for).
    pub(super) fn spawn_group_recovered(
        self: &Arc<Self>,
        event: &str,
        hall: &RoomId,
        room: &RoomId,
        index: u32,
        opening: u32,
        state: RoomState,
    ) -> bool {
        let mut map = self.lock();
        let Some(entry) = map.get_mut(event) else {
            return false;
        };
        if !matches!(entry.slot, Slot::Parked(_)) {
            return false;
        }
        let begin = state.engine.session() == Session::NotStarted;
        let place = Place::Group {
            hall: hall.clone(),
            index,
            opening,
        };
        let handle = self.launch(Some(&mut *entry), event, room.clone(), place, state, None);
        if begin {
            let _ = handle.tx.try_send(RoomMsg::Group(GroupMsg::Begin));
        }
        if let Slot::Parked(hall_state) = &mut entry.slot {
            hall_state.openings = hall_state.openings.max(opening);
            hall_state.groups.insert(index, handle);
        }
        true
    }

    /// The one place a room actor is started: its inbox, its handle entered in the
    /// registry under the caller's lock (so a gateway never finds a slot without a live
    /// handle, and an actor cannot park before its handle is there), the task spawned.
    /// `owned`: cluster mode, the epoch and lease this node holds the room under.
    fn launch(
        self: &Arc<Self>,
        entry: Option<&mut Entry>,
        event: &str,
        id: RoomId,
        place: Place,
        state: RoomState,
        owned: Option<(u64, CancellationToken)>,
    ) -> RoomHandle {
        let (tx, rx) = mpsc::channel(self.inbox);
        let handle = RoomHandle { id: id.clone(), tx };
        let kind = match place {
            Place::Hall => {
                if let Some(entry) = entry {
                    entry.slot = Slot::Live(handle.clone());
                    if let Some((epoch, _)) = &owned {
                        // Group numbers must never repeat within an event, across owners
                        // too: each grant of the hall's lease (a unique epoch) numbers its
                        // groups from its own block.
                        let base = u32::try_from(epoch.saturating_sub(1).saturating_mul(1000))
                            .unwrap_or(u32::MAX - 1_000_000);
                        entry.next_group = entry.next_group.max(base.saturating_add(1));
                    }
                }
                RoomKind::Hall
            }
            Place::Group {
                hall,
                index,
                opening,
            } => {
                if let Some(entry) = entry {
                    entry.groups.insert(
                        id.clone(),
                        Group::Live {
                            handle: handle.clone(),
                            index,
                            opening,
                        },
                    );
                    // A group taken over: numbers continue after it.
                    let n = id
                        .as_str()
                        .rsplit_once("group-")
                        .and_then(|(_, n)| n.parse::<u32>().ok())
                        .unwrap_or(0);
                    entry.next_group = entry.next_group.max(n.saturating_add(1));
                }
                RoomKind::Group { hall, index }
            }
        };
        let host = Arc::clone(self) as Arc<dyn RoomHost>;
        let mut actor = RoomActor::with_kind(
            id,
            kind,
            event.to_string(),
            rx,
            state,
            self.ctx.clone(),
            host,
        );
        if let Some((epoch, lease)) = owned {
            actor = actor.owned(epoch, lease);
        }
        self.tracker.spawn(actor.run());
        handle
    }
}

/// Where a new actor's handle goes: the event's hall slot, or its group rooms.
enum Place {
    Hall,
    Group {
        hall: RoomId,
        index: u32,
        opening: u32,
    },
}
