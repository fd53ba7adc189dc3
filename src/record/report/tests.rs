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

/// The report a facilitator hands on (#19): names, never member ids; the date and duration;
/// attendance from the joins and leaves; phases planned against actual; groups numbered as
/// people saw them; an HTML page with landmarks and captioned tables.
#[test]
fn the_report_names_people_and_carries_attendance_phases_and_group_numbers() {
    use crate::engine::member::MemberId;
    use crate::engine::Input;
    let mut h = Harness::new(vec![
        phase("talk", PhaseKind::Round(round(60))),
        phase("open", PhaseKind::Queue(queue(QueueOrdering::Fifo))),
    ]);
    h.join("f", Role::Facilitator, None);
    let people = [
        ("p-1", "Ana Pérez", "Dayton"),
        ("p-2", "Ben Okafor", "Dayton"),
        ("p-3", "Chloé Martin-Lefebvre de la Tour", "Boulder"),
    ];
    for (member, name, community) in people {
        let out = h.engine.handle(
            h.now,
            Input::Join {
                member: MemberId::new(member),
                name: name.into(),
                role: Role::Participant,
                community: Some(community.into()),
            },
        );
        out.result.unwrap();
        h.log.extend(out.events);
    }
    h.advance(5_000);
    h.start();
    h.advance(60_000); // p-1's turn runs out
    h.leave("p-2");
    h.advance(30_000); // p-2 gone: p-3 speaks
    let back = h.engine.handle(
        h.now,
        Input::Join {
            member: MemberId::new("p-2"),
            name: "Ben Okafor".into(),
            role: Role::Participant,
            community: Some("Dayton".into()),
        },
    );
    h.log.extend(back.events);
    h.advance(60_000);
    h.advance(10_000);
    h.ok("f", Command::NextPhase);
    // Moving on from the last phase ends the session.
    let log = logged(&h);
    let mut r = report::build(&h.engine, &log);

    assert_eq!(
        r.date.as_deref(),
        Some("2023-11-14"),
        "T0 is 2023-11-14 22:13:20 UTC"
    );
    let started = r.started_at.unwrap();
    assert_eq!(r.duration_ms, r.ended_at.unwrap().since(started));
    assert!(r.duration_ms > 0);
    let names: Vec<&str> = r.attendance.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "f",
            "Ana Pérez",
            "Ben Okafor",
            "Chloé Martin-Lefebvre de la Tour"
        ]
    );
    let ben = &r.attendance[2];
    assert_eq!(ben.visits, 2);
    assert_eq!(ben.left_at, None, "Ben came back and stayed");
    let end = r.ended_at.unwrap();
    assert_eq!(
        ben.present_ms,
        end.since(ben.joined_at) - 30_000,
        "the 30 s away do not count"
    );
    let dayton = &r.attendance_by_community[0];
    assert_eq!(
        (dayton.community.as_str(), dayton.participants),
        ("Dayton", 2)
    );
    assert_eq!(r.attendance_by_community[1].participants, 1);
    // Planned: three 60 s turns for the three participants present; the open floor has no
    // set length.
    assert_eq!(r.phases[0].planned_ms, Some(180_000));
    assert_eq!(r.phases[1].planned_ms, None);
    assert!(r.phases[0].ms > 0);

    r.groups
        .push(report::group("ev/group-7", 1, 0, &h.engine, &log));
    assert_eq!(r.groups[0].number, 1);
    assert_eq!(r.groups[0].label(), "Group 1");
    let html = report::to_html(&r);
    for needle in [
        "<html lang=\"en\">",
        "<header>",
        "<nav aria-label=",
        "<main>",
        "<caption>Who joined, when and for how long",
        "<th scope=\"col\">Planned</th>",
        "<th scope=\"row\">Ana Pérez</th>",
        "3 min",
        "no set length",
        "14 November 2023",
        "Group 1",
        "Dayton",
    ] {
        assert!(html.contains(needle), "{needle} in {html}");
    }
    for id in ["p-1", "p-2", "p-3", "ev/group-7", "group 0"] {
        assert!(!html.contains(id), "{id} in {html}");
    }
    // The people chart's label column is as wide as its longest label.
    let long = "Chloé Martin-Lefebvre de la Tour (Boulder)";
    let x: f64 = html
        .split("<rect x=\"")
        .nth(r.equity.communities.len() + 1)
        .and_then(|s| s.split('"').next())
        .and_then(|s| s.parse().ok())
        .unwrap();
    assert!(x >= 7.0 * long.chars().count() as f64, "bars start at {x}");

    let md = report::summary_markdown(&r);
    assert!(
        md.contains("## Attendance") && md.contains("Ben Okafor"),
        "{md}"
    );
    assert!(
        md.contains("| Round of turns") || md.contains("| talk |") || md.contains("3 min"),
        "{md}"
    );
}
