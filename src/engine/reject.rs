//! Refusals: bad input is normal traffic, so it is a value with a stable code, not an error.
//!
//! A refused command changes nothing. The code is part of the wire protocol (clients switch on
//! it); the message is a sentence for people.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Stable machine codes for refusals. Adding one is a wire-protocol change: document it in
/// `docs/wire-protocol.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectCode {
    /// The member's role may not send this command.
    Forbidden,
    /// The command needs the floor, or the turn, and the member does not have it.
    NotYourTurn,
    /// The current phase (or no phase) does not accept this command.
    WrongPhase,
    /// The session has not started yet.
    NotStarted,
    /// The session is paused.
    Paused,
    /// The session has ended.
    Ended,
    /// The session already started.
    AlreadyStarted,
    /// A field has a bad value (empty text, unknown choice, bad position).
    Invalid,
    /// The text is longer than the limit.
    TooLong,
    /// The named member is not in the room.
    UnknownMember,
    /// The member is muted by a moderator.
    Muted,
    /// The member was removed from the room.
    Removed,
    /// The protocol does not allow this here (for example passing where passing is off).
    NotAllowed,
    /// Hand already raised.
    AlreadyQueued,
    /// Hand not raised.
    NotQueued,
    /// Nobody holds the floor.
    NoFloor,
    /// No pending invitation to accept or decline.
    NoInvitation,
    /// The question, message or poll choice does not exist.
    UnknownItem,
    /// Already done once (one up-vote per question).
    Duplicate,
    /// The member already has the most open reports allowed; wait until a moderator handles
    /// one.
    TooManyReports,
    /// The member already asked the most questions allowed in this phase, or the phase holds
    /// the most questions allowed: a bound on what every snapshot and the record carry.
    TooManyQuestions,
    /// The poll has closed and its results are being shown: no more votes.
    PollClosed,
    /// The member has written their share of the room's record, or the record is full
    /// (`engine::budget`); staff have been told.
    OverBudget,
}

impl RejectCode {
    pub fn as_str(self) -> &'static str {
        match self {
            RejectCode::Forbidden => "forbidden",
            RejectCode::NotYourTurn => "not_your_turn",
            RejectCode::WrongPhase => "wrong_phase",
            RejectCode::NotStarted => "not_started",
            RejectCode::Paused => "paused",
            RejectCode::Ended => "ended",
            RejectCode::AlreadyStarted => "already_started",
            RejectCode::Invalid => "invalid",
            RejectCode::TooLong => "too_long",
            RejectCode::UnknownMember => "unknown_member",
            RejectCode::Muted => "muted",
            RejectCode::Removed => "removed",
            RejectCode::NotAllowed => "not_allowed",
            RejectCode::AlreadyQueued => "already_queued",
            RejectCode::NotQueued => "not_queued",
            RejectCode::NoFloor => "no_floor",
            RejectCode::NoInvitation => "no_invitation",
            RejectCode::UnknownItem => "unknown_item",
            RejectCode::Duplicate => "duplicate",
            RejectCode::TooManyReports => "too_many_reports",
            RejectCode::TooManyQuestions => "too_many_questions",
            RejectCode::PollClosed => "poll_closed",
            RejectCode::OverBudget => "over_budget",
        }
    }

    pub const ALL: [RejectCode; 23] = [
        RejectCode::Forbidden,
        RejectCode::NotYourTurn,
        RejectCode::WrongPhase,
        RejectCode::NotStarted,
        RejectCode::Paused,
        RejectCode::Ended,
        RejectCode::AlreadyStarted,
        RejectCode::Invalid,
        RejectCode::TooLong,
        RejectCode::UnknownMember,
        RejectCode::Muted,
        RejectCode::Removed,
        RejectCode::NotAllowed,
        RejectCode::AlreadyQueued,
        RejectCode::NotQueued,
        RejectCode::NoFloor,
        RejectCode::NoInvitation,
        RejectCode::UnknownItem,
        RejectCode::Duplicate,
        RejectCode::TooManyReports,
        RejectCode::TooManyQuestions,
        RejectCode::PollClosed,
        RejectCode::OverBudget,
    ];
}

/// A refused input: a stable code and a human sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub code: RejectCode,
    pub message: String,
}

impl Rejection {
    pub fn new(code: RejectCode, message: impl Into<String>) -> Rejection {
        Rejection {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

/// Shorthand for building a refusal in engine code: `reject(Invalid, "...")`.
pub(crate) fn reject<T>(code: RejectCode, message: impl Into<String>) -> Result<T, Rejection> {
    Err(Rejection::new(code, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialize_as_their_names() {
        for code in RejectCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }
}
