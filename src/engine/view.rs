//! What a member sees of a room: the snapshot sent on join and resume.
//!
//! Built from engine state for one viewer, so private things (someone else's invitation,
//! private notes, live poll counts before they are revealed, equity figures) stay with the
//! people allowed to see them.

use std::sync::Arc;

use serde::Serialize;

use crate::engine::core::{MessageKind, Session};
use crate::engine::equity::Equity;
use crate::engine::event::{EventKind, TurnKind};
use crate::engine::member::{MemberId, Role};
use crate::engine::moderation::{Report, VIEW_REPORTS};
use crate::engine::phase::reflect_back::LoopState;
use crate::engine::phase::round::RoundStage;
use crate::engine::phase::PhaseState;
use crate::engine::Engine;
use crate::protocol::Reveal;
use crate::time::Millis;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoomView {
    pub protocol: String,
    pub title: String,
    pub session: Session,
    pub agenda: Vec<AgendaItem>,
    pub phase: Option<PhaseView>,
    pub floor: Option<FloorView>,
    /// The first [`VIEW_QUEUE`] hands in the order they will be served; `queue_changed`
    /// events carry the whole order.
    pub queue: Vec<QueueEntry>,
    /// How many hands are raised in all.
    pub queue_total: usize,
    /// The viewer's place in the queue (0 = next), when their hand is raised.
    pub queue_position: Option<usize>,
    /// Everyone in a room of up to [`VIEW_ALL_MEMBERS_UP_TO`] members; in a larger room,
    /// staff, the viewer and the members the rest of the view mentions (floor, queue,
    /// reflect-back, invitation, questions). `counts` covers everyone.
    pub members: Vec<MemberView>,
    pub counts: Counts,
    /// The pending invitation to speak, shown to the invited member and to staff.
    pub invitation: Option<MemberId>,
    /// Think time or the pause between speakers, until this moment.
    pub interlude_until: Option<Millis>,
    pub reflection: Option<PendingReflection>,
    /// Fishbowl: the side in the inner circle and when it swaps.
    pub side: Option<(String, Millis)>,
    /// At most [`VIEW_QUESTIONS`] visible questions within [`VIEW_QUESTION_BYTES`] of text, in
    /// the phase's order: the one being answered, the approved queue, the viewer's own, then
    /// the most up-voted and the newest. `questions_total` counts every visible one.
    pub questions: Vec<QuestionView>,
    pub questions_total: usize,
    pub current_question: Option<u64>,
    /// Approved, unanswered questions in the order they will be answered.
    pub answer_order: Vec<u64>,
    pub poll: Option<PollView>,
    pub hidden: Vec<u64>,
    /// The room's last messages this viewer may see, oldest first (at most
    /// [`crate::engine::core::RECENT_MESSAGES`]): what they would have received live, without
    /// hidden ones unless they are staff.
    pub messages: Vec<MessageView>,
    /// While a breakout phase runs: its groups, as `breakout_opened` and `breakout_moved`
    /// left them.
    pub breakout: Option<BreakoutView>,
    /// Staff only.
    pub equity: Option<Equity>,
    /// Staff only: open reports, oldest first, at most [`VIEW_REPORTS`] of them.
    pub reports: Option<Vec<Report>>,
    /// Staff: every member with an open help request, oldest first; others: themselves when
    /// theirs is open.
    pub help: Vec<MemberId>,
    /// Staff only: members whose last connection dropped and who keep their place until the
    /// reconnect grace ends (`member_reconnecting`), in the order they dropped.
    pub reconnecting: Vec<Reconnecting>,
}

/// A member in their reconnect grace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reconnecting {
    pub member: MemberId,
    pub until: Millis,
}

/// Most queue entries a snapshot lists: a hall with thousands of raised hands must not make
/// every snapshot (and so every join and resume) as large as the queue.
pub const VIEW_QUEUE: usize = 200;

/// Above this many members, the snapshot lists only the members it mentions.
pub const VIEW_ALL_MEMBERS_UP_TO: usize = 300;

