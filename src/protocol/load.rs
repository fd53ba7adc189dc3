//! Protocol files: TOML in, a validated [`Protocol`] or every problem with its location out.
//!
//! Loading happens in two passes. First the text is deserialized into raw structs that mirror
//! the file (`deny_unknown_fields`, so a misspelt key is an error rather than silently
//! ignored); a syntax or type error stops there with one diagnostic. Then the raw file is
//! checked as a whole and every semantic problem is collected, so an organizer fixes a file
//! in one go instead of one error per run. Loading never panics, whatever the input.
//!
//! The schema is documented for organizers in `docs/protocol-files.md`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use toml::Spanned;

use crate::protocol::{
    BreakoutSpec, CuriositySpec, FishbowlSides, FishbowlSpec, GroupSize, NoteVisibility, OnTimeout,
    PhaseKind, PhaseSpec, PollSpec, PresentationSpec, Presenter, Protocol, QaSpec, QueueOrdering,
    QueueSpec, ReflectBackSpec, ReflectionSpec, Reveal, RoundOrder, RoundSpec,
};
use crate::time::format_duration;

/// One problem in a protocol file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Diagnostic {
    pub path: PathBuf,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.path.display(),
            self.line,
            self.column,
            self.message
        )
    }
}

/// Why protocols could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A file or directory could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// One or more files are invalid; every problem found, sorted by file and position.
    #[error("{}", display_diagnostics(.0))]
    Invalid(Vec<Diagnostic>),
}

fn display_diagnostics(diags: &[Diagnostic]) -> String {
    diags
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The longest duration a protocol file may name, anywhere.
pub const MAX_DURATION_MS: u64 = 24 * 3_600_000;
/// Default cap on an audience question's length.
pub const DEFAULT_MAX_QUESTION_CHARS: u32 = 280;
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

/// The protocols shipped with the repository.
pub fn default_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("protocols")
}

/// Parses and validates one protocol file. `path` is used for diagnostics and for the
/// default name (the file stem). Breakout references are not resolved here; see
/// [`Library::load_dir`].
pub fn parse(path: &Path, text: &str) -> Result<Protocol, Vec<Diagnostic>> {
    parse_located(path, text).map(|(p, _)| p)
}

/// Reads and parses one protocol file.
pub fn load_file(path: &Path) -> Result<Protocol, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &text).map_err(LoadError::Invalid)
}

/// Every loaded protocol, by name.
#[derive(Debug, Clone, Default)]
pub struct Library {
    protocols: BTreeMap<String, Arc<Protocol>>,
    paths: BTreeMap<String, PathBuf>,
}

