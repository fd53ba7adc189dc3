//! Rebuilding a room from what its journal holds: the snapshot, then every input after it
//! through the deterministic engine, checked against the stored events' last sequence number.

use std::collections::VecDeque;
use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;

use crate::bus::Sequenced;
use crate::cluster::msg::LoggedInput;
use crate::engine::event::Event;
use crate::engine::{Engine, Input};
use crate::journal::StoredRoom;
use crate::record::Logged;
use crate::room::RoomState;
use crate::wire;
use crate::wire::RoomId;

/// Feeds logged inputs (`LoggedInput` JSON) to `engine`; returns how many events they made.
pub fn replay(engine: &mut Engine, inputs: &[Vec<u8>]) -> Result<u64, String> {
    let mut events = 0u64;
    for raw in inputs {
        let logged: LoggedInput =
            serde_json::from_slice(raw).map_err(|e| format!("input log: {e}"))?;
        events += engine
            .handle(logged.now, Input::from(logged.input))
            .events
            .len() as u64;
    }
    Ok(events)
}

/// The engine as of the stored inputs: the snapshot (or `fresh()` when the room has none)
/// plus the inputs after it. Returns the engine and the sequence number it reached.
pub fn engine_of(
    stored: &StoredRoom,
    fresh: impl FnOnce() -> Option<Engine>,
) -> Result<(Engine, u64), String> {
    let (mut engine, seq) = match &stored.snapshot {
        Some((seq, bytes)) => {
            let e: Engine = serde_json::from_slice(bytes).map_err(|e| format!("snapshot: {e}"))?;
            (e, *seq)
        }
        None => (
            fresh().ok_or("no snapshot and no protocol to start from")?,
            0,
        ),
    };
    let seq = seq + replay(&mut engine, &stored.inputs)?;
    Ok((engine, seq))
}

/// A room's whole state from its journal: engine, typed record, the recent frames for
/// resume. Fails when the replay does not end at the last stored event.
pub fn rebuild(
    room: &RoomId,
    stored: &StoredRoom,
    fresh: impl FnOnce() -> Option<Engine>,
    log_len: usize,
) -> Result<RoomState, String> {
    let (engine, seq) = engine_of(stored, fresh)?;
    if seq != stored.top() {
        return Err(format!(
            "replay ends at seq {seq}, the stored events at {}",
            stored.top()
        ));
    }
    let mut record = Vec::with_capacity(stored.events.len());
    for (s, body) in &stored.events {
        let event: Event = serde_json::from_slice(body).map_err(|e| format!("event {s}: {e}"))?;
        record.push(Logged { seq: *s, event });
    }
    let from = record.len().saturating_sub(log_len);
    let log: VecDeque<Arc<Sequenced>> = record[from..]
        .iter()
        .map(|l| {
            let frame = wire::encode_event(room.as_str(), l.seq, l.event.at, &l.event.kind);
            Arc::new(Sequenced {
                seq: l.seq,
                audience: l.event.audience.clone(),
                frame: Utf8Bytes::from(frame),
            })
        })
        .collect();
    let mut state = RoomState::new(engine);
    state.last_seq = seq;
    state.log = log;
    state.record = record;
    state.journaled = stored.snapshot.is_some();
    Ok(state)
}
