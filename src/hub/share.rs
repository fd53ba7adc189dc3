//! Cluster mode: the registry shared through Redis. Each event's metadata sits next to its
//! hall, written when the event is created or ends and loaded by any node that meets the
//! event; a node drops its copy when the shared registry no longer has the event.

use super::*;

impl Hub {
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

    /// Cluster mode: writes the event's metadata to the shared registry and waits for Redis,
    /// so that every node finds the event before its creator hears 201 (an invite minted on
    /// another node right after reads it there, `verify_shared`). A Redis that cannot take it
    /// undoes the creation and answers `unavailable`: an event no other node could serve is
    /// not created. (`create_event` also shares it in the background; the write is the same.)
    pub(super) async fn share_meta_now(&self, event: &str) -> Result<(), HubError> {
        let (Some(node), Some(meta)) = (&self.ctx.cluster, self.meta_bytes(event)) else {
            return Ok(());
        };
        let hall = RoomId::hall(event).to_string();
        if let Err(e) = node.store().put_meta(&hall, &meta).await {
            tracing::error!(hall, "cannot share the event's metadata: {e}");
            self.purge(event);
            return Err(HubError::Unavailable);
        }
        if let Some(entry) = self.lock().get_mut(event) {
            entry.shared = true;
        }
        Ok(())
    }

    /// Cluster mode: writes the event's metadata to the shared registry (in the background).
    pub(super) fn share_meta(&self, event: &str) {
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
            // Not heard of yet: another node may have created it a moment ago and its
            // announcement is still on the way. The shared registry is the answer, not the
            // gossip (`POST /api/events` on one node, an invite on another right after).
            None => {
                return match node.store().get_meta(RoomId::hall(event).as_str()).await {
                    Ok(Some(meta)) => self.load_meta(&meta) && self.event(event).is_some(),
                    _ => false,
                };
            }
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
    pub(super) fn start_sweep(&self) {
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
}
