//! Snapshots: what each viewer may see, bounded for large rooms.

use super::VIEW_MESSAGE_BYTES;
use crate::engine::command::Command;
use crate::engine::core::{MessageKind, RECENT_MESSAGES};
use crate::engine::harness::*;
use crate::engine::member::Role;
use crate::engine::Engine;
use crate::protocol::*;

fn texts(h: &Harness, viewer: &str, role: Role) -> Vec<String> {
    h.engine
        .view(h.now, &id(viewer), role)
        .messages
        .iter()
        .map(|m| m.text.to_string())
        .collect()
}

fn say(h: &mut Harness, who: &str, text: &str) {
    h.ok(who, Command::Speak { text: text.into() });
}

#[test]
fn messages_are_the_last_hundred_oldest_first() {
    let mut h = Harness::new(vec![phase("intro", presentation(3_000))]);
    h.room(&TWO_CITIES);
    h.start();
    let first = h.now;
    let n = RECENT_MESSAGES + 50;
    for i in 0..n {
        say(&mut h, "f", &format!("m{i}"));
        h.advance(10);
    }
    let view = h.engine.view(h.now, &id("a1"), Role::Participant);
    assert_eq!(view.messages.len(), RECENT_MESSAGES);
    let want: Vec<String> = (50..n).map(|i| format!("m{i}")).collect();
    let got: Vec<String> = view.messages.iter().map(|m| m.text.to_string()).collect();
    assert_eq!(got, want);
    for (k, m) in view.messages.iter().enumerate() {
        assert_eq!(m.kind, MessageKind::Said);
        assert_eq!(m.member, Some(id("f")));
        assert_eq!(m.at, first + (50 + k as u64) * 10, "the event's own time");
    }
    assert!(view
        .messages
        .windows(2)
        .all(|w| w[0].message < w[1].message));
    // The wire form.
    let v = serde_json::to_value(&view.messages[0]).unwrap();
    assert_eq!(
        v,
        serde_json::json!({
            "message": view.messages[0].message,
            "kind": "said",
            "member": "f",
            "text": "m50",
            "at": (first + 500).0,
        })
    );
}

#[test]
fn long_messages_are_cut_to_the_byte_budget_newest_kept() {
    let mut h = Harness::new(vec![phase("intro", presentation(3_000))]);
    h.room(&TWO_CITIES);
    h.start();
    let long = "x".repeat(1_500);
    for i in 0..30 {
        say(&mut h, "f", &format!("{i:02}{long}"));
        h.advance(10);
    }
    let got = texts(&h, "a1", Role::Participant);
    let bytes: usize = got.iter().map(String::len).sum();
    // Whole messages only, newest last, and no more than one message past the budget.
    assert!(got.len() < 30, "{}", got.len());
    assert!(bytes < VIEW_MESSAGE_BYTES + 1_502, "{bytes}");
    assert!(bytes >= VIEW_MESSAGE_BYTES, "{bytes}");
    assert!(got.last().unwrap().starts_with("29"));
    let first: usize = got[0][..2].parse().unwrap();
    assert_eq!(first, 30 - got.len());
}

#[test]
fn hidden_messages_only_for_staff() {
    let mut h = Harness::new(vec![phase("r", PhaseKind::Round(round(60)))]);
    h.room(&TWO_CITIES);
    h.join("m", Role::Moderator, None);
    h.join("o", Role::Observer, None);
    h.start();
    say(&mut h, "a1", "first");
    say(&mut h, "a1", "second");
    h.ok("m", Command::Hide { message: 1 });
    for (who, role) in [
        ("a1", Role::Participant),
        ("b2", Role::Participant),
        ("o", Role::Observer),
    ] {
        assert_eq!(texts(&h, who, role), ["second"], "{who}");
    }
    for (who, role) in [("m", Role::Moderator), ("f", Role::Facilitator)] {
        assert_eq!(texts(&h, who, role), ["first", "second"], "{who}");
        assert_eq!(h.engine.view(h.now, &id(who), role).hidden, [1]);
    }
}

#[test]
fn private_notes_never_reach_a_snapshot() {
    let mut h = Harness::new(vec![
        phase("private", reflection(60, NoteVisibility::Private)),
        phase("shared", reflection(60, NoteVisibility::SharedAnonymous)),
    ]);
    h.room(&TWO_CITIES);
    h.start();
    h.ok(
        "a1",
        Command::Note {
            text: "secret".into(),
        },
    );
    h.advance(60_000);
    h.ok(
        "b1",
        Command::Note {
            text: "shared".into(),
        },
    );
    for (who, role) in [
        ("a1", Role::Participant),
        ("b1", Role::Participant),
        ("f", Role::Facilitator),
    ] {
        let view = h.engine.view(h.now, &id(who), role);
        assert_eq!(view.messages.len(), 1, "{who}");
        let m = &view.messages[0];
        assert_eq!(
            (&*m.text, m.kind, &m.member),
            ("shared", MessageKind::Noted, &None)
        );
    }
}

