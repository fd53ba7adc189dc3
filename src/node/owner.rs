//! The owner's side: the proxies that stand for connections on any node and their
//! forwarders, and letting go of rooms and of the connections of dead nodes. Taking a room
//! over is `takeover.rs`; the messages forwarded to an owner, `forward.rs`.

use super::*;
use crate::room::ConnMsg;

impl ClusterNode {
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
            hall.tx
                .send(RoomMsg::Conn(ConnMsg::Leave { conn: p.local })),
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
                        match m {
                            Queued::Control(c) => {
                                self.flush(&mut frames).await;
                                self.send(&self.with_conn(*c)).await;
                            }
                            Queued::Ws(Message::Text(t)) => frames.push(t.as_str().to_string()),
                            Queued::Ws(_) => {}
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
