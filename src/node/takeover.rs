//! Taking a room over: the hall's lease, its state rebuilt from the snapshot and the input
//! log (`rebuild`, the one replay a hall and its breakout groups share), its groups, and
//! the connections the previous owner served.

use super::*;
use crate::cluster::store::Loaded;
use crate::room::ClusterMsg;

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
        let (engine, seq) = match &loaded.snapshot {
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
        let mut state = self.rebuild(hall, &loaded, engine, seq).await?;
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
            let _ = handle
                .tx
                .send(RoomMsg::Cluster(ClusterMsg::Adopt { req: Box::new(req) }))
                .await;
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
        let Some((seq, snap)) = loaded.snapshot.as_ref() else {
            let _ = self.store.release(room.as_str()).await;
            return Err(ClusterError::Inconsistent(
                "a group without a snapshot".into(),
            ));
        };
        let rebuilt = match serde_json::from_slice::<Engine>(snap) {
            Ok(engine) => self.rebuild(room, &loaded, engine, *seq).await,
            Err(e) => Err(ClusterError::Inconsistent(format!("group snapshot: {e}"))),
        };
        let state = match rebuilt {
            Ok(state) => state,
            Err(e) => {
                let _ = self.store.release(room.as_str()).await;
                return Err(e);
            }
        };
        let lease = self.cancel.child_token();
        self.register_owned(room, epoch, lease.clone());
        tracing::info!(room = %room, epoch, seq = loaded.top, "breakout group owned");
        Ok(Arc::clone(hub)
            .spawn_group_owned(event, hall, room, index, opening, state, epoch, lease))
    }

    /// The takeover replay, for a hall and a group alike: `engine` as of `seq` (the room's
    /// snapshot, or a fresh engine at 0) runs the stored input log, which must end at the
    /// stream's top; then the recent events come back for resume (`log`: only what is
    /// contiguous up to the top) and for the report (`record`: every event the stream
    /// still holds, as the old owner logged them).
    async fn rebuild(
        &self,
        room: &RoomId,
        loaded: &Loaded,
        mut engine: Engine,
        mut seq: u64,
    ) -> Result<RoomState, ClusterError> {
        for raw in &loaded.inputs {
            let logged: LoggedInput = serde_json::from_slice(raw)
                .map_err(|e| ClusterError::Inconsistent(format!("{room}: input log: {e}")))?;
            seq += engine
                .handle(logged.now, Input::from(logged.input))
                .events
                .len() as u64;
        }
        if seq != loaded.top {
            return Err(ClusterError::Inconsistent(format!(
                "{room}: replay ends at seq {seq}, the stream at {}",
                loaded.top
            )));
        }
        let from = loaded.top.saturating_sub(self.cfg.log_len as u64);
        let mut log = VecDeque::new();
        let mut record = Vec::new();
        let mut after = from;
        while after < loaded.top {
            let gap = self.store.since(room.as_str(), after, FILL_PAGE).await?;
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
        state.record = record;
        Ok(state)
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
