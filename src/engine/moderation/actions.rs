//! Moderators' actions on people and messages: mute and unmute (event-wide, so a hall's mute
//! reaches its breakout groups), remove, hide. Acting on a member or message closes the open
//! reports about it.

use crate::engine::event::{EventKind, ReleaseReason};
use crate::engine::member::MemberId;
use crate::engine::moderation::{ReportStatus, ReportTarget};
use crate::engine::phase::PhaseState;
use crate::engine::reject::{reject, RejectCode, Rejection};
use crate::engine::Engine;
use crate::time::Millis;

impl Engine {
    pub(in crate::engine) fn mute(
        &mut self,
        at: Millis,
        by: &MemberId,
        member: &MemberId,
    ) -> Result<(), Rejection> {
        let m = self.target(member)?;
        if m.role.is_staff() {
            return reject(RejectCode::Forbidden, "staff cannot be muted");
        }
        if m.muted {
            return reject(RejectCode::Duplicate, "that member is already muted");
        }
        if let Some(m) = self.core.roster.get_mut(member) {
            m.muted = true;
        }
        self.core.emit(
            at,
            EventKind::Muted {
                member: member.clone(),
                by: by.clone(),
            },
        );
        self.close_reports(
            at,
            by,
            &ReportTarget::Member(member.clone()),
            ReportStatus::Muted,
        );
        self.member_gone(at, member, ReleaseReason::Muted);
        Ok(())
    }

    pub(in crate::engine) fn unmute(
        &mut self,
        at: Millis,
        by: &MemberId,
        member: &MemberId,
    ) -> Result<(), Rejection> {
        let m = self.target(member)?;
        if !m.muted {
            return reject(RejectCode::Invalid, "that member is not muted");
        }
        if let Some(m) = self.core.roster.get_mut(member) {
            m.muted = false;
        }
        self.core.emit(
            at,
            EventKind::Unmuted {
                member: member.clone(),
                by: by.clone(),
            },
        );
        Ok(())
    }

    /// The hall's mute state for `member`, applied here; no change when it already agrees.
    pub(in crate::engine) fn hall_moderation(
        &mut self,
        at: Millis,
        member: &MemberId,
        muted: bool,
        by: &MemberId,
    ) {
        let Some(m) = self.core.roster.get_mut(member) else {
            return;
        };
        if m.muted == muted || m.role.is_staff() {
            return;
        }
        m.muted = muted;
        let (member, by) = (member.clone(), by.clone());
        if muted {
            self.core.emit(
                at,
                EventKind::Muted {
                    member: member.clone(),
                    by,
                },
            );
            self.member_gone(at, &member, ReleaseReason::Muted);
        } else {
            self.core.emit(at, EventKind::Unmuted { member, by });
        }
    }

    pub(in crate::engine) fn remove(
        &mut self,
        at: Millis,
        by: &MemberId,
        member: &MemberId,
    ) -> Result<(), Rejection> {
        let m = self.target(member)?;
        if m.role.is_staff() {
            return reject(RejectCode::Forbidden, "staff cannot be removed from a room");
        }
        let was_present = m.present;
        self.core.roster.remove(member);
        // What they asked and said leaves the room's state (and so every later snapshot);
        // the session's record keeps it for the report.
        if let Some(PhaseState::Qa(qa)) = &mut self.phase {
            qa.drop_member(member);
        }
        self.core
            .recent
            .retain(|r| r.member.as_ref() != Some(member));
        self.core.emit(
            at,
            EventKind::MemberRemoved {
                member: member.clone(),
                by: by.clone(),
            },
        );
        self.close_reports(
            at,
            by,
            &ReportTarget::Member(member.clone()),
            ReportStatus::Removed,
        );
        if was_present {
            self.member_gone(at, member, ReleaseReason::Revoked);
        }
        Ok(())
    }

    pub(in crate::engine) fn hide(
        &mut self,
        at: Millis,
        by: &MemberId,
        message: u64,
    ) -> Result<(), Rejection> {
        if message == 0 || message >= self.core.next_item {
            return reject(
                RejectCode::UnknownItem,
                format!("there is no message {message}"),
            );
        }
        if self.core.hidden.contains(&message) {
            return reject(RejectCode::Duplicate, "that message is already hidden");
        }
        self.core.hidden.push(message);
        self.core.emit(
            at,
            EventKind::Hidden {
                message,
                by: by.clone(),
            },
        );
        self.close_reports(
            at,
            by,
            &ReportTarget::Message(message),
            ReportStatus::Hidden,
        );
        Ok(())
    }
}
