//! Wiring and lifecycle: builds the shared state, the router (`app`, shared by `main` and the
//! tests), serves it, and shuts down gracefully.
//!
//! Shutdown: readiness goes to 503, axum stops accepting, a `CancellationToken` tells every
//! connection (close 1001) and room actor to stop, and `timeout(grace, tracker.wait())` waits
//! for the tracked WebSocket tasks and actors, which axum's own graceful shutdown does not.
//!
//! With `redis` set (cluster mode, [`Server::start`]) the node connects to Redis first and
//! wires the cluster bus and node; without it nothing here touches the network but the
//! listener.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::serve::ListenerExt as _;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::api::{self, public};
use crate::bus::cluster::ClusterBus;
use crate::bus::local::LocalBus;
use crate::bus::Bus;
use crate::clock::{Clock, TokioClock};
use crate::config::Config;
use crate::gateway;
use crate::hub::Hub;
use crate::journal::sqlite::SqliteJournal;
use crate::journal::{Ephemeral, Journal, JournalError};
use crate::limits::Limits;
use crate::metrics::Metrics;
use crate::node::{ClusterError, ClusterNode, NodeConfig};
use crate::protocol::load::{Library, LoadError};
use crate::room::actor::RoomCtx;
pub use crate::state::AppState;
use crate::state::Shared;
use crate::token::TokenKey;

mod demo;
pub use demo::{create_demo, Demo};

/// The demo's protocol, title and communities.
pub const DEMO_PROTOCOL: &str = "joint-town-hall";
pub const DEMO_TITLE: &str = "Joint town hall: Dayton, OH & Boulder, CO";
pub const DEMO_COMMUNITIES: [&str; 2] = ["Dayton, OH", "Boulder, CO"];
/// How often per-address limiter state is pruned.
const RETAIN_EVERY: Duration = Duration::from_secs(60);

/// The most bytes of missed events one `resumed` frame carries (SECURITY.md, "Limits").
pub const RESUME_MAX_BYTES: usize = 128 * 1024;

