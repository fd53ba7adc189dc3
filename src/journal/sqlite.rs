//! The SQLite journal: one database file, WAL mode, `synchronous=FULL`, one writer thread.
//!
//! Every room sends its writes to the one writer thread, which takes everything queued (from
//! all rooms) into one transaction and commits it with one fsync, then answers each write.
//! So a durable ack costs about one fsync however many rooms are busy (group commit), and a
//! write is answered `Ok` only after the commit that holds it returned. When a batch fails,
//! it is rolled back and its writes are retried one per transaction, so one failing write
//! (a full disk fails them all) fails alone.
//!
//! Sequence contiguity: an append is stored only when its `first_seq` is exactly the room's
//! stored top + 1 (top: the highest stored event seq of the room, 0 before any); anything
//! else is refused with [`JournalError::SeqMismatch`] and stores nothing. Rooms may then
//! pipeline appends without awaiting each: once one is refused or fails, every append of
//! that room queued behind it no longer matches and is refused too, so the stored events
//! never have a gap. The writer keeps each room's top in memory (`tops.rs`: read from the
//! database the first time a room is seen); a batch's changes to it apply only once its
//! transaction committed, so a failed transaction leaves the tops as the database has them.
//!
//! Reads (start-up recovery) use a second connection; WAL lets them run beside the writer.
//!
//! Schema: `PRAGMA user_version` is the schema version; `MIGRATIONS[i]` takes a database
//! from version `i` to `i + 1`, in one transaction. A database with a newer version is
//! refused, never rewritten; a file that is not a SQLite database (or not ours) is refused
//! with the reason.

use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use std::sync::Mutex;
use std::thread::JoinHandle;

use rusqlite::{params, Connection, OpenFlags};
use tokio::sync::oneshot;

use super::tops::{Staged, Tops};
use super::{Ack, Append, Journal, JournalError, LiveGroup, Snapshot, StoredRoom};

/// Marks the file as ours (`PRAGMA application_id`): "CmGd".
const APPLICATION_ID: i64 = 0x436d_4764;
/// The most writes one transaction takes, which bounds a commit's size.
const MAX_BATCH: usize = 4096;

/// Forward migrations, oldest first; the schema version is their count.
const MIGRATIONS: &[&str] = &[
    // 1: events, snapshots, inputs since the snapshot, the typed event log.
    "CREATE TABLE events (id TEXT PRIMARY KEY, meta BLOB NOT NULL);
     CREATE TABLE snapshots (room TEXT PRIMARY KEY, event TEXT NOT NULL,
                             seq INTEGER NOT NULL, engine BLOB NOT NULL);
     CREATE INDEX snapshots_event ON snapshots(event);
     CREATE TABLE inputs (id INTEGER PRIMARY KEY AUTOINCREMENT, event TEXT NOT NULL,
                          room TEXT NOT NULL, first_seq INTEGER NOT NULL, input BLOB NOT NULL);
     CREATE INDEX inputs_room ON inputs(room, id);
     CREATE INDEX inputs_event ON inputs(event);
     CREATE TABLE log (room TEXT NOT NULL, seq INTEGER NOT NULL, event TEXT NOT NULL,
                       body BLOB NOT NULL, PRIMARY KEY (room, seq)) WITHOUT ROWID;
     CREATE INDEX log_event ON log(event);",
    // 2: each hall's live breakout groups (index, group room, opening), for a restart.
    "CREATE TABLE live_groups (hall TEXT NOT NULL, idx INTEGER NOT NULL, event TEXT NOT NULL,
                               room TEXT NOT NULL, opening INTEGER NOT NULL,
                               PRIMARY KEY (hall, idx)) WITHOUT ROWID;
     CREATE INDEX live_groups_event ON live_groups(event);",
    // 3: every group room a hall ever had (index, opening), kept after it closed, so the
    // report after a restart still has the groups that ended before it.
    "CREATE TABLE group_rooms (room TEXT PRIMARY KEY, hall TEXT NOT NULL, event TEXT NOT NULL,
                               idx INTEGER NOT NULL, opening INTEGER NOT NULL) WITHOUT ROWID;
     CREATE INDEX group_rooms_hall ON group_rooms(hall);
     CREATE INDEX group_rooms_event ON group_rooms(event);
     INSERT OR IGNORE INTO group_rooms (room, hall, event, idx, opening)
       SELECT room, hall, event, idx, opening FROM live_groups;",
];

/// The schema version this server writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

