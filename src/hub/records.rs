//! What an event's rooms recorded, live or ended (reports, transcripts), and the hall's
//! public summary.

use super::*;
use crate::room::AdminMsg;

/// A breakout group's record, for the report.
#[derive(Debug, Clone)]
pub struct GroupRecord {
    /// The engine's group number in the hall's breakout (0-based).
    pub index: u32,
    /// Which opening of breakouts in the event it belonged to (1-based).
    pub opening: u32,
    pub record: RoomRecord,
}

/// Everything an event's rooms recorded, live or after the end.
#[derive(Debug, Clone)]
pub struct EventRecord {
    pub info: EventInfo,
    pub hall: RoomRecord,
    pub groups: Vec<GroupRecord>,
}

impl Hub {
    /// What an event's rooms recorded so far: the hall and every group, live or ended.
    pub async fn record(&self, event: &str) -> Result<EventRecord, HubError> {
        if !self.verify_shared(event).await {
            return Err(HubError::UnknownEvent(event.to_string()));
        }
        enum Source {
            Have(Box<RoomRecord>),
            /// An ended room's state, copied out after the lock is released.
            Ended(Arc<RoomState>),
            Ask(RoomHandle),
        }
        let hall_id = RoomId::hall(event);
        let (info, hall, groups) = {
            let map = self.lock();
            let entry = map
                .get(event)
                .ok_or_else(|| HubError::UnknownEvent(event.to_string()))?;
            let hall = match &entry.slot {
                Slot::Live(h) if !h.tx.is_closed() => Source::Ask(h.clone()),
                Slot::Parked(s) => Source::Have(Box::new(s.to_record(&hall_id))),
                Slot::Ended(s) => Source::Ended(Arc::clone(s)),
                _ => Source::Have(Box::new(RoomRecord {
                    room: hall_id.clone(),
                    engine: Engine::new(
                        Arc::clone(&entry.protocol),
                        self.engine_config(entry.seed),
                    ),
                    log: Vec::new(),
                })),
            };
            let groups: Vec<(RoomId, u32, u32, Source)> = entry
                .groups
                .iter()
                .map(|(id, g)| match g {
                    Group::Live {
                        handle,
                        index,
                        opening,
                    } => (id.clone(), *index, *opening, Source::Ask(handle.clone())),
                    Group::Ended {
                        index,
                        opening,
                        state,
                    } => (
                        id.clone(),
                        *index,
                        *opening,
                        Source::Ended(Arc::clone(state)),
                    ),
                })
                .collect();
            (entry.info.clone(), hall, groups)
        };
        let hall = match hall {
            Source::Have(r) => *r,
            Source::Ended(s) => s.to_record(&hall_id),
            Source::Ask(h) => match ask_record(&h).await {
                Some(r) => r,
                // The hall ended or parked in between: read what it left.
                None => return Box::pin(self.record(event)).await,
            },
        };
        let mut out = Vec::new();
        for (id, index, opening, src) in groups {
            let record = match src {
                Source::Have(r) => Some(*r),
                Source::Ended(s) => Some(s.to_record(&id)),
                Source::Ask(h) => match ask_record(&h).await {
                    Some(r) => Some(r),
                    None => self.ended_group(event, &id),
                },
            };
            if let Some(record) = record {
                out.push(GroupRecord {
                    index,
                    opening,
                    record,
                });
            }
        }
        out.sort_by_key(|g| (g.opening, g.index));
        Ok(EventRecord {
            info,
            hall,
            groups: out,
        })
    }

    pub(super) fn ended_group(&self, event: &str, room: &RoomId) -> Option<RoomRecord> {
        let state = {
            let map = self.lock();
            match map.get(event)?.groups.get(room)? {
                Group::Ended { state, .. } => Arc::clone(state),
                Group::Live { .. } => return None,
            }
        };
        Some(state.to_record(room))
    }

    /// The live summary of an event's hall.
    pub async fn summary(self: &Arc<Self>, event: &str) -> Result<RoomSummary, HubError> {
        let handle = {
            let map = self.lock();
            let entry = map
                .get(event)
                .ok_or_else(|| HubError::UnknownEvent(event.to_string()))?;
            match &entry.slot {
                Slot::Live(h) if !h.tx.is_closed() => Some(h.clone()),
                Slot::Parked(state) => return Ok(state.summary(0)),
                Slot::Ended(state) => return Ok(state.summary(0)),
                _ if self.ctx.cluster.is_some() => None,
                _ => return Ok(RoomSummary::not_started()),
            }
        };
        let Some(handle) = handle else {
            // Cluster mode: the hall runs on another node (or nowhere, while idle).
            let node = self.cluster.as_ref().ok_or(HubError::Unavailable)?;
            let summary = node
                .summary(event)
                .await
                .map_err(|_| HubError::Unavailable)?;
            return Ok(summary.unwrap_or_else(RoomSummary::not_started));
        };
        let (reply, rx) = oneshot::channel();
        handle
            .tx
            .try_send(RoomMsg::Admin(AdminMsg::Inspect { reply }))
            .map_err(|_| HubError::Unavailable)?;
        rx.await.map_err(|_| HubError::Unavailable)
    }
}

/// Asks a live room for a copy of its record; `None` when it stopped meanwhile.
async fn ask_record(h: &RoomHandle) -> Option<RoomRecord> {
    let (reply, rx) = oneshot::channel();
    h.tx.send(RoomMsg::Admin(AdminMsg::Record { reply }))
        .await
        .ok()?;
    rx.await.ok().map(|b| *b)
}
