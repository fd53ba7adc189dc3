//! Moderation in the engine: reports and their limits, the word list, and that every
//! moderator action names who did it. Every refusal is checked for its code and for leaving
//! the state unchanged (`Harness::refused`).

use std::sync::Arc;

use crate::engine::command::Command;
use crate::engine::core::Session;
use crate::engine::event::{Audience, Event, EventKind};
use crate::engine::harness::*;
use crate::engine::member::Role;
use crate::engine::moderation::{
    ReportStatus, WordList, MAX_OPEN_REPORTS_PER_MEMBER, MAX_REPORT_REASON_CHARS,
};
use crate::engine::reject::RejectCode;
use crate::engine::EngineConfig;
use crate::protocol::*;

fn report_message(message: u64, reason: &str) -> Command {
    Command::Report {
        message: Some(message),
        member: None,
        reason: reason.into(),
    }
}

fn report_member(member: &str, reason: &str) -> Command {
    Command::Report {
        message: None,
        member: Some(id(member)),
        reason: reason.into(),
    }
}

fn say(h: &mut Harness, who: &str, text: &str) {
    h.ok(who, Command::Speak { text: text.into() });
}

/// A go-round (a1 holds the floor first) with a moderator `m` and an observer `o`.
fn round_room() -> Harness {
    let mut h = Harness::new(vec![phase("r", PhaseKind::Round(round(60)))]);
    h.room(&TWO_CITIES);
    h.join("m", Role::Moderator, None);
    h.join("o", Role::Observer, None);
    h.start();
    h
}

fn events_since(h: &Harness, n: usize) -> Vec<Event> {
    h.log[n..].to_vec()
}

