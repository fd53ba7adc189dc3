//! Every shipped protocol runs to the end in the engine with simulated members.
//!
//! A small driver plays a facilitator and six participants from two communities. It reacts to
//! the engine's events the way people would (speak then yield, confirm a reflect-back, raise
//! hands on an open floor, ask and up-vote questions, vote in polls) and jumps simulated time
//! to the next deadline or the next scheduled bot action. Each bot action carries the context
//! it was planned in (phase, floor grant), and is dropped when that context has passed, so
//! every command the driver does send should be accepted: any refusal is a failure.

use std::collections::BTreeSet;
use std::sync::Arc;

use commonground::engine::command::Command;
use commonground::engine::core::Session;
use commonground::engine::event::{Audience, Event, EventKind, TurnKind};
use commonground::engine::member::{MemberId, Role};
use commonground::engine::{Engine, EngineConfig, Input};
use commonground::protocol::load::{default_dir, Library};
use commonground::protocol::{NoteVisibility, PhaseKind, Protocol, QueueOrdering};
use commonground::time::Millis;

const COMMUNITIES: [&str; 2] = ["Dayton, OH", "Boulder, CO"];
const N_PARTICIPANTS: usize = 6;
const MAX_STEPS: usize = 5_000;
const START: Millis = Millis(1_700_000_000_000);

/// When a planned action still makes sense.
#[derive(Debug, Clone, PartialEq)]
enum Guard {
    /// While this phase is current.
    Phase(usize),
    /// While this floor grant (by number) is the current one.
    Grant(u64),
    /// While this reflect-back confirmation is pending.
    Pending(u64),
    /// While this phase is current and the member neither holds the floor nor has a hand up
    /// (a person does not raise a hand that is already raised).
    Hand(usize, MemberId),
}

#[derive(Debug, Clone)]
struct Action {
    at: Millis,
    from: MemberId,
    command: Command,
    guard: Guard,
}

struct Sim {
    engine: Engine,
    now: Millis,
    facilitator: MemberId,
    participants: Vec<(MemberId, &'static str)>,
    plan: Vec<Action>,
    started: BTreeSet<usize>,
    refusals: Vec<String>,
    /// Number of the current floor grant, if the floor is held.
    grant: Option<u64>,
    n_grants: u64,
    /// Number of the pending reflect-back confirmation, if one is pending.
    pending: Option<u64>,
    n_pendings: u64,
    rng: u64,
    trace: Vec<String>,
    /// Every event, in order.
    events: Vec<Event>,
}

impl Sim {
    fn new(protocol: Arc<Protocol>, seed: u64) -> Sim {
        let engine = Engine::new(protocol, EngineConfig::with_seed(seed));
        let participants = (0..N_PARTICIPANTS)
            .map(|i| (MemberId::new(format!("p{i}")), COMMUNITIES[i % 2]))
            .collect();
        Sim {
            engine,
            now: START,
            facilitator: MemberId::new("fac"),
            participants,
            plan: Vec::new(),
            started: BTreeSet::new(),
            refusals: Vec::new(),
            grant: None,
            n_grants: 0,
            pending: None,
            n_pendings: 0,
            rng: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            trace: Vec::new(),
            events: Vec::new(),
        }
    }

    fn rand(&mut self, lo: u64, hi: u64) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        lo + self.rng % (hi - lo + 1)
    }

    fn input(&mut self, input: Input) {
        let what = format!("{input:?}");
        let handled = self.engine.handle(self.now, input);
        if let Err(r) = &handled.result {
            self.refusals.push(format!(
                "t+{}s phase {:?}: {what} refused: {r:?}",
                self.now.since(START) / 1000,
                self.engine.phase_index()
            ));
        }
        for e in handled.events {
            self.react(e);
        }
    }

    fn join_all(&mut self) {
        let fac = self.facilitator.clone();
        self.input(Input::Join {
            member: fac,
            name: "Facilitator".into(),
            role: Role::Facilitator,
            community: None,
        });
        for (id, community) in self.participants.clone() {
            let name = format!("Resident {}", id.as_str());
            self.input(Input::Join {
                member: id,
                name,
                role: Role::Participant,
                community: Some(community.to_string()),
            });
        }
    }

    fn schedule(&mut self, delay_ms: u64, from: &MemberId, command: Command, guard: Guard) {
        self.plan.push(Action {
            at: self.now + delay_ms,
            from: from.clone(),
            command,
            guard,
        });
    }

