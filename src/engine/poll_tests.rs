//! Poll results at close: with `reveal = at_close` the closed results are shown to everyone,
//! and the next phase waits for them (the facilitator moves on, or `show_results` passes).

use crate::engine::command::Command;
use crate::engine::event::{Audience, EventKind};
use crate::engine::harness::*;
use crate::engine::reject::RejectCode;
use crate::engine::EngineConfig;
use crate::protocol::*;
use crate::time::Millis;

fn poll(reveal: Reveal) -> PhaseKind {
    PhaseKind::Poll(PollSpec {
        question: "Share a transit pass?".into(),
        choices: vec!["yes".into(), "no".into()],
        duration_ms: Some(60_000),
        reveal,
        show_results_ms: 20_000,
        pairs_with: None,
    })
}

fn room(reveal: Reveal) -> Harness {
    let config = EngineConfig {
        poll_min_voters: 1,
        ..EngineConfig::with_seed(42)
    };
    let mut h = Harness::with_config(
        vec![phase("p", poll(reveal)), phase("talk", presentation(60))],
        config,
    );
    h.room(&TWO_CITIES);
    h.start();
    for (who, choice) in [("a1", "yes"), ("a2", "no"), ("b1", "yes")] {
        h.ok(
            who,
            Command::Vote {
                choice: choice.into(),
            },
        );
    }
    h
}

/// The closed results: when, to whom, until when, with the totals and communities.
fn closed_results(h: &Harness) -> Vec<(Millis, Audience, Option<Millis>, u32, usize)> {
    h.log
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::PollResults {
                totals,
                by_community,
                closed: true,
                until,
                ..
            } => Some((
                e.at,
                e.audience.clone(),
                *until,
                totals.iter().map(|(_, n)| n).sum(),
                by_community.len(),
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn at_close_results_are_shown_to_everyone_before_the_next_phase_starts() {
    let mut h = room(Reveal::AtClose);
    h.advance(60_000);
    let closed_at = T0 + 60_000;
    assert_eq!(
        closed_results(&h),
        vec![(
            closed_at,
            Audience::Everyone,
            Some(closed_at + 20_000),
            3,
            2
        )]
    );
    assert_eq!(h.phase_kind(), Some("poll"), "the next phase waits");
    assert_eq!(h.engine.phase_timer(), None);
    h.refused(
        "b2",
        Command::Vote {
            choice: "no".into(),
        },
        RejectCode::PollClosed,
    );
    // A participant's snapshot carries the closed results while they are shown.
    let view = h
        .engine
        .view(h.now, &id("b2"), crate::engine::member::Role::Participant);
    let results = view.poll.and_then(|p| p.results).expect("results shown");
    assert!(matches!(
        results,
        EventKind::PollResults { closed: true, .. }
    ));
    h.advance(19_999);
    assert_eq!(h.phase_kind(), Some("poll"));
    h.advance(1);
    assert_eq!(h.phase_kind(), Some("presentation"));
    assert_eq!(closed_results(&h).len(), 1, "results are sent once");
}

#[test]
fn the_facilitator_moving_on_ends_the_results_early() {
    let mut h = room(Reveal::AtClose);
    // Moving on during the vote closes it and shows the results first.
    h.ok("f", Command::NextPhase);
    assert_eq!(h.phase_kind(), Some("poll"));
    assert_eq!(closed_results(&h).len(), 1);
    h.advance(5_000);
    h.ok("f", Command::NextPhase);
    assert_eq!(h.phase_kind(), Some("presentation"));
    assert_eq!(closed_results(&h).len(), 1);
}

#[test]
fn live_polls_and_the_session_ending_do_not_wait() {
    let mut h = room(Reveal::Live);
    h.advance(60_000);
    assert_eq!(h.phase_kind(), Some("presentation"));
    assert_eq!(closed_results(&h)[0].2, None);

    let mut h = room(Reveal::AtClose);
    h.ok("f", Command::End);
    assert_eq!(closed_results(&h).len(), 1);
    assert!(h.count(|k| matches!(k, EventKind::SessionEnded)) == 1);
}

#[test]
fn a_pause_while_results_show_moves_their_end_later() {
    let mut h = room(Reveal::AtClose);
    h.advance(60_000);
    h.ok("f", Command::Pause);
    h.advance(100_000);
    h.ok("f", Command::Resume);
    h.advance(19_999);
    assert_eq!(h.phase_kind(), Some("poll"));
    h.advance(1);
    assert_eq!(h.phase_kind(), Some("presentation"));
}

#[test]
fn show_results_zero_moves_on_as_the_poll_closes() {
    let config = EngineConfig {
        poll_min_voters: 1,
        ..EngineConfig::with_seed(42)
    };
    let mut spec = poll(Reveal::AtClose);
    if let PhaseKind::Poll(p) = &mut spec {
        p.show_results_ms = 0;
    }
    let mut h = Harness::with_config(
        vec![phase("p", spec), phase("talk", presentation(60))],
        config,
    );
    h.room(&TWO_CITIES);
    h.start();
    h.ok(
        "a1",
        Command::Vote {
            choice: "yes".into(),
        },
    );
    h.advance(60_000);
    assert_eq!(h.phase_kind(), Some("presentation"));
    let closed = closed_results(&h);
    assert_eq!(closed.len(), 1);
    assert_eq!((&closed[0].1, closed[0].2), (&Audience::Everyone, None));
}

#[test]
fn a_last_poll_shows_its_results_before_the_session_ends() {
    let config = EngineConfig {
        poll_min_voters: 1,
        ..EngineConfig::with_seed(42)
    };
    let mut h = Harness::with_config(vec![phase("p", poll(Reveal::AtClose))], config);
    h.room(&TWO_CITIES);
    h.start();
    h.advance(60_000);
    assert_eq!(h.engine.session(), crate::engine::core::Session::Running);
    assert_eq!(h.engine.next_deadline(), Some(T0 + 80_000));
    h.advance(20_000);
    assert_eq!(h.engine.session(), crate::engine::core::Session::Ended);
}

#[test]
fn the_results_have_no_phase_time_to_extend() {
    let mut h = room(Reveal::AtClose);
    h.advance(60_000);
    h.refused(
        "f",
        Command::Extend {
            seconds: 60,
            target: crate::engine::command::ExtendTarget::Phase,
        },
        RejectCode::NotAllowed,
    );
}
