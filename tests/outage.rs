//! A turn is never eaten by an outage (#21 finding 6), on the real binary: a deadline that
//! passed while no node ran the room ends its turn at that deadline, with its own
//! accounting, and the next speaker's turn starts when the room runs again, with its full
//! length. Three outages: a single node SIGKILLed during a turn and restarted on the same
//! SQLite data dir past its deadline; a cluster owner SIGKILLed during a turn whose lease runs
//! out after the deadline (the other node takes over); and a Redis that is away when the
//! deadline comes (the owner's tick is refused until it is back). Also the reconnect grace
//! (#18): a floor holder whose socket drops keeps the floor when they come back within it, and
//! a member who stays away leaves the line when it ends.
//!
//! Waits are bounded (every read has a timeout). The sleeps only keep something down past a
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
    common::write_open_floor(&dir, "outage-floor", "3s");
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
    // Killed with the sockets open: nobody leaves, the server is just gone.
    node.kill();
    drop((fac, ana, ben));
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

// ---- cluster: the owner is killed during a turn ----

/// A cluster node on `redis` like `cluster_node::spawn_node_on`, but with a 4 s lease: the
/// room then stays without an owner for seconds after a kill, so a 2 s turn's deadline falls
/// inside the outage whatever the timing of the renewals.
fn spawn_slow_lease_node(redis: &str, prefix: &str, id: &str, protocols: &std::path::Path) -> Node {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_commonground"))
        .args(["serve", "--bind", "127.0.0.1:0", "--demo", "false"])
        .args(["--redis", redis, "--redis-prefix", prefix, "--node-id", id])
        .args(["--lease", "4s", "--shutdown-grace", "3s"])
        .args(["--organizer-key", common::cluster_node::ORG_KEY])
        .args(["--token-secret", common::cluster_node::SECRET])
        .arg("--protocols")
        .arg(protocols)
        .env_remove("COMMONGROUND_CONFIG")
        .env(
            "RUST_LOG",
            std::env::var("CLUSTER_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the commonground binary starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(url) = line.strip_prefix("Commonground is listening on http://") {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        }
    });
    let addr = rx
        .recv_timeout(common::WAIT)
        .expect("the node prints its address")
        .parse()
        .unwrap();
    Node { child, addr }
}

