//! What a room keeps between inputs (`RoomState`, parked with the room when it idles) and
//! what every room actor shares with the server (`RoomCtx`).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::bus::{Bus, Sequenced};
use crate::clock::Clock;
use crate::engine::core::Session;
use crate::engine::Engine;
use crate::journal::Journal;
use crate::metrics::Metrics;
use crate::record::Logged;
use crate::room::host::Ownership;
use crate::room::undo::Undo;
use crate::room::{RoomHandle, RoomRecord};
use crate::wire::RoomId;
use crate::wire::{PhaseSummary, RoomSummary, SessionState};

/// What a room keeps between inputs, and what is parked when it idles.
#[derive(Debug)]
pub struct RoomState {
    pub engine: Engine,
    /// The most recent events, oldest first, for resume.
    pub log: VecDeque<Arc<Sequenced>>,
    /// The sequence number of the last event (0 before the first).
    pub last_seq: u64,
    /// Every event since the room began, typed, for the report and the transcript. Unbounded
    /// like the session itself; unlike `log` it holds no encoded frames.
    pub record: Vec<Logged>,
    /// Hall only: the live group rooms of the current breakout, by the engine's group index.
    /// Kept here so a parked hall still knows its groups when it wakes.
    pub groups: BTreeMap<u32, RoomHandle>,
    /// Hall only: how many times breakouts were opened (assignments announced).
    pub openings: u32,
    /// The journal holds a snapshot of this room (so it can be rebuilt without its protocol).
    pub journaled: bool,
    /// What the room's store holds, to undo inputs it refused (`undo.rs`).
    pub undo: Undo,
}

impl RoomState {
    pub fn new(engine: Engine) -> RoomState {
        RoomState {
            engine,
            log: VecDeque::new(),
            last_seq: 0,
            record: Vec::new(),
            groups: BTreeMap::new(),
            openings: 0,
            journaled: false,
            undo: Undo::default(),
        }
    }

    pub fn to_record(&self, room: &RoomId) -> RoomRecord {
        RoomRecord {
            room: room.clone(),
            engine: self.engine.clone(),
            log: self.record.clone(),
        }
    }

    /// A short public summary for `GET /api/events/{id}`.
    pub fn summary(&self, present: usize) -> RoomSummary {
        let session = match self.engine.session() {
            Session::NotStarted => SessionState::NotStarted,
            Session::Running => SessionState::Running,
            Session::Paused { .. } => SessionState::Paused,
            Session::Ended => SessionState::Ended,
        };
        let phase = self.engine.phase_index().and_then(|i| {
            self.engine.protocol().phases.get(i).map(|p| PhaseSummary {
                index: i,
                id: p.id.clone(),
                title: p.title.clone(),
            })
        });
        RoomSummary {
            session,
            phase,
            present,
            seq: self.last_seq,
        }
    }
}

/// What every room actor shares with the server.
#[derive(Debug, Clone)]
pub struct RoomCtx {
    pub bus: Arc<dyn Bus>,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    pub cancel: CancellationToken,
    pub log_len: usize,
    /// The most bytes of missed events one `resumed` frame may carry. A larger gap answers
    /// `recovered: false` and a (bounded) snapshot: a frame over the connection's write
    /// limit could never be written, and the client would retry the same resume forever.
    pub resume_bytes: usize,
    pub idle: Duration,
    /// Set in cluster mode: rooms append to Redis and run only while this node owns them.
    pub cluster: Option<Arc<dyn Ownership>>,
    /// Single node: where every input is made durable before anyone hears of it.
    pub journal: Arc<dyn Journal>,
    /// Words and phrases that flag messages for moderators (`--word-list`), shared by every
    /// engine this node builds.
    pub word_list: Arc<crate::engine::moderation::WordList>,
    /// `--reconnect-grace`, for every engine this node builds.
    pub reconnect_grace: Duration,
    /// The audio gates; `emit` feeds them every event (the media layer only follows).
    pub media: Arc<crate::media::Gates>,
}
