//! Several inputs of one room share one commit (`room/batch.rs`), with the real binary on a
//! real SQLite data dir: commands pipelined by many members are all acknowledged, in order
//! per member, and every acknowledged one survives a SIGKILL; the store's counters show the
//! inputs shared commits. A run of pipelined commands the database refuses is answered
//! `unavailable`, none of it is stored, and the room goes on from what the journal holds
//! (the engine was rebuilt, not left with the refused inputs applied).
//!
//! Waits are bounded (every read has a timeout); nothing measures wall-clock time.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::{json, Value};

use common::cluster_node::{spawn_single, unique, Node};
use common::Client;

fn data_dir() -> PathBuf {
    std::env::temp_dir().join(unique("pipelining-data"))
}

/// Sends `n` broadcasts tagged `tag` without waiting, then reads every answer; returns the
/// answers by id in the order they came.
async fn pipeline(c: &mut Client, tag: &str, n: u64) -> Vec<(u64, Value)> {
    for i in 1..=n {
        c.send(json!({"type": "broadcast", "text": format!("{tag}-{i}"), "id": i}))
            .await;
    }
    let mut answers = Vec::new();
    while (answers.len() as u64) < n {
        let m = c.read_json().await;
        if m["type"] == "ack" || m["type"] == "error" {
            answers.push((m["id"].as_u64().unwrap(), m));
        }
    }
    answers
}

/// Every event the hall keeps, through a resume from seq 0.
async fn logged(node: &Node, event: &str, token: &str) -> Vec<Value> {
    let (_c, resumed) = node.resume(token, &format!("{event}/hall"), 0).await;
    assert_eq!(resumed["recovered"], true, "{resumed}");
    resumed["events"].as_array().unwrap().clone()
}

fn broadcasts(events: &[Value]) -> BTreeSet<String> {
    events
        .iter()
        .filter(|e| e["event"]["type"] == "broadcast")
        .map(|e| e["event"]["text"].as_str().unwrap().to_string())
        .collect()
}

