//! Property tests: no sequence of inputs breaks an engine invariant.
//!
//! Invariants checked after every input: the floor holder is present and not muted; the queue
//! holds only present, unmuted members, once each; no scheduled deadline lies in the past;
//! events never go back in time; credited speaking time equals the time the floor was held;
//! and a refused command leaves the state exactly as it was.

use std::collections::BTreeSet;

use proptest::prelude::*;

use crate::engine::command::{Command, ExtendTarget};
use crate::engine::event::{EventKind, ReleaseReason};
use crate::engine::harness::*;
use crate::engine::member::{MemberId, Role};
use crate::engine::{Engine, Input};
use crate::protocol::*;
use crate::time::Millis;

const PEOPLE: [(&str, Role, &str); 7] = [
    ("f", Role::Facilitator, ""),
    ("m", Role::Moderator, ""),
    ("a1", Role::Participant, "Dayton"),
    ("a2", Role::Participant, "Dayton"),
    ("b1", Role::Participant, "Boulder"),
    ("b2", Role::Participant, "Boulder"),
    ("o", Role::Observer, ""),
];

#[derive(Debug, Clone)]
enum Op {
    Join(usize),
    Leave(usize),
    Cmd(usize, Command),
    Advance(u64),
    /// The room is down for this long, then told so (`Input::Outage`).
    Outage(u64),
}

fn member() -> impl Strategy<Value = MemberId> {
    (0..PEOPLE.len()).prop_map(|i| id(PEOPLE[i].0))
}

