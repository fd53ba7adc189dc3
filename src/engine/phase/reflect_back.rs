//! Reflect-back ("looping"): before the next speaker's own turn, they sum up the previous
//! speaker, who confirms being heard or asks for a short clarification, up to a set number of
//! attempts. Shared by go-rounds and open floors.
//!
//! The previous speaker's silence past the confirmation window counts as confirmed, and an
//! absent previous speaker skips the step, so nobody can stall the room by walking away.

use serde::{Deserialize, Serialize};

use crate::engine::core::{Core, Released};
use crate::engine::event::{Audience, EventKind, ReleaseReason, TurnKind};
use crate::engine::member::MemberId;
use crate::engine::reject::{reject, RejectCode, Rejection};
use crate::protocol::{OnTimeout, ReflectBackSpec};
use crate::time::Millis;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum LoopState {
    Idle,
    Reflecting {
        speaker: MemberId,
        listener: MemberId,
        attempt: u32,
    },
    Pending {
        speaker: MemberId,
        listener: MemberId,
        attempt: u32,
        until: Millis,
    },
    Clarifying {
        speaker: MemberId,
        listener: MemberId,
        attempt: u32,
    },
}

/// What the owning phase should do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoopStep {
    /// The event was not about the reflect-back.
    NotMine,
    /// The reflect-back is still going.
    Wait,
    /// Done: the listener now gets their own turn.
    OwnTurn(MemberId),
    /// The listener gave up their turn (passed, left, was muted); move on.
    Skip(MemberId),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Looping {
    pub spec: ReflectBackSpec,
    pub state: LoopState,
}

impl Looping {
    pub fn new(spec: ReflectBackSpec) -> Looping {
        Looping {
            spec,
            state: LoopState::Idle,
        }
    }

    pub fn is_idle(&self) -> bool {
        self.state == LoopState::Idle
    }

    /// Starts a reflect-back attempt: the listener takes the floor to sum up the speaker.
    pub fn begin(&mut self, core: &mut Core, at: Millis, speaker: MemberId, listener: MemberId) {
        self.attempt(core, at, speaker, listener, 1);
    }

    fn attempt(
        &mut self,
        core: &mut Core,
        at: Millis,
        speaker: MemberId,
        listener: MemberId,
        n: u32,
    ) {
        core.grant(
            at,
            listener.clone(),
            TurnKind::Reflect,
            Some(self.spec.reflect_ms),
            Some(speaker.clone()),
            OnTimeout::Advance,
        );
        self.state = LoopState::Reflecting {
            speaker,
            listener,
            attempt: n,
        };
    }

    pub fn on_released(&mut self, core: &mut Core, at: Millis, r: &Released) -> LoopStep {
        match self.state.clone() {
            LoopState::Reflecting {
                speaker,
                listener,
                attempt,
            } if r.member == listener => match r.reason {
                ReleaseReason::Yielded | ReleaseReason::Expired => {
                    if core.roster.is_present(&speaker) {
                        // The window opens when people can hear it (after an outage).
                        let at = core.start_at(at);
                        let until = at + self.spec.confirm_ms;
                        core.emit(
                            at,
                            EventKind::ReflectionPending {
                                speaker: speaker.clone(),
                                listener: listener.clone(),
                                until,
                                attempt,
                            },
                        );
                        self.state = LoopState::Pending {
                            speaker,
                            listener,
                            attempt,
                            until,
                        };
                        LoopStep::Wait
                    } else {
                        self.state = LoopState::Idle;
                        LoopStep::OwnTurn(listener)
                    }
                }
                _ => {
                    self.state = LoopState::Idle;
                    LoopStep::Skip(listener)
                }
            },
            LoopState::Clarifying {
                speaker,
                listener,
                attempt,
            } if r.member == speaker => {
                if attempt < self.spec.max_attempts && core.can_speak(&listener) {
                    self.attempt(core, at, speaker, listener, attempt + 1);
                    LoopStep::Wait
                } else {
                    self.state = LoopState::Idle;
                    LoopStep::OwnTurn(listener)
                }
            }
            _ => LoopStep::NotMine,
        }
    }

