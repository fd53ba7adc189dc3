//! Speaking-time accounting: the numbers the equity report is built from.
//!
//! Time is credited when a turn ends (or when the session pauses), from the floor's own
//! bookkeeping, so pauses are excluded and overtime is included. Reflect-back time is kept apart
//! from own-view time, as the reflect-back rule asks. A pass credits no time (a pass is not
//! speaking), and every stretch of own-view time is a turn, clarifications included, so the
//! "not spoken yet" list and the Gini never disagree.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::engine::event::TurnKind;
use crate::engine::member::MemberId;

/// One member's totals.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberStats {
    /// Own-view time: own turns, clarifications, questions, answers, presentations.
    pub speaking_ms: u64,
    /// Time spent summing up someone else.
    pub reflect_ms: u64,
    /// Completed own-view turns, clarifications included (a pass is not a turn).
    pub turns: u32,
    pub reflect_turns: u32,
    pub passes: u32,
    /// Total time spent with a raised hand before getting the floor.
    pub queue_wait_ms: u64,
    pub queue_waits: u32,
    /// Voiced floor time the audio SFU measured (RFC 6464 voice activity on forwarded floor
    /// frames), reported to the engine as `Input::Voiced` so it is journaled and replayed like
    /// any input. It never changes a turn: floor time stays the rule.
    #[serde(default)]
    pub voiced_ms: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    members: BTreeMap<MemberId, MemberStats>,
}

impl Ledger {
    pub fn get(&self, id: &MemberId) -> Option<&MemberStats> {
        self.members.get(id)
    }

    pub fn speaking_ms(&self, id: &MemberId) -> u64 {
        self.members.get(id).map_or(0, |s| s.speaking_ms)
    }

    pub fn turns(&self, id: &MemberId) -> u32 {
        self.members.get(id).map_or(0, |s| s.turns)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&MemberId, &MemberStats)> {
        self.members.iter()
    }

    /// Total voiced floor time of everyone.
    pub fn total_voiced_ms(&self) -> u64 {
        self.members.values().map(|s| s.voiced_ms).sum()
    }

    /// Total of all floor time credited, own and reflect-back.
    pub fn total_floor_ms(&self) -> u64 {
        self.members
            .values()
            .map(|s| s.speaking_ms + s.reflect_ms)
            .sum()
    }

    fn entry(&mut self, id: &MemberId) -> &mut MemberStats {
        self.members.entry(id.clone()).or_default()
    }

    /// Credits floor time to a member.
    pub(crate) fn credit(&mut self, id: &MemberId, turn: TurnKind, ms: u64) {
        let s = self.entry(id);
        match turn {
            TurnKind::Reflect => s.reflect_ms += ms,
            _ => s.speaking_ms += ms,
        }
    }

    /// Counts a finished turn.
    pub(crate) fn count_turn(&mut self, id: &MemberId, turn: TurnKind) {
        let s = self.entry(id);
        match turn {
            TurnKind::Reflect => s.reflect_turns += 1,
            _ => s.turns += 1,
        }
    }

    pub(crate) fn count_pass(&mut self, id: &MemberId) {
        self.entry(id).passes += 1;
    }

    /// Adds voiced time the media layer measured; saturating, since the input is the shell's.
    pub(crate) fn credit_voiced(&mut self, id: &MemberId, ms: u64) {
        let s = self.entry(id);
        s.voiced_ms = s.voiced_ms.saturating_add(ms);
    }

    pub(crate) fn count_wait(&mut self, id: &MemberId, ms: u64) {
        let s = self.entry(id);
        s.queue_wait_ms += ms;
        s.queue_waits += 1;
    }
}
