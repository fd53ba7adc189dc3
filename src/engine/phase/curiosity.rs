//! The `curiosity` phase: questions of genuine curiosity, member to member. A member raises a
//! hand, puts a short question, and yields the floor to the member it is for, who answers
//! within a short cap. The phase's time is a total budget.

use serde::{Deserialize, Serialize};

use crate::engine::command::Command;
use crate::engine::core::Core;
use crate::engine::event::{ReleaseReason, TurnKind};
use crate::engine::member::{MemberId, Role};
use crate::engine::phase::open_floor::OpenFloor;
use crate::engine::phase::{Flow, Rules};
use crate::engine::reject::{reject, RejectCode, Rejection};
use crate::protocol::{CuriositySpec, OnTimeout, QueueOrdering};
use crate::time::Millis;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Curiosity {
    pub spec: CuriositySpec,
    pub open: OpenFloor,
}

impl Curiosity {
    pub fn start(spec: &CuriositySpec) -> Curiosity {
        Curiosity {
            spec: spec.clone(),
            open: OpenFloor::new(QueueOrdering::Fifo, Vec::new(), false),
        }
    }

    fn direct(
        &mut self,
        core: &mut Core,
        at: Millis,
        from: &MemberId,
        to: &MemberId,
    ) -> Result<Flow, Rejection> {
        let asking = core
            .floor
            .as_ref()
            .is_some_and(|f| &f.member == from && f.turn == TurnKind::Question);
        if !asking {
            return reject(
                RejectCode::NotYourTurn,
                "only the member putting a question can pass it to someone",
            );
        }
        let target_ok = core
            .roster
            .get(to)
            .is_some_and(|m| m.present && !m.muted && m.role == Role::Participant);
        if to == from || !target_ok {
            return reject(
                RejectCode::UnknownMember,
                "ask a present participant other than yourself",
            );
        }
        core.release(at, ReleaseReason::Yielded);
        core.grant(
            at,
            to.clone(),
            TurnKind::Answer,
            Some(self.spec.answer_ms),
            Some(from.clone()),
            OnTimeout::Advance,
        );
        Ok(Flow::Continue)
    }
}

impl Rules for Curiosity {
    fn command(
        &mut self,
        core: &mut Core,
        at: Millis,
        from: &MemberId,
        cmd: &Command,
    ) -> Option<Result<Flow, Rejection>> {
        let res = match cmd {
            Command::RaiseHand { .. } => self.open.check_raise(core, from, None).map(|()| {
                self.open.raise(core, at, from, None, None);
                Flow::Continue
            }),
            Command::LowerHand => self.open.lower(core, at, from).map(|()| Flow::Continue),
            Command::MoveInQueue { member, position } => self
                .open
                .move_to(core, at, member, *position)
                .map(|()| Flow::Continue),
            Command::YieldFloor { to: Some(to) } => self.direct(core, at, from, to),
            _ => return None,
        };
        Some(res)
    }

    fn settle(&mut self, core: &mut Core, at: Millis) -> Flow {
        if core.floor.is_none() {
            if let Some(hand) = self.open.pop_next(core, at) {
                core.grant(
                    at,
                    hand.member,
                    TurnKind::Question,
                    Some(self.spec.question_ms),
                    None,
                    OnTimeout::Advance,
                );
            }
        }
        Flow::Continue
    }

    fn member_gone(&mut self, core: &mut Core, at: Millis, member: &MemberId) -> Flow {
        self.open.drop_hand(core, at, member);
        Flow::Continue
    }
}
