//! One node of a cluster: the glue between this process's connections and rooms and the
//! other nodes, over Redis.
//!
//! Every connection of a cluster node reaches its room through a **room link** (a small task
//! per room on this node, behind an ordinary `RoomHandle`): joins, commands and leaves go to
//! the room's inbox channel, whoever owns the room. The **owner** (the node holding the
//! room's lease) runs the room actor exactly as in single-node mode; each connection it
//! serves, local or not, is a **proxy**: an ordinary `Outbound` whose frames (welcome,
//! snapshot, ack, error, close) a forwarder publishes on the connection's node channel.
//! Events never travel that way: the actor appends them (with the input that caused them)
//! in one fenced Lua step that also publishes them on the room's channel, and every node,
//! the owner included, delivers them to its own connections from **one subscription per
//! room** (the feed), in sequence order, filling gaps from the stream and dropping
//! duplicates. Using the same path for local connections keeps one ordering argument: the
//! room channel and the node channel are read on one pub/sub connection, and Redis delivers
//! in the order it executed the publishes, so a command's events come before its `ack`.
//!
//! The node also keeps itself alive (liveness key), renews the leases of the rooms it owns,
//! watches the rooms its connections use (and takes them over when their lease is gone),
//! marks gone the connections of dead nodes, and probes its own pub/sub connection,
//! rebuilding it when the probe does not come back.
//!
//! Here: the node itself, its health and housekeeping. `feed`: the pub/sub connection and
//! per-room delivery. `owner`: takeover, proxies, forwarded messages. `link`: forwarding from
//! this node's connections, the shared event registry.

mod feed;
mod forward;
pub mod host;
mod link;
mod owner;
mod takeover;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::ws::{Message, Utf8Bytes};
use futures_util::StreamExt;
use redis::aio::PubSubSink;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::bus::queue::{Next, Queued};
use crate::bus::{ConnId, Outbound, Sequenced, Subscriber};
use crate::clock::Clock;
use crate::cluster::msg::{self, decode_event, JoinOutcome, LoggedInput, ToNode, ToOwner};
use crate::cluster::store::{NodeKeys, Store, StoreError};
use crate::engine::member::{MemberId, Role};
use crate::engine::{Engine, Input};
use crate::room::actor::RoomState;
use crate::room::ClusterMsg;
use crate::room::{JoinReply, JoinRequest, RoomHandle, RoomMsg};
use crate::token::Claims;
use crate::wire::CloseReason;
use crate::wire::RoomId;
use crate::wire::{ErrorCode, Refusal, ServerMsg, StatusLevel};
pub use host::NodeHost;

/// How often the node probes its own pub/sub subscription.
const PROBE_EVERY: Duration = Duration::from_secs(2);
/// A probe not back within this long means the subscription is dead: rebuild it.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// Backoff bounds while Redis is unreachable.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// Events kept per room feed, so a connection subscribing a little late is served from
/// memory rather than from the stream.
const FEED_BUFFER: usize = 1024;
/// Stream entries read per gap-filling round trip.
const FILL_PAGE: usize = 1000;
/// Bound on gap-filling rounds for one gap.
const FILL_ROUNDS: usize = 50;
/// Proxy queues are drained as fast as Redis takes them; the bound only catches a wedge.
const PROXY_QUEUE_BYTES: usize = 16 * 1024 * 1024;
/// Bound on one pub/sub subscribe round trip.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(2);
/// How many times a forward retries while a room has no owner yet.
const FORWARD_ATTEMPTS: usize = 20;
const FORWARD_RETRY: Duration = Duration::from_millis(100);
/// Proxy connection ids on an owner are drawn from above this, far from gateway ids.
const PROXY_BASE: u64 = 1 << 48;
/// How many times a leave is retried while the owner cannot be reached (about a minute).
const LEAVE_ATTEMPTS: usize = 35;
/// A link with no connection for this many watch rounds ends.
const LINK_IDLE_ROUNDS: u32 = 30;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("another node holds the room's lease")]
    Busy,
    #[error("the event `{0}` is not known to the cluster")]
    UnknownEvent(String),
    #[error("the room's log does not rebuild its state: {0}")]
    Inconsistent(String),
    #[error("the node is shutting down")]
    ShuttingDown,
}

/// Settings of a node.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub url: String,
    pub prefix: String,
    pub node: String,
    pub lease: Duration,
    pub history: usize,
    pub log_len: usize,
}

/// A connection of this node's gateway that uses cluster rooms.
struct LocalConn {
    out: Arc<Outbound>,
    member: MemberId,
    role: Role,
    hall: RoomId,
}