enum Job {
    Append(Append),
    Snapshot(Snapshot),
    PutEvent(String, Vec<u8>),
    /// Event, hall, the hall's live groups (replacing the stored ones).
    PutGroups(String, String, Vec<LiveGroup>),
    DeleteEvent(String),
}

type Queued = (Job, oneshot::Sender<Result<(), JournalError>>);

#[derive(Debug)]
pub struct SqliteJournal {
    path: PathBuf,
    tx: Mutex<Option<std_mpsc::Sender<Queued>>>,
    reader: Mutex<Connection>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

fn corrupt(path: &Path, e: impl std::fmt::Display) -> JournalError {
    JournalError::Corrupt(format!("{}: {e}", path.display()))
}

fn unavailable(e: impl std::fmt::Display) -> JournalError {
    JournalError::Unavailable(e.to_string())
}

impl SqliteJournal {
    /// Opens (creating, migrating) the database at `path` and starts the writer thread.
    pub fn open(path: &Path) -> Result<SqliteJournal, JournalError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(path, flags).map_err(|e| corrupt(path, e))?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(|e| corrupt(path, e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(corrupt(path, format!("cannot use WAL mode (got {mode})")));
        }
        conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")
            .map_err(|e| corrupt(path, e))?;
        let check: String = conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(|e| corrupt(path, e))?;
        if check != "ok" {
            return Err(corrupt(path, format!("integrity check failed: {check}")));
        }
        migrate(&mut conn, path)?;
        let reader = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| corrupt(path, e))?;
        let (tx, rx) = std_mpsc::channel::<Queued>();
        let writer = std::thread::Builder::new()
            .name("journal-writer".into())
            .spawn(move || write_loop(conn, rx))
            .map_err(unavailable)?;
        Ok(SqliteJournal {
            path: path.to_path_buf(),
            tx: Mutex::new(Some(tx)),
            reader: Mutex::new(reader),
            writer: Mutex::new(Some(writer)),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn send(&self, job: Job) -> Ack {
        let (tx, rx) = oneshot::channel();
        let guard = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        match guard.as_ref() {
            Some(q) => {
                if let Err(std_mpsc::SendError((_, tx))) = q.send((job, tx)) {
                    let _ = tx.send(Err(JournalError::Closed));
                }
            }
            None => {
                let _ = tx.send(Err(JournalError::Closed));
            }
        }
        rx
    }

    fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, JournalError> {
        let conn = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        f(&conn).map_err(|e| corrupt(&self.path, e))
    }

    /// Stops taking writes, lets the writer finish what is queued and waits for it.
    pub fn close(&self) {
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(w) = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = w.join();
        }
    }
}

impl Drop for SqliteJournal {
    fn drop(&mut self) {
        self.close();
    }
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<(), JournalError> {
    let app: i64 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(|e| corrupt(path, e))?;
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| corrupt(path, e))?;
    if app != 0 && app != APPLICATION_ID {
        return Err(corrupt(path, "not a Commonground database"));
    }
    if version > SCHEMA_VERSION {
        return Err(JournalError::TooNew {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    if app == 0 && version != 0 {
        return Err(corrupt(path, "not a Commonground database"));
    }
    let start = usize::try_from(version).unwrap_or(0);
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(start) {
        let t = conn.transaction().map_err(unavailable)?;
        t.execute_batch(sql).map_err(unavailable)?;
        t.execute_batch(&format!(
            "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {};",
            i + 1
        ))
        .map_err(unavailable)?;
        t.commit().map_err(unavailable)?;
        tracing::info!(path = %path.display(), version = i + 1, "journal schema migrated");
    }
    Ok(())
}

/// Runs one write inside the open transaction. `Err`: the database failed (the transaction
/// must roll back); `Ok(Err)`: the write is refused, nothing of it was run.
fn run_job(
    conn: &Connection,
    tops: &Tops,
    staged: &mut Staged,
    job: &Job,
) -> rusqlite::Result<Result<(), JournalError>> {
    match job {
        Job::Append(a) => {
            let top = tops.top(conn, staged, &a.event, &a.room)?;
            if a.first_seq != top + 1 {
                return Ok(Err(JournalError::SeqMismatch {
                    expected: top + 1,
                    got: a.first_seq,
                }));
            }
            conn.prepare_cached(
                "INSERT INTO inputs (event, room, first_seq, input) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![a.event, a.room, a.first_seq as i64, a.input])?;
            let mut ins = conn.prepare_cached(
                "INSERT INTO log (room, seq, event, body) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (i, body) in a.events.iter().enumerate() {
                ins.execute(params![
                    a.room,
                    (a.first_seq + i as u64) as i64,
                    a.event,
                    body
                ])?;
            }
            // An input that caused no event leaves the top where it was.
            let new_top = top + a.events.len() as u64;
            staged.set(&a.event, &a.room, new_top);
        }
        Job::Snapshot(s) => {
            conn.prepare_cached(
                "INSERT INTO snapshots (room, event, seq, engine) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(room) DO UPDATE SET seq = excluded.seq, engine = excluded.engine",
            )?
            .execute(params![s.room, s.event, s.seq as i64, s.engine])?;
            // Writes are applied in the order they were queued: every input of this room
            // queued before the snapshot is in it.
            conn.prepare_cached("DELETE FROM inputs WHERE room = ?1")?
                .execute(params![s.room])?;
        }
        Job::PutEvent(id, meta) => {
            conn.prepare_cached(
                "INSERT INTO events (id, meta) VALUES (?1, ?2)
                 ON CONFLICT(id) DO UPDATE SET meta = excluded.meta",
            )?
            .execute(params![id, meta])?;
        }
        Job::PutGroups(event, hall, groups) => {
            conn.prepare_cached("DELETE FROM live_groups WHERE hall = ?1")?
                .execute(params![hall])?;
            let mut ins = conn.prepare_cached(
                "INSERT INTO live_groups (hall, idx, event, room, opening)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            let mut ever = conn.prepare_cached(
                "INSERT OR IGNORE INTO group_rooms (room, hall, event, idx, opening)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for g in groups {
                ins.execute(params![hall, g.index, event, g.room, g.opening])?;
                ever.execute(params![g.room, hall, event, g.index, g.opening])?;
            }
        }
        Job::DeleteEvent(id) => {
            for table in ["inputs", "log", "snapshots", "live_groups", "group_rooms"] {
                conn.execute(
                    &format!("DELETE FROM {table} WHERE event = ?1"),
                    params![id],
                )?;
            }
            conn.execute("DELETE FROM events WHERE id = ?1", params![id])?;
            staged.delete_event(id);
        }
    }
    Ok(Ok(()))
}

/// The writer thread: one transaction (and one fsync) per batch of queued writes.
fn write_loop(conn: Connection, rx: std_mpsc::Receiver<Queued>) {
    let mut tops = Tops::default();
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(q) => batch.push(q),
                Err(_) => break,
            }
        }
        commit_batch(&conn, &mut tops, batch);
    }
}

/// Commits the whole batch in one transaction. When any write fails the transaction is
/// rolled back and each write is tried again alone, so one bad write fails alone and the
/// fast path carries no per-write savepoint. A refused write (a sequence gap) runs nothing
/// and does not fail the others. `tops` changes only when a transaction committed.
fn commit_batch(conn: &Connection, tops: &mut Tops, batch: Vec<Queued>) {
    let mut staged = Staged::default();
    let all = conn.execute_batch("BEGIN IMMEDIATE").and_then(|()| {
        let mut answers = Vec::with_capacity(batch.len());
        for (job, _) in &batch {
            answers.push(run_job(conn, tops, &mut staged, job)?);
        }
        conn.execute_batch("COMMIT")?;
        Ok(answers)
    });
    match all {
        Ok(answers) => {
            tops.apply(staged);
            for ((_, tx), answer) in batch.into_iter().zip(answers) {
                if let Err(e) = &answer {
                    tracing::warn!("journal: an append is refused, nothing of it is stored: {e}");
                }
                let _ = tx.send(answer);
            }
        }
        Err(_) if batch.len() > 1 => {
            let _ = conn.execute_batch("ROLLBACK");
            for q in batch {
                commit_batch(conn, tops, vec![q]);
            }
        }
        Err(e) => {
            tracing::error!("journal: a write failed, nothing of it is stored: {e}");
            let _ = conn.execute_batch("ROLLBACK");
            for (_, tx) in batch {
                let _ = tx.send(Err(unavailable(&e)));
            }
        }
    }
}

impl Journal for SqliteJournal {
    fn durable(&self) -> bool {
        true
    }

