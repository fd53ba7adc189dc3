//! One simulated session: the real engine, driven by synthetic participants on simulated time.
//!
//! The driver only sends commands and ticks, exactly as the room actor does; every rule and
//! every number comes from the engine. Participants react to events (a floor granted, a
//! reflect-back to confirm, a phase that opens the floor) after short simulated delays drawn
//! from their model, and a simulated facilitator keeps things moving the way a real one would:
//! it moves on from an open floor that has gone quiet and wraps up overtime.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::Arc;

use crate::engine::command::Command;
use crate::engine::core::Session;
use crate::engine::equity::Equity;
use crate::engine::event::{Event, EventKind, ReleaseReason, TurnKind};
use crate::engine::member::{MemberId, Role};
use crate::engine::rng::Rng;
use crate::engine::{Engine, EngineConfig, Input};
use crate::protocol::{FishbowlSides, PhaseKind, Protocol};
use crate::rehearse::crowd::{Crowd, Model, Models};
use crate::time::Millis;

/// Simulated start time (any fixed instant works; the engine only sees differences).
pub const SIM_T0: Millis = Millis(1_800_000_000_000);
/// Seconds between participants' decisions to raise a hand on an open floor.
const DECIDE_EVERY_MS: u64 = 20_000;
/// How long an open floor may sit empty before the simulated facilitator moves on.
const QUIET_FLOOR_MS: u64 = 60_000;
/// Cap on a phase with no time limit, so a rehearsal of an open-ended queue still ends.
const OPEN_PHASE_CAP_MS: u64 = 45 * 60_000;
/// Cap on a whole rehearsal.
const SESSION_CAP_MS: u64 = 12 * 3_600_000;
const MAX_STEPS: usize = 500_000;

pub const FACILITATOR: &str = "facilitator";

#[derive(Debug, Clone, PartialEq)]
pub struct PhaseTiming {
    pub id: String,
    pub kind: String,
    pub ms: u64,
    /// The simulated facilitator ended an open-ended phase (it has no length of its own).
    pub cut_by_facilitator: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RunResult {
    pub seed: u64,
    pub duration_ms: u64,
    pub ended: bool,
    pub phases: Vec<PhaseTiming>,
    pub equity: Equity,
    /// Floor time per member summed from the event log (`floor_released.held_ms`), kept to
    /// check the engine's own accounting against.
    pub held_from_events: BTreeMap<MemberId, u64>,
    pub refusals: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Action {
    Command(MemberId, CommandKey),
    /// Participants consider raising a hand.
    Decide(usize),
    /// The facilitator checks whether an open floor has gone quiet.
    Patience(usize),
}

/// Commands scheduled for later, as orderable data.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum CommandKey {
    Raise,
    Yield,
    YieldTo(MemberId),
    Pass,
    Confirm,
    Clarify,
    Ask,
    Approve(u64),
    Vote(String),
    Revoke,
    Next(usize),
    Start,
}

struct Driver<'a> {
    engine: Engine,
    models: &'a Models,
    crowd: &'a Crowd,
    rng: Rng,
    now: Millis,
    queue: BinaryHeap<Reverse<(Millis, u64, Action)>>,
    n_scheduled: u64,
    log: Vec<Event>,
    refusals: usize,
    /// The phase index an Action belongs to (stale actions are dropped).
    phase_started: Millis,
    cut: Vec<usize>,
    quiet_since: Option<Millis>,
    approved: u32,
}

/// Runs one rehearsal of `protocol` with `crowd`.
pub fn simulate(protocol: Arc<Protocol>, crowd: &Crowd, models: &Models, seed: u64) -> RunResult {
    let mut d = Driver {
        engine: Engine::new(protocol, EngineConfig::with_seed(seed)),
        models,
        crowd,
        rng: Rng::new(seed ^ 0x5EED_CAFE_F00D_D00D),
        now: SIM_T0,
        queue: BinaryHeap::new(),
        n_scheduled: 0,
        log: Vec::new(),
        refusals: 0,
        phase_started: SIM_T0,
        cut: Vec::new(),
        quiet_since: None,
        approved: 0,
    };
    d.input(Input::Join {
        member: MemberId::new(FACILITATOR),
        name: "Facilitator".into(),
        role: Role::Facilitator,
        community: None,
    });
    for p in &crowd.people {
        d.input(Input::Join {
            member: MemberId::new(p.name.clone()),
            name: p.name.clone(),
            role: Role::Participant,
            community: Some(p.community.clone()),
        });
    }
    d.schedule(
        0,
        Action::Command(MemberId::new(FACILITATOR), CommandKey::Start),
    );
    d.run();
    d.finish(seed)
}

