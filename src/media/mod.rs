//! Voice that follows the floor: an embedded audio SFU.
//!
//! - `budget`: pure; per-source budget for datagrams no peer accepts (STUN floods).
//! - `gate`: pure; who may be heard in a room, derived from engine events.
//! - `gates`: every room's gate, fed by the room actors' one hook and read by the SFU.
//! - `sfu`: sans-IO forwarding core: str0m peers (ICE-lite, Opus, DTLS-SRTP), the gate check
//!   per frame, the floor and staff listener tracks.
//! - `task`: the UDP socket and the signaling handle the gateway uses.
//! - `stats`: the media counters in `/metrics`.
//!
//! Architecture invariant: the engine decides who is heard; the media layer only follows.
//! Nothing here changes room state; it reads engine events and drops or forwards packets.

pub mod budget;
pub mod gate;
pub mod gates;
pub mod sfu;
pub mod stats;
pub mod task;

pub use gates::Gates;
pub use sfu::{parse_offer, Limits, MediaError, MAX_SDP_BYTES};
pub use stats::MediaStats;
pub use task::{spawn, MediaConfig, MediaHandle};
