//! What every HTTP handler and WebSocket connection shares (`AppState`), in a module of its
//! own so the API and the gateway depend on it and not on the server that wires it
//! (`server.rs` builds it).

use std::ops::Deref;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::bus::Bus;
use crate::clock::Clock;
use crate::config::Config;
use crate::hub::Hub;
use crate::limits::Limits;
use crate::metrics::Metrics;
use crate::node::ClusterNode;
use crate::token::TokenKey;

/// How many rehearsal previews may run at once (the rest are answered `busy`).
pub const PREVIEW_WORKERS: usize = 1;

/// Everything handlers share. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState(pub(crate) Arc<Shared>);

#[derive(Debug)]
pub struct Shared {
    pub config: Arc<Config>,
    pub hub: Arc<Hub>,
    pub bus: Arc<dyn Bus>,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    pub tokens: TokenKey,
    pub limits: Limits,
    /// One permit per open WebSocket, taken before the upgrade.
    pub conn_permits: Arc<Semaphore>,
    /// The rehearsal preview's worker pool: one permit per preview running on a blocking
    /// thread, so previews never take more than [`PREVIEW_WORKERS`] cores from live rooms.
    pub previews: Arc<Semaphore>,
    /// Cancelled on shutdown; every connection and room actor selects on it.
    pub cancel: CancellationToken,
    /// Tracks every WebSocket task and room actor.
    pub tracker: TaskTracker,
    /// False once shutdown starts (`/readyz` says 503, upgrades are refused).
    pub ready: AtomicBool,
    pub next_conn: AtomicU64,
    /// Base of invite links, without a trailing slash.
    pub base_url: String,
    pub ws_url: String,
    /// The Origins that may open a WebSocket (`gateway::allowed_origins`).
    pub origins: Vec<String>,
    /// Cluster mode: this node's side of the cluster.
    pub cluster: Option<Arc<ClusterNode>>,
    /// The audio SFU's signaling handle; `None` with `--media off`.
    pub media: Option<crate::media::MediaHandle>,
    /// Every room's audio gate, and the voiced time not yet journaled by its room.
    pub gates: Arc<crate::media::Gates>,
}

impl Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}
