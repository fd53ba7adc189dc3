//! Engine behaviour, driven through the harness on simulated time.

use crate::engine::command::{Command, ExtendTarget};
use crate::engine::core::{EngineConfig, Session};
use crate::engine::event::{EventKind, ReleaseReason, TurnKind};
use crate::engine::harness::*;
use crate::engine::member::Role;
use crate::engine::reject::RejectCode;
use crate::protocol::*;

fn raise(h: &mut Harness, who: &str) {
    h.ok(who, Command::RaiseHand { stance: None });
}

fn raise_with(h: &mut Harness, who: &str, stance: &str) {
    h.ok(
        who,
        Command::RaiseHand {
            stance: Some(stance.into()),
        },
    );
}

fn yield_floor(h: &mut Harness, who: &str) {
    h.ok(who, Command::YieldFloor { to: None });
}

// Presentation.

#[test]
fn presentation_gives_the_facilitator_the_floor_until_the_phase_ends() {
    let mut h = Harness::new(vec![
        phase("intro", presentation(300)),
        phase("think", reflection(60, NoteVisibility::None)),
    ]);
    h.room(&TWO_CITIES);
    h.start();
    assert_eq!(h.holder().as_deref(), Some("f"));
    assert_eq!(h.turn(), Some(TurnKind::Presentation));
    h.advance(299_999);
    assert_eq!(h.engine.phase_index(), Some(0));
    h.advance(1);
    assert_eq!(h.engine.phase_index(), Some(1));
    assert_eq!(h.holder(), None);
    assert_eq!(h.engine.ledger().speaking_ms(&id("f")), 300_000);
}

#[test]
fn invited_panelist_takes_over_a_presentation_only_after_accepting() {
    let mut h = Harness::new(vec![phase("intro", presentation(300))]);
    h.room(&TWO_CITIES);
    h.join("mod", Role::Moderator, None);
    h.start();
    h.ok("mod", Command::GrantFloor { member: id("a1") });
    assert_eq!(
        h.holder().as_deref(),
        Some("f"),
        "nobody is put on the floor without consent"
    );
    h.refused("b1", Command::AcceptFloor, RejectCode::NoInvitation);
    h.ok("a1", Command::AcceptFloor);
    assert_eq!(h.holder().as_deref(), Some("a1"));
    // A second yes (a double click, another tab) is acknowledged and changes nothing.
    let before = h.engine.clone();
    let events = h.log.len();
    h.ok("a1", Command::AcceptFloor);
    assert_eq!((h.log.len(), &h.engine), (events, &before));
    // Someone else still has no invitation.
    h.refused("b1", Command::AcceptFloor, RejectCode::NoInvitation);
}

#[test]
fn declining_an_invitation_leaves_the_floor_alone() {
    let mut h = Harness::new(vec![phase(
        "q",
        PhaseKind::Queue(queue(QueueOrdering::Moderator)),
    )]);
    h.room(&TWO_CITIES);
    h.start();
    h.ok("f", Command::GrantFloor { member: id("b2") });
    h.ok("b2", Command::DeclineFloor);
    assert_eq!(h.holder(), None);
    assert_eq!(h.engine.invitation(), None);
    h.refused("b2", Command::AcceptFloor, RejectCode::NoInvitation);
}

// Go-rounds.

#[test]
fn round_gives_everyone_one_turn_in_join_order_then_advances() {
    let mut h = Harness::new(vec![
        phase("r", PhaseKind::Round(round(60))),
        phase("end", reflection(30, NoteVisibility::None)),
    ]);
    h.room(&TWO_CITIES);
    h.start();
    assert_eq!(h.holder().as_deref(), Some("a1"));
    yield_floor(&mut h, "a1");
    assert_eq!(h.holder().as_deref(), Some("a2"));
    h.advance(60_000); // a2 runs out of time
    assert_eq!(h.holder().as_deref(), Some("b1"));
    h.advance(60_000);
    h.advance(60_000);
    assert_eq!(h.own_turns(), ["a1", "a2", "b1", "b2"]);
    assert_eq!(h.phase_kind(), Some("reflection"));
    assert_eq!(h.engine.ledger().speaking_ms(&id("a2")), 60_000);
    assert_eq!(h.engine.ledger().speaking_ms(&id("a1")), 0);
}

#[test]
fn round_pass_and_pass_for_now_and_second_chance() {
    let mut spec = round(60);
    spec.second_chance = true;
    let mut h = Harness::new(vec![phase("r", PhaseKind::Round(spec))]);
    h.room(&TWO_CITIES);
    h.start();
    h.ok("a1", Command::Pass { for_now: true }); // goes to the end
    h.ok("a2", Command::Pass { for_now: false }); // second chance at the end
    yield_floor(&mut h, "b1");
    yield_floor(&mut h, "b2");
    assert_eq!(h.holder().as_deref(), Some("a1"));
    yield_floor(&mut h, "a1");
    assert_eq!(h.holder().as_deref(), Some("a2"), "second chance");
    yield_floor(&mut h, "a2");
    assert_eq!(h.engine.session(), Session::Ended);
    assert_eq!(h.engine.ledger().get(&id("a2")).unwrap().passes, 1);
    assert_eq!(h.engine.ledger().turns(&id("a2")), 1);
}

#[test]
fn round_refuses_passing_when_the_protocol_does_not_allow_it() {
    let mut spec = round(60);
    spec.allow_pass = false;
    spec.allow_pass_for_now = false;
    let mut h = Harness::new(vec![phase("r", PhaseKind::Round(spec))]);
    h.room(&TWO_CITIES);
    h.start();
    h.refused(
        "a1",
        Command::Pass { for_now: false },
        RejectCode::NotAllowed,
    );
    h.refused(
        "a1",
        Command::Pass { for_now: true },
        RejectCode::NotAllowed,
    );
    h.refused(
        "a2",
        Command::Pass { for_now: false },
        RejectCode::NotYourTurn,
    );
    h.refused(
        "a2",
        Command::RaiseHand { stance: None },
        RejectCode::WrongPhase,
    );
}

#[test]
fn round_think_time_and_pauses_between_speakers() {
    let mut spec = round(60);
    spec.think_ms = 120_000;
    spec.pause_between_ms = 5_000;
    let mut h = Harness::new(vec![phase("r", PhaseKind::Round(spec))]);
    h.room(&[("a1", "A"), ("b1", "B")]);
    h.start();
    assert_eq!(h.holder(), None);
    h.advance(119_999);
    assert_eq!(h.holder(), None);
    h.advance(1);
    assert_eq!(h.holder().as_deref(), Some("a1"));
    yield_floor(&mut h, "a1");
    assert_eq!(h.holder(), None, "pause between speakers");
    h.advance(5_000);
    assert_eq!(h.holder().as_deref(), Some("b1"));
    yield_floor(&mut h, "b1");
    assert_eq!(
        h.engine.session(),
        Session::Ended,
        "no pause after the last speaker"
    );
}

#[test]
fn round_orders_random_by_seed_and_alternates_communities() {
    let people = [
        ("a1", "A"),
        ("a2", "A"),
        ("a3", "A"),
        ("b1", "B"),
        ("b2", "B"),
        ("b3", "B"),
    ];
    let order_for = |seed: u64, order: RoundOrder| {
        let mut spec = round(10);
        spec.order = order;
        let mut h = Harness::with_seed(vec![phase("r", PhaseKind::Round(spec))], seed);
        h.room(&people);
        h.start();
        while h.step() {}
        h.own_turns()
    };
    assert_eq!(
        order_for(1, RoundOrder::Random),
        order_for(1, RoundOrder::Random)
    );
    assert_ne!(
        order_for(1, RoundOrder::Random),
        order_for(2, RoundOrder::Random)
    );
    assert_eq!(
        order_for(1, RoundOrder::AlternateCommunities),
        ["a1", "b1", "a2", "b2", "a3", "b3"]
    );
}

#[test]
fn round_skips_absent_members_and_takes_latecomers_at_the_end() {
    let mut h = Harness::new(vec![phase("r", PhaseKind::Round(round(60)))]);
    h.room(&TWO_CITIES);
    h.start();
    h.leave("a2");
    h.join("late", Role::Participant, Some("Boulder"));
    yield_floor(&mut h, "a1");
    assert_eq!(h.holder().as_deref(), Some("b1"));
    yield_floor(&mut h, "b1");
    yield_floor(&mut h, "b2");
    assert_eq!(h.holder().as_deref(), Some("late"));
    h.leave("late");
    assert_eq!(h.engine.session(), Session::Ended);
    // a reconnect does not earn a second turn
    assert_eq!(h.own_turns(), ["a1", "b1", "b2", "late"]);
}

// Reflect-back.

