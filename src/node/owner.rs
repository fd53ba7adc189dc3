//! The owner's side: taking a room over (with its breakout groups), the proxies that
//! stand for connections on any node and their forwarders, forwarded messages, and
//! letting go of rooms and of the connections of dead nodes.

use super::*;

impl ClusterNode {
    /// Takes the hall's lease, rebuilds its state from the snapshot and the input log, and
    /// starts its actor here.
    pub async fn take_over(
        self: &Arc<Self>,
        hub: &Arc<dyn NodeHost>,
        hall: &RoomId,
    ) -> Result<(), ClusterError> {
        let _one = self.taking.lock().await;
        if self.lock().owned.contains_key(hall) {
            return Ok(());
        }
        if self.cancel.is_cancelled() {
            return Err(ClusterError::ShuttingDown);
        }
        let event = event_of(hall.as_str()).to_string();
        // The event must be in the shared registry: a Redis that lost everything has no
        // metadata, and only the node still holding the room in memory may put it back.
        let Some(meta) = self.store.get_meta(hall.as_str()).await? else {
            return Err(ClusterError::UnknownEvent(event));
        };
        // Loaded even when known: it also says whether the event ended elsewhere.
        if !hub.load_meta(&meta) && !hub.knows(&event) {
            return Err(ClusterError::UnknownEvent(event));
        }
        // An ended hall is never started again: nothing may be applied to it, and a late
        // leave racing an organizer's delete would otherwise bring an empty room (and its
        // keys) back.
        if hub.ended(&event) {
            return Err(ClusterError::UnknownEvent(event));
        }
        let Some(epoch) = self.store.acquire(hall.as_str()).await? else {
            return Err(ClusterError::Busy);
        };
        match self.start_owned(hub, &event, hall, epoch).await {
            Ok(()) => Ok(()),
            Err(e) => {
                tracing::error!(room = %hall, "takeover failed: {e}");
                let _ = self.store.release(hall.as_str()).await;
                Err(e)
            }
        }
    }

    pub(super) async fn start_owned(
        self: &Arc<Self>,
        hub: &Arc<dyn NodeHost>,
        event: &str,
        hall: &RoomId,
        epoch: u64,
    ) -> Result<(), ClusterError> {
        let loaded = self.store.load(hall.as_str()).await?;
        let (mut engine, mut seq) = match &loaded.snapshot {
            Some((seq, state)) => {
                let engine: Engine = serde_json::from_slice(state)
                    .map_err(|e| ClusterError::Inconsistent(format!("snapshot: {e}")))?;
                (engine, *seq)
            }
            None => {
                let (protocol, seed) = hub
                    .protocol_and_seed(event)
                    .ok_or_else(|| ClusterError::UnknownEvent(event.to_string()))?;
                (Engine::new(protocol, hub.engine_config(seed)), 0)
            }
        };
        let replayed = loaded.inputs.len();
        for raw in &loaded.inputs {
            let logged: LoggedInput = serde_json::from_slice(raw)
                .map_err(|e| ClusterError::Inconsistent(format!("input log: {e}")))?;
            let handled = engine.handle(logged.now, Input::from(logged.input));
            seq += handled.events.len() as u64;
        }
        if seq != loaded.top {
            return Err(ClusterError::Inconsistent(format!(
                "replay ends at seq {seq}, the stream at {}",
                loaded.top
            )));
        }
        // The recent events, for resume.
        let from = loaded.top.saturating_sub(self.cfg.log_len as u64);
        let mut log = VecDeque::new();
        let mut record = Vec::new();
        let mut after = from;
        while after < loaded.top {
            let gap = self.store.since(hall.as_str(), after, FILL_PAGE).await?;
            let Some(first) = gap.entries.first() else {
                break;
            };
            if first.0 != after + 1 {
                // Partly trimmed: keep only what is contiguous up to the top.
                log.clear();
            }
            for (s, b) in &gap.entries {
                if let Some(p) = decode_event(b) {
                    record.extend(to_logged(&p));
                    log.push_back(Arc::new(to_sequenced(p)));
                }
                after = *s;
            }
        }
        let mut state = RoomState::new(engine);
        state.last_seq = loaded.top;
        state.log = log;
        // The report and the transcript after a takeover: every event the stream still holds
        // (all of them unless the room outgrew `event_log_len`), as the old owner logged them.
        state.record = record;
        // The hall's breakout groups ran on the same node: they come over with it.
        for (index, value) in &loaded.groups {
            let (Ok(index), Some((room, opening))) = (index.parse::<u32>(), value.split_once(' '))
            else {
                continue;
            };
            let Some(room) = RoomId::parse(event, room) else {
                continue;
            };
            let opening: u32 = opening.parse().unwrap_or(0);
            match self
                .take_group(hub, event, hall, &room, index, opening)
                .await
            {
                Ok(h) => {
                    state.groups.insert(index, h);
                    state.openings = state.openings.max(opening);
                }
                Err(e) => tracing::warn!(room = %room, "breakout group not taken over: {e}"),
            }
        }
        let cancel = self.cancel.child_token();
        self.lock().owned.insert(
            hall.clone(),
            Owned {
                epoch,
                cancel: cancel.clone(),
            },
        );
        let handle = Arc::clone(hub).spawn_owned(event, state, epoch, cancel);
        // Connections the previous owner served: keep those of live nodes, let go of the
        // others (their members are marked gone unless they came back through another node).
        for (field, claims) in loaded.conns {
            let Some((node, conn)) = field.split_once('/') else {
                continue;
            };
            let Ok(conn) = conn.parse::<u64>() else {
                continue;
            };
            let Ok(claims) = serde_json::from_slice::<Claims>(&claims) else {
                continue;
            };
            let live = self.store.alive(node).await.unwrap_or(true);
            let proxy = self.new_proxy(node, conn, &claims, hall);
            let req = JoinRequest {
                sub: Subscriber {
                    conn: proxy,
                    member: claims.member.clone(),
                    role: claims.role,
                    out: self.proxy_out(node, conn),
                },
                claims,
                resume: None,
            };
            let _ = handle.tx.send(RoomMsg::Adopt { req: Box::new(req) }).await;
            if !live {
                self.drop_proxy(node, conn, &handle).await;
            }
        }
        // Only now: forwarded commands find every adopted connection in place.
        self.subscribe(&self.store.keys(hall.as_str()).inbox).await;
        tracing::info!(room = %hall, epoch, seq = loaded.top, replayed, node = %self.cfg.node, "room owned");
        Ok(())
    }