/// The resume budget for a connection's outbound queue: at most [`RESUME_MAX_BYTES`], and at
/// most half the queue, so a `resumed` frame always fits the connection's write limit.
pub fn resume_budget(outbound_queue_bytes: usize) -> usize {
    RESUME_MAX_BYTES.min(outbound_queue_bytes / 2)
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot load protocols: {0}")]
    Protocols(#[from] LoadError),
    #[error("cannot create the demo event: {0}")]
    Demo(String),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("cluster mode: {0}")]
    Cluster(#[from] ClusterError),
    #[error("{0}")]
    DataDir(#[from] crate::journal::dir::DataDirError),
    #[error("{0}")]
    Journal(#[from] JournalError),
    #[error("cannot recover the stored events: {0}; the data dir is left as it is")]
    Recovery(String),
    #[error("cannot start media on udp {0}")]
    Media(String),
}

/// Prepares the data dir (creating it, loading the token secret into `config`) and opens
/// the journal: SQLite in the data dir, or nothing kept (`--ephemeral`, cluster mode).
/// Called before binding, so a bad data dir stops the server before it listens.
pub fn open_journal(config: &mut Config) -> Result<Arc<dyn Journal>, ServerError> {
    match crate::journal::dir::prepare(config)? {
        Some(path) => Ok(Arc::new(SqliteJournal::open(&path)?)),
        None => Ok(Arc::new(Ephemeral)),
    }
}

impl AppState {
    /// Builds the state: loads the protocol library and wires hub, bus and limits.
    pub fn new(mut config: Config, local_addr: SocketAddr) -> Result<AppState, ServerError> {
        let journal = open_journal(&mut config)?;
        AppState::with_journal(config, local_addr, journal)
    }

    /// [`AppState::new`] with an already opened journal.
    pub fn with_journal(
        config: Config,
        local_addr: SocketAddr,
        journal: Arc<dyn Journal>,
    ) -> Result<AppState, ServerError> {
        let clock: Arc<dyn Clock> = Arc::new(TokioClock::new());
        AppState::build(
            config,
            local_addr,
            clock,
            CancellationToken::new(),
            TaskTracker::new(),
            None,
            journal,
        )
    }

    /// Builds the state, in cluster mode when `config.redis` is set (connecting to Redis).
    pub async fn connect(config: Config, local_addr: SocketAddr) -> Result<AppState, ServerError> {
        let mut config = config;
        let journal = open_journal(&mut config)?;
        AppState::connect_with(config, local_addr, journal).await
    }

    /// [`AppState::connect`] with an already opened journal.
    pub async fn connect_with(
        config: Config,
        local_addr: SocketAddr,
        journal: Arc<dyn Journal>,
    ) -> Result<AppState, ServerError> {
        let Some(url) = config.redis.clone() else {
            return AppState::with_journal(config, local_addr, journal);
        };
        let clock: Arc<dyn Clock> = Arc::new(TokioClock::new());
        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        let node_config = NodeConfig {
            url,
            prefix: config.redis_prefix.clone(),
            node: config.node_id.clone(),
            lease: config.lease,
            history: config.event_log_len,
            log_len: config.event_log_len,
        };
        // Redis down at start: the node waits for it (with backoff) rather than exiting, like
        // it rides out an outage later. A URL that cannot be parsed is an error at once.
        let mut wait = Duration::from_millis(200);
        let node = loop {
            let connected = ClusterNode::connect(
                node_config.clone(),
                Arc::clone(&clock),
                cancel.clone(),
                tracker.clone(),
            )
            .await;
            match connected {
                Ok(node) => break node,
                Err(ClusterError::Store(crate::cluster::store::StoreError::Redis(e)))
                    if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() =>
                {
                    tracing::warn!("waiting for redis at {}: {e}", node_config.url);
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
                Err(e) => return Err(e.into()),
            }
        };
        AppState::build(
            config,
            local_addr,
            clock,
            cancel,
            tracker,
            Some(node),
            journal,
        )
    }

    fn build(
        config: Config,
        local_addr: SocketAddr,
        clock: Arc<dyn Clock>,
        cancel: CancellationToken,
        tracker: TaskTracker,
        cluster: Option<Arc<ClusterNode>>,
        journal: Arc<dyn Journal>,
    ) -> Result<AppState, ServerError> {
        let library = Arc::new(Library::load_dir(&config.protocols_dir)?);
        let config = Arc::new(config);
        let metrics = Arc::new(Metrics::default());
        let bus: Arc<dyn Bus> = match &cluster {
            Some(_) => Arc::new(ClusterBus::new()),
            None => Arc::new(LocalBus::new(Arc::clone(&metrics))),
        };
        let gates = Arc::new(crate::media::Gates::new());
        let media = start_media(&config, &gates, &metrics, &clock, &cancel)?;
        let ctx = RoomCtx {
            bus: Arc::clone(&bus),
            clock: Arc::clone(&clock),
            metrics: Arc::clone(&metrics),
            cancel: cancel.clone(),
            log_len: config.event_log_len,
            resume_bytes: resume_budget(config.outbound_queue_bytes),
            idle: config.room_idle,
            cluster: cluster
                .clone()
                .map(|n| n as Arc<dyn crate::room::Ownership>),
            journal,
            word_list: Arc::clone(&config.word_list),
            reconnect_grace: config.reconnect_grace,
            media: Arc::clone(&gates),
        };
        let hub = Hub::new(
            library,
            ctx,
            cluster.clone(),
            tracker.clone(),
            config.room_inbox,
        );
        hub.set_default_retention(config.retention.as_secs());
        hub.set_max_events(config.max_events);
        let recovered = hub.recover().map_err(ServerError::Recovery)?;
        if recovered > 0 {
            tracing::info!(recovered, "events recovered from the journal");
        }
        if let Some(node) = &cluster {
            node.start(Arc::clone(&hub) as Arc<dyn crate::node::NodeHost>);
        }
        let base_url = config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{local_addr}"))
            .trim_end_matches('/')
            .to_string();
        let ws_url = format!(
            "{}/ws",
            base_url
                .replacen("https://", "wss://", 1)
                .replacen("http://", "ws://", 1)
        );
        let origins = gateway::allowed_origins(
            &config.allowed_origins,
            config.public_url.as_deref(),
            local_addr,
        );
        if config.allowed_origins.is_empty()
            && config.public_url.is_none()
            && local_addr.ip().is_unspecified()
        {
            tracing::warn!(
                "listening on a wildcard address without --public-url: browsers may open \
                 WebSockets only from http://127.0.0.1:{0} and http://localhost:{0}; set \
                 --public-url (or --allowed-origins) for the address people use",
                local_addr.port()
            );
        }
        Ok(AppState(Arc::new(Shared {
            origins,
            tokens: TokenKey::new(&config.token_secret),
            limits: Limits::new(&config),
            conn_permits: Arc::new(Semaphore::new(config.max_connections)),
            previews: Arc::new(Semaphore::new(crate::state::PREVIEW_WORKERS)),
            config,
            hub,
            bus,
            clock,
            metrics,
            cancel,
            tracker,
            ready: AtomicBool::new(true),
            next_conn: AtomicU64::new(1),
            base_url,
            ws_url,
            cluster,
            media,
            gates,
        })))
    }
}

/// Binds the media socket and starts the SFU task (`--media on`); `None` when media is off.
fn start_media(
    config: &Config,
    gates: &Arc<crate::media::Gates>,
    metrics: &Arc<Metrics>,
    clock: &Arc<dyn Clock>,
    cancel: &CancellationToken,
) -> Result<Option<crate::media::MediaHandle>, ServerError> {
    if !config.media {
        return Ok(None);
    }
    let bind = config.media_bind;
    let socket =
        std::net::UdpSocket::bind(bind).map_err(|e| ServerError::Media(format!("{bind}: {e}")))?;
    let media_config = crate::media::MediaConfig {
        socket,
        public_addr: config.media_public_addr,
        limits: crate::media::Limits {
            max_peers: config.media_max_peers,
            max_peers_per_room: config.media_max_room_peers,
            connect_timeout: config.media_connect_timeout,
        },
    };
    let handle = crate::media::spawn(
        media_config,
        Arc::clone(gates),
        Arc::clone(&metrics.media),
        Arc::clone(clock),
        cancel.clone(),
    )
    .map_err(|e| ServerError::Media(format!("{bind}: {e}")))?;
    tracing::info!("media (audio SFU) on udp {}", handle.local_addr());
    Ok(Some(handle))
}

/// The router, shared by `main` and the tests.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/ws", get(gateway::ws_handler))
        .route("/healthz", get(public::healthz))
        .route("/readyz", get(public::readyz))
        .route("/metrics", get(public::metrics))
        .route("/api/protocols", get(public::list_protocols))
        .route("/api/protocols/{name}", get(public::show_protocol))
        .route(
            "/api/protocols/{name}/rehearse",
            get(api::preview::rehearse),
        )
        .route(
            "/api/events",
            post(api::events::create_event).get(api::events::list_events),
        )
        .route(
            "/api/events/{id}",
            get(public::show_event).delete(api::events::delete_event),
        )
        .route("/api/events/{id}/invites", post(api::events::create_invite))
        .route("/api/events/{id}/end", post(api::events::end_event))
        .route("/api/events/{id}/report", get(api::report::get_report))
        .route(
            "/api/events/{id}/transcript",
            get(api::report::get_transcript),
        )
        .merge(api::links::router())
        .merge(crate::web::router())
        .fallback(public::not_found)
        .method_not_allowed_fallback(public::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            shared_events,
        ))
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(state)
}

/// Headers every response carries: no MIME sniffing (a JSON body is never run as a page),
/// no referrer (invite links carry tokens in their query string). The HTML report, which
/// shows members' own words, may load nothing and run no script: only its inline style.
async fn security_headers(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::{header, HeaderValue};
    let report = req.uri().path().starts_with("/api/") && req.uri().path().ends_with("/report");
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    let html = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if report && html {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            ),
        );
    }
    res
}

