//! The side of the node holding connections: the room links that forward joins, commands
//! and leaves to each room's owner (taking the room over when nobody owns it), the shared
//! event registry, and requests answered by the owner.

use super::*;
use crate::room::ConnMsg;

impl ClusterNode {
    /// The handle a connection of this node uses for `room` of `hall` (a link task).
    pub fn link(
        self: &Arc<Self>,
        hub: Arc<dyn NodeHost>,
        hall: &RoomId,
        room: &RoomId,
    ) -> RoomHandle {
        let mut st = self.lock();
        if let Some(h) = st.links.get(room) {
            if !h.tx.is_closed() {
                return h.clone();
            }
        }
        let (tx, rx) = mpsc::channel(1024);
        let h = RoomHandle {
            id: room.clone(),
            tx,
        };
        st.links.insert(room.clone(), h.clone());
        drop(st);
        let link = Link {
            node: Arc::clone(self),
            hub,
            hall: hall.clone(),
            room: room.clone(),
        };
        self.tracker.spawn(link.run(rx));
        h
    }

    /// Makes sure the hub knows `event` (created on another node): loads its metadata.
    /// Also picks up that another node ended it. Redis unreachable: what this node knows.
    pub async fn ensure_event(
        &self,
        hub: &dyn NodeHost,
        event: &str,
    ) -> Result<bool, ClusterError> {
        let known = hub.knows(event);
        let hall = RoomId::hall(event);
        match self.store.get_meta(hall.as_str()).await {
            Ok(Some(meta)) => Ok(hub.load_meta(&meta) || known),
            Ok(None) => Ok(known),
            Err(e) if known => {
                tracing::debug!(event, "event registry unreachable: {e}");
                Ok(true)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Publishes a message to a room's owner, taking the room over when nobody owns it.
    pub(super) async fn forward(
        self: &Arc<Self>,
        hub: &Arc<dyn NodeHost>,
        hall: &RoomId,
        msg: &ToOwner,
    ) -> Result<(), ClusterError> {
        let body = serde_json::to_vec(msg).unwrap_or_default();
        let inbox = self.store.keys(hall.as_str()).inbox;
        for _ in 0..FORWARD_ATTEMPTS {
            if self.cancel.is_cancelled() {
                return Err(ClusterError::ShuttingDown);
            }
            if self.store.publish(&inbox, &body).await? > 0 {
                return Ok(());
            }
            match self.take_over(hub, hall).await {
                Ok(()) => continue,
                Err(ClusterError::Busy) => tokio::time::sleep(FORWARD_RETRY).await,
                Err(e) => return Err(e),
            }
        }
        Err(ClusterError::Busy)
    }

    // ---- the owner ----

    /// Ends an event through its owner (HTTP API on any node).
    pub async fn end_event(
        self: &Arc<Self>,
        hub: &Arc<dyn NodeHost>,
        event: &str,
    ) -> Result<(), ClusterError> {
        let hall = RoomId::hall(event);
        let req = self.next_req.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.lock().pending_reqs.insert(req, tx);
        let msg = ToOwner::End {
            node: self.cfg.node.clone(),
            req,
            event: event.to_string(),
        };
        let res = self.forward(hub, &hall, &msg).await;
        if let Err(e) = res {
            self.lock().pending_reqs.remove(&req);
            return Err(e);
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), rx).await;
        Ok(())
    }

    /// The hall's summary from its owner; `None` when no node runs it (it is idle) or the
    /// owner did not answer in time. Never starts the room.
    pub async fn summary(
        &self,
        event: &str,
    ) -> Result<Option<crate::wire::RoomSummary>, ClusterError> {
        let hall = RoomId::hall(event);
        let req = self.next_req.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.lock().pending_reqs.insert(req, tx);
        let msg = ToOwner::Summary {
            node: self.cfg.node.clone(),
            req,
            event: event.to_string(),
        };
        let body = serde_json::to_vec(&msg).unwrap_or_default();
        let inbox = self.store.keys(hall.as_str()).inbox;
        let sent = self.store.publish(&inbox, &body).await;
        if !matches!(sent, Ok(n) if n > 0) {
            self.lock().pending_reqs.remove(&req);
            return sent.map(|_| None).map_err(Into::into);
        }
        let answer = tokio::time::timeout(Duration::from_secs(5), rx).await;
        self.lock().pending_reqs.remove(&req);
        Ok(answer.ok().and_then(Result::ok).flatten())
    }

    /// Drops what this node holds for a connection that never joined (its hello failed).
    pub fn forget(&self, conn: ConnId) {
        let had = {
            let mut st = self.lock();
            st.pending_joins.remove(&conn.0);
            st.pending_cmds.remove(&conn.0);
            st.conns.remove(&conn.0).is_some()
        };
        if had {
            let _ = self.internal.send(Internal::ConnGone(conn.0));
        }
    }

    /// How many local connections use `hall`.
    pub(super) fn conns_in(&self, hall: &RoomId) -> usize {
        self.lock()
            .conns
            .values()
            .filter(|c| c.hall == *hall)
            .count()
    }

    /// Whether this node owns `room` right now.
    pub fn owns(&self, room: &RoomId) -> bool {
        self.lock().owned.contains_key(room)
    }
}

/// This node's side of one room: forwards its connections' messages to the room's owner
/// and, for a hall, watches the lease so the room never stays ownerless while this node
/// has members in it.
struct Link {
    node: Arc<ClusterNode>,
    /// The registry a takeover starts the room in.
    hub: Arc<dyn NodeHost>,
    hall: RoomId,
    room: RoomId,
}

impl Link {
    async fn run(self, mut rx: mpsc::Receiver<RoomMsg>) {
        let watch = self.room == self.hall;
        let every = (self.node.cfg.lease / 3).max(Duration::from_millis(100));
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut idle_rounds = 0;
        loop {
            tokio::select! {
                () = self.node.cancel.cancelled() => return,
                m = rx.recv() => match m {
                    Some(m) => self.handle(m).await,
                    None => return,
                },
                _ = tick.tick() => {
                    if self.node.conns_in(&self.hall) == 0 {
                        idle_rounds += 1;
                        if idle_rounds >= LINK_IDLE_ROUNDS && rx.is_empty() {
                            self.node.lock().links.remove(&self.room);
                            return;
                        }
                        continue;
                    }
                    idle_rounds = 0;
                    if watch && !self.node.owns(&self.hall) {
                        if let Ok(None) = self.node.store.owner(self.hall.as_str()).await {
                            match self.node.take_over(&self.hub, &self.hall).await {
                                Ok(()) | Err(ClusterError::Busy) => {}
                                Err(e) => tracing::warn!(room = %self.hall, "cannot take the room over: {e}"),
                            }
                        }
                    }
                }
            }
        }
    }

    async fn handle(&self, msg: RoomMsg) {
        let node = self.node.cfg.node.clone();
        match msg {
            RoomMsg::Conn(ConnMsg::Join { req, reply }) => {
                let JoinRequest {
                    sub,
                    claims,
                    resume,
                } = *req;
                let conn = sub.conn.0;
                {
                    let mut st = self.node.lock();
                    st.conns.insert(
                        conn,
                        LocalConn {
                            out: sub.out,
                            member: sub.member,
                            role: sub.role,
                            hall: self.hall.clone(),
                        },
                    );
                    st.pending_joins.insert(conn, reply);
                }
                let msg = ToOwner::Join {
                    node,
                    conn,
                    claims,
                    resume,
                };
                if let Err(e) = self.node.forward(&self.hub, &self.hall, &msg).await {
                    tracing::warn!(room = %self.hall, "cannot forward a join: {e}");
                    let mut st = self.node.lock();
                    st.pending_joins.remove(&conn);
                    st.conns.remove(&conn);
                }
            }
            RoomMsg::Conn(ConnMsg::Command {
                conn,
                id,
                command,
                out: _,
                reply,
            }) => {
                self.node.lock().pending_cmds.insert(conn.0, reply);
                let msg = ToOwner::Cmd {
                    node,
                    conn: conn.0,
                    room: self.room.to_string(),
                    id,
                    command,
                };
                if let Err(e) = self.node.forward(&self.hub, &self.hall, &msg).await {
                    tracing::warn!(room = %self.hall, "cannot forward a command: {e}");
                    // Dropping the reply: the gateway answers `unavailable`.
                    self.node.lock().pending_cmds.remove(&conn.0);
                }
            }
            RoomMsg::Conn(ConnMsg::DropIn {
                conn,
                id,
                room,
                join,
            }) => {
                let msg = ToOwner::DropIn {
                    node,
                    conn: conn.0,
                    room: room.to_string(),
                    id: id.clone(),
                    join,
                };
                if self
                    .node
                    .forward(&self.hub, &self.hall, &msg)
                    .await
                    .is_err()
                {
                    let out = self
                        .node
                        .lock()
                        .conns
                        .get(&conn.0)
                        .map(|c| Arc::clone(&c.out));
                    if let Some(out) = out {
                        let _ = out.push(Utf8Bytes::from(
                            ServerMsg::error(
                                id,
                                ErrorCode::Unavailable,
                                "the hall is unreachable; retry",
                            )
                            .to_json(),
                        ));
                    }
                }
            }
            RoomMsg::Conn(ConnMsg::Leave { conn }) => {
                {
                    let mut st = self.node.lock();
                    st.conns.remove(&conn.0);
                    st.pending_cmds.remove(&conn.0);
                    st.pending_joins.remove(&conn.0);
                }
                let _ = self.node.internal.send(Internal::ConnGone(conn.0));
                let msg = ToOwner::Leave { node, conn: conn.0 };
                // A leave must not be lost while Redis is away (the member would stay present):
                // retried in the background, with backoff, for a bounded time.
                if let Err(e) = self.node.forward(&self.hub, &self.hall, &msg).await {
                    tracing::debug!(room = %self.hall, "cannot forward a leave yet: {e}");
                    let node = Arc::clone(&self.node);
                    let hall = self.hall.clone();
                    let hub = Arc::clone(&self.hub);
                    self.node.tracker.spawn(async move {
                        let mut wait = BACKOFF_MIN;
                        for _ in 0..LEAVE_ATTEMPTS {
                            tokio::select! {
                                () = node.cancel.cancelled() => return,
                                () = tokio::time::sleep(wait) => {}
                            }
                            if node.forward(&hub, &hall, &msg).await.is_ok() {
                                return;
                            }
                            wait = (wait * 2).min(BACKOFF_MAX);
                        }
                        tracing::warn!(room = %hall, "a leave could not reach the room's owner");
                    });
                }
            }
            // Not served through a link; dropping the reply says `unavailable`.
            _ => {}
        }
    }
}