#[test]
fn reflect_back_confirmed_then_own_turn() {
    let mut spec = round(60);
    spec.reflect_back = Some(reflect_back());
    let mut h = Harness::new(vec![phase("r", PhaseKind::Round(spec))]);
    h.room(&[("a1", "A"), ("b1", "B"), ("a2", "A")]);
    h.start();
    h.advance(40_000);
    yield_floor(&mut h, "a1");
    assert_eq!(h.holder().as_deref(), Some("b1"));
    assert_eq!(h.turn(), Some(TurnKind::Reflect));
    h.advance(10_000);
    yield_floor(&mut h, "b1");
    assert_eq!(h.holder(), None, "waiting for a1 to confirm");
    h.refused("b1", Command::ConfirmReflection, RejectCode::NotYourTurn);
    h.ok("a1", Command::ConfirmReflection);
    assert_eq!(h.holder().as_deref(), Some("b1"));
    assert_eq!(h.turn(), Some(TurnKind::Own));
    h.advance(20_000);
    yield_floor(&mut h, "b1");
    let b1 = h.engine.ledger().get(&id("b1")).unwrap().clone();
    assert_eq!(
        (b1.reflect_ms, b1.speaking_ms),
        (10_000, 20_000),
        "reflect-back time is kept apart"
    );
    assert_eq!((b1.reflect_turns, b1.turns), (1, 1));
}

#[test]
fn reflect_back_clarification_retries_up_to_the_attempt_limit() {
    let mut spec = round(60);
    spec.reflect_back = Some(reflect_back()); // max 2 attempts
    let mut h = Harness::new(vec![phase("r", PhaseKind::Round(spec))]);
    h.room(&[("a1", "A"), ("b1", "B")]);
    h.start();
    yield_floor(&mut h, "a1");
    yield_floor(&mut h, "b1"); // attempt 1
    h.ok("a1", Command::RequestClarification);
    assert_eq!(
        (h.holder().as_deref(), h.turn()),
        (Some("a1"), Some(TurnKind::Clarify))
    );
    h.advance(20_000); // clarification runs out
    assert_eq!(
        (h.holder().as_deref(), h.turn()),
        (Some("b1"), Some(TurnKind::Reflect)),
        "attempt 2"
    );
    yield_floor(&mut h, "b1");
    h.ok("a1", Command::RequestClarification);
    yield_floor(&mut h, "a1");
    assert_eq!(
        (h.holder().as_deref(), h.turn()),
        (Some("b1"), Some(TurnKind::Own)),
        "attempts used up"
    );
    assert_eq!(h.grants(TurnKind::Reflect), ["b1", "b1"]);
}

#[test]
fn reflect_back_silence_counts_as_confirmed() {
    let mut q = queue(QueueOrdering::Fifo);
    q.reflect_back = Some(reflect_back());
    let mut h = Harness::new(vec![phase("q", PhaseKind::Queue(q))]);
    h.room(&TWO_CITIES);
    h.start();
    raise(&mut h, "a1");
    raise(&mut h, "b1");
    yield_floor(&mut h, "a1");
    assert_eq!(h.turn(), Some(TurnKind::Reflect));
    h.advance(30_000);
    h.advance(15_000);
    assert_eq!(
        (h.holder().as_deref(), h.turn()),
        (Some("b1"), Some(TurnKind::Own))
    );
    assert_eq!(
        h.count(|e| matches!(
            e,
            EventKind::ReflectionConfirmed {
                by_timeout: true,
                ..
            }
        )),
        1
    );
}

#[test]
fn reflect_back_is_skipped_when_the_previous_speaker_left() {
    let mut q = queue(QueueOrdering::Fifo);
    q.reflect_back = Some(reflect_back());
    let mut h = Harness::new(vec![phase("q", PhaseKind::Queue(q))]);
    h.room(&TWO_CITIES);
    h.start();
    raise(&mut h, "a1");
    yield_floor(&mut h, "a1");
    h.leave("a1");
    raise(&mut h, "b1");
    assert_eq!(
        (h.holder().as_deref(), h.turn()),
        (Some("b1"), Some(TurnKind::Own))
    );
}

// Open floor.

#[test]
fn queue_fifo_serves_hands_in_order_and_lowering_removes() {
    let mut h = Harness::new(vec![phase(
        "q",
        PhaseKind::Queue(queue(QueueOrdering::Fifo)),
    )]);
    h.room(&TWO_CITIES);
    h.start();
    assert_eq!(h.holder(), None);
    raise(&mut h, "b2");
    assert_eq!(h.holder().as_deref(), Some("b2"), "let next speak");
    raise(&mut h, "a1");
    raise(&mut h, "b1");
    raise(&mut h, "a2");
    h.refused(
        "a1",
        Command::RaiseHand { stance: None },
        RejectCode::AlreadyQueued,
    );
    h.ok("b1", Command::LowerHand);
    h.refused("b1", Command::LowerHand, RejectCode::NotQueued);
    assert_eq!(h.queue(), ["a1", "a2"]);
    h.advance(60_000);
    assert_eq!(h.holder().as_deref(), Some("a1"));
    assert_eq!(
        h.engine.ledger().get(&id("a1")).unwrap().queue_wait_ms,
        60_000
    );
}

#[test]
fn queue_alternates_communities() {
    let mut h = Harness::new(vec![phase(
        "q",
        PhaseKind::Queue(queue(QueueOrdering::AlternateCommunities)),
    )]);
    h.room(&[
        ("a1", "A"),
        ("a2", "A"),
        ("a3", "A"),
        ("b1", "B"),
        ("b2", "B"),
    ]);
    h.start();
    raise(&mut h, "a1");
    for m in ["a2", "a3", "b1", "b2"] {
        raise(&mut h, m);
    }
    assert_eq!(h.holder().as_deref(), Some("a1"));
    assert_eq!(h.queue(), ["b1", "a2", "b2", "a3"]);
    for _ in 0..5 {
        h.advance(60_000);
    }
    assert_eq!(h.own_turns(), ["a1", "b1", "a2", "b2", "a3"]);
}

#[test]
fn queue_alternates_stance_lanes_and_falls_back_when_a_lane_is_empty() {
    let mut q = queue(QueueOrdering::AlternateStance);
    q.stances = vec!["pro".into(), "con".into(), "question".into()];
    let mut h = Harness::new(vec![phase("q", PhaseKind::Queue(q))]);
    h.room(&[
        ("p1", "A"),
        ("p2", "A"),
        ("p3", "B"),
        ("c1", "B"),
        ("q1", "A"),
    ]);
    h.start();
    h.refused(
        "p1",
        Command::RaiseHand { stance: None },
        RejectCode::Invalid,
    );
    h.refused(
        "p1",
        Command::RaiseHand {
            stance: Some("maybe".into()),
        },
        RejectCode::Invalid,
    );
    raise_with(&mut h, "p1", "pro");
    raise_with(&mut h, "p2", "pro");
    raise_with(&mut h, "p3", "pro");
    raise_with(&mut h, "c1", "con");
    raise_with(&mut h, "q1", "question");
    while h.holder().is_some() {
        h.advance(60_000);
    }
    assert_eq!(h.own_turns(), ["p1", "c1", "q1", "p2", "p3"]);
}

#[test]
fn progressive_queue_serves_the_least_heard_first() {
    let mut h = Harness::new(vec![phase(
        "q",
        PhaseKind::Queue(queue(QueueOrdering::Progressive)),
    )]);
    h.room(&TWO_CITIES);
    h.start();
    raise(&mut h, "a1");
    h.advance(50_000);
    raise(&mut h, "a2");
    yield_floor(&mut h, "a1"); // a1 spoke 50 s
    h.advance(10_000);
    raise(&mut h, "a1");
    raise(&mut h, "b1");
    yield_floor(&mut h, "a2"); // a2 spoke 10 s
    assert_eq!(h.holder().as_deref(), Some("b1"), "b1 has spoken least");
    raise(&mut h, "a2");
    assert_eq!(h.queue(), ["a2", "a1"]);
}

#[test]
fn first_timers_first_and_moderator_pins() {
    let mut q = queue(QueueOrdering::Fifo);
    q.first_timers_first = true;
    let mut h = Harness::new(vec![phase("q", PhaseKind::Queue(q))]);
    h.room(&TWO_CITIES);
    h.join("m", Role::Moderator, None);
    h.start();
    raise(&mut h, "a1");
    yield_floor(&mut h, "a1");
    raise(&mut h, "b2");
    raise(&mut h, "a1");
    raise(&mut h, "b1");
    // b2 holds the floor; a1 already spoke, so b1 goes first.
    assert_eq!(h.queue(), ["b1", "a1"]);
    h.ok(
        "m",
        Command::MoveInQueue {
            member: id("a1"),
            position: 0,
        },
    );
    assert_eq!(h.queue(), ["a1", "b1"]);
    h.refused(
        "m",
        Command::MoveInQueue {
            member: id("a2"),
            position: 0,
        },
        RejectCode::NotQueued,
    );
    h.refused(
        "a2",
        Command::MoveInQueue {
            member: id("a1"),
            position: 1,
        },
        RejectCode::Forbidden,
    );
}

