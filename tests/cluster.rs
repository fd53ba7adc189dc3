//! Cluster mode end to end: **separate processes** of the real binary
//! (`CARGO_BIN_EXE_commonground serve --redis ...`), each printing its bound address, talking
//! through a real Redis. Tests that inject Redis faults start their own `redis-server` on a
//! free port (`--save '' --appendonly no`); the others share 127.0.0.1:6379 under a unique key
//! prefix. Leases are 1 s so takeovers are quick.
//!
//! Waits are bounded (every read has a timeout, loops have a bound); no assertion measures
//! wall-clock time: timers are checked through the deadline fields of the events themselves.

mod common;

use std::process::Command;
use std::time::Duration;

use common::cluster_node::{spawn_node, spawn_node_on, unique, OwnRedis, SHARED_REDIS};
use common::{Client, Closed};
use serde_json::{json, Value};

/// The shipped town hall and its breakout protocol (`cluster_node::protocol_dir`), and
/// protocols with short turns, so a timer fires within the test.
fn protocol_dir() -> std::path::PathBuf {
    let dir = common::cluster_node::protocol_dir(None);
    std::fs::write(
        dir.join("test-floor.toml"),
        r#"name = "test-floor"
title = "Open floor with short turns"
description = "An open floor whose turns end by themselves after four seconds."

[[phase]]
id = "open"
kind = "queue"
title = "Open floor"
prompt = "What matters to you?"
ordering = "fifo"
turn = "4s"
"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("test-open.toml"),
        r#"name = "test-open"
title = "Open floor only"
description = "An open floor with long timers."

[[phase]]
id = "open"
kind = "queue"
title = "Open floor"
prompt = "What matters to you?"
ordering = "fifo"
turn = "10m"
"#,
    )
    .unwrap();
    dir
}

fn seqs(c: &Client) -> Vec<u64> {
    c.events
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect()
}

/// Every client's events are in increasing order, and two clients that saw the same number
/// saw the same event.
fn assert_same_order(clients: &[&Client]) {
    let mut by_seq: std::collections::BTreeMap<u64, Value> = Default::default();
    for c in clients {
        let s = seqs(c);
        assert!(s.windows(2).all(|w| w[0] < w[1]), "{}: {s:?}", c.member);
        for e in &c.events {
            let seq = e["seq"].as_u64().unwrap();
            if let Some(seen) = by_seq.get(&seq) {
                assert_eq!(seen, e, "seq {seq} differs between clients");
            } else {
                by_seq.insert(seq, e.clone());
            }
        }
    }
}

/// No gap: a staff member sees every event, so their numbers are contiguous.
fn assert_contiguous(c: &Client, from: u64) {
    let s = seqs(c);
    let want: Vec<u64> = (from + 1..=from + s.len() as u64).collect();
    assert_eq!(s, want, "{}: a gap or a duplicate", c.member);
}

/// Bounds a whole test: a hang fails it instead of running forever.
async fn bounded(test: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(Duration::from_secs(60), test)
        .await
        .expect("the test finishes within 60 s");
}

