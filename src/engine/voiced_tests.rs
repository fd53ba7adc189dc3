//! `Input::Voiced`: the media layer's measured voice, accounted in the ledger and shown in
//! the equity figures, without touching a turn.

use crate::engine::equity;
use crate::engine::harness::*;
use crate::engine::reject::RejectCode;
use crate::engine::Input;
use crate::protocol::*;

fn room() -> Harness {
    let mut h = Harness::new(vec![phase("r", PhaseKind::Round(round(60)))]);
    h.room(&TWO_CITIES);
    h
}

#[test]
fn voiced_time_adds_up_in_the_ledger_and_the_equity_figures() {
    let mut h = room();
    h.start();
    let holder = h.holder().expect("the round gives the floor");
    let before = h.engine.clone();
    let r = h.engine.handle(
        h.now,
        Input::Voiced {
            voiced: vec![(id(&holder), 400), (id("nobody"), 60)],
        },
    );
    assert_eq!(r.result, Ok(()));
    assert!(r.events.is_empty(), "voice is accounted silently");
    h.engine.handle(
        h.now,
        Input::Voiced {
            voiced: vec![(id(&holder), 200)],
        },
    );
    let e = h.engine.equity();
    let p = e.people.iter().find(|p| p.member == id(&holder)).unwrap();
    assert_eq!(p.voiced_ms, 600);
    assert_eq!(e.total_voiced_ms, 600);
    // The floor and its timer are as they were: voice never changes a turn.
    assert_eq!(h.holder(), Some(holder.clone()));
    assert_eq!(h.engine.next_deadline(), before.next_deadline());
    assert_eq!(
        h.engine.ledger().speaking_ms(&id(&holder)),
        before.ledger().speaking_ms(&id(&holder))
    );
}

#[test]
fn voice_of_nobody_the_room_knows_is_refused_and_changes_nothing() {
    let mut h = room();
    h.start();
    let before = h.engine.clone();
    let r = h.engine.handle(
        h.now,
        Input::Voiced {
            voiced: vec![(id("stranger"), 400), (id("a1"), 0)],
        },
    );
    assert_eq!(r.result.map_err(|e| e.code), Err(RejectCode::UnknownMember));
    assert_eq!(h.engine, before);
}

#[test]
fn the_release_s_equity_update_counts_voice_reported_before_it() {
    let mut h = room();
    h.start();
    let holder = h.holder().unwrap();
    h.engine.handle(
        h.now,
        Input::Voiced {
            voiced: vec![(id(&holder), 1_000)],
        },
    );
    h.advance(60_000);
    let last = h
        .log
        .iter()
        .rev()
        .find_map(|e| match &e.kind {
            crate::engine::event::EventKind::EquityUpdated {
                total_voiced_ms, ..
            } => Some(*total_voiced_ms),
            _ => None,
        })
        .expect("an equity update at the turn's end");
    assert_eq!(last, 1_000);
    let figures = serde_json::to_value(equity::compute(h.engine.roster(), h.engine.ledger()));
    assert_eq!(figures.unwrap()["total_voiced_ms"], 1_000);
}

#[test]
fn a_ledger_stored_before_voiced_time_existed_still_loads() {
    let old = r#"{"speaking_ms":5,"reflect_ms":0,"turns":1,"reflect_turns":0,"passes":0,
        "queue_wait_ms":0,"queue_waits":0}"#;
    let s: crate::engine::ledger::MemberStats = serde_json::from_str(old).unwrap();
    assert_eq!((s.speaking_ms, s.voiced_ms), (5, 0));
}
