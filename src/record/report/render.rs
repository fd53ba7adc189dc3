//! The report for people: an accessible HTML page (landmarks, headings, captioned tables with
//! header cells, charts whose labels fit) and the same summary in Markdown for the transcript.
//! Both name people by their display names, never by internal member ids, and number breakout
//! groups as people saw them (group 1 is the first).

use std::fmt::Write as _;

use super::{civil, Report};
use crate::engine::member::MemberId;
use crate::html::escape as esc;
use crate::record::transcript::md_inline;
use crate::time::Millis;

/// A duration the way people say it: `1 h 5 min`, `12 min 30 s`, `45 s`.
pub fn human(ms: u64) -> String {
    let s = ms / 1000;
    let (h, m, s) = (s / 3600, (s / 60) % 60, s % 60);
    match (h, m, s) {
        (0, 0, s) => format!("{s} s"),
        (0, m, 0) => format!("{m} min"),
        (0, m, s) => format!("{m} min {s} s"),
        (h, m, _) => format!("{h} h {m} min"),
    }
}

/// Planned against actual: "+2 min 5 s", "-30 s", "on time".
fn difference(planned: u64, actual: u64) -> String {
    match actual.cmp(&planned) {
        std::cmp::Ordering::Equal => "on time".into(),
        std::cmp::Ordering::Greater => format!("+{}", human(actual - planned)),
        std::cmp::Ordering::Less => format!("-{}", human(planned - actual)),
    }
}

/// "3 December 2026, 19:00 UTC".
fn when(t: Millis) -> String {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let c = civil(t);
    let month = MONTHS[(c.month as usize).saturating_sub(1).min(11)];
    format!("{} {month} {}, {} UTC", c.day, c.year, c.time())
}

/// The clock time of day, "19:05".
fn clock(t: Millis) -> String {
    civil(t).time()
}

impl Report {
    /// A member's display name from the attendance or the equity figures; never their id.
    pub fn name_of(&self, m: &MemberId) -> String {
        self.attendance
            .iter()
            .find(|a| &a.member == m)
            .map(|a| a.name.clone())
            .or_else(|| {
                self.equity
                    .people
                    .iter()
                    .find(|p| &p.member == m)
                    .map(|p| p.name.clone())
            })
            .unwrap_or_else(|| "a member who left".into())
    }

    /// The session's start and length in one sentence.
    fn when_line(&self) -> String {
        match (self.started_at, self.ended_at) {
            (Some(s), Some(_)) => format!("{}; lasted {}.", when(s), human(self.duration_ms)),
            (Some(s), None) => format!(
                "{}; running for {} so far.",
                when(s),
                human(self.duration_ms)
            ),
            _ => "The session has not started.".into(),
        }
    }
}

/// Text width in pixels, estimated generously so labels never run into the bars: wide
/// (East Asian, emoji) characters count as a full em.
fn text_px(s: &str, font_px: f64) -> f64 {
    s.chars()
        .map(|c| {
            if (c as u32) >= 0x1100 {
                font_px
            } else if c.is_uppercase() || "mwMW@%".contains(c) {
                font_px * 0.8
            } else {
                font_px * 0.62
            }
        })
        .sum()
}

/// A horizontal bar chart. The label column and the value column are as wide as their
/// longest text, so nothing is clipped; the picture scales down to narrow screens.
fn bar_chart(title: &str, rows: &[(String, f64, String)]) -> String {
    const BARS: f64 = 300.0;
    let max = rows.iter().map(|r| r.1).fold(0.0_f64, f64::max).max(1e-9);
    let label_w = rows
        .iter()
        .map(|r| text_px(&r.0, 13.0))
        .fold(0.0_f64, f64::max)
        .ceil()
        + 12.0;
    let value_w = rows
        .iter()
        .map(|r| text_px(&r.2, 12.0))
        .fold(0.0_f64, f64::max)
        .ceil()
        + 12.0;
    let width = label_w + BARS + value_w;
    let h = 22 * rows.len() + 10;
    let mut svg = format!(
        r#"<figure><figcaption>{t}</figcaption><svg role="img" aria-label="{t} (the same figures are in the table below)" width="{width:.0}" height="{h}" viewBox="0 0 {width:.0} {h}" style="max-width:100%;height:auto">"#,
        t = esc(title)
    );
    for (i, (label, v, shown)) in rows.iter().enumerate() {
        let y = 5 + i * 22;
        let w = (v / max * BARS).max(1.0);
        let _ = write!(
            svg,
            r##"<text class="label" x="0" y="{ty}" font-size="13">{l}</text><rect x="{label_w:.0}" y="{y}" width="{w:.1}" height="16" fill="#1f5fa8"/><text class="value" x="{tx:.1}" y="{ty}" font-size="12">{s}</text>"##,
            ty = y + 13,
            l = esc(label),
            tx = label_w + w + 5.0,
            s = esc(shown)
        );
    }
    svg.push_str("</svg></figure>");
    svg
}