/// Waits until `pred` holds, polling (bounded).
async fn eventually<F, Fut>(what: &str, mut pred: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..200 {
        if pred().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

fn redis_get(url: &str, key: &str) -> Option<String> {
    let port = url
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .unwrap_or("6379")
        .to_string();
    let out = Command::new("redis-cli")
        .args(["-p", &port, "GET", key])
        .output()
        .ok()?;
    let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (!s.is_empty()).then_some(s)
}

/// (a) Participants spread over three nodes run an open floor; everyone sees the same events
/// in the same order, and the facilitator (who sees everything) sees no gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_one_room_same_order() {
    bounded(three_nodes_one_room_same_order_inner()).await;
}

async fn three_nodes_one_room_same_order_inner() {
    let dir = protocol_dir();
    let prefix = unique("three");
    let n1 = spawn_node(&prefix, "n1", &dir);
    let n2 = spawn_node(&prefix, "n2", &dir);
    let n3 = spawn_node(&prefix, "n3", &dir);
    let event = n1.create_event("test-open").await;
    // Invites minted on different nodes; the event was created on n1 only.
    let fac_t = n1.invite(&event, "facilitator", "Fran", None).await;
    let p1_t = n2
        .invite(&event, "participant", "Ana", Some("Dayton, OH"))
        .await;
    let p2_t = n3
        .invite(&event, "participant", "Ben", Some("Boulder, CO"))
        .await;
    let p3_t = n1
        .invite(&event, "participant", "Bea", Some("Boulder, CO"))
        .await;

    let mut fac = n1.join(&fac_t).await;
    let mut p1 = n2.join(&p1_t).await;
    let mut p2 = n3.join(&p2_t).await;
    let mut p3 = n2.join(&p3_t).await;
    let fac_from = fac.last_seq;

    fac.ok(json!({"type": "start"})).await;
    p1.event("phase_started").await;
    p1.ok(json!({"type": "raise_hand"})).await;
    let g = p1.event("floor_granted").await;
    assert_eq!(g["event"]["member"], p1.member.as_str());
    p2.ok(json!({"type": "raise_hand"})).await;
    p3.ok(json!({"type": "raise_hand"})).await;
    p1.ok(json!({"type": "speak", "text": "Our town cares about this."}))
        .await;
    p1.ok(json!({"type": "yield_floor"})).await;
    let p2m = p2.member.clone();
    p2.recv_until(|v| {
        v["event"]["type"] == "floor_granted" && v["event"]["member"] == p2m.as_str()
    })
    .await;
    p2.ok(json!({"type": "speak", "text": "So does ours."}))
        .await;
    p2.ok(json!({"type": "yield_floor"})).await;
    let p3m = p3.member.clone();
    p3.recv_until(|v| {
        v["event"]["type"] == "floor_granted" && v["event"]["member"] == p3m.as_str()
    })
    .await;
    // A refusal travels back as well.
    assert_eq!(
        p1.refused(json!({"type": "yield_floor"})).await,
        "not_your_turn"
    );
    fac.ok(json!({"type": "broadcast", "text": "Thank you all."}))
        .await;
    for c in [&mut fac, &mut p1, &mut p2, &mut p3] {
        c.event("broadcast").await;
    }
    assert_same_order(&[&fac, &p1, &p2, &p3]);
    assert_contiguous(&fac, fac_from);
    // Exactly one node owns the room.
    let owner = redis_get(SHARED_REDIS, &format!("{prefix}:{{{event}/hall}}:lease"));
    assert!(
        ["n1", "n2", "n3"].contains(&owner.as_deref().unwrap_or("")),
        "{owner:?}"
    );
    // Any node describes the live room, whichever owns it.
    for n in [&n1, &n2, &n3] {
        let (status, body) = n.http("GET", &format!("/api/events/{event}"), None).await;
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["session"], "running", "{v}");
        assert_eq!(v["present"], 4, "{v}");
    }
    // The organizer ends the event through a node that does not own it; every node knows.
    let (status, body) = n3
        .http("POST", &format!("/api/events/{event}/end"), None)
        .await;
    assert!(status == 200 || status == 204, "{status} {body}");
    for c in [&mut fac, &mut p1, &mut p2, &mut p3] {
        c.event("session_ended").await;
        assert_eq!(c.closed().await, Closed::Code(1000, "session ended".into()));
    }
    let mut late = n2.connect().await;
    late.send(json!({"type": "hello", "token": p1_t})).await;
    let refused = late.recv_json().await;
    assert_eq!(refused["code"], "unknown_room", "{refused}");
    drop((n1, n2, n3));
}

/// (b) Two nodes race to own a new room (joins arrive on both at once): exactly one wins,
/// and both members are in the same room, numbered once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_racing_for_a_new_room_one_wins() {
    bounded(two_nodes_racing_for_a_new_room_one_wins_inner()).await;
}

