//! Transcript and report built from a real engine run on simulated time.

use crate::engine::command::Command;
use crate::engine::harness::*;
use crate::engine::member::Role;
use crate::protocol::*;
use crate::record::{report, transcript, Logged};

fn poll(id: &str, pairs_with: Option<&str>) -> PhaseSpec {
    phase(
        id,
        PhaseKind::Poll(PollSpec {
            question: "Hopeful?".into(),
            choices: vec!["yes".into(), "no".into()],
            duration_ms: Some(60_000),
            reveal: Reveal::AtClose,
            show_results_ms: DEFAULT_SHOW_RESULTS_MS,
            pairs_with: pairs_with.map(str::to_string),
        }),
    )
}

fn logged(h: &Harness) -> Vec<Logged> {
    h.log
        .iter()
        .enumerate()
        .map(|(i, e)| Logged {
            seq: i as u64 + 1,
            event: e.clone(),
        })
        .collect()
}

#[test]
fn report_and_transcript_match_what_happened() {
    let mut h = Harness::new(vec![
        poll("before", None),
        phase("talk", PhaseKind::Round(round(60))),
        phase("notes", reflection(60, NoteVisibility::SharedAnonymous)),
        phase("private", reflection(60, NoteVisibility::Private)),
        poll("after", Some("before")),
    ]);
    h.room(&TWO_CITIES);
    h.join("m", Role::Moderator, None);
    h.start();
    for (who, v) in [("a1", "no"), ("a2", "no"), ("b1", "yes"), ("b2", "no")] {
        h.ok(who, Command::Vote { choice: v.into() });
    }
    h.advance(60_000);
    // The poll closed and its results are up; the facilitator moves on to the round.
    h.ok("f", Command::NextPhase);
    h.ok(
        "a1",
        Command::Speak {
            text: "Rents doubled on my street.".into(),
        },
    );
    h.ok(
        "a1",
        Command::Speak {
            text: "something rude".into(),
        },
    );
    let rude = h
        .log
        .iter()
        .rev()
        .find_map(|e| match &e.kind {
            crate::engine::event::EventKind::Said { message, .. } => Some(*message),
            _ => None,
        })
        .unwrap();
    h.ok("m", Command::Hide { message: rude });
    h.advance(30_000);
    h.ok("a1", Command::YieldFloor { to: None });
    h.ok("m", Command::Mute { member: id("a2") });
    h.advance(60_000); // b1
    h.advance(60_000); // b2
    h.ok(
        "b1",
        Command::Note {
            text: "We share more than I thought.".into(),
        },
    );
    h.advance(60_000);
    h.ok(
        "b2",
        Command::Note {
            text: "my private thought".into(),
        },
    );
    h.advance(60_000);
    for (who, v) in [("a1", "yes"), ("b1", "yes"), ("b2", "yes")] {
        h.ok(who, Command::Vote { choice: v.into() });
    }
    h.advance(60_000);
    // The last poll's results stay up for their time, then the session ends.
    assert!(!matches!(
        h.engine.session(),
        crate::engine::core::Session::Ended
    ));
    h.advance(DEFAULT_SHOW_RESULTS_MS);
    assert!(matches!(
        h.engine.session(),
        crate::engine::core::Session::Ended
    ));
    let log = logged(&h);

    let t = transcript::build(&log, h.engine.roster());
    assert_eq!(t.hidden, 1);
    let md = transcript::to_markdown("Test", &t);
    assert!(md.contains("Rents doubled on my street."));
    assert!(!md.contains("something rude"));
    assert!(md.contains("We share more than I thought."));
    assert!(
        !md.contains("my private thought"),
        "private notes never leave their author"
    );
    assert!(md.contains("m: mute a2"), "{md}");
    let jsonl = transcript::to_jsonl(&t);
    assert_eq!(jsonl.lines().count(), t.lines.len());
    for line in jsonl.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap();
    }

    let r = report::build(&h.engine, &log);
    assert_eq!(r.equity, h.engine.equity());
    assert_eq!(
        r.equity
            .people
            .iter()
            .find(|p| p.member == id("a1"))
            .unwrap()
            .speaking_ms,
        30_000
    );
    assert_eq!(r.phases.len(), 5);
    assert_eq!(r.polls.len(), 2);
    let s = &r.poll_shifts[0];
    assert_eq!((s.before.as_str(), s.after.as_str()), ("before", "after"));
    assert_eq!(s.choices[0], ("yes".to_string(), 0.25, 1.0));
    assert_eq!(r.moderation.get("mute"), Some(&1));
    assert_eq!(r.moderation.get("hide"), Some(&1));
    let html = report::to_html(&r);
    assert!(html.contains("<svg") && html.contains("Poll shift"));
}

/// Every moderator action, with who took it, is in the transcript's moderation section, and
/// the report counts the same actions.
#[test]
fn every_moderator_action_is_in_the_transcript_and_counted_in_the_report() {
    let mut h = Harness::new(vec![phase(
        "floor",
        PhaseKind::Queue(queue(QueueOrdering::Fifo)),
    )]);
    h.room(&TWO_CITIES);
    h.join("m", Role::Moderator, None);
    h.start();
    h.ok("a1", Command::RaiseHand { stance: None });
    h.ok("a2", Command::RaiseHand { stance: None });
    h.ok("b1", Command::RaiseHand { stance: None });
    // a1 has the floor; the moderator moves b1 ahead of a2, ends a1's turn (b1 is next),
    // then invites a2 out of turn (the floor waits for a2's consent).
    h.ok(
        "m",
        Command::MoveInQueue {
            member: id("b1"),
            position: 0,
        },
    );
    h.ok("m", Command::RevokeFloor);
    h.ok("m", Command::GrantFloor { member: id("a2") });
    h.ok(
        "b2",
        Command::Report {
            message: None,
            member: Some(id("a2")),
            reason: "interrupting".into(),
        },
    );
    h.ok("m", Command::DismissReport { report: 1 });
    h.ok("m", Command::Mute { member: id("a2") });
    h.advance(60_000);
    let log = logged(&h);

    let t = transcript::build(&log, h.engine.roster());
    let actions: Vec<(String, Option<String>, String)> = t
        .lines
        .iter()
        .filter_map(|l| match l {
            transcript::Line::Moderation {
                action, member, by, ..
            } => Some((
                action.clone(),
                member.as_ref().map(|m| m.as_str().to_string()),
                by.as_str().to_string(),
            )),
            _ => None,
        })
        .collect();
    let m = |a: &str, who: Option<&str>| (a.to_string(), who.map(str::to_string), "m".into());
    assert_eq!(
        actions,
        vec![
            m("queue_changed", None),
            m("revoke_floor", Some("a1")),
            m("invite_to_speak", Some("a2")),
            m("dismiss_report", None),
            // The mute also took a2's hand out of the queue: a `hand_lowered`, part of the
            // mute rather than an action of its own.
            m("mute", Some("a2")),
        ]
    );
    let r = report::build(&h.engine, &log);
    for (action, n) in [
        ("queue_changed", 1),
        ("revoke_floor", 1),
        ("invite_to_speak", 1),
        ("dismiss_report", 1),
        ("mute", 1),
    ] {
        assert_eq!(
            r.moderation.get(action),
            Some(&n),
            "{action}: {:?}",
            r.moderation
        );
    }
    assert_eq!(r.moderation.values().sum::<u32>(), 5, "{:?}", r.moderation);
}
