//! What a session leaves behind: the transcript and the equity report, built from a room's
//! event log and its engine.
//!
//! Both are pure functions of the log, so they are the same whether computed live, after the
//! event, or on another node that replayed the log. Hidden messages never appear (only a
//! count does); private notes never appear at all.

pub mod report;
pub mod transcript;

use crate::engine::event::Event;

/// One logged event with its room sequence number.
#[derive(Debug, Clone, PartialEq)]
pub struct Logged {
    pub seq: u64,
    pub event: Event,
}
