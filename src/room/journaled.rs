//! The room's store on a single node: the journal (SQLite by default). Each staged input is
//! queued as one append; the journal's writer group-commits whatever is queued (from this
//! room and every other) and answers each append once it is on disk. The appends of one
//! room are queued together and answered in order; the journal refuses an append that does
//! not follow the room's last stored one, so a refused append is never followed by a stored
//! one.

use crate::journal::{self, Append, Snapshot};
use crate::room::actor::RoomActor;
use crate::room::store::{Staged, Stored};

impl RoomActor {
    /// Queues every staged input, then waits for the answers in order.
    pub(super) async fn commit_journaled(&mut self, staged: &[&Staged]) -> Stored {
        let acks: Vec<_> = staged
            .iter()
            .map(|s| {
                self.ctx.journal.append(Append {
                    event: self.event.clone(),
                    room: self.id.to_string(),
                    first_seq: s.first,
                    input: s.logged.clone(),
                    events: s
                        .events
                        .iter()
                        .map(|e| serde_json::to_vec(e).unwrap_or_default())
                        .collect(),
                })
            })
            .collect();
        let mut stored = None;
        for (i, ack) in acks.into_iter().enumerate() {
            match (journal::wait(ack).await, stored) {
                (Ok(()), None) => {}
                (Err(e), None) => {
                    tracing::error!(room = %self.id, "the journal did not store an input: {e}");
                    stored = Some(i);
                }
                (Err(_), Some(_)) => {}
                (Ok(()), Some(_)) => {
                    // Stored after a refused one: the journal has a hole. Stop the room; the
                    // next join rebuilds it from whatever the journal holds.
                    tracing::error!(room = %self.id, "the journal stored an input after refusing the one before; stopping the room");
                    self.lost = true;
                }
            }
        }
        stored.map_or(Stored::All, Stored::Prefix)
    }

    /// Stores the engine and lets the journal drop the inputs before it; true when stored.
    pub(super) async fn save_journal_snapshot(&mut self) -> bool {
        if !self.ctx.journal.durable() || self.lost {
            return false;
        }
        let engine = match serde_json::to_vec(&self.state.engine) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(room = %self.id, "cannot serialize the engine: {e}");
                return false;
            }
        };
        let snap = Snapshot {
            event: self.event.clone(),
            room: self.id.to_string(),
            seq: self.state.last_seq,
            engine: engine.clone(),
        };
        match journal::wait(self.ctx.journal.snapshot(snap)).await {
            Ok(()) => {
                self.snapshot_stored(engine);
                self.state.journaled = true;
                true
            }
            Err(e) => {
                tracing::warn!(room = %self.id, "cannot store a snapshot: {e}");
                false
            }
        }
    }
}
