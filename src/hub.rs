//! The registry of events and their rooms on this node.
//!
//! An event (one joint town hall) has a title, a protocol, its partner communities and a
//! hall room. The room's actor is spawned lazily on the first join (or when the organizer
//! ends the event), parked when it idles (its engine and log stay here, the task ends) and
//! respawned from the parked state on the next join. While a breakout runs, the hall's actor
//! has one room per group spawned here (`spawn_group`); gateways find them by id
//! (`live_room`). When a room ends its final state stays here (`Slot::Ended`, ended groups),
//! so reports and transcripts work after the event. A std `Mutex` guards the registry:
//! every critical section is a map lookup or a spawn, never an await.
//!
//! On a single node the journal (`RoomCtx::journal`) is the store of record: an event's
//! metadata is stored before the API answers 201 (`persist_meta`), every room input by the
//! room actor, and `recover` brings every stored event back at start; purge and delete
//! remove the event's rows.
//!
//! In cluster mode the registry is shared through Redis (each event's metadata sits next to
//! its hall, written when the event is created and loaded by any node that meets the event),
//! and a hall runs here only while this node owns it (`spawn_owned`, by `ClusterNode`).
//!
//! Retention (issue #8): an event's data is kept `retention_secs` after its session ends,
//! then purged — here by a timer per ended event (`schedule_purge`), and in cluster mode also
//! in Redis, where the node that ends the event sets a TTL on every key of the event. An
//! organizer's `delete_event` ends the event and purges it at once (in cluster mode: every
//! Redis key of the event). Other nodes drop their copy when the shared registry no longer
//! has the event (`verify_shared`, on each API read and every `SWEEP_EVERY`), because Redis is
//! the store of record there.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::engine::core::Session;
use crate::engine::{Engine, EngineConfig};
use crate::journal::{self, Ack};
use crate::node::{ClusterNode, NodeHost};
use crate::protocol::load::Library;
use crate::protocol::Protocol;
use crate::room::actor::{RoomActor, RoomCtx};
use crate::room::host::{BoxFuture, RoomHost, SpawnError};
use crate::room::{RoomHandle, RoomKind, RoomMsg, RoomRecord, RoomState, RoomSummary};
use crate::time::Millis;
use crate::wire::RoomId;
// Owned by the config, which validates `--retention` against them.
use crate::config::{DEFAULT_RETENTION_SECS, MAX_RETENTION_SECS, MIN_RETENTION_SECS};

/// Longest event title.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest community name.
pub const MAX_COMMUNITY_CHARS: usize = 80;
/// Most communities in one event.
pub const MAX_COMMUNITIES: usize = 8;
/// Cluster mode: how often a node checks that the events it knows are still in Redis.
const SWEEP_EVERY: Duration = Duration::from_secs(5);
/// Cluster mode: bound on the rounds of deleting an event's keys (a racing write by the
/// node that ended the event can recreate one right after the first round).
const DELETE_ROUNDS: u32 = 10;

fn default_retention() -> u64 {
    DEFAULT_RETENTION_SECS
}

/// What the API shows about an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventInfo {
    pub id: String,
    pub title: String,
    pub protocol: String,
    pub communities: Vec<String>,
    pub created_at: Millis,
    pub ended: bool,
    /// The hall's room id.
    pub room: String,
    /// Seconds the event's data (event log, transcript, report, final state) is kept after
    /// the session ends; then it is purged.
    #[serde(default = "default_retention")]
    pub retention_secs: u64,
    /// When the session ended (Unix ms); absent while it has not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Millis>,
    /// When the event's data will be purged (Unix ms): `ended_at` + retention.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purge_at: Option<Millis>,
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
    #[error(
        "retention_secs must be between {MIN_RETENTION_SECS} and {MAX_RETENTION_SECS}, not {0}"
    )]
    InvalidRetention(u64),
}

enum Slot {
    Empty,
    Live(RoomHandle),
    Parked(Box<RoomState>),
    /// The session ended; the state is kept for the report and the transcript.
    Ended(Arc<RoomState>),
}

