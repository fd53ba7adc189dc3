//! The equity report: how fair the session was, per person and per community, with the Gini
//! and its split, phase timings, poll results and their before/after shift, nudges, help
//! requests and moderation counts. JSON for tools, a small HTML page with charts for people.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::engine::equity::Equity;
use crate::engine::event::EventKind;
use crate::engine::member::MemberId;
use crate::engine::Engine;
use crate::html::escape as esc;
use crate::protocol::PhaseKind;
use crate::record::{transcript, Logged};
use crate::time::Millis;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhaseTiming {
    pub index: usize,
    pub id: String,
    pub kind: String,
    pub title: String,
    pub started: Millis,
    pub ended: Option<Millis>,
    pub ms: u64,
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
    pub title: String,
    pub started_at: Option<Millis>,
    pub ended_at: Option<Millis>,
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
    pub protocol: String,
    pub started_at: Option<Millis>,
    pub ended_at: Option<Millis>,
    /// Participants who were in the group, in join order.
    pub members: Vec<MemberId>,
    pub equity: Equity,
}

/// The figures of one breakout group room.
pub fn group(room: &str, opening: u32, index: u32, engine: &Engine, log: &[Logged]) -> GroupReport {
    let r = build(engine, log);
    GroupReport {
        room: room.to_string(),
        opening,
        group: index,
        protocol: r.protocol,
        started_at: r.started_at,
        ended_at: r.ended_at,
        members: engine
            .roster()
            .participants()
            .map(|m| m.id.clone())
            .collect(),
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
    Report {
        protocol: protocol.name.clone(),
        title: protocol.title.clone(),
        started_at,
        ended_at,
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

fn bar_chart(title: &str, rows: &[(String, f64, String)]) -> String {
    let max = rows.iter().map(|r| r.1).fold(0.0_f64, f64::max).max(1e-9);
    let h = 22 * rows.len() + 20;
    let mut svg = format!(
        r#"<figure><figcaption>{t}</figcaption><svg role="img" aria-label="{t}" width="680" height="{h}" viewBox="0 0 680 {h}">"#,
        t = esc(title)
    );
    for (i, (label, v, shown)) in rows.iter().enumerate() {
        let y = 5 + i * 22;
        let w = (v / max * 380.0).max(1.0);
        let _ = write!(
            svg,
            r##"<text x="0" y="{ty}" font-size="13">{l}</text><rect x="220" y="{y}" width="{w:.1}" height="16" fill="#1f5fa8"/><text x="{tx:.1}" y="{ty}" font-size="12">{s}</text>"##,
            ty = y + 13,
            l = esc(label),
            tx = 225.0 + w,
            s = esc(shown)
        );
    }
    svg.push_str("</svg></figure>");
    svg
}

/// A readable page with charts: speaking time by community and by person, poll shifts.
pub fn to_html(r: &Report) -> String {
    let e = &r.equity;
    let mut out = format!(
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>Report: {t}</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#111}}\
         table{{border-collapse:collapse}}td,th{{padding:.2rem .6rem;border-bottom:1px solid #ccc;text-align:right}}\
         td:first-child,th:first-child{{text-align:left}}</style><h1>Report: {t}</h1>",
        t = esc(&r.title)
    );
    let _ = write!(
        out,
        "<p>Gini of speaking time (every participant counted, silent ones as zero): <strong>{:.2}</strong>; \
         within communities {:.2}, between communities {:.2}, overlap {:.2}. \
         {} participant(s) never had a turn. Reflect-back time is counted apart ({:.0} s).</p>",
        e.gini,
        e.gini_within,
        e.gini_between,
        e.gini_overlap,
        e.not_spoken.len(),
        e.total_reflect_ms as f64 / 1000.0
    );
    let comms: Vec<(String, f64, String)> = e
        .communities
        .iter()
        .map(|c| {
            (
                c.community.clone(),
                c.speaking_ms as f64,
                format!(
                    "{:.0} s ({:.0}%)",
                    c.speaking_ms as f64 / 1000.0,
                    c.share * 100.0
                ),
            )
        })
        .collect();
    out.push_str(&bar_chart("Speaking time by community", &comms));
    let people: Vec<(String, f64, String)> = e
        .people
        .iter()
        .map(|p| {
            let label = format!("{} ({})", p.name, p.community.as_deref().unwrap_or("-"));
            (
                label,
                p.speaking_ms as f64,
                format!(
                    "{:.0} s ({:.0} s voiced), {} turn(s)",
                    p.speaking_ms as f64 / 1000.0,
                    p.voiced_ms as f64 / 1000.0,
                    p.turns
                ),
            )
        })
        .collect();
    out.push_str(&bar_chart("Speaking time by person", &people));
    out.push_str("<h2>Phases</h2><table><tr><th>phase</th><th>kind</th><th>minutes</th></tr>");
    for p in &r.phases {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{:.1}</td></tr>",
            esc(&p.title),
            esc(&p.kind),
            p.ms as f64 / 60_000.0
        );
    }
    out.push_str("</table>");
    for s in &r.poll_shifts {
        let _ = write!(out, "<h2>Poll shift: {} → {}</h2><table><tr><th>choice</th><th>before</th><th>after</th></tr>", esc(&s.before), esc(&s.after));
        for (c, b, a) in &s.choices {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{:.0}%</td><td>{:.0}%</td></tr>",
                esc(c),
                b * 100.0,
                a * 100.0
            );
        }
        out.push_str("</table>");
    }
    let _ = write!(
        out,
        "<h2>Moderation and support</h2><p>{} nudge(s), {} help request(s), {} question(s) asked, {} answered.</p><ul>",
        r.nudged.len(),
        r.help_requests,
        r.questions_asked,
        r.questions_answered
    );
    for (k, n) in &r.moderation {
        let _ = write!(out, "<li>{}: {n}</li>", esc(k));
    }
    out.push_str("</ul>");
    if !r.groups.is_empty() {
        out.push_str(
            "<h2>Breakout groups</h2><table><tr><th>group</th><th>people</th><th>turns</th>\
             <th>speaking s</th><th>Gini</th><th>not spoken</th></tr>",
        );
        for g in &r.groups {
            let turns: u32 = g.equity.people.iter().map(|p| p.turns).sum();
            let _ = write!(
                out,
                "<tr><td>{} (opening {}, group {})</td><td>{}</td><td>{turns}</td><td>{:.0}</td><td>{:.2}</td><td>{}</td></tr>",
                esc(&g.room),
                g.opening,
                g.group,
                g.members.len(),
                g.equity.total_speaking_ms as f64 / 1000.0,
                g.equity.gini,
                g.equity.not_spoken.len()
            );
        }
        out.push_str("</table>");
    }
    out.push_str("</html>\n");
    out
}

#[cfg(test)]
mod tests;