#[test]
fn the_moderators_latest_move_wins_a_contested_position() {
    let mut h = Harness::new(vec![phase(
        "q",
        PhaseKind::Queue(queue(QueueOrdering::Fifo)),
    )]);
    h.room(&TWO_CITIES);
    h.join("m", Role::Moderator, None);
    h.start();
    raise(&mut h, "a1"); // served at once
    raise(&mut h, "a2");
    raise(&mut h, "b1");
    raise(&mut h, "b2");
    let to_front = |h: &mut Harness, who: &str| {
        h.ok(
            "m",
            Command::MoveInQueue {
                member: id(who),
                position: 0,
            },
        )
    };
    // b2 (raised last) goes first, then a2 (raised before it): a2 must get the front.
    to_front(&mut h, "b2");
    assert_eq!(h.queue(), ["b2", "a2", "b1"]);
    to_front(&mut h, "a2");
    assert_eq!(h.queue(), ["a2", "b2", "b1"]);
    to_front(&mut h, "b2");
    assert_eq!(h.queue(), ["b2", "a2", "b1"]);
}

#[test]
fn moderator_ordering_waits_for_a_grant_and_a_raised_hand_is_consent() {
    let mut h = Harness::new(vec![phase(
        "q",
        PhaseKind::Queue(queue(QueueOrdering::Moderator)),
    )]);
    h.room(&TWO_CITIES);
    h.join("m", Role::Moderator, None);
    h.start();
    raise(&mut h, "a1");
    raise(&mut h, "b1");
    assert_eq!(h.holder(), None);
    h.ok("m", Command::GrantFloor { member: id("b1") });
    assert_eq!(h.holder().as_deref(), Some("b1"));
    // Granting to someone who did not raise a hand is an invitation.
    h.ok("m", Command::GrantFloor { member: id("a2") });
    h.ok("a2", Command::AcceptFloor);
    assert_eq!(
        h.queue(),
        ["a2", "a1"],
        "accepted while the floor is busy: first in line"
    );
}

// Moderation.

#[test]
fn mute_takes_the_floor_and_blocks_hands_until_unmuted() {
    let mut h = Harness::new(vec![phase(
        "q",
        PhaseKind::Queue(queue(QueueOrdering::Fifo)),
    )]);
    h.room(&TWO_CITIES);
    h.join("m", Role::Moderator, None);
    h.start();
    raise(&mut h, "a1");
    raise(&mut h, "b1");
    h.advance(5_000);
    h.ok("m", Command::Mute { member: id("a1") });
    assert_eq!(h.holder().as_deref(), Some("b1"));
    assert_eq!(
        h.count(|e| matches!(
            e,
            EventKind::FloorReleased {
                reason: ReleaseReason::Muted,
                ..
            }
        )),
        1
    );
    h.refused("a1", Command::RaiseHand { stance: None }, RejectCode::Muted);
    h.refused(
        "m",
        Command::Mute { member: id("a1") },
        RejectCode::Duplicate,
    );
    h.refused(
        "m",
        Command::GrantFloor { member: id("a1") },
        RejectCode::Muted,
    );
    h.refused(
        "m",
        Command::Mute { member: id("f") },
        RejectCode::Forbidden,
    );
    h.ok("m", Command::Unmute { member: id("a1") });
    raise(&mut h, "a1");
    assert_eq!(h.queue(), ["a1"]);
}

#[test]
fn removed_members_cannot_return() {
    let mut h = Harness::new(vec![phase(
        "q",
        PhaseKind::Queue(queue(QueueOrdering::Fifo)),
    )]);
    h.room(&TWO_CITIES);
    h.join("m", Role::Moderator, None);
    h.start();
    raise(&mut h, "b1");
    h.ok("m", Command::Remove { member: id("b1") });
    assert_eq!(h.holder(), None);
    let rejoin = h.engine.handle(
        h.now,
        crate::engine::Input::Join {
            member: id("b1"),
            name: "b1".into(),
            role: Role::Participant,
            community: None,
        },
    );
    assert_eq!(rejoin.result.unwrap_err().code, RejectCode::Removed);
    h.refused(
        "b1",
        Command::RaiseHand { stance: None },
        RejectCode::Removed,
    );
    h.refused(
        "m",
        Command::Remove {
            member: id("nobody"),
        },
        RejectCode::UnknownMember,
    );
}

#[test]
fn revoke_floor_moves_on() {
    let mut h = Harness::new(vec![phase("r", PhaseKind::Round(round(60)))]);
    h.room(&TWO_CITIES);
    h.join("m", Role::Moderator, None);
    h.start();
    h.ok("m", Command::RevokeFloor);
    assert_eq!(h.holder().as_deref(), Some("a2"));
}

#[test]
fn hide_applies_to_known_messages_once() {
    let mut h = Harness::new(vec![phase("r", PhaseKind::Round(round(60)))]);
    h.room(&TWO_CITIES);
    h.join("m", Role::Moderator, None);
    h.start();
    h.ok(
        "a1",
        Command::Speak {
            text: "Housing costs worry me.".into(),
        },
    );
    h.refused(
        "a2",
        Command::Speak {
            text: "me too".into(),
        },
        RejectCode::NotYourTurn,
    );
    h.refused(
        "a1",
        Command::Speak { text: "   ".into() },
        RejectCode::Invalid,
    );
    h.refused(
        "a1",
        Command::Speak {
            text: "x".repeat(2_001),
        },
        RejectCode::TooLong,
    );
    h.ok("m", Command::Hide { message: 1 });
    h.refused("m", Command::Hide { message: 1 }, RejectCode::Duplicate);
    h.refused("m", Command::Hide { message: 99 }, RejectCode::UnknownItem);
    assert_eq!(h.engine.hidden(), &[1]);
}

// Time: pause, extend, overtime, warnings.

#[test]
fn pause_freezes_every_remaining_time_and_speaking_time() {
    let mut h = Harness::new(vec![
        phase("r", PhaseKind::Round(round(60))),
        phase("think", reflection(60, NoteVisibility::None)),
    ]);
    h.room(&[("a1", "A"), ("b1", "B")]);
    h.start();
    h.advance(20_000);
    h.ok("f", Command::Pause);
    assert_eq!(h.engine.next_deadline(), None);
    h.refused("a1", Command::YieldFloor { to: None }, RejectCode::Paused);
    h.refused("f", Command::NextPhase, RejectCode::Paused);
    h.advance(600_000);
    assert_eq!(h.holder().as_deref(), Some("a1"));
    h.ok("f", Command::Resume);
    h.refused("f", Command::Resume, RejectCode::Invalid);
    h.advance(39_999);
    assert_eq!(h.holder().as_deref(), Some("a1"));
    h.advance(1);
    assert_eq!(h.holder().as_deref(), Some("b1"));
    assert_eq!(h.engine.ledger().speaking_ms(&id("a1")), 60_000);
}

#[test]
fn extend_turn_and_phase_and_overtime() {
    let mut q = queue(QueueOrdering::Fifo);
    q.duration_ms = Some(300_000);
    q.on_turn_timeout = OnTimeout::Overtime;
    let mut p = phase("q", PhaseKind::Queue(q));
    p.on_timeout = OnTimeout::Overtime;
    p.warn_before_ms = 15_000;
    let mut h = Harness::new(vec![p]);
    h.room(&TWO_CITIES);
    h.start();
    raise(&mut h, "a1");
    h.ok(
        "f",
        Command::Extend {
            seconds: 30,
            target: ExtendTarget::Turn,
        },
    );
    h.advance(75_000);
    assert_eq!(
        h.count(|e| matches!(e, EventKind::Warning { phase: false, .. })),
        1
    );
    h.advance(15_000);
    assert_eq!(h.count(|e| matches!(e, EventKind::TurnOvertime { .. })), 1);
    assert_eq!(
        h.holder().as_deref(),
        Some("a1"),
        "overtime keeps the floor"
    );
    h.ok(
        "f",
        Command::Extend {
            seconds: 10,
            target: ExtendTarget::Turn,
        },
    );
    h.advance(10_000);
    assert_eq!(h.count(|e| matches!(e, EventKind::TurnOvertime { .. })), 2);
    h.refused(
        "f",
        Command::Extend {
            seconds: 0,
            target: ExtendTarget::Turn,
        },
        RejectCode::Invalid,
    );
    h.refused(
        "a1",
        Command::Extend {
            seconds: 10,
            target: ExtendTarget::Turn,
        },
        RejectCode::Forbidden,
    );
    h.ok(
        "f",
        Command::Extend {
            seconds: 60,
            target: ExtendTarget::Phase,
        },
    );
    assert_eq!(h.engine.phase_timer().unwrap().deadline, T0 + 360_000);
    h.now = T0 + 360_000;
    h.advance(0);
    assert!(h.engine.phase_overtime());
    assert_eq!(
        h.engine.session(),
        Session::Running,
        "overtime waits for the facilitator"
    );
    h.ok("f", Command::NextPhase);
    assert_eq!(h.engine.session(), Session::Ended);
    assert_eq!(
        h.engine.ledger().speaking_ms(&id("a1")),
        360_000,
        "overtime counts as speaking time"
    );
}