    /// Takes a breakout group over with its hall: its lease (waiting up to a lease for the
    /// dead owner's to run out), its snapshot and input log.
    pub(super) async fn take_group(
        self: &Arc<Self>,
        hub: &Arc<dyn NodeHost>,
        event: &str,
        hall: &RoomId,
        room: &RoomId,
        index: u32,
        opening: u32,
    ) -> Result<RoomHandle, ClusterError> {
        let rounds = (self.cfg.lease.as_millis() / FORWARD_RETRY.as_millis()).max(1) + 5;
        let mut epoch = None;
        for _ in 0..rounds {
            epoch = self.store.acquire(room.as_str()).await?;
            if epoch.is_some() {
                break;
            }
            tokio::time::sleep(FORWARD_RETRY).await;
        }
        let epoch = epoch.ok_or(ClusterError::Busy)?;
        let loaded = self.store.load(room.as_str()).await?;
        let Some((mut seq, snap)) = loaded.snapshot else {
            let _ = self.store.release(room.as_str()).await;
            return Err(ClusterError::Inconsistent(
                "a group without a snapshot".into(),
            ));
        };
        let mut engine: Engine = serde_json::from_slice(&snap)
            .map_err(|e| ClusterError::Inconsistent(format!("group snapshot: {e}")))?;
        for raw in &loaded.inputs {
            let logged: LoggedInput = serde_json::from_slice(raw)
                .map_err(|e| ClusterError::Inconsistent(format!("group input log: {e}")))?;
            seq += engine
                .handle(logged.now, Input::from(logged.input))
                .events
                .len() as u64;
        }
        if seq != loaded.top {
            let _ = self.store.release(room.as_str()).await;
            return Err(ClusterError::Inconsistent(format!(
                "group replay ends at seq {seq}, the stream at {}",
                loaded.top
            )));
        }
        let mut state = RoomState::new(engine);
        state.last_seq = loaded.top;
        let from = loaded.top.saturating_sub(self.cfg.log_len as u64);
        if let Ok(gap) = self
            .store
            .since(room.as_str(), from, self.cfg.log_len)
            .await
        {
            let payloads: Vec<_> = gap
                .entries
                .iter()
                .filter_map(|(_, b)| decode_event(b))
                .collect();
            state.record = payloads.iter().filter_map(to_logged).collect();
            if gap.complete {
                state.log = payloads
                    .into_iter()
                    .map(|p| Arc::new(to_sequenced(p)))
                    .collect();
            }
        }
        let lease = self.cancel.child_token();
        self.register_owned(room, epoch, lease.clone());
        tracing::info!(room = %room, epoch, seq = loaded.top, "breakout group owned");
        Ok(Arc::clone(hub)
            .spawn_group_owned(event, hall, room, index, opening, state, epoch, lease))
    }