/// A connection the owner serves for some node (possibly itself).
struct Proxy {
    local: ConnId,
    out: Arc<Outbound>,
    event: String,
    hall: RoomId,
    /// The token claims (JSON), for the room's connection record.
    claims: Vec<u8>,
    /// Stops the forwarder without telling the connection's node anything.
    retire: CancellationToken,
}

/// A room this node owns.
struct Owned {
    epoch: u64,
    /// Cancels the room's actor (lease lost).
    cancel: CancellationToken,
}

#[derive(Default)]
struct NodeState {
    conns: HashMap<u64, LocalConn>,
    pending_joins: HashMap<u64, oneshot::Sender<Result<JoinReply, Refusal>>>,
    pending_cmds: HashMap<u64, oneshot::Sender<Result<(), Refusal>>>,
    pending_reqs: HashMap<u64, oneshot::Sender<Option<crate::wire::RoomSummary>>>,
    links: HashMap<RoomId, RoomHandle>,
    owned: HashMap<RoomId, Owned>,
    proxies: HashMap<(String, u64), Proxy>,
}

enum Internal {
    ConnGone(u64),
}

/// The cluster side of one node. See the module doc.
pub struct ClusterNode {
    store: Store,
    cfg: NodeConfig,
    keys: NodeKeys,
    clock: Arc<dyn Clock>,
    cancel: CancellationToken,
    tracker: TaskTracker,
    state: Mutex<NodeState>,
    /// Every channel the node wants to hear (resubscribed after a rebuild).
    channels: Mutex<BTreeSet<String>>,
    sink: tokio::sync::Mutex<Option<PubSubSink>>,
    internal: mpsc::UnboundedSender<Internal>,
    internal_rx: Mutex<Option<mpsc::UnboundedReceiver<Internal>>>,
    healthy: AtomicBool,
    /// The pub/sub connection is up (health also needs plain commands to work).
    pubsub_up: AtomicBool,
    reason: Mutex<String>,
    next_proxy: AtomicU64,
    next_req: AtomicU64,
    /// One takeover at a time on this node.
    taking: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for ClusterNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterNode")
            .field("node", &self.cfg.node)
            .finish_non_exhaustive()
    }
}

/// The room id inside a channel or key name (`prefix:{room}:suffix`).
fn tag_of(name: &str) -> Option<&str> {
    let start = name.find('{')? + 1;
    let end = name.rfind('}')?;
    (start <= end).then(|| &name[start..end])
}

fn event_of(room: &str) -> &str {
    room.split('/').next().unwrap_or(room)
}

impl ClusterNode {
    /// Connects to Redis. Fails when Redis is unreachable at start.
    pub async fn connect(
        cfg: NodeConfig,
        clock: Arc<dyn Clock>,
        cancel: CancellationToken,
        tracker: TaskTracker,
    ) -> Result<Arc<ClusterNode>, ClusterError> {
        let lease_ms = u64::try_from(cfg.lease.as_millis()).unwrap_or(u64::MAX);
        let store = Store::connect(&cfg.url, &cfg.prefix, &cfg.node, lease_ms, cfg.history).await?;
        store.ping().await?;
        let keys = store.node_keys(&cfg.node);
        let (tx, rx) = mpsc::unbounded_channel();
        let mut channels = BTreeSet::new();
        channels.insert(keys.channel.clone());
        Ok(Arc::new(ClusterNode {
            store,
            keys,
            cfg,
            clock,
            cancel,
            tracker,
            state: Mutex::new(NodeState::default()),
            channels: Mutex::new(channels),
            sink: tokio::sync::Mutex::new(None),
            internal: tx,
            internal_rx: Mutex::new(Some(rx)),
            healthy: AtomicBool::new(false),
            pubsub_up: AtomicBool::new(false),
            reason: Mutex::new("connecting to redis".into()),
            next_proxy: AtomicU64::new(PROXY_BASE),
            next_req: AtomicU64::new(1),
            taking: tokio::sync::Mutex::new(()),
        }))
    }

