//! The floor: who may speak now. Invitations (grant, accept, decline), taking the floor back,
//! staff interjections, the turn timer, and the generic floor-holder commands (speak, yield)
//! for phases that do not own them. A release is always handed to the phase's rules, which
//! decide who is next.

use crate::engine::command::Command;
use crate::engine::event::{Audience, EventKind, ReleaseReason};
use crate::engine::member::{MemberId, Role};
use crate::engine::phase::Flow;
use crate::engine::reject::{reject, RejectCode, Rejection};
use crate::engine::timer::Due;
use crate::engine::Engine;
use crate::protocol::OnTimeout;
use crate::time::Millis;

impl Engine {
    pub(super) fn fire_floor(&mut self, at: Millis) {
        let Some(f) = self.core.floor.as_mut() else {
            return;
        };
        let Some(t) = f.timer.as_mut() else { return };
        match t.take_due(at) {
            Some(Due::Warning) => {
                let deadline = t.deadline;
                self.core.emit(
                    at,
                    EventKind::Warning {
                        deadline,
                        phase: false,
                    },
                );
            }
            Some(Due::Deadline) => match f.on_timeout {
                OnTimeout::Advance => self.release_to_phase(at, ReleaseReason::Expired),
                OnTimeout::Overtime => {
                    f.timer = None;
                    f.overtime = true;
                    let member = f.member.clone();
                    self.core.emit(at, EventKind::TurnOvertime { member });
                }
            },
            None => {}
        }
    }

    /// Takes a member who can no longer speak (left, muted, removed) off the floor and out of
    /// queues and invitations.
    pub(super) fn member_gone(&mut self, at: Millis, member: &MemberId, reason: ReleaseReason) {
        if self.core.invitation.as_ref() == Some(member) {
            self.core.invitation = None;
        }
        if self.core.holds_floor(member) {
            self.release_to_phase(at, reason);
        }
        let flow = match self.phase.as_mut() {
            Some(p) => p.rules().member_gone(&mut self.core, at, member),
            None => Flow::Continue,
        };
        self.follow(at, flow);
    }

    pub(super) fn release_to_phase(&mut self, at: Millis, reason: ReleaseReason) {
        if let Some(r) = self.core.release(at, reason) {
            let flow = match self.phase.as_mut() {
                Some(p) => p.rules().released(&mut self.core, at, r),
                None => Flow::Continue,
            };
            self.follow(at, flow);
        }
    }

    pub(super) fn grant_floor(
        &mut self,
        at: Millis,
        by: &MemberId,
        member: &MemberId,
    ) -> Result<(), Rejection> {
        let m = self.target(member)?;
        if !m.present {
            return reject(RejectCode::UnknownMember, "that member is not here");
        }
        if m.muted {
            return reject(
                RejectCode::Muted,
                "unmute the member before inviting them to speak",
            );
        }
        if m.role == Role::Observer {
            return reject(RejectCode::Invalid, "observers listen only");
        }
        if self.core.holds_floor(member) {
            return reject(RejectCode::Invalid, "that member already holds the floor");
        }
        let takes = self
            .phase
            .as_ref()
            .is_some_and(|p| p.rules_ref().takes_invitations());
        if !takes {
            return reject(
                RejectCode::WrongPhase,
                "the floor cannot be granted in this phase",
            );
        }
        // A raised hand is consent already: serve it directly when the floor is free.
        let served = match self.phase.as_mut() {
            Some(p) => p.rules().grant_raised_hand(&mut self.core, at, member),
            None => false,
        };
        if !served {
            self.core.invitation = Some(member.clone());
            self.core.accepted = None;
            self.core.emit_to(
                at,
                Audience::MemberAndStaff(member.clone()),
                EventKind::Invited {
                    member: member.clone(),
                    by: by.clone(),
                },
            );
        }
        Ok(())
    }

