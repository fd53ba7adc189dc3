//! The SQLite writer's sequence check: each room's stored top (the highest stored event seq,
//! 0 before any), kept in memory so an append is checked without a read per write, and read
//! from the database (inside the writer's transaction) the first time a room is seen. What a
//! transaction changes is staged and applied only once it committed, so a failed or
//! rolled-back transaction leaves the tops as the database has them; a deleted event's rooms
//! are forgotten and start again from the database (empty: 0).

use std::collections::HashMap;

use rusqlite::{params, Connection};

/// Each room's stored top (highest stored event seq) as of the last commit, with the room's
/// event so a delete can drop its rooms. Rooms not in it are read from the database.
#[derive(Default)]
pub(super) struct Tops {
    committed: HashMap<String, (String, u64)>,
}

/// What one transaction changes of [`Tops`]; applied only once the transaction committed.
#[derive(Default)]
pub(super) struct Staged {
    tops: HashMap<String, (String, u64)>,
    /// Events deleted in this transaction: their committed tops no longer hold.
    deleted: Vec<String>,
}

impl Staged {
    /// The room's top after a write of this transaction.
    pub(super) fn set(&mut self, event: &str, room: &str, top: u64) {
        self.tops.insert(room.to_string(), (event.to_string(), top));
    }

    /// Every row of the event is deleted in this transaction: its rooms start again at 0.
    pub(super) fn delete_event(&mut self, event: &str) {
        self.tops.retain(|_, (e, _)| e != event);
        self.deleted.push(event.to_string());
    }
}

impl Tops {
    /// The room's top as this transaction sees it: staged, else committed, else (first
    /// time seen, or its event was deleted in this transaction) read inside the transaction.
    pub(super) fn top(
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

    pub(super) fn apply(&mut self, staged: Staged) {
        for event in &staged.deleted {
            self.committed.retain(|_, (e, _)| e != event);
        }
        self.committed.extend(staged.tops);
    }
}