/// The protocols with a 2 s turn, for the cluster variant.
fn cluster_protocols() -> PathBuf {
    let dir = common::protocol_dir();
    common::write_open_floor(&dir, "outage-floor", "2s");
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_takeover_past_a_deadline_the_next_speaker_gets_the_full_turn() {
    const CLUSTER_TURN_MS: u64 = 2_000;
    let redis = common::cluster_node::OwnRedis::start();
    let prefix = unique("outage-takeover");
    let protocols = cluster_protocols();
    let mut k1 = spawn_slow_lease_node(&redis.url(), &prefix, "o1", &protocols);
    let k2 = spawn_slow_lease_node(&redis.url(), &prefix, "o2", &protocols);
    let event = k1.create_event("outage-floor").await;
    let ana_t = k1
        .invite(&event, "participant", "Ana", Some("Dayton, OH"))
        .await;
    let ben_t = k1
        .invite(&event, "participant", "Ben", Some("Boulder, CO"))
        .await;
    let fac_t = k1.invite(&event, "facilitator", "Fran", None).await;
    // The first join makes k1 the owner; Ben and the facilitator are on k2.
    let mut ana = k1.join(&ana_t).await;
    let mut fac = k2.join(&fac_t).await;
    let mut ben = k2.join(&ben_t).await;
    fac.ok(json!({"type": "start"})).await;
    ana.ok(json!({"type": "raise_hand"})).await;
    let granted = ana.event("floor_granted").await;
    let ana_deadline = granted["event"]["deadline"].as_u64().expect("a deadline");
    assert_eq!(ana_deadline, at(&granted) + CLUSTER_TURN_MS);
    ben.ok(json!({"type": "raise_hand"})).await;
    k1.kill();
    drop(ana);
    // k2 takes the room over once k1's lease runs out, after Ana's deadline.
    let ben_member = ben.member.clone();
    let ana_end = ben
        .recv_until(|v| {
            v["type"] == "event"
                && v["event"]["type"] == "floor_released"
                && v["event"]["member"] != ben_member.as_str()
        })
        .await;
    assert_eq!(ana_end["event"]["reason"], "expired", "{ana_end}");
    assert_eq!(at(&ana_end), ana_deadline, "{ana_end}");
    assert_eq!(ana_end["event"]["held_ms"], CLUSTER_TURN_MS, "{ana_end}");
    let ben_grant = ben.event("floor_granted").await;
    assert_eq!(ben_grant["event"]["member"], ben_member.as_str());
    let ben_deadline = ben_grant["event"]["deadline"].as_u64().unwrap();
    assert!(
        at(&ben_grant) > ana_deadline,
        "ben's turn starts at the takeover, not at ana's deadline: {ben_grant}"
    );
    assert_eq!(
        ben_deadline,
        at(&ben_grant) + CLUSTER_TURN_MS,
        "{ben_grant}"
    );
    let ben_end = ben.event("floor_released").await;
    assert_eq!(ben_end["event"]["member"], ben_member.as_str(), "{ben_end}");
    assert_eq!(ben_end["event"]["reason"], "expired", "{ben_end}");
    assert_eq!(at(&ben_end), ben_deadline, "{ben_end}");
    assert_eq!(ben_end["event"]["held_ms"], CLUSTER_TURN_MS, "{ben_end}");
    drop((fac, ben, k2));
}

// ---- cluster: Redis is away when the deadline comes ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_redis_outage_past_a_deadline_the_next_speaker_gets_the_full_turn() {
    const CLUSTER_TURN_MS: u64 = 2_000;
    let redis = common::cluster_node::OwnRedis::start();
    let port = redis.port;
    let prefix = unique("outage-redis");
    let protocols = cluster_protocols();
    let node = spawn_slow_lease_node(&redis.url(), &prefix, "r1", &protocols);
    let event = node.create_event("outage-floor").await;
    let ana_t = node
        .invite(&event, "participant", "Ana", Some("Dayton, OH"))
        .await;
    let ben_t = node
        .invite(&event, "participant", "Ben", Some("Boulder, CO"))
        .await;
    let fac_t = node.invite(&event, "facilitator", "Fran", None).await;
    let mut fac = node.join(&fac_t).await;
    let mut ana = node.join(&ana_t).await;
    let mut ben = node.join(&ben_t).await;
    fac.ok(json!({"type": "start"})).await;
    ana.ok(json!({"type": "raise_hand"})).await;
    let granted = ana.event("floor_granted").await;
    let ana_deadline = granted["event"]["deadline"].as_u64().expect("a deadline");
    ben.ok(json!({"type": "raise_hand"})).await;
    // Redis goes away before Ana's deadline: the owner's tick is refused and retried.
    drop(redis);
    tokio::time::sleep(Duration::from_millis(2 * CLUSTER_TURN_MS + 500)).await;
    // An empty Redis at the same address: the owner puts the room back from memory.
    let _redis = common::cluster_node::OwnRedis::start_on(port);
    let ben_member = ben.member.clone();
    let ana_end = ben
        .recv_until(|v| {
            v["type"] == "event"
                && v["event"]["type"] == "floor_released"
                && v["event"]["member"] != ben_member.as_str()
        })
        .await;
    assert_eq!(ana_end["event"]["reason"], "expired", "{ana_end}");
    assert_eq!(at(&ana_end), ana_deadline, "{ana_end}");
    assert_eq!(ana_end["event"]["held_ms"], CLUSTER_TURN_MS, "{ana_end}");
    let ben_grant = ben.event("floor_granted").await;
    assert_eq!(ben_grant["event"]["member"], ben_member.as_str());
    let ben_deadline = ben_grant["event"]["deadline"].as_u64().unwrap();
    assert!(
        at(&ben_grant) > ana_deadline + CLUSTER_TURN_MS,
        "ben's turn starts once Redis is back, not at ana's deadline: {ben_grant}"
    );
    assert_eq!(
        ben_deadline,
        at(&ben_grant) + CLUSTER_TURN_MS,
        "{ben_grant}"
    );
    let ben_end = ben.event("floor_released").await;
    assert_eq!(ben_end["event"]["member"], ben_member.as_str(), "{ben_end}");
    assert_eq!(at(&ben_end), ben_deadline, "{ben_end}");
    assert_eq!(ben_end["event"]["held_ms"], CLUSTER_TURN_MS, "{ben_end}");
    drop((fac, ana, ben, node));
}

