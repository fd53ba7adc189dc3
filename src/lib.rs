//! Commonground: a real-time facilitation server for civil-discourse town halls.
//!
//! Layout (functional core, imperative shell):
//! - `cluster`: cluster-mode groundwork: the Redis primitives (lease with fencing epoch,
//!   one atomic append-and-publish step, history gaps, fenced snapshots).
//! - `engine`: the pure dialogue engine. One state machine per room; inputs carry the time;
//!   it reports events and its next deadline. All protocol rules live here.
//! - `protocol`: protocol files (`protocols/*.toml`) loaded and validated into typed phase
//!   configurations the engine consumes.
//! - `record`: the transcript and the equity report, built from a room's event log.
//! - `rehearse`: simulated sessions on the real engine with synthetic participants, to
//!   show a protocol's length and fairness before the event.
//! - `time`: instants on the server's timeline (Unix milliseconds).

pub mod cluster;
pub mod engine;
pub mod protocol;
pub mod record;
pub mod rehearse;
pub mod time;