    pub(super) fn proxy_out(&self, node: &str, conn: u64) -> Arc<Outbound> {
        self.lock()
            .proxies
            .get(&(node.to_string(), conn))
            .map(|p| Arc::clone(&p.out))
            .unwrap_or_else(|| Arc::new(Outbound::new(PROXY_QUEUE_BYTES)))
    }

    /// Creates the proxy of a connection on `node` and its forwarder.
    pub(super) fn new_proxy(
        self: &Arc<Self>,
        node: &str,
        conn: u64,
        claims: &Claims,
        hall: &RoomId,
    ) -> ConnId {
        let key = (node.to_string(), conn);
        if let Some(p) = self.lock().proxies.get(&key) {
            return p.local;
        }
        let local = ConnId(self.next_proxy.fetch_add(1, Ordering::Relaxed));
        let out = Arc::new(Outbound::new(PROXY_QUEUE_BYTES));
        let retire = self.cancel.child_token();
        self.lock().proxies.insert(
            key,
            Proxy {
                local,
                out: Arc::clone(&out),
                event: claims.event.clone(),
                hall: hall.clone(),
                claims: serde_json::to_vec(claims).unwrap_or_default(),
                retire: retire.clone(),
            },
        );
        let fwd = Forwarder {
            node: Arc::clone(self),
            channel: self.store.node_keys(node).channel,
            conn,
        };
        self.tracker.spawn(fwd.run(out, retire));
        local
    }

    /// The connection is gone (left, or its node died): out of the room and the registry.
    pub(super) async fn drop_proxy(&self, node: &str, conn: u64, hall: &RoomHandle) {
        let p = self.lock().proxies.remove(&(node.to_string(), conn));
        let Some(p) = p else { return };
        let _ = tokio::time::timeout(
            Duration::from_secs(2),
            hall.tx.send(RoomMsg::Leave { conn: p.local }),
        )
        .await;
        p.retire.cancel();
        let field = format!("{node}/{conn}");
        if let Err(e) = self.store.del_conn(p.hall.as_str(), &field).await {
            tracing::debug!("cannot drop a connection record: {e}");
        }
    }

    pub(super) async fn reply_to(&self, node: &str, msg: &ToNode) {
        let body = serde_json::to_vec(msg).unwrap_or_default();
        if let Err(e) = self
            .store
            .publish(&self.store.node_keys(node).channel, &body)
            .await
        {
            tracing::warn!(node, "cannot reply: {e}");
        }
    }