#[test]
fn late_ticks_do_not_stretch_turns() {
    let mut h = Harness::new(vec![phase("r", PhaseKind::Round(round(60)))]);
    h.room(&TWO_CITIES);
    h.start();
    h.advance(185_000); // three turns end while nobody ticked
    assert_eq!(h.holder().as_deref(), Some("b2"));
    for m in ["a1", "a2", "b1"] {
        assert_eq!(h.engine.ledger().speaking_ms(&id(m)), 60_000);
    }
    assert_eq!(h.engine.floor().unwrap().granted_at, T0 + 180_000);
}

// Other phase kinds.

#[test]
fn fishbowl_lets_only_the_inner_side_speak_and_swaps() {
    let spec = FishbowlSpec {
        sides: FishbowlSides::Community,
        stances: Vec::new(),
        swap_after_ms: 600_000,
        turn_ms: 120_000,
        rounds: 1,
    };
    let mut h = Harness::new(vec![phase("fb", PhaseKind::Fishbowl(spec))]);
    h.room(&TWO_CITIES);
    h.start();
    h.refused(
        "b1",
        Command::RaiseHand { stance: None },
        RejectCode::NotAllowed,
    );
    raise(&mut h, "a1");
    raise(&mut h, "a2");
    h.advance(600_000);
    assert_eq!(h.count(|e| matches!(e, EventKind::SideChanged { .. })), 2);
    assert!(h.queue().is_empty(), "hands are cleared at the swap");
    h.refused(
        "a1",
        Command::RaiseHand { stance: None },
        RejectCode::NotAllowed,
    );
    raise(&mut h, "b1");
    assert_eq!(h.holder().as_deref(), Some("b1"));
    h.advance(600_000);
    assert_eq!(h.engine.session(), Session::Ended);
}

#[test]
fn curiosity_question_is_answered_by_the_member_it_is_for() {
    let spec = CuriositySpec {
        budget_ms: 900_000,
        question_ms: 30_000,
        answer_ms: 60_000,
    };
    let mut h = Harness::new(vec![phase("c", PhaseKind::Curiosity(spec))]);
    h.room(&TWO_CITIES);
    h.start();
    raise(&mut h, "a1");
    assert_eq!(h.turn(), Some(TurnKind::Question));
    h.refused(
        "a1",
        Command::YieldFloor { to: Some(id("a1")) },
        RejectCode::UnknownMember,
    );
    h.refused(
        "a2",
        Command::YieldFloor { to: Some(id("b1")) },
        RejectCode::NotYourTurn,
    );
    h.ok("a1", Command::YieldFloor { to: Some(id("b1")) });
    let f = h.engine.floor().unwrap();
    assert_eq!((f.member.as_str(), f.turn), ("b1", TurnKind::Answer));
    assert_eq!(f.responding_to, Some(id("a1")));
    h.advance(900_000);
    assert_eq!(
        h.engine.session(),
        Session::Ended,
        "the budget closes the phase"
    );
}

#[test]
fn reflection_notes_private_or_shared_without_names() {
    let mut h = Harness::new(vec![
        phase("private", reflection(60, NoteVisibility::Private)),
        phase("shared", reflection(60, NoteVisibility::SharedAnonymous)),
        phase("silent", reflection(60, NoteVisibility::None)),
    ]);
    h.room(&TWO_CITIES);
    h.start();
    h.ok(
        "a1",
        Command::Note {
            text: "I heard more worry than anger.".into(),
        },
    );
    let last = h.log.last().unwrap().clone();
    assert_eq!(
        last.audience,
        crate::engine::event::Audience::Member(id("a1"))
    );
    h.refused(
        "f",
        Command::Note {
            text: "staff note".into(),
        },
        RejectCode::Forbidden,
    );
    h.advance(60_000);
    h.ok(
        "b1",
        Command::Note {
            text: "We both want safe streets.".into(),
        },
    );
    match &h.log.last().unwrap().kind {
        EventKind::Noted { member, .. } => assert_eq!(member, &None),
        other => panic!("{other:?}"),
    }
    h.advance(60_000);
    h.refused(
        "b1",
        Command::Note { text: "x".into() },
        RejectCode::NotAllowed,
    );
}

#[test]
fn qa_questions_upvotes_approval_and_answer_time() {
    let spec = QaSpec {
        duration_ms: None,
        answer_ms: 120_000,
        max_question_chars: 280,
        moderated: false,
    };
    let mut h = Harness::new(vec![phase("qa", PhaseKind::Qa(spec))]);
    h.room(&TWO_CITIES);
    h.join("m", Role::Moderator, None);
    h.start();
    h.ok(
        "a1",
        Command::Ask {
            text: "How will the bond be repaid?".into(),
        },
    );
    h.refused(
        "a1",
        Command::Ask {
            text: "x".repeat(281),
        },
        RejectCode::TooLong,
    );
    h.refused(
        "a1",
        Command::Upvote { question: 1 },
        RejectCode::NotAllowed,
    );
    h.ok("b1", Command::Upvote { question: 1 });
    h.refused("b1", Command::Upvote { question: 1 }, RejectCode::Duplicate);
    h.refused(
        "b1",
        Command::Upvote { question: 7 },
        RejectCode::UnknownItem,
    );
    h.refused(
        "b1",
        Command::Approve { question: 1 },
        RejectCode::Forbidden,
    );
    h.ok("m", Command::Approve { question: 1 });
    let f = h.engine.floor().unwrap();
    assert_eq!(
        (f.member.as_str(), f.turn, f.responding_to.clone()),
        ("f", TurnKind::Answer, Some(id("a1")))
    );
    h.advance(120_000);
    assert_eq!(h.holder(), None);
}

/// Moderated Q&A (issue #19): until a moderator approves a question, only its asker and staff
/// see it, live and in snapshots; other residents cannot up-vote it. `question_approved`
/// brings the question to everyone.
#[test]
fn moderated_questions_are_seen_by_asker_and_staff_until_approved() {
    use crate::engine::event::Audience;
    let spec = QaSpec {
        duration_ms: None,
        answer_ms: 120_000,
        max_question_chars: 280,
        moderated: true,
    };
    let mut h = Harness::new(vec![phase("qa", PhaseKind::Qa(spec))]);
    h.room(&TWO_CITIES);
    h.join("m", Role::Moderator, None);
    h.start();
    let text = "Who pays for the new bridge?";
    h.ok("a1", Command::Ask { text: text.into() });
    let asked: Vec<Audience> = h
        .log
        .iter()
        .filter(|e| matches!(e.kind, EventKind::QuestionAsked { .. }))
        .map(|e| e.audience.clone())
        .collect();
    assert_eq!(asked, vec![Audience::MemberAndStaff(id("a1"))]);
    let ids = |h: &Harness, who: &str, role: Role| -> Vec<u64> {
        let v = h.engine.view(h.now, &id(who), role);
        assert_eq!(v.questions_total, v.questions.len());
        v.questions.iter().map(|q| q.id).collect()
    };
    assert_eq!(ids(&h, "b1", Role::Participant), Vec::<u64>::new());
    assert_eq!(ids(&h, "a1", Role::Participant), vec![1]);
    assert_eq!(ids(&h, "m", Role::Moderator), vec![1]);
    // To other residents it does not exist yet.
    h.refused(
        "b1",
        Command::Upvote { question: 1 },
        RejectCode::UnknownItem,
    );
    h.ok("m", Command::Approve { question: 1 });
    let approved = h
        .log
        .iter()
        .find(|e| matches!(e.kind, EventKind::QuestionApproved { .. }))
        .unwrap();
    assert_eq!(approved.audience, Audience::Everyone);
    assert_eq!(
        approved.kind,
        EventKind::QuestionApproved {
            question: 1,
            by: id("m"),
            member: id("a1"),
            text: text.into(),
            votes: 0,
        }
    );
    assert_eq!(ids(&h, "b1", Role::Participant), vec![1]);
    h.ok("b1", Command::Upvote { question: 1 });
}

