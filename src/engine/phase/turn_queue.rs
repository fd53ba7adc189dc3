//! The `queue` phase (open floor): raise a hand, get the floor in policy order, optionally
//! reflect back the previous speaker first.

use serde::{Deserialize, Serialize};

use crate::engine::command::Command;
use crate::engine::core::{Core, Released};
use crate::engine::event::{ReleaseReason, TurnKind};
use crate::engine::member::MemberId;
use crate::engine::phase::open_floor::{Hand, OpenFloor};
use crate::engine::phase::pulse::Pulse;
use crate::engine::phase::reflect_back::{LoopStep, Looping};
use crate::engine::phase::{Flow, Rules};
use crate::engine::reject::{reject, RejectCode, Rejection};
use crate::protocol::{OnTimeout, QueueOrdering, QueueSpec};
use crate::time::Millis;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TurnQueue {
    pub open: OpenFloor,
    pub turn_ms: Option<u64>,
    pub on_turn_timeout: OnTimeout,
    pub looping: Option<Looping>,
    /// The last member who gave their own view: whom the next speaker reflects back.
    pub last_own: Option<MemberId>,
    /// Stance carried by the hand now being served (for lane alternation).
    serving_stance: Option<String>,
    /// Nudges and the move-on vote.
    pub pulse: Option<Pulse>,
}

impl TurnQueue {
    pub fn start(spec: &QueueSpec, at: Millis) -> TurnQueue {
        TurnQueue {
            pulse: (spec.nudge_after_ms.is_some() || spec.move_on.is_some())
                .then(|| Pulse::new(spec, at)),
            open: OpenFloor::new(spec.ordering, spec.stances.clone(), spec.first_timers_first),
            turn_ms: spec.turn_ms,
            on_turn_timeout: spec.on_turn_timeout,
            looping: spec.reflect_back.map(Looping::new),
            last_own: None,
            serving_stance: None,
        }
    }

    /// A plain FIFO queue with a turn cap, used inside the fishbowl.
    pub fn fifo(turn_ms: u64, stances: Vec<String>) -> TurnQueue {
        TurnQueue {
            open: OpenFloor::new(QueueOrdering::Fifo, stances, false),
            turn_ms: Some(turn_ms),
            on_turn_timeout: OnTimeout::Advance,
            looping: None,
            last_own: None,
            serving_stance: None,
            pulse: None,
        }
    }

    fn looping_idle(&self) -> bool {
        self.looping.as_ref().is_none_or(Looping::is_idle)
    }

    /// Gives the floor to the member of `hand`, reflect-back first where the protocol asks.
    fn serve(&mut self, core: &mut Core, at: Millis, hand: Hand) {
        self.serving_stance = hand.stance.clone();
        let reflect_on = self
            .last_own
            .clone()
            .filter(|prev| prev != &hand.member && core.roster.is_present(prev));
        match (self.looping.as_mut(), reflect_on) {
            (Some(looping), Some(prev)) => looping.begin(core, at, prev, hand.member),
            _ => self.grant_own(core, at, hand.member),
        }
    }

    fn grant_own(&mut self, core: &mut Core, at: Millis, member: MemberId) {
        if !core.can_speak(&member) {
            return;
        }
        // A listener may have raised a hand while waiting for the reflect-back to be
        // confirmed; the turn they get now serves it.
        self.open.drop_hand(core, at, &member);
        core.grant(
            at,
            member.clone(),
            TurnKind::Own,
            self.turn_ms,
            None,
            self.on_turn_timeout,
        );
        let stance = self.serving_stance.clone();
        self.open.note_turn(core, at, &member, stance);
    }

    fn apply(&mut self, core: &mut Core, at: Millis, step: LoopStep) {
        if let LoopStep::OwnTurn(listener) = step {
            if core.floor.is_none() {
                self.grant_own(core, at, listener);
            }
        }
    }

    /// "Let next speak": serves the next hand when the floor is free.
    fn serve_next(&mut self, core: &mut Core, at: Millis) {
        let free = core.floor.is_none() && self.looping_idle();
        if !free || self.open.ordering == QueueOrdering::Moderator {
            return;
        }
        if let Some(hand) = self.open.pop_next(core, at) {
            self.serve(core, at, hand);
        }
    }

    /// Ends the current turn without crediting a reflect-back target (fishbowl swap).
    pub fn reset_turns(&mut self) {
        if let Some(l) = self.looping.as_mut() {
            l.reset();
        }
        self.last_own = None;
    }
}