    /// A forwarded message for a room this node owns.
    pub(super) fn to_owner(self: &Arc<Self>, hub: &Arc<dyn NodeHost>, msg: ToOwner) {
        let hub = Arc::clone(hub);
        let this = Arc::clone(self);
        match msg {
            ToOwner::Join {
                node,
                conn,
                claims,
                resume,
            } => {
                let hall = RoomId::hall(&claims.event);
                let Some(handle) = hub.live_room(&claims.event, &hall) else {
                    let m = ToNode::Joined {
                        conn,
                        outcome: JoinOutcome::Unavailable,
                    };
                    self.tracker
                        .spawn(async move { this.reply_to(&node, &m).await });
                    return;
                };
                let local = self.new_proxy(&node, conn, &claims, &hall);
                let out = self.proxy_out(&node, conn);
                let (reply, rx) = oneshot::channel();
                let req = JoinRequest {
                    sub: Subscriber {
                        conn: local,
                        member: claims.member.clone(),
                        role: claims.role,
                        out: Arc::clone(&out),
                    },
                    claims: claims.clone(),
                    resume,
                };
                let sent = handle.tx.try_send(RoomMsg::Join {
                    req: Box::new(req),
                    reply,
                });
                let sent = sent.is_ok();
                self.tracker.spawn(async move {
                    let res = if sent { rx.await.ok() } else { None };
                    match res {
                        Some(Ok(r)) => {
                            let m = ToNode::Joined {
                                conn,
                                outcome: JoinOutcome::Ok {
                                    seq: r.seq,
                                    recovered: r.recovered,
                                },
                            };
                            // After the welcome and snapshot, in the same queue.
                            let _ = out.push_forced(control(&m));
                            let field = format!("{node}/{conn}");
                            let body = serde_json::to_vec(&claims).unwrap_or_default();
                            if let Err(e) = this.store.put_conn(hall.as_str(), &field, &body).await
                            {
                                tracing::warn!("cannot record a connection: {e}");
                            }
                        }
                        other => {
                            let outcome = match other {
                                Some(Err(rej)) => JoinOutcome::Refused {
                                    code: rej.code,
                                    message: rej.message,
                                },
                                _ => JoinOutcome::Unavailable,
                            };
                            if let Some(p) = this.lock().proxies.remove(&(node.clone(), conn)) {
                                p.retire.cancel();
                            }
                            this.reply_to(&node, &ToNode::Joined { conn, outcome })
                                .await;
                        }
                    }
                });
            }
            ToOwner::Cmd {
                node,
                conn,
                room,
                id,
                command,
            } => {
                let found = self
                    .lock()
                    .proxies
                    .get(&(node.clone(), conn))
                    .map(|p| (p.local, Arc::clone(&p.out), p.event.clone()));
                let Some((local, out, event)) = found else {
                    // This owner never saw the connection join (it took over without the
                    // record): the client reconnects and resumes.
                    let frames = vec![ServerMsg::error(
                        id,
                        ErrorCode::Unavailable,
                        "the room moved to another server; reconnect to resume",
                    )
                    .to_json()];
                    self.tracker.spawn(async move {
                        this.reply_to(&node, &ToNode::Frames { conn, frames }).await;
                        this.reply_to(
                            &node,
                            &ToNode::Done {
                                conn,
                                refused: Some(ErrorCode::Unavailable.into()),
                            },
                        )
                        .await;
                        this.reply_to(
                            &node,
                            &ToNode::Close {
                                conn,
                                code: CloseReason::Unavailable.code(),
                                flush: true,
                            },
                        )
                        .await;
                    });
                    return;
                };
                let target = RoomId::parse(&event, &room).and_then(|r| hub.live_room(&event, &r));
                let refuse = |code: ErrorCode, text: &str| {
                    let _ = out.push(Utf8Bytes::from(
                        ServerMsg::error(id.clone(), code, text).to_json(),
                    ));
                    let _ = out.push_forced(control(&ToNode::Done {
                        conn,
                        refused: Some(code.into()),
                    }));
                };
                let Some(target) = target else {
                    refuse(
                        ErrorCode::UnknownRoom,
                        "that room has ended or does not exist",
                    );
                    return;
                };
                let (reply, rx) = oneshot::channel();
                let sent = target.tx.try_send(RoomMsg::Command {
                    conn: local,
                    id: id.clone(),
                    command,
                    out: Arc::clone(&out),
                    reply,
                });
                if sent.is_err() {
                    refuse(ErrorCode::Unavailable, "the room is busy; retry shortly");
                    return;
                }
                self.tracker.spawn(async move {
                    let refused = match rx.await {
                        Ok(Ok(())) => None,
                        Ok(Err(refusal)) => Some(refusal.code),
                        Err(_) => {
                            let _ = out.push(Utf8Bytes::from(
                                ServerMsg::error(id, ErrorCode::Unavailable, "the room is closed")
                                    .to_json(),
                            ));
                            Some(ErrorCode::Unavailable.into())
                        }
                    };
                    let _ = out.push_forced(control(&ToNode::Done { conn, refused }));
                });
            }
            ToOwner::DropIn {
                node,
                conn,
                room,
                id,
                join,
            } => {
                let found = self
                    .lock()
                    .proxies
                    .get(&(node, conn))
                    .map(|p| (p.local, p.event.clone(), p.hall.clone()));
                let Some((local, event, hall)) = found else {
                    return;
                };
                let Some(room) = RoomId::parse(&event, &room) else {
                    return;
                };
                if let Some(h) = hub.live_room(&event, &hall) {
                    let _ = h.tx.try_send(RoomMsg::DropIn {
                        conn: local,
                        id,
                        room,
                        join,
                    });
                }
            }
            ToOwner::Leave { node, conn } => {
                let hall = self
                    .lock()
                    .proxies
                    .get(&(node.clone(), conn))
                    .map(|p| (p.event.clone(), p.hall.clone()));
                let Some((event, hall)) = hall else { return };
                let Some(h) = hub.live_room(&event, &hall) else {
                    return;
                };
                self.tracker
                    .spawn(async move { this.drop_proxy(&node, conn, &h).await });
            }
            ToOwner::End { node, req, event } => {
                self.tracker.spawn(async move {
                    let _ = hub.end_local(event).await;
                    this.reply_to(&node, &ToNode::Reply { req, body: None })
                        .await;
                });
            }
            ToOwner::Summary { node, req, event } => {
                self.tracker.spawn(async move {
                    let body = hub
                        .summary(event)
                        .await
                        .and_then(|s| serde_json::to_value(s).ok());
                    this.reply_to(&node, &ToNode::Reply { req, body }).await;
                });
            }
        }
    }

