//! Fuzz target: the protocol-file loader on arbitrary TOML text.
//!
//! Organizers write protocol files by hand, so the loader must answer any text with a
//! `Protocol` or diagnostics, never panic; and what it accepts must describe itself (the
//! describer walks every phase) and survive a library check with the shipped protocols.

#![no_main]

use std::path::Path;

use commonground::protocol::load::{parse, Library};
use libfuzzer_sys::fuzz_target;

const SMALL_GROUP: &str = include_str!("../../protocols/small-group-round.toml");

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(p) = parse(Path::new("fuzz.toml"), text) {
        let _ = commonground::protocol::describe::describe(&p, 12);
        let _ = commonground::protocol::describe::summary_line(&p);
    }
    let files = [
        (Path::new("fuzz.toml"), text),
        (Path::new("small-group-round.toml"), SMALL_GROUP),
    ];
    let _ = Library::from_texts(files);
});