    pub(super) fn accept_floor(&mut self, at: Millis, from: &MemberId) -> Result<(), Rejection> {
        if self.core.invitation.is_none() && self.core.accepted.as_ref() == Some(from) {
            // A second yes to the invitation already accepted: nothing more to do.
            return Ok(());
        }
        if self.core.invitation.as_ref() != Some(from) {
            return reject(RejectCode::NoInvitation, "you have no invitation to speak");
        }
        if !self.core.can_speak(from) {
            return reject(RejectCode::Muted, "a moderator has muted you");
        }
        let flow = match self.phase.as_mut() {
            Some(p) => p.rules().accept(&mut self.core, at, from)?,
            None => return reject(RejectCode::WrongPhase, "no phase is running"),
        };
        self.core.invitation = None;
        self.core.accepted = Some(from.clone());
        self.follow(at, flow);
        Ok(())
    }

    pub(super) fn decline_floor(&mut self, at: Millis, from: &MemberId) -> Result<(), Rejection> {
        if self.core.invitation.as_ref() != Some(from) {
            return reject(RejectCode::NoInvitation, "you have no invitation to speak");
        }
        self.core.invitation = None;
        self.core.emit_to(
            at,
            Audience::MemberAndStaff(from.clone()),
            EventKind::InvitationDeclined {
                member: from.clone(),
            },
        );
        Ok(())
    }

    pub(super) fn revoke_floor(&mut self, at: Millis, by: &MemberId) -> Result<(), Rejection> {
        let Some(holder) = self.core.holder().cloned() else {
            return reject(RejectCode::NoFloor, "nobody holds the floor");
        };
        self.core.emit(
            at,
            EventKind::FloorRevoked {
                member: holder,
                by: by.clone(),
            },
        );
        self.release_to_phase(at, ReleaseReason::Revoked);
        Ok(())
    }

    /// Staff speaking over the floor. The time is reported on the closing event and kept out
    /// of the ledger, so an interjection never counts as a resident's speaking time.
    pub(super) fn interject(
        &mut self,
        at: Millis,
        from: &MemberId,
        on: bool,
    ) -> Result<(), Rejection> {
        let idx = self.core.interjecting.iter().position(|(m, _)| m == from);
        let held_ms = match (on, idx) {
            (true, Some(_)) => {
                return reject(RejectCode::Duplicate, "you are already interjecting")
            }
            (false, None) => return reject(RejectCode::Invalid, "you are not interjecting"),
            (true, None) => {
                self.core.interjecting.push((from.clone(), at));
                0
            }
            (false, Some(i)) => at.since(self.core.interjecting.remove(i).1),
        };
        self.core.emit(
            at,
            EventKind::Interjected {
                member: from.clone(),
                on,
                held_ms,
            },
        );
        Ok(())
    }

    /// Commands the phase may own, then the generic floor-holder commands.
    pub(super) fn phase_command(
        &mut self,
        at: Millis,
        from: &MemberId,
        cmd: &Command,
    ) -> Result<(), Rejection> {
        let owned = match self.phase.as_mut() {
            Some(p) => p.rules().command(&mut self.core, at, from, cmd),
            None => None,
        };
        if let Some(res) = owned {
            let flow = res?;
            self.follow(at, flow);
            return Ok(());
        }
        match cmd {
            Command::Speak { text } => {
                if !self.core.holds_floor(from) {
                    return reject(
                        RejectCode::NotYourTurn,
                        "you can speak when you hold the floor",
                    );
                }
                let text = self.check_text(text)?;
                let message = self.core.new_item();
                self.core.emit(
                    at,
                    EventKind::Said {
                        message,
                        member: from.clone(),
                        text,
                    },
                );
                Ok(())
            }
            Command::YieldFloor { to } => {
                if !self.core.holds_floor(from) {
                    return reject(RejectCode::NotYourTurn, "you do not hold the floor");
                }
                if to.is_some() {
                    return reject(
                        RejectCode::Invalid,
                        "yielding to someone works only for questions of curiosity",
                    );
                }
                self.release_to_phase(at, ReleaseReason::Yielded);
                Ok(())
            }
            _ => reject(
                RejectCode::WrongPhase,
                format!("{} does not apply in the current phase", cmd.name()),
            ),
        }
    }
}
