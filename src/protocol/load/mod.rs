//! Protocol files: TOML in, a validated [`Protocol`] or every problem with its location out.
//!
//! Loading happens in two passes. First the text is deserialized into raw structs that mirror
//! the file (`deny_unknown_fields`, so a misspelt key is an error rather than silently
//! ignored); a syntax or type error stops there with one diagnostic. Then the raw file is
//! checked as a whole and every semantic problem is collected, so an organizer fixes a file
//! in one go instead of one error per run. Loading never panics, whatever the input.
//!
//! The schema is documented for organizers in `docs/protocol-files.md`.
//!
//! This module holds the public API: [`parse`], [`load_file`], [`Library`] (the checks that
//! need every file at once) and the error types. The work is split by job:
//!
//! - `raw`: the serde structs that mirror the file, and which keys each phase kind accepts.
//! - `duration`: how organizers write durations (`"1m30s"` or whole seconds).
//! - `validate`: semantic checks that turn a raw file into [`Protocol`], collecting every
//!   problem; `validate/kind.rs` holds the checks specific to each phase kind.

mod duration;
mod raw;
#[cfg(test)]
mod tests;
mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::protocol::{PhaseKind, Protocol};

use validate::parse_located;

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