fn closed(h: &Harness) -> Vec<(u64, String, ReportStatus)> {
    h.log
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ReportClosed { report, by, status } => {
                assert_eq!(e.audience, Audience::Staff);
                Some((*report, by.0.clone(), *status))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_report_goes_to_staff_and_stays_in_the_staff_view_until_handled() {
    let mut h = round_room();
    say(&mut h, "a1", "Housing costs worry me.");
    let n = h.log.len();
    h.ok("b1", report_message(1, "  mocking the speaker  "));
    let filed = events_since(&h, n);
    assert_eq!(filed.len(), 1);
    assert_eq!(filed[0].audience, Audience::Staff);
    assert_eq!(
        filed[0].kind,
        EventKind::ReportFiled {
            report: 1,
            by: id("b1"),
            message: Some(1),
            member: None,
            reason: "mocking the speaker".into(),
        }
    );
    h.ok("o", report_member("a2", "shouting over people"));
    let staff = h.engine.view(h.now, &id("m"), Role::Moderator);
    let reports = staff.reports.expect("staff see reports");
    assert_eq!(reports.len(), 2);
    assert_eq!(
        (reports[0].id, reports[0].reason.as_str()),
        (1, "mocking the speaker")
    );
    assert_eq!(reports[1].member, Some(id("a2")));
    assert_eq!(reports[1].status, ReportStatus::Open);
    for (who, role) in [
        ("b1", Role::Participant),
        ("a2", Role::Participant),
        ("o", Role::Observer),
    ] {
        assert_eq!(h.engine.view(h.now, &id(who), role).reports, None);
    }
    h.ok("m", Command::DismissReport { report: 1 });
    assert_eq!(closed(&h), [(1, "m".into(), ReportStatus::Dismissed)]);
    assert_eq!(h.engine.reports().len(), 1);
    assert_eq!(h.engine.reports()[0].id, 2);
}

#[test]
fn bad_reports_are_refused_and_change_nothing() {
    let mut h = round_room();
    say(&mut h, "a1", "first");
    h.refused(
        "b1",
        Command::Report {
            message: None,
            member: None,
            reason: "x".into(),
        },
        RejectCode::Invalid,
    );
    h.refused(
        "b1",
        Command::Report {
            message: Some(1),
            member: Some(id("a1")),
            reason: "x".into(),
        },
        RejectCode::Invalid,
    );
    h.refused("b1", report_message(1, " \n\t "), RejectCode::Invalid);
    h.refused(
        "b1",
        report_message(1, &"x".repeat(MAX_REPORT_REASON_CHARS + 1)),
        RejectCode::TooLong,
    );
    h.ok(
        "b1",
        report_message(1, &format!(" {} ", "x".repeat(MAX_REPORT_REASON_CHARS))),
    );
    h.refused("b2", report_message(0, "spam"), RejectCode::UnknownItem);
    h.refused("b2", report_message(2, "spam"), RejectCode::UnknownItem);
    h.refused(
        "b2",
        report_member("nobody", "spam"),
        RejectCode::UnknownMember,
    );
    h.refused("b2", report_member("b2", "me"), RejectCode::Invalid);
    h.refused("b1", report_message(1, "again"), RejectCode::Duplicate);
    h.ok("m", Command::Hide { message: 1 });
    h.refused("b2", report_message(1, "rude"), RejectCode::NotAllowed);
    h.ok("m", Command::Remove { member: id("a2") });
    h.refused("b2", report_member("a2", "rude"), RejectCode::NotAllowed);
    h.refused("a2", report_member("b2", "rude"), RejectCode::Removed);
    h.refused(
        "b1",
        Command::DismissReport { report: 1 },
        RejectCode::Forbidden,
    );
    h.refused(
        "m",
        Command::DismissReport { report: 1 },
        RejectCode::UnknownItem,
    );
    h.refused(
        "m",
        Command::DismissReport { report: 99 },
        RejectCode::UnknownItem,
    );
    h.ok("f", Command::End);
    h.refused("b1", report_member("b2", "late"), RejectCode::Ended);
}

#[test]
fn open_reports_per_member_are_limited_until_a_moderator_handles_one() {
    let mut h = Harness::new(vec![phase("r", PhaseKind::Round(round(60)))]);
    h.room(&TWO_CITIES);
    h.join("m", Role::Moderator, None);
    for i in 0..=MAX_OPEN_REPORTS_PER_MEMBER {
        h.join(&format!("x{i}"), Role::Participant, Some("Dayton"));
    }
    h.start();
    for i in 0..MAX_OPEN_REPORTS_PER_MEMBER {
        h.ok("b1", report_member(&format!("x{i}"), "spam"));
    }
    let last = format!("x{MAX_OPEN_REPORTS_PER_MEMBER}");
    h.refused(
        "b1",
        report_member(&last, "spam"),
        RejectCode::TooManyReports,
    );
    // Another member is not limited by b1's reports.
    h.ok("b2", report_member(&last, "spam"));
    h.ok("m", Command::DismissReport { report: 1 });
    h.ok("b1", report_member(&last, "spam"));
    assert_eq!(h.engine.reports().len(), MAX_OPEN_REPORTS_PER_MEMBER + 1);
}

#[test]
fn reports_are_taken_before_the_start_and_while_paused() {
    let mut h = Harness::new(vec![phase("r", PhaseKind::Round(round(60)))]);
    h.room(&TWO_CITIES);
    h.join("m", Role::Moderator, None);
    h.ok("a1", report_member("b1", "harassed me in the lobby"));
    h.start();
    h.ok("f", Command::Pause);
    assert!(matches!(h.engine.session(), Session::Paused { .. }));
    h.ok("a2", report_member("b1", "same"));
    h.ok("m", Command::DismissReport { report: 2 });
    assert_eq!(h.engine.reports().len(), 1);
}

#[test]
fn hiding_muting_and_removing_close_the_reports_about_their_target() {
    let mut h = round_room();
    say(&mut h, "a1", "a rude remark");
    h.ok("b1", report_message(1, "rude"));
    h.ok("b2", report_message(1, "rude too"));
    h.ok("b1", report_member("a2", "heckling"));
    h.ok("b2", report_member("b1", "spamming reports"));
    h.ok("o", report_member("a1", "insults"));
    h.ok("m", Command::Hide { message: 1 });
    h.ok("m", Command::Mute { member: id("a2") });
    h.ok("f", Command::Remove { member: id("a1") });
    assert_eq!(
        closed(&h),
        [
            (1, "m".into(), ReportStatus::Hidden),
            (2, "m".into(), ReportStatus::Hidden),
            (3, "m".into(), ReportStatus::Muted),
            (5, "f".into(), ReportStatus::Removed),
        ]
    );
    let open: Vec<u64> = h.engine.reports().iter().map(|r| r.id).collect();
    assert_eq!(open, [4]);
    // Unmuting closes nothing and reopens nothing.
    h.ok("m", Command::Unmute { member: id("a2") });
    assert_eq!(closed(&h).len(), 4);
}

fn flagging(phases: Vec<PhaseSpec>) -> Harness {
    let list = WordList::parse("# test list\nidiot\ngo home\n");
    let config = EngineConfig::with_seed(42).with_word_list(Arc::new(list));
    let mut h = Harness::with_config(phases, config);
    h.room(&TWO_CITIES);
    h.join("m", Role::Moderator, None);
    h
}

fn flags(h: &Harness) -> Vec<(u64, Option<String>, Vec<String>)> {
    h.log
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::MessageFlagged {
                message,
                member,
                words,
            } => {
                assert_eq!(e.audience, Audience::Staff);
                Some((
                    *message,
                    member.as_ref().map(|m| m.0.clone()),
                    words.clone(),
                ))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn the_word_list_flags_spoken_messages_for_staff_but_delivers_them() {
    let mut h = flagging(vec![phase("r", PhaseKind::Round(round(60)))]);
    h.start();
    let n = h.log.len();
    say(&mut h, "a1", "Only an IDIOT would... go home!");
    let evs = events_since(&h, n);
    assert_eq!(evs.len(), 2, "{evs:?}");
    assert!(matches!(&evs[0].kind, EventKind::Said { message: 1, .. }));
    assert_eq!(evs[0].audience, Audience::Everyone, "delivered as usual");
    assert_eq!(
        flags(&h),
        [(1, Some("a1".into()), vec!["idiot".into(), "go home".into()])]
    );
    say(
        &mut h,
        "a1",
        "Idiotic is not a whole-word match; going home neither.",
    );
    assert_eq!(flags(&h).len(), 1);
    // Staff can act on the flag like on a report.
    h.ok("m", Command::Hide { message: 1 });
}

#[test]
fn the_word_list_flags_questions_and_shared_notes_but_not_private_ones() {
    let qa = QaSpec {
        duration_ms: None,
        answer_ms: 60_000,
        max_question_chars: 280,
        moderated: false,
    };
    let mut h = flagging(vec![
        phase("private", reflection(60, NoteVisibility::Private)),
        phase("shared", reflection(60, NoteVisibility::SharedAnonymous)),
        phase("qa", PhaseKind::Qa(qa)),
    ]);
    h.start();
    h.ok(
        "a1",
        Command::Note {
            text: "what an idiot".into(),
        },
    );
    assert!(
        flags(&h).is_empty(),
        "a private note is nobody else's business"
    );
    h.advance(60_000);
    h.ok(
        "b1",
        Command::Note {
            text: "they should go home".into(),
        },
    );
    assert_eq!(flags(&h), [(2, None, vec!["go home".into()])]);
    h.advance(60_000);
    h.ok(
        "b2",
        Command::Ask {
            text: "Why is the mayor an idiot?".into(),
        },
    );
    assert_eq!(flags(&h)[1], (3, Some("b2".into()), vec!["idiot".into()]));
}

#[test]
fn without_a_word_list_nothing_is_flagged() {
    let mut h = round_room();
    say(&mut h, "a1", "idiot go home");
    assert!(flags(&h).is_empty());
}

fn by_of(kind: &EventKind) -> Option<String> {
    match kind {
        EventKind::QueueChanged { by, .. }
        | EventKind::QuestionOrder { by, .. }
        | EventKind::QuestionsMerged { by, .. }
        | EventKind::FloorGranted { by, .. } => by.as_ref().map(|m| m.0.clone()),
        EventKind::Muted { by, .. }
        | EventKind::Unmuted { by, .. }
        | EventKind::MemberRemoved { by, .. }
        | EventKind::Hidden { by, .. }
        | EventKind::FloorRevoked { by, .. }
        | EventKind::Invited { by, .. }
        | EventKind::QuestionApproved { by, .. }
        | EventKind::ReportClosed { by, .. } => Some(by.0.clone()),
        _ => None,
    }
}

#[test]
fn queue_moves_and_grants_name_the_moderator_and_member_changes_do_not() {
    let mut h = Harness::new(vec![phase(
        "q",
        PhaseKind::Queue(queue(QueueOrdering::Moderator)),
    )]);
    h.room(&TWO_CITIES);
    h.join("m", Role::Moderator, None);
    h.start();
    for who in ["a1", "a2", "b1"] {
        h.ok(who, Command::RaiseHand { stance: None });
    }
    h.ok("a2", Command::LowerHand);
    h.ok("a2", Command::RaiseHand { stance: None });
    for e in &h.log {
        assert_eq!(by_of(&e.kind), None, "{e:?}");
    }
    let n = h.log.len();
    h.ok(
        "m",
        Command::MoveInQueue {
            member: id("a2"),
            position: 0,
        },
    );
    let moved: Vec<_> = h.log[n..].iter().map(|e| by_of(&e.kind)).collect();
    assert_eq!(moved, [Some("m".to_string())]);
    // A raised hand is served at once by a grant, and the grant names the moderator.
    let n = h.log.len();
    h.ok("m", Command::GrantFloor { member: id("b1") });
    assert_eq!(h.holder().as_deref(), Some("b1"));
    let signed: Vec<_> = h.log[n..]
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                EventKind::FloorGranted { .. } | EventKind::QueueChanged { .. }
            )
        })
        .map(|e| by_of(&e.kind))
        .collect();
    assert!(signed.len() >= 2, "{signed:?}");
    assert!(
        signed.iter().all(|b| b.as_deref() == Some("m")),
        "{signed:?}"
    );
    // The floor the phase's own rules give (after a yield) stays unsigned.
    let n = h.log.len();
    h.ok("b1", Command::YieldFloor { to: None });
    h.ok("m", Command::GrantFloor { member: id("a2") });
    h.ok("a2", Command::YieldFloor { to: None });
    assert!(h.log[n..].iter().all(|e| !matches!(
        &e.kind,
        EventKind::FloorGranted { member, by: Some(_), .. } if member.0 != "a2"
    )));
}

#[test]
fn question_order_and_merges_name_the_moderator() {
    let qa = QaSpec {
        duration_ms: None,
        answer_ms: 60_000,
        max_question_chars: 280,
        moderated: false,
    };
    let mut h = Harness::new(vec![phase("qa", PhaseKind::Qa(qa))]);
    h.room(&TWO_CITIES);
    h.join("m", Role::Moderator, None);
    h.start();
    for (who, q) in [
        ("a1", "one?"),
        ("a2", "two?"),
        ("b1", "three?"),
        ("b2", "two!"),
    ] {
        h.ok(who, Command::Ask { text: q.into() });
    }
    h.ok("m", Command::Approve { question: 1 });
    h.ok("m", Command::Approve { question: 2 });
    h.ok("m", Command::Approve { question: 3 });
    let n = h.log.len();
    h.ok(
        "m",
        Command::OrderQuestion {
            question: 3,
            position: 0,
        },
    );
    h.ok(
        "m",
        Command::MergeQuestions {
            question: 4,
            into: 2,
        },
    );
    let signed: Vec<_> = h.log[n..]
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                EventKind::QuestionOrder { .. } | EventKind::QuestionsMerged { .. }
            )
        })
        .map(|e| by_of(&e.kind))
        .collect();
    assert_eq!(signed, [Some("m".to_string()), Some("m".to_string())]);
}

