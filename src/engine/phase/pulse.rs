//! Two gentle interventions on an open floor: nudges and "move on together".
//!
//! A nudge is a private, kind invitation to raise a hand for a participant who has stayed
//! silent while others spoke (staff see who was nudged); it is one of the best-evidenced
//! interventions in online deliberation. "Move on together" lets the group end an item by
//! vote, and offers that vote when the floor has been quiet for a while.

use serde::{Deserialize, Serialize};

use crate::engine::core::Core;
use crate::engine::event::{Audience, EventKind};
use crate::engine::member::{MemberId, Role};
use crate::engine::phase::open_floor::OpenFloor;
use crate::engine::phase::Flow;
use crate::engine::reject::{reject, RejectCode, Rejection};
use crate::protocol::{MoveOnSpec, QueueSpec};
use crate::time::Millis;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pulse {
    nudge_after_ms: Option<u64>,
    next_nudge: Option<Millis>,
    pub nudged: Vec<MemberId>,
    move_on: Option<MoveOnSpec>,
    pub votes: Vec<MemberId>,
    silent_since: Option<Millis>,
    offered: bool,
}

impl Pulse {
    pub fn new(spec: &QueueSpec, at: Millis) -> Pulse {
        Pulse {
            nudge_after_ms: spec.nudge_after_ms,
            next_nudge: spec.nudge_after_ms.map(|ms| at + ms),
            nudged: Vec::new(),
            move_on: spec.move_on,
            votes: Vec::new(),
            silent_since: None,
            offered: false,
        }
    }

    fn offer_at(&self) -> Option<Millis> {
        let after = self.move_on?.offer_after_silence_ms?;
        (!self.offered).then_some(self.silent_since? + after)
    }

    pub fn next_deadline(&self) -> Option<Millis> {
        [self.next_nudge, self.offer_at()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Tracks whether the floor is quiet (nobody holds it, nobody waits).
    pub fn observe(&mut self, core: &Core, open: &OpenFloor, at: Millis) {
        if core.floor.is_none() && open.hands.is_empty() {
            self.silent_since.get_or_insert(at);
        } else {
            self.silent_since = None;
            self.offered = false;
        }
    }

    pub fn fire(&mut self, core: &mut Core, open: &OpenFloor, at: Millis) {
        if self.next_nudge.is_some_and(|n| n <= at) {
            self.nudge(core, open, at);
            let from = core.start_at(at);
            self.next_nudge = self.nudge_after_ms.map(|ms| from + ms);
        }
        if self.offer_at().is_some_and(|o| o <= at) {
            self.offered = true;
            core.emit(at, EventKind::MoveOnOffered);
        }
    }

    fn nudge(&mut self, core: &mut Core, open: &OpenFloor, at: Millis) {
        if !open.anyone_spoke() {
            return;
        }
        let silent: Vec<MemberId> = core
            .roster
            .present_participants()
            .filter(|m| !m.muted && open.turns_of(&m.id) == 0)
            .map(|m| m.id.clone())
            .filter(|id| !open.contains(id) && !core.holds_floor(id) && !self.nudged.contains(id))
            .collect();
        for member in silent {
            self.nudged.push(member.clone());
            core.emit_to(
                at,
                Audience::MemberAndStaff(member.clone()),
                EventKind::Nudged { member },
            );
        }
    }

    /// A participant's move-on vote; `Done` when the threshold is reached.
    pub fn vote(
        &mut self,
        core: &mut Core,
        at: Millis,
        from: &MemberId,
        agree: bool,
    ) -> Result<Flow, Rejection> {
        let Some(spec) = self.move_on else {
            return reject(RejectCode::NotAllowed, "this phase has no move-on vote");
        };
        let has = self.votes.contains(from);
        if has == agree {
            return reject(
                RejectCode::Duplicate,
                if agree {
                    "you already voted to move on"
                } else {
                    "you have not voted to move on"
                },
            );
        }
        if agree {
            self.votes.push(from.clone());
        } else {
            self.votes.retain(|m| m != from);
        }
        let present: Vec<MemberId> = core
            .roster
            .present_participants()
            .filter(|m| m.role == Role::Participant)
            .map(|m| m.id.clone())
            .collect();
        let votes = self.votes.iter().filter(|v| present.contains(v)).count() as u32;
        let eligible = present.len() as u32;
        core.emit_to(
            at,
            Audience::Staff,
            EventKind::MoveOnTally {
                votes,
                eligible,
                threshold_pct: spec.threshold_pct,
            },
        );
        if eligible > 0 && votes * 100 >= spec.threshold_pct * eligible {
            core.emit(at, EventKind::MoveOnCarried { votes, eligible });
            return Ok(Flow::Done);
        }
        Ok(Flow::Continue)
    }

    pub fn shift(&mut self, ms: u64) {
        if let Some(n) = self.next_nudge.as_mut() {
            *n = *n + ms;
        }
        if let Some(s) = self.silent_since.as_mut() {
            *s = *s + ms;
        }
    }
}
