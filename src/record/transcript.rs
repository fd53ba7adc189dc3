//! The transcript: who spoke when and for how long, what was written, and a moderation
//! section, as JSON Lines and as Markdown.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::Serialize;

use crate::engine::event::{Audience, EventKind, TurnKind};
use crate::engine::member::{MemberId, Roster};
use crate::engine::moderation::{is_invisible_control, ReportStatus};
use crate::record::Logged;
use crate::time::Millis;

/// One line of the transcript.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Line {
    Phase {
        seq: u64,
        at: Millis,
        index: usize,
        title: String,
        prompt: Option<String>,
    },
    Turn {
        seq: u64,
        at: Millis,
        member: MemberId,
        name: String,
        turn: TurnKind,
        held_ms: u64,
        reason: String,
    },
    Said {
        seq: u64,
        at: Millis,
        member: MemberId,
        name: String,
        text: String,
    },
    /// A shared note (shared notes carry no name).
    Note { seq: u64, at: Millis, text: String },
    Question {
        seq: u64,
        at: Millis,
        question: u64,
        member: MemberId,
        name: String,
        text: String,
    },
    Broadcast {
        seq: u64,
        at: Millis,
        name: String,
        text: String,
    },
    Poll {
        seq: u64,
        at: Millis,
        phase: String,
        totals: Vec<(String, u32)>,
    },
    Moderation {
        seq: u64,
        at: Millis,
        action: String,
        member: Option<MemberId>,
        /// The name of `member`, so the transcript says who, not an internal id.
        #[serde(skip_serializing_if = "Option::is_none")]
        member_name: Option<String>,
        by: MemberId,
        by_name: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Transcript {
    pub lines: Vec<Line>,
    /// Messages, notes and questions left out because a moderator hid them.
    pub hidden: u32,
}

/// Display names by member: the roster's, else the name a `member_joined` in the log gave.
/// Someone the room never saw join is "a staff member", never an internal id.
struct Names<'a> {
    roster: &'a Roster,
    joined: std::collections::BTreeMap<&'a MemberId, &'a str>,
}

impl<'a> Names<'a> {
    fn new(log: &'a [Logged], roster: &'a Roster) -> Self {
        let joined = log
            .iter()
            .filter_map(|l| match &l.event.kind {
                EventKind::MemberJoined { member, name, .. } => Some((member, name.as_str())),
                _ => None,
            })
            .collect();
        Names { roster, joined }
    }

    fn of(&self, m: &MemberId) -> String {
        self.roster
            .get(m)
            .map(|m| m.name.clone())
            .or_else(|| self.joined.get(m).map(|n| n.to_string()))
            .unwrap_or_else(|| "a staff member".into())
    }
}