fn command() -> impl Strategy<Value = Command> {
    let stance = prop_oneof![
        Just(None),
        Just(Some("pro".to_string())),
        Just(Some("con".to_string()))
    ];
    prop_oneof![
        4 => stance.prop_map(|stance| Command::RaiseHand { stance }),
        1 => Just(Command::LowerHand),
        1 => Just(Command::Speak { text: "hello".into() }),
        2 => any::<bool>().prop_map(|for_now| Command::Pass { for_now }),
        4 => proptest::option::of(member()).prop_map(|to| Command::YieldFloor { to }),
        2 => Just(Command::ConfirmReflection),
        1 => Just(Command::RequestClarification),
        1 => Just(Command::AcceptFloor),
        1 => Just(Command::DeclineFloor),
        1 => Just(Command::Note { text: "note".into() }),
        1 => any::<bool>().prop_map(|agree| Command::MoveOn { agree }),
        1 => Just(Command::AskHelp),
        1 => Just(Command::CloseBreakouts),
        1 => (member(), 0u32..3).prop_map(|(member, group)| Command::MoveToGroup { member, group }),
        1 => Just(Command::Ask { text: "why?".into() }),
        1 => (1u64..6).prop_map(|question| Command::Upvote { question }),
        1 => prop_oneof![Just("yes"), Just("no"), Just("x")].prop_map(|c| Command::Vote { choice: c.into() }),
        2 => Just(Command::Start),
        1 => Just(Command::Pause),
        1 => Just(Command::Resume),
        1 => Just(Command::NextPhase),
        1 => (0u32..120, any::<bool>()).prop_map(|(seconds, p)| Command::Extend {
            seconds,
            target: if p { ExtendTarget::Phase } else { ExtendTarget::Turn },
        }),
        2 => member().prop_map(|member| Command::GrantFloor { member }),
        1 => Just(Command::RevokeFloor),
        1 => member().prop_map(|member| Command::Mute { member }),
        1 => member().prop_map(|member| Command::Unmute { member }),
        1 => (member(), 0u32..4).prop_map(|(member, position)| Command::MoveInQueue { member, position }),
        1 => member().prop_map(|member| Command::Remove { member }),
        1 => (0u64..6).prop_map(|message| Command::Hide { message }),
        1 => (1u64..6).prop_map(|question| Command::Approve { question }),
        1 => (0u64..6).prop_map(|m| Command::Report { message: Some(m), member: None, reason: "rude".into() }),
        1 => member().prop_map(|m| Command::Report { message: None, member: Some(m), reason: " x ".into() }),
        1 => (0u64..4).prop_map(|report| Command::DismissReport { report }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    // Staff act more often so sessions actually start and move.
    let actor =
        prop_oneof![2 => Just(0usize), 1 => Just(1usize), 6 => 2usize..6, 1 => Just(6usize)];
    prop_oneof![
        2 => (0..PEOPLE.len()).prop_map(Op::Join),
        1 => (2..6usize).prop_map(Op::Leave),
        10 => (actor, command()).prop_map(|(i, c)| Op::Cmd(i, c)),
        5 => prop_oneof![0u64..2_000, 2_000u64..200_000].prop_map(Op::Advance),
        1 => (1u64..300_000).prop_map(Op::Outage),
    ]
}

fn protocol() -> Vec<PhaseSpec> {
    let mut r = round(40);
    r.reflect_back = Some(reflect_back());
    r.pause_between_ms = 3_000;
    r.second_chance = true;
    let mut q = queue(QueueOrdering::AlternateStance);
    q.stances = vec!["pro".into(), "con".into()];
    q.reflect_back = Some(reflect_back());
    q.first_timers_first = true;
    q.on_turn_timeout = OnTimeout::Overtime;
    let mut q2 = queue(QueueOrdering::Progressive);
    q2.duration_ms = Some(300_000);
    q2.nudge_after_ms = Some(45_000);
    q2.move_on = Some(MoveOnSpec {
        threshold_pct: 60,
        offer_after_silence_ms: Some(30_000),
    });
    let mut p_overtime = phase("q2", PhaseKind::Queue(q2));
    p_overtime.on_timeout = OnTimeout::Overtime;
    p_overtime.warn_before_ms = 10_000;
    vec![
        phase("intro", presentation(60)),
        phase("round", PhaseKind::Round(r)),
        phase("queue", PhaseKind::Queue(q)),
        p_overtime,
        phase(
            "fish",
            PhaseKind::Fishbowl(FishbowlSpec {
                sides: FishbowlSides::Community,
                stances: Vec::new(),
                swap_after_ms: 120_000,
                turn_ms: 30_000,
                rounds: 1,
            }),
        ),
        phase(
            "cur",
            PhaseKind::Curiosity(CuriositySpec {
                budget_ms: 200_000,
                question_ms: 20_000,
                answer_ms: 30_000,
            }),
        ),
        phase(
            "qa",
            PhaseKind::Qa(QaSpec {
                duration_ms: Some(200_000),
                answer_ms: 30_000,
                max_question_chars: 100,
                moderated: false,
            }),
        ),
        phase(
            "poll",
            PhaseKind::Poll(PollSpec {
                question: "?".into(),
                choices: vec!["yes".into(), "no".into()],
                duration_ms: Some(30_000),
                reveal: Reveal::Live,
                show_results_ms: 30_000,
                pairs_with: None,
            }),
        ),
        phase(
            "groups",
            PhaseKind::Breakout(BreakoutSpec {
                duration_ms: 120_000,
                group_size: 2,
                min_group_size: 2,
                protocol: "p".into(),
                closing_countdown_ms: 10_000,
            }),
        ),
        phase("think", reflection(60, NoteVisibility::Private)),
    ]
}

/// What a client does to its copy of the queue for each event, as the wire document says.
fn apply_to_queue(queue: &mut Vec<MemberId>, kind: &EventKind) {
    match kind {
        EventKind::HandRaised {
            member, position, ..
        } => {
            queue.retain(|m| m != member);
            let at = (*position as usize).min(queue.len());
            queue.insert(at, member.clone());
        }
        EventKind::HandLowered { member } => queue.retain(|m| m != member),
        EventKind::QueueChanged { order, .. } => *queue = order.clone(),
        EventKind::PhaseStarted { .. } | EventKind::SessionEnded => queue.clear(),
        _ => {}
    }
}

fn check_invariants(engine: &Engine, now: Millis) -> Result<(), TestCaseError> {
    if let Some(f) = engine.floor() {
        let m = engine.roster().get(&f.member);
        prop_assert!(
            m.is_some_and(|m| m.present && !m.muted),
            "floor holder {} absent or muted",
            f.member
        );
    }
    let queue = engine.queue();
    let unique: BTreeSet<_> = queue.iter().collect();
    prop_assert_eq!(unique.len(), queue.len(), "queue has duplicates");
    for q in &queue {
        let m = engine.roster().get(q);
        prop_assert!(
            m.is_some_and(|m| m.present && !m.muted),
            "queued {} absent or muted",
            q
        );
        prop_assert!(
            engine.floor().is_none_or(|f| &f.member != q),
            "floor holder {} still queued",
            q
        );
    }
    if let Some(d) = engine.next_deadline() {
        prop_assert!(d > now, "deadline {} not after now {}", d, now);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn no_input_sequence_breaks_an_invariant(ops in proptest::collection::vec(op(), 1..160), seed in 0u64..4, skip in 0usize..11, grace in prop_oneof![Just(0u64), Just(30_000u64)]) {
        let mut engine = Engine::new(std::sync::Arc::new(Protocol {
            name: "p".into(), title: "p".into(), description: String::new(), group_size: None, phases: protocol(),
        }), crate::engine::EngineConfig::with_seed(seed).with_reconnect_grace(grace));
        let mut now = T0;
        let mut last_at = T0;
        let mut held_total = 0u64;
        // The queue as a client rebuilds it from events alone (see docs/wire-protocol.md).
        let mut seen_queue: Vec<MemberId> = Vec::new();
        for (i, (name, role, comm)) in PEOPLE.iter().enumerate() {
            if i < 5 {
                let h = engine.handle(now, Input::Join {
                    member: id(name), name: name.to_string(), role: *role,
                    community: (!comm.is_empty()).then(|| comm.to_string()),
                });
                prop_assert!(h.result.is_ok());
            }
        }
        // Start some runs part-way through the agenda so every phase kind gets exercised.
        for k in 0..skip {
            let c = if k == 0 { Command::Start } else { Command::NextPhase };
            let started = engine.handle(now, Input::Command { from: id("f"), command: c }).result.is_ok();
            prop_assert!(started);
        }
        for op in ops {
            // Fire timers first, so a refusal can be checked against the state it saw.
            let since = now;
            let timers = match op {
                Op::Advance(ms) => {
                    now = now + ms;
                    Input::Tick
                }
                Op::Outage(ms) => {
                    now = now + ms;
                    Input::Outage { since }
                }
                _ => Input::Tick,
            };
            let tick = engine.handle(now, timers);
            let floor_before = engine.floor().map(|f| (f.member.clone(), f.granted_at, f.timer.map(|t| t.deadline)));
            let phase_before = (engine.phase_index(), engine.phase_timer().map(|t| t.deadline));
            let by_facilitator = matches!(&op, Op::Cmd(i, _) if PEOPLE[*i].1 == Role::Facilitator);
            let mut events = tick.events;
            let before = engine.clone();
            let input = match op {
                Op::Join(i) => Some(Input::Join {
                    member: id(PEOPLE[i].0), name: PEOPLE[i].0.into(), role: PEOPLE[i].1,
                    community: (!PEOPLE[i].2.is_empty()).then(|| PEOPLE[i].2.to_string()),
                }),
                Op::Leave(i) => Some(Input::Leave { member: id(PEOPLE[i].0) }),
                Op::Cmd(i, c) => Some(Input::Command { from: id(PEOPLE[i].0), command: c }),
                Op::Advance(_) | Op::Outage(_) => None,
            };
            if let Some(input) = input {
                let h = engine.handle(now, input);
                if h.result.is_err() {
                    prop_assert!(h.events.is_empty(), "refusal emitted events");
                    prop_assert_eq!(&engine, &before, "refusal changed state");
                }
                events.extend(h.events);
            }
            for e in &events {
                prop_assert!(e.at >= last_at, "event went back in time: {:?}", e);
                prop_assert!(e.at <= now, "event in the future: {:?}", e);
                last_at = e.at;
                // A pass is not speaking: its time is credited to nobody.
                if let EventKind::FloorReleased { held_ms, reason, .. } = &e.kind {
                    if *reason != ReleaseReason::Passed {
                        held_total += held_ms;
                    }
                }
                if let EventKind::QueueChanged { order, .. } = &e.kind {
                    prop_assert_ne!(order, &seen_queue, "a queue_changed that changes nothing");
                }
                apply_to_queue(&mut seen_queue, &e.kind);
            }
            prop_assert_eq!(&seen_queue, &engine.queue(), "events do not rebuild the queue");
            check_invariants(&engine, now)?;
            // Deadlines never move earlier, except by a facilitator's action.
            if !by_facilitator {
                if let (Some((m, g, Some(d0))), Some(f)) = (&floor_before, engine.floor()) {
                    if &f.member == m && f.granted_at == *g {
                        if let Some(d1) = f.timer.map(|t| t.deadline) {
                            prop_assert!(d1 >= *d0, "turn deadline moved earlier: {} -> {}", d0, d1);
                        }
                    }
                }
                if let (idx, Some(d0)) = phase_before {
                    if engine.phase_index() == idx {
                        if let Some(d1) = engine.phase_timer().map(|t| t.deadline) {
                            prop_assert!(d1 >= d0, "phase deadline moved earlier: {} -> {}", d0, d1);
                        }
                    }
                }
            }
            prop_assert_eq!(engine.ledger().total_floor_ms(), held_total, "speaking time does not add up");
        }
    }
}