    fn append(&self, a: Append) -> Ack {
        self.send(Job::Append(a))
    }

    fn snapshot(&self, s: Snapshot) -> Ack {
        self.send(Job::Snapshot(s))
    }

    fn put_event(&self, event: &str, meta: Vec<u8>) -> Ack {
        self.send(Job::PutEvent(event.to_string(), meta))
    }

    fn put_groups(&self, event: &str, hall: &str, groups: Vec<LiveGroup>) -> Ack {
        self.send(Job::PutGroups(event.to_string(), hall.to_string(), groups))
    }

    fn delete_event(&self, event: &str) -> Ack {
        self.send(Job::DeleteEvent(event.to_string()))
    }

    fn events(&self) -> Result<Vec<Vec<u8>>, JournalError> {
        self.read(|c| {
            let mut st = c.prepare("SELECT meta FROM events ORDER BY rowid")?;
            let rows = st.query_map([], |r| r.get(0))?;
            rows.collect()
        })
    }

    fn rooms(&self, event: &str) -> Result<Vec<String>, JournalError> {
        self.read(|c| {
            let mut st = c.prepare(
                "SELECT room FROM snapshots WHERE event = ?1
                 UNION SELECT DISTINCT room FROM log WHERE event = ?1",
            )?;
            let rows = st.query_map(params![event], |r| r.get(0))?;
            rows.collect()
        })
    }

