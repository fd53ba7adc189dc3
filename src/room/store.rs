//! The room's one seam to its store of record, whatever the mode: nothing in memory
//! (`--ephemeral`), the SQLite journal (a single node, `journaled.rs`) or Redis (cluster
//! mode, on the room's owner, `owner.rs`). The actor has one code path:
//!
//! 1. **stage**: feed the engine and encode what it emitted, numbered after everything
//!    already staged; nobody hears of it yet;
//! 2. **commit**: make a run of staged inputs durable; several inputs of one room share one
//!    commit (`batch.rs`), in order;
//! 3. **publish** the events of each input the store accepted, in order; answer the rest
//!    `unavailable` and rebuild the engine from what the store holds ([`Undo`]), so no
//!    engine copy is taken per input.
//!
//! [`Undo`]: crate::room::undo::Undo

use crate::cluster::msg::{LoggedInput, WireInput};
use crate::engine::event::Event;
use crate::engine::reject::Rejection;
use crate::engine::Input;
use crate::metrics::Metrics;
use crate::room::actor::RoomActor;
use crate::room::undo::Undo;
use crate::time::Millis;
use crate::wire::{self, Refusal};

/// One input the engine took, waiting for its store.
#[derive(Debug)]
pub(super) struct Staged {
    /// The input as `LoggedInput` JSON (empty when the store keeps nothing).
    pub logged: Vec<u8>,
    /// The sequence number of its first event.
    pub first: u64,
    pub events: Vec<Event>,
    /// Each event's frame, encoded once with its sequence number.
    pub frames: Vec<String>,
}

/// What the store said of a run of staged inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stored {
    /// Every input is durable.
    All,
    /// Only the first `n` are durable; the rest are not stored (and never will be).
    Prefix(usize),
}

impl RoomActor {
    /// Whether inputs wait for a store before anyone hears of them.
    pub(super) fn stores(&self) -> bool {
        self.epoch.is_some() || self.ctx.journal.durable()
    }

    /// Feeds the engine one input, numbered after `top` (the last staged sequence number).
    /// `None` when there is nothing to store: the engine refused without firing a timer,
    /// which changed nothing.
    pub(super) fn stage(
        &mut self,
        now: Millis,
        input: Input,
        top: u64,
    ) -> (Option<Staged>, Result<(), Rejection>) {
        let logged = if self.stores() {
            serde_json::to_vec(&LoggedInput {
                now,
                input: WireInput::from(&input),
            })
            .unwrap_or_default()
        } else {
            Vec::new()
        };
        let handled = self.state.engine.handle(now, input);
        if handled.events.is_empty() && handled.result.is_err() {
            return (None, handled.result);
        }
        let first = top + 1;
        let frames = handled
            .events
            .iter()
            .enumerate()
            .map(|(i, ev)| wire::encode_event(self.id.as_str(), first + i as u64, ev.at, &ev.kind))
            .collect();
        let staged = Staged {
            logged,
            first,
            events: handled.events,
            frames,
        };
        (Some(staged), handled.result)
    }

    /// Makes `staged` durable in the room's store, in order. Inputs past the first refused
    /// one are not stored either; the engine is then rebuilt from what the store holds.
    pub(super) async fn commit(&mut self, staged: &[&Staged]) -> Stored {
        if staged.is_empty() {
            return Stored::All;
        }
        let stores = self.stores();
        let stored = if self.lost {
            Stored::Prefix(0)
        } else if let (Some(node), Some(epoch)) = (self.ctx.cluster.clone(), self.epoch) {
            self.commit_owned(node, epoch, staged).await
        } else if self.ctx.journal.durable() {
            self.commit_journaled(staged).await
        } else {
            Stored::All
        };
        let n = match stored {
            Stored::All => staged.len(),
            Stored::Prefix(n) => n,
        };
        if stores {
            Metrics::inc(&self.ctx.metrics.store_commits);
            self.ctx
                .metrics
                .store_inputs
                .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        }
        for s in &staged[..n] {
            self.state.undo.stored(s.logged.clone());
        }
        self.since_snapshot += n;
        if n < staged.len() && !self.lost {
            self.rollback(staged[..n].iter().map(|s| s.events.len() as u64).sum());
        }
        stored
    }

    /// Publishes what one stored input emitted.
    pub(super) fn publish(&mut self, staged: Staged) {
        debug_assert_eq!(staged.first, self.state.last_seq + 1);
        self.emit(staged.events, Some(staged.frames));
    }

    /// A write was refused: the engine goes back to what the store holds, which must end at
    /// the last event published plus `published_next` about to be.
    fn rollback(&mut self, published_next: u64) {
        let expected = self.state.last_seq + published_next;
        match self.state.undo.rebuild() {
            Ok((engine, seq)) if seq == expected => self.state.engine = engine,
            Ok((_, seq)) => {
                tracing::error!(room = %self.id, seq, expected,
                    "the store does not match the room; stopping it");
                self.lost = true;
            }
            Err(e) => {
                tracing::error!(room = %self.id, "cannot rebuild the room ({e}); stopping it");
                self.lost = true;
            }
        }
    }

    /// Makes sure the room knows what its store holds before its first input: the engine it
    /// starts with is stored (fresh, parked, or rebuilt from the store), so it is the base.
    pub(super) fn know_the_store(&mut self) {
        if !self.stores() || self.state.undo.is_known() {
            return;
        }
        match serde_json::to_vec(&self.state.engine) {
            Ok(bytes) => self.state.undo = Undo::at(self.state.last_seq, bytes),
            Err(e) => tracing::error!(room = %self.id, "cannot serialize the engine: {e}"),
        }
    }

    /// A snapshot of the engine at the last published event was stored.
    pub(super) fn snapshot_stored(&mut self, engine: Vec<u8>) {
        self.since_snapshot = 0;
        self.state.undo = Undo::at(self.state.last_seq, engine);
    }

    /// Stages, stores and publishes one input; `unavailable` when it could not be stored.
    pub(super) async fn apply_input(&mut self, input: Input) -> Result<(), Refusal> {
        self.unavailable = false;
        if self.lost {
            self.unavailable = true;
            return Err(Refusal::unavailable("the room stopped"));
        }
        let now = self.ctx.clock.now();
        let top = self.state.last_seq;
        let (staged, result) = self.stage(now, input, top);
        if let Some(staged) = staged {
            if self.commit(&[&staged]).await != Stored::All {
                self.unavailable = true;
                return Err(Refusal::unavailable("not stored"));
            }
            self.publish(staged);
            self.snapshot_if_due().await;
        }
        result.map_err(Refusal::from)
    }

    /// Stores a snapshot when enough inputs went by since the last one.
    pub(super) async fn snapshot_if_due(&mut self) {
        if self.stores() && self.snapshot_due() {
            let _ = self.save_snapshot().await;
        }
    }
}
