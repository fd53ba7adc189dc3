//! Admission: who is in the room and who may do what. Joining and leaving, who hears about
//! arrivals, and the checks every command passes before it is applied (removed members, role
//! capabilities, the floor-holder exception, the session's state).

use crate::engine::command::Command;
use crate::engine::core::Session;
use crate::engine::event::{Audience, EventKind, ReleaseReason};
use crate::engine::member::{MemberId, Role};
use crate::engine::moderation;
use crate::engine::phase::Flow;
use crate::engine::reject::{reject, RejectCode, Rejection};
use crate::engine::{Engine, ANNOUNCE_JOINS_UP_TO, MAX_NAME_CHARS};
use crate::time::Millis;

impl Engine {
    pub(super) fn join(
        &mut self,
        at: Millis,
        member: MemberId,
        name: String,
        role: Role,
        community: Option<String>,
    ) -> Result<(), Rejection> {
        if self.core.roster.is_removed(&member) {
            return reject(
                RejectCode::Removed,
                "a moderator removed you from this room",
            );
        }
        let name = moderation::clean_text(&name).replace(['\n', '\t'], " ");
        let name = name.trim().to_string();
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
            return reject(
                RejectCode::Invalid,
                format!("a display name needs 1 to {MAX_NAME_CHARS} characters"),
            );
        }
        if self.core.roster.is_present(&member) {
            // Back within the reconnect grace: nothing was given up, staff hear they are back.
            if let Some(i) = self
                .core
                .reconnecting
                .iter()
                .position(|(m, _)| *m == member)
            {
                self.core.reconnecting.remove(i);
                self.core
                    .emit_to(at, Audience::Staff, EventKind::MemberReconnected { member });
            }
            return Ok(());
        }
        self.core.roster.join(member.clone(), name, role, community);
        let m = self.core.roster.get(&member).cloned();
        if let Some(m) = m {
            let audience = self.join_audience(&m.id, m.role);
            self.core.emit_to(
                at,
                audience,
                EventKind::MemberJoined {
                    member: m.id,
                    name: m.name,
                    role: m.role,
                    community: m.community,
                },
            );
        }
        if self.core.session == Session::Running || self.core.is_paused() {
            let flow = match self.phase.as_mut() {
                Some(p) => p.rules().member_joined(&mut self.core, at, &member),
                None => Flow::Continue,
            };
            self.follow(at, flow);
        }
        Ok(())
    }

    /// The member's last connection dropped. While the session runs (or is paused) they keep
    /// their place and the floor for the reconnect grace; a join within it cancels the
    /// leave. Otherwise, or with no grace, they leave at once.
    pub(super) fn leave(&mut self, at: Millis, member: &MemberId) {
        if !self.core.roster.is_present(member)
            || self.core.reconnecting.iter().any(|(m, _)| m == member)
        {
            return;
        }
        let grace = self.core.config.reconnect_grace_ms;
        let live = self.core.session == Session::Running || self.core.is_paused();
        if grace > 0 && live {
            let until = at + grace;
            self.core.reconnecting.push((member.clone(), until));
            self.core.emit_to(
                at,
                Audience::Staff,
                EventKind::MemberReconnecting {
                    member: member.clone(),
                    until,
                },
            );
            return;
        }
        self.depart(at, member);
    }

    /// Whether `member` left and is still within their reconnect grace (a join cancels it).
    pub fn is_reconnecting(&self, member: &MemberId) -> bool {
        self.core.reconnecting.iter().any(|(m, _)| m == member)
    }

    /// When the earliest reconnect grace ends.
    pub(super) fn next_grace_end(&self) -> Option<Millis> {
        self.core.reconnecting.iter().map(|(_, t)| *t).min()
    }

    /// The reconnect grace that ends at `due` ended (fired at `at`): that member leaves now (a
    /// floor holder's turn ends as `left`).
    pub(super) fn fire_grace(&mut self, due: Millis, at: Millis) {
        let Some(i) = self
            .core
            .reconnecting
            .iter()
            .position(|(_, until)| *until == due)
        else {
            return;
        };
        let (member, _) = self.core.reconnecting.remove(i);
        self.depart(at, &member);
    }

    /// The member leaves the room: out of line and off the floor.
    fn depart(&mut self, at: Millis, member: &MemberId) {
        if !self.core.roster.is_present(member) {
            return;
        }
        // Counted with the member still present, as their arrival was.
        let audience = match self.core.roster.get(member) {
            Some(m) => self.join_audience(&m.id, m.role),
            None => Audience::Everyone,
        };
        self.core.roster.leave(member);
        self.core.emit_to(
            at,
            audience,
            EventKind::MemberLeft {
                member: member.clone(),
            },
        );
        self.member_gone(at, member, ReleaseReason::Left);
    }

    /// Who hears about `member` arriving or leaving: everyone in a small room; in a large one,
    /// staff and the member (staff arrivals are always announced).
    pub(super) fn join_audience(&self, member: &MemberId, role: Role) -> Audience {
        if role.is_staff() || self.core.roster.present_count() <= ANNOUNCE_JOINS_UP_TO {
            Audience::Everyone
        } else {
            Audience::MemberAndStaff(member.clone())
        }
    }

    /// Refuses a command its sender may not send: removed, not present, or a role without the
    /// command's capability (unless they hold the floor or the invitation for a floor-holder
    /// command).
    pub(super) fn authorize(&self, from: &MemberId, cmd: &Command) -> Result<(), Rejection> {
        if self.core.roster.is_removed(from) {
            return reject(
                RejectCode::Removed,
                "a moderator removed you from this room",
            );
        }
        let role = match self.core.roster.get(from) {
            Some(m) if m.present => m.role,
            _ => {
                return reject(
                    RejectCode::UnknownMember,
                    "join the room before sending commands",
                )
            }
        };
        let floor_exception = cmd.is_floor_holder_command()
            && (self.core.holds_floor(from) || self.core.invitation.as_ref() == Some(from));
        if !role.may(cmd.capability()) && !floor_exception {
            // Facilitators and moderators may hold the floor (presenting, answering): not
            // holding it is the same situation as for a participant, so it gets the same
            // code. An organizer never speaks in the room, so for them it stays `forbidden`.
            if cmd.is_floor_holder_command() && matches!(role, Role::Facilitator | Role::Moderator)
            {
                return match cmd {
                    Command::AcceptFloor | Command::DeclineFloor => {
                        reject(RejectCode::NoInvitation, "you have no invitation to speak")
                    }
                    _ => reject(RejectCode::NotYourTurn, "you do not hold the floor"),
                };
            }
            return reject(
                RejectCode::Forbidden,
                format!("a {role} may not use {}", cmd.name()),
            );
        }
        Ok(())
    }

    /// Refusals that depend only on where the session is.
    pub(super) fn check_session(&self, cmd: &Command) -> Result<(), Rejection> {
        let moderation = matches!(
            cmd,
            Command::Mute { .. }
                | Command::Unmute { .. }
                | Command::Remove { .. }
                | Command::Hide { .. }
                | Command::Report { .. }
                | Command::DismissReport { .. }
                | Command::ResolveHelp { .. }
        );
        match self.core.session {
            Session::Ended => reject(RejectCode::Ended, "the session has ended"),
            Session::NotStarted => match cmd {
                Command::Start | Command::End | Command::Broadcast { .. } => Ok(()),
                _ if moderation => Ok(()),
                _ => reject(RejectCode::NotStarted, "the session has not started yet"),
            },
            Session::Paused { .. } => match cmd {
                Command::Start => reject(RejectCode::AlreadyStarted, "the session already started"),
                Command::Resume
                | Command::End
                | Command::Extend { .. }
                | Command::Broadcast { .. }
                | Command::RaiseHand { .. }
                | Command::LowerHand
                | Command::MoveInQueue { .. }
                | Command::Note { .. }
                | Command::Ask { .. }
                | Command::Upvote { .. }
                | Command::Vote { .. }
                | Command::Approve { .. }
                | Command::Interject { .. } => Ok(()),
                _ if moderation => Ok(()),
                _ => reject(RejectCode::Paused, "the session is paused"),
            },
            Session::Running => match cmd {
                Command::Start => reject(RejectCode::AlreadyStarted, "the session already started"),
                Command::Resume => reject(RejectCode::Invalid, "the session is not paused"),
                _ => Ok(()),
            },
        }
    }
}
