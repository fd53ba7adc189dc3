//! The raw form of a protocol file: serde structs that mirror the TOML exactly.
//!
//! Every struct is `deny_unknown_fields`, so a misspelt key is a located error rather than
//! silently ignored. Values keep their spans so later checks can point at them. Nothing here
//! judges whether a value makes sense; that is `validate`'s job.

use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use super::duration::RawDur;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    pub(super) name: Option<Spanned<String>>,
    pub(super) title: Option<Spanned<String>>,
    pub(super) description: Option<Spanned<String>>,
    pub(super) group_size: Option<Spanned<RawGroupSize>>,
    pub(super) defaults: Option<RawDefaults>,
    #[serde(default)]
    pub(super) phase: Vec<Spanned<RawPhase>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGroupSize {
    pub(super) min: Spanned<i64>,
    pub(super) max: Spanned<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDefaults {
    pub(super) warn_before: Option<Spanned<RawDur>>,
    pub(super) on_timeout: Option<Spanned<String>>,
    pub(super) on_turn_timeout: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPhase {
    pub(super) id: Option<Spanned<String>>,
    pub(super) kind: Option<Spanned<String>>,
    pub(super) title: Option<Spanned<String>>,
    pub(super) prompt: Option<Spanned<String>>,
    pub(super) warn_before: Option<Spanned<RawDur>>,
    pub(super) on_timeout: Option<Spanned<String>>,
    pub(super) duration: Option<Spanned<RawDur>>,
    // presentation
    pub(super) speaker: Option<Spanned<String>>,
    // round
    pub(super) order: Option<Spanned<String>>,
    pub(super) turn: Option<Spanned<RawDur>>,
    pub(super) think: Option<Spanned<RawDur>>,
    pub(super) pause_between: Option<Spanned<RawDur>>,
    pub(super) pass: Option<Spanned<bool>>,
    pub(super) pass_for_now: Option<Spanned<bool>>,
    pub(super) second_chance: Option<Spanned<bool>>,
    pub(super) on_turn_timeout: Option<Spanned<String>>,
    pub(super) reflect_back: Option<Spanned<RawReflectBack>>,
    // queue
    pub(super) ordering: Option<Spanned<String>>,
    pub(super) first_timers_first: Option<Spanned<bool>>,
    pub(super) stances: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) nudge_after: Option<Spanned<RawDur>>,
    pub(super) move_on: Option<Spanned<RawMoveOn>>,
    // fishbowl
    pub(super) sides: Option<Spanned<String>>,
    pub(super) swap_after: Option<Spanned<RawDur>>,
    pub(super) rounds: Option<Spanned<i64>>,
    // curiosity, qa
    pub(super) question_turn: Option<Spanned<RawDur>>,
    pub(super) answer_turn: Option<Spanned<RawDur>>,
    pub(super) max_question_chars: Option<Spanned<i64>>,
    pub(super) moderated: Option<Spanned<bool>>,
    // reflection
    pub(super) notes: Option<Spanned<String>>,
    // breakout
    pub(super) group_size: Option<Spanned<i64>>,
    pub(super) min_group_size: Option<Spanned<i64>>,
    pub(super) protocol: Option<Spanned<String>>,
    pub(super) closing_countdown: Option<Spanned<RawDur>>,
    // poll
    pub(super) question: Option<Spanned<String>>,
    pub(super) choices: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) reveal: Option<Spanned<String>>,
    pub(super) show_results: Option<Spanned<RawDur>>,
    pub(super) pairs_with: Option<Spanned<String>>,
}

impl RawPhase {
    /// Kind-specific keys that are present, with their spans.
    pub(super) fn specific_keys(&self) -> Vec<(&'static str, Range<usize>)> {
        fn s<T>(v: &Option<Spanned<T>>) -> Option<Range<usize>> {
            v.as_ref().map(Spanned::span)
        }
        [
            ("duration", s(&self.duration)),
            ("speaker", s(&self.speaker)),
            ("order", s(&self.order)),
            ("turn", s(&self.turn)),
            ("think", s(&self.think)),
            ("pause_between", s(&self.pause_between)),
            ("pass", s(&self.pass)),
            ("pass_for_now", s(&self.pass_for_now)),
            ("second_chance", s(&self.second_chance)),
            ("on_turn_timeout", s(&self.on_turn_timeout)),
            ("reflect_back", s(&self.reflect_back)),
            ("ordering", s(&self.ordering)),
            ("first_timers_first", s(&self.first_timers_first)),
            ("stances", s(&self.stances)),
            ("nudge_after", s(&self.nudge_after)),
            ("move_on", s(&self.move_on)),
            ("sides", s(&self.sides)),
            ("swap_after", s(&self.swap_after)),
            ("rounds", s(&self.rounds)),
            ("question_turn", s(&self.question_turn)),
            ("answer_turn", s(&self.answer_turn)),
            ("max_question_chars", s(&self.max_question_chars)),
            ("moderated", s(&self.moderated)),
            ("notes", s(&self.notes)),
            ("group_size", s(&self.group_size)),
            ("min_group_size", s(&self.min_group_size)),
            ("protocol", s(&self.protocol)),
            ("closing_countdown", s(&self.closing_countdown)),
            ("question", s(&self.question)),
            ("choices", s(&self.choices)),
            ("reveal", s(&self.reveal)),
            ("show_results", s(&self.show_results)),
            ("pairs_with", s(&self.pairs_with)),
        ]
        .into_iter()
        .filter_map(|(k, span)| span.map(|sp| (k, sp)))
        .collect()
    }
}

/// The kind-specific keys each kind accepts (besides id, kind, title, prompt, warn_before,
/// on_timeout).
pub(super) fn allowed_keys(kind: &str) -> &'static [&'static str] {
    match kind {
        "presentation" => &["duration", "speaker"],
        "round" => &[
            "order",
            "turn",
            "think",
            "pause_between",
            "pass",
            "pass_for_now",
            "second_chance",
            "on_turn_timeout",
            "reflect_back",
        ],
        "queue" => &[
            "ordering",
            "turn",
            "duration",
            "first_timers_first",
            "stances",
            "reflect_back",
            "on_turn_timeout",
            "nudge_after",
            "move_on",
        ],
        "fishbowl" => &["sides", "stances", "swap_after", "turn", "rounds"],
        "curiosity" => &["duration", "question_turn", "answer_turn"],
        "reflection" => &["duration", "notes"],
        "breakout" => &[
            "duration",
            "group_size",
            "min_group_size",
            "protocol",
            "closing_countdown",
        ],
        "qa" => &["duration", "answer_turn", "max_question_chars", "moderated"],
        "poll" => &[
            "question",
            "choices",
            "duration",
            "reveal",
            "show_results",
            "pairs_with",
        ],
        _ => &[],
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawReflectBack {
    pub(super) turn: Option<Spanned<RawDur>>,
    pub(super) clarify: Option<Spanned<RawDur>>,
    pub(super) attempts: Option<Spanned<i64>>,
    pub(super) confirm: Option<Spanned<RawDur>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMoveOn {
    /// Percent of present participants.
    pub(super) threshold: Option<Spanned<i64>>,
    pub(super) offer_after_silence: Option<Spanned<RawDur>>,
}
