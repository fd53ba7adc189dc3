//! The registry of events and their rooms on this node.
//!
//! An event (one joint town hall) has a title, a protocol, its partner communities and a
//! hall room. The room's actor is spawned lazily on the first join (or when the organizer
//! ends the event), parked when it idles (its engine and log stay here, the task ends) and
//! respawned from the parked state on the next join. A std `Mutex` guards the registry:
//! every critical section is a map lookup or a spawn, never an await.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tokio_util::task::TaskTracker;

use crate::engine::{Engine, EngineConfig};
use crate::protocol::load::Library;
use crate::protocol::Protocol;
use crate::room::actor::{RoomActor, RoomCtx};
use crate::room::{RoomHandle, RoomId, RoomMsg, RoomState, RoomSummary};
use crate::time::Millis;

/// Longest event title.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest community name.
pub const MAX_COMMUNITY_CHARS: usize = 80;
/// Most communities in one event.
pub const MAX_COMMUNITIES: usize = 8;

/// What the API shows about an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventInfo {
    pub id: String,
    pub title: String,
    pub protocol: String,
    pub communities: Vec<String>,
    pub created_at: Millis,
    pub ended: bool,
    /// The hall's room id.
    pub room: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HubError {
    #[error("there is no event `{0}`")]
    UnknownEvent(String),
    #[error("the event has ended")]
    Ended,
    #[error("there is no protocol `{0}`")]
    UnknownProtocol(String),
    #[error("{0}")]
    Invalid(String),
    #[error("the room is busy; try again")]
    Unavailable,
}

enum Slot {
    Empty,
    Live(RoomHandle),
    Parked(Box<RoomState>),
    Ended,
}

struct Entry {
    info: EventInfo,
    protocol: Arc<Protocol>,
    seed: u64,
    slot: Slot,
}

#[derive(Debug)]
pub struct Hub {
    inner: Mutex<BTreeMap<String, Entry>>,
    library: Arc<Library>,
    ctx: RoomCtx,
    tracker: TaskTracker,
    inbox: usize,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl Hub {
    pub fn new(library: Arc<Library>, ctx: RoomCtx, tracker: TaskTracker, inbox: usize) -> Hub {
        Hub {
            inner: Mutex::new(BTreeMap::new()),
            library,
            ctx,
            tracker,
            inbox,
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Entry>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn library(&self) -> &Library {
        &self.library
    }

    /// Creates an event from a protocol of the library.
    pub fn create_event(
        &self,
        title: &str,
        protocol: &str,
        communities: &[String],
        seed: Option<u64>,
    ) -> Result<EventInfo, HubError> {
        let title = title.trim();
        if title.is_empty() || title.chars().count() > MAX_TITLE_CHARS {
            return Err(HubError::Invalid(format!(
                "a title needs 1 to {MAX_TITLE_CHARS} characters"
            )));
        }
        let p = self
            .library
            .get(protocol)
            .ok_or_else(|| HubError::UnknownProtocol(protocol.to_string()))?;
        let communities: Vec<String> = communities.iter().map(|c| c.trim().to_string()).collect();
        if communities.len() < 2 || communities.len() > MAX_COMMUNITIES {
            return Err(HubError::Invalid(format!(
                "an event needs 2 to {MAX_COMMUNITIES} partner communities"
            )));
        }
        for (i, c) in communities.iter().enumerate() {
            if c.is_empty() || c.chars().count() > MAX_COMMUNITY_CHARS {
                return Err(HubError::Invalid(format!(
                    "a community name needs 1 to {MAX_COMMUNITY_CHARS} characters"
                )));
            }
            if communities[..i].contains(c) {
                return Err(HubError::Invalid(format!(
                    "community `{c}` is listed twice"
                )));
            }
        }
        let id = format!("evt-{}", crate::config::random_hex(5));
        let seed = seed
            .unwrap_or_else(|| u64::from_str_radix(&crate::config::random_hex(8), 16).unwrap_or(0));
        let info = EventInfo {
            room: RoomId::hall(&id).to_string(),
            id: id.clone(),
            title: title.to_string(),
            protocol: p.name.clone(),
            communities,
            created_at: self.ctx.clock.now(),
            ended: false,
        };
        self.lock().insert(
            id,
            Entry {
                info: info.clone(),
                protocol: p,
                seed,
                slot: Slot::Empty,
            },
        );
        Ok(info)
    }

    pub fn events(&self) -> Vec<EventInfo> {
        let mut v: Vec<EventInfo> = self.lock().values().map(|e| e.info.clone()).collect();
        v.sort_by_key(|e| e.created_at);
        v
    }

    pub fn event(&self, id: &str) -> Option<EventInfo> {
        self.lock().get(id).map(|e| e.info.clone())
    }

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
            Slot::Ended => {
                entry.slot = Slot::Ended;
                return Err(HubError::Ended);
            }
            Slot::Parked(state) => Some(*state),
            Slot::Empty => None,
        };
        if self.ctx.cancel.is_cancelled() {
            return Err(HubError::Unavailable);
        }
        let state = state.unwrap_or_else(|| {
            RoomState::new(Engine::new(
                Arc::clone(&entry.protocol),
                EngineConfig::with_seed(entry.seed),
            ))
        });
        let (tx, rx) = mpsc::channel(self.inbox);
        let handle = RoomHandle {
            id: RoomId::hall(event),
            tx,
        };
        entry.slot = Slot::Live(handle.clone());
        let actor = RoomActor::new(
            event.to_string(),
            rx,
            state,
            self.ctx.clone(),
            Arc::clone(self),
        );
        self.tracker.spawn(actor.run());
        Ok(handle)
    }

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
        let engine = Engine::new(
            Arc::clone(&entry.protocol),
            EngineConfig::with_seed(entry.seed),
        );
        let taken = std::mem::replace(state, RoomState::new(engine));
        entry.slot = Slot::Parked(Box::new(taken));
        true
    }