async fn two_nodes_racing_for_a_new_room_one_wins_inner() {
    let dir = protocol_dir();
    let prefix = unique("race");
    let n1 = spawn_node(&prefix, "r1", &dir);
    let n2 = spawn_node(&prefix, "r2", &dir);
    let event = n1.create_event("test-open").await;
    let a_t = n1.invite(&event, "facilitator", "Fran", None).await;
    let b_t = n1
        .invite(&event, "participant", "Ana", Some("Dayton, OH"))
        .await;
    let (mut a, mut b) = tokio::join!(n1.join(&a_t), n2.join(&b_t));
    // One epoch: the lease was granted once.
    let epoch = redis_get(SHARED_REDIS, &format!("{prefix}:{{{event}/hall}}:epoch"));
    assert_eq!(epoch.as_deref(), Some("1"));
    let owner = redis_get(SHARED_REDIS, &format!("{prefix}:{{{event}/hall}}:lease")).unwrap();
    assert!(owner == "r1" || owner == "r2", "{owner}");
    a.ok(json!({"type": "start"})).await;
    a.event("phase_started").await;
    b.event("phase_started").await;
    let members = |c: &Client| -> usize {
        c.snapshot.as_ref().unwrap()["state"]["members"]
            .as_array()
            .map_or(0, Vec::len)
    };
    // The later joiner's snapshot holds both members.
    assert_eq!(members(&a).max(members(&b)), 2);
    assert_same_order(&[&a, &b]);
    drop((n1, n2));
}

/// An event created on one node can be invited to on another at once: the 201 waits for the
/// shared registry, and a node that has not heard of the event yet reads it there (it used
/// to answer 404 for ~2 of 60 events, before the announcement arrived).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_created_on_one_node_is_there_on_another_at_once() {
    bounded(async {
        let dir = protocol_dir();
        let prefix = unique("created");
        let n1 = spawn_node(&prefix, "c1", &dir);
        let n2 = spawn_node(&prefix, "c2", &dir);
        for _ in 0..30 {
            let event = n1.create_event("test-open").await;
            // `invite` asserts 201.
            n2.invite(&event, "participant", "Ana", Some("Dayton, OH"))
                .await;
        }
        drop((n1, n2));
    })
    .await;
}

/// (c) SIGKILL the owner while a member holds the floor: another node takes the room over
/// (same numbers, same deadline: the turn ends exactly at the deadline the grant announced),
/// the dead node's client resumes on another node with no gap and no duplicate, and the
/// member who was only on the dead node is marked gone once its liveness key expires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_killed_mid_turn_room_continues_elsewhere() {
    bounded(owner_killed_mid_turn_room_continues_elsewhere_inner()).await;
}

async fn owner_killed_mid_turn_room_continues_elsewhere_inner() {
    let dir = protocol_dir();
    let prefix = unique("kill");
    let mut k1 = spawn_node(&prefix, "k1", &dir);
    let k2 = spawn_node(&prefix, "k2", &dir);
    let k3 = spawn_node(&prefix, "k3", &dir);
    let event = k1.create_event("test-floor").await;
    let hall = format!("{event}/hall");
    let fac_t = k1.invite(&event, "facilitator", "Fran", None).await;
    let p1_t = k1
        .invite(&event, "participant", "Ana", Some("Dayton, OH"))
        .await;
    let p2_t = k1
        .invite(&event, "participant", "Ben", Some("Boulder, CO"))
        .await;
    let p3_t = k1
        .invite(&event, "participant", "Bea", Some("Boulder, CO"))
        .await;
    // The first join makes k1 the owner.
    let mut fac = k1.join(&fac_t).await;
    let lease_key = format!("{prefix}:{{{hall}}}:lease");
    assert_eq!(redis_get(SHARED_REDIS, &lease_key).as_deref(), Some("k1"));
    let fac_from = fac.last_seq;
    let mut p1 = k1.join(&p1_t).await;
    let mut p2 = k2.join(&p2_t).await;
    let mut p3 = k3.join(&p3_t).await;
    fac.ok(json!({"type": "start"})).await;
    p2.event("phase_started").await;
    p2.ok(json!({"type": "raise_hand"})).await;
    let grant = p3.event("floor_granted").await;
    assert_eq!(grant["event"]["member"], p2.member.as_str());
    let deadline = grant["event"]["deadline"]
        .as_u64()
        .expect("a turn deadline");
    fac.event("floor_granted").await;
    p1.event("floor_granted").await;

    k1.kill();
    // The turn still ends, on another node, at the very deadline announced.
    let p2m = p2.member.clone();
    let released = p3
        .recv_until(|v| {
            v["event"]["type"] == "floor_released" && v["event"]["member"] == p2m.as_str()
        })
        .await;
    assert_eq!(released["event"]["reason"], "expired", "{released}");
    assert_eq!(released["at"].as_u64(), Some(deadline), "{released}");
    let owner = redis_get(SHARED_REDIS, &lease_key).unwrap_or_default();
    assert!(owner == "k2" || owner == "k3", "{owner}");
    // A new grant (2, or more if a starved node also lost its lease on this busy machine).
    let epoch = redis_get(SHARED_REDIS, &format!("{prefix}:{{{hall}}}:epoch"));
    assert!(epoch
        .and_then(|e| e.parse::<u64>().ok())
        .is_some_and(|e| e >= 2));

    // The facilitator's client reconnects to k2 and resumes: exactly what it missed.
    let before = fac.events.clone();
    let (mut fac2, resumed) = k2.resume(&fac_t, &hall, fac.last_seq).await;
    assert_eq!(resumed["recovered"], true, "{resumed}");
    fac2.ok(json!({"type": "broadcast", "text": "Still here."}))
        .await;
    fac2.event("broadcast").await;
    let mut all = before;
    all.extend(fac2.events.clone());
    fac2.events = all;
    assert_contiguous(&fac2, fac_from);
    // Ana was only on k1: gone once k1's liveness key expires.
    let p1m = p1.member.clone();
    let is_left =
        |v: &Value| v["event"]["type"] == "member_left" && v["event"]["member"] == p1m.as_str();
    if !p3.events.iter().any(is_left) {
        p3.recv_until(is_left).await;
    }
    p3.event("broadcast").await;
    assert_same_order(&[&fac2, &p2, &p3]);
    drop((k2, k3));
}