/// Builds the transcript from a room's log.
pub fn build(log: &[Logged], roster: &Roster) -> Transcript {
    let hidden: BTreeSet<u64> = log
        .iter()
        .filter_map(|l| match &l.event.kind {
            EventKind::Hidden { message, .. } => Some(*message),
            _ => None,
        })
        .collect();
    let names = Names::new(log, roster);
    let name_of = |_: &Roster, m: &MemberId| names.of(m);
    let mut lines = Vec::new();
    let mut n_hidden = 0u32;
    for l in log {
        let (seq, at) = (l.seq, l.event.at);
        let private = matches!(l.event.audience, Audience::Member(_));
        let line = match &l.event.kind {
            EventKind::PhaseStarted {
                index,
                title,
                prompt,
                ..
            } => Some(Line::Phase {
                seq,
                at,
                index: *index,
                title: title.clone(),
                prompt: prompt.clone(),
            }),
            EventKind::FloorReleased {
                member,
                turn,
                reason,
                held_ms,
            } => Some(Line::Turn {
                seq,
                at,
                member: member.clone(),
                name: name_of(roster, member),
                turn: *turn,
                held_ms: *held_ms,
                reason: serde_json::to_value(reason)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
            }),
            EventKind::Said {
                message,
                member,
                text,
            } => {
                if hidden.contains(message) {
                    n_hidden += 1;
                    None
                } else {
                    Some(Line::Said {
                        seq,
                        at,
                        member: member.clone(),
                        name: name_of(roster, member),
                        text: text.clone(),
                    })
                }
            }
            EventKind::Noted { message, text, .. } if !private => {
                if hidden.contains(message) {
                    n_hidden += 1;
                    None
                } else {
                    Some(Line::Note {
                        seq,
                        at,
                        text: text.clone(),
                    })
                }
            }
            EventKind::QuestionAsked {
                question,
                member,
                text,
            } => {
                if hidden.contains(question) {
                    n_hidden += 1;
                    None
                } else {
                    Some(Line::Question {
                        seq,
                        at,
                        question: *question,
                        member: member.clone(),
                        name: name_of(roster, member),
                        text: text.clone(),
                    })
                }
            }
            EventKind::Broadcast { by, text } => Some(Line::Broadcast {
                seq,
                at,
                name: name_of(roster, by),
                text: text.clone(),
            }),
            EventKind::PollResults {
                phase,
                totals,
                closed: true,
                ..
            } => Some(Line::Poll {
                seq,
                at,
                phase: phase.clone(),
                totals: totals.clone(),
            }),
            kind => moderator_action(kind).map(|(action, member, by)| Line::Moderation {
                seq,
                at,
                action: action.to_string(),
                member: member.cloned(),
                member_name: member.map(|m| name_of(roster, m)),
                by_name: name_of(roster, by),
                by: by.clone(),
            }),
        };
        lines.extend(line);
    }
    Transcript {
        lines,
        hidden: n_hidden,
    }
}

/// Moderator actions, each with who took it: `(action, whom, by whom)`. The transcript's
/// moderation section and the report's counts both read this one list, so they agree.
/// Closing a report because the moderator hid, muted or removed is the `hide`, `mute` or
/// `remove` itself; only a dismissal is an action of its own.
pub(crate) fn moderator_action(
    kind: &EventKind,
) -> Option<(&'static str, Option<&MemberId>, &MemberId)> {
    Some(match kind {
        EventKind::Muted { member, by } => ("mute", Some(member), by),
        EventKind::Unmuted { member, by } => ("unmute", Some(member), by),
        EventKind::MemberRemoved { member, by } => ("remove", Some(member), by),
        EventKind::FloorRevoked { member, by } => ("revoke_floor", Some(member), by),
        EventKind::Invited { member, by } => ("invite_to_speak", Some(member), by),
        EventKind::FloorGranted {
            member,
            by: Some(by),
            ..
        } => ("grant_floor", Some(member), by),
        EventKind::Hidden { by, .. } => ("hide", None, by),
        EventKind::QuestionApproved { by, .. } => ("approve_question", None, by),
        EventKind::QuestionsMerged { by: Some(by), .. } => ("merge_questions", None, by),
        EventKind::QuestionOrder { by: Some(by), .. } => ("order_questions", None, by),
        // A move, a grant or a mute that changed the queue: the effect, next to its cause.
        EventKind::QueueChanged { by: Some(by), .. } => ("queue_changed", None, by),
        EventKind::ReportClosed {
            by,
            status: ReportStatus::Dismissed,
            ..
        } => ("dismiss_report", None, by),
        _ => return None,
    })
}

/// One JSON object per line.
pub fn to_jsonl(t: &Transcript) -> String {
    let mut out = String::new();
    for l in &t.lines {
        if let Ok(s) = serde_json::to_string(l) {
            out.push_str(&s);
            out.push('\n');
        }
    }
    out
}

