//! The dialogue engine: a pure, deterministic state machine for one room.
//!
//! `Engine::handle(now, input)` takes a join, a leave, a member's command or a timer tick, with
//! the current time passed in, and returns the events it caused (and, for a refused command,
//! the refusal). `Engine::next_deadline()` says when it next needs a tick. The engine does no
//! I/O, never reads a clock and draws randomness only from its seeded [`rng::Rng`], so the same
//! inputs always give the same events: tests drive time explicitly and rehearsals run whole
//! sessions in milliseconds.
//!
//! Order of work inside one `handle` call:
//! 1. timers due at or before `now` fire, each at its own deadline (so late ticks do not
//!    stretch turns or skew accounting);
//! 2. the input is applied (a refusal changes nothing);
//! 3. the phase fills an empty floor if its rules say so (`settle`).

pub mod command;
pub mod core;
pub mod equity;
pub mod event;
pub mod groups;
pub mod ledger;
pub mod member;
pub mod moderation;
pub mod phase;
pub mod reject;
pub mod rng;
pub mod timer;
pub mod view;

#[cfg(test)]
mod flood_tests;
#[cfg(test)]
pub(crate) mod harness;
#[cfg(test)]
mod interject_tests;
#[cfg(test)]
mod moderation_tests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::engine::command::{Capability, Command, ExtendTarget};
use crate::engine::core::{Core, Floor, Session};
use crate::engine::event::{Audience, Event, EventKind, ReleaseReason};
use crate::engine::member::{MemberId, Role};
use crate::engine::moderation::{
    Report, ReportStatus, ReportTarget, MAX_OPEN_REPORTS_PER_MEMBER, MAX_REPORT_REASON_CHARS,
};
use crate::engine::phase::{Flow, PhaseState};
use crate::engine::reject::{reject, RejectCode, Rejection};
use crate::engine::timer::{Due, Timer};
use crate::protocol::{OnTimeout, PhaseKind, Protocol};
use crate::time::Millis;

pub use crate::engine::core::EngineConfig;

/// Everything that can happen to a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Join {
        member: MemberId,
        name: String,
        role: Role,
        community: Option<String>,
    },
    Leave {
        member: MemberId,
    },
    Command {
        from: MemberId,
        command: Command,
    },
    /// Time passed; fire whatever is due.
    Tick,
    /// The shell starts a room that runs itself (a breakout group without a facilitator):
    /// the same as a facilitator's `start`, with no member behind it.
    Start,
    /// A breakout group learns the hall's mute or unmute of `member` (by the hall's moderator
    /// `by`, who need not be in the group): moderation is event-wide. A member the group has
    /// not seen yet is ignored; the hall sends it again when it places them.
    HallModeration {
        member: MemberId,
        muted: bool,
        by: MemberId,
    },
}

/// The result of one input.
#[derive(Debug, Clone, PartialEq)]
pub struct Handled {
    /// Events in the order they happened, including timers that fired before the input.
    pub events: Vec<Event>,
    /// `Err` when the input was refused; a refusal changed nothing.
    pub result: Result<(), Rejection>,
}

/// Longest display name accepted on join.
pub const MAX_NAME_CHARS: usize = 80;
/// Above this many people present, joins and leaves of participants and observers go to
/// staff only: announcing every arrival to everyone costs N² frames in a large hall.
pub const ANNOUNCE_JOINS_UP_TO: usize = 300;
/// Longest extension a facilitator may add in one step.
pub const MAX_EXTEND_SECONDS: u32 = 3_600;
/// Safety bound on timers fired in one call; real sessions fire a handful.
const MAX_FIRES_PER_CALL: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Engine {
    core: Core,
    phase: Option<PhaseState>,
}

impl Engine {
    pub fn new(protocol: Arc<Protocol>, config: EngineConfig) -> Engine {
        Engine {
            core: Core::new(protocol, config),
            phase: None,
        }
    }

    // Getters.

