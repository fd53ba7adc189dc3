//! Voice that follows the floor: an embedded audio SFU.
//!
//! - `gate`: pure; who may be heard in a room, derived from engine events.
//!
//! Architecture invariant: the engine decides who is heard; the media layer only follows.
//! Nothing here changes room state; it reads engine events and drops or forwards packets.

pub mod gate;
