//! The room actor on a single node with a durable journal: each input and its events are
//! appended (group-committed by the journal's writer) and awaited before anyone hears of
//! them; a refused append answers `unavailable` and the engine is rebuilt from the journal,
//! which holds exactly what was stored. No engine copy is taken per input.

use crate::cluster::msg::{LoggedInput, WireInput};
use crate::engine::Input;
use crate::journal::{self, Append, Snapshot};
use crate::room::actor::RoomActor;
use crate::room::recover;
use crate::time::Millis;
use crate::wire::Refusal;

impl RoomActor {
    pub(super) async fn apply_journaled(
        &mut self,
        now: Millis,
        input: Input,
    ) -> Result<(), Refusal> {
        self.unavailable = false;
        if self.lost {
            self.unavailable = true;
            return Err(Refusal::unavailable("the room stopped"));
        }
        let logged = LoggedInput {
            now,
            input: WireInput::from(&input),
        };
        let handled = self.state.engine.handle(now, input);
        // A refusal that fired no timer changed nothing: nothing to make durable.
        if handled.events.is_empty() && handled.result.is_err() {
            return handled.result.map_err(Refusal::from);
        }
        let events = handled
            .events
            .iter()
            .map(|e| serde_json::to_vec(e).unwrap_or_default())
            .collect();
        let append = Append {
            event: self.event.clone(),
            room: self.id.to_string(),
            first_seq: self.state.last_seq + 1,
            input: serde_json::to_vec(&logged).unwrap_or_default(),
            events,
        };
        if let Err(e) = journal::wait(self.ctx.journal.append(append)).await {
            tracing::error!(room = %self.id, "the journal did not store an input: {e}");
            self.unavailable = true;
            self.undo_from_journal();
            return Err(Refusal::unavailable("not stored"));
        }
        self.emit(handled.events, None);
        self.since_snapshot += 1;
        if self.snapshot_due() {
            self.save_journal_snapshot().await;
        }
        handled.result.map_err(Refusal::from)
    }

    /// The input was applied but not stored: the engine goes back to what the journal holds
    /// (its snapshot and inputs), which must end at the last event anyone heard of.
    fn undo_from_journal(&mut self) {
        let hub = std::sync::Arc::clone(&self.hub);
        let event = self.event.clone();
        let rebuilt = self
            .ctx
            .journal
            .load_room(self.id.as_str())
            .map_err(|e| e.to_string())
            .and_then(|stored| recover::engine_of(&stored, || hub.fresh_engine(&event)));
        match rebuilt {
            Ok((engine, seq)) if seq == self.state.last_seq => self.state.engine = engine,
            Ok((_, seq)) => {
                tracing::error!(room = %self.id, seq, last = self.state.last_seq,
                    "the journal does not match the room; stopping it");
                self.lost = true;
            }
            Err(e) => {
                tracing::error!(room = %self.id, "cannot read the journal back ({e}); stopping the room");
                self.lost = true;
            }
        }
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
            engine,
        };
        match journal::wait(self.ctx.journal.snapshot(snap)).await {
            Ok(()) => {
                self.since_snapshot = 0;
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