async fn metric(node: &Node, name: &str) -> u64 {
    let (status, body) = node.http("GET", "/metrics", None).await;
    assert_eq!(status, 200);
    body.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} in /metrics"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_commands_share_commits_and_every_ack_survives_a_kill() {
    let dir = data_dir();
    let protocols = common::protocol_dir();
    let mut node = spawn_single(&dir, &protocols);
    let event = node.create_event("test-open").await;
    const MEMBERS: usize = 8;
    const EACH: u64 = 30;
    let mut tokens = Vec::new();
    let mut clients = Vec::new();
    for i in 0..MEMBERS {
        let t = node
            .invite(&event, "facilitator", &format!("Fac {i}"), None)
            .await;
        clients.push(node.join(&t).await);
        tokens.push(t);
    }
    clients[0].ok(json!({"type": "start"})).await;
    let commits_before = metric(&node, "commonground_store_commits_total").await;
    let inputs_before = metric(&node, "commonground_store_inputs_total").await;
    // Every member pipelines its broadcasts at once.
    let runs: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, mut c)| {
            tokio::spawn(async move {
                let answers = pipeline(&mut c, &format!("m{i}"), EACH).await;
                (i, answers, c)
            })
        })
        .collect();
    let mut acked = BTreeSet::new();
    let mut keep = Vec::new();
    for run in runs {
        let (i, answers, c) = run.await.unwrap();
        let ids: Vec<u64> = answers.iter().map(|(id, _)| *id).collect();
        assert_eq!(
            ids,
            (1..=EACH).collect::<Vec<_>>(),
            "one member's answers in order"
        );
        for (id, a) in answers {
            assert_eq!(a["type"], "ack", "{a}");
            acked.insert(format!("m{i}-{id}"));
        }
        keep.push(c);
    }
    let commits = metric(&node, "commonground_store_commits_total").await - commits_before;
    let inputs = metric(&node, "commonground_store_inputs_total").await - inputs_before;
    assert!(inputs >= MEMBERS as u64 * EACH, "{inputs} inputs stored");
    assert!(
        commits < inputs,
        "{inputs} inputs in {commits} commits: pipelined inputs must share commits"
    );
    node.kill();
    drop(keep);
    node = spawn_single(&dir, &protocols);
    let events = logged(&node, &event, &tokens[0]).await;
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "gap in {seqs:?}");
    let stored = broadcasts(&events);
    let lost: Vec<_> = acked.difference(&stored).collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
    // Each member's broadcasts are in the log in the order it sent them.
    let mut last: BTreeMap<String, u64> = BTreeMap::new();
    for text in events
        .iter()
        .filter(|e| e["event"]["type"] == "broadcast")
        .map(|e| e["event"]["text"].as_str().unwrap())
    {
        let (who, n) = text.rsplit_once('-').unwrap();
        let n: u64 = n.parse().unwrap();
        let prev = last.insert(who.to_string(), n).unwrap_or(0);
        assert_eq!(n, prev + 1, "{who}'s broadcasts out of order");
    }
    drop(node);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_run_of_pipelined_inputs_is_undone_and_never_stored() {
    let dir = data_dir();
    let protocols = common::protocol_dir();
    let mut node = spawn_single(&dir, &protocols);
    let event = node.create_event("test-open").await;
    let fac_t = node.invite(&event, "facilitator", "Fac", None).await;
    let ana_t = node
        .invite(&event, "participant", "Ana", Some("Dayton, OH"))
        .await;
    let mut fac = node.join(&fac_t).await;
    let mut ana = node.join(&ana_t).await;
    fac.ok(json!({"type": "start"})).await;
    fac.ok(json!({"type": "broadcast", "text": "stored-1"}))
        .await;
    // Another process holds the database's write lock: every commit fails.
    let db = dir.join(commonground::journal::dir::DB_FILE);
    let lock = rusqlite::Connection::open(&db).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();
    ana.send(json!({"type": "raise_hand", "id": 900})).await;
    let answers = pipeline(&mut fac, "refused", 3).await;
    for (_, a) in &answers {
        assert_eq!(a["type"], "error", "{a}");
        assert_eq!(a["code"], "unavailable", "{a}");
    }
    let hand = ana
        .recv_until(|m| m["type"] == "error" && m["id"] == 900)
        .await;
    assert_eq!(hand["code"], "unavailable", "{hand}");
    lock.execute_batch("ROLLBACK").unwrap();
    drop(lock);
    // The raised hand was undone with the rest: raising it again is taken, not refused as
    // already raised, and the room goes on.
    ana.ok(json!({"type": "raise_hand"})).await;
    fac.ok(json!({"type": "broadcast", "text": "stored-2"}))
        .await;
    node.kill();
    node = spawn_single(&dir, &protocols);
    let events = logged(&node, &event, &fac_t).await;
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "gap in {seqs:?}");
    let stored = broadcasts(&events);
    assert!(
        stored.contains("stored-1") && stored.contains("stored-2"),
        "{stored:?}"
    );
    assert!(
        stored.iter().all(|t| !t.starts_with("refused")),
        "{stored:?}"
    );
    let raised = events
        .iter()
        .filter(|e| e["event"]["type"] == "hand_raised")
        .count();
    assert_eq!(raised, 1, "one stored raised hand");
    drop(node);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_member_s_pipelined_commands_share_commits_in_order() {
    let dir = data_dir();
    let protocols = common::protocol_dir();
    let node = spawn_single(&dir, &protocols);
    let event = node.create_event("test-open").await;
    let t = node.invite(&event, "facilitator", "Fac", None).await;
    let mut fac = node.join(&t).await;
    fac.ok(json!({"type": "start"})).await;
    let commits_before = metric(&node, "commonground_store_commits_total").await;
    let inputs_before = metric(&node, "commonground_store_inputs_total").await;
    // The gateway lets a few of one connection's commands wait in the room at once, so a
    // member who does not wait for each ack does not wait for each commit either.
    let answers = pipeline(&mut fac, "solo", 30).await;
    let ids: Vec<u64> = answers.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, (1..=30).collect::<Vec<_>>(), "answers in order");
    assert!(
        answers.iter().all(|(_, a)| a["type"] == "ack"),
        "{answers:?}"
    );
    let commits = metric(&node, "commonground_store_commits_total").await - commits_before;
    let inputs = metric(&node, "commonground_store_inputs_total").await - inputs_before;
    assert_eq!(inputs, 30, "one input per command");
    assert!(
        commits < inputs,
        "30 pipelined commands in {commits} commits"
    );
    drop(node);
    let _ = std::fs::remove_dir_all(&dir);
}
