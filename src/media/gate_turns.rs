//! The gate against the real engine: each phase kind's turns, as the engine announces them,
//! open exactly the voices the issue names and close them at the announced deadlines.
//!
//! Why here and not with synthetic events: the gate is only right if it reads the events
//! the engine really emits, in the order it emits them. These tests run the engine's own
//! harness and feed its log to a gate, the way the room actor's hook does.

use super::*;
use crate::engine::command::Command;
use crate::engine::harness::*;
use crate::engine::member::Role;
use crate::protocol::*;

/// An engine and the gate following its events.
struct Followed {
    h: Harness,
    gate: RoomGate,
    applied: usize,
}

impl Followed {
    fn new(phases: Vec<PhaseSpec>, extra: &[(&str, Role)]) -> Followed {
        let mut h = Harness::new(phases);
        h.room(&TWO_CITIES);
        for (n, role) in extra {
            h.join(n, *role, None);
        }
        let mut gate = RoomGate::new();
        for m in ["f", "m", "a1", "a2", "b1", "b2"] {
            gate.set_sending(&id(m), true);
        }
        let mut f = Followed {
            h,
            gate,
            applied: 0,
        };
        f.sync();
        f
    }

    fn sync(&mut self) {
        for ev in &self.h.log[self.applied..] {
            self.gate.apply(ev);
        }
        self.applied = self.h.log.len();
    }

    fn ok(&mut self, from: &str, cmd: Command) {
        self.h.ok(from, cmd);
        self.sync();
    }

    fn advance(&mut self, ms: u64) {
        self.h.advance(ms);
        self.sync();
    }

    /// Who the gate lets onto the floor track at `now` (the engine's current time plus
    /// `ahead` ms, without the engine having noticed that time yet).
    fn heard_at(&self, ahead: u64) -> Vec<&'static str> {
        let now = self.h.now + ahead;
        ["f", "m", "a1", "a2", "b1", "b2"]
            .into_iter()
            .filter(|m| self.gate.may_forward(&id(m), now) == Ok(Voice::Floor))
            .collect()
    }

    fn heard(&self) -> Vec<&'static str> {
        self.heard_at(0)
    }
}

fn raise() -> Command {
    Command::RaiseHand { stance: None }
}

fn yield_to(to: Option<&str>) -> Command {
    Command::YieldFloor { to: to.map(id) }
}

#[test]
fn presentation_speaker_is_heard_until_the_phase_deadline_and_hands_over() {
    let mut f = Followed::new(
        vec![
            phase("intro", presentation(300)),
            phase("think", reflection(60, NoteVisibility::None)),
        ],
        &[("m", Role::Moderator)],
    );
    f.ok("f", Command::Start);
    assert_eq!(f.heard(), ["f"], "the facilitator presents");
    f.ok("m", Command::GrantFloor { member: id("a1") });
    assert_eq!(f.heard(), ["f"], "an invitation alone changes nothing");
    f.ok("a1", Command::AcceptFloor);
    assert_eq!(f.heard(), ["a1"], "the invited panelist took over");
    f.advance(100_000);
    // The presentation turn has no deadline of its own; the phase's is the cut, and the
    // gate keeps it before the engine's timer has fired.
    assert_eq!(f.heard_at(199_999), ["a1"]);
    assert!(f.heard_at(200_000).is_empty());
    assert_eq!(
        f.gate.may_forward(&id("a1"), f.h.now + 200_000),
        Err(DropReason::Expired)
    );
    f.advance(200_000);
    assert!(f.heard().is_empty(), "the reflection phase has no speaker");
}

#[test]
fn a_phase_in_overtime_reopens_the_presenter() {
    let mut spec = phase("intro", presentation(60));
    spec.on_timeout = OnTimeout::Overtime;
    let mut f = Followed::new(vec![spec], &[]);
    f.ok("f", Command::Start);
    assert!(f.heard_at(60_000).is_empty(), "cut at the phase deadline");
    f.advance(60_000);
    assert_eq!(f.heard(), ["f"], "phase_overtime: the engine said go on");
    assert_eq!(f.heard_at(600_000), ["f"]);
}

#[test]
fn pause_and_resume_move_the_phase_cut() {
    let mut f = Followed::new(vec![phase("intro", presentation(60))], &[]);
    f.ok("f", Command::Start);
    f.advance(30_000);
    f.ok("f", Command::Pause);
    assert!(f.heard().is_empty(), "a pause silences the presenter");
    f.advance(100_000);
    f.ok("f", Command::Resume);
    assert_eq!(f.heard_at(29_999), ["f"], "30 s of the phase were left");
    assert!(f.heard_at(30_000).is_empty());
}