    fn phase(&self) -> usize {
        self.engine.phase_index().unwrap_or(usize::MAX)
    }

    fn kind(&self, index: usize) -> Option<PhaseKind> {
        self.engine
            .protocol()
            .phases
            .get(index)
            .map(|p| p.kind.clone())
    }

    fn raise_hand(&mut self, who: &MemberId, i: usize, delay: u64) {
        let phase = self.phase();
        let stance = match self.kind(phase) {
            Some(PhaseKind::Queue(q)) if q.ordering == QueueOrdering::AlternateStance => {
                Some(q.stances[i % q.stances.len()].clone())
            }
            _ => None,
        };
        self.schedule(
            delay,
            who,
            Command::RaiseHand { stance },
            Guard::Hand(phase, who.clone()),
        );
    }

    fn participant_index(&self, m: &MemberId) -> Option<usize> {
        self.participants.iter().position(|(id, _)| id == m)
    }

    fn react(&mut self, e: Event) {
        self.events.push(e.clone());
        self.trace
            .push(format!("t+{}s {:?}", e.at.since(START) / 1000, e.kind));
        match e.kind {
            EventKind::PhaseStarted { index, .. } => {
                self.started.insert(index);
                self.phase_started(index);
            }
            EventKind::FloorGranted { member, turn, .. } => {
                self.n_grants += 1;
                self.grant = Some(self.n_grants);
                self.pending = None;
                let g = Guard::Grant(self.n_grants);
                self.schedule(
                    1_000,
                    &member,
                    Command::Speak {
                        text: "Here is what I think.".into(),
                    },
                    g.clone(),
                );
                let delay = self.rand(20_000, 40_000);
                let to = match turn {
                    // A curiosity asker directs the question to another participant.
                    TurnKind::Question
                        if matches!(self.kind(self.phase()), Some(PhaseKind::Curiosity(_))) =>
                    {
                        let i = self.participant_index(&member).unwrap_or(0);
                        Some(self.participants[(i + 1) % N_PARTICIPANTS].0.clone())
                    }
                    _ => None,
                };
                self.schedule(delay.min(25_000), &member, Command::YieldFloor { to }, g);
            }
            EventKind::FloorReleased { member, .. } => {
                self.grant = None;
                // Back in line for another turn on an open floor.
                let phase = self.phase();
                let open = matches!(
                    self.kind(phase),
                    Some(PhaseKind::Queue(_) | PhaseKind::Curiosity(_))
                );
                if let (true, Some(i)) = (open, self.participant_index(&member)) {
                    let delay = self.rand(2_000, 8_000);
                    self.raise_hand(&member, i, delay);
                }
            }
            EventKind::ReflectionPending { speaker, .. } => {
                self.n_pendings += 1;
                self.pending = Some(self.n_pendings);
                self.schedule(
                    3_000,
                    &speaker,
                    Command::ConfirmReflection,
                    Guard::Pending(self.n_pendings),
                );
            }
            EventKind::ReflectionConfirmed { .. } => self.pending = None,
            EventKind::SideChanged { side, .. } => {
                let phase = self.phase();
                for (id, community) in self.participants.clone() {
                    if community == side {
                        let delay = self.rand(1_000, 5_000);
                        self.schedule(
                            delay,
                            &id,
                            Command::RaiseHand { stance: None },
                            Guard::Hand(phase, id.clone()),
                        );
                    }
                }
            }
            EventKind::QuestionAsked {
                question, member, ..
            } => {
                let phase = self.phase();
                let i = self.participant_index(&member).unwrap_or(0);
                let voter = self.participants[(i + 1) % N_PARTICIPANTS].0.clone();
                self.schedule(
                    2_000,
                    &voter,
                    Command::Upvote { question },
                    Guard::Phase(phase),
                );
                let fac = self.facilitator.clone();
                self.schedule(
                    5_000,
                    &fac,
                    Command::Approve { question },
                    Guard::Phase(phase),
                );
            }
            EventKind::SessionEnded => self.plan.clear(),
            _ => {}
        }
    }

