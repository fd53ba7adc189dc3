//! A turn is never eaten by an outage (#21 finding 6), on the real binary: a deadline that
//! passed while no node ran the room ends its turn at that deadline, with its own
//! accounting, and the next speaker's turn starts when the room runs again, with its full
//! length. Single node: SIGKILL during a turn, down past its deadline, restart on the same
//! SQLite data dir.
//!
//! Waits are bounded (every read has a timeout). The only sleep keeps the server down past a
//! deadline; no assertion depends on how fast anything is: they compare the server's own
//! timestamps with each other.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};

use common::cluster_node::{spawn_single, unique, Node};
use common::Client;

/// The turn length of the test protocol.
const TURN_MS: u64 = 3_000;

/// An open floor with short turns that end on their own.
fn protocols() -> PathBuf {
    let dir = common::protocol_dir();
    std::fs::write(
        dir.join("outage-floor.toml"),
        r#"name = "outage-floor"
title = "Open floor, short turns"
description = "An open floor whose turns end on their own after a few seconds."

[[phase]]
id = "open"
kind = "queue"
title = "Open floor"
prompt = "What matters to you?"
ordering = "fifo"
turn = "3s"
"#,
    )
    .unwrap();
    dir
}

/// Joins with `resume` from seq 0: the client, its `welcome` and every event the room keeps.
async fn join_resumed(node: &Node, event: &str, token: &str) -> (Client, Value, Vec<Value>) {
    let mut c = node.connect().await;
    c.send(json!({"type": "hello", "token": token,
        "resume": {"room": format!("{event}/hall"), "last_seq": 0}}))
        .await;
    let welcome = c.recv_json().await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    c.member = welcome["member"].as_str().unwrap().to_string();
    let resumed = c.recv_json().await;
    assert_eq!(resumed["type"], "resumed", "{resumed}");
    assert_eq!(resumed["recovered"], true, "{resumed}");
    let events = resumed["events"].as_array().unwrap().clone();
    (c, welcome, events)
}

fn of_type<'a>(events: &'a [Value], ty: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event"]["type"] == ty).collect()
}

fn at(e: &Value) -> u64 {
    e["at"].as_u64().expect("an event time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_past_a_deadline_the_next_speaker_gets_the_full_turn() {
    let dir = std::env::temp_dir().join(unique("outage-data"));
    let protocols = protocols();
    let mut node = spawn_single(&dir, &protocols);
    let event = node.create_event("outage-floor").await;
    let fac_t = node.invite(&event, "facilitator", "Fac", None).await;
    let ana_t = node
        .invite(&event, "participant", "Ana", Some("Dayton, OH"))
        .await;
    let ben_t = node
        .invite(&event, "participant", "Ben", Some("Boulder, CO"))
        .await;
    let mut fac = node.join(&fac_t).await;
    fac.ok(json!({"type": "start"})).await;
    let mut ana = node.join(&ana_t).await;
    let mut ben = node.join(&ben_t).await;
    ana.ok(json!({"type": "raise_hand"})).await;
    let granted = ana.event("floor_granted").await;
    let ana_deadline = granted["event"]["deadline"].as_u64().expect("a deadline");
    assert_eq!(ana_deadline, at(&granted) + TURN_MS);
    ben.ok(json!({"type": "raise_hand"})).await;
    drop((fac, ana, ben));
    node.kill();
    // Down past Ana's deadline (and past all of what would have been Ben's turn before).
    tokio::time::sleep(Duration::from_millis(2 * TURN_MS + 500)).await;
    node = spawn_single(&dir, &protocols);
    let (mut ben, welcome, events) = join_resumed(&node, &event, &ben_t).await;
    let mut events = events;
    if of_type(&events, "floor_granted").len() < 2 {
        events.push(ben.event("floor_granted").await);
    }
    // Ana's turn ended at its own deadline, with its own length credited.
    let released = of_type(&events, "floor_released");
    let ana_end = released
        .iter()
        .find(|e| e["event"]["member"] != ben.member.as_str())
        .expect("ana's turn ended");
    assert_eq!(ana_end["event"]["reason"], "expired", "{ana_end}");
    assert_eq!(at(ana_end), ana_deadline, "{ana_end}");
    assert_eq!(ana_end["event"]["held_ms"], TURN_MS, "{ana_end}");
    assert!(
        !released
            .iter()
            .any(|e| e["event"]["member"] == ben.member.as_str()),
        "ben's turn did not end before anyone heard of it: {released:?}"
    );
    // Ben's turn started after the restart, with its full length from then.
    let ben_grant = *of_type(&events, "floor_granted").last().unwrap();
    assert_eq!(ben_grant["event"]["member"], ben.member.as_str());
    let ben_deadline = ben_grant["event"]["deadline"].as_u64().unwrap();
    assert!(
        at(ben_grant) > ana_deadline,
        "ben's turn starts after the outage, not at ana's deadline: {ben_grant}"
    );
    assert_eq!(ben_deadline, at(ben_grant) + TURN_MS, "{ben_grant}");
    let server_time = welcome["server_time"].as_u64().unwrap();
    assert!(
        ben_deadline > server_time,
        "ben heard of a turn that had time left: {ben_grant} at {server_time}"
    );
    // And it runs its full length.
    let ben_end = ben.event("floor_released").await;
    assert_eq!(ben_end["event"]["member"], ben.member.as_str());
    assert_eq!(ben_end["event"]["reason"], "expired", "{ben_end}");
    assert_eq!(at(&ben_end), ben_deadline, "{ben_end}");
    assert_eq!(ben_end["event"]["held_ms"], TURN_MS, "{ben_end}");
    node.terminate();
    let _ = std::fs::remove_dir_all(&dir);
}