fn is_status(level: &'static str) -> impl Fn(&Value) -> bool {
    move |v: &Value| v["type"] == "status" && v["level"] == level
}

/// (d) Redis restarts (empty) mid-session: both nodes stay up and say not ready, clients
/// hear about it, a command sent meanwhile is refused, and once Redis is back the owner puts
/// the room back from memory and the session continues where it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart_mid_session() {
    bounded(redis_restart_mid_session_inner()).await;
}

async fn redis_restart_mid_session_inner() {
    let mut redis = OwnRedis::start();
    let url = redis.url();
    let dir = protocol_dir();
    let prefix = unique("restart");
    let d1 = spawn_node_on(&url, "127.0.0.1:0", &prefix, "d1", &dir);
    let d2 = spawn_node_on(&url, "127.0.0.1:0", &prefix, "d2", &dir);
    let event = d1.create_event("test-open").await;
    let fac_t = d1.invite(&event, "facilitator", "Fran", None).await;
    let p_t = d2
        .invite(&event, "participant", "Ana", Some("Dayton, OH"))
        .await;
    let mut fac = d1.join(&fac_t).await;
    let fac_from = fac.last_seq;
    let mut p = d2.join(&p_t).await;
    fac.ok(json!({"type": "start"})).await;
    p.ok(json!({"type": "raise_hand"})).await;
    p.event("floor_granted").await;
    eventually("both nodes ready", || async {
        d1.ready().await == 200 && d2.ready().await == 200
    })
    .await;

    redis.stop();
    eventually("both nodes not ready", || async {
        d1.ready().await == 503 && d2.ready().await == 503
    })
    .await;
    let (_, body) = d2.http("GET", "/readyz", None).await;
    let v: Value = serde_json::from_str(&body).expect("a JSON reason");
    assert!(v["reason"].as_str().is_some_and(|r| !r.is_empty()), "{v}");
    fac.recv_until(is_status("warning")).await;
    p.recv_until(is_status("warning")).await;
    let r = p
        .cmd(json!({"type": "speak", "text": "Can you hear me?"}))
        .await;
    assert_eq!(r["type"], "error", "{r}");
    assert_eq!(r["code"], "unavailable", "{r}");

    let _redis = OwnRedis::start_on(redis.port);
    eventually("both nodes ready again", || async {
        d1.ready().await == 200 && d2.ready().await == 200
    })
    .await;
    fac.recv_until(is_status("info")).await;
    p.recv_until(is_status("info")).await;
    // The session goes on from where it was: Ana still holds the floor.
    let mut spoke = false;
    for _ in 0..50 {
        let r = p.cmd(json!({"type": "speak", "text": "Back again."})).await;
        if r["type"] == "ack" {
            spoke = true;
            break;
        }
        assert_eq!(r["code"], "unavailable", "{r}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(spoke, "the room came back");
    p.ok(json!({"type": "yield_floor"})).await;
    let pm = p.member.clone();
    fac.recv_until(|v| {
        v["event"]["type"] == "floor_released" && v["event"]["member"] == pm.as_str()
    })
    .await;
    assert_same_order(&[&fac, &p]);
    assert_contiguous(&fac, fac_from);
    drop((d1, d2));
}

/// (e) SIGTERM on the owner hands the room over without waiting for the lease: the lease is
/// released before the process exits, its clients are told (1001) and resume elsewhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_hands_over() {
    bounded(graceful_shutdown_hands_over_inner()).await;
}

async fn graceful_shutdown_hands_over_inner() {
    let dir = protocol_dir();
    let prefix = unique("graceful");
    let mut g1 = spawn_node(&prefix, "g1", &dir);
    let g2 = spawn_node(&prefix, "g2", &dir);
    let event = g1.create_event("test-open").await;
    let hall = format!("{event}/hall");
    let fac_t = g1.invite(&event, "facilitator", "Fran", None).await;
    let p_t = g1
        .invite(&event, "participant", "Ana", Some("Dayton, OH"))
        .await;
    let mut fac = g1.join(&fac_t).await;
    let lease_key = format!("{prefix}:{{{hall}}}:lease");
    assert_eq!(redis_get(SHARED_REDIS, &lease_key).as_deref(), Some("g1"));
    let fac_from = fac.last_seq;
    let mut p = g2.join(&p_t).await;
    fac.ok(json!({"type": "start"})).await;
    p.ok(json!({"type": "raise_hand"})).await;
    fac.event("floor_granted").await;

    g1.terminate();
    // A killed owner would still hold the lease here, for up to a second.
    assert_ne!(redis_get(SHARED_REDIS, &lease_key).as_deref(), Some("g1"));
    fac.recv_until(is_status("warning")).await;
    assert_eq!(
        fac.closed().await,
        common::Closed::Code(1001, "server shutting down".into())
    );
    // The room goes on at g2 and the facilitator resumes there, missing nothing.
    p.ok(json!({"type": "speak", "text": "Still on."})).await;
    let (mut fac2, resumed) = g2.resume(&fac_t, &hall, fac.last_seq).await;
    assert_eq!(resumed["recovered"], true, "{resumed}");
    fac2.ok(json!({"type": "broadcast", "text": "Welcome back."}))
        .await;
    fac2.event("broadcast").await;
    let mut all = fac.events.clone();
    all.extend(fac2.events.clone());
    fac2.events = all;
    assert_contiguous(&fac2, fac_from);
    eventually("g2 owns the room", || async {
        redis_get(SHARED_REDIS, &lease_key).as_deref() == Some("g2")
    })
    .await;
    drop(g2);
}

/// (f) Breakouts with members on different nodes: the groups run on the hall's owner; each
/// member gets the group's welcome and snapshot and its events on their own node, and
/// commands for the group reach it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breakout_groups_span_nodes() {
    bounded(breakout_groups_span_nodes_inner()).await;
}

