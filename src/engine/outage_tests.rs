//! `Input::Outage`: what fell due while no node ran the room ends at its own deadline, and
//! what starts after it gets its full length from the moment the room runs again. On
//! simulated time, next to the engine.

use crate::engine::command::Command;
use crate::engine::event::{Event, EventKind, ReleaseReason, TurnKind};
use crate::engine::harness::*;
use crate::engine::Input;
use crate::protocol::*;
use crate::time::Millis;

/// Feeds `input` at `now` and keeps it, so a test can replay the whole session.
struct Logged {
    h: Harness,
    inputs: Vec<(Millis, Input)>,
}

impl Logged {
    fn new(phases: Vec<PhaseSpec>, people: &[(&str, &str)]) -> Logged {
        let mut l = Logged {
            h: Harness::new(phases),
            inputs: Vec::new(),
        };
        l.input(Input::Join {
            member: id("f"),
            name: "f".into(),
            role: crate::engine::member::Role::Facilitator,
            community: None,
        });
        for (n, c) in people {
            l.input(Input::Join {
                member: id(n),
                name: (*n).into(),
                role: crate::engine::member::Role::Participant,
                community: Some((*c).into()),
            });
        }
        l.input(Input::Command {
            from: id("f"),
            command: Command::Start,
        });
        l
    }

    fn input(&mut self, input: Input) -> Vec<Event> {
        self.inputs.push((self.h.now, input.clone()));
        let handled = self.h.engine.handle(self.h.now, input);
        self.h.log.extend(handled.events.iter().cloned());
        handled.events
    }

    fn tick_at(&mut self, at: Millis) -> Vec<Event> {
        self.h.now = at;
        self.input(Input::Tick)
    }

    fn outage(&mut self, since: Millis, now: Millis) -> Vec<Event> {
        self.h.now = now;
        self.input(Input::Outage { since })
    }
}

fn three() -> [(&'static str, &'static str); 3] {
    [("a", "Dayton"), ("b", "Boulder"), ("c", "Dayton")]
}

fn round_of(turn_s: u64) -> Vec<PhaseSpec> {
    vec![
        phase("r", PhaseKind::Round(round(turn_s))),
        phase("end", reflection(60, NoteVisibility::None)),
    ]
}

fn granted(events: &[Event]) -> Vec<(String, Millis, Option<Millis>)> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::FloorGranted {
                member, deadline, ..
            } => Some((member.0.clone(), e.at, *deadline)),
            _ => None,
        })
        .collect()
}

fn released(events: &[Event]) -> Vec<(String, Millis, ReleaseReason, u64)> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::FloorReleased {
                member,
                reason,
                held_ms,
                ..
            } => Some((member.0.clone(), e.at, *reason, *held_ms)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_turn_due_in_an_outage_ends_at_its_deadline_and_the_next_gets_its_full_length() {
    let mut l = Logged::new(round_of(3), &three());
    assert_eq!(l.h.holder().as_deref(), Some("a"));
    // Down from 1 s in until 10 s: a's deadline (3 s) and all of what would have been b's
    // turn (3 s to 6 s) fell inside.
    let ev = l.outage(T0 + 1_000, T0 + 10_000);
    assert_eq!(
        released(&ev),
        [("a".into(), T0 + 3_000, ReleaseReason::Expired, 3_000)]
    );
    assert_eq!(
        granted(&ev),
        [("b".into(), T0 + 10_000, Some(T0 + 13_000))],
        "b's turn starts when clients can hear it, with its full 3 s"
    );
    assert_eq!(l.h.engine.ledger().speaking_ms(&id("a")), 3_000);
    assert_eq!(l.h.engine.ledger().speaking_ms(&id("b")), 0);
    let floor = l.h.engine.floor().unwrap();
    assert_eq!(
        (floor.granted_at, floor.segment_start),
        (T0 + 10_000, Some(T0 + 10_000))
    );
    // A tick a moment later changes nothing; b's turn then runs its full length.
    assert!(l.tick_at(T0 + 10_001).is_empty());
    let ev = l.tick_at(T0 + 13_000);
    assert_eq!(
        released(&ev),
        [("b".into(), T0 + 13_000, ReleaseReason::Expired, 3_000)]
    );
    assert_eq!(granted(&ev), [("c".into(), T0 + 13_000, Some(T0 + 16_000))]);
}

#[test]
fn a_tick_a_few_ms_late_still_chains_from_the_deadline() {
    let mut l = Logged::new(round_of(3), &three());
    let ev = l.tick_at(T0 + 3_007);
    assert_eq!(
        released(&ev),
        [("a".into(), T0 + 3_000, ReleaseReason::Expired, 3_000)]
    );
    assert_eq!(granted(&ev), [("b".into(), T0 + 3_000, Some(T0 + 6_000))]);
    // Much later ticks chain too: a Tick is not an outage.
    let ev = l.tick_at(T0 + 100_000);
    assert_eq!(
        granted(&ev),
        [("c".into(), T0 + 6_000, Some(T0 + 9_000))],
        "a tick keeps today's exact chaining"
    );
}

#[test]
fn deadlines_before_the_outage_chain_and_those_inside_it_end_on_time() {
    let mut l = Logged::new(round_of(3), &three());
    // The room last ran at 4 s (a's 3 s deadline was before): b started at 3 s and its 6 s
    // deadline fell in the window; c starts at the end of the outage.
    let ev = l.outage(T0 + 4_000, T0 + 20_000);
    assert_eq!(
        released(&ev),
        [
            ("a".into(), T0 + 3_000, ReleaseReason::Expired, 3_000),
            ("b".into(), T0 + 6_000, ReleaseReason::Expired, 3_000),
        ]
    );
    assert_eq!(
        granted(&ev),
        [
            ("b".into(), T0 + 3_000, Some(T0 + 6_000)),
            ("c".into(), T0 + 20_000, Some(T0 + 23_000)),
        ]
    );
}

#[test]
fn an_outage_with_nothing_due_changes_nothing() {
    let mut l = Logged::new(round_of(3), &three());
    let before = l.h.engine.clone();
    assert!(l.outage(T0 + 1_000, T0 + 2_000).is_empty());
    assert_eq!(l.h.engine, before);
}

#[test]
fn a_phase_that_starts_after_an_outage_gets_its_full_time_and_first_turn() {
    let mut l = Logged::new(
        vec![
            phase("p", presentation(5)),
            phase("r", PhaseKind::Round(round(60))),
        ],
        &three(),
    );
    let ev = l.outage(T0 + 1_000, T0 + 30_000);
    let started: Vec<_> = ev
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::PhaseStarted { index, .. } => Some((*index, e.at)),
            _ => None,
        })
        .collect();
    assert_eq!(started, [(1, T0 + 30_000)]);
    assert_eq!(
        released(&ev),
        [("f".into(), T0 + 5_000, ReleaseReason::PhaseEnded, 5_000)],
        "the presentation ends at its own deadline"
    );
    assert_eq!(granted(&ev), [("a".into(), T0 + 30_000, Some(T0 + 90_000))]);
}

