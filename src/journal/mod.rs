//! The journal: what a single node makes durable so that nothing acknowledged is lost.
//!
//! A room appends each engine input together with the events it caused and awaits the
//! journal's answer before anyone hears of them (`append` resolves only once the rows are
//! on disk). After `SNAPSHOT_EVERY` inputs (or as many as the room has members, when more) the
//! room stores its engine and the journal drops the inputs before it, so snapshot + inputs always rebuild the engine exactly (the engine
//! is deterministic in `(now, input)`); the typed events are kept for the event's report,
//! transcript and resume until the event is purged or deleted. A hall also records its live
//! breakout groups (`put_groups`, awaited before it goes on), so a restart starts them again.
//!
//! Two implementations: [`sqlite::SqliteJournal`] (the default, one file in the data dir,
//! one writer thread that group-commits every queued append) and [`Ephemeral`] (`--ephemeral`
//! and in-process tests: acknowledges at once and keeps nothing, so a restart loses
//! everything, as it says). Cluster mode keeps its own store of record, Redis
//! (`cluster/store.rs`); a room reaches either through one seam (`room/store.rs`), and
//! several inputs of one room share one commit (`room/batch.rs`).

pub mod dir;
pub mod sqlite;
mod tops;

use std::fmt;

use tokio::sync::oneshot;

/// Why the journal did not store something.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JournalError {
    /// The write failed (full disk, read-only file, I/O error): nothing was stored.
    #[error("the journal cannot store it: {0}")]
    Unavailable(String),
    /// The database cannot be read or is not ours.
    #[error("the journal is unreadable: {0}")]
    Corrupt(String),
    /// Written by a newer version of the server; never rewritten by an older one.
    #[error(
        "the database has schema version {found}, newer than this server's {supported}; \
         run the newer server, or point --data-dir elsewhere"
    )]
    TooNew { found: i64, supported: i64 },
    /// The writer thread is gone (the server is shutting down).
    #[error("the journal is closed")]
    Closed,
    /// An append did not continue the room's stored events (`first_seq` must be the room's
    /// stored top + 1): nothing of it was stored. A room that pipelines its appends gets
    /// this for every append queued behind a refused or failed one, so none leaves a gap.
    #[error("the append starts at seq {got}, the room's next is {expected}")]
    SeqMismatch { expected: u64, got: u64 },
}

/// One engine input and the events it caused, in order.
#[derive(Debug, Clone)]
pub struct Append {
    pub event: String,
    pub room: String,
    /// The sequence number of the first event (`events` are numbered from here). Must be
    /// the room's stored top + 1, also when `events` is empty (which leaves the top as it
    /// is); the SQLite journal refuses anything else with [`JournalError::SeqMismatch`].
    pub first_seq: u64,
    /// The input as `cluster::msg::LoggedInput` JSON (with its `now`).
    pub input: Vec<u8>,
    /// Each event as `engine::event::Event` JSON.
    pub events: Vec<Vec<u8>>,
}

/// A room's engine at sequence number `seq`; the inputs appended before it are dropped.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub event: String,
    pub room: String,
    pub seq: u64,
    /// The engine as JSON.
    pub engine: Vec<u8>,
}

/// What the journal holds of one room.
#[derive(Debug, Clone, Default)]
pub struct StoredRoom {
    /// The last snapshot: its sequence number and the engine JSON.
    pub snapshot: Option<(u64, Vec<u8>)>,
    /// Inputs appended after the snapshot, oldest first (`LoggedInput` JSON).
    pub inputs: Vec<Vec<u8>>,
    /// Every event of the room, oldest first: sequence number and `Event` JSON.
    pub events: Vec<(u64, Vec<u8>)>,
}

impl StoredRoom {
    /// The sequence number of the last stored event (0 before the first).
    pub fn top(&self) -> u64 {
        self.events.last().map_or(0, |(s, _)| *s)
    }
}