impl Driver<'_> {
    fn model(&self, member: &MemberId) -> Option<&Model> {
        let p = self.crowd.people.iter().find(|p| p.name == member.0)?;
        self.models.0.get(&p.model)
    }

    /// Every persona with one probability from its model (0 for an unknown model).
    fn people_with(&self, pick: fn(&Model) -> f64) -> Vec<(MemberId, f64)> {
        self.crowd
            .people
            .iter()
            .map(|p| {
                (
                    MemberId::new(p.name.clone()),
                    self.models.0.get(&p.model).map_or(0.0, pick),
                )
            })
            .collect()
    }

    fn persona_index(&self, member: &MemberId) -> Option<usize> {
        self.crowd.people.iter().position(|p| p.name == member.0)
    }

    fn schedule(&mut self, after_ms: u64, action: Action) {
        self.n_scheduled += 1;
        self.queue
            .push(Reverse((self.now + after_ms, self.n_scheduled, action)));
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.unit() < p
    }

    fn between(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.rng.unit()
    }

    fn input(&mut self, input: Input) {
        let h = self.engine.handle(self.now, input);
        if h.result.is_err() {
            self.refusals += 1;
        }
        for e in h.events {
            self.react(&e);
            self.log.push(e);
        }
    }

    fn phase_idx(&self) -> usize {
        self.engine.phase_index().unwrap_or(0)
    }

    fn run(&mut self) {
        for _ in 0..MAX_STEPS {
            if self.engine.session() == Session::Ended || self.now.since(SIM_T0) > SESSION_CAP_MS {
                return;
            }
            let next_action = self.queue.peek().map(|Reverse((t, _, _))| *t);
            let next_deadline = self.engine.next_deadline();
            match (next_action, next_deadline) {
                (Some(a), d) if d.is_none_or(|d| a <= d) => {
                    let Some(Reverse((t, _, action))) = self.queue.pop() else {
                        return;
                    };
                    self.now = t.max(self.now);
                    self.perform(action);
                }
                (_, Some(d)) => {
                    self.now = d.max(self.now);
                    self.input(Input::Tick);
                }
                (Some(_), None) | (None, None) => {
                    // Nothing scheduled and nothing pending: the facilitator moves on.
                    let idx = self.phase_idx();
                    self.cut.push(idx);
                    self.facilitator(CommandKey::Next(idx));
                }
            }
        }
    }

    fn facilitator(&mut self, key: CommandKey) {
        let cmd = self.command(&MemberId::new(FACILITATOR), key);
        if let Some(cmd) = cmd {
            self.input(Input::Command {
                from: MemberId::new(FACILITATOR),
                command: cmd,
            });
        }
    }

    fn perform(&mut self, action: Action) {
        match action {
            Action::Command(member, key) => {
                if let Some(cmd) = self.command(&member, key) {
                    self.input(Input::Command {
                        from: member,
                        command: cmd,
                    });
                }
            }
            Action::Decide(phase) if phase == self.phase_idx() => self.decide(phase),
            Action::Patience(phase) if phase == self.phase_idx() => self.patience(phase),
            Action::Decide(_) | Action::Patience(_) => {}
        }
    }

    fn command(&mut self, member: &MemberId, key: CommandKey) -> Option<Command> {
        Some(match key {
            CommandKey::Start => Command::Start,
            CommandKey::Raise => Command::RaiseHand {
                stance: self.stance_for(member),
            },
            CommandKey::Yield => Command::YieldFloor { to: None },
            CommandKey::YieldTo(to) => Command::YieldFloor { to: Some(to) },
            CommandKey::Pass => Command::Pass { for_now: false },
            CommandKey::Confirm => Command::ConfirmReflection,
            CommandKey::Clarify => Command::RequestClarification,
            CommandKey::Ask => Command::Ask {
                text: format!("A question from {member}"),
            },
            CommandKey::Approve(q) => Command::Approve { question: q },
            CommandKey::Vote(c) => Command::Vote { choice: c },
            CommandKey::Revoke => Command::RevokeFloor,
            CommandKey::Next(idx) => {
                if idx != self.phase_idx() {
                    return None;
                }
                Command::NextPhase
            }
        })
    }

    /// The stance a persona raises a hand with, where the phase has lanes or stance sides.
    fn stance_for(&self, member: &MemberId) -> Option<String> {
        let spec = self
            .engine
            .phase_index()
            .map(|i| &self.engine.protocol().phases[i])?;
        let stances = match &spec.kind {
            PhaseKind::Queue(q) if !q.stances.is_empty() => &q.stances,
            PhaseKind::Fishbowl(f) if f.sides == FishbowlSides::Stance => &f.stances,
            _ => return None,
        };
        let idx = self.persona_index(member)?;
        stances.get(idx % stances.len()).cloned()
    }

    fn open_floor_phase(&self) -> bool {
        let Some(i) = self.engine.phase_index() else {
            return false;
        };
        matches!(
            self.engine.protocol().phases[i].kind,
            PhaseKind::Queue(_) | PhaseKind::Fishbowl(_) | PhaseKind::Curiosity(_)
        )
    }

    fn decide(&mut self, phase: usize) {
        if !self.open_floor_phase() {
            return;
        }
        let queued = self.engine.queue();
        let holder = self.engine.floor().map(|f| f.member.clone());
        let people = self.people_with(|m| m.raise);
        for (m, p) in people {
            if queued.contains(&m) || holder.as_ref() == Some(&m) {
                continue;
            }
            if self.chance(p) {
                let delay = self.between(0.0, 5_000.0) as u64;
                self.schedule(delay, Action::Command(m, CommandKey::Raise));
            }
        }
        self.schedule(DECIDE_EVERY_MS, Action::Decide(phase));
    }

    fn patience(&mut self, phase: usize) {
        let open_ended = self.engine.phase_timer().is_none() && !self.engine.phase_overtime();
        let idle = self.engine.floor().is_none() && self.engine.queue().is_empty();
        let elapsed = self.now.since(self.phase_started);
        if idle {
            let since = *self.quiet_since.get_or_insert(self.now);
            if self.now.since(since) >= QUIET_FLOOR_MS && open_ended {
                self.cut.push(phase);
                self.facilitator(CommandKey::Next(phase));
                return;
            }
        } else {
            self.quiet_since = None;
        }
        if open_ended && elapsed >= OPEN_PHASE_CAP_MS {
            self.cut.push(phase);
            self.facilitator(CommandKey::Next(phase));
            return;
        }
        self.schedule(DECIDE_EVERY_MS / 2, Action::Patience(phase));
    }

    fn react(&mut self, e: &Event) {
        match &e.kind {
            EventKind::PhaseStarted { index, kind, .. } => {
                self.phase_started = self.now;
                self.quiet_since = None;
                self.approved = 0;
                match kind.as_str() {
                    "queue" | "fishbowl" | "curiosity" => {
                        self.schedule(1_000, Action::Decide(*index));
                        self.schedule(DECIDE_EVERY_MS, Action::Patience(*index));
                    }
                    "qa" => {
                        self.qa_opened();
                        self.schedule(DECIDE_EVERY_MS, Action::Patience(*index));
                    }
                    "poll" => self.poll_opened(*index),
                    _ => {}
                }
            }
            EventKind::SideChanged { .. } => {
                let idx = self.phase_idx();
                self.schedule(1_000, Action::Decide(idx));
            }
            EventKind::FloorGranted {
                member,
                turn,
                deadline,
                ..
            } => {
                self.floor_granted(member.clone(), *turn, *deadline);
            }
            EventKind::FloorReleased { member, turn, .. }
                if *turn == TurnKind::Own && self.open_floor_phase() =>
            {
                if let Some(m) = self.model(member).cloned() {
                    if self.chance(m.requeue) {
                        let delay = self.between(1_000.0, 5_000.0) as u64;
                        self.schedule(delay, Action::Command(member.clone(), CommandKey::Raise));
                    }
                }
            }
            EventKind::ReflectionPending {
                speaker, attempt, ..
            } => {
                if let Some(m) = self.model(speaker).cloned() {
                    let confirm = *attempt > 1 || self.chance(m.confirm);
                    let key = if confirm {
                        CommandKey::Confirm
                    } else {
                        CommandKey::Clarify
                    };
                    let delay = self.between(2_000.0, 6_000.0) as u64;
                    self.schedule(delay, Action::Command(speaker.clone(), key));
                }
            }
            EventKind::Nudged { member } => {
                if let Some(m) = self.model(member).cloned() {
                    if self.chance(m.nudge_response) {
                        let delay = self.between(2_000.0, 10_000.0) as u64;
                        self.schedule(delay, Action::Command(member.clone(), CommandKey::Raise));
                    }
                }
            }
            EventKind::TurnOvertime { .. } => {
                self.schedule(
                    30_000,
                    Action::Command(MemberId::new(FACILITATOR), CommandKey::Revoke),
                );
            }
            EventKind::PhaseOvertime { index } => {
                self.schedule(
                    10_000,
                    Action::Command(MemberId::new(FACILITATOR), CommandKey::Next(*index)),
                );
            }
            EventKind::QuestionAsked { question, .. } if self.approved < 5 => {
                self.approved += 1;
                self.schedule(
                    10_000,
                    Action::Command(MemberId::new(FACILITATOR), CommandKey::Approve(*question)),
                );
            }
            _ => {}
        }
    }

    fn floor_granted(&mut self, member: MemberId, turn: TurnKind, deadline: Option<Millis>) {
        let cap_ms = deadline.map(|d| d.since(self.now));
        if member.0 == FACILITATOR {
            if turn == TurnKind::Answer {
                if let Some(cap) = cap_ms {
                    self.schedule(cap * 4 / 5, Action::Command(member, CommandKey::Yield));
                }
            }
            return;
        }
        let Some(m) = self.model(&member).cloned() else {
            return;
        };
        let in_round = self
            .engine
            .phase_index()
            .is_some_and(|i| matches!(self.engine.protocol().phases[i].kind, PhaseKind::Round(_)));
        if turn == TurnKind::Own && in_round && self.chance(m.pass) {
            self.schedule(2_000, Action::Command(member, CommandKey::Pass));
            return;
        }
        let speak_ms = match cap_ms {
            Some(cap) => (cap as f64 * self.between(m.turn_use.0, m.turn_use.1)) as u64,
            None => (self.between(m.uncapped_seconds.0, m.uncapped_seconds.1) * 1000.0) as u64,
        };
        if cap_ms.is_some_and(|cap| speak_ms >= cap) {
            return; // uses the whole turn; the engine ends it
        }
        let key = if turn == TurnKind::Question {
            let others: Vec<MemberId> = self
                .crowd
                .people
                .iter()
                .map(|p| MemberId::new(p.name.clone()))
                .filter(|p| p != &member)
                .collect();
            if others.is_empty() {
                CommandKey::Yield
            } else {
                let i = self.rng.below(others.len() as u64) as usize;
                CommandKey::YieldTo(others[i].clone())
            }
        } else {
            CommandKey::Yield
        };
        self.schedule(speak_ms.max(1), Action::Command(member, key));
    }

    fn qa_opened(&mut self) {
        let people = self.people_with(|m| m.ask);
        for (m, p) in people {
            if self.chance(p) {
                let delay = self.between(5_000.0, 90_000.0) as u64;
                self.schedule(delay, Action::Command(m, CommandKey::Ask));
            }
        }
    }

    fn poll_opened(&mut self, index: usize) {
        let PhaseKind::Poll(spec) = &self.engine.protocol().phases[index].kind else {
            return;
        };
        let (choices, timed) = (spec.choices.clone(), spec.duration_ms.is_some());
        let people: Vec<MemberId> = self
            .crowd
            .people
            .iter()
            .map(|p| MemberId::new(p.name.clone()))
            .collect();
        for m in people {
            if self.chance(0.9) {
                let c = choices[self.rng.below(choices.len() as u64) as usize].clone();
                let delay = self.between(2_000.0, 20_000.0) as u64;
                self.schedule(delay, Action::Command(m, CommandKey::Vote(c)));
            }
        }
        if !timed {
            self.schedule(
                30_000,
                Action::Command(MemberId::new(FACILITATOR), CommandKey::Next(index)),
            );
        }
    }

    fn finish(self, seed: u64) -> RunResult {
        let mut phases: Vec<PhaseTiming> = Vec::new();
        let mut open: Option<(usize, String, String, Millis)> = None;
        let mut held_from_events: BTreeMap<MemberId, u64> = BTreeMap::new();
        let mut end = self.now;
        for e in &self.log {
            match &e.kind {
                EventKind::PhaseStarted {
                    index, id, kind, ..
                } => open = Some((*index, id.clone(), kind.clone(), e.at)),
                EventKind::PhaseEnded { .. } => {
                    if let Some((index, id, kind, start)) = open.take() {
                        phases.push(PhaseTiming {
                            id,
                            kind,
                            ms: e.at.since(start),
                            cut_by_facilitator: self.cut.contains(&index),
                        });
                    }
                }
                // A pass is not speaking (docs/fairness.md): its time is credited to nobody.
                EventKind::FloorReleased {
                    member,
                    held_ms,
                    reason,
                    ..
                } if *reason != ReleaseReason::Passed => {
                    *held_from_events.entry(member.clone()).or_default() += held_ms;
                }
                EventKind::SessionEnded => end = e.at,
                _ => {}
            }
        }
        RunResult {
            seed,
            duration_ms: end.since(SIM_T0),
            ended: self.engine.session() == Session::Ended,
            phases,
            equity: self.engine.equity(),
            held_from_events,
            refusals: self.refusals,
        }
    }
}