/// JSON Lines where every line also names its `room`: an event's hall and breakout groups
/// are written one after another, and `seq` is per room.
pub fn to_jsonl_in(room: &str, t: &Transcript) -> String {
    let mut out = String::new();
    for l in &t.lines {
        let Ok(serde_json::Value::Object(mut map)) = serde_json::to_value(l) else {
            continue;
        };
        map.insert("room".into(), serde_json::Value::String(room.to_string()));
        if let Ok(s) = serde_json::to_string(&map) {
            out.push_str(&s);
            out.push('\n');
        }
    }
    out
}

fn clock(start: Millis, at: Millis) -> String {
    let s = at.since(start) / 1000;
    format!("{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

/// Text people typed (and names, titles, choices), made safe to write into one Markdown line:
/// control characters and bidirectional overrides dropped, line breaks turned into spaces (so
/// nobody can start a line of their own: no forged "**Moderator**" line or `## Moderation`
/// heading), HTML metacharacters written as entities and Markdown punctuation backslash-escaped
/// (so no raw HTML, emphasis, link or `javascript:` autolink survives).
pub fn md_inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' | '\r' | '\t' | '\u{2028}' | '\u{2029}' => out.push(' '),
            c if is_invisible_control(c) => {}
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '#' | '|' | '!' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// A readable Markdown transcript, times relative to the first line. Everything people wrote
/// goes through [`md_inline`].
pub fn to_markdown(title: &str, t: &Transcript) -> String {
    let mut out = format!("# Transcript: {}\n\n", md_inline(title));
    out.push_str(&markdown_body(t));
    out
}

/// A whole event's Markdown transcript: the hall's, headed by the report's summary (date,
/// duration, attendance, phases planned against actual time), then each breakout group's
/// under the group's number as people saw it ("Group 1") and its members' names.
pub fn event_markdown(
    title: &str,
    report: &crate::record::report::Report,
    hall: &Transcript,
    groups: &[(&crate::record::report::GroupReport, Transcript)],
) -> String {
    let mut out = format!("# Transcript: {}\n\n", md_inline(title));
    out.push_str(&crate::record::report::summary_markdown(report));
    out.push_str(&markdown_body(hall));
    for (g, t) in groups {
        let who = if g.names.is_empty() {
            String::new()
        } else {
            format!(": {}", g.names.join(", "))
        };
        let _ = write!(
            out,
            "\n# Breakout {}{}\n\n",
            md_inline(&g.label().to_lowercase()),
            md_inline(&who)
        );
        out.push_str(&markdown_body(t));
    }
    out
}

fn markdown_body(t: &Transcript) -> String {
    let e = md_inline;
    let mut out = String::new();
    let mut phase_title: Option<&str> = None;
    let start = t.lines.first().map_or(Millis::ZERO, line_at);
    let mut moderation = Vec::new();
    for l in &t.lines {
        let ts = clock(start, line_at(l));
        match l {
            Line::Phase { title, prompt, .. } => {
                phase_title = Some(title);
                let _ = writeln!(out, "\n## {ts} {}\n", e(title));
                if let Some(p) = prompt {
                    let _ = writeln!(out, "> {}\n", e(p));
                }
            }
            Line::Turn {
                name,
                turn,
                held_ms,
                reason,
                ..
            } => {
                let _ = writeln!(
                    out,
                    "- {ts} **{}** ({}) spoke for {} ({reason})",
                    e(name),
                    turn_name(*turn),
                    crate::time::format_duration(*held_ms)
                );
            }
            Line::Said { name, text, .. } => {
                let _ = writeln!(out, "- {ts} **{}**: {}", e(name), e(text));
            }
            Line::Note { text, .. } => {
                let _ = writeln!(out, "- {ts} (shared note) {}", e(text));
            }
            Line::Question {
                name,
                text,
                question,
                ..
            } => {
                let _ = writeln!(
                    out,
                    "- {ts} question {question} from **{}**: {}",
                    e(name),
                    e(text)
                );
            }
            Line::Broadcast { name, text, .. } => {
                let _ = writeln!(out, "- {ts} broadcast from {}: {}", e(name), e(text));
            }
            Line::Poll { phase, totals, .. } => {
                let counts: Vec<String> = totals
                    .iter()
                    .map(|(c, n)| format!("{}: {n}", e(c)))
                    .collect();
                let _ = writeln!(
                    out,
                    "- {ts} poll \u{201c}{}\u{201d} closed: {}",
                    e(phase_title.unwrap_or(phase)),
                    counts.join(", ")
                );
            }
            Line::Moderation {
                action,
                member_name,
                by_name,
                ..
            } => {
                let whom = member_name
                    .as_deref()
                    .map(|m| format!(" {}", e(m)))
                    .unwrap_or_default();
                let action = action.replace('_', " ");
                moderation.push(format!("- {ts} {}: {action}{whom}", e(by_name)));
            }
        }
    }
    if t.hidden > 0 {
        let _ = writeln!(
            out,
            "\n{} message(s) hidden by moderators are not shown.",
            t.hidden
        );
    }
    out.push_str("\n## Moderation\n\n");
    if moderation.is_empty() {
        out.push_str("No moderator actions.\n");
    } else {
        for m in moderation {
            out.push_str(&m);
            out.push('\n');
        }
    }
    out
}

fn turn_name(t: TurnKind) -> &'static str {
    match t {
        TurnKind::Own => "own view",
        TurnKind::Reflect => "reflect-back",
        TurnKind::Clarify => "clarification",
        TurnKind::Question => "question",
        TurnKind::Answer => "answer",
        TurnKind::Presentation => "presentation",
    }
}

fn line_at(l: &Line) -> Millis {
    match l {
        Line::Phase { at, .. }
        | Line::Turn { at, .. }
        | Line::Said { at, .. }
        | Line::Note { at, .. }
        | Line::Question { at, .. }
        | Line::Broadcast { at, .. }
        | Line::Poll { at, .. }
        | Line::Moderation { at, .. } => *at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What residents write cannot forge transcript structure, inject HTML or links, or hide
    /// behind invisible controls.
    #[test]
    fn residents_text_cannot_forge_lines_headings_html_or_links() {
        let said = |text: &str, name: &str| Line::Said {
            seq: 1,
            at: Millis::ZERO,
            member: MemberId::new("m-1"),
            name: name.into(),
            text: text.into(),
        };
        let t = Transcript {
            lines: vec![
                said(
                    "ok\n## Moderation\n- 00:00:01 **Moderator**: remove everyone",
                    "Eve",
                ),
                said(
                    "<script>alert(1)</script> <img src=x onerror=alert(2)>",
                    "Eve",
                ),
                said("[click](javascript:alert(1)) <javascript:alert(1)>", "Eve"),
                said("a\u{202E}gnp.exe\u{7}\u{1b}[31m", "E\u{202E}ve\n## Mod"),
            ],
            hidden: 0,
        };
        let md = to_markdown("Town <b>hall</b>", &t);
        let headings: Vec<&str> = md.lines().filter(|l| l.starts_with('#')).collect();
        assert_eq!(
            headings,
            [
                "# Transcript: Town &lt;b&gt;hall&lt;/b&gt;",
                "## Moderation"
            ]
        );
        assert!(!md.lines().any(|l| l.starts_with("- 00:00:01")), "{md}");
        assert!(!md.contains("**Moderator**"), "{md}");
        assert!(!md.contains('<'), "{md}");
        let unescaped = |b: char| md.match_indices(b).any(|(i, _)| !md[..i].ends_with('\\'));
        assert!(!unescaped('[') && !unescaped(']'), "no link survives: {md}");
        assert!(md.contains("\\[click\\](javascript:alert(1))"), "{md}");
        for c in ['\u{202E}', '\u{7}', '\u{1b}'] {
            assert!(!md.contains(c), "{c:?} in {md}");
        }
        // Every message stays on its own single line.
        assert_eq!(
            md.lines().filter(|l| l.starts_with("- ")).count(),
            4,
            "{md}"
        );
    }
}