#[test]
fn a_pause_between_speakers_starts_when_the_room_runs_again() {
    let mut spec = round(3);
    spec.pause_between_ms = 2_000;
    let mut l = Logged::new(vec![phase("r", PhaseKind::Round(spec))], &three());
    let ev = l.outage(T0 + 1_000, T0 + 10_000);
    let interludes: Vec<_> = ev
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Interlude { until, .. } => Some((e.at, *until)),
            _ => None,
        })
        .collect();
    assert_eq!(interludes, [(T0 + 10_000, T0 + 12_000)]);
    assert_eq!(l.h.holder(), None);
    let ev = l.tick_at(T0 + 12_000);
    assert_eq!(granted(&ev), [("b".into(), T0 + 12_000, Some(T0 + 15_000))]);
}

#[test]
fn a_queued_speaker_after_an_outage_gets_the_whole_turn() {
    let mut q = queue(QueueOrdering::Fifo);
    q.turn_ms = Some(3_000);
    let mut l = Logged::new(vec![phase("q", PhaseKind::Queue(q))], &three());
    for who in ["a", "b"] {
        l.input(Input::Command {
            from: id(who),
            command: Command::RaiseHand { stance: None },
        });
    }
    assert_eq!(l.h.holder().as_deref(), Some("a"));
    let ev = l.outage(T0 + 500, T0 + 60_000);
    assert_eq!(
        released(&ev),
        [("a".into(), T0 + 3_000, ReleaseReason::Expired, 3_000)]
    );
    assert_eq!(granted(&ev), [("b".into(), T0 + 60_000, Some(T0 + 63_000))]);
    assert_eq!(l.h.turn(), Some(TurnKind::Own));
}

#[test]
fn a_phase_that_also_ran_out_in_the_outage_takes_no_phantom_turn_with_it() {
    // A timed open floor: a's turn ends at 3 s, the phase at 5 s, both while the room is
    // down. b never held a turn nobody heard of; the next phase starts at the end.
    let mut q = queue(QueueOrdering::Fifo);
    q.turn_ms = Some(3_000);
    q.duration_ms = Some(5_000);
    let mut l = Logged::new(
        vec![
            phase("q", PhaseKind::Queue(q)),
            phase("end", reflection(60, NoteVisibility::None)),
        ],
        &three(),
    );
    for who in ["a", "b"] {
        l.input(Input::Command {
            from: id(who),
            command: Command::RaiseHand { stance: None },
        });
    }
    let ev = l.outage(T0 + 500, T0 + 60_000);
    assert_eq!(
        released(&ev),
        [("a".into(), T0 + 3_000, ReleaseReason::Expired, 3_000)]
    );
    assert!(
        granted(&ev).is_empty(),
        "no grant nobody could hear: {ev:?}"
    );
    assert_eq!(l.h.engine.ledger().get(&id("b")).map_or(0, |m| m.turns), 0);
    assert_eq!(l.h.engine.phase_index(), Some(1));
    assert!(
        ev.windows(2).all(|w| w[0].at <= w[1].at),
        "events in time order"
    );
    assert_eq!(
        l.h.engine.phase_timer().map(|t| t.deadline),
        Some(T0 + 120_000)
    );
}

#[test]
fn replaying_the_logged_inputs_gives_the_same_engine() {
    let mut l = Logged::new(round_of(3), &three());
    l.outage(T0 + 1_000, T0 + 10_000);
    l.tick_at(T0 + 13_000);
    l.outage(T0 + 13_000, T0 + 40_000);
    let mut replayed = Harness::new(round_of(3));
    let mut events = Vec::new();
    for (now, input) in &l.inputs {
        events.extend(replayed.engine.handle(*now, input.clone()).events);
    }
    assert_eq!(replayed.engine, l.h.engine);
    assert_eq!(events, l.h.log);
}
