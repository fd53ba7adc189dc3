//! The server's own error codes, beside the engine's refusals (`engine::reject`): what the
//! shell answers when a frame or a request never reached an engine, or reached it and could
//! not be made durable. One enum, so a code is spelled once and a typo does not compile.
//!
//! Codes are part of the wire protocol and the HTTP API (clients switch on them). Adding one
//! is a protocol change: document it in `docs/wire-protocol.md` (WebSocket) or the API docs;
//! `tests/wire_doc.rs` checks the WebSocket table lists every code that travels there.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::engine::reject::{RejectCode, Rejection};

/// Stable machine codes the shell itself answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The room (or the store of record: the journal, Redis) could not take it right now;
    /// retry. Never reported as the engine's `forbidden`.
    Unavailable,
    /// A malformed frame or request body, or a bad value.
    Invalid,
    /// The frame is over the message size limit.
    TooLarge,
    /// Bad, tampered or expired token (or API key).
    Unauthorized,
    /// Too many commands, hellos or connection attempts; slow down.
    RateLimited,
    /// A command's `room` names a group this connection is not in.
    Forbidden,
    /// The room does not exist (ended or never created).
    UnknownRoom,
    /// `join_room` / `leave_room` before joining the hall.
    UnknownMember,
    /// `leave_room` for a group the connection is not listening to.
    NotInRoom,
    /// Audio signaling while the server runs without media.
    MediaUnavailable,
    /// HTTP: there is no such event.
    UnknownEvent,
    /// HTTP: there is no such protocol.
    UnknownProtocol,
    /// HTTP: the event has ended.
    Ended,
    /// HTTP: the body is not JSON.
    InvalidJson,
    /// HTTP: `retention_secs` out of bounds.
    InvalidRetention,
    /// HTTP: a WebSocket upgrade from an Origin that is not allowed.
    ForbiddenOrigin,
    /// HTTP: `/ws` without a WebSocket upgrade.
    NotWebsocket,
    /// HTTP: no such endpoint.
    NotFound,
    /// HTTP: the endpoint does not take this method.
    MethodNotAllowed,
    /// HTTP: a JSON body sent without `Content-Type: application/json`.
    UnsupportedMediaType,
    /// A rehearsal preview over its cost budget.
    TooCostly,
    /// Every rehearsal worker is busy.
    Busy,
    /// HTTP: the server holds `max_events` events already.
    TooManyEvents,
    /// HTTP: a join link this server did not make, or one of a deleted event.
    UnknownLink,
    /// HTTP: the join link's expiry has passed.
    LinkExpired,
    /// HTTP: as many members joined through the link as its cap allows.
    LinkFull,
    /// HTTP: the organizer revoked the join link.
    LinkRevoked,
}

impl ErrorCode {
    /// Every code, for the documentation check.
    pub const ALL: [ErrorCode; 27] = [
        ErrorCode::Unavailable,
        ErrorCode::Invalid,
        ErrorCode::TooLarge,
        ErrorCode::Unauthorized,
        ErrorCode::RateLimited,
        ErrorCode::Forbidden,
        ErrorCode::UnknownRoom,
        ErrorCode::UnknownMember,
        ErrorCode::NotInRoom,
        ErrorCode::MediaUnavailable,
        ErrorCode::UnknownEvent,
        ErrorCode::UnknownProtocol,
        ErrorCode::Ended,
        ErrorCode::InvalidJson,
        ErrorCode::InvalidRetention,
        ErrorCode::ForbiddenOrigin,
        ErrorCode::NotWebsocket,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::TooCostly,
        ErrorCode::Busy,
        ErrorCode::TooManyEvents,
        ErrorCode::UnknownLink,
        ErrorCode::LinkExpired,
        ErrorCode::LinkFull,
        ErrorCode::LinkRevoked,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Invalid => "invalid",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::UnknownRoom => "unknown_room",
            ErrorCode::UnknownMember => "unknown_member",
            ErrorCode::NotInRoom => "not_in_room",
            ErrorCode::MediaUnavailable => "media_unavailable",
            ErrorCode::UnknownEvent => "unknown_event",
            ErrorCode::UnknownProtocol => "unknown_protocol",
            ErrorCode::Ended => "ended",
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::InvalidRetention => "invalid_retention",
            ErrorCode::ForbiddenOrigin => "forbidden_origin",
            ErrorCode::NotWebsocket => "not_websocket",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::TooCostly => "too_costly",
            ErrorCode::Busy => "busy",
            ErrorCode::TooManyEvents => "too_many_events",
            ErrorCode::UnknownLink => "unknown_link",
            ErrorCode::LinkExpired => "link_expired",
            ErrorCode::LinkFull => "link_full",
            ErrorCode::LinkRevoked => "link_revoked",
        }
    }

    /// Whether the code travels on the WebSocket (and so belongs in the wire doc's table).
    pub const fn on_websocket(self) -> bool {
        !matches!(
            self,
            ErrorCode::UnknownEvent
                | ErrorCode::UnknownProtocol
                | ErrorCode::InvalidJson
                | ErrorCode::InvalidRetention
                | ErrorCode::ForbiddenOrigin
                | ErrorCode::NotWebsocket
                | ErrorCode::NotFound
                | ErrorCode::MethodNotAllowed
                | ErrorCode::UnsupportedMediaType
                | ErrorCode::TooCostly
                | ErrorCode::Busy
                | ErrorCode::TooManyEvents
                | ErrorCode::UnknownLink
                | ErrorCode::LinkExpired
                | ErrorCode::LinkFull
                | ErrorCode::LinkRevoked
        )
    }
}

impl From<ErrorCode> for &'static str {
    fn from(c: ErrorCode) -> &'static str {
        c.as_str()
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The code of a refused frame: the engine's refusal or the server's own. Serialized as
/// the bare code (node to node in cluster mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Code {
    Engine(RejectCode),
    Server(ErrorCode),
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Engine(c) => c.as_str(),
            Code::Server(c) => c.as_str(),
        }
    }
}

impl From<Code> for &'static str {
    fn from(c: Code) -> &'static str {
        c.as_str()
    }
}

impl From<RejectCode> for &'static str {
    fn from(c: RejectCode) -> &'static str {
        c.as_str()
    }
}

impl From<RejectCode> for Code {
    fn from(c: RejectCode) -> Code {
        Code::Engine(c)
    }
}

impl From<ErrorCode> for Code {
    fn from(c: ErrorCode) -> Code {
        Code::Server(c)
    }
}

/// Why a room did not take a join or a command: the engine refused it, or the server could
/// not (a store write failed, the room moved). What a room's reply carries, node to node too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: Code,
    pub message: String,
}

impl Refusal {
    pub fn new(code: impl Into<Code>, message: impl Into<String>) -> Refusal {
        Refusal {
            code: code.into(),
            message: message.into(),
        }
    }

    /// The store of record did not take the input (or the room stopped): retry.
    pub fn unavailable(message: impl Into<String>) -> Refusal {
        Refusal::new(ErrorCode::Unavailable, message)
    }
}

impl From<Rejection> for Refusal {
    fn from(r: Rejection) -> Refusal {
        Refusal {
            code: Code::Engine(r.code),
            message: r.message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_as_bare_strings() {
        for c in ErrorCode::ALL {
            let json = serde_json::to_string(&Code::Server(c)).unwrap();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
            let back: Code = serde_json::from_str(&json).unwrap();
            assert_eq!(back.as_str(), c.as_str());
        }
        let back: Code = serde_json::from_str("\"not_your_turn\"").unwrap();
        assert_eq!(back, Code::Engine(RejectCode::NotYourTurn));
    }
}
