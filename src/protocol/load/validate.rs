//! Semantic checks: turns a raw file into a `Protocol`, collecting every problem with its
//! line and column instead of stopping at the first.
//!
//! This file holds the file-level and phase-level checks shared by every phase kind, and the
//! checking context `Cx` that records diagnostics. The checks specific to each kind live in
//! `validate/kind.rs`.

mod kind;

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::Path;

use toml::Spanned;

use super::duration::{parse_duration_text, RawDur};
use super::raw::{allowed_keys, RawFile, RawPhase};
use super::{Diagnostic, Locations, MAX_DURATION_MS};
use crate::protocol::{GroupSize, OnTimeout, PhaseKind, PhaseSpec, Protocol};

use kind::KindCx;

/// Upper bound on any count in a file (group sizes, attempts, rounds, characters).
const MAX_COUNT: i64 = 10_000;

const KINDS: [&str; 9] = [
    "presentation",
    "round",
    "queue",
    "fishbowl",
    "curiosity",
    "reflection",
    "breakout",
    "qa",
    "poll",
];

pub(super) fn parse_located(
    path: &Path,
    text: &str,
) -> Result<(Protocol, Locations), Vec<Diagnostic>> {
    let mut cx = Cx {
        path,
        text,
        diags: Vec::new(),
    };
    let raw: RawFile = match toml::from_str(text) {
        Ok(r) => r,
        Err(e) => {
            let at = e.span().map_or(0, |s| s.start);
            cx.err(at..at, tidy_toml_message(e.message()));
            return Err(cx.diags);
        }
    };
    let built = cx.file(&raw);
    match built {
        Some(res) if cx.diags.is_empty() => Ok(res),
        _ => {
            if cx.diags.is_empty() {
                // Defensive: every `None` above comes with a diagnostic.
                cx.err(0..0, "the protocol file is invalid".to_string());
            }
            cx.diags.sort();
            Err(cx.diags)
        }
    }
}

/// Shortens serde's message for unknown keys: the full list of a phase's keys is long and
/// lives in the docs.
fn tidy_toml_message(msg: &str) -> String {
    let msg = msg.trim();
    match msg.strip_prefix("unknown field ") {
        Some(rest) => {
            let (key, expected) = rest.split_once(", expected").unwrap_or((rest, ""));
            if expected.matches('`').count() > 16 {
                format!("unknown key {key}; see docs/protocol-files.md for the keys each phase kind accepts")
            } else if expected.is_empty() {
                format!("unknown key {key}")
            } else {
                format!("unknown key {key}, expected{expected}")
            }
        }
        None => msg.replace("missing field", "missing key"),
    }
}

struct Cx<'a> {
    path: &'a Path,
    text: &'a str,
    diags: Vec<Diagnostic>,
}

/// The warning that applies to a phase and where it was set, for messages.
#[derive(Clone, Copy)]
struct Warn {
    ms: u64,
    from_defaults: bool,
}

