//! Plain-language descriptions of a protocol, for organizers choosing one.
//!
//! `describe` walks the agenda phase by phase (what happens, who speaks, for how long, the
//! rules) and ends with the planned total for a group size, saying plainly which phases have
//! no fixed length. `summary_line` is the one-line form used by `protocols list`.

use std::fmt::Write as _;

use crate::protocol::{
    FishbowlSides, NoteVisibility, OnTimeout, PhaseKind, PhaseSpec, Presenter, Protocol,
    QueueOrdering, ReflectBackSpec, Reveal, RoundOrder,
};
use crate::time::format_duration;

/// Group size used for planned totals when a protocol names none.
pub const DEFAULT_PLANNING_SIZE: u64 = 8;

/// What `p` does, phase by phase, and its planned length for `participants` people.
pub fn describe(p: &Protocol, participants: u64) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} ({})", p.title, p.name);
    if !p.description.is_empty() {
        let _ = writeln!(out, "{}", p.description);
    }
    if let Some(g) = p.group_size {
        let _ = writeln!(out, "Designed for {} to {} people.", g.min, g.max);
    }
    let _ = writeln!(out);
    for (idx, phase) in p.phases.iter().enumerate() {
        describe_phase(&mut out, idx, phase, participants);
    }
    let open: Vec<&str> = p
        .phases
        .iter()
        .filter(|ph| open_ended(ph))
        .map(|ph| ph.id.as_str())
        .collect();
    let _ = write!(
        out,
        "Planned total for {participants} {}: {}",
        if participants == 1 {
            "participant"
        } else {
            "participants"
        },
        format_duration(p.planned_ms(participants))
    );
    if open.is_empty() {
        let _ = writeln!(out, ".");
    } else {
        let _ =
            writeln!(
            out,
            ", not counting {} with no fixed length ({}), which {} until the facilitator moves on.",
            if open.len() == 1 { "the phase" } else { "the phases" },
            open.join(", "),
            if open.len() == 1 { "runs" } else { "run" }
        );
    }
    out
}

/// One line for `protocols list`: name, title, number of phases and the planned total for
/// the largest group the protocol names (or [`DEFAULT_PLANNING_SIZE`]).
pub fn summary_line(p: &Protocol) -> String {
    let n = p
        .group_size
        .map_or(DEFAULT_PLANNING_SIZE, |g| u64::from(g.max));
    let open = if p.phases.iter().any(open_ended) {
        "+"
    } else {
        ""
    };
    format!(
        "{:<32} {:<36} {:>2} phases  ~{}{open} for {n}",
        p.name,
        p.title,
        p.phases.len(),
        format_duration(p.planned_ms(n)),
    )
}

/// Phases whose length is not set by the file: they count as zero in the planned total.
fn open_ended(p: &PhaseSpec) -> bool {
    match &p.kind {
        PhaseKind::Queue(q) => q.duration_ms.is_none(),
        PhaseKind::Qa(q) => q.duration_ms.is_none(),
        PhaseKind::Poll(q) => q.duration_ms.is_none(),
        _ => false,
    }
}