impl Library {
    /// Loads every `*.toml` file in `dir` (not recursively), in name order, and checks them
    /// together: names are unique and breakout phases name a protocol of the library that has
    /// no breakout of its own.
    pub fn load_dir(dir: &Path) -> Result<Library, LoadError> {
        let io = |source| LoadError::Io {
            path: dir.to_path_buf(),
            source,
        };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            if path.extension().is_some_and(|e| e == "toml") && path.is_file() {
                files.push(path);
            }
        }
        files.sort();
        let mut texts = Vec::with_capacity(files.len());
        for path in files {
            let text = std::fs::read_to_string(&path).map_err(|source| LoadError::Io {
                path: path.clone(),
                source,
            })?;
            texts.push((path, text));
        }
        Library::from_texts(texts.iter().map(|(p, t)| (p.as_path(), t.as_str())))
    }

    /// Builds a library from file contents already in memory (`(path, text)` pairs).
    pub fn from_texts<'a>(
        files: impl IntoIterator<Item = (&'a Path, &'a str)>,
    ) -> Result<Library, LoadError> {
        let mut diags = Vec::new();
        let mut lib = Library::default();
        let mut locs: BTreeMap<String, Locations> = BTreeMap::new();
        for (path, text) in files {
            match parse_located(path, text) {
                Ok((protocol, loc)) => {
                    if let Some(first) = lib.paths.get(&protocol.name) {
                        diags.push(loc.diag(
                            loc.name,
                            format!(
                                "protocol name `{}` is already used by {}",
                                protocol.name,
                                first.display()
                            ),
                        ));
                        continue;
                    }
                    lib.paths.insert(protocol.name.clone(), path.to_path_buf());
                    locs.insert(protocol.name.clone(), loc);
                    lib.protocols
                        .insert(protocol.name.clone(), Arc::new(protocol));
                }
                Err(mut d) => diags.append(&mut d),
            }
        }
        for (name, protocol) in &lib.protocols {
            let Some(loc) = locs.get(name) else { continue };
            for (idx, at) in &loc.breakouts {
                let Some(PhaseKind::Breakout(b)) = protocol.phases.get(*idx).map(|p| &p.kind)
                else {
                    continue;
                };
                match lib.protocols.get(&b.protocol) {
                    None => {
                        let known = lib.protocols.keys().cloned().collect::<Vec<_>>().join(", ");
                        diags.push(loc.diag(
                            *at,
                            format!(
                                "breakout protocol `{}` is not in the library (known: {known})",
                                b.protocol
                            ),
                        ));
                    }
                    Some(sub) if has_breakout(sub) => diags.push(loc.diag(
                        *at,
                        format!(
                            "breakout protocol `{}` has a breakout phase itself; groups cannot split again",
                            b.protocol
                        ),
                    )),
                    Some(_) => {}
                }
            }
        }
        if diags.is_empty() {
            Ok(lib)
        } else {
            diags.sort();
            Err(LoadError::Invalid(diags))
        }
    }

    pub fn get(&self, name: &str) -> Option<Arc<Protocol>> {
        self.protocols.get(name).cloned()
    }

    /// The file a protocol was loaded from.
    pub fn path(&self, name: &str) -> Option<&Path> {
        self.paths.get(name).map(PathBuf::as_path)
    }

    /// Protocols in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Arc<Protocol>)> + '_ {
        self.protocols.iter().map(|(n, p)| (n.as_str(), p))
    }

    pub fn names(&self) -> Vec<&str> {
        self.protocols.keys().map(String::as_str).collect()
    }

    pub fn len(&self) -> usize {
        self.protocols.len()
    }

    pub fn is_empty(&self) -> bool {
        self.protocols.is_empty()
    }
}

fn has_breakout(p: &Protocol) -> bool {
    p.phases
        .iter()
        .any(|ph| matches!(ph.kind, PhaseKind::Breakout(_)))
}

/// Where things are in a parsed file, for checks that need the whole library.
#[derive(Debug)]
struct Locations {
    path: PathBuf,
    name: (usize, usize),
    /// Phase index and the position of its `protocol` value.
    breakouts: Vec<(usize, (usize, usize))>,
}

impl Locations {
    fn diag(&self, (line, column): (usize, usize), message: String) -> Diagnostic {
        Diagnostic {
            path: self.path.clone(),
            line,
            column,
            message,
        }
    }
}

