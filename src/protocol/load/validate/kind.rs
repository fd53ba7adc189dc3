//! Kind-specific checks: one method per phase kind, each turning the keys that kind accepts
//! into its `spec` type.
//!
//! Long file: thirteen phase kinds at about forty lines each, one short method apiece; a file
//! per kind would scatter what is one table of "which keys each kind takes".
//!
//! Split from `validate.rs` to keep files short; the shared checks (durations, counts,
//! choices, labels) stay on `Cx` there.

use std::collections::BTreeMap;
use std::ops::Range;

use toml::Spanned;

use super::{is_slug, slug_message, Cx, Defaults, Warn};
use crate::protocol::load::duration::RawDur;
use crate::protocol::load::raw::RawPhase;
use crate::protocol::load::DEFAULT_MAX_QUESTION_CHARS;
use crate::protocol::{
    BreakoutSpec, CuriositySpec, FishbowlSides, FishbowlSpec, MoveOnSpec, NoteVisibility,
    OnTimeout, PhaseKind, PollSpec, PresentationSpec, Presenter, QaSpec, QueueOrdering, QueueSpec,
    ReflectBackSpec, ReflectionSpec, Reveal, RoundOrder, RoundSpec, DEFAULT_SHOW_RESULTS_MS,
};
use crate::time::format_duration;

/// Kind-specific checks for one phase.
pub(super) struct KindCx<'c, 'a, 'p> {
    pub(super) cx: &'c mut Cx<'a>,
    pub(super) p: &'p RawPhase,
    pub(super) kind: &'p str,
    pub(super) kind_span: Range<usize>,
    pub(super) label: &'p str,
    pub(super) warn: Option<Warn>,
    pub(super) defaults: &'p Defaults,
}