/// Cluster mode: an event named in an `/api/events/{id}/...` path may have been created on
/// another node; load it from the shared registry before the handler looks it up.
async fn shared_events(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if let Some(node) = &state.cluster {
        let id = req
            .uri()
            .path()
            .strip_prefix("/api/events/")
            .and_then(|rest| rest.split('/').next())
            .filter(|id| !id.is_empty())
            .map(str::to_string);
        if let Some(id) = id {
            if let Err(e) = node.ensure_event(&*state.hub, &id).await {
                tracing::warn!(event = id, "cannot read the shared event registry: {e}");
            }
        }
    }
    next.run(req).await
}

/// A bound, ready-to-run server.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    state: AppState,
    demo: Option<Demo>,
}

impl Server {
    /// Builds the state for an already-bound listener (port 0 in tests) and, when configured,
    /// the demo event.
    pub fn new(listener: TcpListener, config: Config) -> Result<Server, ServerError> {
        let addr = listener.local_addr()?;
        let state = AppState::new(config, addr)?;
        Server::with_state(listener, state)
    }

    /// [`Server::new`], in cluster mode when the configuration names a Redis.
    pub async fn start(listener: TcpListener, config: Config) -> Result<Server, ServerError> {
        let addr = listener.local_addr()?;
        let state = AppState::connect(config, addr).await?;
        Server::with_state(listener, state)
    }