impl Cx<'_> {
    fn pos(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        (line, column)
    }

    fn err(&mut self, span: Range<usize>, message: String) {
        let (line, column) = self.pos(span.start);
        self.diags.push(Diagnostic {
            path: self.path.to_path_buf(),
            line,
            column,
            message,
        });
    }

    fn file(&mut self, raw: &RawFile) -> Option<(Protocol, Locations)> {
        let name = match &raw.name {
            Some(n) => {
                if !is_slug(n.get_ref()) {
                    self.err(n.span(), slug_message("protocol name", n.get_ref()));
                }
                n.get_ref().clone()
            }
            None => {
                let stem = self
                    .path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or("")
                    .to_string();
                if !is_slug(&stem) {
                    self.err(
                        0..0,
                        format!(
                            "the file name `{stem}` is not a valid protocol name; add name = \"...\" using lowercase letters, digits and dashes"
                        ),
                    );
                }
                stem
            }
        };
        let name_pos = self.pos(raw.name.as_ref().map_or(0, |n| n.span().start));
        let title = match &raw.title {
            Some(t) => self.text_value(t, "title"),
            None => {
                self.err(
                    0..0,
                    "missing key `title` (the protocol's display name)".into(),
                );
                String::new()
            }
        };
        let description = match &raw.description {
            Some(d) => d.get_ref().trim().to_string(),
            None => String::new(),
        };
        let group_size = raw.group_size.as_ref().and_then(|g| {
            let min = self.count(&g.get_ref().min, "group_size.min", 2);
            let max = self.count(&g.get_ref().max, "group_size.max", 2);
            match (min, max) {
                (Some(min), Some(max)) if min > max => {
                    self.err(
                        g.span(),
                        format!("group_size.min ({min}) is larger than group_size.max ({max})"),
                    );
                    None
                }
                (Some(min), Some(max)) => Some(GroupSize { min, max }),
                _ => None,
            }
        });
        let defaults = raw.defaults.as_ref();
        let default_warn = defaults
            .and_then(|d| d.warn_before.as_ref())
            .and_then(|w| self.dur(w, "warn_before", true));
        let default_on_timeout = defaults
            .and_then(|d| d.on_timeout.as_ref())
            .and_then(|v| self.on_timeout(v, "on_timeout"));
        let default_on_turn_timeout = defaults
            .and_then(|d| d.on_turn_timeout.as_ref())
            .and_then(|v| self.on_timeout(v, "on_turn_timeout"));
        let defaults = Defaults {
            warn: default_warn.map(|ms| Warn {
                ms,
                from_defaults: true,
            }),
            on_timeout: default_on_timeout,
            on_turn_timeout: default_on_turn_timeout,
        };

        if raw.phase.is_empty() {
            self.err(
                0..0,
                "the protocol has no phases; add at least one [[phase]] table".into(),
            );
        }
        let mut phases = Vec::new();
        let mut ok = true;
        let mut seen_ids: BTreeMap<String, usize> = BTreeMap::new();
        let mut polls: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut breakouts = Vec::new();
        for (idx, p) in raw.phase.iter().enumerate() {
            let res = self.phase(idx, p, &defaults, &mut seen_ids, &polls);
            // An earlier poll is known by its id and choices even when something else in it
            // is wrong, so a later `pairs_with` is checked against what the file says.
            let raw = p.get_ref();
            if let (Some(kind), Some(id), Some(choices)) = (&raw.kind, &raw.id, &raw.choices) {
                if kind.get_ref() == "poll" {
                    let choices = choices
                        .get_ref()
                        .iter()
                        .map(|c| c.get_ref().trim().to_string())
                        .collect();
                    polls.entry(id.get_ref().clone()).or_insert(choices);
                }
            }
            match res {
                Some(spec) => {
                    if let (PhaseKind::Breakout(_), Some(proto)) =
                        (&spec.kind, &p.get_ref().protocol)
                    {
                        breakouts.push((idx, self.pos(proto.span().start)));
                    }
                    phases.push(spec);
                }
                None => ok = false,
            }
        }
        if !ok || phases.is_empty() {
            return None;
        }
        let protocol = Protocol {
            name,
            title,
            description,
            group_size,
            phases,
        };
        let locs = Locations {
            path: self.path.to_path_buf(),
            name: name_pos,
            breakouts,
        };
        Some((protocol, locs))
    }

    fn phase(
        &mut self,
        idx: usize,
        sp: &Spanned<RawPhase>,
        defaults: &Defaults,
        seen_ids: &mut BTreeMap<String, usize>,
        polls: &BTreeMap<String, Vec<String>>,
    ) -> Option<PhaseSpec> {
        let p = sp.get_ref();
        let header = sp.span();
        let n = idx + 1;
        let id = match &p.id {
            Some(id) => {
                let v = id.get_ref().clone();
                if !is_slug(&v) {
                    self.err(id.span(), slug_message("phase id", &v));
                } else if let Some(first) = seen_ids.get(&v) {
                    self.err(
                        id.span(),
                        format!("phase id `{v}` is already used by phase {first}"),
                    );
                } else {
                    seen_ids.insert(v.clone(), n);
                }
                Some(v)
            }
            None => {
                self.err(
                    header.clone(),
                    format!("phase {n} needs an `id` (e.g. id = \"round-1\")"),
                );
                None
            }
        };
        let label = id.clone().unwrap_or_else(|| format!("phase {n}"));
        let kind = match &p.kind {
            Some(k) if KINDS.contains(&k.get_ref().as_str()) => {
                Some((k.get_ref().clone(), k.span()))
            }
            Some(k) => {
                self.err(
                    k.span(),
                    format!(
                        "unknown phase kind `{}`; expected one of {}",
                        k.get_ref(),
                        KINDS.join(", ")
                    ),
                );
                None
            }
            None => {
                self.err(
                    header,
                    format!("{label} needs a `kind` ({})", KINDS.join(", ")),
                );
                None
            }
        };
        let title = p.title.as_ref().map(|t| self.text_value(t, "title"));
        let prompt = p.prompt.as_ref().map(|t| self.text_value(t, "prompt"));
        let warn = match &p.warn_before {
            Some(w) => self.dur(w, "warn_before", true).map(|ms| Warn {
                ms,
                from_defaults: false,
            }),
            None => defaults.warn,
        };
        let on_timeout = match &p.on_timeout {
            Some(v) => self.on_timeout(v, "on_timeout"),
            None => defaults.on_timeout,
        };
        let (kind, kind_span) = kind?;
        for (key, span) in p.specific_keys() {
            if !allowed_keys(&kind).contains(&key) {
                let msg = match key {
                    "reflect_back" => format!(
                        "`reflect_back` only applies to round and queue phases, not to a {kind} phase"
                    ),
                    _ => format!("`{key}` does not apply to a {kind} phase"),
                };
                self.err(span, msg);
            }
        }
        let mut k = KindCx {
            cx: self,
            p,
            kind: &kind,
            kind_span,
            label: &label,
            warn,
            defaults,
        };
        let needs_prompt = matches!(kind.as_str(), "round" | "queue" | "curiosity" | "fishbowl");
        if needs_prompt && prompt.is_none() {
            k.missing("prompt", "the question or instruction people answer");
        }
        let spec_kind = match kind.as_str() {
            "presentation" => k.presentation(),
            "round" => k.round(),
            "queue" => k.queue(),
            "fishbowl" => k.fishbowl(),
            "curiosity" => k.curiosity(),
            "reflection" => k.reflection(prompt.is_some()),
            "breakout" => k.breakout(),
            "qa" => k.qa(),
            _ => k.poll(polls),
        };
        let spec_kind = spec_kind?;
        Some(PhaseSpec {
            id: id?,
            title: title.unwrap_or_else(|| default_title(&spec_kind).to_string()),
            prompt,
            warn_before_ms: warn.map_or(0, |w| w.ms),
            on_timeout: on_timeout.unwrap_or(OnTimeout::Advance),
            kind: spec_kind,
        })
    }

    fn text_value(&mut self, v: &Spanned<String>, key: &str) -> String {
        let t = v.get_ref().trim().to_string();
        if t.is_empty() {
            self.err(v.span(), format!("`{key}` cannot be empty"));
        }
        t
    }

    /// A duration in milliseconds; zero is allowed only where it means "none".
    fn dur(&mut self, v: &Spanned<RawDur>, key: &str, allow_zero: bool) -> Option<u64> {
        let res = match v.get_ref() {
            RawDur::Text(s) => parse_duration_text(s),
            RawDur::Seconds(n) if *n < 0 => Err(format!(
                "`{key}` is negative ({n}); durations must be positive"
            )),
            RawDur::Seconds(n) => u64::try_from(*n)
                .ok()
                .and_then(|n| n.checked_mul(1000))
                .ok_or_else(|| format!("`{key}` is too long")),
            RawDur::Float(f) => Err(format!(
                "`{key}` = {f} is not a whole number of seconds; write e.g. 90 or \"1m30s\""
            )),
        };
        match res {
            Ok(0) if !allow_zero => {
                self.err(v.span(), format!("`{key}` must be longer than zero"));
                None
            }
            Ok(ms) if ms > MAX_DURATION_MS => {
                self.err(v.span(), format!("`{key}` is longer than 24 hours"));
                None
            }
            Ok(ms) => Some(ms),
            Err(msg) => {
                let msg = if msg.starts_with('`') {
                    msg
                } else {
                    format!("`{key}`: {msg}")
                };
                self.err(v.span(), msg);
                None
            }
        }
    }

    fn count(&mut self, v: &Spanned<i64>, key: &str, min: i64) -> Option<u32> {
        let n = *v.get_ref();
        if n < min || n > MAX_COUNT {
            self.err(
                v.span(),
                format!("`{key}` must be between {min} and {MAX_COUNT}, not {n}"),
            );
            return None;
        }
        u32::try_from(n).ok()
    }

    fn on_timeout(&mut self, v: &Spanned<String>, key: &str) -> Option<OnTimeout> {
        self.choice(
            v,
            key,
            &[
                ("advance", OnTimeout::Advance),
                ("overtime", OnTimeout::Overtime),
            ],
        )
    }

    fn choice<T: Copy>(
        &mut self,
        v: &Spanned<String>,
        key: &str,
        options: &[(&str, T)],
    ) -> Option<T> {
        let s = v.get_ref().as_str();
        match options.iter().find(|(name, _)| *name == s) {
            Some((_, t)) => Some(*t),
            None => {
                let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
                self.err(
                    v.span(),
                    format!("unknown {key} `{s}`; expected one of {}", names.join(", ")),
                );
                None
            }
        }
    }

    /// Checks a list of labels (stances, choices): non-empty, unique, at least `min`.
    fn labels(
        &mut self,
        v: &Spanned<Vec<Spanned<String>>>,
        key: &str,
        min: usize,
    ) -> Option<Vec<String>> {
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        let mut ok = true;
        for item in v.get_ref() {
            let t = item.get_ref().trim().to_string();
            if t.is_empty() {
                self.err(item.span(), format!("an entry of `{key}` is empty"));
                ok = false;
            } else if !seen.insert(t.to_lowercase()) {
                self.err(item.span(), format!("`{key}` lists \"{t}\" twice"));
                ok = false;
            }
            out.push(t);
        }
        if out.len() < min {
            self.err(
                v.span(),
                format!("`{key}` needs at least {min} entries, found {}", out.len()),
            );
            ok = false;
        }
        ok.then_some(out)
    }
}

struct Defaults {
    warn: Option<Warn>,
    on_timeout: Option<OnTimeout>,
    on_turn_timeout: Option<OnTimeout>,
}

fn default_title(kind: &PhaseKind) -> &'static str {
    match kind {
        PhaseKind::Presentation(_) => "Presentation",
        PhaseKind::Round(_) => "Go-round",
        PhaseKind::Queue(_) => "Open floor",
        PhaseKind::Fishbowl(_) => "Fishbowl",
        PhaseKind::Curiosity(_) => "Questions of curiosity",
        PhaseKind::Reflection(_) => "Reflection",
        PhaseKind::Breakout(_) => "Small groups",
        PhaseKind::Qa(_) => "Questions and answers",
        PhaseKind::Poll(_) => "Poll",
    }
}

/// Lowercase letters, digits and single dashes, not at either end; at most 64 characters.
fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
}

fn slug_message(what: &str, s: &str) -> String {
    format!("{what} `{s}` must use lowercase letters, digits and dashes (e.g. `living-room`)")
}
