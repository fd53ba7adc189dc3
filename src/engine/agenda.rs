//! The agenda: the session's life (start, pause, resume, end), the phase sequence (start,
//! close, advance, settle), the phase timer and the facilitator's agenda commands (next,
//! extend, broadcast).
//!
//! Phases hand control back through [`Flow`]: `Flow::Done` from any rule advances the agenda,
//! and the session ends after the last phase (there is no implicit "closing" phase).

use crate::engine::command::ExtendTarget;
use crate::engine::core::Session;
use crate::engine::event::{EventKind, ReleaseReason};
use crate::engine::member::MemberId;
use crate::engine::phase::{Flow, PhaseState};
use crate::engine::reject::{reject, RejectCode, Rejection};
use crate::engine::timer::{Due, Timer};
use crate::engine::{Engine, MAX_EXTEND_SECONDS, MAX_FIRES_PER_CALL};
use crate::protocol::{OnTimeout, PhaseKind};
use crate::time::Millis;

impl Engine {
    pub(super) fn fire_due(&mut self, now: Millis) {
        for _ in 0..MAX_FIRES_PER_CALL {
            match self.next_deadline() {
                Some(d) if d <= now => {
                    self.fire_one(d, d);
                    self.settle(d);
                }
                _ => return,
            }
        }
        debug_assert!(false, "timer loop did not converge");
    }

    /// Fires what fell due while no node ran the room, `since` to `now` (`Input::Outage`).
    ///
    /// Deadlines before `since` chain as a tick's do. Every due deadline from `since` on fires at
    /// its own instant, so the turn, phase or window it ends is accounted exactly as if the
    /// room had run; but whatever that starts goes through [`Core::start_at`] and starts at
    /// `now`. Without this the next turn would start at the old deadline: a 3 s turn could
    /// expire before any client heard of it, or a speaker lose the length of the outage.
    ///
    /// [`Core::start_at`]: crate::engine::core::Core::start_at
    ///
    /// Once something has started at `now`, a deadline still due (one that was running
    /// before the outage, such as the phase's own timer after a turn's) fires at `now` too:
    /// the room's events never go back in time, and a turn that it ends at once was never
    /// heard of, so it leaves no trace ([`Core::release`]).
    ///
    /// [`Core::release`]: crate::engine::core::Core::release
    pub(super) fn fire_after_outage(&mut self, since: Millis, now: Millis) {
        self.fire_due(Millis(since.0.saturating_sub(1)).min(now));
        self.core.resumed_at = Some(now);
        let mut resumed = false;
        for _ in 0..MAX_FIRES_PER_CALL {
            match self.next_deadline() {
                Some(d) if d <= now => {
                    let at = if resumed { now } else { d };
                    self.fire_one(d, at);
                    self.settle(at);
                    resumed = resumed || self.core.out.iter().any(|e| e.at > d);
                }
                _ => break,
            }
        }
        self.core.resumed_at = None;
    }

    /// Fires the earliest due timer, the one due at `due`, at `at` (its own deadline, except
    /// late in an outage).
    pub(super) fn fire_one(&mut self, due: Millis, at: Millis) {
        // The floor's timer first: a turn that ends with its phase is accounted as a turn.
        let floor_next = self
            .core
            .floor
            .as_ref()
            .and_then(|f| f.timer)
            .map(|t| t.next());
        if floor_next == Some(due) {
            self.fire_floor(at);
            return;
        }
        let internal = self
            .phase
            .as_ref()
            .and_then(|p| p.rules_ref().next_deadline());
        if internal == Some(due) {
            let flow = match self.phase.as_mut() {
                Some(p) => p.rules().fire(&mut self.core, at),
                None => Flow::Continue,
            };
            self.follow(at, flow);
            return;
        }
        if self.next_grace_end() == Some(due) {
            self.fire_grace(due, at);
            return;
        }
        self.fire_phase_timer(at);
    }

    pub(super) fn fire_phase_timer(&mut self, at: Millis) {
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

    pub(super) fn follow(&mut self, at: Millis, flow: Flow) {
        if flow == Flow::Done && self.core.session != Session::Ended {
            self.advance_phase(at);
        }
    }

    pub(super) fn settle(&mut self, at: Millis) {
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
    pub(super) fn advance_phase(&mut self, at: Millis) {
        let held = match self.phase.as_mut() {
            Some(p) => p.rules().hold_open(&mut self.core, at),
            None => false,
        };
        if held {
            self.core.release(at, ReleaseReason::PhaseEnded);
            self.core.phase_timer = None;
            self.core.phase_overtime = false;
            self.core.invitation = None;
            return;
        }
        self.close_phase(at);
        let next = self.core.phase_idx.map_or(0, |i| i + 1);
        if next < self.core.protocol.phases.len() {
            self.start_phase(next, at);
        } else {
            self.end_session(at);
        }
    }

    pub(super) fn close_phase(&mut self, at: Millis) {
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

    pub(super) fn start_phase(&mut self, idx: usize, at: Millis) {
        let at = self.core.start_at(at);
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

    pub(super) fn end_session(&mut self, at: Millis) {
        if self.core.session == Session::Ended {
            return;
        }
        if self.phase.is_some() {
            self.close_phase(at);
        }
        self.core.session = Session::Ended;
        self.core.emit(at, EventKind::SessionEnded);
    }

    pub(super) fn start(&mut self, at: Millis) -> Result<(), Rejection> {
        self.core.session = Session::Running;
        self.core.emit(at, EventKind::SessionStarted);
        self.start_phase(0, at);
        Ok(())
    }

    pub(super) fn pause(&mut self, at: Millis) -> Result<(), Rejection> {
        self.core.session = Session::Paused { since: at };
        self.core.freeze_floor(at);
        self.core.emit(at, EventKind::SessionPaused);
        Ok(())
    }

    pub(super) fn resume(&mut self, at: Millis) -> Result<(), Rejection> {
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

    pub(super) fn extend(
        &mut self,
        at: Millis,
        seconds: u32,
        target: ExtendTarget,
    ) -> Result<(), Rejection> {
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

    /// A facilitator's announcement to the whole room.
    pub(super) fn broadcast(
        &mut self,
        at: Millis,
        by: &MemberId,
        text: &str,
    ) -> Result<(), Rejection> {
        let text = self.check_text(text)?;
        self.core.emit(
            at,
            EventKind::Broadcast {
                by: by.clone(),
                text,
            },
        );
        Ok(())
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
