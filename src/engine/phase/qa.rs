//! The `qa` phase: the audience submits questions and up-votes them; moderators approve them;
//! approved questions take the floor one at a time for the answer time, answered by the first
//! facilitator present, with the asker credited.
//!
//! Answer order: approved questions by up-votes (most first), ties by when they were asked;
//! a question a moderator placed (`order_question`) keeps its place whatever the votes, so the
//! moderator's explicit order wins. Every change of that order is announced
//! (`question_order`) and the snapshot carries it (`answer_order`).
//!
//! Moderated phases (`moderated = true`): a question is seen by its asker and staff only
//! (`question_asked` and snapshots) until it is approved; `question_approved`, which carries
//! the question, tells everyone else. Until then nobody can up-vote it.

use serde::{Deserialize, Serialize};

use crate::engine::command::Command;
use crate::engine::core::{Core, Released};
use crate::engine::event::{Audience, EventKind, TurnKind};
use crate::engine::member::MemberId;
use crate::engine::phase::{Flow, Rules};
use crate::engine::reject::{reject, RejectCode, Rejection};
use crate::engine::timer::Timer;
use crate::protocol::{OnTimeout, QaSpec};
use crate::time::Millis;

/// Most questions one member may ask in one Q&A phase. A town hall's most eager asker asks a
/// handful; 20 leaves room for that and stops one member filling the list (issue #20).
pub const MAX_QUESTIONS_PER_MEMBER: usize = 20;
/// Most questions one Q&A phase holds: with 2,000 people, two each on average. Every question
/// is state the room keeps, the record stores and staff scroll through.
pub const MAX_QUESTIONS_PER_PHASE: usize = 4_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Question {
    pub id: u64,
    pub asker: MemberId,
    pub text: String,
    pub voters: Vec<MemberId>,
    pub approved: bool,
    pub answered: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Qa {
    pub spec: QaSpec,
    pub questions: Vec<Question>,
    /// Approved, unanswered questions in the order they will be answered.
    pub approved: Vec<u64>,
    /// The question on the floor and its answer window.
    pub current: Option<(u64, Timer)>,
    /// Questions a moderator placed with `order_question`: they keep their place in
    /// `approved`, the others are sorted by votes around them.
    #[serde(default)]
    pub pinned: Vec<u64>,
}

impl Qa {
    pub fn start(spec: &QaSpec) -> Qa {
        Qa {
            spec: spec.clone(),
            questions: Vec::new(),
            approved: Vec::new(),
            current: None,
            pinned: Vec::new(),
        }
    }

    /// Re-sorts the approved questions the moderator has not placed, by votes (most first)
    /// and then by when they were asked (ids grow with time), in the slots the placed ones
    /// leave free. Announces the order when it changed.
    fn resort(&mut self, core: &mut Core, at: Millis, before: &[u64]) {
        let votes = |id: &u64| {
            self.questions
                .iter()
                .find(|q| q.id == *id)
                .map_or(0, |q| q.voters.len())
        };
        let mut free: Vec<u64> = self
            .approved
            .iter()
            .copied()
            .filter(|id| !self.pinned.contains(id))
            .collect();
        free.sort_by_key(|id| (std::cmp::Reverse(votes(id)), *id));
        let mut free = free.into_iter();
        let order: Vec<u64> = self
            .approved
            .iter()
            .map(|id| {
                if self.pinned.contains(id) {
                    *id
                } else {
                    free.next().unwrap_or(*id)
                }
            })
            .collect();
        self.approved = order;
        if self.approved != before {
            core.emit(
                at,
                EventKind::QuestionOrder {
                    order: self.approved.clone(),
                    by: None,
                },
            );
        }
    }

    fn find(&mut self, core: &Core, id: u64) -> Result<&mut Question, Rejection> {
        match self.questions.iter_mut().find(|q| q.id == id) {
            Some(q) if !core.hidden.contains(&id) => Ok(q),
            _ => reject(
                RejectCode::UnknownItem,
                format!("there is no question {id}"),
            ),
        }
    }

    fn ask(
        &mut self,
        core: &mut Core,
        at: Millis,
        from: &MemberId,
        text: &str,
    ) -> Result<Flow, Rejection> {
        let text = crate::engine::moderation::clean_text(text);
        let text = text.trim();
        if text.is_empty() {
            return reject(RejectCode::Invalid, "a question needs some text");
        }
        if text.chars().count() > self.spec.max_question_chars as usize {
            return reject(
                RejectCode::TooLong,
                format!(
                    "questions are limited to {} characters",
                    self.spec.max_question_chars
                ),
            );
        }
        if self.questions.len() >= MAX_QUESTIONS_PER_PHASE {
            return reject(
                RejectCode::TooManyQuestions,
                format!("this phase already holds {MAX_QUESTIONS_PER_PHASE} questions"),
            );
        }
        if self.questions.iter().filter(|q| &q.asker == from).count() >= MAX_QUESTIONS_PER_MEMBER {
            return reject(
                RejectCode::TooManyQuestions,
                format!(
                    "each member may ask at most {MAX_QUESTIONS_PER_MEMBER} questions per phase"
                ),
            );
        }
        let id = core.new_item();
        self.questions.push(Question {
            id,
            asker: from.clone(),
            text: text.to_string(),
            voters: Vec::new(),
            approved: false,
            answered: false,
        });
        // A moderated question is seen by its asker and staff until it is approved.
        let audience = if self.spec.moderated {
            Audience::MemberAndStaff(from.clone())
        } else {
            Audience::Everyone
        };
        core.emit_to(
            at,
            audience,
            EventKind::QuestionAsked {
                question: id,
                member: from.clone(),
                text: text.to_string(),
            },
        );
        Ok(Flow::Continue)
    }

    /// Drops a removed member's open questions (not the one being answered), so a member who
    /// was removed for flooding leaves nothing behind in every later snapshot.
    pub fn drop_member(&mut self, member: &MemberId) {
        let current = self.current.as_ref().map(|(id, _)| *id);
        let gone: Vec<u64> = self
            .questions
            .iter()
            .filter(|q| &q.asker == member && !q.answered && Some(q.id) != current)
            .map(|q| q.id)
            .collect();
        self.questions.retain(|q| !gone.contains(&q.id));
        self.approved.retain(|id| !gone.contains(id));
    }

    fn upvote(
        &mut self,
        core: &mut Core,
        at: Millis,
        from: &MemberId,
        id: u64,
    ) -> Result<Flow, Rejection> {
        let moderated = self.spec.moderated;
        let q = self.find(core, id)?;
        if moderated && !q.approved {
            // Nobody but its asker and staff has seen it: to everyone else it does not exist.
            return reject(
                RejectCode::UnknownItem,
                format!("there is no approved question {id} yet"),
            );
        }
        if &q.asker == from {
            return reject(
                RejectCode::NotAllowed,
                "you cannot up-vote your own question",
            );
        }
        if q.voters.contains(from) {
            return reject(RejectCode::Duplicate, "you already up-voted this question");
        }
        q.voters.push(from.clone());
        let votes = q.voters.len() as u32;
        core.emit(
            at,
            EventKind::QuestionUpvoted {
                question: id,
                votes,
            },
        );
        let before = self.approved.clone();
        self.resort(core, at, &before);
        Ok(Flow::Continue)
    }

    fn approve(
        &mut self,
        core: &mut Core,
        at: Millis,
        from: &MemberId,
        id: u64,
    ) -> Result<Flow, Rejection> {
        let q = self.find(core, id)?;
        if q.approved {
            return reject(RejectCode::Duplicate, "this question is already approved");
        }
        q.approved = true;
        let (member, text, votes) = (q.asker.clone(), q.text.clone(), q.voters.len() as u32);
        // Clients append an approved question; `question_order` follows when votes put it
        // elsewhere.
        let mut before = self.approved.clone();
        before.push(id);
        self.approved.push(id);
        core.emit(
            at,
            EventKind::QuestionApproved {
                question: id,
                by: from.clone(),
                member,
                text,
                votes,
            },
        );
        self.resort(core, at, &before);
        Ok(Flow::Continue)
    }

    fn merge(
        &mut self,
        core: &mut Core,
        at: Millis,
        by: &MemberId,
        id: u64,
        into: u64,
    ) -> Result<Flow, Rejection> {
        if id == into {
            return reject(
                RejectCode::Invalid,
                "a question cannot be merged into itself",
            );
        }
        let voters = self.find(core, id)?.voters.clone();
        let asker = self.find(core, id)?.asker.clone();
        let target = self.find(core, into)?;
        if target.answered {
            return reject(RejectCode::NotAllowed, "that question was already answered");
        }
        // The duplicate's asker and voters all count as votes for the question that stays.
        for v in std::iter::once(asker).chain(voters) {
            if v != target.asker && !target.voters.contains(&v) {
                target.voters.push(v);
            }
        }
        let votes = target.voters.len() as u32;
        self.approved.retain(|q| *q != id);
        self.pinned.retain(|q| *q != id);
        core.hidden.push(id);
        core.emit(
            at,
            EventKind::QuestionsMerged {
                question: id,
                into,
                votes,
                by: Some(by.clone()),
            },
        );
        core.emit(
            at,
            EventKind::Hidden {
                message: id,
                by: by.clone(),
            },
        );
        let before = self.approved.clone();
        self.resort(core, at, &before);
        Ok(Flow::Continue)
    }

    fn order(
        &mut self,
        core: &mut Core,
        at: Millis,
        id: u64,
        position: u32,
    ) -> Result<Flow, Rejection> {
        let Some(idx) = self.approved.iter().position(|q| *q == id) else {
            return reject(
                RejectCode::NotQueued,
                "only approved, unanswered questions can be ordered",
            );
        };
        let q = self.approved.remove(idx);
        let pos = (position as usize).min(self.approved.len());
        self.approved.insert(pos, q);
        if !self.pinned.contains(&q) {
            self.pinned.push(q);
        }
        core.emit(
            at,
            EventKind::QuestionOrder {
                order: self.approved.clone(),
                by: None,
            },
        );
        Ok(Flow::Continue)
    }

    fn finish_current(&mut self) {
        if let Some((id, _)) = self.current.take() {
            if let Some(q) = self.questions.iter_mut().find(|q| q.id == id) {
                q.answered = true;
            }
        }
    }
}

impl Rules for Qa {
    fn command(
        &mut self,
        core: &mut Core,
        at: Millis,
        from: &MemberId,
        cmd: &Command,
    ) -> Option<Result<Flow, Rejection>> {
        Some(match cmd {
            Command::Ask { text } => self.ask(core, at, from, text),
            Command::Upvote { question } => self.upvote(core, at, from, *question),
            Command::Approve { question } => self.approve(core, at, from, *question),
            Command::MergeQuestions { question, into } => {
                self.merge(core, at, from, *question, *into)
            }
            Command::OrderQuestion { question, position } => {
                self.order(core, at, *question, *position)
            }
            _ => return None,
        })
    }

    fn released(&mut self, _core: &mut Core, _at: Millis, r: Released) -> Flow {
        if r.turn == TurnKind::Answer {
            self.finish_current();
        }
        Flow::Continue
    }

    fn settle(&mut self, core: &mut Core, at: Millis) -> Flow {
        if self.current.is_some() || core.floor.is_some() {
            return Flow::Continue;
        }
        self.approved.retain(|id| !core.hidden.contains(id));
        if self.approved.is_empty() {
            return Flow::Continue;
        }
        let id = self.approved.remove(0);
        self.pinned.retain(|q| *q != id);
        let Some(q) = self.questions.iter().find(|q| q.id == id).cloned() else {
            return Flow::Continue;
        };
        // The answer's time runs from when people can hear it (after an outage).
        let at = core.start_at(at);
        core.emit(
            at,
            EventKind::QuestionOnFloor {
                question: id,
                asker: q.asker.clone(),
                text: q.text,
            },
        );
        self.current = Some((id, Timer::new(at, self.spec.answer_ms, 0)));
        if let Some(answerer) = core.roster.first_facilitator().map(|m| m.id.clone()) {
            if core.can_speak(&answerer) {
                core.grant(
                    at,
                    answerer,
                    TurnKind::Answer,
                    Some(self.spec.answer_ms),
                    Some(q.asker),
                    OnTimeout::Advance,
                );
            }
        }
        Flow::Continue
    }

    fn next_deadline(&self) -> Option<Millis> {
        self.current.map(|(_, t)| t.deadline)
    }

    fn fire(&mut self, _core: &mut Core, at: Millis) -> Flow {
        if self.current.is_some_and(|(_, t)| t.deadline <= at) {
            self.finish_current();
        }
        Flow::Continue
    }

    fn shift(&mut self, ms: u64) {
        if let Some((_, t)) = self.current.as_mut() {
            t.shift(ms);
        }
    }
}
