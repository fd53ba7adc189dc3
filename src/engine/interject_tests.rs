//! `interject`: staff speak over the floor, seen by everyone, accounted apart.

use crate::engine::command::Command;
use crate::engine::event::{Audience, EventKind};
use crate::engine::harness::*;
use crate::engine::member::Role;
use crate::engine::reject::RejectCode;
use crate::protocol::*;

fn room() -> Harness {
    let mut h = Harness::new(vec![phase("r", PhaseKind::Round(round(60)))]);
    h.room(&TWO_CITIES);
    h.join("m", Role::Moderator, None);
    h.join("o", Role::Observer, None);
    h
}

fn interjections(h: &Harness) -> Vec<(String, bool, u64, Audience)> {
    h.log
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Interjected {
                member,
                on,
                held_ms,
            } => Some((member.to_string(), *on, *held_ms, e.audience.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn staff_interject_over_the_floor_and_everyone_sees_it() {
    let mut h = room();
    h.start();
    let holder = h.holder().expect("the round gives the floor");
    h.ok("m", Command::Interject { on: true });
    h.advance(7_000);
    h.ok("m", Command::Interject { on: false });
    assert_eq!(
        interjections(&h),
        [
            ("m".into(), true, 0, Audience::Everyone),
            ("m".into(), false, 7_000, Audience::Everyone),
        ]
    );
    // The floor holder keeps the floor, and the interjection is nobody's speaking time.
    assert_eq!(h.holder().as_deref(), Some(holder.as_str()));
    assert_eq!(h.engine.ledger().speaking_ms(&id("m")), 0);
}

#[test]
fn residents_may_not_interject_and_twice_is_refused() {
    let mut h = room();
    h.start();
    h.refused("a1", Command::Interject { on: true }, RejectCode::Forbidden);
    h.refused("o", Command::Interject { on: true }, RejectCode::Forbidden);
    h.refused("m", Command::Interject { on: false }, RejectCode::Invalid);
    h.ok("f", Command::Interject { on: true });
    h.refused("f", Command::Interject { on: true }, RejectCode::Duplicate);
}

#[test]
fn interjecting_works_during_a_pause_but_not_before_the_start() {
    let mut h = room();
    h.refused("m", Command::Interject { on: true }, RejectCode::NotStarted);
    h.start();
    h.ok("f", Command::Pause);
    h.ok("f", Command::Interject { on: true });
    h.advance(1_000);
    h.ok("f", Command::Interject { on: false });
    assert_eq!(interjections(&h)[1].2, 1_000);
}
