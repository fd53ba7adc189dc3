//! The `round` phase (go-round): every present participant gets one turn in an order fixed at
//! the start, with optional think time, pauses between speakers, passing, pass-for-now and a
//! second chance for those who passed.
//!
//! The turn order is the invitation: members are put on the floor by the order they joined,
//! not by a hand. Latecomers join the end of the round.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::engine::command::Command;
use crate::engine::core::{Core, Released};
use crate::engine::event::{EventKind, ReleaseReason, TurnKind};
use crate::engine::member::{MemberId, Role};
use crate::engine::phase::reflect_back::{LoopStep, Looping};
use crate::engine::phase::{Flow, Rules};
use crate::engine::reject::{reject, RejectCode, Rejection};
use crate::protocol::{RoundOrder, RoundSpec};
use crate::time::Millis;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum RoundStage {
    Thinking { until: Millis },
    Gap { until: Millis },
    Speaking,
    Finished,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Round {
    pub spec: RoundSpec,
    /// Upcoming speakers, next first.
    pub order: Vec<MemberId>,
    /// Passed for good; they get a second chance at the end if the protocol says so.
    pub passed: Vec<MemberId>,
    second_chance_used: bool,
    /// Everyone ever placed in the order, so a reconnect does not earn a second turn.
    seen: Vec<MemberId>,
    pub stage: RoundStage,
    pub last_own: Option<MemberId>,
    pub looping: Option<Looping>,
}

impl Round {
    pub fn start(spec: &RoundSpec, core: &mut Core, at: Millis) -> (Round, Flow) {
        let order = initial_order(spec.order, core);
        let mut round = Round {
            spec: spec.clone(),
            seen: order.clone(),
            order,
            passed: Vec::new(),
            second_chance_used: false,
            stage: RoundStage::Speaking,
            last_own: None,
            looping: spec.reflect_back.map(Looping::new),
        };
        if spec.think_ms > 0 {
            let until = at + spec.think_ms;
            round.stage = RoundStage::Thinking { until };
            core.emit(at, EventKind::Interlude { until, think: true });
            return (round, Flow::Continue);
        }
        let flow = round.advance(core, at);
        (round, flow)
    }

    /// Puts the next speaker on the floor, or finishes the round.
    fn advance(&mut self, core: &mut Core, at: Millis) -> Flow {
        loop {
            while !self.order.is_empty() {
                let next = self.order.remove(0);
                if !core.can_speak(&next) {
                    continue;
                }
                self.stage = RoundStage::Speaking;
                let reflect_on = self
                    .last_own
                    .clone()
                    .filter(|prev| prev != &next && core.roster.is_present(prev));
                match (self.looping.as_mut(), reflect_on) {
                    (Some(looping), Some(prev)) => looping.begin(core, at, prev, next),
                    _ => self.grant_own(core, at, next),
                }
                return Flow::Continue;
            }
            if self.spec.second_chance && !self.second_chance_used && !self.passed.is_empty() {
                self.second_chance_used = true;
                self.order = std::mem::take(&mut self.passed);
                continue;
            }
            self.stage = RoundStage::Finished;
            return Flow::Done;
        }
    }

    fn grant_own(&mut self, core: &mut Core, at: Millis, member: MemberId) {
        core.grant(
            at,
            member,
            TurnKind::Own,
            Some(self.spec.turn_ms),
            None,
            self.spec.on_turn_timeout,
        );
    }

    /// After a turn (or a pass): the pause between speakers, or the next speaker.
    fn after_turn(&mut self, core: &mut Core, at: Millis) -> Flow {
        let more = self.order.iter().any(|m| core.can_speak(m))
            || (self.spec.second_chance && !self.second_chance_used && !self.passed.is_empty());
        if self.spec.pause_between_ms > 0 && more {
            // After an outage the pause starts when people can hear it, like a turn.
            let at = core.start_at(at);
            let until = at + self.spec.pause_between_ms;
            self.stage = RoundStage::Gap { until };
            core.emit(
                at,
                EventKind::Interlude {
                    until,
                    think: false,
                },
            );
            return Flow::Continue;
        }
        self.advance(core, at)
    }

    fn apply(&mut self, core: &mut Core, at: Millis, step: LoopStep) -> Flow {
        match step {
            LoopStep::NotMine | LoopStep::Wait => Flow::Continue,
            LoopStep::OwnTurn(listener) if core.can_speak(&listener) && core.floor.is_none() => {
                self.grant_own(core, at, listener);
                Flow::Continue
            }
            LoopStep::OwnTurn(_) | LoopStep::Skip(_) => self.after_turn(core, at),
        }
    }

    fn pass(
        &mut self,
        core: &mut Core,
        at: Millis,
        from: &MemberId,
        for_now: bool,
    ) -> Result<Flow, Rejection> {
        if !core.holds_floor(from) {
            return reject(
                RejectCode::NotYourTurn,
                "you can pass only on your own turn",
            );
        }
        let allowed = if for_now {
            self.spec.allow_pass_for_now
        } else {
            self.spec.allow_pass
        };
        if !allowed {
            return reject(
                RejectCode::NotAllowed,
                "this round does not allow passing that way",
            );
        }
        core.release(at, ReleaseReason::Passed);
        if let Some(l) = self.looping.as_mut() {
            l.reset();
        }
        core.emit(
            at,
            EventKind::Passed {
                member: from.clone(),
                for_now,
            },
        );
        if for_now {
            self.order.push(from.clone());
        } else {
            self.passed.push(from.clone());
        }
        Ok(self.after_turn(core, at))
    }
}

/// The turn order at the start of the round.
fn initial_order(policy: RoundOrder, core: &mut Core) -> Vec<MemberId> {
    let members: Vec<(MemberId, Option<String>)> = core
        .roster
        .present_participants()
        .filter(|m| !m.muted)
        .map(|m| (m.id.clone(), m.community.clone()))
        .collect();
    match policy {
        RoundOrder::Join => members.into_iter().map(|m| m.0).collect(),
        RoundOrder::Random => {
            let mut ids: Vec<MemberId> = members.into_iter().map(|m| m.0).collect();
            core.rng.shuffle(&mut ids);
            ids
        }
        RoundOrder::AlternateCommunities => interleave(members),
    }
}

/// Join order, taking one member from each community in turn (communities in order of first
/// join), so neighbours in the round come from different cities where the numbers allow.
pub(crate) fn interleave(members: Vec<(MemberId, Option<String>)>) -> Vec<MemberId> {
    let mut lanes: Vec<(Option<String>, Vec<MemberId>)> = Vec::new();
    for (id, comm) in members {
        match lanes.iter_mut().find(|l| l.0 == comm) {
            Some(l) => l.1.push(id),
            None => lanes.push((comm, vec![id])),
        }
    }
    let total: usize = lanes.iter().map(|l| l.1.len()).sum();
    let mut cursor: BTreeMap<usize, usize> = BTreeMap::new();
    let mut out = Vec::with_capacity(total);
    while out.len() < total {
        for (i, lane) in lanes.iter().enumerate() {
            let c = cursor.entry(i).or_default();
            if let Some(id) = lane.1.get(*c) {
                out.push(id.clone());
                *c += 1;
            }
        }
    }
    out
}

impl Rules for Round {
    fn command(
        &mut self,
        core: &mut Core,
        at: Millis,
        from: &MemberId,
        cmd: &Command,
    ) -> Option<Result<Flow, Rejection>> {
        match cmd {
            Command::Pass { for_now } => Some(self.pass(core, at, from, *for_now)),
            Command::ConfirmReflection | Command::RequestClarification => {
                let Some(looping) = self.looping.as_mut() else {
                    return Some(reject(
                        RejectCode::WrongPhase,
                        "this round has no reflect-back",
                    ));
                };
                let step = if matches!(cmd, Command::ConfirmReflection) {
                    looping.confirm(core, at, from)
                } else {
                    looping.clarify(core, at, from)
                };
                Some(step.map(|s| self.apply(core, at, s)))
            }
            Command::RaiseHand { .. } | Command::LowerHand | Command::MoveInQueue { .. } => {
                Some(reject(
                    RejectCode::WrongPhase,
                    "this is a go-round: everyone gets a turn in order, no hand needed",
                ))
            }
            _ => None,
        }
    }

    fn released(&mut self, core: &mut Core, at: Millis, r: Released) -> Flow {
        if let Some(looping) = self.looping.as_mut() {
            match looping.on_released(core, at, &r) {
                LoopStep::NotMine => {}
                step => return self.apply(core, at, step),
            }
        }
        if r.turn == TurnKind::Own && r.reason != ReleaseReason::Passed {
            self.last_own = Some(r.member);
        }
        self.after_turn(core, at)
    }

    fn next_deadline(&self) -> Option<Millis> {
        match self.stage {
            RoundStage::Thinking { until } | RoundStage::Gap { until } => Some(until),
            _ => self.looping.as_ref().and_then(Looping::next_deadline),
        }
    }

    fn fire(&mut self, core: &mut Core, at: Millis) -> Flow {
        match self.stage {
            RoundStage::Thinking { until } | RoundStage::Gap { until } if until <= at => {
                self.stage = RoundStage::Speaking;
                self.advance(core, until)
            }
            _ => match self.looping.as_mut() {
                Some(looping) => {
                    let step = looping.fire(core, at);
                    self.apply(core, at, step)
                }
                None => Flow::Continue,
            },
        }
    }

    fn member_joined(&mut self, core: &mut Core, at: Millis, member: &MemberId) -> Flow {
        let is_participant = core
            .roster
            .get(member)
            .is_some_and(|m| m.role == Role::Participant);
        if !is_participant || self.seen.contains(member) || self.stage == RoundStage::Finished {
            return Flow::Continue;
        }
        self.seen.push(member.clone());
        self.order.push(member.clone());
        let _ = at;
        Flow::Continue
    }

    fn member_gone(&mut self, core: &mut Core, at: Millis, member: &MemberId) -> Flow {
        if let Some(looping) = self.looping.as_mut() {
            let step = looping.member_left(member);
            if step != LoopStep::NotMine {
                return self.apply(core, at, step);
            }
        }
        Flow::Continue
    }

    fn shift(&mut self, ms: u64) {
        match &mut self.stage {
            RoundStage::Thinking { until } | RoundStage::Gap { until } => *until = *until + ms,
            _ => {}
        }
        if let Some(l) = self.looping.as_mut() {
            l.shift(ms);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(id: &str, c: &str) -> (MemberId, Option<String>) {
        (MemberId::new(id), Some(c.to_string()))
    }

    #[test]
    fn interleave_alternates_communities() {
        let order = interleave(vec![
            m("a1", "A"),
            m("a2", "A"),
            m("a3", "A"),
            m("b1", "B"),
            m("b2", "B"),
        ]);
        let ids: Vec<&str> = order.iter().map(MemberId::as_str).collect();
        assert_eq!(ids, ["a1", "b1", "a2", "b2", "a3"]);
    }
}