#[test]
fn poll_counts_one_changeable_vote_per_member_by_community() {
    let spec = PollSpec {
        question: "Should the cities share a transit pass?".into(),
        choices: vec!["yes".into(), "no".into(), "unsure".into()],
        duration_ms: Some(60_000),
        reveal: Reveal::AtClose,
        show_results_ms: 30_000,
        pairs_with: None,
    };
    // A threshold of 1 voter shows every community (the default, 3, is tested below).
    let config = EngineConfig {
        poll_min_voters: 1,
        ..EngineConfig::with_seed(42)
    };
    let mut h = Harness::with_config(vec![phase("poll", PhaseKind::Poll(spec))], config);
    h.room(&TWO_CITIES);
    h.start();
    h.ok(
        "a1",
        Command::Vote {
            choice: "yes".into(),
        },
    );
    h.ok(
        "a1",
        Command::Vote {
            choice: "no".into(),
        },
    );
    h.ok(
        "b1",
        Command::Vote {
            choice: "no".into(),
        },
    );
    h.refused(
        "b2",
        Command::Vote {
            choice: "maybe".into(),
        },
        RejectCode::Invalid,
    );
    h.advance(60_000);
    let closed = h
        .log
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::PollResults {
                totals,
                by_community,
                closed: true,
                ..
            } => Some((totals.clone(), by_community.clone())),
            _ => None,
        })
        .expect("results at close");
    assert_eq!(
        closed.0,
        vec![("yes".into(), 0), ("no".into(), 2), ("unsure".into(), 0)]
    );
    assert_eq!(closed.1.len(), 2);
}

// Session and roles.

#[test]
fn session_lifecycle_refusals() {
    let mut h = Harness::new(vec![phase("r", PhaseKind::Round(round(60)))]);
    h.room(&TWO_CITIES);
    h.refused(
        "a1",
        Command::RaiseHand { stance: None },
        RejectCode::NotStarted,
    );
    h.refused("f", Command::Pause, RejectCode::NotStarted);
    h.refused("ghost", Command::Start, RejectCode::UnknownMember);
    h.start();
    h.refused("f", Command::Start, RejectCode::AlreadyStarted);
    h.ok("f", Command::End);
    h.refused("f", Command::Start, RejectCode::Ended);
    h.refused("a1", Command::Pass { for_now: false }, RejectCode::Ended);
}

#[test]
fn role_matrix() {
    use crate::engine::command::Capability;
    let commands = [
        Command::RaiseHand { stance: None },
        Command::Note { text: "n".into() },
        Command::Start,
        Command::Pause,
        Command::Broadcast { text: "b".into() },
        Command::Mute { member: id("a1") },
        Command::Hide { message: 1 },
    ];
    for role in Role::ALL {
        for cmd in &commands {
            let mut h = Harness::new(vec![phase(
                "q",
                PhaseKind::Queue(queue(QueueOrdering::Fifo)),
            )]);
            h.room(&TWO_CITIES);
            h.join("x", role, Some("Dayton"));
            if !matches!(cmd, Command::Start) {
                h.start();
            }
            let allowed = role.may(cmd.capability());
            let res = h.cmd("x", cmd.clone());
            match (allowed, res) {
                (false, Err(e)) => assert_eq!(e.code, RejectCode::Forbidden, "{role} {cmd:?}"),
                (false, Ok(())) => panic!("{role} may not {cmd:?}"),
                (true, Err(e)) => assert_ne!(e.code, RejectCode::Forbidden, "{role} {cmd:?}"),
                (true, Ok(())) => {}
            }
            let _ = Capability::Participate;
        }
    }
}

#[test]
fn every_phase_advances_on_next_phase_and_the_session_ends_after_the_last() {
    let mut h = Harness::new(vec![
        phase("a", presentation(60)),
        phase("b", PhaseKind::Round(round(60))),
        phase("c", PhaseKind::Queue(queue(QueueOrdering::Fifo))),
        phase("d", reflection(60, NoteVisibility::Private)),
    ]);
    h.room(&TWO_CITIES);
    h.start();
    for i in 1..4 {
        h.ok("f", Command::NextPhase);
        assert_eq!(h.engine.phase_index(), Some(i));
    }
    h.ok("f", Command::NextPhase);
    assert_eq!(h.engine.session(), Session::Ended);
    assert_eq!(h.count(|e| matches!(e, EventKind::PhaseEnded { .. })), 4);
}

#[test]
fn remaining_refusal_paths() {
    let mut h = Harness::new(vec![
        phase("r", PhaseKind::Round(round(60))),
        phase("q", PhaseKind::Queue(queue(QueueOrdering::Fifo))),
    ]);
    h.room(&TWO_CITIES);
    h.join("m", Role::Moderator, None);
    h.join("o", Role::Observer, None);
    h.start();
    h.refused("a1", Command::ConfirmReflection, RejectCode::WrongPhase);
    h.refused(
        "m",
        Command::GrantFloor { member: id("b1") },
        RejectCode::WrongPhase,
    );
    h.refused(
        "m",
        Command::Approve { question: 1 },
        RejectCode::WrongPhase,
    );
    h.refused(
        "a1",
        Command::Vote {
            choice: "yes".into(),
        },
        RejectCode::WrongPhase,
    );
    h.refused(
        "a1",
        Command::Note { text: "n".into() },
        RejectCode::WrongPhase,
    );
    h.refused(
        "a1",
        Command::YieldFloor { to: Some(id("b1")) },
        RejectCode::Invalid,
    );
    h.refused(
        "o",
        Command::Speak { text: "hi".into() },
        RejectCode::Forbidden,
    );
    h.refused(
        "f",
        Command::Extend {
            seconds: 3_601,
            target: ExtendTarget::Turn,
        },
        RejectCode::Invalid,
    );
    h.refused(
        "f",
        Command::Extend {
            seconds: 30,
            target: ExtendTarget::Phase,
        },
        RejectCode::NotAllowed,
    );
    h.refused(
        "m",
        Command::Unmute { member: id("a2") },
        RejectCode::Invalid,
    );
    h.refused(
        "m",
        Command::Remove { member: id("f") },
        RejectCode::Forbidden,
    );
    h.ok("f", Command::NextPhase);
    h.refused("m", Command::RevokeFloor, RejectCode::NoFloor);
    h.refused(
        "m",
        Command::GrantFloor { member: id("o") },
        RejectCode::Invalid,
    );
    h.refused(
        "m",
        Command::GrantFloor {
            member: id("ghost"),
        },
        RejectCode::UnknownMember,
    );
    h.leave("b2");
    h.refused(
        "m",
        Command::GrantFloor { member: id("b2") },
        RejectCode::UnknownMember,
    );
    h.refused(
        "b2",
        Command::RaiseHand { stance: None },
        RejectCode::UnknownMember,
    );
    raise(&mut h, "a1");
    h.refused(
        "m",
        Command::GrantFloor { member: id("a1") },
        RejectCode::Invalid,
    );
    // In an open floor, passing means giving up the floor you hold.
    h.ok("a1", Command::Pass { for_now: false });
    h.refused(
        "a1",
        Command::Pass { for_now: false },
        RejectCode::NotYourTurn,
    );
}

#[test]
fn a_hand_raised_while_waiting_to_be_confirmed_is_served_by_the_own_turn() {
    // Found by the property test: the listener raised a hand during the confirmation window
    // and then held the floor while still queued.
    let mut q = queue(QueueOrdering::Fifo);
    q.reflect_back = Some(reflect_back());
    let mut h = Harness::new(vec![phase("q", PhaseKind::Queue(q))]);
    h.room(&TWO_CITIES);
    h.start();
    raise(&mut h, "a1");
    yield_floor(&mut h, "a1");
    raise(&mut h, "b1");
    h.advance(30_000); // b1's reflect-back runs out; a1 has 15 s to confirm
    raise(&mut h, "b1");
    h.advance(15_000);
    assert_eq!(
        (h.holder().as_deref(), h.turn()),
        (Some("b1"), Some(TurnKind::Own))
    );
    assert!(h.queue().is_empty());
}

// Town-hall flow: breakouts, Q&A moderation, help, live equity.

fn breakout_spec(size: u32, min: u32, countdown_s: u64) -> PhaseKind {
    PhaseKind::Breakout(BreakoutSpec {
        duration_ms: 600_000,
        group_size: size,
        min_group_size: min,
        protocol: "small".into(),
        closing_countdown_ms: countdown_s * 1000,
    })
}