fn describe_phase(out: &mut String, idx: usize, p: &PhaseSpec, n: u64) {
    let _ = writeln!(out, "{}. {} [{}] {}", idx + 1, p.id, p.kind.name(), p.title);
    let d = format_duration;
    let lines: Vec<String> = match &p.kind {
        PhaseKind::Presentation(s) => vec![format!(
            "{} holds the floor for {}.",
            match s.speaker {
                Presenter::Facilitator => "The facilitator",
                Presenter::Invited => "An invited speaker",
            },
            d(s.duration_ms)
        )],
        PhaseKind::Round(r) => {
            let mut v = vec![format!(
                "Go-round in {}: each participant speaks once, up to {} each.",
                match r.order {
                    RoundOrder::Join => "join order",
                    RoundOrder::Random => "a shuffled order",
                    RoundOrder::AlternateCommunities => "join order alternating communities",
                },
                d(r.turn_ms)
            )];
            if r.think_ms > 0 {
                v.push(format!("{} of silent think time first.", d(r.think_ms)));
            }
            if r.pause_between_ms > 0 {
                v.push(format!("A {} pause between speakers.", d(r.pause_between_ms)));
            }
            v.push(pass_rules(r.allow_pass, r.allow_pass_for_now, r.second_chance));
            v.extend(r.reflect_back.map(reflect_back));
            v.push(turn_timeout(r.on_turn_timeout));
            v.push(format!("About {} for {n} people.", d(p.planned_ms(n))));
            v
        }
        PhaseKind::Queue(q) => {
            let mut v = vec![format!(
                "Open floor: raise a hand to join the queue; {}.",
                match q.ordering {
                    QueueOrdering::Fifo => "first raised, first heard",
                    QueueOrdering::AlternateCommunities =>
                        "the floor alternates between communities",
                    QueueOrdering::AlternateStance => "the floor alternates between the lanes",
                    QueueOrdering::Progressive => "whoever has spoken least goes first",
                    QueueOrdering::Moderator => "a moderator grants the floor in raise order",
                }
            )];
            if !q.stances.is_empty() {
                v.push(format!("Lanes: {}.", q.stances.join(", ")));
            }
            if q.first_timers_first {
                v.push("Nobody speaks twice while someone who has not spoken is waiting.".into());
            }
            v.push(match q.turn_ms {
                Some(t) => format!("Turns up to {}.", d(t)),
                None => "Turns last until the speaker yields.".into(),
            });
            v.extend(q.reflect_back.map(reflect_back));
            if q.turn_ms.is_some() {
                v.push(turn_timeout(q.on_turn_timeout));
            }
            v.push(match q.duration_ms {
                Some(t) => format!("Lasts {}.", d(t)),
                None => "No fixed length: runs until the facilitator moves on.".into(),
            });
            v
        }
        PhaseKind::Fishbowl(f) => {
            let sides = match f.sides {
                FishbowlSides::Community => "each community".to_string(),
                FishbowlSides::Stance => format!("each side ({})", f.stances.join(", ")),
            };
            vec![
                format!(
                    "Fishbowl: {sides} in turn takes the inner circle for {} while the others listen; {} {}.",
                    d(f.swap_after_ms),
                    f.rounds,
                    if f.rounds == 1 { "round" } else { "rounds" }
                ),
                format!("Inner-circle members raise a hand to speak, up to {} each.", d(f.turn_ms)),
                format!("About {} with two sides.", d(p.planned_ms(n))),
            ]
        }
        PhaseKind::Curiosity(c) => vec![format!(
            "Questions of curiosity, member to member: up to {} to ask, {} to answer, {} in all.",
            d(c.question_ms),
            d(c.answer_ms),
            d(c.budget_ms)
        )],
        PhaseKind::Reflection(r) => vec![format!(
            "Silent reflection for {}; {}.",
            d(r.duration_ms),
            match r.notes {
                NoteVisibility::Private => "notes are private",
                NoteVisibility::SharedAnonymous => "notes are shared without names",
                NoteVisibility::None => "no notes",
            }
        )],
        PhaseKind::Breakout(b) => {
            let mut v = vec![format!(
                "Small groups of {} (at least {}), mixed across communities, run `{}` for {}.",
                b.group_size,
                b.min_group_size,
                b.protocol,
                d(b.duration_ms)
            )];
            if b.closing_countdown_ms > 0 {
                v.push(format!("A {} countdown before groups are recalled.", d(b.closing_countdown_ms)));
            }
            v
        }
        PhaseKind::Qa(q) => vec![
            format!(
                "Audience questions (up to {} characters) with up-votes; moderators approve them and each approved question gets {} for the answer.{}",
                q.max_question_chars,
                d(q.answer_ms),
                if q.moderated {
                    " Moderated: a question is seen only by its asker and staff until it is approved."
                } else {
                    ""
                }
            ),
            match q.duration_ms {
                Some(t) => format!("Lasts {}.", d(t)),
                None => "No fixed length: runs until the facilitator moves on.".into(),
            },
        ],
        PhaseKind::Poll(q) => {
            let mut v = vec![
                format!("Poll: {}", q.question),
                format!("Choices: {}.", q.choices.join(" / ")),
                format!(
                    "Results {}.",
                    match q.reveal {
                        Reveal::Live => "show live",
                        Reveal::AtClose => "show when the poll closes",
                    }
                ),
            ];
            if q.reveal == Reveal::AtClose && q.show_results_ms > 0 {
                v.push(format!(
                    "Results stay up for {} (or until the facilitator moves on) before the next phase.",
                    d(q.show_results_ms)
                ));
            }
            if let Some(pair) = &q.pairs_with {
                v.push(format!("Repeats `{pair}` so the two can be compared."));
            }
            v.push(match q.duration_ms {
                Some(t) => format!("Open for {}.", d(t)),
                None => "No fixed length: open until the facilitator moves on.".into(),
            });
            v
        }
    };
    for line in lines {
        let _ = writeln!(out, "   {line}");
    }
    if p.warn_before_ms > 0 {
        let _ = writeln!(
            out,
            "   Warning {} before each deadline.",
            format_duration(p.warn_before_ms)
        );
    }
    if p.on_timeout == OnTimeout::Overtime && has_phase_timer(p) {
        let _ = writeln!(
            out,
            "   When time runs out the phase goes into overtime until the facilitator moves on."
        );
    }
    if let Some(prompt) = &p.prompt {
        let _ = writeln!(out, "   Prompt: {prompt}");
    }
    let _ = writeln!(out);
}