#[test]
fn every_event_a_moderator_command_causes_with_a_by_field_names_them() {
    let mut h = Harness::new(vec![phase(
        "q",
        PhaseKind::Queue(queue(QueueOrdering::Fifo)),
    )]);
    h.room(&TWO_CITIES);
    h.join("m", Role::Moderator, None);
    h.start();
    for who in ["a1", "a2", "b1", "b2"] {
        h.ok(who, Command::RaiseHand { stance: None });
    }
    say(&mut h, "a1", "hello");
    h.ok("b2", report_member("b1", "rude"));
    let n = h.log.len();
    for c in [
        Command::MoveInQueue {
            member: id("b2"),
            position: 0,
        },
        Command::Mute { member: id("b1") },
        Command::Unmute { member: id("b1") },
        Command::Hide { message: 1 },
        Command::RevokeFloor,
        Command::Remove { member: id("a2") },
        Command::DismissReport { report: 1 },
    ] {
        let _ = h.cmd("m", c);
    }
    let mut signed = 0;
    for e in &h.log[n..] {
        // (Queue changes the phase's rules make after the command, such as serving the next
        // hand once the floor is free, are the rules' doing and stay unsigned.)
        let moderator_kind = matches!(
            e.kind,
            EventKind::Muted { .. }
                | EventKind::Unmuted { .. }
                | EventKind::Hidden { .. }
                | EventKind::FloorRevoked { .. }
                | EventKind::MemberRemoved { .. }
                | EventKind::ReportClosed { .. }
        );
        if moderator_kind {
            assert_eq!(by_of(&e.kind).as_deref(), Some("m"), "{e:?}");
            signed += 1;
        }
    }
    assert!(signed >= 6, "{signed}");
}

