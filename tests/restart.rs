//! Restarts of the real binary on the same data dir (the SQLite journal, the default): the
//! server is SIGKILLed while facilitators send commands with ids, and restarted. Every
//! acknowledged command must be in the event log (resume from seq 0), the transcript and the
//! report; no refused one is; sequence numbers continue without a gap; invite links minted
//! before the crash still join; a turn granted before the crash ends at its announced
//! deadline. Also a clean SIGTERM restart, a restart after the event ended, a delete that
//! leaves no row in the database, a write the database refuses (answered `unavailable`,
//! never stored), a newer or foreign database refused at start, and a live breakout that
//! survives a SIGKILL or a SIGTERM (everyone back in the same group room, which goes on).
//!
//! Waits are bounded (every read has a timeout); nothing measures wall-clock time.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use common::cluster_node::{group_rooms, request, spawn_single, unique, Node};
use common::Client;

/// The test protocols plus an open floor with a short turn, for the timer check.
fn protocols() -> PathBuf {
    let dir = common::protocol_dir();
    common::write_open_floor(&dir, "restart-floor", "4s");
    dir
}

fn data_dir() -> PathBuf {
    std::env::temp_dir().join(unique("restart-data"))
}

async fn create_event(node: &Node, protocol: &str) -> String {
    let (status, body) = request(
        node.addr,
        "POST",
        "/api/events",
        Some(json!({"title": "Restart", "protocol": protocol,
            "communities": ["Dayton, OH", "Boulder, CO"], "seed": 11})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["id"].as_str().unwrap().to_string()
}

async fn invite(
    node: &Node,
    event: &str,
    role: &str,
    name: &str,
    community: Option<&str>,
) -> String {
    let (status, body) = request(
        node.addr,
        "POST",
        &format!("/api/events/{event}/invites"),
        Some(json!({"role": role, "name": name, "community": community})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["token"].as_str().unwrap().to_string()
}

/// Joins with `resume` from seq 0 and returns the client and every event the room still
/// keeps, which after a restart must be exactly what was stored.
async fn join_resumed(node: &Node, event: &str, token: &str) -> (Client, Vec<Value>) {
    let mut c = node.connect().await;
    c.send(json!({"type": "hello", "token": token,
        "resume": {"room": format!("{event}/hall"), "last_seq": 0}}))
        .await;
    let welcome = c.recv_json().await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    let resumed = c.recv_json().await;
    assert_eq!(resumed["type"], "resumed", "{resumed}");
    assert_eq!(resumed["recovered"], true, "{resumed}");
    let events = resumed["events"].as_array().unwrap().clone();
    (c, events)
}

fn seqs(events: &[Value]) -> Vec<u64> {
    events.iter().map(|e| e["seq"].as_u64().unwrap()).collect()
}

fn broadcasts(events: &[Value]) -> BTreeSet<String> {
    events
        .iter()
        .filter(|e| e["event"]["type"] == "broadcast")
        .map(|e| e["event"]["text"].as_str().unwrap().to_string())
        .collect()
}

/// What one sender saw: texts acknowledged, texts refused.
#[derive(Default)]
struct Sent {
    acked: Vec<String>,
    refused: Vec<String>,
}

/// Sends broadcasts until the connection dies (the server is killed) or `max` are answered.
async fn send_until_dead(mut c: Client, tag: String, max: usize) -> Sent {
    let mut sent = Sent::default();
    for i in 0..max {
        let text = format!("{tag}-{i}");
        c.send(json!({"type": "broadcast", "text": text, "id": i + 1}))
            .await;
        // Until this command's answer, or the socket ends.
        let reply = loop {
            let Ok(Some(m)) = tokio::time::timeout(common::WAIT, c.recv_msg()).await else {
                break None;
            };
            let tungstenite::Message::Text(t) = m else {
                if matches!(m, tungstenite::Message::Close(_)) {
                    break None;
                }
                continue;
            };
            let v: Value = serde_json::from_str(&t).unwrap();
            if (v["type"] == "ack" || v["type"] == "error") && v["id"] == json!(i + 1) {
                break Some(v);
            }
        };
        match reply {
            Some(v) if v["type"] == "ack" => sent.acked.push(text),
            Some(_) => sent.refused.push(text),
            None => break,
        }
    }
    sent
}

use tokio_tungstenite::tungstenite;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_session_loses_no_acknowledged_command() {
    let dir = data_dir();
    let protocols = protocols();
    let mut node = spawn_single(&dir, &protocols);
    let event = create_event(&node, "test-open").await;
    let tokens: Vec<String> = {
        let mut t = Vec::new();
        for name in ["Fac A", "Fac B", "Fac C"] {
            t.push(invite(&node, &event, "facilitator", name, None).await);
        }
        t
    };
    let mut fac = node.join(&tokens[0]).await;
    fac.ok(json!({"type": "start"})).await;
    drop(fac);
    let mut all_acked = BTreeSet::new();
    let mut all_refused = BTreeSet::new();
    let mut top = 0u64;
    // Seeded rounds: the kill comes after a different number of acknowledged commands.
    let mut rng = 0x5eed_u64;
    for round in 0..3u64 {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let kill_after = 10 + (rng >> 33) % 40;
        let mut senders = Vec::new();
        let mut first = None;
        for (k, token) in tokens.iter().enumerate() {
            // Invite links minted before any restart still join.
            let (c, events) = join_resumed(&node, &event, token).await;
            let s = seqs(&events);
            assert!(s.windows(2).all(|w| w[1] == w[0] + 1), "gap in {s:?}");
            if first.is_none() {
                first = Some(events);
            }
            senders.push(tokio::spawn(send_until_dead(
                c,
                format!("r{round}-s{k}"),
                1_000,
            )));
        }
        let events = first.unwrap();
        // Everything acknowledged before the last kill is in the log, nothing refused is, and
        // numbering continued from where it was.
        let logged = broadcasts(&events);
        for t in &all_acked {
            assert!(logged.contains(t), "acked {t} lost after the restart");
        }
        for t in &all_refused {
            assert!(!logged.contains(t), "refused {t} is in the log");
        }
        let s = seqs(&events);
        assert_eq!(s.first(), Some(&1));
        assert!(
            *s.last().unwrap() >= top,
            "seq went back: {} < {top}",
            s.last().unwrap()
        );
        // Wait until enough commands were answered, then SIGKILL mid-stream.
        let metric_path = "/metrics";
        for _ in 0..2_000 {
            let (_, body) = request(node.addr, "GET", metric_path, None).await;
            let n = body
                .lines()
                .find_map(|l| l.strip_prefix("commonground_commands_total "))
                .and_then(|v| v.trim().parse::<f64>().ok())
                .unwrap_or(0.0);
            if n as u64 >= kill_after {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        node.kill();
        for s in senders {
            let sent = s.await.unwrap();
            all_acked.extend(sent.acked);
            all_refused.extend(sent.refused);
        }
        top = *s.last().unwrap();
        node = spawn_single(&dir, &protocols);
    }
    assert!(all_acked.len() >= 30, "only {} acked", all_acked.len());
    // After the last restart: the log, the transcript and the report hold every ack.
    let (_c, events) = join_resumed(&node, &event, &tokens[0]).await;
    let s = seqs(&events);
    assert!(s.windows(2).all(|w| w[1] == w[0] + 1), "gap in {s:?}");
    let logged = broadcasts(&events);
    for t in &all_acked {
        assert!(logged.contains(t), "acked {t} lost");
    }
    let (status, transcript) = request(
        node.addr,
        "GET",
        &format!("/api/events/{event}/transcript"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{transcript}");
    for t in &all_acked {
        assert!(
            transcript.contains(&format!("\"{t}\"")),
            "{t} not in the transcript"
        );
    }
    for t in &all_refused {
        assert!(
            !transcript.contains(&format!("\"{t}\"")),
            "refused {t} in the transcript"
        );
    }
    let (status, report) = request(
        node.addr,
        "GET",
        &format!("/api/events/{event}/report"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{report}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_turn_granted_before_a_crash_ends_at_its_announced_deadline() {
    let dir = data_dir();
    let protocols = protocols();
    let mut node = spawn_single(&dir, &protocols);
    let event = create_event(&node, "restart-floor").await;
    let fac_t = invite(&node, &event, "facilitator", "Fac", None).await;
    let ana_t = invite(&node, &event, "participant", "Ana", Some("Dayton, OH")).await;
    let mut fac = node.join(&fac_t).await;
    fac.ok(json!({"type": "start"})).await;
    let mut ana = node.join(&ana_t).await;
    ana.ok(json!({"type": "raise_hand"})).await;
    let granted = ana.event("floor_granted").await;
    let deadline = granted["event"]["deadline"].as_u64().expect("a deadline");
    node.kill();
    node = spawn_single(&dir, &protocols);
    // Ana comes back with the link she had; the turn ends at the deadline it announced,
    // whether that passed while the server was down or not.
    let (mut ana, events) = join_resumed(&node, &event, &ana_t).await;
    let released = match events
        .iter()
        .find(|e| e["event"]["type"] == "floor_released")
    {
        Some(e) => e.clone(),
        None => ana.event("floor_released").await,
    };
    assert_eq!(released["event"]["reason"], "expired", "{released}");
    assert_eq!(released["at"].as_u64(), Some(deadline), "{released}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_restart_and_restart_after_the_end_keep_the_event_then_delete_removes_every_row() {
    let dir = data_dir();
    let protocols = protocols();
    let mut node = spawn_single(&dir, &protocols);
    let event = create_event(&node, "test-open").await;
    let fac_t = invite(&node, &event, "facilitator", "Fac", None).await;
    let mut fac = node.join(&fac_t).await;
    fac.ok(json!({"type": "start"})).await;
    fac.ok(json!({"type": "broadcast", "text": "before-term"}))
        .await;
    drop(fac);
    node.terminate();
    node = spawn_single(&dir, &protocols);
    let (mut fac, events) = join_resumed(&node, &event, &fac_t).await;
    assert!(broadcasts(&events).contains("before-term"));
    fac.ok(json!({"type": "broadcast", "text": "after-term"}))
        .await;
    fac.ok(json!({"type": "end"})).await;
    let _ = fac.closed().await;
    node.kill();
    node = spawn_single(&dir, &protocols);
    // Ended: no join, but the report and the transcript are still served.
    let (status, ev) = request(node.addr, "GET", &format!("/api/events/{event}"), None).await;
    assert_eq!(status, 200, "{ev}");
    let (status, transcript) = request(
        node.addr,
        "GET",
        &format!("/api/events/{event}/transcript"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{transcript}");
    assert!(transcript.contains("before-term") && transcript.contains("after-term"));
    let (status, report) = request(
        node.addr,
        "GET",
        &format!("/api/events/{event}/report"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{report}");
    // Delete: not a single row of the event survives, in the file itself.
    let db = dir.join(commonground::journal::dir::DB_FILE);
    assert!(commonground::journal::sqlite::rows_of_event(&db, &event).unwrap() > 0);
    let (status, body) = request(node.addr, "DELETE", &format!("/api/events/{event}"), None).await;
    assert!(status == 200 || status == 204, "{status} {body}");
    assert_eq!(
        commonground::journal::sqlite::rows_of_event(&db, &event).unwrap(),
        0
    );
    node.kill();
    node = spawn_single(&dir, &protocols);
    let (status, _) = request(node.addr, "GET", &format!("/api/events/{event}"), None).await;
    assert_eq!(status, 404);
    drop(node);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_database_from_a_newer_version_or_not_a_database_is_refused_with_a_reason() {
    let protocols = protocols();
    for (name, setup) in [("newer", "newer" as &str), ("garbage", "garbage")] {
        let dir = data_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join(commonground::journal::dir::DB_FILE);
        match setup {
            "newer" => {
                let c = rusqlite_free_newer_db(&db);
                assert!(c);
            }
            _ => std::fs::write(&db, vec![b'x'; 4096]).unwrap(),
        }
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_commonground"))
            .args(["serve", "--bind", "127.0.0.1:0", "--demo", "false"])
            .arg("--data-dir")
            .arg(&dir)
            .arg("--protocols")
            .arg(&protocols)
            .env_remove("COMMONGROUND_CONFIG")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name}: started anyway");
        assert!(
            err.contains(&dir.display().to_string()) || err.contains("newer"),
            "{name}: {err}"
        );
        if name == "newer" {
            assert!(err.contains("newer"), "{err}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// A database as a newer server would leave it: our application id, a higher version.
fn rusqlite_free_newer_db(db: &Path) -> bool {
    let j = commonground::journal::sqlite::SqliteJournal::open(db).unwrap();
    j.close();
    drop(j);
    commonground::journal::sqlite::set_schema_version(
        db,
        commonground::journal::sqlite::SCHEMA_VERSION + 1,
    )
    .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_the_database_refuses_is_answered_unavailable_and_never_stored() {
    let dir = data_dir();
    let protocols = protocols();
    let mut node = spawn_single(&dir, &protocols);
    let event = create_event(&node, "test-open").await;
    let fac_t = invite(&node, &event, "facilitator", "Fac", None).await;
    let mut fac = node.join(&fac_t).await;
    fac.ok(json!({"type": "start"})).await;
    fac.ok(json!({"type": "broadcast", "text": "stored-1"}))
        .await;
    // Another process holds the database's write lock (as a careless backup tool would):
    // the server's commit fails at once.
    let db = dir.join(commonground::journal::dir::DB_FILE);
    let lock = rusqlite::Connection::open(&db).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();
    let r = fac
        .cmd(json!({"type": "broadcast", "text": "refused-1"}))
        .await;
    assert_eq!(r["type"], "error", "{r}");
    assert_eq!(r["code"], "unavailable", "{r}");
    lock.execute_batch("ROLLBACK").unwrap();
    drop(lock);
    // The room went back to what the journal holds and goes on.
    fac.ok(json!({"type": "broadcast", "text": "stored-2"}))
        .await;
    node.kill();
    node = spawn_single(&dir, &protocols);
    let (_fac, events) = join_resumed(&node, &event, &fac_t).await;
    let s = seqs(&events);
    assert!(s.windows(2).all(|w| w[1] == w[0] + 1), "gap in {s:?}");
    let logged = broadcasts(&events);
    assert!(
        logged.contains("stored-1") && logged.contains("stored-2"),
        "{logged:?}"
    );
    assert!(!logged.contains("refused-1"), "{logged:?}");
    drop(node);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The texts of a snapshot's messages, oldest first.
fn texts(snapshot: &Value) -> Vec<String> {
    snapshot["state"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_string())
        .collect()
}

/// Waits for a group room's `welcome` and `snapshot` on a participant's socket; returns the
/// room and the snapshot.
async fn group_welcome(c: &mut Client, hall: &str) -> (String, Value) {
    let h = hall.to_string();
    let w = c
        .recv_until(move |v| v["type"] == "welcome" && v["room"] != h.as_str())
        .await;
    assert_eq!(w["member"], c.member.as_str(), "{w}");
    let room = w["room"].as_str().unwrap().to_string();
    let r = room.clone();
    let snap = c
        .recv_until(move |v| v["type"] == "snapshot" && v["room"] == r.as_str())
        .await;
    (room, snap)
}

/// After a reassignment: reads until the old group's `left_room` (closed) and the new
/// group's `welcome` and `snapshot` (two rooms, so in either order); returns the new room.
async fn regrouped(c: &mut Client, hall: &str, old: &str) -> String {
    let (mut left, mut new, mut snapshot) = (false, None::<String>, false);
    // Bounded: every read has its own timeout (`common::WAIT`).
    for _ in 0..10_000 {
        let v = c.recv_json().await;
        match v["type"].as_str() {
            Some("left_room") if v["room"] == old => {
                assert_eq!(v["reason"], "closed", "{v}");
                left = true;
            }
            Some("welcome") if v["room"] != hall && v["room"] != old => {
                new = Some(v["room"].as_str().unwrap().to_string());
            }
            Some("snapshot") if new.is_some() && v["room"] == new.as_deref().unwrap() => {
                snapshot = true;
            }
            _ => {}
        }
        if let (true, Some(room), true) = (left, &new, snapshot) {
            return room.clone();
        }
    }
    panic!("no new group after leaving {old}");
}

/// How many live breakout groups the database records for the hall.
fn live_group_rows(db: &Path, hall: &str) -> i64 {
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row(
            "SELECT count(*) FROM live_groups WHERE hall = ?1",
            [hall],
            |r| r.get(0),
        )
        .unwrap()
}

/// The next group event of this type in `room`.
async fn event_in(c: &mut Client, room: &str, ty: &str) -> Value {
    let (room, ty) = (room.to_string(), ty.to_string());
    c.recv_until(move |v| v["type"] == "event" && v["room"] == room && v["event"]["type"] == ty)
        .await
}

/// Issue #16: a single node's live breakout survives a restart. Groups open, the members
/// are placed, the first speaker of one group speaks (acked); the server goes down
/// (`restart`: SIGKILL or SIGTERM) and comes back on the same data dir. Everyone who comes
/// back with `resume` is placed in the same group room, whose record still holds the acked
/// message; staff learn the same group rooms, and a facilitator's drop-in and broadcast in
/// the group work; with `floor_kept` (SIGKILL: nobody could leave) the speaker still holds
/// the floor and the go-round goes on to the next speaker. (A clean shutdown closes every
/// socket first, and a member whose leave the room took in time has left the group, as on
/// any disconnect.) A reassignment then opens new rooms numbered after every earlier one;
/// closing the breakout brings everyone back to the hall, and the report has the groups of
/// both openings. The hall's `live_groups` rows follow each change.
async fn a_live_breakout_survives(restart: fn(&mut Node), floor_kept: bool) {
    let dir = data_dir();
    let protocols = common::cluster_node::protocol_dir(None);
    let mut node = spawn_single(&dir, &protocols);
    let event = create_event(&node, "joint-town-hall").await;
    let hall = format!("{event}/hall");
    let fac_t = invite(&node, &event, "facilitator", "Fran", None).await;
    let mut tokens = Vec::new();
    for (i, city) in ["Dayton, OH", "Boulder, CO"]
        .iter()
        .cycle()
        .take(6)
        .enumerate()
    {
        tokens.push(invite(&node, &event, "participant", &format!("P{i}"), Some(city)).await);
    }
    let mut fac = node.join(&fac_t).await;
    let mut ps = Vec::new();
    for t in &tokens {
        ps.push(node.join(t).await);
    }
    fac.ok(json!({"type": "start"})).await;
    // Opening, the poll, its results, the open floor: the breakout opens.
    for _ in 0..4 {
        fac.ok(json!({"type": "next_phase"})).await;
    }
    let h = hall.clone();
    let frame = fac
        .recv_until(move |v| {
            v["type"] == "groups" && v["room"] == h.as_str() && v["groups"] != json!([])
        })
        .await;
    let rooms = group_rooms(&frame);
    assert!(rooms.len() >= 2, "six people make two groups: {frame}");
    let mut room_of = Vec::new();
    for p in ps.iter_mut() {
        room_of.push(group_welcome(p, &hall).await.0);
    }
    for r in &room_of {
        assert!(rooms.values().any(|g| g == r), "{r} is not in {rooms:?}");
    }
    // The go-round of participant 0's group gives its first speaker the floor, who speaks.
    let room = room_of[0].clone();
    let granted = event_in(&mut ps[0], &room, "floor_granted").await;
    assert_eq!(granted["event"]["turn"], "own", "{granted}");
    let first = granted["event"]["member"].as_str().unwrap().to_string();
    let i1 = ps.iter().position(|p| p.member == first).unwrap();
    assert_eq!(room_of[i1], room);
    ps[i1]
        .ok(json!({"type": "speak", "room": room, "text": "Before the restart."}))
        .await;
    let last_seqs: Vec<u64> = ps.iter().map(|p| p.last_seq).collect();
    let fac_seq = fac.last_seq;

    // The sockets stay open until the server is down: a client closing first would leave.
    restart(&mut node);
    drop((fac, ps));
    node = spawn_single(&dir, &protocols);

    // Everyone comes back to the hall with `resume` and is placed in the same group room.
    let mut ps = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        let (mut c, _) = node.resume(t, &hall, last_seqs[i]).await;
        let (r, snap) = group_welcome(&mut c, &hall).await;
        assert_eq!(r, room_of[i], "participant {i} is back in another room");
        if r == room {
            assert_eq!(texts(&snap), ["Before the restart."], "{snap}");
        }
        ps.push(c);
    }
    let (mut fac, _) = node.resume(&fac_t, &hall, fac_seq).await;
    let h = hall.clone();
    let frame = fac
        .recv_until(move |v| v["type"] == "groups" && v["room"] == h.as_str())
        .await;
    assert_eq!(
        group_rooms(&frame),
        rooms,
        "staff learn the same group rooms"
    );
    // The facilitator drops in on the group and speaks to it; its members hear it there.
    fac.ok(json!({"type": "join_room", "room": room})).await;
    let (r, snap) = group_welcome(&mut fac, &hall).await;
    assert_eq!(r, room);
    assert_eq!(texts(&snap), ["Before the restart."], "{snap}");
    fac.ok(json!({"type": "broadcast", "room": room, "text": "Still here."}))
        .await;
    let b = event_in(&mut ps[i1], &room, "broadcast").await;
    assert_eq!(b["event"]["text"], "Still here.");
    if floor_kept {
        // The speaker still holds the floor; the go-round goes on to the next, who sums
        // them up.
        ps[i1]
            .ok(json!({"type": "speak", "room": room, "text": "After the restart."}))
            .await;
        ps[i1]
            .ok(json!({"type": "yield_floor", "room": room}))
            .await;
        let reflect = event_in(&mut ps[i1], &room, "floor_granted").await;
        assert_eq!(reflect["event"]["turn"], "reflect", "{reflect}");
        assert_eq!(reflect["event"]["responding_to"], first.as_str());
        let second = reflect["event"]["member"].as_str().unwrap().to_string();
        let i2 = ps.iter().position(|p| p.member == second).unwrap();
        assert_eq!(room_of[i2], room);
        ps[i2]
            .ok(json!({"type": "speak", "room": room, "text": "You spoke before and after."}))
            .await;
    }

    let db = dir.join(commonground::journal::dir::DB_FILE);
    assert_eq!(live_group_rows(&db, &hall), rooms.len() as i64);

    // Reassigning makes new group rooms, numbered after every one before the restart.
    fac.ok(json!({"type": "open_breakouts", "assignment": "reshuffle"}))
        .await;
    let group_number = |r: &str| -> u32 { r.rsplit_once("group-").unwrap().1.parse().unwrap() };
    let highest = rooms.values().map(|r| group_number(r)).max().unwrap();
    let mut new_room_of = Vec::new();
    for (i, p) in ps.iter_mut().enumerate() {
        let r = regrouped(p, &hall, &room_of[i]).await;
        assert!(group_number(&r) > highest, "{r} reuses a number");
        new_room_of.push(r);
    }
    let new_rooms: BTreeSet<String> = new_room_of.iter().cloned().collect();
    // The hall recorded the new groups before it took its next command.
    fac.ok(json!({"type": "broadcast", "text": "New groups."}))
        .await;
    assert_eq!(live_group_rows(&db, &hall), new_rooms.len() as i64);

    // Closing the breakout brings everyone back to the hall, on the same socket.
    fac.ok(json!({"type": "close_breakouts"})).await;
    fac.ok(json!({"type": "next_phase"})).await;
    for (i, p) in ps.iter_mut().enumerate() {
        let r = new_room_of[i].clone();
        let left = p
            .recv_until(move |v| v["type"] == "left_room" && v["room"] == r.as_str())
            .await;
        assert_eq!(left["reason"], "closed", "{left}");
        assert_eq!(left["hall"], hall.as_str());
    }
    // The hall recorded that no group is live before it took its next command.
    fac.ok(json!({"type": "broadcast", "text": "Back in the hall."}))
        .await;
    assert_eq!(live_group_rows(&db, &hall), 0);
    assert_eq!(
        ps[i1]
            .refused(json!({"type": "speak", "room": new_room_of[i1], "text": "Gone?"}))
            .await,
        "unknown_room"
    );
    // The report has the groups from before the restart (opening 1) and the new ones (2),
    // and still has them after another restart, when none of them is live any more.
    let openings = [
        (rooms.values().cloned().collect::<Vec<_>>(), 1),
        (new_rooms.into_iter().collect::<Vec<_>>(), 2),
    ];
    let check_report = |report: String| {
        let report: Value = serde_json::from_str(&report).unwrap();
        let sections = report["groups"].as_array().unwrap().clone();
        for (rs, opening) in &openings {
            for r in rs {
                let section = sections
                    .iter()
                    .find(|g| g["room"] == r.as_str())
                    .unwrap_or_else(|| panic!("{r} is not in the report"));
                assert_eq!(section["opening"], *opening, "{section}");
            }
        }
        sections
    };
    let report_path = format!("/api/events/{event}/report");
    let (status, report) = request(node.addr, "GET", &report_path, None).await;
    assert_eq!(status, 200, "{report}");
    let before = check_report(report);
    drop(ps);
    drop(fac);
    restart(&mut node);
    let node = spawn_single(&dir, &protocols);
    let (status, report) = request(node.addr, "GET", &report_path, None).await;
    assert_eq!(status, 200, "{report}");
    let after = check_report(report);
    assert_eq!(
        after, before,
        "the report after a restart is the report before it"
    );
    drop(node);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_breakout_survives_sigkill() {
    a_live_breakout_survives(Node::kill, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_breakout_survives_a_clean_restart() {
    a_live_breakout_survives(Node::terminate, false).await;
}