impl KindCx<'_, '_, '_> {
    pub(super) fn missing(&mut self, key: &str, what: &str) {
        let msg = format!(
            "{} phase `{}` needs `{key}` ({what})",
            article(self.kind),
            self.label
        );
        self.cx.err(self.kind_span.clone(), msg);
    }

    /// A required positive duration.
    fn req_dur(&mut self, v: &Option<Spanned<RawDur>>, key: &str, what: &str) -> Option<u64> {
        match v {
            Some(v) => self.cx.dur(v, key, false),
            None => {
                self.missing(key, what);
                None
            }
        }
    }

    /// An optional duration; `allow_zero` where zero means "none".
    fn opt_dur(
        &mut self,
        v: &Option<Spanned<RawDur>>,
        key: &str,
        allow_zero: bool,
    ) -> Option<Option<u64>> {
        match v {
            Some(v) => self.cx.dur(v, key, allow_zero).map(Some),
            None => Some(None),
        }
    }

    /// The warning must fit inside every timer it applies to.
    fn check_warn(&mut self, key: &str, ms: Option<u64>, span: Option<Range<usize>>) {
        let (Some(w), Some(ms), Some(span)) = (self.warn, ms, span) else {
            return;
        };
        if w.ms > 0 && w.ms >= ms {
            let source = if w.from_defaults {
                " (from [defaults])"
            } else {
                ""
            };
            let msg = format!(
                "warn_before{source} is {} but `{key}` is only {}; the warning must come before the end, so shorten warn_before for this phase (0 turns it off)",
                format_duration(w.ms),
                format_duration(ms)
            );
            self.cx.err(span, msg);
        }
    }

    fn flag(v: &Option<Spanned<bool>>, default: bool) -> bool {
        v.as_ref().map_or(default, |b| *b.get_ref())
    }

    fn turn_timeout(&mut self) -> Option<OnTimeout> {
        match &self.p.on_turn_timeout {
            Some(v) => self.cx.on_timeout(v, "on_turn_timeout"),
            None => Some(self.defaults.on_turn_timeout.unwrap_or(OnTimeout::Advance)),
        }
    }

    fn span<T>(v: &Option<Spanned<T>>) -> Option<Range<usize>> {
        v.as_ref().map(Spanned::span)
    }

    pub(super) fn presentation(&mut self) -> Option<PhaseKind> {
        let p = self.p;
        let duration = self.req_dur(
            &p.duration,
            "duration",
            "how long the speaker has, e.g. \"5m\"",
        );
        self.check_warn("duration", duration, Self::span(&p.duration));
        let speaker = match &p.speaker {
            Some(v) => self.cx.choice(
                v,
                "speaker",
                &[
                    ("facilitator", Presenter::Facilitator),
                    ("invited", Presenter::Invited),
                ],
            ),
            None => Some(Presenter::Facilitator),
        };
        Some(PhaseKind::Presentation(PresentationSpec {
            duration_ms: duration?,
            speaker: speaker?,
        }))
    }

    fn reflect_back(&mut self) -> Option<Option<ReflectBackSpec>> {
        let Some(rb) = &self.p.reflect_back else {
            return Some(None);
        };
        let raw = rb.get_ref();
        let reflect = match &raw.turn {
            Some(v) => self.cx.dur(v, "reflect_back.turn", false),
            None => {
                self.cx.err(
                    rb.span(),
                    "`reflect_back` needs `turn` (how long the reflect-back may take, e.g. \"1m\")"
                        .into(),
                );
                None
            }
        };
        self.check_warn("reflect_back.turn", reflect, Self::span(&raw.turn));
        let clarify = match &raw.clarify {
            Some(v) => self.cx.dur(v, "reflect_back.clarify", false),
            None => Some(30_000),
        };
        self.check_warn("reflect_back.clarify", clarify, Self::span(&raw.clarify));
        let confirm = match &raw.confirm {
            Some(v) => self.cx.dur(v, "reflect_back.confirm", false),
            None => Some(20_000),
        };
        let attempts = match &raw.attempts {
            Some(v) => self.cx.count(v, "reflect_back.attempts", 1),
            None => Some(2),
        };
        Some(Some(ReflectBackSpec {
            reflect_ms: reflect?,
            clarify_ms: clarify?,
            max_attempts: attempts?,
            confirm_ms: confirm?,
        }))
    }

    pub(super) fn round(&mut self) -> Option<PhaseKind> {
        let p = self.p;
        let order = match &p.order {
            Some(v) => self.cx.choice(
                v,
                "order",
                &[
                    ("join", RoundOrder::Join),
                    ("random", RoundOrder::Random),
                    ("alternate_communities", RoundOrder::AlternateCommunities),
                ],
            ),
            None => Some(RoundOrder::Join),
        };
        let turn = self.req_dur(&p.turn, "turn", "each speaker's time, e.g. \"2m\"");
        self.check_warn("turn", turn, Self::span(&p.turn));
        let think = self.opt_dur(&p.think, "think", true);
        let pause = self.opt_dur(&p.pause_between, "pause_between", true);
        let allow_pass = Self::flag(&p.pass, true);
        let allow_pass_for_now = Self::flag(&p.pass_for_now, false);
        let second_chance = Self::flag(&p.second_chance, false);
        if second_chance && !allow_pass && !allow_pass_for_now {
            let span = Self::span(&p.second_chance).unwrap_or(self.kind_span.clone());
            self.cx.err(span, "`second_chance` gives people who passed another turn, so it needs `pass` or `pass_for_now`".into());
        }
        let reflect_back = self.reflect_back();
        let on_turn_timeout = self.turn_timeout();
        Some(PhaseKind::Round(RoundSpec {
            order: order?,
            turn_ms: turn?,
            think_ms: think?.unwrap_or(0),
            pause_between_ms: pause?.unwrap_or(0),
            allow_pass,
            allow_pass_for_now,
            second_chance,
            reflect_back: reflect_back?,
            on_turn_timeout: on_turn_timeout?,
        }))
    }

    pub(super) fn queue(&mut self) -> Option<PhaseKind> {
        let p = self.p;
        let ordering = match &p.ordering {
            Some(v) => self.cx.choice(
                v,
                "ordering",
                &[
                    ("fifo", QueueOrdering::Fifo),
                    ("alternate_communities", QueueOrdering::AlternateCommunities),
                    ("alternate_stance", QueueOrdering::AlternateStance),
                    ("progressive", QueueOrdering::Progressive),
                    ("moderator", QueueOrdering::Moderator),
                ],
            ),
            None => Some(QueueOrdering::Fifo),
        };
        let turn = self.opt_dur(&p.turn, "turn", false);
        self.check_warn("turn", turn.flatten(), Self::span(&p.turn));
        let duration = self.opt_dur(&p.duration, "duration", false);
        self.check_warn("duration", duration.flatten(), Self::span(&p.duration));
        if let (Some(Some(t)), Some(Some(d))) = (turn, duration) {
            if t > d {
                let span = Self::span(&p.turn).unwrap_or(self.kind_span.clone());
                self.cx.err(
                    span,
                    format!(
                        "`turn` ({}) is longer than the phase `duration` ({})",
                        format_duration(t),
                        format_duration(d)
                    ),
                );
            }
        }
        let stances = match (&p.stances, ordering) {
            (Some(s), Some(QueueOrdering::AlternateStance)) => self.cx.labels(s, "stances", 2),
            (None, Some(QueueOrdering::AlternateStance)) => {
                self.missing("stances", "at least two lanes, e.g. [\"pro\", \"con\", \"question\"], for ordering = \"alternate_stance\"");
                None
            }
            (Some(s), Some(_)) => {
                self.cx.err(
                    s.span(),
                    "`stances` only applies with ordering = \"alternate_stance\"".into(),
                );
                None
            }
            (_, _) => Some(Vec::new()),
        };
        let reflect_back = self.reflect_back();
        let on_turn_timeout = self.turn_timeout();
        let nudge_after = self.opt_dur(&p.nudge_after, "nudge_after", false);
        let move_on = self.move_on();
        Some(PhaseKind::Queue(QueueSpec {
            ordering: ordering?,
            turn_ms: turn?,
            duration_ms: duration?,
            first_timers_first: Self::flag(&p.first_timers_first, false),
            stances: stances?,
            reflect_back: reflect_back?,
            on_turn_timeout: on_turn_timeout?,
            nudge_after_ms: nudge_after?,
            move_on: move_on?,
        }))
    }

    fn move_on(&mut self) -> Option<Option<MoveOnSpec>> {
        let Some(mo) = &self.p.move_on else {
            return Some(None);
        };
        let raw = mo.get_ref();
        let threshold = match &raw.threshold {
            Some(v) if *v.get_ref() > 100 => {
                self.cx.err(
                    v.span(),
                    format!(
                        "`move_on.threshold` is a percentage from 1 to 100, not {}",
                        v.get_ref()
                    ),
                );
                None
            }
            Some(v) => self.cx.count(v, "move_on.threshold", 1),
            None => {
                self.cx.err(mo.span(), "`move_on` needs `threshold`, the percentage of participants whose votes end the phase (e.g. 60)".into());
                None
            }
        };
        let offer = self.opt_dur(
            &raw.offer_after_silence,
            "move_on.offer_after_silence",
            false,
        );
        Some(Some(MoveOnSpec {
            threshold_pct: threshold?,
            offer_after_silence_ms: offer?,
        }))
    }

    pub(super) fn fishbowl(&mut self) -> Option<PhaseKind> {
        let p = self.p;
        let sides = match &p.sides {
            Some(v) => self.cx.choice(
                v,
                "sides",
                &[
                    ("community", FishbowlSides::Community),
                    ("stance", FishbowlSides::Stance),
                ],
            ),
            None => Some(FishbowlSides::Community),
        };
        let stances = match (&p.stances, sides) {
            (Some(s), Some(FishbowlSides::Stance)) => self.cx.labels(s, "stances", 2),
            (None, Some(FishbowlSides::Stance)) => {
                self.missing("stances", "at least two sides, for sides = \"stance\"");
                None
            }
            (Some(s), Some(_)) => {
                self.cx.err(
                    s.span(),
                    "`stances` only applies with sides = \"stance\"".into(),
                );
                None
            }
            (_, _) => Some(Vec::new()),
        };
        let swap = self.req_dur(
            &p.swap_after,
            "swap_after",
            "how long each side is in the inner circle, e.g. \"20m\"",
        );
        let turn = self.req_dur(&p.turn, "turn", "each speaker's time, e.g. \"2m\"");
        self.check_warn("turn", turn, Self::span(&p.turn));
        if let (Some(t), Some(s)) = (turn, swap) {
            if t > s {
                let span = Self::span(&p.turn).unwrap_or(self.kind_span.clone());
                self.cx.err(
                    span,
                    format!(
                        "`turn` ({}) is longer than `swap_after` ({})",
                        format_duration(t),
                        format_duration(s)
                    ),
                );
            }
        }
        let rounds = match &p.rounds {
            Some(v) => self.cx.count(v, "rounds", 1),
            None => Some(1),
        };
        Some(PhaseKind::Fishbowl(FishbowlSpec {
            sides: sides?,
            stances: stances?,
            swap_after_ms: swap?,
            turn_ms: turn?,
            rounds: rounds?,
        }))
    }

    pub(super) fn curiosity(&mut self) -> Option<PhaseKind> {
        let p = self.p;
        let budget = self.req_dur(
            &p.duration,
            "duration",
            "the phase's total time, e.g. \"15m\"",
        );
        self.check_warn("duration", budget, Self::span(&p.duration));
        let question = self.req_dur(
            &p.question_turn,
            "question_turn",
            "the cap on asking a question, e.g. \"30s\"",
        );
        self.check_warn("question_turn", question, Self::span(&p.question_turn));
        let answer = self.req_dur(
            &p.answer_turn,
            "answer_turn",
            "the cap on an answer, e.g. \"1m\"",
        );
        self.check_warn("answer_turn", answer, Self::span(&p.answer_turn));
        for (key, v, span) in [
            ("question_turn", question, Self::span(&p.question_turn)),
            ("answer_turn", answer, Self::span(&p.answer_turn)),
        ] {
            if let (Some(v), Some(b), Some(span)) = (v, budget, span) {
                if v > b {
                    self.cx.err(
                        span,
                        format!(
                            "`{key}` ({}) is longer than the phase `duration` ({})",
                            format_duration(v),
                            format_duration(b)
                        ),
                    );
                }
            }
        }
        Some(PhaseKind::Curiosity(CuriositySpec {
            budget_ms: budget?,
            question_ms: question?,
            answer_ms: answer?,
        }))
    }

    pub(super) fn reflection(&mut self, has_prompt: bool) -> Option<PhaseKind> {
        let p = self.p;
        let duration = self.req_dur(
            &p.duration,
            "duration",
            "how long the pause lasts, e.g. \"2m\"",
        );
        self.check_warn("duration", duration, Self::span(&p.duration));
        let notes = match &p.notes {
            Some(v) => self.cx.choice(
                v,
                "notes",
                &[
                    ("private", NoteVisibility::Private),
                    ("shared_anonymous", NoteVisibility::SharedAnonymous),
                    ("none", NoteVisibility::None),
                ],
            ),
            None => Some(NoteVisibility::Private),
        };
        if notes.is_some_and(|n| n != NoteVisibility::None) && !has_prompt {
            self.missing(
                "prompt",
                "what people write about; or set notes = \"none\" for a silent think timer",
            );
        }
        Some(PhaseKind::Reflection(ReflectionSpec {
            duration_ms: duration?,
            notes: notes?,
        }))
    }

    pub(super) fn breakout(&mut self) -> Option<PhaseKind> {
        let p = self.p;
        let duration = self.req_dur(
            &p.duration,
            "duration",
            "how long the groups meet, e.g. \"20m\"",
        );
        self.check_warn("duration", duration, Self::span(&p.duration));
        let group_size = match &p.group_size {
            Some(v) => self.cx.count(v, "group_size", 2),
            None => {
                self.missing("group_size", "the target size of each group, e.g. 4");
                None
            }
        };
        let min_group_size = match &p.min_group_size {
            Some(v) => self.cx.count(v, "min_group_size", 2),
            None => group_size.map(|_| 2),
        };
        if let (Some(g), Some(m), Some(v)) = (group_size, min_group_size, &p.min_group_size) {
            if m > g {
                self.cx.err(
                    v.span(),
                    format!("`min_group_size` ({m}) is larger than `group_size` ({g})"),
                );
            }
        }
        let protocol = match &p.protocol {
            Some(v) => {
                if !is_slug(v.get_ref()) {
                    self.cx.err(
                        v.span(),
                        slug_message("breakout protocol name", v.get_ref()),
                    );
                    None
                } else {
                    Some(v.get_ref().clone())
                }
            }
            None => {
                self.missing("protocol", "the name of the protocol each group runs");
                None
            }
        };
        let countdown = self.opt_dur(&p.closing_countdown, "closing_countdown", true);
        if let (Some(Some(c)), Some(d), Some(v)) = (countdown, duration, &p.closing_countdown) {
            if c >= d {
                self.cx.err(
                    v.span(),
                    format!(
                        "`closing_countdown` ({}) must be shorter than `duration` ({})",
                        format_duration(c),
                        format_duration(d)
                    ),
                );
            }
        }
        Some(PhaseKind::Breakout(BreakoutSpec {
            duration_ms: duration?,
            group_size: group_size?,
            min_group_size: min_group_size?,
            protocol: protocol?,
            closing_countdown_ms: countdown?.unwrap_or(0),
        }))
    }

    pub(super) fn qa(&mut self) -> Option<PhaseKind> {
        let p = self.p;
        let duration = self.opt_dur(&p.duration, "duration", false);
        self.check_warn("duration", duration.flatten(), Self::span(&p.duration));
        let answer = self.req_dur(
            &p.answer_turn,
            "answer_turn",
            "the time for answering one question, e.g. \"2m\"",
        );
        self.check_warn("answer_turn", answer, Self::span(&p.answer_turn));
        let max_chars = match &p.max_question_chars {
            Some(v) => self.cx.count(v, "max_question_chars", 10),
            None => Some(DEFAULT_MAX_QUESTION_CHARS),
        };
        Some(PhaseKind::Qa(QaSpec {
            duration_ms: duration?,
            answer_ms: answer?,
            max_question_chars: max_chars?,
            moderated: Self::flag(&p.moderated, false),
        }))
    }

    pub(super) fn poll(&mut self, polls: &BTreeMap<String, Vec<String>>) -> Option<PhaseKind> {
        let p = self.p;
        let question = match &p.question {
            Some(q) => Some(self.cx.text_value(q, "question")),
            None => {
                self.missing("question", "the question people vote on");
                None
            }
        };
        let choices = match &p.choices {
            Some(c) => self.cx.labels(c, "choices", 2),
            None => {
                self.missing("choices", "at least two answers, e.g. [\"yes\", \"no\"]");
                None
            }
        };
        let duration = self.opt_dur(&p.duration, "duration", false);
        self.check_warn("duration", duration.flatten(), Self::span(&p.duration));
        let reveal = match &p.reveal {
            Some(v) => self.cx.choice(
                v,
                "reveal",
                &[("live", Reveal::Live), ("at_close", Reveal::AtClose)],
            ),
            None => Some(Reveal::AtClose),
        };
        // Zero is allowed: the results go to everyone as the poll closes and the agenda moves
        // on at once. Only `at_close` polls hold the agenda; a live poll has shown them all along.
        let show_results = self.opt_dur(&p.show_results, "show_results", true);
        if let (Some(Reveal::Live), Some(v)) = (reveal, &p.show_results) {
            self.cx.err(
                v.span(),
                "`show_results` applies to `reveal = \"at_close\"` only: a live poll shows its results all along and moves on when it closes".to_string(),
            );
        }
        let pairs_with = match &p.pairs_with {
            None => Some(None),
            Some(v) => {
                let target = v.get_ref();
                match polls.get(target) {
                    None => {
                        self.cx.err(
                            v.span(),
                            format!("`pairs_with` must name an earlier poll phase; `{target}` is not one"),
                        );
                        None
                    }
                    Some(earlier) if choices.as_ref().is_some_and(|c| c != earlier) => {
                        self.cx.err(
                            v.span(),
                            format!(
                                "poll `{target}` has different choices ({}); a paired poll repeats the same choices in the same order",
                                earlier.join(", ")
                            ),
                        );
                        None
                    }
                    Some(_) => Some(Some(target.clone())),
                }
            }
        };
        Some(PhaseKind::Poll(PollSpec {
            question: question?,
            choices: choices?,
            duration_ms: duration?,
            reveal: reveal?,
            show_results_ms: show_results?.unwrap_or(DEFAULT_SHOW_RESULTS_MS),
            pairs_with: pairs_with?,
        }))
    }
}

fn article(kind: &str) -> &'static str {
    match kind {
        "presentation" => "the presentation",
        "round" => "the round",
        "queue" => "the queue",
        "fishbowl" => "the fishbowl",
        "curiosity" => "the curiosity",
        "reflection" => "the reflection",
        "breakout" => "the breakout",
        "qa" => "the qa",
        _ => "the poll",
    }
}