async fn breakout_groups_span_nodes_inner() {
    let dir = protocol_dir();
    let prefix = unique("groups");
    let b1 = spawn_node(&prefix, "b1", &dir);
    let b2 = spawn_node(&prefix, "b2", &dir);
    let b3 = spawn_node(&prefix, "b3", &dir);
    let event = b1.create_event("joint-town-hall").await;
    let hall = format!("{event}/hall");
    let fac_t = b1.invite(&event, "facilitator", "Fran", None).await;
    let a_t = b2
        .invite(&event, "participant", "Ana", Some("Dayton, OH"))
        .await;
    let c_t = b3
        .invite(&event, "participant", "Cal", Some("Boulder, CO"))
        .await;
    let mut fac = b1.join(&fac_t).await;
    let mut a = b2.join(&a_t).await;
    let mut c = b3.join(&c_t).await;
    fac.ok(json!({"type": "start"})).await;
    // Opening, the poll, its results (the facilitator moves on), the open floor.
    for _ in 0..4 {
        fac.ok(json!({"type": "next_phase"})).await;
    }
    let h = hall.clone();
    fac.recv_until(move |v| v["room"] == h.as_str() && v["event"]["type"] == "breakout_opened")
        .await;
    let mut rooms = Vec::new();
    for p in [&mut a, &mut c] {
        let h = hall.clone();
        let w = p
            .recv_until(move |v| v["type"] == "welcome" && v["room"] != h.as_str())
            .await;
        let room = w["room"].as_str().unwrap().to_string();
        assert!(room.starts_with(&format!("{event}/group-")), "{room}");
        let r = room.clone();
        p.recv_until(move |v| v["type"] == "snapshot" && v["room"] == r.as_str())
            .await;
        rooms.push(room);
    }
    assert_eq!(rooms[0], rooms[1], "two people make one group");
    let group = rooms[0].clone();
    // A command for the group reaches the group's actor (on the hall's owner), whatever it
    // decides about it.
    let r = a
        .cmd(json!({"type": "raise_hand", "room": group.clone()}))
        .await;
    assert!(
        r["type"] == "ack"
            || !["unknown_room", "unavailable"].contains(&r["code"].as_str().unwrap_or("")),
        "{r}"
    );
    // Both see the group's own events on their own node.
    let g = group.clone();
    c.recv_until(move |v| v["type"] == "event" && v["room"] == g.as_str())
        .await;
    fac.ok(json!({"type": "close_breakouts"})).await;
    fac.ok(json!({"type": "next_phase"})).await;
    for p in [&mut a, &mut c] {
        let g = group.clone();
        p.recv_until(move |v| v["type"] == "left_room" && v["room"] == g.as_str())
            .await;
    }
    drop((b1, b2, b3));
}

