//! The equity report: how fair the session was, per person and per community, with the Gini
//! and its split, phase timings, poll results and their before/after shift, nudges, help
//! requests and moderation counts, attendance (who was there, when, for how long, by
//! community) and the phases' planned against actual time. JSON for tools, an accessible HTML
//! page with charts for people (`render.rs`), and the same summary in Markdown for the
//! transcript.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::engine::equity::Equity;
use crate::engine::event::EventKind;
use crate::engine::member::{MemberId, Role};
use crate::engine::Engine;
use crate::protocol::PhaseKind;
use crate::record::{transcript, Logged};
use crate::time::Millis;

mod render;
pub use render::{summary_markdown, to_html};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhaseTiming {
    pub index: usize,
    pub id: String,
    pub kind: String,
    pub title: String,
    pub started: Millis,
    pub ended: Option<Millis>,
    pub ms: u64,
    /// What the protocol planned for this phase with the participants present when it began
    /// (`PhaseSpec::planned_ms`); absent for a phase without a set length (an open queue).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub planned_ms: Option<u64>,
}

/// One member's presence in the room, from the log's `member_joined` / `member_left` (and
/// `member_removed`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attendance {
    pub member: MemberId,
    pub name: String,
    pub role: Role,
    pub community: Option<String>,
    /// When they first joined (Unix ms).
    pub joined_at: Millis,
    /// When they last left; absent while they are still in the room (or were at the end).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub left_at: Option<Millis>,
    /// Time in the room over all their visits, up to the end of the session (or the last
    /// logged event while it runs).
    pub present_ms: u64,
    /// How many times they joined (a reconnect after leaving is a second visit).
    pub visits: u32,
    /// Removed by a moderator.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub removed: bool,
}

/// How many people of each community took part (participants only; staff and observers are
/// in `attendance` with their role).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommunityAttendance {
    pub community: String,
    pub participants: u32,
    /// Their time in the room added up.
    pub present_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PollOutcome {
    pub phase: String,
    pub question: String,
    pub totals: Vec<(String, u32)>,
    pub by_community: Vec<(String, Vec<(String, u32)>)>,
}

/// A choice's share of the votes before and after (0..=1).
pub type ChoiceShift = (String, f64, f64);

/// Share of votes per choice before and after, overall and per community.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PollShift {
    pub before: String,
    pub after: String,
    pub choices: Vec<ChoiceShift>,
    pub by_community: Vec<(String, Vec<ChoiceShift>)>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub protocol: String,
    /// The protocol's title.
    pub title: String,
    /// The event's title, filled by whoever knows the event (`build` sees one room).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_title: Option<String>,
    pub started_at: Option<Millis>,
    pub ended_at: Option<Millis>,
    /// The day the session started, `YYYY-MM-DD` (UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// From `session_started` to `session_ended` (or to the last logged event while it runs).
    pub duration_ms: u64,
    /// Everyone who joined, in order of first arrival.
    pub attendance: Vec<Attendance>,
    /// Participants per community, in the order the communities first appear.
    pub attendance_by_community: Vec<CommunityAttendance>,
    pub phases: Vec<PhaseTiming>,
    pub equity: Equity,
    pub polls: Vec<PollOutcome>,
    pub poll_shifts: Vec<PollShift>,
    pub nudged: Vec<MemberId>,
    pub help_requests: u32,
    pub questions_asked: u32,
    pub questions_answered: u32,
    /// Moderator actions by kind.
    pub moderation: BTreeMap<String, u32>,
    /// Breakout groups, each a room of its own; filled by whoever holds the group rooms'
    /// records (`build` sees one room and leaves it empty).
    pub groups: Vec<GroupReport>,
}

/// One breakout group's figures: its own floor, so its own equity.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupReport {
    /// The group's room id (`{event}/group-{n}`).
    pub room: String,
    /// Which opening of breakouts it belonged to (1-based; a reassignment opens anew).
    pub opening: u32,
    /// The group's number in the hall's breakout (0-based, as in `breakout_opened`).
    pub group: u32,
    /// The group's number as people saw it ("group 1"): `group` + 1, as the web client shows.
    pub number: u32,
    pub protocol: String,
    pub started_at: Option<Millis>,
    pub ended_at: Option<Millis>,
    /// Participants who were in the group, in join order.
    pub members: Vec<MemberId>,
    /// Their display names, in the same order.
    pub names: Vec<String>,
    pub equity: Equity,
}

impl GroupReport {
    /// "Group 2", or "Group 2 (opening 3)" after breakouts were opened again.
    pub fn label(&self) -> String {
        if self.opening > 1 {
            format!("Group {} (opening {})", self.number, self.opening)
        } else {
            format!("Group {}", self.number)
        }
    }
}

