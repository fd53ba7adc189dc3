//! Single node: the journal is the store of record. A new event's metadata is stored before
//! the API answers 201, and at start every stored event is brought back.

use super::*;

impl Hub {
    /// Queues the event's metadata for the journal; the returned ack resolves once stored.
    pub fn queue_meta(&self, event: &str) -> Option<Ack> {
        let meta = self.meta_bytes(event)?;
        Some(self.ctx.journal.put_event(event, meta))
    }

    /// Makes a new event durable before the API answers 201; when the journal cannot store
    /// it the event is forgotten again and the caller gets `unavailable`.
    pub async fn persist_meta(&self, event: &str) -> Result<(), HubError> {
        let Some(ack) = self.queue_meta(event) else {
            return Err(HubError::UnknownEvent(event.to_string()));
        };
        if let Err(e) = journal::wait(ack).await {
            tracing::error!(event, "cannot store the event: {e}");
            self.purge(event);
            return Err(HubError::Unavailable);
        }
        self.share_meta_now(event).await
    }

    /// Single node, at start: brings back every event the journal holds. A running event's
    /// hall is rebuilt (snapshot + inputs through the engine, checked against the last stored
    /// event) and parked, so its first join wakes it and its timers fire at their stored
    /// deadlines; an ended event keeps its final state for the report until its retention
    /// runs out. Fails on a room whose replay does not match what is stored.
    pub fn recover(&self) -> Result<usize, String> {
        let journal = Arc::clone(&self.ctx.journal);
        let metas = journal.events().map_err(|e| e.to_string())?;
        let mut n = 0;
        for bytes in metas {
            let meta: Meta = serde_json::from_slice(&bytes)
                .map_err(|e| format!("stored event metadata: {e}"))?;
            let event = meta.info.id.clone();
            let Some(protocol) = self.library.get(&meta.info.protocol) else {
                tracing::error!(event, protocol = %meta.info.protocol,
                    "a stored event's protocol is not in the library; it is not served");
                continue;
            };
            let hall = RoomId::hall(&event);
            let stored = journal
                .load_room(hall.as_str())
                .map_err(|e| e.to_string())?;
            let seed = meta.seed;
            let fresh = || Some(Engine::new(Arc::clone(&protocol), self.engine_config(seed)));
            let state = crate::room::recover::rebuild(&hall, &stored, fresh, self.ctx.log_len)
                .map_err(|e| format!("room {hall}: {e}"))?;
            // Group numbers are never reused: continue after the highest stored one.
            let next_group = journal
                .rooms(&event)
                .map_err(|e| e.to_string())?
                .iter()
                .filter_map(|r| {
                    r.strip_prefix(&format!("{event}/group-"))?
                        .parse::<u32>()
                        .ok()
                })
                .max()
                .map_or(1, |m| m.saturating_add(1));
            let mut info = meta.info;
            let ended = info.ended || state.engine.session() == Session::Ended;
            let slot = if ended {
                let at = info
                    .ended_at
                    .or_else(|| state.record.last().map(|l| l.event.at))
                    .unwrap_or_else(|| self.ctx.clock.now());
                info.ended = true;
                info.ended_at = Some(at);
                info.purge_at = Some(at + info.retention_secs.saturating_mul(1000));
                Slot::Ended(Arc::new(state))
            } else if stored.events.is_empty() && stored.snapshot.is_none() {
                Slot::Empty
            } else {
                Slot::Parked(Box::new(state))
            };
            let ended_at = info.ended_at;
            self.lock().insert(
                event.clone(),
                Entry {
                    info,
                    protocol,
                    seed,
                    slot,
                    groups: BTreeMap::new(),
                    next_group,
                    shared: false,
                },
            );
            if let (true, Some(at)) = (ended, ended_at) {
                self.schedule_purge(&event, at);
            }
            tracing::info!(
                event,
                seq = stored.top(),
                ended,
                "event recovered from the journal"
            );
            n += 1;
        }
        Ok(n)
    }
}