/// A breakout group room of an event, live or ended.
enum Group {
    Live {
        handle: RoomHandle,
        index: u32,
        opening: u32,
    },
    Ended {
        index: u32,
        opening: u32,
        state: Arc<RoomState>,
    },
}

struct Entry {
    info: EventInfo,
    protocol: Arc<Protocol>,
    seed: u64,
    slot: Slot,
    /// Every group room the event had, by id.
    groups: BTreeMap<RoomId, Group>,
    /// The number of the next group room (`{event}/group-{n}`), from 1, never reused.
    next_group: u32,
    /// Cluster mode: the metadata is known to be in Redis (written by us or read from it),
    /// so its absence there means the event was deleted (or Redis lost it).
    shared: bool,
}

/// An event's metadata as stored in Redis (cluster mode).
#[derive(Debug, Serialize, Deserialize)]
struct Meta {
    info: EventInfo,
    seed: u64,
}

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

#[derive(Debug)]
pub struct Hub {
    inner: Mutex<BTreeMap<String, Entry>>,
    library: Arc<Library>,
    ctx: RoomCtx,
    /// Cluster mode: this node (the same object as `ctx.cluster`, which the rooms see only
    /// as their leases), for what the hub asks of other nodes.
    cluster: Option<Arc<ClusterNode>>,
    tracker: TaskTracker,
    inbox: usize,
    /// Retention of events created without one (`--retention`).
    default_retention: AtomicU64,
    /// Cluster mode: the registry sweep runs (started with the first event).
    sweeping: AtomicBool,
    /// Lets timer tasks reach the hub without keeping it alive.
    me: Weak<Hub>,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl Hub {
    pub fn new(
        library: Arc<Library>,
        ctx: RoomCtx,
        cluster: Option<Arc<ClusterNode>>,
        tracker: TaskTracker,
        inbox: usize,
    ) -> Arc<Hub> {
        Arc::new_cyclic(|me| Hub {
            inner: Mutex::new(BTreeMap::new()),
            library,
            ctx,
            cluster,
            tracker,
            inbox,
            default_retention: AtomicU64::new(DEFAULT_RETENTION_SECS),
            sweeping: AtomicBool::new(false),
            me: me.clone(),
        })
    }

    /// Sets the retention of events created without one (the server's `--retention`).
    pub fn set_default_retention(&self, secs: u64) {
        self.default_retention.store(secs, Ordering::Relaxed);
    }

    pub fn default_retention(&self) -> u64 {
        self.default_retention.load(Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Entry>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn library(&self) -> &Library {
        &self.library
    }

    /// The configuration of every engine this node builds: the event's seed and the node's
    /// word list.
    pub fn engine_config(&self, seed: u64) -> EngineConfig {
        EngineConfig::with_seed(seed).with_word_list(Arc::clone(&self.ctx.word_list))
    }

    /// Creates an event from a protocol of the library, with the default retention.
    pub fn create_event(
        &self,
        title: &str,
        protocol: &str,
        communities: &[String],
        seed: Option<u64>,
    ) -> Result<EventInfo, HubError> {
        self.create_event_with(title, protocol, communities, seed, None)
    }

    /// Creates an event; `retention_secs` (checked against the bounds) or the server's
    /// default says how long its data outlives the session.
    pub fn create_event_with(
        &self,
        title: &str,
        protocol: &str,
        communities: &[String],
        seed: Option<u64>,
        retention_secs: Option<u64>,
    ) -> Result<EventInfo, HubError> {
        let retention_secs = retention_secs.unwrap_or_else(|| self.default_retention());
        if !(MIN_RETENTION_SECS..=MAX_RETENTION_SECS).contains(&retention_secs) {
            return Err(HubError::InvalidRetention(retention_secs));
        }
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
            retention_secs,
            ended_at: None,
            purge_at: None,
        };
        self.lock().insert(
            id.clone(),
            Entry {
                info: info.clone(),
                protocol: p,
                seed,
                slot: Slot::Empty,
                groups: BTreeMap::new(),
                next_group: 1,
                shared: false,
            },
        );
        // Cluster mode: shared with every node, so an invite works wherever it is opened.
        self.share_meta(&id);
        Ok(info)
    }

    /// Cluster mode: the event's metadata as stored in Redis.
    pub fn meta_bytes(&self, event: &str) -> Option<Vec<u8>> {
        let map = self.lock();
        let e = map.get(event)?;
        serde_json::to_vec(&Meta {
            info: e.info.clone(),
            seed: e.seed,
        })
        .ok()
    }

    /// Cluster mode: registers an event another node created; false when the metadata does
    /// not name a protocol of this node's library.
    pub fn load_meta(&self, bytes: &[u8]) -> bool {
        let Ok(meta) = serde_json::from_slice::<Meta>(bytes) else {
            return false;
        };
        let Some(p) = self.library.get(&meta.info.protocol) else {
            return false;
        };
        let event = meta.info.id.clone();
        let (ended_at, retention) = (meta.info.ended_at, meta.info.retention_secs);
        let newly_ended = {
            let mut map = self.lock();
            let ended = meta.info.ended;
            let fresh = !map.contains_key(&event);
            let entry = map.entry(meta.info.id.clone()).or_insert(Entry {
                info: meta.info,
                protocol: p,
                seed: meta.seed,
                slot: Slot::Empty,
                groups: BTreeMap::new(),
                next_group: 1,
                shared: true,
            });
            entry.shared = true;
            // Ended on another node: joins are refused here too, and our copy goes when the
            // retention runs out (one timer, however often the metadata is read again).
            if ended {
                entry.info.ended = true;
            }
            match (fresh || entry.info.purge_at.is_none(), ended_at) {
                (true, Some(at)) => {
                    entry.info.ended_at = Some(at);
                    entry.info.retention_secs = retention;
                    entry.info.purge_at = Some(at + retention.saturating_mul(1000));
                    Some(at)
                }
                _ => None,
            }
        };
        self.start_sweep();
        if let Some(at) = newly_ended {
            self.schedule_purge(&event, at);
        }
        true
    }

    /// Cluster mode: writes the event's metadata to the shared registry (in the background).
    fn share_meta(&self, event: &str) {
        let (Some(node), Some(meta)) = (&self.ctx.cluster, self.meta_bytes(event)) else {
            return;
        };
        let node = Arc::clone(node);
        let hall = RoomId::hall(event).to_string();
        let (me, event) = (self.me.clone(), event.to_string());
        self.start_sweep();
        self.tracker.spawn(async move {
            if let Err(e) = node.store().put_meta(&hall, &meta).await {
                tracing::error!(hall, "cannot share the event's metadata: {e}");
                return;
            }
            let Some(hub) = me.upgrade() else { return };
            let retention = {
                let mut map = hub.lock();
                let Some(entry) = map.get_mut(&event) else {
                    return;
                };
                entry.shared = true;
                entry.info.ended_at.map(|_| entry.info.retention_secs)
            };
            // Ended: every key of the event now lives for the retention, then Redis drops it.
            if let Some(secs) = retention {
                if let Err(e) = node.store().expire_event(&event, secs).await {
                    tracing::error!(event, "cannot set the event's retention in redis: {e}");
                }
            }
        });
    }

    /// The protocol and seed an event's hall starts from.
    pub fn protocol_and_seed(&self, event: &str) -> Option<(Arc<Protocol>, u64)> {
        let map = self.lock();
        let e = map.get(event)?;
        Some((Arc::clone(&e.protocol), e.seed))
    }

    /// A new engine for the event's hall (its protocol and seed), when the event is known.
    pub fn fresh_engine(&self, event: &str) -> Option<Engine> {
        let (protocol, seed) = self.protocol_and_seed(event)?;
        Some(Engine::new(protocol, self.engine_config(seed)))
    }

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
        Ok(())
    }

    /// Single node, at start: brings back every event the journal holds. A running event's
    /// hall is rebuilt (snapshot + inputs through the engine, checked against the last stored
    /// event) and parked, so its first join wakes it and its timers fire at their stored
    /// deadlines; an ended event keeps its final state for the report until its retention
    /// runs out. Fails on a room whose replay does not match what is stored.
    pub fn recover(&self) -> Result<usize, String> {
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
            let state = crate::room::recover::rebuild(&hall, &stored, fresh, self.ctx.log_len)
                .map_err(|e| format!("room {hall}: {e}"))?;
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
            tracing::info!(
                event,
                seq = stored.top(),
                ended,
                "event recovered from the journal"
            );
            n += 1;
        }
        Ok(n)
    }