/// A hall's live breakout group, as the hall last recorded it: a restart starts it again
/// (rebuilt from its own rows) as a group of that hall, so its members are placed back in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveGroup {
    /// The engine's group index in the hall's breakout.
    pub index: u32,
    /// The group's room id (`{event}/group-{n}`).
    pub room: String,
    /// The opening of the breakouts it belongs to (the hall's `RoomState::openings`).
    pub opening: u32,
}

/// The answer to a write: resolves once the write is durable (or failed).
pub type Ack = oneshot::Receiver<Result<(), JournalError>>;

/// What a room and the event registry must make durable. Writes return at once with an
/// [`Ack`] to await; reads are for start-up recovery and run on the caller's thread.
pub trait Journal: Send + Sync + fmt::Debug {
    /// Whether anything survives a restart (false for [`Ephemeral`]).
    fn durable(&self) -> bool;
    fn append(&self, a: Append) -> Ack;
    fn snapshot(&self, s: Snapshot) -> Ack;
    /// Stores (or replaces) an event's metadata (`hub::Meta` JSON).
    fn put_event(&self, event: &str, meta: Vec<u8>) -> Ack;
    /// Replaces the hall's recorded live breakout groups (empty: none is live).
    fn put_groups(&self, event: &str, hall: &str, groups: Vec<LiveGroup>) -> Ack;
    /// Removes every row of the event: metadata, snapshots, inputs, events, groups.
    fn delete_event(&self, event: &str) -> Ack;
    /// Every stored event's metadata.
    fn events(&self) -> Result<Vec<Vec<u8>>, JournalError>;
    /// The rooms the event has rows for.
    fn rooms(&self, event: &str) -> Result<Vec<String>, JournalError>;
    fn load_room(&self, room: &str) -> Result<StoredRoom, JournalError>;
    /// The hall's live breakout groups as last recorded, by index.
    fn load_groups(&self, hall: &str) -> Result<Vec<LiveGroup>, JournalError>;
    /// Every group room the hall ever recorded as live (closed ones too), by opening and
    /// index: what a report after a restart must still cover.
    fn group_rooms(&self, hall: &str) -> Result<Vec<LiveGroup>, JournalError>;
}

fn ready(res: Result<(), JournalError>) -> Ack {
    let (tx, rx) = oneshot::channel();
    let _ = tx.send(res);
    rx
}

/// Keeps nothing: every write is acknowledged at once, and a restart starts empty.
#[derive(Debug, Default)]
pub struct Ephemeral;

impl Journal for Ephemeral {
    fn durable(&self) -> bool {
        false
    }
    fn append(&self, _: Append) -> Ack {
        ready(Ok(()))
    }
    fn snapshot(&self, _: Snapshot) -> Ack {
        ready(Ok(()))
    }
    fn put_event(&self, _: &str, _: Vec<u8>) -> Ack {
        ready(Ok(()))
    }
    fn put_groups(&self, _: &str, _: &str, _: Vec<LiveGroup>) -> Ack {
        ready(Ok(()))
    }
    fn delete_event(&self, _: &str) -> Ack {
        ready(Ok(()))
    }
    fn events(&self) -> Result<Vec<Vec<u8>>, JournalError> {
        Ok(Vec::new())
    }
    fn rooms(&self, _: &str) -> Result<Vec<String>, JournalError> {
        Ok(Vec::new())
    }
    fn load_room(&self, _: &str) -> Result<StoredRoom, JournalError> {
        Ok(StoredRoom::default())
    }
    fn group_rooms(&self, _: &str) -> Result<Vec<LiveGroup>, JournalError> {
        Ok(Vec::new())
    }
    fn load_groups(&self, _: &str) -> Result<Vec<LiveGroup>, JournalError> {
        Ok(Vec::new())
    }
}

/// Awaits a write's acknowledgement.
pub async fn wait(ack: Ack) -> Result<(), JournalError> {
    ack.await.unwrap_or(Err(JournalError::Closed))
}
