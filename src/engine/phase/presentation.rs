//! The `presentation` phase: one designated speaker holds the floor for the phase's time.

use serde::{Deserialize, Serialize};

use crate::engine::core::Core;
use crate::engine::event::{ReleaseReason, TurnKind};
use crate::engine::member::MemberId;
use crate::engine::phase::{Flow, Rules};
use crate::engine::reject::Rejection;
use crate::protocol::{OnTimeout, PresentationSpec, Presenter};
use crate::time::Millis;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presentation {
    pub speaker: Presenter,
}

impl Presentation {
    pub fn start(spec: &PresentationSpec, core: &mut Core, at: Millis) -> (Presentation, Flow) {
        let p = Presentation {
            speaker: spec.speaker,
        };
        if spec.speaker == Presenter::Facilitator {
            if let Some(f) = core.roster.first_facilitator().map(|m| m.id.clone()) {
                present(core, at, f);
            }
        }
        (p, Flow::Continue)
    }
}

/// The presenter's time is the phase's time, so the turn itself has no cap of its own.
fn present(core: &mut Core, at: Millis, member: MemberId) {
    if core.can_speak(&member) {
        core.grant(
            at,
            member,
            TurnKind::Presentation,
            None,
            None,
            OnTimeout::Overtime,
        );
    }
}

impl Rules for Presentation {
    fn member_joined(&mut self, core: &mut Core, at: Millis, member: &MemberId) -> Flow {
        let is_facilitator = core
            .roster
            .first_facilitator()
            .is_some_and(|f| &f.id == member);
        if self.speaker == Presenter::Facilitator && core.floor.is_none() && is_facilitator {
            present(core, at, member.clone());
        }
        Flow::Continue
    }

    fn takes_invitations(&self) -> bool {
        true
    }

    fn accept(
        &mut self,
        core: &mut Core,
        at: Millis,
        member: &MemberId,
    ) -> Result<Flow, Rejection> {
        if core.floor.is_some() {
            core.release(at, ReleaseReason::HandedOver);
        }
        present(core, at, member.clone());
        Ok(Flow::Continue)
    }
}
