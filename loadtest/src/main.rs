//! Load generator for Commonground.
//!
//! The scenarios (townhall, breakouts, join-storm, cluster) land with the loadtest issue; until
//! then this binary only says so, so that nobody mistakes it for a measurement.

fn main() {
    eprintln!("loadtest: no scenarios yet; see the loadtest issue and BENCHMARKS.md");
    std::process::exit(2);
}
