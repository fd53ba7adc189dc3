//! The room actor's cluster-owner specifics: making each input durable in Redis (one fenced
//! Lua step, `Store::apply`), snapshots with trim, and putting a room back into a Redis that
//! lost it. Without `--redis` none of this runs.
//!
//! A transient Redis failure rolls the engine back (to a copy taken before the input) and
//! answers `unavailable`; a lost lease (`NotOwner`/`StaleEpoch`) stops the actor at once.

use std::sync::Arc;

use crate::cluster::msg::{self as cmsg, LoggedInput, WireInput};
use crate::cluster::store::StoreError;
use crate::engine::{Engine, Input};
use crate::room::actor::RoomActor;
use crate::room::host::Ownership;
use crate::time::Millis;
use crate::wire::{self, Refusal};

impl RoomActor {
    /// Cluster mode: stores the engine and clears the input log (fenced); true when stored.
    pub(super) async fn save_owned_snapshot(&mut self) -> bool {
        let (Some(node), Some(epoch)) = (self.ctx.cluster.clone(), self.epoch) else {
            return false;
        };
        if self.lost {
            return false;
        }
        let state = match serde_json::to_vec(&self.state.engine) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(room = %self.id, "cannot serialize the engine: {e}");
                return false;
            }
        };
        let res = node
            .store()
            .snapshot_and_trim(self.id.as_str(), epoch, self.state.last_seq, &state)
            .await;
        match res {
            Ok(()) => {
                self.since_snapshot = 0;
                true
            }
            Err(StoreError::NotOwner | StoreError::StaleEpoch) => {
                self.lost = true;
                false
            }
            Err(e) => {
                tracing::warn!(room = %self.id, "cannot store a snapshot: {e}");
                false
            }
        }
    }

    /// Cluster owner: feeds the engine, appends the input and its events to Redis (fenced by
    /// `epoch`) and publishes them once Redis has them.
    pub(super) async fn apply_owned(
        &mut self,
        node: Arc<dyn Ownership>,
        epoch: u64,
        now: Millis,
        input: Input,
    ) -> Result<(), Refusal> {
        self.unavailable = false;
        if self.lost {
            self.unavailable = true;
            return Err(Refusal::unavailable("the room moved"));
        }
        let before = self.state.engine.clone();
        let logged = LoggedInput {
            now,
            input: WireInput::from(&input),
        };
        let handled = self.state.engine.handle(now, input);
        // A refusal that fired no timer changed nothing: nothing to make durable.
        if handled.events.is_empty() && handled.result.is_err() {
            return handled.result.map_err(Refusal::from);
        }
        let first = self.state.last_seq + 1;
        let frames: Vec<String> = handled
            .events
            .iter()
            .enumerate()
            .map(|(i, ev)| wire::encode_event(self.id.as_str(), first + i as u64, ev.at, &ev.kind))
            .collect();
        let input_bytes = serde_json::to_vec(&logged).unwrap_or_default();
        let mut epoch = epoch;
        let mut attempt = 0;
        let outcome = loop {
            attempt += 1;
            let payloads: Vec<Vec<u8>> = handled
                .events
                .iter()
                .zip(&frames)
                .enumerate()
                .map(|(i, (ev, f))| cmsg::encode_event(first + i as u64, epoch, &ev.audience, f))
                .collect();
            let res = node
                .store()
                .apply(self.id.as_str(), epoch, first, &input_bytes, &payloads)
                .await;
            match res {
                Ok(_) => break Ok(()),
                Err(StoreError::NotOwner) if attempt == 1 => {
                    // Redis may have lost everything (restarted without persistence): put
                    // the room back from memory, as it was before this input, and retry.
                    match self.reseed(&node, epoch, &before).await {
                        Some(e) => epoch = e,
                        None => break Err(true),
                    }
                }
                Err(
                    StoreError::NotOwner | StoreError::StaleEpoch | StoreError::SeqMismatch { .. },
                ) => break Err(true),
                Err(e) => {
                    tracing::warn!(room = %self.id, "cannot append: {e}");
                    break Err(false);
                }
            }
        };
        if let Err(lost) = outcome {
            self.state.engine = before;
            self.unavailable = true;
            if lost {
                tracing::warn!(room = %self.id, epoch, "lost the room; stopping");
                self.lost = true;
            }
            return Err(Refusal::unavailable("not applied"));
        }
        self.epoch = Some(epoch);
        self.emit(handled.events, Some(frames));
        self.since_snapshot += 1;
        if self.snapshot_due() {
            let _ = self.save_owned_snapshot().await;
        }
        handled.result.map_err(Refusal::from)
    }

    /// Cluster mode: Redis no longer knows the room; put it back from memory.
    pub(super) async fn reseed(
        &mut self,
        node: &Arc<dyn Ownership>,
        epoch: u64,
        engine: &Engine,
    ) -> Option<u64> {
        match node.store().known(self.id.as_str()).await {
            Ok(false) => {}
            _ => return None,
        }
        let state = serde_json::to_vec(engine).ok()?;
        let meta = if self.is_hall() {
            self.hub.meta_bytes(&self.event).unwrap_or_default()
        } else {
            Vec::new()
        };
        let res = node
            .store()
            .reseed(self.id.as_str(), epoch, self.state.last_seq, &state, &meta)
            .await;
        match res {
            Ok(Some(e)) => {
                tracing::warn!(room = %self.id, epoch = e, seq = self.state.last_seq,
                    "redis had lost the room; restored it from this node's memory");
                node.reowned(&self.id, e);
                self.since_snapshot = 0;
                Some(e)
            }
            _ => None,
        }
    }
}