fn opened_groups(h: &Harness) -> Vec<Vec<String>> {
    h.log
        .iter()
        .rev()
        .find_map(|e| match &e.kind {
            EventKind::BreakoutOpened { groups, .. } => Some(
                groups
                    .iter()
                    .map(|g| g.iter().map(|m| m.0.clone()).collect())
                    .collect(),
            ),
            _ => None,
        })
        .expect("groups announced")
}

#[test]
fn breakout_splits_participants_into_mixed_groups_and_recalls_with_a_countdown() {
    let mut h = Harness::new(vec![
        phase("groups", breakout_spec(4, 3, 60)),
        phase("after", reflection(60, NoteVisibility::None)),
    ]);
    let people: Vec<(String, &str)> = (0..6)
        .map(|i| (format!("a{i}"), "Dayton"))
        .chain((0..6).map(|i| (format!("b{i}"), "Boulder")))
        .collect();
    h.join("f", Role::Facilitator, None);
    h.join("m", Role::Moderator, None);
    h.join("o", Role::Observer, None);
    for (n, c) in &people {
        h.join(n, Role::Participant, Some(c));
    }
    h.start();
    let groups = opened_groups(&h);
    assert_eq!(groups.len(), 3);
    for g in &groups {
        assert_eq!(g.len(), 4);
        assert_eq!(
            g.iter().filter(|m| m.starts_with('a')).count(),
            2,
            "mixed: {g:?}"
        );
        assert!(
            !g.iter().any(|m| m == "o" || m == "f" || m == "m"),
            "observers and staff are not assigned"
        );
    }
    // A late joiner goes where there is room and the mix needs them.
    h.join("late", Role::Participant, Some("Boulder"));
    assert_eq!(h.count(|e| matches!(e, EventKind::BreakoutMoved { .. })), 1);
    h.refused("a0", Command::CloseBreakouts, RejectCode::Forbidden);
    h.refused(
        "m",
        Command::MoveToGroup {
            member: id("a0"),
            group: 9,
        },
        RejectCode::Invalid,
    );
    let target = (0..3)
        .find(|&i| !groups[i].contains(&"a0".to_string()))
        .unwrap() as u32;
    h.ok(
        "m",
        Command::MoveToGroup {
            member: id("a0"),
            group: target,
        },
    );
    h.ok("a1", Command::AskHelp);
    assert_eq!(
        h.log.last().unwrap().audience,
        crate::engine::event::Audience::Staff
    );
    // A snapshot shows the groups as the moves left them: all to staff, only one's own to
    // anyone else.
    let staff = h
        .engine
        .view(h.now, &id("m"), Role::Moderator)
        .breakout
        .unwrap();
    assert_eq!(staff.groups.len(), 3);
    assert!(staff.groups[target as usize].contains(&id("a0")));
    assert_eq!(staff.groups.iter().map(Vec::len).sum::<usize>(), 13);
    assert_eq!(staff.my_group, None);
    let mine = h
        .engine
        .view(h.now, &id("a0"), Role::Participant)
        .breakout
        .unwrap();
    assert_eq!(mine.my_group, Some(target));
    assert_eq!(mine.groups.len(), 3);
    for (i, g) in mine.groups.iter().enumerate() {
        assert_eq!(g.contains(&id("a0")), i == target as usize);
        assert_eq!(g.is_empty(), i != target as usize);
    }
    h.ok("f", Command::CloseBreakouts);
    let staff = h
        .engine
        .view(h.now, &id("f"), Role::Facilitator)
        .breakout
        .unwrap();
    assert_eq!(staff.closing_until, Some(h.now + 60_000));
    h.refused("f", Command::CloseBreakouts, RejectCode::Duplicate);
    h.advance(59_999);
    assert_eq!(
        h.phase_kind(),
        Some("breakout"),
        "nobody is cut off mid-sentence"
    );
    h.advance(1);
    assert_eq!(h.phase_kind(), Some("reflection"));
    assert_eq!(h.count(|e| matches!(e, EventKind::BreakoutClosed)), 1);
    assert_eq!(
        h.engine.view(h.now, &id("f"), Role::Facilitator).breakout,
        None
    );
}

#[test]
fn breakouts_reuse_or_reshuffle_the_previous_groups() {
    let mut h = Harness::new(vec![
        phase("g1", breakout_spec(2, 2, 0)),
        phase("g2", breakout_spec(2, 2, 0)),
    ]);
    h.room(&[
        ("a1", "A"),
        ("a2", "A"),
        ("a3", "A"),
        ("b1", "B"),
        ("b2", "B"),
        ("b3", "B"),
    ]);
    h.start();
    let first = opened_groups(&h);
    assert!(
        first.iter().all(|g| g.len() == 2 && g[0][..1] != g[1][..1]),
        "cross-community pairs: {first:?}"
    );
    h.ok("f", Command::CloseBreakouts);
    assert_eq!(h.engine.phase_index(), Some(1));
    h.ok(
        "f",
        Command::OpenBreakouts {
            group_size: None,
            assignment: Some(crate::engine::command::Assignment::Reuse),
        },
    );
    assert_eq!(opened_groups(&h), first);
    h.ok(
        "f",
        Command::OpenBreakouts {
            group_size: None,
            assignment: Some(crate::engine::command::Assignment::Reshuffle),
        },
    );
    let second = opened_groups(&h);
    assert_ne!(second, first, "people meet someone new");
    h.refused(
        "f",
        Command::OpenBreakouts {
            group_size: Some(1),
            assignment: None,
        },
        RejectCode::Invalid,
    );
}

#[test]
fn breakout_with_fewer_people_than_a_group_makes_one_group() {
    let mut h = Harness::new(vec![phase("g", breakout_spec(4, 3, 0))]);
    h.room(&[("a1", "A"), ("b1", "B")]);
    h.start();
    assert_eq!(
        opened_groups(&h),
        vec![vec!["a1".to_string(), "b1".to_string()]]
    );
}

#[test]
fn qa_merge_and_order() {
    let spec = QaSpec {
        duration_ms: None,
        answer_ms: 60_000,
        max_question_chars: 280,
        moderated: false,
    };
    let mut h = Harness::new(vec![phase("qa", PhaseKind::Qa(spec))]);
    h.room(&TWO_CITIES);
    h.join("m", Role::Moderator, None);
    h.start();
    h.ok(
        "a1",
        Command::Ask {
            text: "Who pays for the bridge?".into(),
        },
    ); // 1
    h.ok(
        "b1",
        Command::Ask {
            text: "How is the bridge funded?".into(),
        },
    ); // 2
    h.ok(
        "a2",
        Command::Ask {
            text: "When do buses start?".into(),
        },
    ); // 3
    h.ok("b2", Command::Upvote { question: 2 });
    h.ok(
        "m",
        Command::MergeQuestions {
            question: 2,
            into: 1,
        },
    );
    let merged = h.log.iter().find_map(|e| match e.kind {
        EventKind::QuestionsMerged { votes, .. } => Some(votes),
        _ => None,
    });
    assert_eq!(merged, Some(2), "b1 and b2 now count for question 1");
    h.refused(
        "b2",
        Command::Upvote { question: 2 },
        RejectCode::UnknownItem,
    );
    h.refused(
        "m",
        Command::MergeQuestions {
            question: 1,
            into: 1,
        },
        RejectCode::Invalid,
    );
    // Approve with the floor busy so the order matters.
    h.ok("m", Command::Approve { question: 1 });
    h.ok("m", Command::Approve { question: 3 });
    h.refused(
        "m",
        Command::OrderQuestion {
            question: 2,
            position: 0,
        },
        RejectCode::NotQueued,
    );
    h.ok(
        "m",
        Command::OrderQuestion {
            question: 3,
            position: 0,
        },
    );
    h.advance(60_000);
    let on_floor: Vec<u64> = h
        .log
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::QuestionOnFloor { question, .. } => Some(question),
            _ => None,
        })
        .collect();
    assert_eq!(on_floor, [1, 3]);
}

#[test]
fn staff_get_equity_after_every_turn() {
    let mut h = Harness::new(vec![phase("r", PhaseKind::Round(round(60)))]);
    h.room(&TWO_CITIES);
    h.start();
    h.advance(60_000);
    let updates: Vec<_> = h
        .log
        .iter()
        .filter(|e| matches!(e.kind, EventKind::EquityUpdated { .. }))
        .collect();
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].audience, crate::engine::event::Audience::Staff);
    match &updates[0].kind {
        EventKind::EquityUpdated {
            not_spoken,
            total_speaking_ms,
            ..
        } => {
            assert_eq!((*not_spoken, *total_speaking_ms), (3, 60_000));
        }
        _ => unreachable!(),
    }
}

