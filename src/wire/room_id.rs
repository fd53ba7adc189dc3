//! Room ids, which clients send and every layer (rooms, the bus, media gates, the cluster's
//! Redis keys) is addressed by.

use std::fmt;
use std::sync::Arc;

/// A room's id: `"{event}/hall"` for an event's main room, `"{event}/group-{n}"` for a
/// breakout group. `n` counts from 1 over the whole event and is never reused (a reopened
/// breakout gets new numbers), so an ended group's id can never name a live room.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomId(Arc<str>);

impl RoomId {
    pub fn hall(event: &str) -> RoomId {
        RoomId(Arc::from(format!("{event}/hall")))
    }

    pub fn group(event: &str, n: u32) -> RoomId {
        RoomId(Arc::from(format!("{event}/group-{n}")))
    }

    /// Reads a room id a client sent, when it names a room of `event`.
    pub fn parse(event: &str, text: &str) -> Option<RoomId> {
        let rest = text.strip_prefix(event)?.strip_prefix('/')?;
        if rest == "hall" {
            return Some(RoomId::hall(event));
        }
        let n: u32 = rest.strip_prefix("group-")?.parse().ok()?;
        (n > 0 && rest == format!("group-{n}")).then(|| RoomId::group(event, n))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_ids_parse_only_for_their_event() {
        assert_eq!(RoomId::parse("e1", "e1/hall"), Some(RoomId::hall("e1")));
        assert_eq!(
            RoomId::parse("e1", "e1/group-3"),
            Some(RoomId::group("e1", 3))
        );
        assert_eq!(RoomId::group("e1", 3).as_str(), "e1/group-3");
        for bad in [
            "e2/hall",
            "e1/group-0",
            "e1/group-03",
            "e1/group-+3",
            "e1/group-",
            "e1/groups-3",
            "e1/hall/x",
            "e1hall",
            "",
        ] {
            assert_eq!(RoomId::parse("e1", bad), None, "{bad}");
        }
    }
}
