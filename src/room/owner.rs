//! The room actor's cluster-owner specifics: making each input durable in Redis (one fenced
//! Lua step, `Store::apply`), snapshots with trim, and putting a room back into a Redis that
//! lost it. Without `--redis` none of this runs.
//!
//! A transient Redis failure stores nothing (the room rebuilds its engine from what Redis
//! holds, `store.rs`) and answers `unavailable`; a lost lease (`NotOwner`/`StaleEpoch`)
//! stops the actor at once.

use std::sync::Arc;

use crate::cluster::msg as cmsg;
use crate::cluster::store::StoreError;
use crate::engine::Engine;
use crate::room::actor::RoomActor;
use crate::room::host::Ownership;
use crate::room::store::{Staged, Stored};
use crate::room::undo::Undo;

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
                self.snapshot_stored(state);
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

    /// Cluster owner: appends the staged inputs and their events to Redis in one atomic,
    /// fenced step (`Store::apply`, which also publishes them to the other nodes). All or
    /// nothing: a refusal stores none of them.
    pub(super) async fn commit_owned(
        &mut self,
        node: Arc<dyn Ownership>,
        epoch: u64,
        staged: &[&Staged],
    ) -> Stored {
        let first = staged[0].first;
        let mut epoch = epoch;
        let mut attempt = 0;
        let outcome = loop {
            attempt += 1;
            let batch: Vec<(&[u8], Vec<Vec<u8>>)> = staged
                .iter()
                .map(|s| {
                    let payloads = s
                        .events
                        .iter()
                        .zip(&s.frames)
                        .enumerate()
                        .map(|(i, (ev, f))| {
                            cmsg::encode_event(s.first + i as u64, epoch, &ev.audience, f)
                        })
                        .collect();
                    (s.logged.as_slice(), payloads)
                })
                .collect();
            let res = node
                .store()
                .apply_many(self.id.as_str(), epoch, first, &batch)
                .await;
            match res {
                Ok(_) => break Ok(()),
                Err(StoreError::NotOwner) if attempt == 1 => {
                    // Redis may have lost everything (restarted without persistence): put
                    // the room back as it stands stored, without these inputs, and retry.
                    let durable = match self.state.undo.rebuild() {
                        Ok((engine, _)) => engine,
                        Err(e) => {
                            tracing::error!(room = %self.id, "cannot rebuild the room: {e}");
                            break Err(true);
                        }
                    };
                    match self.reseed(&node, epoch, &durable).await {
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
        match outcome {
            Ok(()) => {
                self.epoch = Some(epoch);
                Stored::All
            }
            Err(lost) => {
                if lost {
                    tracing::warn!(room = %self.id, epoch, "lost the room; stopping");
                    self.lost = true;
                }
                Stored::Prefix(0)
            }
        }
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
                self.state.undo = Undo::at(self.state.last_seq, state);
                Some(e)
            }
            _ => None,
        }
    }
}
