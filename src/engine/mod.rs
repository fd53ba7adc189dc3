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
//!    stretch turns or skew accounting); after an outage (`Input::Outage`) whatever they
//!    start inside the dead window starts at `now` instead (see `agenda::fire_after_outage`);
//! 2. the input is applied (a refusal changes nothing);
//! 3. the phase fills an empty floor if its rules say so (`settle`).

mod admission;
mod agenda;
pub mod budget;
pub mod command;
pub mod core;
pub mod equity;
pub mod event;
mod floor;
pub mod groups;
mod help;
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
mod grace_tests;
#[cfg(test)]
pub(crate) mod harness;
#[cfg(test)]
mod interject_tests;
#[cfg(test)]
mod moderation_tests;
#[cfg(test)]
mod outage_tests;
#[cfg(test)]
mod poll_tests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod voiced_tests;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::engine::command::{Capability, Command};
use crate::engine::core::{Core, Floor, Session};
use crate::engine::event::{Event, EventKind};
use crate::engine::member::{MemberId, Role};
use crate::engine::moderation::Report;
use crate::engine::phase::PhaseState;
use crate::engine::reject::{reject, RejectCode, Rejection};
use crate::engine::timer::Timer;
use crate::protocol::Protocol;
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
    /// No node ran the room from `since` until this input's `now`: the server was restarted
    /// from its journal, another node took the room over after its owner died, or the store
    /// refused the timer's tick. Timers due by then fire as with [`Input::Tick`], each at its
    /// own deadline (an expired turn ends there, with its own accounting), but whatever they
    /// start after `since` (the next turn, phase, pause or reflection window) starts at
    /// `now`, the moment clients can hear it, and gets its full length from there. Timers
    /// due before `since` chain exactly as a tick would. Journaled like every input, so a
    /// replay gives the same engine.
    Outage {
        since: Millis,
    },
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
    /// Voiced floor time the audio SFU measured since its last report, per member (RFC 6464
    /// voice activity on forwarded floor frames). The engine never hears audio; it only
    /// accounts the figure, so it is journaled and replayed like any input and is in the
    /// equity view and the report after a restart. It never changes a turn.
    Voiced {
        voiced: Vec<(MemberId, u64)>,
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
        let grace = self.next_grace_end();
        [floor, internal, grace, phase_timer]
            .into_iter()
            .flatten()
            .min()
    }

    // Inputs.

    pub fn handle(&mut self, now: Millis, input: Input) -> Handled {
        match input {
            Input::Outage { since } => self.fire_after_outage(since, now),
            _ => self.fire_due(now),
        }
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
            Input::Tick | Input::Outage { .. } => Ok(()),
            Input::Start => match self.core.session {
                Session::NotStarted => self.start(now),
                _ => reject(RejectCode::AlreadyStarted, "the session already started"),
            },
            Input::HallModeration { member, muted, by } => {
                self.hall_moderation(now, &member, muted, &by);
                Ok(())
            }
            Input::Voiced { voiced } => self.voiced(&voiced),
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

    /// Credits measured voice to members the room knows; a report naming nobody it knows
    /// changed nothing and is refused, so it is not journaled.
    fn voiced(&mut self, voiced: &[(MemberId, u64)]) -> Result<(), Rejection> {
        let mut credited = false;
        for (member, ms) in voiced {
            if *ms > 0 && self.core.roster.get(member).is_some() {
                self.core.ledger.credit_voiced(member, *ms);
                credited = true;
            }
        }
        if credited {
            Ok(())
        } else {
            reject(
                RejectCode::UnknownMember,
                "no voiced time for a member of this room",
            )
        }
    }

    fn command(&mut self, at: Millis, from: &MemberId, cmd: &Command) -> Result<(), Rejection> {
        let mark = self.core.out.len();
        self.budgeted(at, from, cmd)?; // apply_command within the record budget (budget.rs)
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

    /// Routes a command, after admission's checks, to the part of the engine that owns it.
    fn apply_command(
        &mut self,
        at: Millis,
        from: &MemberId,
        cmd: &Command,
    ) -> Result<(), Rejection> {
        self.authorize(from, cmd)?;
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
            Command::Broadcast { text } => self.broadcast(at, from, text),
            Command::GrantFloor { member } => self.grant_floor(at, from, member),
            Command::AcceptFloor => self.accept_floor(at, from),
            Command::DeclineFloor => self.decline_floor(at, from),
            Command::RevokeFloor => self.revoke_floor(at, from),
            Command::Interject { on } => self.interject(at, from, *on),
            Command::Mute { member } => self.mute(at, from, member),
            Command::Unmute { member } => self.unmute(at, from, member),
            Command::Remove { member } => self.remove(at, from, member),
            Command::Hide { message } => self.hide(at, from, *message),
            Command::Report {
                message,
                member,
                reason,
            } => self.report(at, from, *message, member.as_ref(), reason),
            Command::DismissReport { report } => self.dismiss_report(at, from, *report),
            Command::AskHelp => self.ask_help(at, from),
            Command::ResolveHelp { member } => self.resolve_help(at, from, member),
            _ => self.phase_command(at, from, cmd),
        }
    }

    pub(super) fn check_text(&self, text: &str) -> Result<String, Rejection> {
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

    pub(super) fn target(&self, member: &MemberId) -> Result<&member::Member, Rejection> {
        match self.core.roster.get(member) {
            Some(m) => Ok(m),
            None => reject(
                RejectCode::UnknownMember,
                format!("there is no member {member}"),
            ),
        }
    }
}
