//! Protocol definitions: the declarative agendas in `protocols/*.toml`.
//!
//! `spec` holds the typed, validated form the engine consumes; `load` turns TOML into it and
//! rejects a bad file with its path, line, column and what is wrong; `describe` prints what a
//! protocol does, phase by phase.

pub mod describe;
pub mod load;
mod spec;

pub use spec::*;