impl Rules for TurnQueue {
    fn command(
        &mut self,
        core: &mut Core,
        at: Millis,
        from: &MemberId,
        cmd: &Command,
    ) -> Option<Result<Flow, Rejection>> {
        let res = match cmd {
            Command::RaiseHand { stance } => self
                .open
                .check_raise(core, from, stance.as_deref())
                .map(|()| {
                    self.open.raise(core, at, from, stance.clone(), None);
                }),
            Command::LowerHand => self.open.lower(core, at, from),
            Command::MoveOn { agree } => {
                let Some(pulse) = self.pulse.as_mut() else {
                    return Some(reject(
                        RejectCode::NotAllowed,
                        "this phase has no move-on vote",
                    ));
                };
                return Some(pulse.vote(core, at, from, *agree));
            }
            Command::MoveInQueue { member, position } => {
                self.open.move_to(core, at, member, *position)
            }
            Command::Pass { .. } => {
                if !core.holds_floor(from) {
                    return Some(reject(
                        RejectCode::NotYourTurn,
                        "you can pass only when you hold the floor",
                    ));
                }
                if let Some(r) = core.release(at, ReleaseReason::Passed) {
                    self.released(core, at, r);
                }
                Ok(())
            }
            Command::ConfirmReflection | Command::RequestClarification => {
                let Some(looping) = self.looping.as_mut() else {
                    return Some(reject(
                        RejectCode::WrongPhase,
                        "this phase has no reflect-back",
                    ));
                };
                let step = if matches!(cmd, Command::ConfirmReflection) {
                    looping.confirm(core, at, from)
                } else {
                    looping.clarify(core, at, from)
                };
                step.map(|s| self.apply(core, at, s))
            }
            _ => return None,
        };
        Some(res.map(|()| Flow::Continue))
    }

    fn released(&mut self, core: &mut Core, at: Millis, r: Released) -> Flow {
        if let Some(looping) = self.looping.as_mut() {
            match looping.on_released(core, at, &r) {
                LoopStep::NotMine => {}
                step => {
                    self.apply(core, at, step);
                    return Flow::Continue;
                }
            }
        }
        if r.turn == TurnKind::Own && r.reason != ReleaseReason::Passed {
            self.last_own = Some(r.member);
        }
        Flow::Continue
    }

    fn settle(&mut self, core: &mut Core, at: Millis) -> Flow {
        self.serve_next(core, at);
        if let Some(p) = self.pulse.as_mut() {
            p.observe(core, &self.open, at);
        }
        Flow::Continue
    }

    fn next_deadline(&self) -> Option<Millis> {
        let looping = self.looping.as_ref().and_then(Looping::next_deadline);
        let pulse = self.pulse.as_ref().and_then(Pulse::next_deadline);
        [looping, pulse].into_iter().flatten().min()
    }

    fn fire(&mut self, core: &mut Core, at: Millis) -> Flow {
        if let Some(looping) = self.looping.as_mut() {
            if looping.next_deadline().is_some_and(|d| d <= at) {
                let step = looping.fire(core, at);
                self.apply(core, at, step);
            }
        }
        if let Some(p) = self.pulse.as_mut() {
            if p.next_deadline().is_some_and(|d| d <= at) {
                p.fire(core, &self.open, at);
            }
        }
        Flow::Continue
    }

    fn member_gone(&mut self, core: &mut Core, at: Millis, member: &MemberId) -> Flow {
        self.open.drop_hand(core, at, member);
        if let Some(looping) = self.looping.as_mut() {
            let step = looping.member_left(member);
            self.apply(core, at, step);
        }
        Flow::Continue
    }

    fn takes_invitations(&self) -> bool {
        true
    }

    fn grant_raised_hand(&mut self, core: &mut Core, at: Millis, member: &MemberId) -> bool {
        if core.floor.is_some() || !self.looping_idle() {
            return false;
        }
        match self.open.take(core, at, member) {
            Some(hand) => {
                self.serve(core, at, hand);
                true
            }
            None => false,
        }
    }

    fn accept(
        &mut self,
        core: &mut Core,
        at: Millis,
        member: &MemberId,
    ) -> Result<Flow, Rejection> {
        if core.floor.is_none() && self.looping_idle() {
            self.open.drop_hand(core, at, member);
            let hand = Hand {
                member: member.clone(),
                stance: None,
                community: None,
                seq: 0,
                raised_at: at,
                pin: None,
                pin_seq: 0,
            };
            self.serve(core, at, hand);
        } else if self.open.contains(member) {
            self.open.move_to(core, at, member, 0)?;
        } else {
            self.open.raise(core, at, member, None, Some(0));
        }
        Ok(Flow::Continue)
    }

    fn shift(&mut self, ms: u64) {
        if let Some(l) = self.looping.as_mut() {
            l.shift(ms);
        }
        if let Some(p) = self.pulse.as_mut() {
            p.shift(ms);
        }
    }
}