// ---- the reconnect grace (#18) ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_floor_holder_keeps_the_floor_within_the_grace_and_a_member_gone_leaves_after_it()
{
    let mut config = common::test_config();
    config.reconnect_grace = Duration::from_secs(6);
    let server = common::start_server(config).await;
    // `test-open`: an open floor whose turns outlast the test.
    let event = server.create_event("test-open").await;
    let fac_t = server.invite(&event, "facilitator", "Fran", None).await;
    let ana_t = server
        .invite(&event, "participant", "Ana", Some("Dayton, OH"))
        .await;
    let ben_t = server
        .invite(&event, "participant", "Ben", Some("Boulder, CO"))
        .await;
    let cid_t = server
        .invite(&event, "participant", "Cid", Some("Dayton, OH"))
        .await;
    let mut fac = server.join(&fac_t).await;
    let mut ana = server.join(&ana_t).await;
    let mut ben = server.join(&ben_t).await;
    let mut cid = server.join(&cid_t).await;
    fac.ok(json!({"type": "start"})).await;
    for c in [&mut ana, &mut ben, &mut cid] {
        c.ok(json!({"type": "raise_hand"})).await;
    }
    let granted = ana.event("floor_granted").await;
    let deadline = granted["event"]["deadline"].clone();
    let (ana_m, ben_m) = (ana.member.clone(), ben.member.clone());

    // Ana's socket drops without a close handshake; staff see her reconnecting.
    drop(ana);
    let reconnecting = fac.event("member_reconnecting").await;
    assert_eq!(reconnecting["event"]["member"], ana_m.as_str());
    assert_eq!(
        reconnecting["event"]["until"].as_u64(),
        Some(at(&reconnecting) + 6_000),
        "{reconnecting}"
    );
    // She comes back with the same link, within the grace: still on the floor, same turn.
    let mut ana = server.join(&ana_t).await;
    let back = fac.event("member_reconnected").await;
    assert_eq!(back["event"]["member"], ana_m.as_str());
    ana.ok(json!({"type": "speak", "text": "as I was saying"}))
        .await;
    let state = &ana.snapshot.as_ref().unwrap()["state"];
    assert_eq!(state["floor"]["member"], ana_m.as_str(), "{state}");
    assert_eq!(state["floor"]["deadline"], deadline, "{state}");

    // Ben drops and stays away: he keeps his place until the grace ends, then leaves the line.
    drop(ben);
    let reconnecting = fac
        .recv_until(|v| {
            v["event"]["type"] == "member_reconnecting" && v["event"]["member"] == ben_m.as_str()
        })
        .await;
    let until = reconnecting["event"]["until"].as_u64().unwrap();
    let left = fac
        .recv_until(|v| {
            v["event"]["type"] == "member_left" && v["event"]["member"] == ben_m.as_str()
        })
        .await;
    assert_eq!(at(&left), until, "{left}");
    let lowered = fac.event("hand_lowered").await;
    assert_eq!(lowered["event"]["member"], ben_m.as_str(), "{lowered}");
    assert_eq!(at(&lowered), until, "{lowered}");
    // Back after the grace, Ben is a newcomer to the line: only Cid waits in it.
    let ben = server.join(&ben_t).await;
    let state = &ben.snapshot.as_ref().unwrap()["state"];
    let queue: Vec<&str> = state["queue"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["member"].as_str().unwrap())
        .collect();
    assert_eq!(queue, [cid.member.as_str()], "{state}");
    // Ana never left and still holds the floor.
    ana.ok(json!({"type": "speak", "text": "still here"})).await;
    drop((ben, cid, fac, ana));
    server.stop().await.unwrap();
}
