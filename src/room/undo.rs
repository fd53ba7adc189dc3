//! What a room's store holds, kept beside the engine so a refused write can be undone.
//!
//! A room applies inputs to its engine before their write is confirmed (several inputs share
//! one commit, `batch.rs`). When the store refuses a write, the engine must go back to what
//! the store holds. Copying the engine before every input did that, at the price of a copy
//! of a 10,000-member hall per input. Instead the room keeps the engine as of its last stored
//! snapshot (the JSON it wrote anyway) and the inputs stored after it, and rebuilds from them
//! through the deterministic engine, only when a write fails. Both are bounded by the
//! snapshot interval.

use crate::engine::Engine;
use crate::room::recover;

/// The engine as of the last stored snapshot, and every input stored after it.
#[derive(Debug, Clone, Default)]
pub struct Undo {
    /// Sequence number and engine JSON of the last stored snapshot; `None` until the room
    /// first knows what its store holds (the actor sets it when it starts).
    base: Option<(u64, Vec<u8>)>,
    /// `LoggedInput` JSON of each input stored since, oldest first.
    inputs: Vec<Vec<u8>>,
}

impl Undo {
    /// The store holds exactly `engine` (JSON) at sequence number `seq`.
    pub fn at(seq: u64, engine: Vec<u8>) -> Undo {
        Undo {
            base: Some((seq, engine)),
            inputs: Vec::new(),
        }
    }

    pub fn is_known(&self) -> bool {
        self.base.is_some()
    }

    /// One more input is stored.
    pub fn stored(&mut self, logged: Vec<u8>) {
        if self.base.is_some() {
            self.inputs.push(logged);
        }
    }

    /// How many inputs a rebuild would replay.
    pub fn pending(&self) -> usize {
        self.inputs.len()
    }

    /// The engine as the store holds it, and the sequence number it reached.
    pub fn rebuild(&self) -> Result<(Engine, u64), String> {
        let (seq, bytes) = self
            .base
            .as_ref()
            .ok_or("the room does not know what its store holds")?;
        let mut engine: Engine =
            serde_json::from_slice(bytes).map_err(|e| format!("snapshot: {e}"))?;
        let events = recover::replay(&mut engine, &self.inputs)?;
        Ok((engine, seq + events))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::msg::{LoggedInput, WireInput};
    use crate::engine::harness::{phase, round, Harness, T0};
    use crate::engine::member::{MemberId, Role};
    use crate::engine::Input;
    use crate::protocol::PhaseKind;
    use crate::time::Millis;

    fn logged(now: Millis, input: &Input) -> Vec<u8> {
        serde_json::to_vec(&LoggedInput {
            now,
            input: WireInput::from(input),
        })
        .unwrap()
    }

    fn join(name: &str) -> Input {
        Input::Join {
            member: MemberId::new(name),
            name: name.into(),
            role: Role::Participant,
            community: None,
        }
    }

    #[test]
    fn a_rebuild_gives_the_stored_engine_without_the_inputs_after_it() {
        let mut engine = Harness::new(vec![phase("r", PhaseKind::Round(round(60)))]).engine;
        let mut undo = Undo::at(0, serde_json::to_vec(&engine).unwrap());
        let mut seq = 0;
        for (i, name) in ["ana", "ben"].iter().enumerate() {
            let now = Millis(T0.0 + i as u64);
            let input = join(name);
            let bytes = logged(now, &input);
            seq += engine.handle(now, input).events.len() as u64;
            undo.stored(bytes);
        }
        let stored = serde_json::to_value(&engine).unwrap();
        // Applied but never stored: the rebuild must not contain it.
        engine.handle(Millis(T0.0 + 5), join("cleo"));
        let (rebuilt, at) = undo.rebuild().unwrap();
        assert_eq!(at, seq);
        assert_eq!(serde_json::to_value(&rebuilt).unwrap(), stored);
        assert_eq!(rebuilt.roster().len(), 2);
        assert_eq!(undo.pending(), 2);
    }

    #[test]
    fn an_unknown_base_cannot_rebuild_and_records_nothing() {
        let mut undo = Undo::default();
        undo.stored(b"{}".to_vec());
        assert!(!undo.is_known());
        assert_eq!(undo.pending(), 0);
        assert!(undo.rebuild().is_err());
    }
}