// Raw form: mirrors the file.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    name: Option<Spanned<String>>,
    title: Option<Spanned<String>>,
    description: Option<Spanned<String>>,
    group_size: Option<Spanned<RawGroupSize>>,
    defaults: Option<RawDefaults>,
    #[serde(default)]
    phase: Vec<Spanned<RawPhase>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroupSize {
    min: Spanned<i64>,
    max: Spanned<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    warn_before: Option<Spanned<RawDur>>,
    on_timeout: Option<Spanned<String>>,
    on_turn_timeout: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPhase {
    id: Option<Spanned<String>>,
    kind: Option<Spanned<String>>,
    title: Option<Spanned<String>>,
    prompt: Option<Spanned<String>>,
    warn_before: Option<Spanned<RawDur>>,
    on_timeout: Option<Spanned<String>>,
    duration: Option<Spanned<RawDur>>,
    // presentation
    speaker: Option<Spanned<String>>,
    // round
    order: Option<Spanned<String>>,
    turn: Option<Spanned<RawDur>>,
    think: Option<Spanned<RawDur>>,
    pause_between: Option<Spanned<RawDur>>,
    pass: Option<Spanned<bool>>,
    pass_for_now: Option<Spanned<bool>>,
    second_chance: Option<Spanned<bool>>,
    on_turn_timeout: Option<Spanned<String>>,
    reflect_back: Option<Spanned<RawReflectBack>>,
    // queue
    ordering: Option<Spanned<String>>,
    first_timers_first: Option<Spanned<bool>>,
    stances: Option<Spanned<Vec<Spanned<String>>>>,
    // fishbowl
    sides: Option<Spanned<String>>,
    swap_after: Option<Spanned<RawDur>>,
    rounds: Option<Spanned<i64>>,
    // curiosity, qa
    question_turn: Option<Spanned<RawDur>>,
    answer_turn: Option<Spanned<RawDur>>,
    max_question_chars: Option<Spanned<i64>>,
    // reflection
    notes: Option<Spanned<String>>,
    // breakout
    group_size: Option<Spanned<i64>>,
    min_group_size: Option<Spanned<i64>>,
    protocol: Option<Spanned<String>>,
    closing_countdown: Option<Spanned<RawDur>>,
    // poll
    question: Option<Spanned<String>>,
    choices: Option<Spanned<Vec<Spanned<String>>>>,
    reveal: Option<Spanned<String>>,
    pairs_with: Option<Spanned<String>>,
}

impl RawPhase {
    /// Kind-specific keys that are present, with their spans.
    fn specific_keys(&self) -> Vec<(&'static str, Range<usize>)> {
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
            ("sides", s(&self.sides)),
            ("swap_after", s(&self.swap_after)),
            ("rounds", s(&self.rounds)),
            ("question_turn", s(&self.question_turn)),
            ("answer_turn", s(&self.answer_turn)),
            ("max_question_chars", s(&self.max_question_chars)),
            ("notes", s(&self.notes)),
            ("group_size", s(&self.group_size)),
            ("min_group_size", s(&self.min_group_size)),
            ("protocol", s(&self.protocol)),
            ("closing_countdown", s(&self.closing_countdown)),
            ("question", s(&self.question)),
            ("choices", s(&self.choices)),
            ("reveal", s(&self.reveal)),
            ("pairs_with", s(&self.pairs_with)),
        ]
        .into_iter()
        .filter_map(|(k, span)| span.map(|sp| (k, sp)))
        .collect()
    }
}