    /// Cluster mode: starts the hall's actor on this node, which now owns it under `epoch`.
    pub fn spawn_owned(
        self: &Arc<Self>,
        event: &str,
        state: RoomState,
        epoch: u64,
        lease: CancellationToken,
    ) -> RoomHandle {
        let (tx, rx) = mpsc::channel(self.inbox);
        let handle = RoomHandle {
            id: RoomId::hall(event),
            tx,
        };
        if let Some(entry) = self.lock().get_mut(event) {
            entry.slot = Slot::Live(handle.clone());
            // Group numbers must never repeat within an event, across owners too: each
            // grant of the hall's lease (a unique epoch) numbers its groups from its own block.
            let base = u32::try_from(epoch.saturating_sub(1).saturating_mul(1000))
                .unwrap_or(u32::MAX - 1_000_000);
            entry.next_group = entry.next_group.max(base.saturating_add(1));
        }
        let actor = RoomActor::new(
            event.to_string(),
            rx,
            state,
            self.ctx.clone(),
            Arc::clone(self) as Arc<dyn RoomHost>,
        )
        .owned(epoch, lease);
        self.tracker.spawn(actor.run());
        handle
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
                    Ok(s) => s,
                    Err(e) => {
                        tracing::error!(room = %hall, "cannot rebuild the room from the journal: {e}");
                        return Err(HubError::Unavailable);
                    }
                }
            }
            None => RoomState::new(fresh()),
        };
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
            Arc::clone(self) as Arc<dyn RoomHost>,
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
        let engine = Engine::new(Arc::clone(&entry.protocol), self.engine_config(entry.seed));
        let taken = std::mem::replace(state, RoomState::new(engine));
        entry.slot = Slot::Parked(Box::new(taken));
        true
    }

    /// Called by a hall whose session ended: the state stays for the report, until the
    /// event's retention runs out.
    pub(crate) fn room_ended(&self, event: &str, state: RoomState) {
        let now = self.ctx.clock.now();
        if let Some(entry) = self.lock().get_mut(event) {
            entry.info.ended = true;
            let at = *entry.info.ended_at.get_or_insert(now);
            entry.info.purge_at = Some(at + entry.info.retention_secs.saturating_mul(1000));
            entry.slot = Slot::Ended(Arc::new(state));
        }
        // The ended state is in the journal already (its inputs); this records when.
        drop(self.queue_meta(event));
        self.share_meta(event);
        self.schedule_purge(event, now);
    }

    /// Purges `event` when its retention, counted from `ended_at`, runs out (unless it is
    /// gone or deleted before). The wait ends early on shutdown: the data dies with the
    /// process anyway (and in cluster mode Redis expires it).
    fn schedule_purge(&self, event: &str, ended_at: Millis) {
        let Some(purge_at) = self.lock().get(event).and_then(|e| e.info.purge_at) else {
            return;
        };
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        let wait = Duration::from_millis(purge_at.0.saturating_sub(self.ctx.clock.now().0));
        let (me, event, cancel) = (self.me.clone(), event.to_string(), self.ctx.cancel.clone());
        self.tracker.spawn(async move {
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = cancel.cancelled() => return,
            }
            let Some(hub) = me.upgrade() else { return };
            let due = hub.lock().get(&event).is_some_and(|e| {
                e.info.ended_at == Some(ended_at) || e.info.purge_at == Some(purge_at)
            });
            if due {
                tracing::info!(event, "retention ran out; the event's data is purged");
                hub.purge(&event);
            }
        });
    }

    /// Forgets everything this node holds about `event`. Returns whether it knew it.
    fn purge(&self, event: &str) -> bool {
        let entry = self.lock().remove(event);
        drop(self.ctx.journal.delete_event(event));
        // Dropping the entry drops its room handles: an idle actor finds no entry to park
        // in and stops, and gateways find no room.
        entry.is_some()
    }

    /// Deletes an event on the organizer's request: ends it if it runs (members get the
    /// `session_ended` event and close 1000), then removes every trace of it — here, and in
    /// cluster mode every Redis key of the event (other nodes drop their copies when they
    /// find the registry entry gone).
    pub async fn delete_event(self: &Arc<Self>, event: &str) -> Result<(), HubError> {
        if self.event(event).is_none() {
            return Err(HubError::UnknownEvent(event.to_string()));
        }
        match self.end_event(event).await {
            Ok(()) | Err(HubError::Ended | HubError::UnknownEvent(_)) => {}
            Err(e) => return Err(e),
        }
        if let Some(node) = &self.ctx.cluster {
            let store = node.store();
            let mut clean_rounds = 0;
            for _ in 0..DELETE_ROUNDS {
                let removed = store
                    .delete_event(event)
                    .await
                    .map_err(|_| HubError::Unavailable)?;
                clean_rounds = if removed == 0 { clean_rounds + 1 } else { 0 };
                if clean_rounds == 2 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        // Every row of the event, before the organizer hears it is gone.
        journal::wait(self.ctx.journal.delete_event(event))
            .await
            .map_err(|_| HubError::Unavailable)?;
        self.purge(event);
        tracing::info!(event, "event deleted by the organizer");
        Ok(())
    }

    /// Cluster mode: checks that the shared registry still has `event` and drops this
    /// node's copy when it was deleted (or its retention ran out in Redis). Never drops a
    /// hall that runs here, nor an event whose metadata this node has not seen written.
    /// Returns whether the event is (still) known here.
    pub async fn verify_shared(&self, event: &str) -> bool {
        let Some(node) = &self.ctx.cluster else {
            return self.event(event).is_some();
        };
        let droppable = |hub: &Hub| {
            hub.lock()
                .get(event)
                .map(|e| e.shared && !matches!(&e.slot, Slot::Live(h) if !h.tx.is_closed()))
        };
        match droppable(self) {
            None => return false,
            Some(false) => return true,
            Some(true) => {}
        }
        match node.store().get_meta(RoomId::hall(event).as_str()).await {
            Ok(None) if droppable(self) == Some(true) => {
                tracing::info!(
                    event,
                    "the event is gone from the shared registry; dropping it"
                );
                self.purge(event);
                false
            }
            _ => self.event(event).is_some(),
        }
    }

    /// Cluster mode: every `SWEEP_EVERY`, drops the events the shared registry lost.
    fn start_sweep(&self) {
        if self.ctx.cluster.is_none()
            || tokio::runtime::Handle::try_current().is_err()
            || self.sweeping.swap(true, Ordering::AcqRel)
        {
            return;
        }
        let (me, cancel) = (self.me.clone(), self.ctx.cancel.clone());
        self.tracker.spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(SWEEP_EVERY) => {}
                    () = cancel.cancelled() => return,
                }
                let Some(hub) = me.upgrade() else { return };
                let events: Vec<String> = hub.lock().keys().cloned().collect();
                for event in events {
                    if cancel.is_cancelled() {
                        return;
                    }
                    hub.verify_shared(&event).await;
                }
            }
        });
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
        let state = RoomState::new(Engine::new(p, self.engine_config(seed)));
        let (tx, rx) = mpsc::channel(self.inbox);
        let handle = RoomHandle { id: id.clone(), tx };
        entry.groups.insert(
            id.clone(),
            Group::Live {
                handle: handle.clone(),
                index,
                opening,
            },
        );
        let kind = RoomKind::Group {
            hall: hall.clone(),
            index,
        };
        let actor = RoomActor::with_kind(
            id,
            kind,
            event.to_string(),
            rx,
            state,
            self.ctx.clone(),
            Arc::clone(self) as Arc<dyn RoomHost>,
        );
        self.tracker.spawn(actor.run());
        Ok(handle)
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
        let (tx, rx) = mpsc::channel(self.inbox);
        let handle = RoomHandle {
            id: room.clone(),
            tx,
        };
        if let Some(entry) = self.lock().get_mut(event) {
            entry.groups.insert(
                room.clone(),
                Group::Live {
                    handle: handle.clone(),
                    index,
                    opening,
                },
            );
            let n = room
                .as_str()
                .rsplit_once("group-")
                .and_then(|(_, n)| n.parse::<u32>().ok())
                .unwrap_or(0);
            entry.next_group = entry.next_group.max(n.saturating_add(1));
        }
        let kind = RoomKind::Group {
            hall: hall.clone(),
            index,
        };
        let actor = RoomActor::with_kind(
            room.clone(),
            kind,
            event.to_string(),
            rx,
            state,
            self.ctx.clone(),
            Arc::clone(self) as Arc<dyn RoomHost>,
        )
        .owned(epoch, lease);
        self.tracker.spawn(actor.run());
        handle
    }

    /// Called by a group room the hall ended: the state stays for the report.
    pub(crate) fn group_ended(&self, event: &str, room: &RoomId, state: RoomState) {
        let mut map = self.lock();
        let Some(entry) = map.get_mut(event) else {
            return;
        };
        if let Some(g) = entry.groups.get_mut(room) {
            if let Group::Live { index, opening, .. } = g {
                *g = Group::Ended {
                    index: *index,
                    opening: *opening,
                    state: Arc::new(state),
                };
            }
        }
    }

    /// A live room of an event (its hall or a group) by id, without spawning anything.
    pub fn live_room(&self, event: &str, room: &RoomId) -> Option<RoomHandle> {
        let map = self.lock();
        let entry = map.get(event)?;
        if *room == RoomId::hall(event) {
            return match &entry.slot {
                Slot::Live(h) if !h.tx.is_closed() => Some(h.clone()),
                _ => None,
            };
        }
        match entry.groups.get(room) {
            Some(Group::Live { handle, .. }) if !handle.tx.is_closed() => Some(handle.clone()),
            _ => None,
        }
    }

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

    fn ended_group(&self, event: &str, room: &RoomId) -> Option<RoomRecord> {
        let state = {
            let map = self.lock();
            match map.get(event)?.groups.get(room)? {
                Group::Ended { state, .. } => Arc::clone(state),
                Group::Live { .. } => return None,
            }
        };
        Some(state.to_record(room))
    }

    /// Ends an event (organizer API). Idempotent.
    pub async fn end_event(self: &Arc<Self>, event: &str) -> Result<(), HubError> {
        if let Some(node) = &self.cluster {
            return node
                .end_event(&(Arc::clone(self) as Arc<dyn NodeHost>), event)
                .await
                .map_err(|_| HubError::Unavailable);
        }
        self.end_local(event).await
    }

    /// Ends an event whose hall runs (or may be started) on this node.
    pub async fn end_local(self: &Arc<Self>, event: &str) -> Result<(), HubError> {
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
                Slot::Live(h) if !h.tx.is_closed() => Some(h.clone()),
                Slot::Parked(state) => return Ok(state.summary(0)),
                Slot::Ended(state) => return Ok(state.summary(0)),
                _ if self.ctx.cluster.is_some() => None,
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
        let Some(handle) = handle else {
            // Cluster mode: the hall runs on another node (or nowhere, while idle).
            let node = self.cluster.as_ref().ok_or(HubError::Unavailable)?;
            let body = node
                .summary(event)
                .await
                .map_err(|_| HubError::Unavailable)?;
            return Ok(body
                .as_ref()
                .and_then(RoomSummary::from_json)
                .unwrap_or(RoomSummary {
                    session: "not_started",
                    phase: None,
                    present: 0,
                    seq: 0,
                }));
        };
        let (reply, rx) = oneshot::channel();
        handle
            .tx
            .try_send(RoomMsg::Inspect { reply })
            .map_err(|_| HubError::Unavailable)?;
        rx.await.map_err(|_| HubError::Unavailable)
    }
}

/// Asks a live room for a copy of its record; `None` when it stopped meanwhile.
async fn ask_record(h: &RoomHandle) -> Option<RoomRecord> {
    let (reply, rx) = oneshot::channel();
    h.tx.send(RoomMsg::Record { reply }).await.ok()?;
    rx.await.ok().map(|b| *b)
}

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
