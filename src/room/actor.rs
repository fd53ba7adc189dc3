//! The room actor: one tokio task per live room, the only code that touches its engine.
//!
//! `run` is a loop of `next_input().await` (the only `select!`: the inbox, the one timer,
//! cancellation) followed by synchronous handling: feed the engine, number each event, encode
//! it once, append it to the bounded log (for resume) and publish it on the bus. Joins are
//! handled by the same actor (`conns.rs`), so a connection's snapshot and its subscription
//! happen at the same sequence number: nothing is lost or sent twice in between. What the
//! room keeps and shares is in `state.rs`.
//!
//! The same actor runs a hall and a breakout group ([`RoomKind`]). The hall owns the groups:
//! after every input that touched the breakout it reconciles where each of its connections
//! should be (`reconcile_groups`) with where they are, and sends the groups `Attach`,
//! `Detach` and `Close`. A group room never closes a connection: it only unsubscribes it and
//! queues `left_room`, and it never parks (it lives until the hall ends it). That breakout
//! handling lives in `groups.rs`, as more methods of the same actor.
//!
//! Every input is made durable before anyone hears of it, through one seam whatever the
//! mode (`store.rs`: stage on the engine, commit, publish): nothing in memory, the journal
//! on a single node (`journaled.rs`), Redis in one fenced step on a cluster room's owner
//! (`owner.rs`). Joins and commands waiting together share one commit (`batch.rs`). A
//! refused write answers `unavailable` and the engine is rebuilt from what the store holds
//! (`undo.rs`); in cluster mode a lost lease stops the actor at once, without applying
//! anything further.

use std::collections::{BTreeSet, HashMap};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use tokio::sync::mpsc;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;

use crate::bus::{ConnId, Sequenced, Subscriber};
use crate::engine::command::Command;
use crate::engine::core::Session;
use crate::engine::event::Event;
use crate::engine::event::EventKind;
use crate::engine::member::{MemberId, Role};
use crate::engine::Input;
use crate::metrics::Metrics;
use crate::record::Logged;
use crate::room::batch::{Arrival, JoinReplyTo};
use crate::room::host::RoomHost;
pub use crate::room::state::{RoomCtx, RoomState};
use crate::room::{AdminMsg, ClusterMsg, ConnMsg, GroupMsg};
use crate::room::{RoomKind, RoomMsg};
use crate::token::Claims;
use crate::wire::CloseReason;
use crate::wire::RoomId;
use crate::wire::{self, Refusal};

/// Member id of the organizer who ends an event through the HTTP API.
pub const API_ORGANIZER: &str = "organizer-api";

/// The most open sockets one member keeps in a room: a phone, a laptop and a tab or two. A
/// reconnect's new socket may briefly overlap its dead one, so this is more than one.
pub const MAX_SOCKETS_PER_MEMBER: usize = 4;

/// An engine snapshot is stored (and the inputs before it dropped) after at least this many
/// inputs, which bounds what a recovery or a takeover replays.
pub(super) const SNAPSHOT_EVERY: usize = 64;
/// How long a room waits before retrying a due timer its store refused.
const UNAVAILABLE_PAUSE: Duration = Duration::from_millis(250);

enum Next {
    Msg(RoomMsg),
    Deadline,
    /// Voiced time is waiting to be journaled (`voiced.rs`).
    Voiced,
    Idle,
    Stop,
}

/// A connection in this room: who it is (its token's claims) and where its frames go.
pub(super) struct Conn {
    pub(super) sub: Subscriber,
    pub(super) claims: Claims,
}