    /// The actor of an owned room stopped: forget it, stop listening to its inbox, retire
    /// its proxies (their connections stay open on their nodes and reach the next owner).
    pub async fn room_stopped(&self, room: &RoomId, epoch: u64, release: bool) {
        let mine = {
            let mut st = self.lock();
            let mine = st.owned.get(room).is_some_and(|o| o.epoch == epoch);
            if mine {
                st.owned.remove(room);
                let keys: Vec<(String, u64)> = st
                    .proxies
                    .iter()
                    .filter(|(_, p)| p.hall == *room)
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in keys {
                    if let Some(p) = st.proxies.remove(&k) {
                        p.retire.cancel();
                    }
                }
            }
            mine
        };
        if mine {
            self.unsubscribe(&self.store.keys(room.as_str()).inbox)
                .await;
        }
        if release {
            if let Err(e) = self.store.release(room.as_str()).await {
                tracing::warn!(room = %room, "cannot release the lease: {e}");
            }
        }
    }

    /// The room was put back into a Redis that had lost it, under a new epoch: so are the
    /// records of the connections it serves.
    pub fn reowned(&self, room: &RoomId, epoch: u64) {
        let records: Vec<(String, Vec<u8>)> = {
            let mut st = self.lock();
            if let Some(o) = st.owned.get_mut(room) {
                o.epoch = epoch;
            }
            st.proxies
                .iter()
                .filter(|(_, p)| p.hall == *room)
                .map(|((n, c), p)| (format!("{n}/{c}"), p.claims.clone()))
                .collect()
        };
        let store = self.store.clone();
        let room = room.to_string();
        self.tracker.spawn(async move {
            for (field, claims) in records {
                if let Err(e) = store.put_conn(&room, &field, &claims).await {
                    tracing::warn!("cannot restore a connection record: {e}");
                }
            }
        });
    }

    /// Registers a room whose lease the actor took itself (a breakout group).
    pub fn register_owned(&self, room: &RoomId, epoch: u64, cancel: CancellationToken) {
        self.lock()
            .owned
            .insert(room.clone(), Owned { epoch, cancel });
    }

    /// Connections of nodes whose liveness key expired leave their rooms. A key must stay
    /// missing for a full lease before the node counts as dead: a Redis that restarted empty
    /// has lost every key, and live nodes put theirs back within a third of a lease.
    pub(super) async fn sweep_dead_nodes(
        &self,
        hub: &Arc<dyn NodeHost>,
        missing: &mut HashMap<String, Instant>,
    ) {
        let nodes: BTreeSet<String> = self
            .lock()
            .proxies
            .keys()
            .map(|(n, _)| n.clone())
            .filter(|n| *n != self.cfg.node)
            .collect();
        missing.retain(|n, _| nodes.contains(n));
        for node in nodes {
            if self.store.alive(&node).await.unwrap_or(true) {
                missing.remove(&node);
                continue;
            }
            let now = self.clock.instant();
            let since = *missing.entry(node.clone()).or_insert(now);
            if now - since < self.cfg.lease {
                continue;
            }
            missing.remove(&node);
            tracing::info!(node, "node is gone; its connections leave");
            let gone: Vec<(u64, String, RoomId)> = self
                .lock()
                .proxies
                .iter()
                .filter(|((n, _), _)| *n == node)
                .map(|((_, c), p)| (*c, p.event.clone(), p.hall.clone()))
                .collect();
            for (conn, event, hall) in gone {
                if let Some(h) = hub.live_room(&event, &hall) {
                    self.drop_proxy(&node, conn, &h).await;
                }
            }
        }
    }
}