#[test]
fn curiosity_asker_then_the_answerer_then_nobody() {
    let spec = CuriositySpec {
        budget_ms: 900_000,
        question_ms: 30_000,
        answer_ms: 60_000,
    };
    let mut f = Followed::new(vec![phase("c", PhaseKind::Curiosity(spec))], &[]);
    f.ok("f", Command::Start);
    f.ok("a1", raise());
    assert_eq!(f.heard(), ["a1"], "the asker puts the question");
    f.advance(10_000);
    f.ok("a1", yield_to(Some("b1")));
    assert_eq!(
        f.heard(),
        ["b1"],
        "the member asked answers; the asker is cut"
    );
    assert_eq!(f.heard_at(59_999), ["b1"]);
    assert!(f.heard_at(60_000).is_empty(), "the answer's deadline");
    f.advance(60_000);
    assert!(f.heard().is_empty());
}

#[test]
fn qa_answerer_is_heard_and_the_asker_is_not() {
    let spec = QaSpec {
        duration_ms: None,
        answer_ms: 120_000,
        max_question_chars: 280,
        moderated: false,
    };
    let mut f = Followed::new(
        vec![phase("qa", PhaseKind::Qa(spec))],
        &[("m", Role::Moderator)],
    );
    f.ok("f", Command::Start);
    f.ok(
        "a1",
        Command::Ask {
            text: "How will the bond be repaid?".into(),
        },
    );
    assert!(f.heard().is_empty(), "a question is typed, not spoken");
    f.ok("m", Command::Approve { question: 1 });
    assert_eq!(f.heard(), ["f"], "the facilitator answers");
    assert!(f.heard_at(120_000).is_empty(), "cut at the answer time");
    f.advance(120_000);
    assert!(f.heard().is_empty());
}

#[test]
fn reflect_back_goes_to_the_summariser_and_clarification_back_to_the_speaker() {
    let mut spec = round(60);
    spec.reflect_back = Some(reflect_back());
    let mut f = Followed::new(vec![phase("r", PhaseKind::Round(spec))], &[]);
    f.ok("f", Command::Start);
    assert_eq!(f.heard(), ["a1"]);
    f.ok("a1", yield_to(None));
    assert_eq!(f.heard(), ["a2"], "a2 reflects a1 back");
    assert!(
        f.heard_at(30_000).is_empty(),
        "the reflect-back's own deadline"
    );
    f.ok("a2", yield_to(None));
    assert!(f.heard().is_empty(), "nobody while a1 is asked to confirm");
    f.ok("a1", Command::RequestClarification);
    assert_eq!(f.heard(), ["a1"], "a1 clarifies");
    f.ok("a1", yield_to(None));
    assert_eq!(f.heard(), ["a2"], "the second attempt");
    f.ok("a2", yield_to(None));
    f.ok("a1", Command::ConfirmReflection);
    assert_eq!(f.heard(), ["a2"], "a2's own turn after the confirmation");
}

#[test]
fn fishbowl_side_swap_cuts_the_inner_speaker_at_the_swap() {
    let spec = FishbowlSpec {
        sides: FishbowlSides::Community,
        stances: Vec::new(),
        swap_after_ms: 600_000,
        turn_ms: 120_000,
        rounds: 1,
    };
    let mut f = Followed::new(vec![phase("fb", PhaseKind::Fishbowl(spec))], &[]);
    f.ok("f", Command::Start);
    f.advance(590_000);
    f.ok("a1", raise());
    assert_eq!(f.heard(), ["a1"]);
    // a1's turn would run to 710 s, but the sides swap at 600 s.
    assert_eq!(f.heard_at(9_999), ["a1"]);
    assert!(f.heard_at(10_000).is_empty(), "cut at the swap");
    f.advance(10_000);
    assert!(f.heard().is_empty());
    f.ok("b1", raise());
    assert_eq!(f.heard(), ["b1"], "the other side's speaker");
    assert_eq!(f.heard_at(119_999), ["b1"]);
}

#[test]
fn staff_interjection_outlasts_every_deadline() {
    let mut f = Followed::new(
        vec![phase("intro", presentation(60))],
        &[("m", Role::Moderator)],
    );
    f.ok("f", Command::Start);
    f.ok("m", Command::Interject { on: true });
    assert_eq!(
        f.gate.may_forward(&id("m"), f.h.now + 1_000_000),
        Ok(Voice::Staff)
    );
}