/// Opens a captioned table with column headers.
fn table(out: &mut String, caption: &str, columns: &[&str]) {
    let _ = write!(out, "<table><caption>{}</caption><thead><tr>", esc(caption));
    for c in columns {
        let _ = write!(out, "<th scope=\"col\">{}</th>", esc(c));
    }
    out.push_str("</tr></thead><tbody>");
}

/// One row: the first cell is the row's header.
fn row(out: &mut String, head: &str, cells: &[String]) {
    let _ = write!(out, "<tr><th scope=\"row\">{}</th>", esc(head));
    for c in cells {
        let _ = write!(out, "<td>{}</td>", esc(c));
    }
    out.push_str("</tr>");
}

fn section(out: &mut String, id: &str, heading: &str) {
    let _ = write!(
        out,
        "<section id=\"{id}\" aria-labelledby=\"{id}-h\"><h2 id=\"{id}-h\">{}</h2>",
        esc(heading)
    );
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:62rem;margin:2rem auto;padding:0 1rem;color:#111;background:#fff;line-height:1.4}\
table{border-collapse:collapse;margin:.5rem 0 1.5rem}caption{text-align:left;font-weight:600;padding:.3rem 0}\
td,th{padding:.2rem .6rem;border-bottom:1px solid #ccc;text-align:left;vertical-align:top}\
th[scope=row]{white-space:nowrap}nav ul{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:.4rem 1rem}\
a{color:#0b4f9c}figure{margin:1rem 0}figcaption{font-weight:600}svg text{fill:#111}";

/// A readable, self-contained page (no scripts, no external resources): when and how long,
/// attendance, speaking time (charts and tables), the phases planned against actual time,
/// polls, moderation and support, and the breakout groups.
pub fn to_html(r: &Report) -> String {
    let e = &r.equity;
    let title = format!("Report: {}", r.event_title.as_deref().unwrap_or(&r.title));
    let mut out = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t}</title><style>{STYLE}</style></head><body>\
         <header><h1>{t}</h1><p>{when}</p><p>Protocol: {p}.</p></header>",
        t = esc(&title),
        when = esc(&r.when_line()),
        p = esc(&r.title),
    );
    let mut sections = vec![
        ("summary", "Summary"),
        ("attendance", "Attendance"),
        ("speaking", "Speaking time"),
        ("phases", "Phases"),
    ];
    if !r.polls.is_empty() {
        sections.push(("polls", "Polls"));
    }
    sections.push(("moderation", "Moderation and support"));
    if !r.groups.is_empty() {
        sections.push(("groups", "Breakout groups"));
    }
    out.push_str("<nav aria-label=\"Sections of this report\"><ul>");
    for (id, h) in &sections {
        let _ = write!(out, "<li><a href=\"#{id}\">{}</a></li>", esc(h));
    }
    out.push_str("</ul></nav><main>");

    section(&mut out, "summary", "Summary");
    let participants = r
        .attendance
        .iter()
        .filter(|a| a.role == crate::engine::member::Role::Participant)
        .count();
    let _ = write!(
        out,
        "<p>{participants} participant(s) took part. Gini of speaking time (every participant counted, silent ones as zero): \
         <strong>{:.2}</strong>; within communities {:.2}, between communities {:.2}, overlap {:.2}. \
         {} participant(s) never had a turn. Reflect-back time is counted apart ({}).</p></section>",
        e.gini,
        e.gini_within,
        e.gini_between,
        e.gini_overlap,
        e.not_spoken.len(),
        human(e.total_reflect_ms)
    );

    section(&mut out, "attendance", "Attendance");
    if r.attendance_by_community.is_empty() {
        out.push_str("<p>No participants joined.</p>");
    } else {
        table(
            &mut out,
            "Participants by community",
            &["Community", "Participants", "Time in the room, added up"],
        );
        for c in &r.attendance_by_community {
            row(
                &mut out,
                &c.community,
                &[c.participants.to_string(), human(c.present_ms)],
            );
        }
        out.push_str("</tbody></table>");
    }
    if !r.attendance.is_empty() {
        table(
            &mut out,
            "Who joined, when and for how long (times in UTC)",
            &[
                "Name",
                "Role",
                "Community",
                "Joined",
                "Left",
                "Time in the room",
                "Visits",
            ],
        );
        for a in &r.attendance {
            let left = match (a.left_at, a.removed) {
                (Some(t), true) => format!("{} (removed)", clock(t)),
                (Some(t), false) => clock(t),
                (None, _) => "stayed to the end".into(),
            };
            row(
                &mut out,
                &a.name,
                &[
                    a.role.as_str().to_string(),
                    a.community.clone().unwrap_or_else(|| "-".into()),
                    clock(a.joined_at),
                    left,
                    human(a.present_ms),
                    a.visits.to_string(),
                ],
            );
        }
        out.push_str("</tbody></table>");
    }
    out.push_str("</section>");

    section(&mut out, "speaking", "Speaking time");
    let comms: Vec<(String, f64, String)> = e
        .communities
        .iter()
        .map(|c| {
            (
                c.community.clone(),
                c.speaking_ms as f64,
                format!("{} ({:.0}%)", human(c.speaking_ms), c.share * 100.0),
            )
        })
        .collect();
    if !comms.is_empty() {
        out.push_str(&bar_chart("Speaking time by community", &comms));
    }
    let people: Vec<(String, f64, String)> = e
        .people
        .iter()
        .map(|p| {
            (
                format!("{} ({})", p.name, p.community.as_deref().unwrap_or("-")),
                p.speaking_ms as f64,
                if p.voiced_ms > 0 {
                    format!(
                        "{} ({} voiced), {} turn(s)",
                        human(p.speaking_ms),
                        human(p.voiced_ms),
                        p.turns
                    )
                } else {
                    format!("{}, {} turn(s)", human(p.speaking_ms), p.turns)
                },
            )
        })
        .collect();
    if !people.is_empty() {
        out.push_str(&bar_chart("Speaking time by person", &people));
    }
    if !e.communities.is_empty() {
        table(
            &mut out,
            "Speaking time by community",
            &["Community", "Members", "Speaking", "Share", "Turns"],
        );
        for c in &e.communities {
            row(
                &mut out,
                &c.community,
                &[
                    c.members.to_string(),
                    human(c.speaking_ms),
                    format!("{:.0}%", c.share * 100.0),
                    c.turns.to_string(),
                ],
            );
        }
        out.push_str("</tbody></table>");
    }
    if !e.people.is_empty() {
        table(
            &mut out,
            "Speaking time by person",
            &[
                "Name",
                "Community",
                "Speaking",
                "Reflect-back",
                "Turns",
                "Passes",
                "Voiced",
            ],
        );
        for p in &e.people {
            row(
                &mut out,
                &p.name,
                &[
                    p.community.clone().unwrap_or_else(|| "-".into()),
                    human(p.speaking_ms),
                    human(p.reflect_ms),
                    p.turns.to_string(),
                    p.passes.to_string(),
                    if p.voiced_ms > 0 {
                        human(p.voiced_ms)
                    } else {
                        "-".into()
                    },
                ],
            );
        }
        out.push_str("</tbody></table>");
    }
    if !e.not_spoken.is_empty() {
        let names: Vec<String> = e.not_spoken.iter().map(|m| r.name_of(m)).collect();
        let _ = write!(out, "<p>Never had a turn: {}.</p>", esc(&names.join(", ")));
    }
    out.push_str("</section>");

    section(&mut out, "phases", "Phases");
    if r.phases.is_empty() {
        out.push_str("<p>No phase has started.</p>");
    } else {
        table(
            &mut out,
            "Phases: planned and actual time",
            &[
                "Phase",
                "Kind",
                "Started",
                "Planned",
                "Actual",
                "Difference",
            ],
        );
        for p in &r.phases {
            let actual = match p.ended {
                Some(_) => human(p.ms),
                None => "still running".into(),
            };
            let (planned, diff) = match (p.planned_ms, p.ended) {
                (Some(pl), Some(_)) => (human(pl), difference(pl, p.ms)),
                (Some(pl), None) => (human(pl), "-".into()),
                (None, _) => ("no set length".into(), "-".into()),
            };
            row(
                &mut out,
                &p.title,
                &[p.kind.clone(), clock(p.started), planned, actual, diff],
            );
        }
        out.push_str("</tbody></table>");
    }
    out.push_str("</section>");

    if !r.polls.is_empty() {
        section(&mut out, "polls", "Polls");
        for p in &r.polls {
            let total: u32 = p.totals.iter().map(|t| t.1).sum();
            table(
                &mut out,
                &format!("{} ({total} vote(s))", p.question),
                &["Choice", "Votes"],
            );
            for (c, n) in &p.totals {
                row(&mut out, c, &[n.to_string()]);
            }
            out.push_str("</tbody></table>");
        }
        for s in &r.poll_shifts {
            let question = r
                .polls
                .iter()
                .find(|p| p.phase == s.after)
                .map_or(s.after.as_str(), |p| p.question.as_str());
            table(
                &mut out,
                &format!("Poll shift, before and after: {question}"),
                &["Choice", "Before", "After"],
            );
            for (c, b, a) in &s.choices {
                row(
                    &mut out,
                    c,
                    &[format!("{:.0}%", b * 100.0), format!("{:.0}%", a * 100.0)],
                );
            }
            out.push_str("</tbody></table>");
        }
        out.push_str("</section>");
    }

    section(&mut out, "moderation", "Moderation and support");
    let _ = write!(
        out,
        "<p>{} nudge(s), {} help request(s), {} question(s) asked, {} answered.</p>",
        r.nudged.len(),
        r.help_requests,
        r.questions_asked,
        r.questions_answered
    );
    if !r.moderation.is_empty() {
        out.push_str("<ul>");
        for (k, n) in &r.moderation {
            let _ = write!(out, "<li>{}: {n}</li>", esc(&k.replace('_', " ")));
        }
        out.push_str("</ul>");
    }
    out.push_str("</section>");

    if !r.groups.is_empty() {
        section(&mut out, "groups", "Breakout groups");
        table(
            &mut out,
            "Breakout groups, numbered as people saw them",
            &[
                "Group",
                "People",
                "Turns",
                "Speaking",
                "Gini",
                "Never had a turn",
            ],
        );
        for g in &r.groups {
            let turns: u32 = g.equity.people.iter().map(|p| p.turns).sum();
            let silent: Vec<String> = g
                .equity
                .not_spoken
                .iter()
                .filter_map(|m| {
                    g.equity
                        .people
                        .iter()
                        .find(|p| &p.member == m)
                        .map(|p| p.name.clone())
                })
                .collect();
            row(
                &mut out,
                &g.label(),
                &[
                    if g.names.is_empty() {
                        "-".into()
                    } else {
                        g.names.join(", ")
                    },
                    turns.to_string(),
                    human(g.equity.total_speaking_ms),
                    format!("{:.2}", g.equity.gini),
                    if silent.is_empty() {
                        "-".into()
                    } else {
                        silent.join(", ")
                    },
                ],
            );
        }
        out.push_str("</tbody></table></section>");
    }
    out.push_str("</main></body></html>\n");
    out
}

/// The report's summary in Markdown, for the head of the transcript: date and duration,
/// attendance by community and by person, and the phases planned against actual time.
pub fn summary_markdown(r: &Report) -> String {
    let e = md_inline;
    let mut out = String::new();
    let _ = writeln!(out, "{}\n", e(&r.when_line()));
    out.push_str("## Attendance\n\n");
    if r.attendance.is_empty() {
        out.push_str("Nobody joined.\n\n");
    } else {
        for c in &r.attendance_by_community {
            let _ = writeln!(
                out,
                "- {}: {} participant(s)",
                e(&c.community),
                c.participants
            );
        }
        out.push_str("\n| Name | Role | Community | Joined | Left | Time in the room |\n");
        out.push_str("| --- | --- | --- | --- | --- | --- |\n");
        for a in &r.attendance {
            let left = match (a.left_at, a.removed) {
                (Some(t), true) => format!("{} (removed)", clock(t)),
                (Some(t), false) => clock(t),
                (None, _) => "stayed to the end".into(),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {left} | {} |",
                e(&a.name),
                a.role.as_str(),
                e(a.community.as_deref().unwrap_or("-")),
                clock(a.joined_at),
                human(a.present_ms)
            );
        }
        out.push_str("\nTimes are UTC.\n\n");
    }
    out.push_str("## Phases\n\n");
    if r.phases.is_empty() {
        out.push_str("No phase has started.\n\n");
    } else {
        out.push_str("| Phase | Started | Planned | Actual |\n| --- | --- | --- | --- |\n");
        for p in &r.phases {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                e(&p.title),
                clock(p.started),
                p.planned_ms.map_or_else(|| "no set length".into(), human),
                if p.ended.is_some() {
                    human(p.ms)
                } else {
                    "still running".into()
                }
            );
        }
        out.push('\n');
    }
    out
}