/// Publishes what a proxy's queue receives on its connection's node channel, in order.
struct Forwarder {
    node: Arc<ClusterNode>,
    channel: String,
    conn: u64,
}

impl Forwarder {
    async fn run(self, out: Arc<Outbound>, retire: CancellationToken) {
        loop {
            // What is already queued (a session's closing frames) still goes out; a retired
            // proxy then stops without telling the connection anything.
            let next = tokio::select! {
                biased;
                n = out.next() => n,
                () = retire.cancelled() => return,
            };
            match next {
                Next::Send(msgs) => {
                    let mut frames = Vec::new();
                    for m in msgs {
                        let Message::Text(t) = m else { continue };
                        if let Some(json) = t.as_str().strip_prefix(CONTROL_MARK) {
                            self.flush(&mut frames).await;
                            match serde_json::from_str::<ToNode>(json) {
                                Ok(c) => self.send(&self.with_conn(c)).await,
                                Err(e) => tracing::warn!("bad control message: {e}"),
                            }
                        } else {
                            frames.push(t.as_str().to_string());
                        }
                    }
                    self.flush(&mut frames).await;
                }
                Next::Close(reason) => {
                    self.send(&ToNode::Close {
                        conn: self.conn,
                        code: reason.code(),
                        flush: true,
                    })
                    .await;
                    return;
                }
            }
        }
    }

    fn with_conn(&self, c: ToNode) -> ToNode {
        let conn = self.conn;
        match c {
            ToNode::Sub { room, after, .. } => ToNode::Sub { conn, room, after },
            ToNode::Unsub { room, .. } => ToNode::Unsub { conn, room },
            ToNode::Joined { outcome, .. } => ToNode::Joined { conn, outcome },
            ToNode::Done { refused, .. } => ToNode::Done { conn, refused },
            ToNode::Close { code, flush, .. } => ToNode::Close { conn, code, flush },
            ToNode::Frames { frames, .. } => ToNode::Frames { conn, frames },
            other => other,
        }
    }

    async fn flush(&self, frames: &mut Vec<String>) {
        if frames.is_empty() {
            return;
        }
        let msg = ToNode::Frames {
            conn: self.conn,
            frames: std::mem::take(frames),
        };
        self.send(&msg).await;
    }

    async fn send(&self, msg: &ToNode) {
        let body = serde_json::to_vec(msg).unwrap_or_default();
        if let Err(e) = self.node.store.publish(&self.channel, &body).await {
            tracing::warn!(conn = self.conn, "cannot forward frames: {e}");
        }
    }
}

/// A stored event back in the typed form the report and the transcript read: the frame's
/// `at` and `event` (the wire form of `EventKind`), with the payload's audience.
fn to_logged(p: &crate::cluster::msg::EventPayload) -> Option<crate::record::Logged> {
    #[derive(serde::Deserialize)]
    struct Frame {
        at: crate::time::Millis,
        event: crate::engine::event::EventKind,
    }
    let f: Frame = serde_json::from_str(&p.frame).ok()?;
    Some(crate::record::Logged {
        seq: p.seq,
        event: crate::engine::event::Event {
            at: f.at,
            audience: p.audience.clone(),
            kind: f.event,
        },
    })
}

/// The room actors' view of this node: their leases.
impl crate::room::Ownership for ClusterNode {
    fn store(&self) -> &Store {
        &self.store
    }

    fn register_owned(&self, room: &RoomId, epoch: u64, cancel: CancellationToken) {
        ClusterNode::register_owned(self, room, epoch, cancel);
    }

    fn room_stopped<'a>(
        &'a self,
        room: &'a RoomId,
        epoch: u64,
        release: bool,
    ) -> crate::room::host::BoxFuture<'a, ()> {
        Box::pin(ClusterNode::room_stopped(self, room, epoch, release))
    }

    fn reowned(&self, room: &RoomId, epoch: u64) {
        ClusterNode::reowned(self, room, epoch);
    }
}
