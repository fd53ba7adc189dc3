//! Retention (issue #8): an ended event's data is purged when its retention runs out, or at
//! once on the organizer's delete (in cluster mode every Redis key of the event too).

use super::*;

impl Hub {
    /// Purges `event` when its retention, counted from `ended_at`, runs out (unless it is
    /// gone or deleted before). The wait ends early on shutdown: the data dies with the
    /// process anyway (and in cluster mode Redis expires it).
    pub(super) fn schedule_purge(&self, event: &str, ended_at: Millis) {
        let Some(purge_at) = self.lock().get(event).and_then(|e| e.info.purge_at) else {
            return;
        };
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        let wait = Duration::from_millis(purge_at.0.saturating_sub(self.ctx.clock.now().0));
        let (me, event, cancel) = (self.me.clone(), event.to_string(), self.ctx.cancel.clone());
        self.tracker.spawn(async move {
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = cancel.cancelled() => return,
            }
            let Some(hub) = me.upgrade() else { return };
            let due = hub.lock().get(&event).is_some_and(|e| {
                e.info.ended_at == Some(ended_at) || e.info.purge_at == Some(purge_at)
            });
            if due {
                tracing::info!(event, "retention ran out; the event's data is purged");
                hub.purge(&event);
            }
        });
    }

    /// Forgets everything this node holds about `event`. Returns whether it knew it.
    pub(super) fn purge(&self, event: &str) -> bool {
        let entry = self.lock().remove(event);
        drop(self.ctx.journal.delete_event(event));
        // Dropping the entry drops its room handles: an idle actor finds no entry to park
        // in and stops, and gateways find no room.
        entry.is_some()
    }

    /// Deletes an event on the organizer's request: ends it if it runs (members get the
    /// `session_ended` event and close 1000), then removes every trace of it — here, and in
    /// cluster mode every Redis key of the event (other nodes drop their copies when they
    /// find the registry entry gone).
    pub async fn delete_event(self: &Arc<Self>, event: &str) -> Result<(), HubError> {
        if self.event(event).is_none() {
            return Err(HubError::UnknownEvent(event.to_string()));
        }
        match self.end_event(event).await {
            Ok(()) | Err(HubError::Ended | HubError::UnknownEvent(_)) => {}
            Err(e) => return Err(e),
        }
        if let Some(node) = &self.ctx.cluster {
            let store = node.store();
            let mut clean_rounds = 0;
            for _ in 0..DELETE_ROUNDS {
                let removed = store
                    .delete_event(event)
                    .await
                    .map_err(|_| HubError::Unavailable)?;
                clean_rounds = if removed == 0 { clean_rounds + 1 } else { 0 };
                if clean_rounds == 2 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        // Every row of the event, before the organizer hears it is gone.
        journal::wait(self.ctx.journal.delete_event(event))
            .await
            .map_err(|_| HubError::Unavailable)?;
        self.purge(event);
        tracing::info!(event, "event deleted by the organizer");
        Ok(())
    }
}