/// One situation, one code: a facilitator speaking or yielding without the floor gets
/// `not_your_turn` like a participant, and accepting without an invitation `no_invitation`;
/// an observer is still `forbidden`.
#[test]
fn staff_without_the_floor_get_the_participants_code() {
    let mut h = round_room();
    h.join("f", Role::Facilitator, None);
    h.refused(
        "f",
        Command::Speak { text: "hi".into() },
        RejectCode::NotYourTurn,
    );
    h.refused(
        "b1",
        Command::Speak { text: "hi".into() },
        RejectCode::NotYourTurn,
    );
    h.refused(
        "m",
        Command::YieldFloor { to: None },
        RejectCode::NotYourTurn,
    );
    h.refused("f", Command::AcceptFloor, RejectCode::NoInvitation);
    h.refused(
        "o",
        Command::Speak { text: "hi".into() },
        RejectCode::Forbidden,
    );
}

/// Invisible controls (bidi overrides, escape sequences) never reach the log, in names,
/// messages, questions or report reasons; line breaks in a message are kept.
#[test]
fn invisible_controls_are_stripped_where_text_is_stored() {
    let mut h = round_room();
    h.join("e\u{202E}ve\u{1b}[2J", Role::Participant, Some("A"));
    let name = h
        .engine
        .roster()
        .get(&id("e\u{202E}ve\u{1b}[2J"))
        .unwrap()
        .name
        .clone();
    assert_eq!(name, "eve[2J");
    say(&mut h, "a1", "one\u{202E}\u{7}\ntwo");
    let said = h.log.iter().find_map(|e| match &e.kind {
        EventKind::Said { text, .. } => Some(text.clone()),
        _ => None,
    });
    assert_eq!(said.as_deref(), Some("one\ntwo"));
    h.ok("b1", report_member("a1", "rude\u{2066}x"));
    assert_eq!(h.engine.reports()[0].reason, "rudex");
}