pub struct RoomActor {
    pub(super) id: RoomId,
    pub(super) event: String,
    pub(super) kind: RoomKind,
    pub(super) rx: mpsc::Receiver<RoomMsg>,
    pub(super) state: RoomState,
    pub(super) conns: HashMap<ConnId, Conn>,
    /// Hall only: the group room each participant's connection is placed in.
    pub(super) placed: HashMap<ConnId, RoomId>,
    /// Hall only: the group rooms each staff connection dropped in to listen to.
    pub(super) listening: HashMap<ConnId, BTreeSet<RoomId>>,
    /// Hall only: groups spawned in this round of placements, to be told `Begin` after
    /// their first members are attached.
    pub(super) unstarted: Vec<u32>,
    pub(super) ctx: RoomCtx,
    pub(super) hub: Arc<dyn RoomHost>,
    /// The one timer, reset to the engine's next deadline or the idle deadline.
    sleep: Pin<Box<Sleep>>,
    /// Set while nobody is connected.
    pub(super) idle_since: Option<Instant>,
    /// Cluster mode: the fencing epoch this node owns the room under.
    pub(super) epoch: Option<u64>,
    /// Cluster mode: cancelled when the lease is lost.
    lease: CancellationToken,
    /// Cluster mode: the room is no longer ours; stop without applying anything else.
    pub(super) lost: bool,
    /// Cluster mode: the last input could not be made durable (and was rolled back).
    pub(super) unavailable: bool,
    /// Cluster mode: inputs applied since the last snapshot.
    pub(super) since_snapshot: usize,
    /// Cluster mode, halls: the live groups changed since Redis last heard of them.
    pub(super) groups_dirty: bool,
    /// Hall only: the group rooms staff were last told of (`groups` frame).
    pub(super) announced: Vec<(u32, RoomId)>,
    /// When the voiced time the SFU measured is next journaled (`voiced.rs`).
    pub(super) voiced_due: Option<Instant>,
    /// When voiced time was last journaled.
    pub(super) voiced_flushed: Option<Instant>,
    /// A message taken from the inbox while filling a batch that could not join it; it is
    /// the next one handled.
    pub(super) held: Option<RoomMsg>,
}