#[test]
fn nudges_invite_the_silent_once_others_have_spoken() {
    let mut q = queue(QueueOrdering::Fifo);
    q.nudge_after_ms = Some(300_000);
    let mut h = Harness::new(vec![phase("q", PhaseKind::Queue(q))]);
    h.room(&TWO_CITIES);
    h.start();
    h.advance(300_000);
    assert_eq!(
        h.count(|e| matches!(e, EventKind::Nudged { .. })),
        0,
        "nobody spoke yet: no nudges"
    );
    raise(&mut h, "a1");
    raise(&mut h, "b2");
    h.advance(300_000);
    let nudged: Vec<(String, crate::engine::event::Audience)> = h
        .log
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Nudged { member } => Some((member.0.clone(), e.audience.clone())),
            _ => None,
        })
        .collect();
    let names: Vec<&str> = nudged.iter().map(|n| n.0.as_str()).collect();
    assert_eq!(
        names,
        ["a2", "b1"],
        "b2 is waiting with a hand up; a1 spoke"
    );
    assert_eq!(
        nudged[0].1,
        crate::engine::event::Audience::MemberAndStaff(id("a2"))
    );
    h.advance(600_000);
    assert_eq!(
        h.count(|e| matches!(e, EventKind::Nudged { .. })),
        2,
        "once per person per phase"
    );
}

#[test]
fn the_group_can_vote_to_move_on() {
    let mut q = queue(QueueOrdering::Fifo);
    q.move_on = Some(MoveOnSpec {
        threshold_pct: 75,
        offer_after_silence_ms: Some(60_000),
    });
    let mut h = Harness::new(vec![
        phase("q", PhaseKind::Queue(q)),
        phase("end", reflection(60, NoteVisibility::None)),
    ]);
    h.room(&TWO_CITIES);
    h.start();
    h.advance(60_000);
    assert_eq!(
        h.count(|e| matches!(e, EventKind::MoveOnOffered)),
        1,
        "offered after a quiet minute"
    );
    h.ok("a1", Command::MoveOn { agree: true });
    h.refused("a1", Command::MoveOn { agree: true }, RejectCode::Duplicate);
    h.ok("a2", Command::MoveOn { agree: true });
    h.ok("a2", Command::MoveOn { agree: false });
    h.refused("f", Command::MoveOn { agree: true }, RejectCode::Forbidden);
    h.ok("a2", Command::MoveOn { agree: true });
    assert_eq!(h.phase_kind(), Some("queue"), "2 of 4 is under 75%");
    h.ok("b1", Command::MoveOn { agree: true });
    assert_eq!(h.phase_kind(), Some("reflection"));
    assert_eq!(
        h.count(|e| matches!(
            e,
            EventKind::MoveOnCarried {
                votes: 3,
                eligible: 4
            }
        )),
        1
    );
}

#[test]
fn move_on_is_refused_where_the_protocol_has_no_vote() {
    let mut h = Harness::new(vec![phase(
        "q",
        PhaseKind::Queue(queue(QueueOrdering::Fifo)),
    )]);
    h.room(&TWO_CITIES);
    h.start();
    h.refused(
        "a1",
        Command::MoveOn { agree: true },
        RejectCode::NotAllowed,
    );
}

#[test]
fn large_halls_announce_arrivals_to_staff_and_snapshot_only_what_matters() {
    let mut h = Harness::new(vec![phase(
        "q",
        PhaseKind::Queue(queue(QueueOrdering::Fifo)),
    )]);
    h.join("f", Role::Facilitator, None);
    for i in 0..400 {
        let c = if i % 2 == 0 { "Dayton" } else { "Boulder" };
        h.join(&format!("p{i}"), Role::Participant, Some(c));
    }
    let audiences: Vec<_> = h
        .log
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::MemberJoined { member, .. } => Some((member.0.clone(), e.audience.clone())),
            _ => None,
        })
        .collect();
    // f and p0..p298 make 300 present; p299 is the 301st.
    assert_eq!(
        audiences[299],
        ("p298".to_string(), crate::engine::event::Audience::Everyone)
    );
    assert_eq!(
        audiences[300].1,
        crate::engine::event::Audience::MemberAndStaff(id("p299"))
    );
    h.start();
    raise(&mut h, "p7");
    raise(&mut h, "p9");
    let v = h.engine.view(h.now, &id("p3"), Role::Participant);
    let listed: Vec<&str> = v.members.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(listed, ["f", "p3", "p7", "p9"]);
    assert_eq!((v.counts.present, v.counts.participants), (401, 400));
    assert_eq!(
        v.counts.by_community,
        vec![("Boulder".to_string(), 200), ("Dayton".to_string(), 200)]
    );
    assert!(v.equity.is_none(), "participants do not get the staff view");
    assert!(h
        .engine
        .view(h.now, &id("f"), Role::Facilitator)
        .equity
        .is_some());
    // A departure is announced like the arrival was (issue #19: the wire doc says so).
    h.leave("p5");
    let left = h
        .log
        .iter()
        .rev()
        .find(|e| matches!(e.kind, EventKind::MemberLeft { .. }))
        .unwrap();
    assert_eq!(
        left.audience,
        crate::engine::event::Audience::MemberAndStaff(id("p5"))
    );
}

/// A pass is not speaking: time held before passing is credited to nobody, so the person who
/// passed has 0 s, 0 turns and is listed as not having spoken, and the Gini agrees with the
/// turn counts. A clarification is own-view time and a turn of its own.
#[test]
fn a_pass_is_not_speaking_and_a_clarification_is_a_turn() {
    let mut spec = round(60);
    spec.reflect_back = Some(reflect_back());
    let mut h = Harness::new(vec![phase("r", PhaseKind::Round(spec))]);
    h.room(&[("a1", "A"), ("b1", "B"), ("a2", "A")]);
    h.start();
    h.advance(10_000);
    yield_floor(&mut h, "a1");
    h.advance(5_000);
    yield_floor(&mut h, "b1"); // sums up a1
    h.ok("a1", Command::RequestClarification);
    h.advance(4_000);
    yield_floor(&mut h, "a1"); // the clarification
    h.advance(3_000);
    yield_floor(&mut h, "b1"); // second attempt
    h.ok("a1", Command::ConfirmReflection);
    h.advance(20_000); // b1 holds the floor, then passes
    assert_eq!(h.holder().as_deref(), Some("b1"));
    h.ok("b1", Command::Pass { for_now: false });
    let b1 = h.engine.ledger().get(&id("b1")).unwrap().clone();
    assert_eq!((b1.speaking_ms, b1.turns, b1.passes), (0, 0, 1), "{b1:?}");
    assert_eq!(b1.reflect_ms, 8_000, "summing up is still counted");
    let a1 = h.engine.ledger().get(&id("a1")).unwrap().clone();
    assert_eq!((a1.speaking_ms, a1.turns), (14_000, 2), "{a1:?}");
    let eq = h.engine.equity();
    assert!(eq.not_spoken.contains(&id("b1")), "{:?}", eq.not_spoken);
    let b1 = eq.people.iter().find(|p| p.member == id("b1")).unwrap();
    assert_eq!(b1.speaking_ms, 0);
}

/// Approved questions are answered by up-votes (most first), ties by when they were asked;
/// a moderator's explicit placement wins over votes; the snapshot carries the answer order.
#[test]
fn qa_answers_by_upvotes_and_the_moderators_order_wins() {
    let spec = QaSpec {
        duration_ms: None,
        answer_ms: 60_000,
        max_question_chars: 280,
        moderated: false,
    };
    let mut h = Harness::new(vec![phase("qa", PhaseKind::Qa(spec))]);
    h.room(&TWO_CITIES);
    h.join("c1", Role::Participant, Some("Boulder"));
    h.join("m", Role::Moderator, None);
    h.start();
    for (who, text) in [("a1", "q1"), ("b1", "q2"), ("a2", "q3"), ("b2", "q4")] {
        h.ok(who, Command::Ask { text: text.into() });
    }
    h.ok("m", Command::Approve { question: 1 }); // on the floor at once
    h.ok("b1", Command::Upvote { question: 3 });
    h.ok("b2", Command::Upvote { question: 3 });
    h.ok("a1", Command::Upvote { question: 4 });
    for q in [2, 3, 4] {
        h.ok("m", Command::Approve { question: q });
    }
    let order = |h: &Harness| {
        h.engine
            .view(h.now, &id("a1"), Role::Participant)
            .answer_order
    };
    assert_eq!(order(&h), [3, 4, 2], "by votes, ties by time");
    let last = h.log.iter().rev().find_map(|e| match &e.kind {
        EventKind::QuestionOrder { order, .. } => Some(order.clone()),
        _ => None,
    });
    assert_eq!(last, Some(vec![3, 4, 2]), "clients hear the order");
    h.ok(
        "m",
        Command::OrderQuestion {
            question: 2,
            position: 0,
        },
    );
    for who in ["a2", "b1", "c1"] {
        h.ok(who, Command::Upvote { question: 4 });
    }
    assert_eq!(order(&h), [2, 4, 3], "the placed question keeps its place");
    for _ in 0..3 {
        h.advance(60_000);
    }
    let on_floor: Vec<u64> = h
        .log
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::QuestionOnFloor { question, .. } => Some(question),
            _ => None,
        })
        .collect();
    assert_eq!(on_floor, [1, 2, 4, 3]);
}