/// (g) The hall's owner is killed during a breakout: the group rooms come over with the
/// hall, keep their ids and numbering, and members on surviving nodes are placed back in
/// their group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breakout_groups_survive_the_owner() {
    bounded(breakout_groups_survive_the_owner_inner()).await;
}

async fn breakout_groups_survive_the_owner_inner() {
    let dir = protocol_dir();
    let prefix = unique("groupkill");
    let mut x1 = spawn_node(&prefix, "x1", &dir);
    let x2 = spawn_node(&prefix, "x2", &dir);
    let x3 = spawn_node(&prefix, "x3", &dir);
    let event = x1.create_event("joint-town-hall").await;
    let hall = format!("{event}/hall");
    let fac_t = x1.invite(&event, "facilitator", "Fran", None).await;
    let a_t = x1
        .invite(&event, "participant", "Ana", Some("Dayton, OH"))
        .await;
    let c_t = x1
        .invite(&event, "participant", "Cal", Some("Boulder, CO"))
        .await;
    let mut fac = x1.join(&fac_t).await;
    let mut a = x2.join(&a_t).await;
    let mut c = x3.join(&c_t).await;
    fac.ok(json!({"type": "start"})).await;
    // Opening, the poll, its results (the facilitator moves on), the open floor.
    for _ in 0..4 {
        fac.ok(json!({"type": "next_phase"})).await;
    }
    let mut group = String::new();
    for p in [&mut a, &mut c] {
        let h = hall.clone();
        let w = p
            .recv_until(move |v| v["type"] == "welcome" && v["room"] != h.as_str())
            .await;
        group = w["room"].as_str().unwrap().to_string();
        let g = group.clone();
        p.recv_until(move |v| v["type"] == "snapshot" && v["room"] == g.as_str())
            .await;
    }
    let g = group.clone();
    let seen = move |c: &Client| {
        c.events
            .iter()
            .filter(|e| e["room"] == g.as_str())
            .filter_map(|e| e["seq"].as_u64())
            .max()
            .unwrap_or(0)
    };
    x1.kill();
    // Placed back in the same group by the new owner: a fresh welcome and snapshot for it,
    // numbered where the group was, not from zero.
    let before = seen(&c);
    let g = group.clone();
    c.recv_until(move |v| v["type"] == "welcome" && v["room"] == g.as_str())
        .await;
    let g = group.clone();
    let snap = c
        .recv_until(move |v| v["type"] == "snapshot" && v["room"] == g.as_str())
        .await;
    assert!(snap["seq"].as_u64().unwrap() >= before.max(1), "{snap}");
    // Commands for the group reach it on its new owner.
    let mut reached = false;
    for _ in 0..50 {
        let r = a
            .cmd(json!({"type": "raise_hand", "room": group.clone()}))
            .await;
        if r["type"] == "ack" || r["code"] != "unavailable" {
            assert_ne!(r["code"], "unknown_room", "{r}");
            reached = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(reached);
    drop((x2, x3));
}
