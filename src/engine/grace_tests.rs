//! The reconnect grace: a member whose last connection drops keeps their place in line and
//! the floor until the grace ends; a join within it cancels the leave. On simulated time.

use crate::engine::command::Command;
use crate::engine::core::EngineConfig;
use crate::engine::event::{Audience, EventKind, ReleaseReason};
use crate::engine::harness::*;
use crate::engine::member::Role;
use crate::engine::Input;
use crate::protocol::*;

const GRACE: u64 = 30_000;

fn open_floor() -> Harness {
    let mut q = queue(QueueOrdering::Fifo);
    q.turn_ms = Some(60_000);
    let mut h = Harness::with_config(
        vec![phase("q", PhaseKind::Queue(q))],
        EngineConfig::with_seed(7).with_reconnect_grace(GRACE),
    );
    h.room(&[("a", "Dayton"), ("b", "Boulder"), ("c", "Dayton")]);
    h.start();
    for who in ["a", "b", "c"] {
        h.ok(who, Command::RaiseHand { stance: None });
    }
    h
}

fn rejoin(h: &mut Harness, name: &str) {
    h.join(name, Role::Participant, Some("Dayton"));
}

fn left_at(h: &Harness, name: &str) -> Vec<crate::time::Millis> {
    h.log
        .iter()
        .filter(|e| matches!(&e.kind, EventKind::MemberLeft { member } if member.0 == name))
        .map(|e| e.at)
        .collect()
}

#[test]
fn a_floor_holder_who_reconnects_within_the_grace_still_holds_the_floor() {
    let mut h = open_floor();
    assert_eq!(h.holder().as_deref(), Some("a"));
    let deadline = h.engine.floor().unwrap().timer.unwrap().deadline;
    h.advance(1_000);
    h.leave("a");
    let reconnecting = h.log.last().unwrap().clone();
    assert_eq!(
        reconnecting.kind,
        EventKind::MemberReconnecting {
            member: id("a"),
            until: T0 + 1_000 + GRACE
        }
    );
    assert_eq!(reconnecting.audience, Audience::Staff);
    assert_eq!(h.holder().as_deref(), Some("a"), "the floor is kept");
    assert_eq!(h.engine.next_deadline(), Some(T0 + 1_000 + GRACE));
    let staff = h.engine.view(h.now, &id("f"), Role::Facilitator);
    assert_eq!(
        staff.reconnecting,
        [crate::engine::view::Reconnecting {
            member: id("a"),
            until: T0 + 1_000 + GRACE
        }]
    );
    assert!(h
        .engine
        .view(h.now, &id("b"), Role::Participant)
        .reconnecting
        .is_empty());
    h.advance(GRACE - 1);
    rejoin(&mut h, "a");
    assert!(matches!(
        h.log.last().unwrap().kind,
        EventKind::MemberReconnected { .. }
    ));
    assert_eq!(h.holder().as_deref(), Some("a"));
    assert!(h
        .engine
        .view(h.now, &id("f"), Role::Facilitator)
        .reconnecting
        .is_empty());
    assert_eq!(h.queue(), ["b", "c"], "nobody lost their place");
    assert!(left_at(&h, "a").is_empty());
    // The turn's own timer kept running all along.
    assert_eq!(h.engine.floor().unwrap().timer.unwrap().deadline, deadline);
    assert_eq!(h.engine.next_deadline(), Some(deadline));
}

#[test]
fn a_queued_member_who_stays_away_leaves_the_line_when_the_grace_ends() {
    let mut h = open_floor();
    h.leave("b");
    assert_eq!(h.queue(), ["b", "c"], "b keeps the place during the grace");
    h.advance(GRACE - 1);
    assert_eq!(h.queue(), ["b", "c"]);
    h.advance(1);
    assert_eq!(h.queue(), ["c"]);
    assert_eq!(left_at(&h, "b"), [T0 + GRACE]);
    assert!(!h.engine.roster().is_present(&id("b")));
    // A later join is a plain return, at the back of the line if they raise a hand again.
    rejoin(&mut h, "b");
    assert!(h.engine.roster().is_present(&id("b")));
    assert!(!h
        .log
        .iter()
        .any(|e| matches!(e.kind, EventKind::MemberReconnected { .. })));
}

#[test]
fn a_floor_holder_who_stays_away_leaves_at_the_end_of_the_grace_as_left() {
    let mut h = open_floor();
    h.leave("a");
    h.advance(GRACE + 5);
    let released: Vec<_> = h
        .log
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
        .collect();
    assert_eq!(
        released,
        [("a".to_string(), T0 + GRACE, ReleaseReason::Left, GRACE)]
    );
    assert_eq!(h.holder().as_deref(), Some("b"));
    assert_eq!(h.engine.floor().unwrap().granted_at, T0 + GRACE);
}

