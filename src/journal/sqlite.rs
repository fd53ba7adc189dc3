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
//! never have a gap. The writer keeps each room's top in memory (read from the database the
//! first time a room is seen); a batch's changes to it apply only once its transaction
//! committed, so a failed transaction leaves the tops as the database has them.
//!
//! Reads (start-up recovery) use a second connection; WAL lets them run beside the writer.
//!
//! Schema: `PRAGMA user_version` is the schema version; `MIGRATIONS[i]` takes a database
//! from version `i` to `i + 1`, in one transaction. A database with a newer version is
//! refused, never rewritten; a file that is not a SQLite database (or not ours) is refused
//! with the reason.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use std::sync::Mutex;
use std::thread::JoinHandle;

use rusqlite::{params, Connection, OpenFlags};
use tokio::sync::oneshot;

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

/// Each room's stored top (highest stored event seq) as of the last commit, with the room's
/// event so a delete can drop its rooms. Rooms not in it are read from the database.
#[derive(Default)]
struct Tops {
    committed: HashMap<String, (String, u64)>,
}

/// What one transaction changes of [`Tops`]; applied only once the transaction committed.
#[derive(Default)]
struct Staged {
    tops: HashMap<String, (String, u64)>,
    /// Events deleted in this transaction: their committed tops no longer hold.
    deleted: Vec<String>,
}

impl Tops {
    /// The room's top as this transaction sees it: staged, else committed, else (first
    /// time seen, or its event was deleted in this transaction) read inside the transaction.
    fn top(
        &self,
        conn: &Connection,
        staged: &Staged,
        event: &str,
        room: &str,
    ) -> rusqlite::Result<u64> {
        if let Some((_, top)) = staged.tops.get(room) {
            return Ok(*top);
        }
        if !staged.deleted.iter().any(|e| e == event) {
            if let Some((_, top)) = self.committed.get(room) {
                return Ok(*top);
            }
        }
        let top: i64 = conn
            .prepare_cached("SELECT coalesce(max(seq), 0) FROM log WHERE room = ?1")?
            .query_row(params![room], |r| r.get(0))?;
        Ok(u64::try_from(top).unwrap_or(0))
    }