fn qa_spec() -> QaSpec {
    QaSpec {
        duration_ms: None,
        answer_ms: 60_000,
        max_question_chars: 280,
        moderated: false,
    }
}

fn ask(h: &mut Harness, who: &str, text: String) -> Result<(), crate::engine::reject::Rejection> {
    h.cmd(who, Command::Ask { text })
}

/// Issue #20, finding 1: one participant flooding questions cannot grow the snapshot.
#[test]
fn one_member_cannot_flood_the_questions() {
    use crate::engine::phase::MAX_QUESTIONS_PER_MEMBER;
    use crate::engine::reject::RejectCode;
    let mut h = Harness::new(vec![phase("qa", PhaseKind::Qa(qa_spec()))]);
    h.room(&TWO_CITIES);
    h.start();
    for i in 0..MAX_QUESTIONS_PER_MEMBER {
        ask(&mut h, "a1", format!("question {i}")).unwrap();
    }
    let refused = ask(&mut h, "a1", "one more".into()).unwrap_err();
    assert_eq!(refused.code, RejectCode::TooManyQuestions);
    // Others may still ask.
    ask(&mut h, "b1", "mine".into()).unwrap();
    // A removed member's open questions and messages leave the snapshot.
    h.join("m", Role::Moderator, None);
    h.ok("m", Command::Remove { member: id("a1") });
    let view = h.engine.view(h.now, &id("b2"), Role::Participant);
    assert_eq!(view.questions_total, 1);
    assert_eq!(view.questions.len(), 1);
    assert_eq!(view.questions[0].text, "mine");
}

/// Issue #20: whatever the history, a snapshot stays within a fixed bound. The worst case
/// here: every participant asks the most questions allowed, of the longest text.
#[test]
fn snapshot_size_is_bounded_for_any_history() {
    use crate::engine::phase::MAX_QUESTIONS_PER_MEMBER;
    use crate::engine::view::{VIEW_QUESTIONS, VIEW_QUESTION_BYTES};
    let mut h = Harness::new(vec![phase("qa", PhaseKind::Qa(qa_spec()))]);
    h.join("f", Role::Facilitator, None);
    let people: Vec<(String, &str)> = (0..60)
        .map(|i| {
            (
                format!("p{i}"),
                if i % 2 == 0 { "Dayton" } else { "Boulder" },
            )
        })
        .collect();
    for (name, c) in &people {
        h.join(name, Role::Participant, Some(c));
    }
    h.start();
    let long = "é".repeat(280);
    let mut asked = 0;
    for (name, _) in &people {
        for _ in 0..MAX_QUESTIONS_PER_MEMBER {
            ask(&mut h, name, long.clone()).unwrap();
            asked += 1;
        }
    }
    for (who, role) in [("p0", Role::Participant), ("f", Role::Facilitator)] {
        let view = h.engine.view(h.now, &id(who), role);
        assert_eq!(view.questions_total, asked);
        assert!(view.questions.len() <= VIEW_QUESTIONS);
        let text: usize = view.questions.iter().map(|q| q.text.len()).sum();
        assert!(text <= VIEW_QUESTION_BYTES, "{text}");
        // The viewer's own questions are in theirs.
        if who == "p0" {
            let own = view
                .questions
                .iter()
                .filter(|q| q.asker == id("p0"))
                .count();
            assert_eq!(own, MAX_QUESTIONS_PER_MEMBER);
        }
        let bytes = serde_json::to_vec(&view).unwrap().len();
        // Well under the connection's 320 KiB write limit with room for the envelope.
        assert!(bytes < 96 * 1024, "{who}: {bytes} bytes");
    }
}

#[test]
fn messages_survive_the_engine_snapshot() {
    let mut h = Harness::new(vec![phase("intro", presentation(300))]);
    h.room(&TWO_CITIES);
    h.start();
    say(&mut h, "f", "kept across a takeover");
    let json = serde_json::to_string(&h.engine).unwrap();
    let back: Engine = serde_json::from_str(&json).unwrap();
    assert_eq!(back, h.engine);
    assert_eq!(
        texts(&h, "a1", Role::Participant),
        ["kept across a takeover"]
    );
}