    fn load_room(&self, room: &str) -> Result<StoredRoom, JournalError> {
        self.read(|c| {
            let snapshot = c
                .prepare("SELECT seq, engine FROM snapshots WHERE room = ?1")?
                .query_map(params![room], |r| {
                    Ok((r.get::<_, i64>(0)? as u64, r.get(1)?))
                })?
                .next()
                .transpose()?;
            let inputs = c
                .prepare("SELECT input FROM inputs WHERE room = ?1 ORDER BY id")?
                .query_map(params![room], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<Vec<u8>>>>()?;
            let events = c
                .prepare("SELECT seq, body FROM log WHERE room = ?1 ORDER BY seq")?
                .query_map(params![room], |r| {
                    Ok((r.get::<_, i64>(0)? as u64, r.get(1)?))
                })?
                .collect::<rusqlite::Result<Vec<(u64, Vec<u8>)>>>()?;
            Ok(StoredRoom {
                snapshot,
                inputs,
                events,
            })
        })
    }

    fn group_rooms(&self, hall: &str) -> Result<Vec<LiveGroup>, JournalError> {
        self.read(|c| {
            c.prepare(
                "SELECT idx, room, opening FROM group_rooms WHERE hall = ?1 ORDER BY opening, idx",
            )?
            .query_map(params![hall], |r| {
                Ok(LiveGroup {
                    index: r.get(0)?,
                    room: r.get(1)?,
                    opening: r.get(2)?,
                })
            })?
            .collect()
        })
    }

    fn load_groups(&self, hall: &str) -> Result<Vec<LiveGroup>, JournalError> {
        self.read(|c| {
            c.prepare("SELECT idx, room, opening FROM live_groups WHERE hall = ?1 ORDER BY idx")?
                .query_map(params![hall], |r| {
                    Ok(LiveGroup {
                        index: r.get(0)?,
                        room: r.get(1)?,
                        opening: r.get(2)?,
                    })
                })?
                .collect()
        })
    }
}

/// Counts every row the database holds of `event` (tests: nothing survives a delete).
pub fn rows_of_event(path: &Path, event: &str) -> Result<u64, JournalError> {
    let c = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| corrupt(path, e))?;
    let mut n = 0u64;
    for sql in [
        "SELECT count(*) FROM events WHERE id = ?1",
        "SELECT count(*) FROM snapshots WHERE event = ?1",
        "SELECT count(*) FROM inputs WHERE event = ?1",
        "SELECT count(*) FROM log WHERE event = ?1",
        "SELECT count(*) FROM live_groups WHERE event = ?1",
        "SELECT count(*) FROM group_rooms WHERE event = ?1",
    ] {
        let k: i64 = c
            .query_row(sql, params![event], |r| r.get(0))
            .map_err(|e| corrupt(path, e))?;
        n += k as u64;
    }
    Ok(n)
}

/// Sets the schema version of the database at `path` (tests: a database from a newer server).
pub fn set_schema_version(path: &Path, version: i64) -> Result<(), JournalError> {
    let c = Connection::open(path).map_err(|e| corrupt(path, e))?;
    c.execute_batch(&format!("PRAGMA user_version = {version}"))
        .map_err(|e| corrupt(path, e))
}

#[cfg(test)]
#[path = "sqlite_tests.rs"]
mod tests;