    fn apply(&mut self, staged: Staged) {
        for event in &staged.deleted {
            self.committed.retain(|_, (e, _)| e != event);
        }
        self.committed.extend(staged.tops);
    }
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
            staged
                .tops
                .insert(a.room.clone(), (a.event.clone(), new_top));
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
            for g in groups {
                ins.execute(params![hall, g.index, event, g.room, g.opening])?;
            }
        }
        Job::DeleteEvent(id) => {
            for table in ["inputs", "log", "snapshots", "live_groups"] {
                conn.execute(
                    &format!("DELETE FROM {table} WHERE event = ?1"),
                    params![id],
                )?;
            }
            conn.execute("DELETE FROM events WHERE id = ?1", params![id])?;
            staged.tops.retain(|_, (e, _)| e != id);
            staged.deleted.push(id.clone());
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
mod tests {
    use super::*;
    use crate::journal::wait;

    fn temp_db() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cg-journal-{}", crate::config::random_hex(6)));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("journal.db")
    }

    fn append(event: &str, room: &str, first: u64, n: usize) -> Append {
        Append {
            event: event.into(),
            room: room.into(),
            first_seq: first,
            input: format!("input-{first}").into_bytes(),
            events: (0..n)
                .map(|i| format!("ev-{}", first + i as u64).into_bytes())
                .collect(),
        }
    }

    #[tokio::test]
    async fn appends_from_many_rooms_survive_a_reopen_and_a_snapshot_trims() {
        let path = temp_db();
        {
            let j = SqliteJournal::open(&path).unwrap();
            let acks: Vec<Ack> = (0..200)
                .map(|i| j.append(append("e1", &format!("e1/r{}", i % 10), 1 + i / 10 * 2, 2)))
                .collect();
            for a in acks {
                wait(a).await.unwrap();
            }
            wait(j.snapshot(Snapshot {
                event: "e1".into(),
                room: "e1/r0".into(),
                seq: 40,
                engine: b"engine".to_vec(),
            }))
            .await
            .unwrap();
            wait(j.append(append("e1", "e1/r0", 41, 1))).await.unwrap();
        }
        let j = SqliteJournal::open(&path).unwrap();
        let r0 = j.load_room("e1/r0").unwrap();
        assert_eq!(r0.snapshot, Some((40, b"engine".to_vec())));
        assert_eq!(r0.inputs, vec![b"input-41".to_vec()]);
        assert_eq!(r0.top(), 41);
        let r3 = j.load_room("e1/r3").unwrap();
        assert_eq!(r3.inputs.len(), 20);
        assert_eq!(r3.events.len(), 40);
        assert!(r3.events.windows(2).all(|w| w[1].0 == w[0].0 + 1));
    }

    /// Makes every later write of a log row whose body is `poison` fail inside SQLite (as a
    /// full disk would), until [`cure`] drops the trigger.
    fn poison(path: &Path) {
        Connection::open(path)
            .unwrap()
            .execute_batch(
                "CREATE TRIGGER poison BEFORE INSERT ON log WHEN NEW.body = CAST('poison' AS BLOB)
                 BEGIN SELECT RAISE(ABORT, 'poisoned write'); END;",
            )
            .unwrap();
    }

    fn cure(path: &Path) {
        Connection::open(path)
            .unwrap()
            .execute_batch("DROP TRIGGER poison")
            .unwrap();
    }

    fn poisoned(event: &str, room: &str, first: u64) -> Append {
        Append {
            events: vec![b"poison".to_vec()],
            ..append(event, room, first, 1)
        }
    }

    /// Holds the database's write lock from another connection until the guard commits, so
    /// writes queued meanwhile reach the writer together, as one batch.
    fn hold_write_lock(path: &Path) -> Connection {
        let c = Connection::open(path).unwrap();
        c.execute_batch("BEGIN IMMEDIATE").unwrap();
        c
    }

    #[tokio::test]
    async fn a_failing_write_fails_alone_and_stores_nothing() {
        let path = temp_db();
        let j = SqliteJournal::open(&path).unwrap();
        wait(j.append(append("e1", "e1/hall", 1, 2))).await.unwrap();
        poison(&path);
        let bad = j.append(poisoned("e1", "e1/group-1", 1));
        let ok = j.append(append("e1", "e1/hall", 3, 1));
        assert!(matches!(wait(bad).await, Err(JournalError::Unavailable(_))));
        wait(ok).await.unwrap();
        let r = j.load_room("e1/hall").unwrap();
        assert_eq!(r.inputs.len(), 2);
        assert_eq!(r.top(), 3);
        let g = j.load_room("e1/group-1").unwrap();
        assert!(g.inputs.is_empty() && g.events.is_empty());
    }

    #[tokio::test]
    async fn a_gap_is_refused_with_what_queued_behind_it_and_nothing_is_stored() {
        let path = temp_db();
        {
            let j = SqliteJournal::open(&path).unwrap();
            wait(j.append(append("e1", "e1/hall", 1, 2))).await.unwrap();
            // Pipelined: a gap, then one that would follow it; a replay of stored seqs.
            let gap = j.append(append("e1", "e1/hall", 4, 1));
            let behind = j.append(append("e1", "e1/hall", 5, 1));
            let replayed = j.append(append("e1", "e1/hall", 2, 1));
            assert_eq!(
                wait(gap).await,
                Err(JournalError::SeqMismatch {
                    expected: 3,
                    got: 4
                })
            );
            assert_eq!(
                wait(behind).await,
                Err(JournalError::SeqMismatch {
                    expected: 3,
                    got: 5
                })
            );
            assert_eq!(
                wait(replayed).await,
                Err(JournalError::SeqMismatch {
                    expected: 3,
                    got: 2
                })
            );
            let r = j.load_room("e1/hall").unwrap();
            assert_eq!(r.inputs.len(), 1);
            assert_eq!(r.top(), 2);
            // An input without events carries top + 1 and leaves the top where it was.
            wait(j.append(append("e1", "e1/hall", 3, 0))).await.unwrap();
            wait(j.append(append("e1", "e1/hall", 3, 1))).await.unwrap();
        }
        // A fresh writer reads the top from the file.
        let j = SqliteJournal::open(&path).unwrap();
        assert_eq!(
            wait(j.append(append("e1", "e1/hall", 3, 1))).await,
            Err(JournalError::SeqMismatch {
                expected: 4,
                got: 3
            })
        );
        wait(j.append(append("e1", "e1/hall", 4, 1))).await.unwrap();
        let r = j.load_room("e1/hall").unwrap();
        assert_eq!(r.inputs.len(), 4);
        assert_eq!(r.top(), 4);
        assert_eq!(
            r.events.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
            vec![1, 2, 3, 4]
        );
    }

    #[tokio::test]
    async fn a_failed_batch_does_not_advance_the_tops() {
        let path = temp_db();
        let j = SqliteJournal::open(&path).unwrap();
        wait(j.append(append("e1", "e1/hall", 1, 1))).await.unwrap();
        poison(&path);
        let lock = hold_write_lock(&path);
        // One batch: the hall's next append, then the poisoned one and one pipelined
        // behind it. The batch fails as a whole; each is retried alone.
        let first = j.append(append("e1", "e1/hall", 2, 2));
        let bad = j.append(poisoned("e1", "e1/hall", 4));
        let behind = j.append(append("e1", "e1/hall", 5, 1));
        lock.execute_batch("COMMIT").unwrap();
        drop(lock);
        wait(first).await.unwrap();
        assert!(matches!(wait(bad).await, Err(JournalError::Unavailable(_))));
        assert_eq!(
            wait(behind).await,
            Err(JournalError::SeqMismatch {
                expected: 4,
                got: 5
            })
        );
        // A write failing alone leaves the top too.
        assert!(matches!(
            wait(j.append(poisoned("e1", "e1/hall", 4))).await,
            Err(JournalError::Unavailable(_))
        ));
        cure(&path);
        wait(j.append(append("e1", "e1/hall", 4, 1))).await.unwrap();
        let r = j.load_room("e1/hall").unwrap();
        assert_eq!(r.top(), 4);
        assert_eq!(r.inputs.len(), 3);
    }

    #[tokio::test]
    async fn in_order_appends_of_two_rooms_interleaved_are_all_stored() {
        let path = temp_db();
        let j = SqliteJournal::open(&path).unwrap();
        let mut next = [1u64, 1u64];
        let mut acks = Vec::new();
        for i in 0..300usize {
            let r = i % 2;
            let n = i % 3; // 0, 1 or 2 events
            let room = if r == 0 { "e1/hall" } else { "e2/hall" };
            let event = if r == 0 { "e1" } else { "e2" };
            acks.push(j.append(append(event, room, next[r], n)));
            next[r] += n as u64;
        }
        for a in acks {
            wait(a).await.unwrap();
        }
        for (room, top) in [("e1/hall", next[0] - 1), ("e2/hall", next[1] - 1)] {
            let r = j.load_room(room).unwrap();
            assert_eq!(r.inputs.len(), 150);
            assert_eq!(r.top(), top);
            assert_eq!(
                r.events.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
                (1..=top).collect::<Vec<_>>()
            );
        }
    }

    #[tokio::test]
    async fn a_deleted_event_starts_again_at_seq_one() {
        let path = temp_db();
        let j = SqliteJournal::open(&path).unwrap();
        wait(j.append(append("e1", "e1/hall", 1, 3))).await.unwrap();
        // Queued behind the delete, in the same batch or the next: the room starts afresh.
        let del = j.delete_event("e1");
        let again = j.append(append("e1", "e1/hall", 1, 1));
        wait(del).await.unwrap();
        wait(again).await.unwrap();
        assert_eq!(j.load_room("e1/hall").unwrap().top(), 1);
    }

    #[tokio::test]
    async fn deleting_an_event_leaves_no_row() {
        let path = temp_db();
        let j = SqliteJournal::open(&path).unwrap();
        wait(j.put_event("e1", b"{}".to_vec())).await.unwrap();
        wait(j.put_event("e2", b"{}".to_vec())).await.unwrap();
        wait(j.append(append("e1", "e1/hall", 1, 3))).await.unwrap();
        wait(j.append(append("e2", "e2/hall", 1, 1))).await.unwrap();
        wait(j.snapshot(Snapshot {
            event: "e1".into(),
            room: "e1/group-1".into(),
            seq: 0,
            engine: vec![1],
        }))
        .await
        .unwrap();
        let g = |i| LiveGroup {
            index: i,
            room: format!("e1/group-{}", i + 1),
            opening: 1,
        };
        wait(j.put_groups("e1", "e1/hall", vec![g(0), g(1)]))
            .await
            .unwrap();
        assert_eq!(rows_of_event(&path, "e1").unwrap(), 1 + 1 + 1 + 3 + 2);
        wait(j.delete_event("e1")).await.unwrap();
        assert_eq!(rows_of_event(&path, "e1").unwrap(), 0);
        assert_eq!(rows_of_event(&path, "e2").unwrap(), 3);
    }

    #[tokio::test]
    async fn live_groups_are_replaced_and_survive_a_reopen() {
        let path = temp_db();
        let g = |index, n, opening| LiveGroup {
            index,
            room: format!("e1/group-{n}"),
            opening,
        };
        {
            let j = SqliteJournal::open(&path).unwrap();
            assert!(j.load_groups("e1/hall").unwrap().is_empty());
            wait(j.put_groups("e1", "e1/hall", vec![g(1, 2, 1), g(0, 1, 1)]))
                .await
                .unwrap();
            // A new opening replaces the groups; another hall's stay.
            wait(j.put_groups("e1", "e1/hall", vec![g(0, 3, 2)]))
                .await
                .unwrap();
            wait(j.put_groups("e2", "e2/hall", vec![g(0, 9, 1)]))
                .await
                .unwrap();
        }
        let j = SqliteJournal::open(&path).unwrap();
        assert_eq!(j.load_groups("e1/hall").unwrap(), vec![g(0, 3, 2)]);
        assert_eq!(j.load_groups("e2/hall").unwrap().len(), 1);
        wait(j.put_groups("e1", "e1/hall", Vec::new()))
            .await
            .unwrap();
        assert!(j.load_groups("e1/hall").unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_version_1_database_is_migrated_forward_and_keeps_its_rows() {
        let path = temp_db();
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch(MIGRATIONS[0]).unwrap();
            c.execute_batch(&format!(
                "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = 1;
                 INSERT INTO events (id, meta) VALUES ('e1', X'7B7D');
                 INSERT INTO log (room, seq, event, body) VALUES ('e1/hall', 1, 'e1', X'01');"
            ))
            .unwrap();
        }
        let j = SqliteJournal::open(&path).unwrap();
        let version: i64 = Connection::open(&path)
            .unwrap()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        assert_eq!(SCHEMA_VERSION, 2);
        assert_eq!(j.events().unwrap(), vec![b"{}".to_vec()]);
        assert_eq!(j.load_room("e1/hall").unwrap().top(), 1);
        // The next append continues the stored events; the new table takes groups.
        wait(j.append(append("e1", "e1/hall", 2, 1))).await.unwrap();
        let g = LiveGroup {
            index: 0,
            room: "e1/group-1".into(),
            opening: 1,
        };
        wait(j.put_groups("e1", "e1/hall", vec![g.clone()]))
            .await
            .unwrap();
        assert_eq!(j.load_groups("e1/hall").unwrap(), vec![g]);
    }

    #[test]
    fn a_newer_schema_and_a_foreign_file_are_refused() {
        let path = temp_db();
        drop(SqliteJournal::open(&path).unwrap());
        let c = Connection::open(&path).unwrap();
        c.execute_batch(&format!("PRAGMA user_version = {}", SCHEMA_VERSION + 1))
            .unwrap();
        drop(c);
        let err = SqliteJournal::open(&path).unwrap_err();
        assert!(matches!(err, JournalError::TooNew { .. }), "{err}");
        assert!(err.to_string().contains("newer"), "{err}");

        let junk = temp_db();
        std::fs::write(
            &junk,
            b"this is not a database, just text that is long enough",
        )
        .unwrap();
        let err = SqliteJournal::open(&junk).unwrap_err();
        assert!(matches!(err, JournalError::Corrupt(_)), "{err}");

        let other = temp_db();
        let c = Connection::open(&other).unwrap();
        c.execute_batch("CREATE TABLE t (x); PRAGMA user_version = 1;")
            .unwrap();
        drop(c);
        let err = SqliteJournal::open(&other).unwrap_err();
        assert!(
            err.to_string().contains("not a Commonground database"),
            "{err}"
        );
    }
}