    /// `confirm_reflection` from the previous speaker.
    pub fn confirm(
        &mut self,
        core: &mut Core,
        at: Millis,
        from: &MemberId,
    ) -> Result<LoopStep, Rejection> {
        match self.state.clone() {
            LoopState::Pending {
                speaker, listener, ..
            } if &speaker == from => {
                core.emit(
                    at,
                    EventKind::ReflectionConfirmed {
                        speaker,
                        listener: listener.clone(),
                        by_timeout: false,
                    },
                );
                self.state = LoopState::Idle;
                Ok(LoopStep::OwnTurn(listener))
            }
            LoopState::Pending { .. } => reject(
                RejectCode::NotYourTurn,
                "only the person being reflected can confirm it",
            ),
            _ => reject(
                RejectCode::WrongPhase,
                "no reflect-back is waiting for confirmation",
            ),
        }
    }

    /// `request_clarification` from the previous speaker.
    pub fn clarify(
        &mut self,
        core: &mut Core,
        at: Millis,
        from: &MemberId,
    ) -> Result<LoopStep, Rejection> {
        match self.state.clone() {
            LoopState::Pending {
                speaker,
                listener,
                attempt,
                ..
            } if &speaker == from => {
                core.emit_to(
                    at,
                    Audience::Everyone,
                    EventKind::ClarificationRequested {
                        speaker: speaker.clone(),
                        listener: listener.clone(),
                    },
                );
                core.grant(
                    at,
                    speaker.clone(),
                    TurnKind::Clarify,
                    Some(self.spec.clarify_ms),
                    Some(listener.clone()),
                    OnTimeout::Advance,
                );
                self.state = LoopState::Clarifying {
                    speaker,
                    listener,
                    attempt,
                };
                Ok(LoopStep::Wait)
            }
            LoopState::Pending { .. } => reject(
                RejectCode::NotYourTurn,
                "only the person being reflected can ask to clarify",
            ),
            _ => reject(
                RejectCode::WrongPhase,
                "no reflect-back is waiting for confirmation",
            ),
        }
    }

    pub fn next_deadline(&self) -> Option<Millis> {
        match &self.state {
            LoopState::Pending { until, .. } => Some(*until),
            _ => None,
        }
    }

    /// The confirmation window ran out: silence counts as confirmed.
    pub fn fire(&mut self, core: &mut Core, at: Millis) -> LoopStep {
        match self.state.clone() {
            LoopState::Pending {
                speaker,
                listener,
                until,
                ..
            } if until <= at => {
                core.emit(
                    until,
                    EventKind::ReflectionConfirmed {
                        speaker,
                        listener: listener.clone(),
                        by_timeout: true,
                    },
                );
                self.state = LoopState::Idle;
                LoopStep::OwnTurn(listener)
            }
            _ => LoopStep::NotMine,
        }
    }

    /// A member left while the reflect-back waits for confirmation.
    pub fn member_left(&mut self, member: &MemberId) -> LoopStep {
        match self.state.clone() {
            LoopState::Pending {
                speaker, listener, ..
            } if &speaker == member => {
                self.state = LoopState::Idle;
                LoopStep::OwnTurn(listener)
            }
            LoopState::Pending { listener, .. } if &listener == member => {
                self.state = LoopState::Idle;
                LoopStep::Skip(listener)
            }
            _ => LoopStep::NotMine,
        }
    }

    pub fn shift(&mut self, ms: u64) {
        if let LoopState::Pending { until, .. } = &mut self.state {
            *until = *until + ms;
        }
    }

    pub fn reset(&mut self) {
        self.state = LoopState::Idle;
    }
}