    pub fn protocol(&self) -> &Protocol {
        &self.core.protocol
    }
    pub fn session(&self) -> Session {
        self.core.session
    }
    pub fn roster(&self) -> &member::Roster {
        &self.core.roster
    }
    pub fn ledger(&self) -> &ledger::Ledger {
        &self.core.ledger
    }
    pub fn floor(&self) -> Option<&Floor> {
        self.core.floor.as_ref()
    }
    pub fn phase(&self) -> Option<&PhaseState> {
        self.phase.as_ref()
    }
    pub fn phase_index(&self) -> Option<usize> {
        self.core.phase_idx
    }
    pub fn phase_timer(&self) -> Option<Timer> {
        self.core.phase_timer
    }
    pub fn phase_overtime(&self) -> bool {
        self.core.phase_overtime
    }
    pub fn invitation(&self) -> Option<&MemberId> {
        self.core.invitation.as_ref()
    }
    pub fn hidden(&self) -> &[u64] {
        &self.core.hidden
    }
    /// Open reports, oldest first.
    pub fn reports(&self) -> &[Report] {
        &self.core.reports
    }
    pub fn queue(&self) -> Vec<MemberId> {
        self.phase
            .as_ref()
            .map(PhaseState::queue)
            .unwrap_or_default()
    }
    /// Equity figures so far, with the current holder's running time not yet credited.
    pub fn equity(&self) -> equity::Equity {
        equity::compute(&self.core.roster, &self.core.ledger)
    }

    /// When the engine next needs a tick; `None` when nothing is scheduled (not started,
    /// paused, ended, or waiting for people).
    pub fn next_deadline(&self) -> Option<Millis> {
        if self.core.session != Session::Running {
            return None;
        }
        let floor = self
            .core
            .floor
            .as_ref()
            .and_then(|f| f.timer)
            .map(|t| t.next());
        let phase_timer = self.core.phase_timer.map(|t| t.next());
        let internal = self
            .phase
            .as_ref()
            .and_then(|p| p.rules_ref().next_deadline());
        [floor, internal, phase_timer].into_iter().flatten().min()
    }

    // Inputs.

    pub fn handle(&mut self, now: Millis, input: Input) -> Handled {
        self.fire_due(now);
        let mark = self.core.out.len();
        let result = match input {
            Input::Join {
                member,
                name,
                role,
                community,
            } => self.join(now, member, name, role, community),
            Input::Leave { member } => {
                self.leave(now, &member);
                Ok(())
            }
            Input::Command { from, command } => self.command(now, &from, &command),
            Input::Tick => Ok(()),
            Input::Start => match self.core.session {
                Session::NotStarted => self.start(now),
                _ => reject(RejectCode::AlreadyStarted, "the session already started"),
            },
            Input::HallModeration { member, muted, by } => {
                self.hall_moderation(now, &member, muted, &by);
                Ok(())
            }
        };
        if result.is_ok() {
            self.settle(now);
            self.flag_messages(now, mark);
        }
        Handled {
            events: std::mem::take(&mut self.core.out),
            result,
        }
    }

    fn fire_due(&mut self, now: Millis) {
        for _ in 0..MAX_FIRES_PER_CALL {
            match self.next_deadline() {
                Some(d) if d <= now => {
                    self.fire_one(d);
                    self.settle(d);
                }
                _ => return,
            }
        }
        debug_assert!(false, "timer loop did not converge");
    }

    /// Fires the earliest due timer, at its own deadline `at`.
    fn fire_one(&mut self, at: Millis) {
        // The floor's timer first: a turn that ends with its phase is accounted as a turn.
        let floor_next = self
            .core
            .floor
            .as_ref()
            .and_then(|f| f.timer)
            .map(|t| t.next());
        if floor_next == Some(at) {
            self.fire_floor(at);
            return;
        }
        let internal = self
            .phase
            .as_ref()
            .and_then(|p| p.rules_ref().next_deadline());
        if internal == Some(at) {
            let flow = match self.phase.as_mut() {
                Some(p) => p.rules().fire(&mut self.core, at),
                None => Flow::Continue,
            };
            self.follow(at, flow);
            return;
        }
        self.fire_phase_timer(at);
    }

