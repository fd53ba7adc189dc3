//! Ending an event: the organizer's end (through the owner in cluster mode), and the final
//! state a hall or a group leaves behind for the report and the transcript.

use super::*;
use crate::room::AdminMsg;

impl Hub {
    /// Ends an event (organizer API). Idempotent.
    pub async fn end_event(self: &Arc<Self>, event: &str) -> Result<(), HubError> {
        if let Some(node) = &self.cluster {
            return node
                .end_event(&(Arc::clone(self) as Arc<dyn NodeHost>), event)
                .await
                .map_err(|_| HubError::Unavailable);
        }
        self.end_local(event).await
    }

    /// Ends an event whose hall runs (or may be started) on this node.
    pub async fn end_local(self: &Arc<Self>, event: &str) -> Result<(), HubError> {
        let handle = match self.room(event) {
            Ok(h) => h,
            Err(HubError::Ended) => return Ok(()),
            Err(e) => return Err(e),
        };
        let (reply, rx) = oneshot::channel();
        handle
            .tx
            .send(RoomMsg::Admin(AdminMsg::End { reply }))
            .await
            .map_err(|_| HubError::Unavailable)?;
        rx.await.map_err(|_| HubError::Unavailable)?;
        Ok(())
    }

    /// Called by a hall whose session ended: the state stays for the report, until the
    /// event's retention runs out.
    pub(crate) fn room_ended(&self, event: &str, state: RoomState) {
        let now = self.ctx.clock.now();
        if let Some(entry) = self.lock().get_mut(event) {
            entry.info.ended = true;
            let at = *entry.info.ended_at.get_or_insert(now);
            entry.info.purge_at = Some(at + entry.info.retention_secs.saturating_mul(1000));
            entry.slot = Slot::Ended(Arc::new(state));
        }
        // The ended state is in the journal already (its inputs); this records when.
        drop(self.queue_meta(event));
        self.share_meta(event);
        self.schedule_purge(event, now);
    }

    /// Called by a group room the hall ended: the state stays for the report.
    pub(crate) fn group_ended(&self, event: &str, room: &RoomId, state: RoomState) {
        let mut map = self.lock();
        let Some(entry) = map.get_mut(event) else {
            return;
        };
        if let Some(g) = entry.groups.get_mut(room) {
            if let Group::Live { index, opening, .. } = g {
                *g = Group::Ended {
                    index: *index,
                    opening: *opening,
                    state: Arc::new(state),
                };
            }
        }
    }
}
