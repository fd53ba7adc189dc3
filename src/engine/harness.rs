//! Test harness for the engine: simulated time, members by short names, and helpers that
//! build protocols in code. Tests assert on simulated time and emitted events only.

use std::sync::Arc;

use crate::engine::command::Command;
use crate::engine::event::{Event, EventKind, TurnKind};
use crate::engine::member::{MemberId, Role};
use crate::engine::reject::{RejectCode, Rejection};
use crate::engine::{Engine, EngineConfig, Handled, Input};
use crate::protocol::*;
use crate::time::Millis;

pub(crate) const T0: Millis = Millis(1_700_000_000_000);

pub(crate) fn id(name: &str) -> MemberId {
    MemberId::new(name)
}

pub(crate) struct Harness {
    pub engine: Engine,
    pub now: Millis,
    /// Every event so far.
    pub log: Vec<Event>,
}

impl Harness {
    pub fn new(phases: Vec<PhaseSpec>) -> Harness {
        Harness::with_seed(phases, 42)
    }

    pub fn with_seed(phases: Vec<PhaseSpec>, seed: u64) -> Harness {
        Harness::with_config(phases, EngineConfig::with_seed(seed))
    }

    pub fn with_config(phases: Vec<PhaseSpec>, config: EngineConfig) -> Harness {
        let protocol = Protocol {
            name: "test".into(),
            title: "Test".into(),
            description: String::new(),
            group_size: None,
            phases,
        };
        Harness {
            engine: Engine::new(Arc::new(protocol), config),
            now: T0,
            log: Vec::new(),
        }
    }

    fn apply(&mut self, input: Input) -> Handled {
        let h = self.engine.handle(self.now, input);
        self.log.extend(h.events.iter().cloned());
        h
    }

    pub fn join(&mut self, name: &str, role: Role, community: Option<&str>) {
        let h = self.apply(Input::Join {
            member: id(name),
            name: name.to_string(),
            role,
            community: community.map(str::to_string),
        });
        h.result.unwrap();
    }

    /// A facilitator `f` and participants with the given `(name, community)` pairs.
    pub fn room(&mut self, people: &[(&str, &str)]) {
        self.join("f", Role::Facilitator, None);
        for (n, c) in people {
            self.join(n, Role::Participant, Some(c));
        }
    }

    pub fn leave(&mut self, name: &str) {
        self.apply(Input::Leave { member: id(name) });
    }

    pub fn cmd(&mut self, from: &str, command: Command) -> Result<(), Rejection> {
        self.apply(Input::Command {
            from: id(from),
            command,
        })
        .result
    }

    pub fn ok(&mut self, from: &str, command: Command) {
        let c = command.clone();
        if let Err(e) = self.cmd(from, command) {
            panic!("{from} {c:?} refused: {e}");
        }
    }

    /// Asserts a refusal with `code` and that it changed nothing.
    pub fn refused(&mut self, from: &str, command: Command, code: RejectCode) {
        let before = self.engine.clone();
        let c = command.clone();
        let h = self.engine.handle(
            self.now,
            Input::Command {
                from: id(from),
                command,
            },
        );
        match h.result {
            Err(e) => assert_eq!(e.code, code, "{from} {c:?}: {e}"),
            Ok(()) => panic!("{from} {c:?} was accepted, expected {code:?}"),
        }
        assert!(
            h.events.is_empty(),
            "a refusal emitted events: {:?}",
            h.events
        );
        assert_eq!(self.engine, before, "a refusal changed state");
    }

    pub fn start(&mut self) {
        self.ok("f", Command::Start);
    }

    /// Moves time forward by `ms`, firing everything due on the way.
    pub fn advance(&mut self, ms: u64) {
        self.now = self.now + ms;
        self.apply(Input::Tick);
    }

    /// Jumps to the next deadline and fires it. Returns false when nothing is scheduled.
    pub fn step(&mut self) -> bool {
        match self.engine.next_deadline() {
            Some(d) => {
                self.now = d.max(self.now);
                self.apply(Input::Tick);
                true
            }
            None => false,
        }
    }

    pub fn holder(&self) -> Option<String> {
        self.engine.floor().map(|f| f.member.0.clone())
    }

    pub fn turn(&self) -> Option<TurnKind> {
        self.engine.floor().map(|f| f.turn)
    }

    pub fn queue(&self) -> Vec<String> {
        self.engine.queue().into_iter().map(|m| m.0).collect()
    }

    /// Members granted an own-view turn, in order.
    pub fn own_turns(&self) -> Vec<String> {
        self.grants(TurnKind::Own)
    }

    pub fn grants(&self, kind: TurnKind) -> Vec<String> {
        self.log
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::FloorGranted { member, turn, .. } if *turn == kind => {
                    Some(member.0.clone())
                }
                _ => None,
            })
            .collect()
    }

    pub fn count(&self, pred: impl Fn(&EventKind) -> bool) -> usize {
        self.log.iter().filter(|e| pred(&e.kind)).count()
    }

    pub fn phase_kind(&self) -> Option<&'static str> {
        self.engine
            .phase_index()
            .map(|i| self.engine.protocol().phases[i].kind.name())
    }
}

// Protocol builders.

pub(crate) fn phase(id: &str, kind: PhaseKind) -> PhaseSpec {
    PhaseSpec {
        id: id.into(),
        title: id.into(),
        prompt: Some(format!("prompt for {id}")),
        warn_before_ms: 0,
        on_timeout: OnTimeout::Advance,
        kind,
    }
}

pub(crate) fn presentation(secs: u64) -> PhaseKind {
    PhaseKind::Presentation(PresentationSpec {
        duration_ms: secs * 1000,
        speaker: Presenter::Facilitator,
    })
}

pub(crate) fn round(turn_s: u64) -> RoundSpec {
    RoundSpec {
        order: RoundOrder::Join,
        turn_ms: turn_s * 1000,
        think_ms: 0,
        pause_between_ms: 0,
        allow_pass: true,
        allow_pass_for_now: true,
        second_chance: false,
        reflect_back: None,
        on_turn_timeout: OnTimeout::Advance,
    }
}

pub(crate) fn queue(ordering: QueueOrdering) -> QueueSpec {
    QueueSpec {
        ordering,
        turn_ms: Some(60_000),
        duration_ms: None,
        first_timers_first: false,
        stances: Vec::new(),
        reflect_back: None,
        on_turn_timeout: OnTimeout::Advance,
        nudge_after_ms: None,
        move_on: None,
    }
}

pub(crate) fn reflection(secs: u64, notes: NoteVisibility) -> PhaseKind {
    PhaseKind::Reflection(ReflectionSpec {
        duration_ms: secs * 1000,
        notes,
    })
}

pub(crate) fn reflect_back() -> ReflectBackSpec {
    ReflectBackSpec {
        reflect_ms: 30_000,
        clarify_ms: 20_000,
        max_attempts: 2,
        confirm_ms: 15_000,
    }
}

pub(crate) const TWO_CITIES: [(&str, &str); 4] = [
    ("a1", "Dayton"),
    ("a2", "Dayton"),
    ("b1", "Boulder"),
    ("b2", "Boulder"),
];