/// Who is present, in numbers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Counts {
    pub present: u32,
    pub participants: u32,
    pub observers: u32,
    /// Present participants per community.
    pub by_community: Vec<(String, u32)>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgendaItem {
    pub id: String,
    pub kind: String,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhaseView {
    pub index: usize,
    pub id: String,
    pub kind: String,
    pub title: String,
    pub prompt: Option<String>,
    pub deadline: Option<Millis>,
    pub overtime: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FloorView {
    pub member: MemberId,
    pub turn: TurnKind,
    pub deadline: Option<Millis>,
    pub held_ms: u64,
    pub overtime: bool,
    pub responding_to: Option<MemberId>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueEntry {
    pub member: MemberId,
    pub stance: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemberView {
    pub id: MemberId,
    pub name: String,
    pub role: Role,
    pub community: Option<String>,
    pub present: bool,
    pub muted: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PendingReflection {
    pub speaker: MemberId,
    pub listener: MemberId,
    pub until: Millis,
    pub attempt: u32,
}

/// A `said` or shared `noted` message, as the event carried it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MessageView {
    pub message: u64,
    pub kind: MessageKind,
    /// Absent (`null`) for notes shared without names.
    pub member: Option<MemberId>,
    pub text: Arc<str>,
    /// The time of the event that carried it.
    pub at: Millis,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuestionView {
    pub id: u64,
    pub asker: MemberId,
    pub text: String,
    pub votes: u32,
    pub voted: bool,
    pub approved: bool,
    pub answered: bool,
}

/// A running breakout. Staff see every group; anyone else sees only their own group's members
/// (at its index, the other entries empty), so a snapshot in a hall of thousands stays small.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BreakoutView {
    pub protocol: String,
    pub groups: Vec<Vec<MemberId>>,
    /// The viewer's group index, if they are in one.
    pub my_group: Option<u32>,
    /// Set once the facilitator recalled the groups: when they close.
    pub closing_until: Option<Millis>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PollView {
    pub question: String,
    pub choices: Vec<String>,
    pub my_vote: Option<String>,
    /// Present when results are visible to this viewer.
    pub results: Option<EventKind>,
}

impl Engine {
    /// The room as `viewer` (with `role`) sees it at `now`.
    pub fn view(&self, now: Millis, viewer: &MemberId, role: Role) -> RoomView {
        let core = &self.core;
        let staff = role.is_staff();
        let phase = core.phase_spec().map(|spec| PhaseView {
            index: core.phase_idx.unwrap_or(0),
            id: spec.id.clone(),
            kind: spec.kind.name().to_string(),
            title: spec.title.clone(),
            prompt: spec.prompt.clone(),
            deadline: core.phase_timer.map(|t| t.deadline),
            overtime: core.phase_overtime,
        });
        let floor = core.floor.as_ref().map(|f| FloorView {
            member: f.member.clone(),
            turn: f.turn,
            deadline: f.timer.map(|t| t.deadline),
            held_ms: f.held_ms(now),
            overtime: f.overtime,
            responding_to: f.responding_to.clone(),
        });
        let hands = match &self.phase {
            Some(PhaseState::Queue(q)) => &q.open.hands[..],
            Some(PhaseState::Fishbowl(f)) => &f.queue.open.hands[..],
            Some(PhaseState::Curiosity(c)) => &c.open.hands[..],
            _ => &[],
        };
        let queue_total = hands.len();
        let queue_position = hands.iter().position(|h| &h.member == viewer);
        let queue: Vec<QueueEntry> = hands
            .iter()
            .take(VIEW_QUEUE)
            .map(|h| QueueEntry {
                member: h.member.clone(),
                stance: h.stance.clone(),
            })
            .collect();
        let counts = counts(&core.roster);
        let invitation = core.invitation.clone().filter(|m| staff || m == viewer);
        let looping = match &self.phase {
            Some(PhaseState::Round(r)) => r.looping.as_ref(),
            Some(PhaseState::Queue(q)) => q.looping.as_ref(),
            _ => None,
        };
        let reflection = looping.and_then(|l| match &l.state {
            LoopState::Pending {
                speaker,
                listener,
                attempt,
                until,
            } => Some(PendingReflection {
                speaker: speaker.clone(),
                listener: listener.clone(),
                until: *until,
                attempt: *attempt,
            }),
            _ => None,
        });
        let interlude_until = match &self.phase {
            Some(PhaseState::Round(r)) => match r.stage {
                RoundStage::Thinking { until } | RoundStage::Gap { until } => Some(until),
                _ => None,
            },
            _ => None,
        };
        let side = match &self.phase {
            Some(PhaseState::Fishbowl(f)) => Some((f.side().to_string(), f.until)),
            _ => None,
        };
        let answer_order = match &self.phase {
            Some(PhaseState::Qa(qa)) => qa
                .approved
                .iter()
                .copied()
                .filter(|id| !core.hidden.contains(id))
                .collect(),
            _ => Vec::new(),
        };
        let (questions, questions_total, current_question) = match &self.phase {
            Some(PhaseState::Qa(qa)) => {
                let (questions, total) = snapshot_questions(qa, &core.hidden, viewer, staff);
                (questions, total, qa.current.map(|(id, _)| id))
            }
            _ => (Vec::new(), 0, None),
        };
        let poll = match &self.phase {
            Some(PhaseState::Poll(p)) => Some(PollView {
                question: p.spec.question.clone(),
                choices: p.spec.choices.clone(),
                my_vote: p.votes.get(viewer).cloned(),
                results: (staff || p.spec.reveal == Reveal::Live || p.showing())
                    .then(|| p.results(core, p.showing())),
            }),
            _ => None,
        };
        let breakout = match &self.phase {
            Some(PhaseState::Breakout(b)) => {
                let mine = b.groups.iter().position(|g| g.contains(viewer));
                Some(BreakoutView {
                    protocol: b.spec.protocol.clone(),
                    groups: b
                        .groups
                        .iter()
                        .enumerate()
                        .map(|(i, g)| {
                            if staff || mine == Some(i) {
                                g.clone()
                            } else {
                                Vec::new()
                            }
                        })
                        .collect(),
                    my_group: mine.map(|i| i as u32),
                    closing_until: b.closing_at,
                })
            }
            _ => None,
        };
        let members = visible_members(
            self,
            viewer,
            &floor,
            &queue,
            &invitation,
            &reflection,
            &questions,
        );
        RoomView {
            protocol: core.protocol.name.clone(),
            title: core.protocol.title.clone(),
            session: core.session,
            agenda: core
                .protocol
                .phases
                .iter()
                .map(|p| AgendaItem {
                    id: p.id.clone(),
                    kind: p.kind.name().to_string(),
                    title: p.title.clone(),
                })
                .collect(),
            phase,
            floor,
            queue,
            queue_total,
            queue_position,
            members,
            counts,
            invitation,
            interlude_until,
            reflection,
            side,
            questions,
            questions_total,
            current_question,
            answer_order,
            poll,
            hidden: core.hidden.clone(),
            messages: self.recent_messages(viewer, role),
            breakout,
            equity: staff.then(|| self.equity_for_snapshot()),
            reports: staff.then(|| core.reports.iter().take(VIEW_REPORTS).cloned().collect()),
            help: core
                .help
                .iter()
                .filter(|m| staff || *m == viewer)
                .take(VIEW_REPORTS)
                .cloned()
                .collect(),
            reconnecting: core
                .reconnecting
                .iter()
                .filter(|_| staff)
                .take(VIEW_REPORTS)
                .map(|(member, until)| Reconnecting {
                    member: member.clone(),
                    until: *until,
                })
                .collect(),
        }
    }
}

impl Engine {
    /// The recent messages `viewer` may see: the audience they would have had live, and
    /// hidden ones only for staff (whose `hidden` list marks them).
    fn recent_messages(&self, viewer: &MemberId, role: Role) -> Vec<MessageView> {
        let core = &self.core;
        let hidden: std::collections::HashSet<u64> = if role.is_staff() {
            std::collections::HashSet::new()
        } else {
            core.hidden.iter().copied().collect()
        };
        let mut budget = VIEW_MESSAGE_BYTES;
        let mut out: Vec<MessageView> = core
            .recent
            .iter()
            .rev()
            .filter(|m| m.audience.includes(viewer, role) && !hidden.contains(&m.message))
            .take_while(|m| {
                let fits = budget > 0;
                budget = budget.saturating_sub(m.text.len());
                fits
            })
            .map(|m| MessageView {
                message: m.message,
                kind: m.kind,
                member: m.member.clone(),
                text: Arc::clone(&m.text),
                at: m.at,
            })
            .collect();
        out.reverse();
        out
    }
}

/// Most message text (bytes) a snapshot carries. Every join and resume pays for the history,
/// so in a reconnect storm 100 long messages (up to ~800 KB) per member would dominate; 16 KiB
/// is still a screenful or two. The newest message is always included.
pub const VIEW_MESSAGE_BYTES: usize = 16 * 1024;

/// Most questions a snapshot lists. One participant could otherwise grow every snapshot past
/// what a connection may write and lock every later join out (issue #20).
pub const VIEW_QUESTIONS: usize = 100;
/// Most question text (bytes) a snapshot carries; the question being answered is always in.
pub const VIEW_QUESTION_BYTES: usize = 32 * 1024;

/// The questions a snapshot lists (see [`RoomView::questions`]) and how many are visible.
fn snapshot_questions(
    qa: &crate::engine::phase::Qa,
    hidden: &[u64],
    viewer: &MemberId,
    staff: bool,
) -> (Vec<QuestionView>, usize) {
    use crate::engine::phase::Question;
    // In a moderated phase a question is its asker's and staff's until it is approved.
    let seen = |q: &Question| staff || !qa.spec.moderated || q.approved || &q.asker == viewer;
    let visible: Vec<(usize, &Question)> = qa
        .questions
        .iter()
        .enumerate()
        .filter(|(_, q)| !hidden.contains(&q.id) && seen(q))
        .collect();
    let total = visible.len();
    let current = qa.current.as_ref().map(|(id, _)| *id);
    // Rank: being answered, then approved (in answer order), then the viewer's own, then the
    // most votes, newest first among equals.
    let rank = |q: &Question| {
        let approved = qa.approved.iter().position(|a| *a == q.id);
        (
            Some(q.id) != current,
            approved.is_none(),
            approved.unwrap_or(0),
            &q.asker != viewer,
            std::cmp::Reverse(q.voters.len()),
            std::cmp::Reverse(q.id),
        )
    };
    let mut order: Vec<&(usize, &Question)> = visible.iter().collect();
    order.sort_by_key(|(_, q)| rank(q));
    let mut budget = VIEW_QUESTION_BYTES;
    let mut keep: Vec<usize> = Vec::new();
    for (i, q) in order {
        if keep.len() >= VIEW_QUESTIONS || (budget < q.text.len() && !keep.is_empty()) {
            break;
        }
        budget = budget.saturating_sub(q.text.len());
        keep.push(*i);
    }
    keep.sort_unstable();
    let questions = keep
        .into_iter()
        .map(|i| {
            let q = &qa.questions[i];
            QuestionView {
                id: q.id,
                asker: q.asker.clone(),
                text: q.text.clone(),
                votes: q.voters.len() as u32,
                voted: q.voters.contains(viewer),
                approved: q.approved,
                answered: q.answered,
            }
        })
        .collect();
    (questions, total)
}

/// Most people listed in a snapshot's equity figures; the report has everyone.
pub const VIEW_EQUITY_PEOPLE: usize = 200;

impl Engine {
    /// Equity for a staff snapshot: in a large hall, the people who spoke most and the first
    /// of those who have not spoken, so the snapshot stays small; totals, communities and the
    /// Gini are always over everyone.
    fn equity_for_snapshot(&self) -> Equity {
        let mut e = self.equity();
        if e.people.len() > VIEW_EQUITY_PEOPLE {
            e.people.sort_by_key(|p| std::cmp::Reverse(p.speaking_ms));
            e.people.truncate(VIEW_EQUITY_PEOPLE);
        }
        e.not_spoken.truncate(VIEW_EQUITY_PEOPLE);
        e
    }
}

fn counts(roster: &crate::engine::member::Roster) -> Counts {
    // Borrowed keys: this runs on every join, over every member, so an owned key per member
    // made a 10,000-client join storm spend most of its time copying community names.
    let mut by_community: std::collections::BTreeMap<&str, u32> = std::collections::BTreeMap::new();
    let (mut participants, mut observers) = (0, 0);
    for m in roster.all().filter(|m| m.present) {
        match m.role {
            Role::Participant => {
                participants += 1;
                let c = m
                    .community
                    .as_deref()
                    .unwrap_or(crate::engine::equity::NO_COMMUNITY);
                *by_community.entry(c).or_default() += 1;
            }
            Role::Observer => observers += 1,
            _ => {}
        }
    }
    Counts {
        present: roster.present_count() as u32,
        participants,
        observers,
        by_community: by_community
            .into_iter()
            .map(|(c, n)| (c.to_string(), n))
            .collect(),
    }
}

fn member_view(m: &crate::engine::member::Member) -> MemberView {
    MemberView {
        id: m.id.clone(),
        name: m.name.clone(),
        role: m.role,
        community: m.community.clone(),
        present: m.present,
        muted: m.muted,
    }
}

/// The members a snapshot lists (see [`RoomView::members`]).
fn visible_members(
    engine: &Engine,
    viewer: &MemberId,
    floor: &Option<FloorView>,
    queue: &[QueueEntry],
    invitation: &Option<MemberId>,
    reflection: &Option<PendingReflection>,
    questions: &[QuestionView],
) -> Vec<MemberView> {
    let roster = engine.roster();
    if roster.len() <= VIEW_ALL_MEMBERS_UP_TO {
        return roster.all().map(member_view).collect();
    }
    let mut wanted: std::collections::BTreeSet<&MemberId> = std::collections::BTreeSet::new();
    wanted.insert(viewer);
    if let Some(f) = floor {
        wanted.insert(&f.member);
        wanted.extend(f.responding_to.iter());
    }
    wanted.extend(queue.iter().map(|q| &q.member));
    wanted.extend(invitation.iter());
    if let Some(r) = reflection {
        wanted.insert(&r.speaker);
        wanted.insert(&r.listener);
    }
    wanted.extend(questions.iter().map(|q| &q.asker));
    roster
        .all()
        .filter(|m| m.role.is_staff() || wanted.contains(&m.id))
        .map(member_view)
        .collect()
}

#[cfg(test)]
#[path = "view_tests.rs"]
mod tests;