    /// [`Server::start`] with a journal opened before binding ([`open_journal`]).
    pub async fn start_with(
        listener: TcpListener,
        config: Config,
        journal: Arc<dyn Journal>,
    ) -> Result<Server, ServerError> {
        let addr = listener.local_addr()?;
        let state = AppState::connect_with(config, addr, journal).await?;
        Server::with_state(listener, state)
    }

    fn with_state(listener: TcpListener, state: AppState) -> Result<Server, ServerError> {
        let demo_on = state.config.demo;
        let demo = if demo_on {
            Some(create_demo(&state)?)
        } else {
            None
        };
        Ok(Server {
            listener,
            state,
            demo,
        })
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn demo(&self) -> Option<&Demo> {
        self.demo.as_ref()
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then shuts down gracefully within the grace period.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let state = self.state;
        let router = app(state.clone());
        let cancel = state.cancel.clone();
        let retain = {
            let state = state.clone();
            async move {
                let mut tick = tokio::time::interval(RETAIN_EVERY);
                loop {
                    tokio::select! {
                        () = state.cancel.cancelled() => return,
                        _ = tick.tick() => state.limits.retain(state.clock.now()),
                    }
                }
            }
        };
        state.tracker.spawn(retain);
        raise_open_file_limit();
        // Per-address connection cap and request-head deadline before hyper parses anything
        // (slowloris); the listener also sets TCP_NODELAY. `tap_io` only lends axum's
        // `ConnectInfo<SocketAddr>` support to the custom listener.
        let listener = crate::gateway::listener::GuardedListener::new(
            self.listener,
            state.config.max_connections_per_address,
            state.config.header_timeout,
        )
        .tap_io(|_| {});
        let serve = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown({
            let cancel = cancel.clone();
            async move { cancel.cancelled().await }
        });
        let serve = tokio::spawn(async move { serve.await });
        shutdown.await;
        tracing::info!("shutting down: refusing new connections, closing sockets (1001)");
        state.ready.store(false, Ordering::Release);
        cancel.cancel();
        state.tracker.close();
        let grace = state.config.shutdown_grace;
        let waited = tokio::time::timeout(grace, async {
            state.tracker.wait().await;
            let _ = serve.await;
        })
        .await;
        match waited {
            Ok(()) => tracing::info!("shutdown complete: every connection and room finished"),
            Err(_) => tracing::warn!(
                ?grace,
                "shutdown grace ran out; {} tasks still running are dropped",
                state.tracker.len()
            ),
        }
        Ok(())
    }
}

/// Raises the soft open-file limit to the hard one: every socket is a descriptor, and the
/// common soft default of 1,024 is fewer than a town hall's connections. Logged, because a
/// low hard limit caps the server whatever `max_connections` says.
fn raise_open_file_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => tracing::info!(limit = n, "open-file limit"),
        Err(e) => tracing::warn!("cannot raise the open-file limit: {e}"),
    }
}

/// Runs a server on `listener` until `shutdown` resolves.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    Server::new(listener, config)?.run(shutdown).await
}