/// The figures of one breakout group room.
pub fn group(room: &str, opening: u32, index: u32, engine: &Engine, log: &[Logged]) -> GroupReport {
    let r = build(engine, log);
    let (members, names) = engine
        .roster()
        .participants()
        .map(|m| (m.id.clone(), m.name.clone()))
        .unzip();
    GroupReport {
        room: room.to_string(),
        opening,
        group: index,
        number: index + 1,
        protocol: r.protocol,
        started_at: r.started_at,
        ended_at: r.ended_at,
        members,
        names,
        equity: r.equity,
    }
}

fn shares(counts: &[(String, u32)]) -> BTreeMap<String, f64> {
    let total: u32 = counts.iter().map(|c| c.1).sum();
    counts
        .iter()
        .map(|(c, n)| {
            (
                c.clone(),
                if total == 0 {
                    0.0
                } else {
                    f64::from(*n) / f64::from(total)
                },
            )
        })
        .collect()
}

fn shift(
    choices: &[String],
    before: &[(String, u32)],
    after: &[(String, u32)],
) -> Vec<(String, f64, f64)> {
    let (b, a) = (shares(before), shares(after));
    choices
        .iter()
        .map(|c| {
            (
                c.clone(),
                b.get(c).copied().unwrap_or(0.0),
                a.get(c).copied().unwrap_or(0.0),
            )
        })
        .collect()
}

/// The report for a room from its engine and log.
pub fn build(engine: &Engine, log: &[Logged]) -> Report {
    let protocol = engine.protocol();
    let mut phases: Vec<PhaseTiming> = Vec::new();
    let mut polls = Vec::new();
    let mut nudged = Vec::new();
    let (mut started_at, mut ended_at) = (None, None);
    let (mut help_requests, mut asked, mut answered) = (0, 0, 0);
    let mut moderation: BTreeMap<String, u32> = BTreeMap::new();
    for l in log {
        let at = l.event.at;
        match &l.event.kind {
            EventKind::SessionStarted => started_at = Some(at),
            EventKind::SessionEnded => ended_at = Some(at),
            EventKind::PhaseStarted {
                index,
                id,
                kind,
                title,
                ..
            } => phases.push(PhaseTiming {
                index: *index,
                id: id.clone(),
                kind: kind.clone(),
                title: title.clone(),
                started: at,
                ended: None,
                ms: 0,
                planned_ms: protocol
                    .phases
                    .get(*index)
                    .map(|p| p.planned_ms(present_participants(log, l.seq)))
                    .filter(|ms| *ms > 0),
            }),
            EventKind::PhaseEnded { .. } => {
                if let Some(p) = phases.last_mut() {
                    p.ended = Some(at);
                    p.ms = at.since(p.started);
                }
            }
            EventKind::PollResults {
                phase,
                totals,
                by_community,
                closed: true,
                ..
            } => {
                let question = protocol
                    .phases
                    .iter()
                    .find_map(|p| match &p.kind {
                        PhaseKind::Poll(s) if &p.id == phase => Some(s.question.clone()),
                        _ => None,
                    })
                    .unwrap_or_default();
                polls.push(PollOutcome {
                    phase: phase.clone(),
                    question,
                    totals: totals.clone(),
                    by_community: by_community.clone(),
                });
            }
            EventKind::Nudged { member } => nudged.push(member.clone()),
            EventKind::HelpRequested { .. } => help_requests += 1,
            EventKind::QuestionAsked { .. } => asked += 1,
            EventKind::QuestionOnFloor { .. } => answered += 1,
            kind => {
                if let Some((action, _, _)) = transcript::moderator_action(kind) {
                    *moderation.entry(action.into()).or_default() += 1;
                }
            }
        }
    }
    let poll_shifts = protocol
        .phases
        .iter()
        .filter_map(|p| match &p.kind {
            PhaseKind::Poll(s) => s
                .pairs_with
                .as_ref()
                .map(|b| (b.clone(), p.id.clone(), s.choices.clone())),
            _ => None,
        })
        .filter_map(|(before, after, choices)| {
            let b = polls.iter().find(|o| o.phase == before)?;
            let a = polls.iter().find(|o| o.phase == after)?;
            let mut comms: Vec<String> = b
                .by_community
                .iter()
                .chain(a.by_community.iter())
                .map(|c| c.0.clone())
                .collect();
            comms.sort();
            comms.dedup();
            let per = |o: &PollOutcome, c: &str| {
                o.by_community
                    .iter()
                    .find(|x| x.0 == c)
                    .map(|x| x.1.clone())
                    .unwrap_or_default()
            };
            Some(PollShift {
                choices: shift(&choices, &b.totals, &a.totals),
                by_community: comms
                    .iter()
                    .map(|c| (c.clone(), shift(&choices, &per(b, c), &per(a, c))))
                    .collect(),
                before,
                after,
            })
        })
        .collect();
    let last_at = log.last().map_or(Millis::ZERO, |l| l.event.at);
    let until = ended_at.unwrap_or(last_at);
    let attendance = attendance(log, until);
    let attendance_by_community = by_community(&attendance);
    Report {
        protocol: protocol.name.clone(),
        title: protocol.title.clone(),
        event_title: None,
        started_at,
        ended_at,
        date: started_at.map(|t| civil(t).date()),
        duration_ms: started_at.map_or(0, |s| until.since(s)),
        attendance,
        attendance_by_community,
        phases,
        equity: engine.equity(),
        polls,
        poll_shifts,
        nudged,
        help_requests,
        questions_asked: asked,
        questions_answered: answered,
        moderation,
        groups: Vec::new(),
    }
}

