//! Phase kinds: one file per kind, dispatched through one closed enum.
//!
//! Each kind implements [`Rules`]: how it reacts to commands it owns, to the floor being
//! released, to its own timers and to members coming and going. Everything common (the floor,
//! pause, the agenda, moderation) is handled by the engine before a phase sees it.

pub mod breakout;
mod curiosity;
mod fishbowl;
pub mod open_floor;
mod poll;
mod presentation;
pub mod pulse;
mod qa;
pub mod reflect_back;
pub mod round;
mod timed;
mod turn_queue;

use serde::{Deserialize, Serialize};

use crate::engine::command::Command;
use crate::engine::core::{Core, Released};
use crate::engine::member::MemberId;
use crate::engine::reject::{reject, RejectCode, Rejection};
use crate::protocol::{PhaseKind, PhaseSpec};
use crate::time::Millis;

pub use breakout::Breakout;
pub use curiosity::Curiosity;
pub use fishbowl::Fishbowl;
pub use poll::Poll;
pub use presentation::Presentation;
pub use qa::{Qa, Question};
pub use qa::{MAX_QUESTIONS_PER_MEMBER, MAX_QUESTIONS_PER_PHASE};
pub use round::Round;
pub use timed::Timed;
pub use turn_queue::TurnQueue;

/// Whether the phase has finished its work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// The phase is complete; the engine moves to the next one.
    Done,
}

/// The rules of one phase kind. Defaults describe a phase that owns no commands and no timers.
pub(crate) trait Rules {
    /// Handles a command this phase owns; `None` lets the engine handle it or refuse it.
    fn command(
        &mut self,
        _core: &mut Core,
        _at: Millis,
        _from: &MemberId,
        _cmd: &Command,
    ) -> Option<Result<Flow, Rejection>> {
        None
    }

    /// The floor was released (any reason); the phase decides who is next.
    fn released(&mut self, _core: &mut Core, _at: Millis, _r: Released) -> Flow {
        Flow::Continue
    }

    /// Called after every input while the session runs, to fill an empty floor.
    fn settle(&mut self, _core: &mut Core, _at: Millis) -> Flow {
        Flow::Continue
    }

    /// The phase's own next timer (think time, pauses, swaps, confirmation windows).
    fn next_deadline(&self) -> Option<Millis> {
        None
    }

    /// The phase's own timer is due at `at`.
    fn fire(&mut self, _core: &mut Core, _at: Millis) -> Flow {
        Flow::Continue
    }

    fn member_joined(&mut self, _core: &mut Core, _at: Millis, _member: &MemberId) -> Flow {
        Flow::Continue
    }

    /// A member left, was muted or was removed: drop them from queues and orders. The engine has
    /// already released the floor if they held it.
    fn member_gone(&mut self, _core: &mut Core, _at: Millis, _member: &MemberId) -> Flow {
        Flow::Continue
    }

    /// Whether `grant_floor` (an invitation to speak) makes sense in this phase.
    fn takes_invitations(&self) -> bool {
        false
    }

    /// A moderator grants the floor to `member`: the phase may serve a raised hand at once
    /// (raising a hand is consent). Returns true when it did.
    fn grant_raised_hand(&mut self, _core: &mut Core, _at: Millis, _member: &MemberId) -> bool {
        false
    }

    /// An invited member accepted.
    fn accept(
        &mut self,
        _core: &mut Core,
        _at: Millis,
        _member: &MemberId,
    ) -> Result<Flow, Rejection> {
        reject(
            RejectCode::WrongPhase,
            "this phase has no invitations to speak",
        )
    }

    /// The agenda is about to move on (time is up, or the facilitator moved on). A phase with
    /// something to show before the next starts (a poll's results at close) shows it and
    /// returns true: the phase then stays, without its phase timer, until its own timer says
    /// `Flow::Done` or the facilitator moves on again. Not asked when the session ends.
    fn hold_open(&mut self, _core: &mut Core, _at: Millis) -> bool {
        false
    }
    /// The phase is ending (time, facilitator, session end): publish what closes with it.
    fn close(&mut self, _core: &mut Core, _at: Millis) {}

    /// Moves the phase's own timers later (pause).
    fn shift(&mut self, _ms: u64) {}
}

/// The running state of the current phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PhaseState {
    Presentation(Presentation),
    Round(Round),
    Queue(TurnQueue),
    Fishbowl(Fishbowl),
    Curiosity(Curiosity),
    /// Reflection: a timed phase with notes.
    Timed(Timed),
    Breakout(Breakout),
    Qa(Qa),
    Poll(Poll),
}

impl PhaseState {
    /// Starts the phase described by `spec` at `at`. The engine has already set the phase
    /// timer and announced the phase.
    pub(crate) fn start(spec: &PhaseSpec, core: &mut Core, at: Millis) -> (PhaseState, Flow) {
        match &spec.kind {
            PhaseKind::Presentation(p) => {
                let (s, f) = Presentation::start(p, core, at);
                (PhaseState::Presentation(s), f)
            }
            PhaseKind::Round(r) => {
                let (s, f) = Round::start(r, core, at);
                (PhaseState::Round(s), f)
            }
            PhaseKind::Queue(q) => (PhaseState::Queue(TurnQueue::start(q, at)), Flow::Continue),
            PhaseKind::Fishbowl(f) => {
                let (s, flow) = Fishbowl::start(f, core, at);
                (PhaseState::Fishbowl(s), flow)
            }
            PhaseKind::Curiosity(c) => (PhaseState::Curiosity(Curiosity::start(c)), Flow::Continue),
            PhaseKind::Reflection(r) => (
                PhaseState::Timed(Timed::reflection(r.notes)),
                Flow::Continue,
            ),
            PhaseKind::Breakout(b) => (
                PhaseState::Breakout(Breakout::start(b, core, at)),
                Flow::Continue,
            ),
            PhaseKind::Qa(q) => (PhaseState::Qa(Qa::start(q)), Flow::Continue),
            PhaseKind::Poll(p) => (
                PhaseState::Poll(Poll::start(spec.id.clone(), p)),
                Flow::Continue,
            ),
        }
    }

    pub(crate) fn rules(&mut self) -> &mut dyn Rules {
        match self {
            PhaseState::Presentation(s) => s,
            PhaseState::Round(s) => s,
            PhaseState::Queue(s) => s,
            PhaseState::Fishbowl(s) => s,
            PhaseState::Curiosity(s) => s,
            PhaseState::Timed(s) => s,
            PhaseState::Breakout(s) => s,
            PhaseState::Qa(s) => s,
            PhaseState::Poll(s) => s,
        }
    }

    pub(crate) fn rules_ref(&self) -> &dyn Rules {
        match self {
            PhaseState::Presentation(s) => s,
            PhaseState::Round(s) => s,
            PhaseState::Queue(s) => s,
            PhaseState::Fishbowl(s) => s,
            PhaseState::Curiosity(s) => s,
            PhaseState::Timed(s) => s,
            PhaseState::Breakout(s) => s,
            PhaseState::Qa(s) => s,
            PhaseState::Poll(s) => s,
        }
    }

    /// The raised hands, in service order, for phases with a queue.
    pub fn queue(&self) -> Vec<MemberId> {
        match self {
            PhaseState::Queue(q) => q.open.order(),
            PhaseState::Fishbowl(f) => f.queue.open.order(),
            PhaseState::Curiosity(c) => c.open.order(),
            _ => Vec::new(),
        }
    }
}
