//! The registry of events and their rooms on this node, one job per file.
//!
//! An event (one joint town hall) has a title, a protocol, its partner communities and a
//! hall room. This file holds the registry itself (`Hub`, one `Entry` per event with the
//! hall's `Slot` and the event's group rooms) and its lookups; a std `Mutex` guards it, and
//! every critical section is a map lookup or a spawn, never an await. The jobs around it:
//!
//! - `create.rs`: creating an event (validation, defaults).
//! - `spawn.rs`: starting room actors, written once (`launch`): a hall lazily on its first
//!   join or respawned from its parked state, a breakout group for a hall (`spawn_group`),
//!   and in cluster mode a hall or group this node took over (`spawn_owned`).
//! - `park.rs`: an idle hall parks here (its engine and log stay, the task ends).
//! - `ended.rs`: ending an event; when a room ends its final state stays here (`Slot::Ended`,
//!   ended groups).
//! - `records.rs`: reports and transcripts read from live or ended rooms, the summary.
//! - `retention.rs`: purge when retention runs out, and the organizer's delete.
//! - `durable.rs`: single node, the journal is the store of record — an event's metadata is
//!   stored before the API answers 201 (`persist_meta`), every room input by the room actor,
//!   and `recover` brings every stored event back at start.
//! - `share.rs`: cluster mode, the registry shared through Redis (each event's metadata
//!   next to its hall); a hall runs here only while this node owns it (`spawn_owned`, by
//!   `ClusterNode`), and other nodes drop their copy when Redis no longer has the event
//!   (`verify_shared`, on each API read and every `SWEEP_EVERY`).
//! - `host.rs`: the `RoomHost` and `NodeHost` interfaces the rooms and the node call up.

mod create;
mod durable;
mod ended;
mod host;
mod park;
mod records;
mod retention;
mod share;
mod spawn;

pub use records::{EventRecord, GroupRecord};

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
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
use crate::token::link::JoinLink;
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
    /// The event's join links (`api/links.rs`). Here, inside the metadata, so they are stored
    /// (journal, Redis) and recovered with it; the API leaves them out of event responses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<JoinLink>,
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
    #[error(
        "this server holds {0} events, its limit: delete ended events (DELETE /api/events/{{id}}) \
         or wait for their retention to run out"
    )]
    TooManyEvents(usize),
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
    /// Most events held at once (`--max-events`).
    max_events: AtomicUsize,
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
            max_events: AtomicUsize::new(crate::config::DEFAULT_MAX_EVENTS),
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

    /// Sets the most events this server holds (`--max-events`).
    pub fn set_max_events(&self, n: usize) {
        self.max_events.store(n, Ordering::Relaxed);
    }

    pub fn max_events(&self) -> usize {
        self.max_events.load(Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Entry>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn library(&self) -> &Library {
        &self.library
    }

    /// The configuration of every engine this node builds: the event's seed, the node's
    /// word list and reconnect grace.
    pub fn engine_config(&self, seed: u64) -> EngineConfig {
        let grace = u64::try_from(self.ctx.reconnect_grace.as_millis()).unwrap_or(u64::MAX);
        EngineConfig::with_seed(seed)
            .with_word_list(Arc::clone(&self.ctx.word_list))
            .with_reconnect_grace(grace)
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

    pub fn events(&self) -> Vec<EventInfo> {
        let mut v: Vec<EventInfo> = self.lock().values().map(|e| e.info.clone()).collect();
        v.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        v
    }

    /// One page of [`Hub::events`]: at most `limit` events after `after` (creation time,
    /// id) in that order, and whether more follow. Only the page is cloned.
    pub fn events_page(
        &self,
        after: Option<(Millis, &str)>,
        limit: usize,
    ) -> (Vec<EventInfo>, bool) {
        let map = self.lock();
        let mut keys: Vec<(Millis, &str)> = map
            .values()
            .map(|e| (e.info.created_at, e.info.id.as_str()))
            .filter(|k| after.is_none_or(|a| *k > a))
            .collect();
        keys.sort_unstable();
        let more = keys.len() > limit;
        let page = keys
            .iter()
            .take(limit)
            .filter_map(|(_, id)| map.get(*id).map(|e| e.info.clone()))
            .collect();
        (page, more)
    }

    pub fn event(&self, id: &str) -> Option<EventInfo> {
        self.lock().get(id).map(|e| e.info.clone())
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
}

/// Join links: changed only here, under the registry's lock, and stored with the metadata.
impl Hub {
    /// Runs `f` on the event's links under the registry's lock. When `f` says it changed
    /// something (`Ok((_, true))`), the metadata is queued for the journal before the lock is
    /// released, so stored copies follow the order of changes; the returned ack resolves once
    /// it is stored (`None` when nothing was written). Single node only: in cluster mode the
    /// link table lives in Redis on its own (`api/link_store.rs`).
    pub fn update_links<R, E>(
        &self,
        event: &str,
        f: impl FnOnce(&EventInfo, &mut Vec<JoinLink>) -> Result<(R, bool), E>,
    ) -> Option<Result<(R, Option<Ack>), E>> {
        let mut map = self.lock();
        let entry = map.get_mut(event)?;
        let mut links = std::mem::take(&mut entry.info.links);
        let out = f(&entry.info, &mut links);
        entry.info.links = links;
        let (r, changed) = match out {
            Ok(v) => v,
            Err(e) => return Some(Err(e)),
        };
        if !changed {
            return Some(Ok((r, None)));
        }
        let meta = serde_json::to_vec(&Meta {
            info: entry.info.clone(),
            seed: entry.seed,
        })
        .ok();
        let ack = meta.map(|m| self.ctx.journal.put_event(event, m));
        Some(Ok((r, ack)))
    }
}