fn has_phase_timer(p: &PhaseSpec) -> bool {
    !matches!(p.kind, PhaseKind::Round(_) | PhaseKind::Fishbowl(_)) && !open_ended(p)
}

fn pass_rules(pass: bool, for_now: bool, second_chance: bool) -> String {
    let mut s = match (pass, for_now) {
        (true, true) => {
            "Anyone may pass, or pass for now and speak at the end of the round.".to_string()
        }
        (true, false) => "Anyone may pass.".to_string(),
        (false, true) => "Anyone may pass for now and speak at the end of the round.".to_string(),
        (false, false) => "Passing is not offered.".to_string(),
    };
    if second_chance {
        s.push_str(" People who passed get a second chance at the end.");
    }
    s
}

fn reflect_back(rb: ReflectBackSpec) -> String {
    format!(
        "Reflect-back: before their own turn, each speaker sums up the previous one (up to {}); the previous speaker confirms within {} or asks to clarify ({}); after {} {} the floor moves on.",
        format_duration(rb.reflect_ms),
        format_duration(rb.confirm_ms),
        format_duration(rb.clarify_ms),
        rb.max_attempts,
        if rb.max_attempts == 1 { "attempt" } else { "attempts" }
    )
}

fn turn_timeout(t: OnTimeout) -> String {
    match t {
        OnTimeout::Advance => "When a turn's time is up, the floor moves on.".into(),
        OnTimeout::Overtime => {
            "When a turn's time is up, it goes into overtime until a moderator moves on.".into()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::protocol::load::parse;

    fn protocol(text: &str) -> Protocol {
        parse(Path::new("t.toml"), text).unwrap()
    }

    const RSD_LIKE: &str = r#"
title = "Test"
description = "A test protocol."
group_size = { min = 4, max = 6 }
[[phase]]
id = "think"
kind = "reflection"
duration = "2m"
notes = "none"
[[phase]]
id = "round-1"
kind = "round"
prompt = "Why?"
turn = "2m"
think = "1m"
pause_between = "5s"
pass_for_now = true
reflect_back = { turn = "1m", clarify = "30s", attempts = 3, confirm = "20s" }
"#;

    #[test]
    fn describes_every_phase_and_the_total() {
        let p = protocol(RSD_LIKE);
        let text = describe(&p, 6);
        assert!(
            text.starts_with("Test (t)\nA test protocol.\nDesigned for 4 to 6 people."),
            "{text}"
        );
        assert!(text.contains("1. think [reflection] Reflection"), "{text}");
        assert!(text.contains("2. round-1 [round] Go-round"), "{text}");
        assert!(text.contains("up to 2m each"), "{text}");
        assert!(text.contains("1m of silent think time first."), "{text}");
        assert!(text.contains("A 5s pause between speakers."), "{text}");
        assert!(text.contains("pass for now"), "{text}");
        assert!(text.contains("Reflect-back"), "{text}");
        assert!(text.contains("Prompt: Why?"), "{text}");
        // 2m + 1m think + 6 x 2m + 5 x (5s + 1m).
        assert_eq!(p.planned_ms(6), 120_000 + 60_000 + 720_000 + 5 * 65_000);
        assert!(
            text.ends_with("Planned total for 6 participants: 20m25s.\n"),
            "{text}"
        );
    }

    #[test]
    fn says_which_phases_have_no_fixed_length() {
        let p = protocol(
            "title = \"Q\"\n[[phase]]\nid = \"floor\"\nkind = \"queue\"\nprompt = \"Speak\"\n\
             [[phase]]\nid = \"talk\"\nkind = \"presentation\"\nduration = \"5m\"\n",
        );
        let text = describe(&p, 8);
        assert!(text.contains("No fixed length"), "{text}");
        assert!(
            text.ends_with(
                "Planned total for 8 participants: 5m, not counting the phase with no fixed length (floor), which runs until the facilitator moves on.\n"
            ),
            "{text}"
        );
        assert!(
            summary_line(&p).contains("~5m+ for 8"),
            "{}",
            summary_line(&p)
        );
    }

    #[test]
    fn summary_uses_the_largest_group_size() {
        let p = protocol(RSD_LIKE);
        let line = summary_line(&p);
        assert!(line.starts_with("t "), "{line}");
        assert!(line.contains(" 2 phases"), "{line}");
        assert!(
            line.contains(&format!("~{} for 6", format_duration(p.planned_ms(6)))),
            "{line}"
        );
        assert!(!line.contains('\n'));
    }
}