/// A resident has at most one open help request; staff resolve it, and it is then gone from
/// every staff view (and the resident hears it was dealt with).
#[test]
fn help_requests_are_one_per_resident_and_resolved_by_staff() {
    let mut h = round_room();
    h.ok("b1", Command::AskHelp);
    h.refused("b1", Command::AskHelp, RejectCode::Duplicate);
    h.ok("b2", Command::AskHelp);
    let staff_view = |h: &Harness| h.engine.view(h.now, &id("f"), Role::Facilitator).help;
    assert_eq!(staff_view(&h), [id("b1"), id("b2")]);
    assert_eq!(
        h.engine.view(h.now, &id("b1"), Role::Participant).help,
        [id("b1")],
        "a resident sees only their own"
    );
    h.refused(
        "b1",
        Command::ResolveHelp { member: id("b2") },
        RejectCode::Forbidden,
    );
    h.ok("m", Command::ResolveHelp { member: id("b1") });
    h.refused(
        "m",
        Command::ResolveHelp { member: id("b1") },
        RejectCode::UnknownItem,
    );
    assert_eq!(staff_view(&h), [id("b2")]);
    let resolved = h
        .log
        .iter()
        .find(|e| matches!(e.kind, EventKind::HelpResolved { .. }));
    assert_eq!(
        resolved.map(|e| e.audience.clone()),
        Some(Audience::MemberAndStaff(id("b1")))
    );
    h.ok("b1", Command::AskHelp); // a new request once the first was dealt with
}
