//! Tests of the SQLite journal, each on a real database file in a temp dir.

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
    // events, snapshot, input, 3 log rows, 2 live groups, the same 2 in group_rooms.
    assert_eq!(rows_of_event(&path, "e1").unwrap(), 1 + 1 + 1 + 3 + 2 + 2);
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
    assert_eq!(SCHEMA_VERSION, 3);
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

#[tokio::test]
async fn every_group_room_is_kept_after_it_closes_until_its_event_is_deleted() {
    let path = temp_db();
    let g = |index, n, opening| LiveGroup {
        index,
        room: format!("e1/group-{n}"),
        opening,
    };
    let j = SqliteJournal::open(&path).unwrap();
    wait(j.put_groups("e1", "e1/hall", vec![g(0, 1, 1), g(1, 2, 1)]))
        .await
        .unwrap();
    // A reshuffle, then the breakout closes: no group is live, every one is kept.
    wait(j.put_groups("e1", "e1/hall", vec![g(0, 3, 2), g(1, 4, 2)]))
        .await
        .unwrap();
    wait(j.put_groups("e1", "e1/hall", Vec::new()))
        .await
        .unwrap();
    assert!(j.load_groups("e1/hall").unwrap().is_empty());
    assert_eq!(
        j.group_rooms("e1/hall").unwrap(),
        vec![g(0, 1, 1), g(1, 2, 1), g(0, 3, 2), g(1, 4, 2)]
    );
    wait(j.delete_event("e1")).await.unwrap();
    assert!(j.group_rooms("e1/hall").unwrap().is_empty());
}