/// Participants present just before the event numbered `seq`.
fn present_participants(log: &[Logged], seq: u64) -> u64 {
    let mut present = std::collections::BTreeSet::new();
    for l in log.iter().take_while(|l| l.seq < seq) {
        match &l.event.kind {
            EventKind::MemberJoined { member, role, .. } if *role == Role::Participant => {
                present.insert(member.clone());
            }
            EventKind::MemberLeft { member } | EventKind::MemberRemoved { member, .. } => {
                present.remove(member);
            }
            _ => {}
        }
    }
    present.len() as u64
}

/// Who was in the room, from the log's joins and leaves; a visit still open is counted up to
/// `until`.
pub fn attendance(log: &[Logged], until: Millis) -> Vec<Attendance> {
    let mut out: Vec<Attendance> = Vec::new();
    let mut index: BTreeMap<MemberId, usize> = BTreeMap::new();
    // Start of the open visit, by position in `out`.
    let mut open: BTreeMap<usize, Millis> = BTreeMap::new();
    for l in log {
        let at = l.event.at;
        match &l.event.kind {
            EventKind::MemberJoined {
                member,
                name,
                role,
                community,
            } => {
                let i = *index.entry(member.clone()).or_insert_with(|| {
                    out.push(Attendance {
                        member: member.clone(),
                        name: name.clone(),
                        role: *role,
                        community: community.clone(),
                        joined_at: at,
                        left_at: None,
                        present_ms: 0,
                        visits: 0,
                        removed: false,
                    });
                    out.len() - 1
                });
                if let std::collections::btree_map::Entry::Vacant(v) = open.entry(i) {
                    v.insert(at);
                    let a = &mut out[i];
                    a.visits += 1;
                    a.left_at = None;
                    a.name = name.clone();
                }
            }
            EventKind::MemberLeft { member } | EventKind::MemberRemoved { member, .. } => {
                let Some(&i) = index.get(member) else {
                    continue;
                };
                if let Some(since) = open.remove(&i) {
                    out[i].present_ms += at.since(since);
                    out[i].left_at = Some(at);
                }
                if matches!(l.event.kind, EventKind::MemberRemoved { .. }) {
                    out[i].removed = true;
                }
            }
            _ => {}
        }
    }
    for (i, since) in open {
        out[i].present_ms += until.since(since);
    }
    out
}

fn by_community(attendance: &[Attendance]) -> Vec<CommunityAttendance> {
    let mut out: Vec<CommunityAttendance> = Vec::new();
    for a in attendance.iter().filter(|a| a.role == Role::Participant) {
        let name = a
            .community
            .clone()
            .unwrap_or_else(|| crate::engine::equity::NO_COMMUNITY.to_string());
        match out.iter_mut().find(|c| c.community == name) {
            Some(c) => {
                c.participants += 1;
                c.present_ms += a.present_ms;
            }
            None => out.push(CommunityAttendance {
                community: name,
                participants: 1,
                present_ms: a.present_ms,
            }),
        }
    }
    out
}

/// A UTC calendar date and time of day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
}

impl Civil {
    /// `YYYY-MM-DD`.
    pub fn date(&self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }

    /// `HH:MM`.
    pub fn time(&self) -> String {
        format!("{:02}:{:02}", self.hour, self.minute)
    }
}

/// Unix milliseconds as a UTC date and time (days-from-civil inverted, proleptic Gregorian).
pub fn civil(t: Millis) -> Civil {
    let secs = t.as_u64() / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    Civil {
        year,
        month,
        day,
        hour: (rem / 3600) as u32,
        minute: ((rem / 60) % 60) as u32,
    }
}

#[cfg(test)]
mod tests;