/// The kind-specific keys each kind accepts (besides id, kind, title, prompt, warn_before,
/// on_timeout).
fn allowed_keys(kind: &str) -> &'static [&'static str] {
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
        "qa" => &["duration", "answer_turn", "max_question_chars"],
        "poll" => &["question", "choices", "duration", "reveal", "pairs_with"],
        _ => &[],
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReflectBack {
    turn: Option<Spanned<RawDur>>,
    clarify: Option<Spanned<RawDur>>,
    attempts: Option<Spanned<i64>>,
    confirm: Option<Spanned<RawDur>>,
}

/// A duration as written: a string such as `"1m30s"`, or whole seconds.
#[derive(Debug, Clone, PartialEq)]
enum RawDur {
    Text(String),
    Seconds(i64),
    Float(f64),
}

impl<'de> Deserialize<'de> for RawDur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<RawDur, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = RawDur;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"90s\", \"2m\" or \"1m30s\", or whole seconds")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawDur, E> {
                Ok(RawDur::Text(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawDur, E> {
                Ok(RawDur::Seconds(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawDur, E> {
                Ok(RawDur::Seconds(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawDur, E> {
                Ok(RawDur::Float(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// Parses `"1h15m"`, `"90s"`, `"1m30s"`, `"500ms"` into milliseconds. Units go from largest
/// to smallest, each at most once; spaces between parts are allowed.
fn parse_duration_text(s: &str) -> Result<u64, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("a duration cannot be empty; write e.g. \"90s\", \"2m\" or \"1m30s\"".into());
    }
    if let Some(rest) = t.strip_prefix('-') {
        if rest.chars().next().is_some_and(|c| c.is_ascii_digit()) {
            return Err(format!(
                "duration \"{s}\" is negative; durations must be positive"
            ));
        }
    }
    let garbage =
        || format!("\"{s}\" is not a duration; write e.g. \"90s\", \"2m\", \"1m30s\" or \"1h15m\"");
    const UNITS: [(&str, u64); 4] = [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)];
    let mut total: u64 = 0;
    let mut last_unit = None;
    let mut rest = t;
    while !rest.is_empty() {
        rest = rest.trim_start();
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if digits == 0 {
            return Err(garbage());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| garbage())?;
        rest = &rest[digits..];
        let unit_len = rest.chars().take_while(char::is_ascii_alphabetic).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let Some(pos) = UNITS.iter().position(|(u, _)| *u == unit) else {
            return Err(if unit.is_empty() {
                format!("\"{s}\" needs a unit after each number (h, m, s or ms), e.g. \"90s\"")
            } else {
                format!("\"{s}\" has an unknown unit `{unit}`; use h, m, s or ms")
            });
        };
        if last_unit.is_some_and(|l| pos <= l) {
            return Err(format!(
                "\"{s}\" repeats a unit or puts a smaller unit first; write e.g. \"1h15m\""
            ));
        }
        last_unit = Some(pos);
        total = n
            .checked_mul(UNITS[pos].1)
            .and_then(|ms| total.checked_add(ms))
            .ok_or_else(|| format!("duration \"{s}\" is too long"))?;
    }
    Ok(total)
}

// Validation.

fn parse_located(path: &Path, text: &str) -> Result<(Protocol, Locations), Vec<Diagnostic>> {
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

/// Kind-specific checks for one phase.
struct KindCx<'c, 'a, 'p> {
    cx: &'c mut Cx<'a>,
    p: &'p RawPhase,
    kind: &'p str,
    kind_span: Range<usize>,
    label: &'p str,
    warn: Option<Warn>,
    defaults: &'p Defaults,
}

impl KindCx<'_, '_, '_> {
    fn missing(&mut self, key: &str, what: &str) {
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

    fn presentation(&mut self) -> Option<PhaseKind> {
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

    fn round(&mut self) -> Option<PhaseKind> {
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

    fn queue(&mut self) -> Option<PhaseKind> {
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
        Some(PhaseKind::Queue(QueueSpec {
            ordering: ordering?,
            turn_ms: turn?,
            duration_ms: duration?,
            first_timers_first: Self::flag(&p.first_timers_first, false),
            stances: stances?,
            reflect_back: reflect_back?,
            on_turn_timeout: on_turn_timeout?,
        }))
    }

    fn fishbowl(&mut self) -> Option<PhaseKind> {
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

    fn curiosity(&mut self) -> Option<PhaseKind> {
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

    fn reflection(&mut self, has_prompt: bool) -> Option<PhaseKind> {
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

    fn breakout(&mut self) -> Option<PhaseKind> {
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

    fn qa(&mut self) -> Option<PhaseKind> {
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
        }))
    }

    fn poll(&mut self, polls: &BTreeMap<String, Vec<String>>) -> Option<PhaseKind> {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Diagnostics as `line:column: message`.
    fn errs(text: &str) -> Vec<String> {
        match parse(Path::new("p.toml"), text) {
            Ok(p) => panic!("expected diagnostics, parsed {}", p.name),
            Err(d) => d
                .iter()
                .map(|d| format!("{}:{}: {}", d.line, d.column, d.message))
                .collect(),
        }
    }

    /// Positions only, for tests where the wording is checked elsewhere.
    fn positions(text: &str) -> Vec<(usize, usize)> {
        parse(Path::new("p.toml"), text)
            .unwrap_err()
            .iter()
            .map(|d| (d.line, d.column))
            .collect()
    }

    const HEAD: &str = "title = \"T\"\n";

    fn round(extra: &str) -> String {
        format!("{HEAD}[[phase]]\nid = \"r\"\nkind = \"round\"\nprompt = \"Why?\"\nturn = \"2m\"\n{extra}")
    }

    #[test]
    fn parses_a_full_round() {
        let p = parse(
            Path::new("dir/my-proto.toml"),
            &round("think = 60\npause_between = \"5s\"\npass_for_now = true\nreflect_back = { turn = \"1m\" }\n"),
        )
        .unwrap();
        assert_eq!(p.name, "my-proto");
        assert_eq!(p.phases[0].title, "Go-round");
        let PhaseKind::Round(r) = &p.phases[0].kind else {
            panic!("not a round")
        };
        assert_eq!(
            (r.turn_ms, r.think_ms, r.pause_between_ms),
            (120_000, 60_000, 5_000)
        );
        assert!(r.allow_pass && r.allow_pass_for_now && !r.second_chance);
        assert_eq!(
            r.reflect_back,
            Some(ReflectBackSpec {
                reflect_ms: 60_000,
                clarify_ms: 30_000,
                max_attempts: 2,
                confirm_ms: 20_000
            })
        );
    }

    #[test]
    fn durations_accept_organizer_forms() {
        for (s, ms) in [
            ("90s", 90_000),
            ("2m", 120_000),
            ("1m30s", 90_000),
            ("1h", 3_600_000),
            ("1h15m", 4_500_000),
            ("1m 30s", 90_000),
            ("500ms", 500),
        ] {
            assert_eq!(parse_duration_text(s), Ok(ms), "{s}");
        }
        for s in [
            "",
            "2",
            "m",
            "2x",
            "30s1m",
            "1m1m",
            "-5s",
            "1.5m",
            "two minutes",
        ] {
            assert!(parse_duration_text(s).is_err(), "{s}");
        }
    }

    #[test]
    fn unknown_phase_kind() {
        assert_eq!(
            errs(&format!("{HEAD}[[phase]]\nid = \"x\"\nkind = \"debate\"\n")),
            ["4:8: unknown phase kind `debate`; expected one of presentation, round, queue, fishbowl, curiosity, reflection, breakout, qa, poll"]
        );
    }

    #[test]
    fn zero_negative_and_garbage_durations() {
        let text = format!(
            "{HEAD}[[phase]]\nid = \"a\"\nkind = \"presentation\"\nduration = 0\n\
             [[phase]]\nid = \"b\"\nkind = \"presentation\"\nduration = -30\n\
             [[phase]]\nid = \"c\"\nkind = \"presentation\"\nduration = \"soon\"\n\
             [[phase]]\nid = \"d\"\nkind = \"presentation\"\nduration = \"0m\"\n"
        );
        assert_eq!(
            errs(&text),
            [
                "5:12: `duration` must be longer than zero",
                "9:12: `duration` is negative (-30); durations must be positive",
                "13:12: `duration`: \"soon\" is not a duration; write e.g. \"90s\", \"2m\", \"1m30s\" or \"1h15m\"",
                "17:12: `duration` must be longer than zero",
            ]
        );
    }

    #[test]
    fn warning_longer_than_its_turn() {
        assert_eq!(
            errs(&round("warn_before = \"2m\"\n")),
            ["6:8: warn_before is 2m but `turn` is only 2m; the warning must come before the end, so shorten warn_before for this phase (0 turns it off)"]
        );
        // A warning from [defaults] names its source and points at the shorter duration.
        let text = round("reflect_back = { turn = \"20s\" }\n").replacen(
            HEAD,
            &format!("{HEAD}[defaults]\nwarn_before = \"30s\"\n"),
            1,
        );
        let e = errs(&text);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with(
                "9:25: warn_before (from [defaults]) is 30s but `reflect_back.turn` is only 20s"
            ),
            "{e:?}"
        );
    }

    #[test]
    fn reflect_back_on_a_phase_without_turns() {
        assert_eq!(
            errs(&format!(
                "{HEAD}[[phase]]\nid = \"t\"\nkind = \"reflection\"\nduration = \"2m\"\nnotes = \"none\"\nreflect_back = {{ turn = \"1m\" }}\n"
            )),
            ["7:16: `reflect_back` only applies to round and queue phases, not to a reflection phase"]
        );
    }

    #[test]
    fn unknown_ordering_and_order() {
        let text = format!(
            "{HEAD}[[phase]]\nid = \"q\"\nkind = \"queue\"\nprompt = \"Go\"\nordering = \"loudest\"\n{}",
            round("order = \"alphabetical\"\n").trim_start_matches(HEAD)
        );
        assert_eq!(
            errs(&text),
            [
                "6:12: unknown ordering `loudest`; expected one of fifo, alternate_communities, alternate_stance, progressive, moderator",
                "12:9: unknown order `alphabetical`; expected one of join, random, alternate_communities",
            ]
        );
    }

    #[test]
    fn duplicate_phase_id() {
        let text = format!("{}{}", round(""), round("").trim_start_matches(HEAD));
        assert_eq!(
            errs(&text),
            ["8:6: phase id `r` is already used by phase 1"]
        );
    }

    #[test]
    fn missing_prompt_where_required() {
        let text = format!(
            "{HEAD}[[phase]]\nid = \"r\"\nkind = \"round\"\nturn = \"2m\"\n\
             [[phase]]\nid = \"q\"\nkind = \"queue\"\n\
             [[phase]]\nid = \"c\"\nkind = \"curiosity\"\nduration = \"10m\"\nquestion_turn = \"30s\"\nanswer_turn = \"1m\"\n\
             [[phase]]\nid = \"f\"\nkind = \"fishbowl\"\nswap_after = \"10m\"\nturn = \"2m\"\n\
             [[phase]]\nid = \"n\"\nkind = \"reflection\"\nduration = \"2m\"\n\
             [[phase]]\nid = \"p\"\nkind = \"poll\"\nchoices = [\"yes\", \"no\"]\n\
             [[phase]]\nid = \"s\"\nkind = \"reflection\"\nduration = \"2m\"\nnotes = \"none\"\n\
             [[phase]]\nid = \"talk\"\nkind = \"presentation\"\nduration = \"2m\"\n\
             [[phase]]\nid = \"ask\"\nkind = \"qa\"\nanswer_turn = \"2m\"\n"
        );
        let e = errs(&text);
        assert_eq!(
            e,
            [
                "4:8: the round phase `r` needs `prompt` (the question or instruction people answer)",
                "8:8: the queue phase `q` needs `prompt` (the question or instruction people answer)",
                "11:8: the curiosity phase `c` needs `prompt` (the question or instruction people answer)",
                "17:8: the fishbowl phase `f` needs `prompt` (the question or instruction people answer)",
                "22:8: the reflection phase `n` needs `prompt` (what people write about; or set notes = \"none\" for a silent think timer)",
                "26:8: the poll phase `p` needs `question` (the question people vote on)",
            ]
        );
    }

    #[test]
    fn unknown_keys_at_top_level_and_in_a_phase() {
        assert_eq!(
            errs("title = \"T\"\ncolour = \"blue\"\n"),
            ["2:1: unknown key `colour`, expected one of `name`, `title`, `description`, `group_size`, `defaults`, `phase`"]
        );
        assert_eq!(
            errs(&round("turn_length = \"2m\"\n")),
            ["7:1: unknown key `turn_length`; see docs/protocol-files.md for the keys each phase kind accepts"]
        );
        // A known key on the wrong kind is a semantic error, reported with the others.
        assert_eq!(
            errs(&round("duration = \"5m\"\n")),
            ["7:12: `duration` does not apply to a round phase"]
        );
        assert_eq!(
            errs(&round("reflect_back = { turn = \"1m\", listen = \"1m\" }\n")),
            ["7:31: unknown key `listen`, expected one of `turn`, `clarify`, `attempts`, `confirm`"]
        );
    }

    #[test]
    fn empty_phase_list() {
        assert_eq!(
            errs(HEAD),
            ["1:1: the protocol has no phases; add at least one [[phase]] table"]
        );
    }

    #[test]
    fn alternate_stance_without_stances() {
        let q = |extra: &str| {
            format!("{HEAD}[[phase]]\nid = \"q\"\nkind = \"queue\"\nprompt = \"Go\"\nordering = \"alternate_stance\"\n{extra}")
        };
        assert_eq!(
            errs(&q("")),
            ["4:8: the queue phase `q` needs `stances` (at least two lanes, e.g. [\"pro\", \"con\", \"question\"], for ordering = \"alternate_stance\")"]
        );
        assert_eq!(
            errs(&q("stances = [\"pro\"]\n")),
            ["7:11: `stances` needs at least 2 entries, found 1"]
        );
        assert_eq!(
            errs(&q("stances = [\"pro\", \"Pro\"]\n")),
            ["7:19: `stances` lists \"Pro\" twice"]
        );
    }

    #[test]
    fn bad_poll_pairing() {
        let poll = |id: &str, choices: &str, extra: &str| {
            format!("[[phase]]\nid = \"{id}\"\nkind = \"poll\"\nquestion = \"Q?\"\nchoices = {choices}\n{extra}")
        };
        let text = format!(
            "{HEAD}{}{}{}",
            poll("before", "[\"yes\", \"no\"]", "pairs_with = \"after\"\n"),
            poll("after", "[\"no\", \"yes\"]", "pairs_with = \"before\"\n"),
            poll("again", "[\"yes\", \"yes\"]", "")
        );
        assert_eq!(
            errs(&text),
            [
                "7:14: `pairs_with` must name an earlier poll phase; `after` is not one",
                "13:14: poll `before` has different choices (yes, no); a paired poll repeats the same choices in the same order",
                "18:19: `choices` lists \"yes\" twice",
            ]
        );
    }

    #[test]
    fn group_sizes_and_breakouts_are_sane() {
        let text = "title = \"T\"\ngroup_size = { min = 8, max = 4 }\n[[phase]]\nid = \"b\"\nkind = \"breakout\"\n\
             duration = \"10m\"\ngroup_size = 4\nmin_group_size = 5\nprotocol = \"Small Group\"\nclosing_countdown = \"10m\"\n";
        assert_eq!(
            errs(text),
            [
                "2:14: group_size.min (8) is larger than group_size.max (4)",
                "8:18: `min_group_size` (5) is larger than `group_size` (4)",
                "9:12: breakout protocol name `Small Group` must use lowercase letters, digits and dashes (e.g. `living-room`)",
                "10:21: `closing_countdown` (10m) must be shorter than `duration` (10m)",
            ]
        );
    }

    #[test]
    fn fishbowl_needs_a_round() {
        let text = format!(
            "{HEAD}[[phase]]\nid = \"f\"\nkind = \"fishbowl\"\nprompt = \"Why?\"\nswap_after = \"10m\"\nturn = \"2m\"\nrounds = 0\n"
        );
        assert_eq!(
            errs(&text),
            ["8:10: `rounds` must be between 1 and 10000, not 0"]
        );
    }

    #[test]
    fn several_problems_are_all_reported() {
        let text = "name = \"Bad Name\"\ntitle = \"\"\n\
                    [[phase]]\nid = \"r\"\nkind = \"round\"\nturn = \"0s\"\norder = \"loud\"\n\
                    [[phase]]\nid = \"r\"\nkind = \"chat\"\n\
                    [[phase]]\nkind = \"presentation\"\n";
        assert_eq!(
            positions(text),
            [
                (1, 8),
                (2, 9),
                (5, 8),
                (6, 8),
                (7, 9),
                (9, 6),
                (10, 8),
                (11, 1),
                (12, 8)
            ]
        );
        assert_eq!(errs(text).len(), 9);
    }

    #[test]
    fn toml_syntax_errors_have_one_located_diagnostic() {
        assert_eq!(errs("title = \"T\"\n[[phase]\n").len(), 1);
        assert_eq!(positions("title = \"T\"\nx = [1,\n")[0].0, 2);
        assert_eq!(
            errs("title = 5\n"),
            ["1:9: invalid type: integer `5`, expected a string"]
        );
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let text = "title = \"Café\"\n[[phase]]\nid = \"ü\"\nkind = \"poll\"\n";
        assert_eq!(positions(text)[0], (3, 6));
    }

    #[test]
    fn truncations_of_a_valid_file_never_panic() {
        let full = std::fs::read_to_string(default_dir().join("joint-town-hall.toml")).unwrap();
        assert!(parse(Path::new("joint-town-hall.toml"), &full).is_ok());
        for cut in (0..=full.len()).filter(|i| full.is_char_boundary(*i)) {
            let res = parse(Path::new("joint-town-hall.toml"), &full[..cut]);
            if let Err(d) = res {
                assert!(!d.is_empty());
                assert!(d.iter().all(|d| d.line >= 1 && d.column >= 1));
            }
        }
        // Byte soup built from the file's own lines, shuffled.
        let lines: Vec<&str> = full.lines().collect();
        for step in 1..lines.len() {
            let mixed: String = (0..lines.len())
                .map(|i| lines[(i * step) % lines.len()])
                .collect::<Vec<_>>()
                .join("\n");
            let _ = parse(Path::new("x.toml"), &mixed);
        }
    }

    #[test]
    fn library_checks_names_and_breakout_references() {
        let main = "title = \"Main\"\n[[phase]]\nid = \"groups\"\nkind = \"breakout\"\nduration = \"10m\"\ngroup_size = 4\nprotocol = \"sub\"\n";
        let sub_ok =
            "title = \"Sub\"\n[[phase]]\nid = \"t\"\nkind = \"presentation\"\nduration = \"1m\"\n";
        let lib = Library::from_texts([
            (Path::new("main.toml"), main),
            (Path::new("sub.toml"), sub_ok),
        ])
        .unwrap();
        assert_eq!(lib.names(), ["main", "sub"]);
        assert_eq!(lib.len(), 2);
        assert!(lib.get("sub").is_some());

        let missing = Library::from_texts([(Path::new("main.toml"), main)])
            .unwrap_err()
            .to_string();
        assert_eq!(
            missing,
            "main.toml:7:12: breakout protocol `sub` is not in the library (known: main)"
        );

        let nested = main.replace("protocol = \"sub\"", "protocol = \"main\"");
        let e = Library::from_texts([(Path::new("main.toml"), nested.as_str())])
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("main.toml:7:12: breakout protocol `main` has a breakout phase itself"),
            "{e}"
        );

        let dup = format!("name = \"sub\"\n{sub_ok}");
        let e = Library::from_texts([
            (Path::new("a.toml"), dup.as_str()),
            (Path::new("sub.toml"), sub_ok),
        ])
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "sub.toml:1:1: protocol name `sub` is already used by a.toml"
        );
    }

    #[test]
    fn shipped_protocols_load() {
        let lib = Library::load_dir(&default_dir()).unwrap();
        assert!(lib.len() >= 8);
        assert!(lib.get("joint-town-hall").is_some());
    }
}
