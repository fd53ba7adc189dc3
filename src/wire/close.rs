//! The close codes that tell a client why the server let it go. Every layer that can end a
//! connection (a room, the bus's slow-consumer cut-off, a relaying cluster node, the gateway)
//! names one of these, so they live below all of them.

/// Why the server closed a WebSocket: a stable close code and a short reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// 1000: the session ended.
    SessionEnded,
    /// 1001: the server is shutting down.
    GoingAway,
    /// 1002: a WebSocket protocol violation (unmasked client frame, reserved opcode or bit):
    /// not 1001, which tells a client to reconnect as if the server were restarting.
    ProtocolError,
    /// 1007: a text frame that is not valid UTF-8.
    InvalidUtf8,
    /// 1009: a frame over the hard transport cap (`gateway::hard_frame_cap`); frames between the
    /// message limit and the cap are answered `too_large` and the connection stays open.
    TooLarge,
    /// 1013: the room could not take the connection right now.
    Unavailable,
    /// 4001: bad, tampered, expired or foreign token.
    Unauthorized,
    /// 4002: no hello within the deadline.
    HelloTimeout,
    /// 4004: the event ended or never existed.
    UnknownRoom,
    /// 4008: the outbound queue overflowed; reconnect and resume.
    SlowConsumer,
    /// 4009: too many bad frames.
    Abuse,
    /// 4010: removed by a moderator.
    Removed,
    /// 4011: nothing heard from the client within the idle timeout.
    Idle,
    /// 4012: the member opened more sockets than allowed (`room::MAX_SOCKETS_PER_MEMBER`);
    /// the oldest is closed so the newest (a reload, another device) wins. Not a reason to
    /// reconnect: two tabs doing so would close each other forever.
    Replaced,
}

impl CloseReason {
    pub fn code(self) -> u16 {
        match self {
            CloseReason::SessionEnded => 1000,
            CloseReason::GoingAway => 1001,
            CloseReason::ProtocolError => 1002,
            CloseReason::InvalidUtf8 => 1007,
            CloseReason::TooLarge => 1009,
            CloseReason::Unavailable => 1013,
            CloseReason::Unauthorized => 4001,
            CloseReason::HelloTimeout => 4002,
            CloseReason::UnknownRoom => 4004,
            CloseReason::SlowConsumer => 4008,
            CloseReason::Abuse => 4009,
            CloseReason::Removed => 4010,
            CloseReason::Idle => 4011,
            CloseReason::Replaced => 4012,
        }
    }

    /// The reason behind a close code (a node relaying an owner's close).
    pub fn from_code(code: u16) -> CloseReason {
        [
            CloseReason::SessionEnded,
            CloseReason::GoingAway,
            CloseReason::ProtocolError,
            CloseReason::InvalidUtf8,
            CloseReason::TooLarge,
            CloseReason::Unavailable,
            CloseReason::Unauthorized,
            CloseReason::HelloTimeout,
            CloseReason::UnknownRoom,
            CloseReason::SlowConsumer,
            CloseReason::Abuse,
            CloseReason::Removed,
            CloseReason::Idle,
            CloseReason::Replaced,
        ]
        .into_iter()
        .find(|r| r.code() == code)
        .unwrap_or(CloseReason::GoingAway)
    }

    pub fn reason(self) -> &'static str {
        match self {
            CloseReason::SessionEnded => "session ended",
            CloseReason::GoingAway => "server shutting down",
            CloseReason::ProtocolError => "websocket protocol error",
            CloseReason::InvalidUtf8 => "invalid utf-8",
            CloseReason::TooLarge => "message too large",
            CloseReason::Unavailable => "room unavailable, retry",
            CloseReason::Unauthorized => "unauthorized",
            CloseReason::HelloTimeout => "no hello",
            CloseReason::UnknownRoom => "unknown room",
            CloseReason::SlowConsumer => "slow consumer, resume",
            CloseReason::Abuse => "too many bad frames",
            CloseReason::Removed => "removed by a moderator",
            CloseReason::Idle => "idle timeout",
            CloseReason::Replaced => "replaced by a newer connection of this member",
        }
    }
}