    fn phase_started(&mut self, index: usize) {
        let guard = Guard::Phase(index);
        let parts = self.participants.clone();
        match self.kind(index) {
            Some(PhaseKind::Queue(_) | PhaseKind::Curiosity(_)) => {
                for (i, (id, _)) in parts.iter().enumerate() {
                    let delay = self.rand(1_000, 10_000);
                    self.raise_hand(id, i, delay);
                }
            }
            Some(PhaseKind::Qa(_)) => {
                for (i, (id, _)) in parts.iter().enumerate().take(3) {
                    let text = format!("Question {i}: how would this affect our neighborhoods?");
                    let delay = self.rand(5_000, 30_000);
                    self.schedule(delay, id, Command::Ask { text }, guard.clone());
                }
            }
            Some(PhaseKind::Poll(p)) => {
                for (i, (id, _)) in parts.iter().enumerate() {
                    let choice = p.choices[i % p.choices.len()].clone();
                    let delay = self.rand(2_000, 20_000);
                    self.schedule(delay, id, Command::Vote { choice }, guard.clone());
                }
            }
            Some(PhaseKind::Reflection(r)) if r.notes != NoteVisibility::None => {
                for (id, _) in &parts {
                    let delay = self.rand(10_000, 60_000);
                    let text = "Something I heard tonight stayed with me.".to_string();
                    self.schedule(delay, id, Command::Note { text }, guard.clone());
                }
            }
            _ => {}
        }
    }

    fn guard_holds(&self, g: &Guard) -> bool {
        match g {
            Guard::Phase(p) => self.engine.phase_index() == Some(*p),
            Guard::Grant(n) => self.grant == Some(*n),
            Guard::Pending(n) => self.pending == Some(*n),
            Guard::Hand(p, m) => {
                self.engine.phase_index() == Some(*p)
                    && self.engine.floor().is_none_or(|f| &f.member != m)
                    && !self.engine.queue().contains(m)
            }
        }
    }

    fn tick(&mut self, deadline: Millis) {
        self.now = self.now.max(deadline);
        self.input(Input::Tick);
    }

    /// Runs the session; returns a description of where it got stuck, if it did.
    fn run(&mut self) -> Result<(), String> {
        self.join_all();
        let fac = self.facilitator.clone();
        self.input(Input::Command {
            from: fac.clone(),
            command: Command::Start,
        });
        for _ in 0..MAX_STEPS {
            if self.engine.session() == Session::Ended {
                return Ok(());
            }
            self.plan.sort_by_key(|a| a.at);
            let deadline = self.engine.next_deadline();
            let next_action = self.plan.first().map(|a| a.at);
            match (next_action, deadline) {
                (Some(a), Some(d)) if d < a => self.tick(d),
                (None, Some(d)) => self.tick(d),
                (Some(_), _) => {
                    let action = self.plan.remove(0);
                    self.now = self.now.max(action.at);
                    if self.guard_holds(&action.guard) {
                        self.input(Input::Command {
                            from: action.from,
                            command: action.command,
                        });
                    }
                }
                (None, None) => {
                    let phase = self.phase();
                    let open_ended =
                        self.engine
                            .protocol()
                            .phases
                            .get(phase)
                            .is_some_and(|p| match &p.kind {
                                PhaseKind::Queue(q) => q.duration_ms.is_none(),
                                PhaseKind::Qa(q) => q.duration_ms.is_none(),
                                PhaseKind::Poll(q) => q.duration_ms.is_none(),
                                _ => false,
                            });
                    if !open_ended {
                        return Err(format!(
                            "stuck at t+{}s in phase {phase} with nothing scheduled; floor {:?}, queue {:?}",
                            self.now.since(START) / 1000,
                            self.engine.floor().map(|f| (&f.member, f.turn)),
                            self.engine.queue(),
                        ));
                    }
                    // The protocol leaves this phase's end to the facilitator.
                    self.input(Input::Command {
                        from: fac.clone(),
                        command: Command::NextPhase,
                    });
                }
            }
        }
        Err(format!("did not end within {MAX_STEPS} steps"))
    }
}