    /// Hands the node its hub and starts its tasks (dispatcher, housekeeping).
    pub fn start(self: &Arc<Self>, hub: Arc<dyn NodeHost>) {
        let rx = self
            .internal_rx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(rx) = rx {
            self.tracker
                .spawn(Arc::clone(self).dispatch(Arc::clone(&hub), rx));
        }
        self.tracker.spawn(Arc::clone(self).housekeeping(hub));
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn id(&self) -> &str {
        &self.cfg.node
    }

    /// Whether Redis and the node's subscription work (`/readyz`).
    pub fn healthy(&self) -> Result<(), String> {
        if self.healthy.load(Ordering::Acquire) {
            Ok(())
        } else {
            Err(self
                .reason
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone())
        }
    }

    fn lock(&self) -> MutexGuard<'_, NodeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records health; a change is told to every connection of this node.
    fn set_health(&self, ok: bool, reason: &str) {
        if !ok {
            *self.reason.lock().unwrap_or_else(|e| e.into_inner()) = reason.to_string();
        }
        let was = self.healthy.swap(ok, Ordering::AcqRel);
        if was == ok {
            return;
        }
        let (level, message) = if ok {
            tracing::info!(node = %self.cfg.node, "redis is reachable");
            (
                StatusLevel::Info,
                "the connection between servers is back".to_string(),
            )
        } else {
            tracing::warn!(node = %self.cfg.node, reason, "redis is unreachable");
            (
                StatusLevel::Warning,
                "the connection between servers is interrupted; commands may fail until it is back"
                    .to_string(),
            )
        };
        let frame = Utf8Bytes::from(ServerMsg::Status { level, message }.to_json());
        for c in self.lock().conns.values() {
            let _ = c.out.push_forced(frame.clone());
        }
    }

    // ---- pub/sub ----

    async fn subscribe(&self, channel: &str) {
        let fresh = self
            .channels
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(channel.to_string());
        if !fresh {
            return;
        }
        let sink = self.sink.lock().await.clone();
        if let Some(mut sink) = sink {
            let r = tokio::time::timeout(SUBSCRIBE_TIMEOUT, sink.subscribe(channel)).await;
            if !matches!(r, Ok(Ok(()))) {
                // The probe notices a dead connection; the rebuild resubscribes everything.
                tracing::warn!(channel, "subscribe failed");
            }
        }
    }

    async fn unsubscribe(&self, channel: &str) {
        let had = self
            .channels
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(channel);
        if !had {
            return;
        }
        let sink = self.sink.lock().await.clone();
        if let Some(mut sink) = sink {
            let _ = tokio::time::timeout(SUBSCRIBE_TIMEOUT, sink.unsubscribe(channel)).await;
        }
    }

    /// Every few hundred milliseconds: liveness, lease renewal, dead nodes.
    async fn housekeeping(self: Arc<Self>, hub: Arc<dyn NodeHost>) {
        let lease = self.cfg.lease;
        let every = (lease / 3).max(Duration::from_millis(100));
        let alive_ttl = u64::try_from((lease * 2).as_millis()).unwrap_or(u64::MAX);
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut missing = HashMap::new();
        loop {
            tokio::select! {
                () = self.cancel.cancelled() => break,
                _ = tick.tick() => {}
            }
            if let Err(e) = self.store.heartbeat(alive_ttl).await {
                self.set_health(false, &format!("redis: {e}"));
                continue;
            }
            if self.pubsub_up.load(Ordering::Acquire) {
                self.set_health(true, "");
            }
            let owned: Vec<(RoomId, u64)> = self
                .lock()
                .owned
                .iter()
                .map(|(r, o)| (r.clone(), o.epoch))
                .collect();
            for (room, epoch) in owned {
                match self.store.renew(room.as_str()).await {
                    Ok(true) => {}
                    Ok(false) => {
                        // Gone: another node took over, or Redis lost it (the actor puts it
                        // back on its next append when it can).
                        let known = self.store.known(room.as_str()).await.unwrap_or(true);
                        // The room's actor may have put it back (reseed: data and lease in one
                        // script) between the renew and `known`: then the lease is ours again.
                        if known && matches!(self.store.renew(room.as_str()).await, Ok(true)) {
                            continue;
                        }
                        if known {
                            tracing::warn!(room = %room, epoch, "lease lost; stopping the room");
                            if let Some(o) = self.lock().owned.get(&room) {
                                o.cancel.cancel();
                            }
                        } else if let Some(h) = hub.live_room(event_of(room.as_str()), &room) {
                            let _ = h.tx.try_send(RoomMsg::Cluster(ClusterMsg::Reseed));
                        }
                    }
                    Err(e) => tracing::debug!(room = %room, "renew failed: {e}"),
                }
            }
            self.sweep_dead_nodes(&hub, &mut missing).await;
        }
        // Graceful shutdown: the liveness key is left to expire, so the owners of rooms
        // this node's clients used keep them present while they reconnect elsewhere.
    }
}

fn to_sequenced(p: msg::EventPayload) -> Sequenced {
    Sequenced {
        seq: p.seq,
        audience: p.audience,
        frame: Utf8Bytes::from(p.frame),
    }
}