/// Small-group privacy: a community with fewer than 3 voters (the default) gets no breakdown;
/// when the communities left out add up to fewer than 3 voters, none is shown at all (the
/// totals minus the others would give them away).
#[test]
fn poll_hides_the_breakdown_of_communities_with_few_voters() {
    let spec = PollSpec {
        question: "Share a transit pass?".into(),
        choices: vec!["yes".into(), "no".into()],
        duration_ms: Some(60_000),
        reveal: Reveal::Live,
        show_results_ms: 30_000,
        pairs_with: None,
    };
    let mut h = Harness::new(vec![phase("poll", PhaseKind::Poll(spec))]);
    h.room(&[]);
    for (m, c) in [
        ("a1", "A"),
        ("a2", "A"),
        ("a3", "A"),
        ("b1", "B"),
        ("b2", "B"),
        ("c1", "C"),
        ("d1", "D"),
    ] {
        h.join(m, Role::Participant, Some(c));
    }
    h.start();
    let breakdown = |h: &Harness| -> Vec<String> {
        h.log
            .iter()
            .rev()
            .find_map(|e| match &e.kind {
                EventKind::PollResults { by_community, .. } => {
                    Some(by_community.iter().map(|(c, _)| c.clone()).collect())
                }
                _ => None,
            })
            .unwrap()
    };
    for m in ["a1", "a2", "a3", "b1"] {
        h.ok(
            m,
            Command::Vote {
                choice: "yes".into(),
            },
        );
    }
    assert!(
        breakdown(&h).is_empty(),
        "B's one voter would show through the totals"
    );
    for m in ["b2", "c1"] {
        h.ok(
            m,
            Command::Vote {
                choice: "no".into(),
            },
        );
    }
    assert_eq!(
        breakdown(&h),
        ["A"],
        "B and C (3 voters together) stay hidden"
    );
    let view = h.engine.view(h.now, &id("d1"), Role::Participant);
    match view.poll.and_then(|p| p.results) {
        Some(EventKind::PollResults { by_community, .. }) => assert_eq!(by_community.len(), 1),
        other => panic!("{other:?}"),
    }
}

/// Issue #19: one input never sends two `queue_changed` (each replaces the whole order, so the
/// first would be stale at once). Driven through every ordering with pins, first-timers-first,
/// served hands, moderator grants, mutes and leaves; each input's events are checked.
#[test]
fn one_input_sends_at_most_one_queue_changed() {
    let orderings = [
        QueueOrdering::Fifo,
        QueueOrdering::AlternateCommunities,
        QueueOrdering::Progressive,
        QueueOrdering::AlternateStance,
    ];
    for ordering in orderings {
        for first_timers_first in [false, true] {
            for reflect in [false, true] {
                let mut q = queue(ordering);
                q.first_timers_first = first_timers_first;
                q.reflect_back = reflect.then(reflect_back);
                let stanced = ordering == QueueOrdering::AlternateStance;
                if stanced {
                    q.stances = vec!["for".into(), "against".into()];
                }
                let mut h = Harness::new(vec![phase("q", PhaseKind::Queue(q))]);
                h.room(&TWO_CITIES);
                h.join("a3", Role::Participant, Some("Dayton"));
                h.join("b3", Role::Participant, Some("Boulder"));
                h.join("m", Role::Moderator, None);
                h.start();
                let mv = |who: &str, position: u32| Command::MoveInQueue {
                    member: id(who),
                    position,
                };
                let hand = |lane: &str| Command::RaiseHand {
                    stance: stanced.then(|| lane.to_string()),
                };
                let script: Vec<(&str, Command)> = vec![
                    ("a1", hand("for")),
                    ("a2", hand("for")),
                    ("a3", hand("against")),
                    ("b1", hand("for")),
                    ("b2", hand("against")),
                    ("m", mv("b2", 1)),
                    ("a1", Command::YieldFloor { to: None }),
                    ("m", mv("a3", 0)),
                    ("m", Command::RevokeFloor),
                    ("b3", hand("for")),
                    ("m", Command::GrantFloor { member: id("b3") }),
                    ("m", Command::Mute { member: id("b1") }),
                    ("m", mv("b2", 2)),
                    ("a1", hand("for")),
                ];
                let label = format!("{ordering:?} ftf={first_timers_first} reflect={reflect}");
                let check = |h: &Harness, mark: usize, what: &str| {
                    let n = h.log[mark..]
                        .iter()
                        .filter(|e| matches!(e.kind, EventKind::QueueChanged { .. }))
                        .count();
                    assert!(
                        n <= 1,
                        "{label}: {what} sent {n} queue_changed: {:#?}",
                        &h.log[mark..]
                    );
                    // What clients rebuilt is the engine's order.
                    let last = h.log[mark..].iter().rev().find_map(|e| match &e.kind {
                        EventKind::QueueChanged { order, .. } => Some(order.clone()),
                        _ => None,
                    });
                    if let Some(order) = last {
                        assert_eq!(order, h.engine.queue(), "{label}: {what}");
                    }
                };
                for (who, cmd) in script {
                    let mark = h.log.len();
                    let what = format!("{who} {cmd:?}");
                    // Refusals are fine here (a reflect-back may hold the floor); they emit
                    // nothing.
                    let _ = h.cmd(who, cmd);
                    check(&h, mark, &what);
                    // Let reflect-backs and their confirmations run out, up to an own turn.
                    for _ in 0..5 {
                        if h.turn() == Some(TurnKind::Own) {
                            break;
                        }
                        let mark = h.log.len();
                        if !h.step() {
                            break;
                        }
                        check(&h, mark, "a timer");
                    }
                }
                let mark = h.log.len();
                h.leave("a2");
                check(&h, mark, "a2 leaves");
                let n = h.count(|k| matches!(k, EventKind::QueueChanged { .. }));
                assert!(n >= 3, "{label}: the script moved the queue only {n} times");
            }
        }
    }
}

/// The example in `docs/protocol-files.md` ("Alternating communities"): Dayton spoke last,
/// hands D1, D2, B1, D3 queue as B1 D1 D2 D3, and a later B2 goes between D1 and D2.
#[test]
fn alternating_communities_on_an_open_floor_as_documented() {
    let mut h = Harness::new(vec![phase(
        "q",
        PhaseKind::Queue(queue(QueueOrdering::AlternateCommunities)),
    )]);
    h.room(&[
        ("d0", "Dayton"),
        ("d1", "Dayton"),
        ("d2", "Dayton"),
        ("b1", "Boulder"),
        ("d3", "Dayton"),
        ("b2", "Boulder"),
    ]);
    h.start();
    raise(&mut h, "d0");
    assert_eq!(h.holder().as_deref(), Some("d0"));
    for who in ["d1", "d2", "b1", "d3"] {
        raise(&mut h, who);
    }
    assert_eq!(h.queue(), ["b1", "d1", "d2", "d3"]);
    raise(&mut h, "b2");
    assert_eq!(h.queue(), ["b1", "d1", "b2", "d2", "d3"]);
}

/// The go-round example: three from Dayton and two from Boulder speak D B D B D; with four
/// and one, D B D D D.
#[test]
fn alternating_communities_in_a_go_round_as_documented() {
    for (people, want) in [
        (
            vec![
                ("d1", "D"),
                ("d2", "D"),
                ("b1", "B"),
                ("d3", "D"),
                ("b2", "B"),
            ],
            vec!["d1", "b1", "d2", "b2", "d3"],
        ),
        (
            vec![
                ("d1", "D"),
                ("d2", "D"),
                ("d3", "D"),
                ("b1", "B"),
                ("d4", "D"),
            ],
            vec!["d1", "b1", "d2", "d3", "d4"],
        ),
    ] {
        let mut spec = round(10);
        spec.order = RoundOrder::AlternateCommunities;
        let mut h = Harness::new(vec![phase("r", PhaseKind::Round(spec))]);
        h.room(&people);
        h.start();
        for _ in 0..people.len() {
            h.advance(10_000);
        }
        assert_eq!(h.own_turns(), want);
    }
}
