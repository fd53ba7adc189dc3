//! A room's short public summary (`GET /api/events/{id}`), the same typed value on every
//! node: a cluster node asks the hall's owner for it and reads back this type, not JSON.

use serde::{Deserialize, Serialize};

/// Where a room's session is, as the API shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    NotStarted,
    Running,
    Paused,
    Ended,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomSummary {
    pub session: SessionState,
    pub phase: Option<PhaseSummary>,
    /// Members present in the room.
    pub present: usize,
    pub seq: u64,
}

impl RoomSummary {
    /// A room nobody has started (or no node runs, in cluster mode).
    pub fn not_started() -> RoomSummary {
        RoomSummary {
            session: SessionState::NotStarted,
            phase: None,
            present: 0,
            seq: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseSummary {
    pub index: usize,
    pub id: String,
    pub title: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_form_is_what_the_api_doc_shows_and_reads_back() {
        let s = RoomSummary {
            session: SessionState::Paused,
            phase: Some(PhaseSummary {
                index: 1,
                id: "open".into(),
                title: "Open floor".into(),
            }),
            present: 3,
            seq: 42,
        };
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["session"], "paused");
        assert_eq!(v["phase"]["id"], "open");
        assert_eq!(serde_json::from_value::<RoomSummary>(v).unwrap(), s);
    }
}