impl std::fmt::Debug for RoomActor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomActor")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl RoomActor {
    pub fn new(
        event: String,
        rx: mpsc::Receiver<RoomMsg>,
        state: RoomState,
        ctx: RoomCtx,
        hub: Arc<dyn RoomHost>,
    ) -> RoomActor {
        let id = RoomId::hall(&event);
        RoomActor::with_kind(id, RoomKind::Hall, event, rx, state, ctx, hub)
    }

    pub fn with_kind(
        id: RoomId,
        kind: RoomKind,
        event: String,
        rx: mpsc::Receiver<RoomMsg>,
        state: RoomState,
        ctx: RoomCtx,
        hub: Arc<dyn RoomHost>,
    ) -> RoomActor {
        let now = ctx.clock.instant();
        // A group never parks: it lives until the hall ends it.
        let idle_since = matches!(kind, RoomKind::Hall).then_some(now);
        RoomActor {
            id,
            event,
            kind,
            rx,
            state,
            conns: HashMap::new(),
            placed: HashMap::new(),
            listening: HashMap::new(),
            unstarted: Vec::new(),
            sleep: Box::pin(tokio::time::sleep_until(now)),
            idle_since,
            ctx,
            hub,
            epoch: None,
            lease: CancellationToken::new(),
            lost: false,
            unavailable: false,
            since_snapshot: 0,
            groups_dirty: false,
            announced: Vec::new(),
            voiced_due: None,
            voiced_flushed: None,
            held: None,
        }
    }

    /// Cluster mode: the room runs under this fencing epoch until `lease` is cancelled.
    pub fn owned(mut self, epoch: u64, lease: CancellationToken) -> RoomActor {
        self.epoch = Some(epoch);
        self.lease = lease;
        self
    }

    /// Whether the next snapshot is due: after [`SNAPSHOT_EVERY`] inputs, or after as many
    /// inputs as the room has members when that is more. A snapshot costs in proportion to
    /// the roster (a 10,000-member hall's engine is megabytes of JSON), so this keeps the
    /// snapshot work per input constant where a fixed 64 made a join storm quadratic, and a
    /// replay still never replays more inputs than the snapshot holds members.
    pub(super) fn snapshot_due(&self) -> bool {
        self.since_snapshot >= SNAPSHOT_EVERY.max(self.state.engine.roster().len())
    }

    pub(super) fn is_hall(&self) -> bool {
        matches!(self.kind, RoomKind::Hall)
    }

    pub async fn run(mut self) {
        if let (Some(node), None) = (self.ctx.cluster.clone(), self.epoch) {
            // A group room takes its own (fresh) lease; a hall comes with one.
            match node.store().acquire(self.id.as_str()).await {
                Ok(Some(epoch)) => {
                    let lease = self.ctx.cancel.child_token();
                    node.register_owned(&self.id, epoch, lease.clone());
                    self.epoch = Some(epoch);
                    self.lease = lease;
                    // A snapshot from the start: a node taking the group over later needs
                    // no protocol or seed, only Redis.
                    let _ = self.save_snapshot().await;
                }
                other => {
                    tracing::error!(room = %self.id, "cannot own the room: {other:?}");
                    return;
                }
            }
        }
        // A room the journal has no snapshot of gets one first: a group is rebuilt from it
        // alone (it has no protocol of its own in the registry).
        if self.ctx.cluster.is_none() && !self.state.journaled {
            self.save_journal_snapshot().await;
        }
        self.know_the_store();
        Metrics::inc_gauge(&self.ctx.metrics.rooms_live, 1);
        tracing::debug!(room = %self.id, "room started");
        // Timers that fell due while no node ran the room (parked, restarted from the journal,
        // taken over from a dead owner) fire at their own deadlines, and whatever they start
        // gets its full length from now (`Input::Outage`): the room last ran at its last event.
        let now = self.ctx.clock.now();
        let wake = match self.state.engine.next_deadline() {
            Some(due) if due <= now => Input::Outage {
                since: self
                    .state
                    .record
                    .last()
                    .map_or(due, |l| l.event.at.min(due)),
            },
            _ => Input::Tick,
        };
        let _ = self.apply(wake).await;
        // Set while the store refuses a due timer's tick: from the deadline it missed.
        let mut down_since: Option<crate::time::Millis> = None;
        self.reconcile_groups();
        let mut release = true;
        loop {
            self.announce_groups();
            self.sync_groups().await;
            if self.lost {
                break;
            }
            // A group whose sub-protocol ran out stays open until the hall ends it.
            if self.is_hall() && self.state.engine.session() == Session::Ended {
                self.finish();
                break;
            }
            match self.next_input().await {
                Next::Msg(RoomMsg::Group(GroupMsg::Close)) if !self.is_hall() => {
                    self.close_group();
                    break;
                }
                Next::Msg(msg) => {
                    // The store is back after a refused tick: the outage goes in first.
                    if let Some(since) = down_since.take() {
                        let _ = self.apply(Input::Outage { since }).await;
                        down_since = self.unavailable.then_some(since);
                    }
                    self.handle(msg).await;
                }
                Next::Voiced => self.flush_voiced().await,
                Next::Deadline => {
                    let due = self.state.engine.next_deadline();
                    let input = match down_since {
                        Some(since) => Input::Outage { since },
                        None => Input::Tick,
                    };
                    let _ = self.apply(input).await;
                    self.reconcile_groups();
                    if self.unavailable && !self.lost {
                        // The store is away: the timer stays due; do not spin on it. Once a
                        // write works again, what the deadline starts gets its full length.
                        down_since = down_since.or(due);
                        tokio::time::sleep(UNAVAILABLE_PAUSE).await;
                    } else {
                        down_since = None;
                    }
                }
                Next::Idle if self.ctx.cluster.is_some() => {
                    // Handed back only once the state is safe in Redis.
                    if self.rx.is_empty() && self.save_snapshot().await {
                        tracing::debug!(room = %self.id, "room idle: handing it back to the cluster");
                        break;
                    }
                    self.idle_since = Some(self.ctx.clock.instant());
                }
                Next::Idle => {
                    self.flush_voiced().await;
                    if self.hub.park(&self.event, &mut self.state, &self.rx) {
                        tracing::debug!(room = %self.id, "room idle: parked");
                        break;
                    }
                    self.idle_since = Some(self.ctx.clock.instant());
                }
                Next::Stop => {
                    if self.ctx.cancel.is_cancelled() {
                        // Graceful shutdown: a final snapshot, then the lease goes back so
                        // another node takes over at once.
                        let _ = self.save_snapshot().await;
                    } else {
                        release = false;
                    }
                    break;
                }
            }
        }
        if let (Some(node), Some(epoch)) = (self.ctx.cluster.clone(), self.epoch) {
            self.hub.owner_stopped(&self.event, &self.id);
            node.room_stopped(&self.id, epoch, release && !self.lost)
                .await;
        } else if self.lost {
            // The journal holds the room; the next join rebuilds it from there.
            self.hub.owner_stopped(&self.event, &self.id);
        }
        Metrics::inc_gauge(&self.ctx.metrics.rooms_live, -1);
    }

    /// Stores the engine in the room's store (Redis or the journal); true when stored.
    pub(super) async fn save_snapshot(&mut self) -> bool {
        if self.ctx.cluster.is_some() {
            self.save_owned_snapshot().await
        } else {
            self.save_journal_snapshot().await
        }
    }

    /// The only `select!`: the inbox, the one timer and cancellation.
    async fn next_input(&mut self) -> Next {
        if let Some(msg) = self.held.take() {
            return Next::Msg(msg);
        }
        let deadline = self
            .state
            .engine
            .next_deadline()
            .map(|d| self.ctx.clock.instant_at(d));
        let idle = self.idle_since.map(|t| t + self.ctx.idle);
        let voiced = self.voiced_wake();
        let wake = [deadline, idle, voiced].into_iter().flatten().min();
        if let Some(w) = wake {
            self.sleep.as_mut().reset(w);
        }
        tokio::select! {
            biased;
            () = self.ctx.cancel.cancelled() => Next::Stop,
            () = self.lease.cancelled() => Next::Stop,
            msg = self.rx.recv() => match msg {
                Some(m) => Next::Msg(m),
                None => Next::Stop,
            },
            () = &mut self.sleep, if wake.is_some() => {
                if deadline.is_some() && deadline == wake {
                    Next::Deadline
                } else if voiced.is_some() && voiced == wake {
                    Next::Voiced
                } else {
                    Next::Idle
                }
            }
        }
    }

    /// One message, handled by the part of the actor its sender talks to.
    async fn handle(&mut self, msg: RoomMsg) {
        match msg {
            RoomMsg::Conn(m) => self.on_conn_msg(m).await,
            RoomMsg::Group(m) => self.on_group_msg(m).await,
            RoomMsg::Admin(m) => self.on_admin_msg(m).await,
            RoomMsg::Cluster(m) => self.on_cluster_msg(m).await,
        }
    }

    async fn on_conn_msg(&mut self, msg: ConnMsg) {
        match msg {
            ConnMsg::Join { req, reply } => {
                self.run_batch(Arrival::Join(req, JoinReplyTo::Conn(reply)))
                    .await;
            }
            ConnMsg::Leave { conn } => self.leave(conn).await,
            ConnMsg::Command {
                conn,
                id,
                command,
                out,
                reply,
            } => {
                let arrival = Arrival::Command {
                    conn,
                    id,
                    command,
                    out,
                    reply,
                };
                self.run_batch(arrival).await;
            }
            ConnMsg::DropIn {
                conn,
                id,
                room,
                join,
            } => self.drop_in(conn, id, &room, join),
        }
    }

    async fn on_group_msg(&mut self, msg: GroupMsg) {
        match msg {
            GroupMsg::Attach { req } => {
                self.run_batch(Arrival::Join(req, JoinReplyTo::Hall)).await;
            }
            GroupMsg::Detach { conn, reason } => self.detach(conn, reason).await,
            GroupMsg::Begin => {
                if self.state.engine.session() == Session::NotStarted {
                    let _ = self.apply(Input::Start).await;
                }
            }
            GroupMsg::HallModeration { member, muted, by } => {
                let _ = self
                    .apply(Input::HallModeration { member, muted, by })
                    .await;
            }
            // A group's is handled in `run`, which stops the actor; a hall ignores it.
            GroupMsg::Close => {}
            GroupMsg::GroupEvent { group, frame } => self.forward_group_event(&group, frame),
            GroupMsg::OpenReports { out } => self.send_open_reports(&out),
        }
    }

    async fn on_admin_msg(&mut self, msg: AdminMsg) {
        match msg {
            AdminMsg::End { reply } => {
                self.end_by_organizer().await;
                let _ = reply.send(());
            }
            AdminMsg::Inspect { reply } => {
                let present = self.state.engine.roster().present_count();
                let _ = reply.send(self.state.summary(present));
            }
            AdminMsg::Record { reply } => {
                // The report reads the ledger: the voice measured so far goes in first.
                self.flush_voiced().await;
                let _ = reply.send(Box::new(self.state.to_record(&self.id)));
            }
        }
    }

    async fn on_cluster_msg(&mut self, msg: ClusterMsg) {
        match msg {
            ClusterMsg::Adopt { req } => self.adopt(*req).await,
            ClusterMsg::Reseed => {
                if let (Some(node), Some(epoch)) = (self.ctx.cluster.clone(), self.epoch) {
                    let engine = self.state.engine.clone();
                    if let Some(e) = self.reseed(&node, epoch, &engine).await {
                        self.epoch = Some(e);
                    }
                }
            }
        }
    }

    /// Feeds the engine, makes the input durable (cluster owner: Redis; single node: the
    /// journal) and only then publishes what it emitted; first journals any voiced time the
    /// input must follow (`voiced.rs`).
    pub(super) async fn apply(&mut self, input: Input) -> Result<(), Refusal> {
        self.flush_voiced_before_input().await;
        self.apply_input(input).await
    }

    /// Numbers, logs and publishes events the engine emitted (`frames`: already encoded).
    pub(super) fn emit(&mut self, events: Vec<Event>, frames: Option<Vec<String>>) {
        let mut frames = frames.map(Vec::into_iter);
        for ev in events {
            self.state.last_seq += 1;
            let seq = self.state.last_seq;
            let frame = match frames.as_mut().and_then(Iterator::next) {
                Some(f) => f,
                None => wire::encode_event(self.id.as_str(), seq, ev.at, &ev.kind),
            };
            self.ctx.media.follow(&self.id, &ev);
            self.state.record.push(Logged {
                seq,
                event: ev.clone(),
            });
            let for_hall_staff = self.hall_staff_msg(&ev);
            let seqd = Arc::new(Sequenced {
                seq,
                audience: ev.audience,
                frame: Utf8Bytes::from(frame),
            });
            if self.state.log.len() >= self.ctx.log_len {
                self.state.log.pop_front();
            }
            self.state.log.push_back(Arc::clone(&seqd));
            Metrics::inc(&self.ctx.metrics.events_total);
            self.ctx.bus.publish(&self.id, &seqd);
            // After the group's own publish, so staff listening in get the event first.
            if let Some(msg) = for_hall_staff {
                self.tell_hall(msg);
            }
            // Groups never close a connection; their `remove` goes to the hall.
            if let (EventKind::MemberRemoved { member, .. }, true) = (&ev.kind, self.is_hall()) {
                self.ctx
                    .bus
                    .disconnect(&self.id, Some(member), CloseReason::Removed);
            }
            self.spread_moderation(&ev.kind);
            if let EventKind::BreakoutOpened { .. } = &ev.kind {
                // A new assignment: the previous groups end before the new ones open.
                self.close_all_groups();
                self.state.openings += 1;
            }
        }
    }

    /// Ends the session on the organizer's behalf: a member with the organizer role joins,
    /// ends it and leaves, so the log says who ended it.
    async fn end_by_organizer(&mut self) {
        if self.state.engine.session() == Session::Ended {
            return;
        }
        let member = MemberId::new(API_ORGANIZER);
        let _ = self
            .apply(Input::Join {
                member: member.clone(),
                name: "Organizer".into(),
                role: Role::Organizer,
                community: None,
            })
            .await;
        let _ = self
            .apply(Input::Command {
                from: member,
                command: Command::End,
            })
            .await;
        self.reconcile_groups();
    }

    /// The session ended: tell every connection and leave the registry.
    fn finish(&mut self) {
        tracing::info!(room = %self.id, "session ended; closing the room");
        self.ctx
            .bus
            .disconnect(&self.id, None, CloseReason::SessionEnded);
        for conn in self.conns.keys() {
            self.ctx.bus.unsubscribe(&self.id, *conn);
        }
        self.close_all_groups();
        let blank = RoomState::new(self.state.engine.clone());
        let state = std::mem::replace(&mut self.state, blank);
        Arc::clone(&self.hub).room_ended(&self.event, state);
    }
}