    /// Called by an actor whose session ended.
    pub(crate) fn room_ended(&self, event: &str) {
        if let Some(entry) = self.lock().get_mut(event) {
            entry.info.ended = true;
            entry.slot = Slot::Ended;
        }
    }

    /// Ends an event (organizer API). Idempotent.
    pub async fn end_event(self: &Arc<Self>, event: &str) -> Result<(), HubError> {
        let handle = match self.room(event) {
            Ok(h) => h,
            Err(HubError::Ended) => return Ok(()),
            Err(e) => return Err(e),
        };
        let (reply, rx) = oneshot::channel();
        handle
            .tx
            .send(RoomMsg::End { reply })
            .await
            .map_err(|_| HubError::Unavailable)?;
        rx.await.map_err(|_| HubError::Unavailable)?;
        Ok(())
    }

    /// The live summary of an event's hall.
    pub async fn summary(self: &Arc<Self>, event: &str) -> Result<RoomSummary, HubError> {
        let handle = {
            let map = self.lock();
            let entry = map
                .get(event)
                .ok_or_else(|| HubError::UnknownEvent(event.to_string()))?;
            match &entry.slot {
                Slot::Live(h) if !h.tx.is_closed() => h.clone(),
                Slot::Parked(state) => return Ok(state.summary(0)),
                Slot::Ended => {
                    return Ok(RoomSummary {
                        session: "ended",
                        phase: None,
                        present: 0,
                        seq: 0,
                    })
                }
                _ => {
                    return Ok(RoomSummary {
                        session: "not_started",
                        phase: None,
                        present: 0,
                        seq: 0,
                    })
                }
            }
        };
        let (reply, rx) = oneshot::channel();
        handle
            .tx
            .try_send(RoomMsg::Inspect { reply })
            .map_err(|_| HubError::Unavailable)?;
        rx.await.map_err(|_| HubError::Unavailable)
    }
}