#[test]
fn a_turn_that_runs_out_during_the_grace_ends_on_its_own_timer() {
    let mut q = queue(QueueOrdering::Fifo);
    q.turn_ms = Some(10_000);
    let mut h = Harness::with_config(
        vec![phase("q", PhaseKind::Queue(q))],
        EngineConfig::with_seed(7).with_reconnect_grace(GRACE),
    );
    h.room(&[("a", "Dayton"), ("b", "Boulder")]);
    h.start();
    h.ok("a", Command::RaiseHand { stance: None });
    h.ok("b", Command::RaiseHand { stance: None });
    h.leave("a");
    h.advance(10_000);
    assert_eq!(h.holder().as_deref(), Some("b"));
    assert!(h.log.iter().any(|e| matches!(
        &e.kind,
        EventKind::FloorReleased { member, reason: ReleaseReason::Expired, held_ms: 10_000, .. }
            if member.0 == "a"
    )));
    h.advance(GRACE);
    assert_eq!(left_at(&h, "a"), [T0 + GRACE]);
}

#[test]
fn before_the_session_starts_a_leave_is_immediate() {
    let mut h = Harness::with_config(
        vec![phase("q", PhaseKind::Queue(queue(QueueOrdering::Fifo)))],
        EngineConfig::with_seed(7).with_reconnect_grace(GRACE),
    );
    h.room(&[("a", "Dayton")]);
    h.leave("a");
    assert_eq!(left_at(&h, "a"), [T0]);
}

#[test]
fn a_pause_stops_the_grace_too() {
    let mut h = open_floor();
    h.leave("b");
    h.advance(10_000);
    h.ok("f", Command::Pause);
    h.advance(100_000);
    assert_eq!(h.queue(), ["b", "c"]);
    h.ok("f", Command::Resume);
    h.advance(GRACE - 10_000 - 1);
    assert_eq!(h.queue(), ["b", "c"]);
    h.advance(1);
    assert_eq!(h.queue(), ["c"]);
    assert_eq!(left_at(&h, "b"), [T0 + GRACE + 100_000]);
}

#[test]
fn a_replay_of_the_inputs_gives_the_same_engine() {
    let config = EngineConfig::with_seed(7).with_reconnect_grace(GRACE);
    let phases = vec![phase("q", PhaseKind::Queue(queue(QueueOrdering::Fifo)))];
    let mut live = Harness::with_config(phases.clone(), config.clone());
    let mut inputs = Vec::new();
    let mut feed = |h: &mut Harness, at: u64, input: Input| {
        h.now = T0 + at;
        inputs.push((h.now, input.clone()));
        let handled = h.engine.handle(h.now, input);
        h.log.extend(handled.events);
    };
    let join = |n: &str, role: Role| Input::Join {
        member: id(n),
        name: n.into(),
        role,
        community: Some("Dayton".into()),
    };
    let cmd = |n: &str, command: Command| Input::Command {
        from: id(n),
        command,
    };
    feed(&mut live, 0, join("f", Role::Facilitator));
    feed(&mut live, 0, join("a", Role::Participant));
    feed(&mut live, 0, join("b", Role::Participant));
    feed(&mut live, 0, cmd("f", Command::Start));
    feed(&mut live, 1, cmd("a", Command::RaiseHand { stance: None }));
    feed(&mut live, 2, cmd("b", Command::RaiseHand { stance: None }));
    feed(&mut live, 3, Input::Leave { member: id("a") });
    feed(&mut live, 4, Input::Leave { member: id("b") });
    feed(&mut live, 5, join("a", Role::Participant));
    feed(&mut live, 90_000, Input::Outage { since: T0 + 5 });
    let mut replayed = Harness::with_config(phases, config);
    let mut events = Vec::new();
    for (now, input) in &inputs {
        events.extend(replayed.engine.handle(*now, input.clone()).events);
    }
    assert_eq!(replayed.engine, live.engine);
    assert_eq!(events, live.log);
    assert_eq!(live.holder().as_deref(), None);
    assert!(live.engine.roster().is_present(&id("a")));
    assert!(!live.engine.roster().is_present(&id("b")));
}

#[test]
fn a_member_in_their_grace_is_present_and_reconnecting_until_they_join() {
    let mut h = open_floor();
    h.leave("b");
    assert!(h.engine.roster().is_present(&id("b")));
    assert!(h.engine.is_reconnecting(&id("b")));
    assert!(!h.engine.is_reconnecting(&id("a")));
    rejoin(&mut h, "b");
    assert!(!h.engine.is_reconnecting(&id("b")));
}