    fn fire_floor(&mut self, at: Millis) {
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

    fn fire_phase_timer(&mut self, at: Millis) {
        let Some(t) = self.core.phase_timer.as_mut() else {
            return;
        };
        match t.take_due(at) {
            Some(Due::Warning) => {
                let deadline = t.deadline;
                self.core.emit(
                    at,
                    EventKind::Warning {
                        deadline,
                        phase: true,
                    },
                );
            }
            Some(Due::Deadline) => {
                let on_timeout = self
                    .core
                    .phase_spec()
                    .map_or(OnTimeout::Advance, |p| p.on_timeout);
                match on_timeout {
                    OnTimeout::Advance => self.advance_phase(at),
                    OnTimeout::Overtime => {
                        self.core.phase_timer = None;
                        self.core.phase_overtime = true;
                        let index = self.core.phase_idx.unwrap_or(0);
                        self.core.emit(at, EventKind::PhaseOvertime { index });
                    }
                }
            }
            None => {}
        }
    }

    fn follow(&mut self, at: Millis, flow: Flow) {
        if flow == Flow::Done && self.core.session != Session::Ended {
            self.advance_phase(at);
        }
    }

    fn settle(&mut self, at: Millis) {
        // A phase that completes while settling hands over to the next, which may settle too;
        // bounded by the number of phases.
        for _ in 0..=self.core.protocol.phases.len() {
            if self.core.session != Session::Running {
                return;
            }
            let flow = match self.phase.as_mut() {
                Some(p) => p.rules().settle(&mut self.core, at),
                None => return,
            };
            if flow == Flow::Continue {
                return;
            }
            self.advance_phase(at);
        }
    }

    /// Ends the current phase and starts the next, or ends the session after the last.
    fn advance_phase(&mut self, at: Millis) {
        self.close_phase(at);
        let next = self.core.phase_idx.map_or(0, |i| i + 1);
        if next < self.core.protocol.phases.len() {
            self.start_phase(next, at);
        } else {
            self.end_session(at);
        }
    }

    fn close_phase(&mut self, at: Millis) {
        self.core.release(at, ReleaseReason::PhaseEnded);
        if let Some(p) = self.phase.as_mut() {
            p.rules().close(&mut self.core, at);
        }
        if let Some(spec) = self.core.phase_spec() {
            let (index, id) = (self.core.phase_idx.unwrap_or(0), spec.id.clone());
            self.core.emit(at, EventKind::PhaseEnded { index, id });
        }
        self.phase = None;
        self.core.phase_timer = None;
        self.core.phase_overtime = false;
        self.core.invitation = None;
    }

    fn start_phase(&mut self, idx: usize, at: Millis) {
        let spec = self.core.protocol.phases[idx].clone();
        self.core.phase_idx = Some(idx);
        self.core.phase_timer =
            phase_duration(&spec.kind).map(|d| Timer::new(at, d, spec.warn_before_ms));
        self.core.emit(
            at,
            EventKind::PhaseStarted {
                index: idx,
                id: spec.id.clone(),
                kind: spec.kind.name().to_string(),
                title: spec.title.clone(),
                prompt: spec.prompt.clone(),
                deadline: self.core.phase_timer.map(|t| t.deadline),
            },
        );
        let (state, flow) = PhaseState::start(&spec, &mut self.core, at);
        self.phase = Some(state);
        self.follow(at, flow);
    }

    fn end_session(&mut self, at: Millis) {
        if self.core.session == Session::Ended {
            return;
        }
        if self.phase.is_some() {
            self.close_phase(at);
        }
        self.core.session = Session::Ended;
        self.core.emit(at, EventKind::SessionEnded);
    }

    fn join(
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

    fn leave(&mut self, at: Millis, member: &MemberId) {
        if !self.core.roster.is_present(member) {
            return;
        }
        self.core.roster.leave(member);
        self.core.emit(
            at,
            EventKind::MemberLeft {
                member: member.clone(),
            },
        );
        self.member_gone(at, member, ReleaseReason::Left);
    }

    /// Who hears about `member` arriving or leaving: everyone in a small room; in a large one,
    /// staff and the member (staff arrivals are always announced).
    fn join_audience(&self, member: &MemberId, role: Role) -> Audience {
        if role.is_staff() || self.core.roster.present_count() <= ANNOUNCE_JOINS_UP_TO {
            Audience::Everyone
        } else {
            Audience::MemberAndStaff(member.clone())
        }
    }

    /// Takes a member who can no longer speak (left, muted, removed) off the floor and out of
    /// queues and invitations.
    fn member_gone(&mut self, at: Millis, member: &MemberId, reason: ReleaseReason) {
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

    fn release_to_phase(&mut self, at: Millis, reason: ReleaseReason) {
        if let Some(r) = self.core.release(at, reason) {
            let flow = match self.phase.as_mut() {
                Some(p) => p.rules().released(&mut self.core, at, r),
                None => Flow::Continue,
            };
            self.follow(at, flow);
        }
    }

    /// Puts a `message_flagged` (staff only) after each message of this input that matches the
    /// word list. Messages only their author sees (private notes) are left alone.
    fn flag_messages(&mut self, at: Millis, mark: usize) {
        if self.core.config.word_list.is_empty() || mark >= self.core.out.len() {
            return;
        }
        let list = Arc::clone(&self.core.config.word_list);
        let tail = self.core.out.split_off(mark);
        for ev in tail {
            let said = match (&ev.kind, &ev.audience) {
                (_, Audience::Member(_)) => None,
                (
                    EventKind::Said {
                        message,
                        member,
                        text,
                    }
                    | EventKind::QuestionAsked {
                        question: message,
                        member,
                        text,
                    },
                    _,
                ) => Some((*message, Some(member.clone()), text)),
                (
                    EventKind::Noted {
                        message,
                        member,
                        text,
                    },
                    _,
                ) => Some((*message, member.clone(), text)),
                _ => None,
            };
            let flag = said.and_then(|(message, member, text)| {
                let words = list.matches(text);
                (!words.is_empty()).then_some(EventKind::MessageFlagged {
                    message,
                    member,
                    words,
                })
            });
            self.core.out.push(ev);
            if let Some(kind) = flag {
                self.core.emit_to(at, Audience::Staff, kind);
            }
        }
    }

    fn command(&mut self, at: Millis, from: &MemberId, cmd: &Command) -> Result<(), Rejection> {
        let mark = self.core.out.len();
        self.apply_command(at, from, cmd)?;
        if cmd.capability() == Capability::Moderate {
            self.sign(mark, from, cmd);
        }
        Ok(())
    }

    /// Names the moderator on the events their command caused that carry an optional `by`
    /// (queue and question order, a raised hand served by `grant_floor`), so the log says who
    /// did every moderator action. Events from the phase's own rules stay unsigned.
    fn sign(&mut self, mark: usize, by: &MemberId, cmd: &Command) {
        for ev in &mut self.core.out[mark..] {
            match &mut ev.kind {
                EventKind::QueueChanged { by: b, .. }
                | EventKind::QuestionOrder { by: b, .. }
                | EventKind::QuestionsMerged { by: b, .. }
                    if b.is_none() =>
                {
                    *b = Some(by.clone());
                }
                EventKind::FloorGranted { member, by: b, .. } if b.is_none() => {
                    if matches!(cmd, Command::GrantFloor { member: m } if m == member) {
                        *b = Some(by.clone());
                    }
                }
                _ => {}
            }
        }
    }

    fn apply_command(
        &mut self,
        at: Millis,
        from: &MemberId,
        cmd: &Command,
    ) -> Result<(), Rejection> {
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
        self.check_session(cmd)?;
        match cmd {
            Command::Start => self.start(at),
            Command::Pause => self.pause(at),
            Command::Resume => self.resume(at),
            Command::NextPhase => {
                self.advance_phase(at);
                Ok(())
            }
            Command::End => {
                self.end_session(at);
                Ok(())
            }
            Command::Extend { seconds, target } => self.extend(at, *seconds, *target),
            Command::Broadcast { text } => {
                let text = self.check_text(text)?;
                self.core.emit(
                    at,
                    EventKind::Broadcast {
                        by: from.clone(),
                        text,
                    },
                );
                Ok(())
            }
            Command::GrantFloor { member } => self.grant_floor(at, from, member),
            Command::AcceptFloor => self.accept_floor(at, from),
            Command::DeclineFloor => {
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
            Command::RevokeFloor => {
                let Some(holder) = self.core.holder().cloned() else {
                    return reject(RejectCode::NoFloor, "nobody holds the floor");
                };
                self.core.emit(
                    at,
                    EventKind::FloorRevoked {
                        member: holder,
                        by: from.clone(),
                    },
                );
                self.release_to_phase(at, ReleaseReason::Revoked);
                Ok(())
            }
            Command::Mute { member } => self.mute(at, from, member),
            Command::Interject { on } => self.interject(at, from, *on),
            Command::Unmute { member } => {
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
                        by: from.clone(),
                    },
                );
                Ok(())
            }
            Command::Remove { member } => self.remove(at, from, member),
            Command::ResolveHelp { member } => {
                let Some(i) = self.core.help.iter().position(|m| m == member) else {
                    return reject(
                        RejectCode::UnknownItem,
                        "that member has no open help request",
                    );
                };
                self.core.help.remove(i);
                self.core.emit_to(
                    at,
                    Audience::MemberAndStaff(member.clone()),
                    EventKind::HelpResolved {
                        member: member.clone(),
                        by: from.clone(),
                    },
                );
                Ok(())
            }
            Command::AskHelp => {
                if self.core.help.contains(from) {
                    return reject(
                        RejectCode::Duplicate,
                        "you already asked for help; a facilitator will come",
                    );
                }
                self.core.help.push(from.clone());
                self.core.emit_to(
                    at,
                    Audience::Staff,
                    EventKind::HelpRequested {
                        member: from.clone(),
                    },
                );
                Ok(())
            }
            Command::Hide { message } => {
                if *message == 0 || *message >= self.core.next_item {
                    return reject(
                        RejectCode::UnknownItem,
                        format!("there is no message {message}"),
                    );
                }
                if self.core.hidden.contains(message) {
                    return reject(RejectCode::Duplicate, "that message is already hidden");
                }
                self.core.hidden.push(*message);
                self.core.emit(
                    at,
                    EventKind::Hidden {
                        message: *message,
                        by: from.clone(),
                    },
                );
                self.close_reports(
                    at,
                    from,
                    &ReportTarget::Message(*message),
                    ReportStatus::Hidden,
                );
                Ok(())
            }
            Command::Report {
                message,
                member,
                reason,
            } => self.report(at, from, *message, member.as_ref(), reason),
            Command::DismissReport { report } => {
                let Some(idx) = self.core.reports.iter().position(|r| r.id == *report) else {
                    return reject(
                        RejectCode::UnknownItem,
                        format!("there is no open report {report}"),
                    );
                };
                let r = self.core.reports.remove(idx);
                self.core.emit_to(
                    at,
                    Audience::Staff,
                    EventKind::ReportClosed {
                        report: r.id,
                        by: from.clone(),
                        status: ReportStatus::Dismissed,
                    },
                );
                Ok(())
            }
            _ => self.phase_command(at, from, cmd),
        }
    }

    /// Commands the phase may own, then the generic floor-holder commands.
    fn phase_command(
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

    /// Refusals that depend only on where the session is.
    fn check_session(&self, cmd: &Command) -> Result<(), Rejection> {
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

    fn check_text(&self, text: &str) -> Result<String, Rejection> {
        let text = moderation::clean_text(text);
        let text = text.trim();
        if text.is_empty() {
            return reject(RejectCode::Invalid, "the text is empty");
        }
        let max = self.core.config.max_text_chars;
        if text.chars().count() > max {
            return reject(
                RejectCode::TooLong,
                format!("text is limited to {max} characters"),
            );
        }
        Ok(text.to_string())
    }

    fn target(&self, member: &MemberId) -> Result<&member::Member, Rejection> {
        match self.core.roster.get(member) {
            Some(m) => Ok(m),
            None => reject(
                RejectCode::UnknownMember,
                format!("there is no member {member}"),
            ),
        }
    }

    fn start(&mut self, at: Millis) -> Result<(), Rejection> {
        self.core.session = Session::Running;
        self.core.emit(at, EventKind::SessionStarted);
        self.start_phase(0, at);
        Ok(())
    }

    fn pause(&mut self, at: Millis) -> Result<(), Rejection> {
        self.core.session = Session::Paused { since: at };
        self.core.freeze_floor(at);
        self.core.emit(at, EventKind::SessionPaused);
        Ok(())
    }

    fn resume(&mut self, at: Millis) -> Result<(), Rejection> {
        let Session::Paused { since } = self.core.session else {
            return reject(RejectCode::Invalid, "the session is not paused");
        };
        let shift = at.since(since);
        self.core.thaw(at, shift);
        if let Some(p) = self.phase.as_mut() {
            p.rules().shift(shift);
        }
        self.core.session = Session::Running;
        self.core
            .emit(at, EventKind::SessionResumed { shifted_ms: shift });
        Ok(())
    }

    fn extend(&mut self, at: Millis, seconds: u32, target: ExtendTarget) -> Result<(), Rejection> {
        if seconds == 0 || seconds > MAX_EXTEND_SECONDS {
            return reject(
                RejectCode::Invalid,
                format!("extend by 1 to {MAX_EXTEND_SECONDS} seconds"),
            );
        }
        let ms = u64::from(seconds) * 1000;
        let warn = self.core.warn_ms();
        // A paused session extends from the moment it resumes; `at` stands in for it because
        // the resume shift is added on top.
        let turn_target = target == ExtendTarget::Turn
            && self
                .core
                .floor
                .as_ref()
                .is_some_and(|f| f.timer.is_some() || f.overtime);
        if turn_target {
            let Some(f) = self.core.floor.as_mut() else {
                return reject(RejectCode::NoFloor, "nobody holds the floor");
            };
            match f.timer.as_mut() {
                Some(t) => t.extend(at, ms, warn),
                None => {
                    f.timer = Some(Timer::new(at, ms, warn));
                    f.overtime = false;
                }
            }
            let deadline = f.timer.map_or(at, |t| t.deadline);
            self.core.emit(
                at,
                EventKind::DeadlineExtended {
                    deadline,
                    phase: false,
                },
            );
            return Ok(());
        }
        match self.core.phase_timer.as_mut() {
            Some(t) => t.extend(at, ms, warn),
            None if self.core.phase_overtime => {
                self.core.phase_timer = Some(Timer::new(at, ms, warn));
                self.core.phase_overtime = false;
            }
            None => {
                return reject(
                    RejectCode::NotAllowed,
                    "this phase and turn have no time limit to extend",
                )
            }
        }
        let deadline = self.core.phase_timer.map_or(at, |t| t.deadline);
        self.core.emit(
            at,
            EventKind::DeadlineExtended {
                deadline,
                phase: true,
            },
        );
        Ok(())
    }

    fn grant_floor(
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

    fn accept_floor(&mut self, at: Millis, from: &MemberId) -> Result<(), Rejection> {
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
        self.follow(at, flow);
        Ok(())
    }

    fn mute(&mut self, at: Millis, by: &MemberId, member: &MemberId) -> Result<(), Rejection> {
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

    /// Staff speaking over the floor. The time is reported on the closing event and kept out
    /// of the ledger, so an interjection never counts as a resident's speaking time.
    fn interject(&mut self, at: Millis, from: &MemberId, on: bool) -> Result<(), Rejection> {
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

    /// The hall's mute state for `member`, applied here; no change when it already agrees.
    fn hall_moderation(&mut self, at: Millis, member: &MemberId, muted: bool, by: &MemberId) {
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

    fn remove(&mut self, at: Millis, by: &MemberId, member: &MemberId) -> Result<(), Rejection> {
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

    /// Files a report for staff. Checks everything before changing anything, so a refusal
    /// leaves the state as it was.
    fn report(
        &mut self,
        at: Millis,
        from: &MemberId,
        message: Option<u64>,
        member: Option<&MemberId>,
        reason: &str,
    ) -> Result<(), Rejection> {
        let target = match (message, member) {
            (Some(m), None) => ReportTarget::Message(m),
            (None, Some(m)) => ReportTarget::Member(m.clone()),
            _ => return reject(RejectCode::Invalid, "report either a message or a member"),
        };
        let reason = moderation::clean_text(reason);
        let reason = reason.trim();
        if reason.is_empty() {
            return reject(RejectCode::Invalid, "say briefly what is wrong");
        }
        if reason.chars().count() > MAX_REPORT_REASON_CHARS {
            return reject(
                RejectCode::TooLong,
                format!("a reason is limited to {MAX_REPORT_REASON_CHARS} characters"),
            );
        }
        match &target {
            ReportTarget::Message(m) => {
                if *m == 0 || *m >= self.core.next_item {
                    return reject(RejectCode::UnknownItem, format!("there is no message {m}"));
                }
                if self.core.hidden.contains(m) {
                    return reject(
                        RejectCode::NotAllowed,
                        "a moderator already hid that message",
                    );
                }
            }
            ReportTarget::Member(m) => {
                self.target(m)?;
                if m == from {
                    return reject(RejectCode::Invalid, "you cannot report yourself");
                }
                if self.core.roster.is_removed(m) {
                    return reject(
                        RejectCode::NotAllowed,
                        "a moderator already removed that member",
                    );
                }
            }
        }
        let mine = self.core.reports.iter().filter(|r| &r.by == from);
        if mine.clone().any(|r| r.target().as_ref() == Some(&target)) {
            return reject(
                RejectCode::Duplicate,
                "you already reported that; a moderator will look at it",
            );
        }
        if mine.count() >= MAX_OPEN_REPORTS_PER_MEMBER {
            return reject(
                RejectCode::TooManyReports,
                format!(
                    "you have {MAX_OPEN_REPORTS_PER_MEMBER} open reports; \
                     wait until a moderator handles one"
                ),
            );
        }
        let id = self.core.next_report;
        self.core.next_report += 1;
        let (message, member) = match target {
            ReportTarget::Message(m) => (Some(m), None),
            ReportTarget::Member(m) => (None, Some(m)),
        };
        let report = Report {
            id,
            by: from.clone(),
            message,
            member: member.clone(),
            reason: reason.to_string(),
            at,
            status: ReportStatus::Open,
        };
        self.core.reports.push(report);
        self.core.emit_to(
            at,
            Audience::Staff,
            EventKind::ReportFiled {
                report: id,
                by: from.clone(),
                message,
                member,
                reason: reason.to_string(),
            },
        );
        Ok(())
    }

    /// Closes every open report about `target`: the moderator acted on it.
    fn close_reports(
        &mut self,
        at: Millis,
        by: &MemberId,
        target: &ReportTarget,
        status: ReportStatus,
    ) {
        let (closed, open): (Vec<Report>, Vec<Report>) = std::mem::take(&mut self.core.reports)
            .into_iter()
            .partition(|r| r.target().as_ref() == Some(target));
        self.core.reports = open;
        for r in closed {
            self.core.emit_to(
                at,
                Audience::Staff,
                EventKind::ReportClosed {
                    report: r.id,
                    by: by.clone(),
                    status,
                },
            );
        }
    }
}

/// The phase's own time limit, for kinds that have one.
fn phase_duration(kind: &PhaseKind) -> Option<u64> {
    match kind {
        PhaseKind::Presentation(p) => Some(p.duration_ms),
        PhaseKind::Round(_) | PhaseKind::Fishbowl(_) => None,
        PhaseKind::Queue(q) => q.duration_ms,
        PhaseKind::Curiosity(c) => Some(c.budget_ms),
        PhaseKind::Reflection(r) => Some(r.duration_ms),
        PhaseKind::Breakout(b) => Some(b.duration_ms),
        PhaseKind::Qa(q) => q.duration_ms,
        PhaseKind::Poll(p) => p.duration_ms,
    }
}
