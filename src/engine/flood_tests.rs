//! Floods in the engine: ten thousand raised hands and a flood of questions and up-votes in
//! one room. The engine must keep every hand and vote exactly once, refuse repeats with their
//! codes, and keep what one participant is sent on joining (the snapshot) bounded.
//!
//! Events are dropped as they come (a room actor does not keep them either, past its log), so
//! what these tests hold is the engine's own state.

use std::sync::Arc;

use crate::engine::command::Command;
use crate::engine::event::EventKind;
use crate::engine::harness::*;
use crate::engine::member::{MemberId, Role};
use crate::engine::reject::RejectCode;
use crate::engine::view::{VIEW_ALL_MEMBERS_UP_TO, VIEW_QUEUE};
use crate::engine::{Engine, EngineConfig, Input};
use crate::protocol::*;
use crate::time::Millis;

const HANDS: usize = 10_000;

fn engine(phases: Vec<PhaseSpec>) -> Engine {
    let protocol = Protocol {
        name: "flood".into(),
        title: "Flood".into(),
        description: String::new(),
        group_size: None,
        phases,
    };
    Engine::new(Arc::new(protocol), EngineConfig::with_seed(7))
}

fn join(e: &mut Engine, now: Millis, who: &str, role: Role, community: Option<&str>) {
    let h = e.handle(
        now,
        Input::Join {
            member: id(who),
            name: who.to_string(),
            role,
            community: community.map(str::to_string),
        },
    );
    h.result.unwrap();
}

fn cmd(e: &mut Engine, now: Millis, from: &MemberId, command: Command) -> Vec<EventKind> {
    let h = e.handle(
        now,
        Input::Command {
            from: from.clone(),
            command,
        },
    );
    if let Err(r) = h.result {
        panic!("{from} refused: {r}");
    }
    h.events.into_iter().map(|e| e.kind).collect()
}

fn refused(e: &mut Engine, now: Millis, from: &MemberId, command: Command) -> RejectCode {
    let h = e.handle(
        now,
        Input::Command {
            from: from.clone(),
            command,
        },
    );
    assert!(h.events.is_empty());
    h.result.expect_err("refused").code
}

fn participant(i: usize) -> MemberId {
    id(&format!("p{i}"))
}

#[test]
fn ten_thousand_hands_queue_once_each_and_a_snapshot_stays_bounded() {
    let mut q = queue(QueueOrdering::Moderator);
    q.turn_ms = Some(60_000);
    let mut e = engine(vec![phase("open", PhaseKind::Queue(q))]);
    let now = T0;
    join(&mut e, now, "f", Role::Facilitator, None);
    join(&mut e, now, "m", Role::Moderator, None);
    for i in 0..HANDS {
        let c = if i % 2 == 0 { "Dayton" } else { "Boulder" };
        join(
            &mut e,
            now,
            participant(i).as_str(),
            Role::Participant,
            Some(c),
        );
    }
    cmd(&mut e, now, &id("f"), Command::Start);
    for i in 0..HANDS {
        cmd(
            &mut e,
            now,
            &participant(i),
            Command::RaiseHand { stance: None },
        );
    }
    assert_eq!(e.queue().len(), HANDS);
    let again = refused(
        &mut e,
        now,
        &participant(17),
        Command::RaiseHand { stance: None },
    );
    assert_eq!(again, RejectCode::AlreadyQueued);
    assert_eq!(e.queue().len(), HANDS);

    // What the last in line is sent on joining: bounded, and it still says where they stand.
    let last = participant(HANDS - 1);
    let view = e.view(now, &last, Role::Participant);
    assert_eq!(view.queue.len(), VIEW_QUEUE);
    assert_eq!(view.queue_total, HANDS);
    assert_eq!(view.queue_position, Some(HANDS - 1));
    assert!(
        view.members.len() <= VIEW_ALL_MEMBERS_UP_TO,
        "{}",
        view.members.len()
    );
    let bytes = serde_json::to_vec(&view).unwrap().len();
    assert!(
        bytes < 64 * 1024,
        "a participant's snapshot is {bytes} bytes"
    );

    // Serving and lowering keep the queue exact.
    cmd(
        &mut e,
        now,
        &id("m"),
        Command::GrantFloor {
            member: last.clone(),
        },
    );
    assert_eq!(e.floor().map(|f| f.member.clone()), Some(last));
    cmd(&mut e, now, &participant(0), Command::LowerHand);
    assert_eq!(e.queue().len(), HANDS - 2);
    assert_eq!(e.queue()[0], participant(1));
}

#[test]
fn a_flood_of_questions_and_upvotes_counts_each_vote_once() {
    const ASKERS: usize = 300;
    const VOTERS: usize = 1_000;
    let qa = QaSpec {
        duration_ms: None,
        answer_ms: 60_000,
        max_question_chars: 280,
        moderated: false,
    };
    let mut e = engine(vec![phase("qa", PhaseKind::Qa(qa))]);
    let now = T0;
    join(&mut e, now, "f", Role::Facilitator, None);
    for i in 0..VOTERS {
        join(
            &mut e,
            now,
            participant(i).as_str(),
            Role::Participant,
            Some("Dayton"),
        );
    }
    cmd(&mut e, now, &id("f"), Command::Start);
    for i in 0..ASKERS {
        let text = format!("Question number {i}?");
        cmd(&mut e, now, &participant(i), Command::Ask { text });
    }
    // Everyone up-votes question 1 (except its asker), then tries again, and up-votes a
    // question that does not exist.
    let mut last_votes = 0;
    for i in 1..VOTERS {
        for ev in cmd(
            &mut e,
            now,
            &participant(i),
            Command::Upvote { question: 1 },
        ) {
            if let EventKind::QuestionUpvoted { question: 1, votes } = ev {
                assert_eq!(votes, last_votes + 1);
                last_votes = votes;
            }
        }
    }
    assert_eq!(last_votes as usize, VOTERS - 1);
    for i in (1..VOTERS).step_by(7) {
        let c = refused(
            &mut e,
            now,
            &participant(i),
            Command::Upvote { question: 1 },
        );
        assert_eq!(c, RejectCode::Duplicate);
        let c = refused(
            &mut e,
            now,
            &participant(i),
            Command::Upvote {
                question: ASKERS as u64 + 1,
            },
        );
        assert_eq!(c, RejectCode::UnknownItem);
    }
    let view = e.view(now, &participant(5), Role::Participant);
    // The snapshot lists the most up-voted first-ranked few; the total counts them all.
    assert_eq!(view.questions_total, ASKERS);
    assert_eq!(view.questions.len(), crate::engine::view::VIEW_QUESTIONS);
    let q1 = view.questions.iter().find(|q| q.id == 1).unwrap();
    assert_eq!((q1.votes as usize, q1.voted), (VOTERS - 1, true));
}