fn run_protocol(name: &str) {
    let lib = Library::load_dir(&default_dir()).expect("shipped protocols load");
    let protocol = lib
        .get(name)
        .unwrap_or_else(|| panic!("no protocol {name}"));
    for seed in [1, 7, 42] {
        let mut sim = Sim::new(protocol.clone(), seed);
        let res = sim.run();
        let tail = sim
            .trace
            .iter()
            .rev()
            .take(40)
            .rev()
            .cloned()
            .collect::<Vec<_>>()
            .join("\n");
        if let Err(e) = res {
            panic!("{name} (seed {seed}): {e}\nlast events:\n{tail}");
        }
        assert_eq!(sim.engine.session(), Session::Ended, "{name}");
        let all: BTreeSet<usize> = (0..protocol.phases.len()).collect();
        assert_eq!(
            sim.started, all,
            "{name} (seed {seed}): not every phase started"
        );
        assert!(
            sim.refusals.is_empty(),
            "{name} (seed {seed}): refused:\n{}",
            sim.refusals.join("\n")
        );
        // The simulated people really took part in what each phase offers.
        for phase in &protocol.phases {
            let expected = match &phase.kind {
                PhaseKind::Round(r) if r.reflect_back.is_some() => Some("ReflectionConfirmed"),
                PhaseKind::Round(_) | PhaseKind::Queue(_) | PhaseKind::Fishbowl(_) => {
                    Some("FloorGranted")
                }
                PhaseKind::Curiosity(_) => Some("turn: Answer"),
                PhaseKind::Qa(_) => Some("QuestionOnFloor"),
                PhaseKind::Poll(_) => Some("PollResults"),
                _ => None,
            };
            if let Some(what) = expected {
                assert!(
                    sim.trace.iter().any(|e| e.contains(what)),
                    "{name} (seed {seed}): no {what} in phase {}",
                    phase.id
                );
            }
        }
        // An `at_close` poll shows its closed results to everyone, and the next phase (or the
        // end) waits for them: here nobody moves on early, so it starts `show_results` later.
        for (index, phase) in protocol.phases.iter().enumerate() {
            let PhaseKind::Poll(p) = &phase.kind else {
                continue;
            };
            let closed: Vec<&Event> = sim
                .events
                .iter()
                .filter(|e| {
                    matches!(&e.kind, EventKind::PollResults { phase: id, closed: true, .. } if *id == phase.id)
                })
                .collect();
            assert_eq!(closed.len(), 1, "{name}: {} closed results", phase.id);
            let (at, until) = match &closed[0].kind {
                EventKind::PollResults { until, .. } => (closed[0].at, *until),
                _ => unreachable!(),
            };
            assert_eq!(
                closed[0].audience,
                Audience::Everyone,
                "{name}: {}",
                phase.id
            );
            let next = sim
                .events
                .iter()
                .find(|e| {
                    e.at >= at
                        && matches!(e.kind, EventKind::PhaseStarted { index: i, .. } if i == index + 1)
                        || matches!(e.kind, EventKind::SessionEnded)
                })
                .map(|e| e.at);
            if p.held_ms() > 0 {
                assert_eq!(until, Some(at + p.held_ms()), "{name}: {}", phase.id);
                assert_eq!(next, until, "{name}: the phase after {} waits", phase.id);
            } else {
                assert_eq!((until, next), (None, Some(at)), "{name}: {}", phase.id);
            }
        }
        let elapsed = sim.now.since(START);
        let bound = protocol.planned_ms(N_PARTICIPANTS as u64) * 2 + 10 * 60_000;
        assert!(
            elapsed <= bound,
            "{name} (seed {seed}): took {elapsed} ms of simulated time, more than {bound}"
        );
    }
}

#[test]
fn reflective_structured_dialogue_runs_to_the_end() {
    run_protocol("reflective-structured-dialogue");
}

#[test]
fn living_room_runs_to_the_end() {
    run_protocol("living-room");
}

#[test]
fn red_blue_workshop_runs_to_the_end() {
    run_protocol("red-blue-workshop");
}

#[test]
fn deliberative_forum_runs_to_the_end() {
    run_protocol("deliberative-forum");
}

#[test]
fn joint_town_hall_runs_to_the_end() {
    run_protocol("joint-town-hall");
}

#[test]
fn public_comment_runs_to_the_end() {
    run_protocol("public-comment");
}

#[test]
fn empathy_circle_runs_to_the_end() {
    run_protocol("empathy-circle");
}

#[test]
fn small_group_round_runs_to_the_end() {
    run_protocol("small-group-round");
}

#[test]
fn every_shipped_protocol_has_a_run_test() {
    let lib = Library::load_dir(&default_dir()).unwrap();
    let tested = [
        "deliberative-forum",
        "empathy-circle",
        "joint-town-hall",
        "living-room",
        "public-comment",
        "red-blue-workshop",
        "reflective-structured-dialogue",
        "small-group-round",
    ];
    assert_eq!(lib.names(), tested);
}
