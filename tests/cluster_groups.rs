//! Cluster mode, for the browser client: staff on a node that does not own the hall still
//! learn the breakout group room ids (`groups`), and snapshots carry the message history
//! (`state.messages`), also after the hall's owner is killed and another node rebuilt the room
//! from Redis. Separate processes of the real binary on the shared Redis (127.0.0.1:6379)
//! under a unique key prefix; leases are 1 s so the takeover is quick.
//!
//! Waits are bounded (every read has a timeout, loops have a bound); nothing measures
//! wall-clock time.

mod common;

use std::process::Command;
use std::time::Duration;

use common::cluster_node::{group_rooms, protocol_dir, spawn_node, unique};
use serde_json::{json, Value};

/// A key's value on the shared Redis, through `redis-cli`.
fn redis_get(key: &str) -> Option<String> {
    let out = Command::new("redis-cli")
        .args(["-p", "6379", "GET", key])
        .output()
        .ok()?;
    let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (!s.is_empty()).then_some(s)
}

fn texts(snapshot: &Value) -> Vec<String> {
    snapshot["state"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_on_another_node_learn_group_rooms_and_history_survives_the_owner() {
    tokio::time::timeout(Duration::from_secs(60), inner())
        .await
        .expect("the test finishes within 60 s");
}

async fn inner() {
    let dir = protocol_dir(None);
    let prefix = unique("cgroups");
    let mut n1 = spawn_node(&prefix, "n1", &dir);
    let n2 = spawn_node(&prefix, "n2", &dir);
    let event = n1.create_event("joint-town-hall").await;
    let hall = format!("{event}/hall");
    // The facilitator joins first, on n1: n1 owns the hall; everyone else is on n2.
    let fac_t = n1.invite(&event, "facilitator", "Fran", None).await;
    let mod_t = n2.invite(&event, "moderator", "Mo", None).await;
    let a_t = n2
        .invite(&event, "participant", "Ana", Some("Dayton, OH"))
        .await;
    let c_t = n2
        .invite(&event, "participant", "Cal", Some("Boulder, CO"))
        .await;
    let mut fac = n1.join(&fac_t).await;
    let mut moder = n2.join(&mod_t).await;
    let mut a = n2.join(&a_t).await;
    let mut c = n2.join(&c_t).await;
    fac.ok(json!({"type": "start"})).await;
    let said = ["Welcome to both cities.", "Please be kind."];
    for text in said {
        fac.ok(json!({"type": "speak", "text": text})).await;
    }
    // Opening, the poll, its results (the facilitator moves on), the open floor.
    for _ in 0..4 {
        fac.ok(json!({"type": "next_phase"})).await;
    }
    // The hall's owner is the node the moderator is not on.
    let lease = redis_get(&format!("{prefix}:{{{hall}}}:lease"));
    assert_eq!(lease.as_deref(), Some("n1"));

    // The moderator on n2 hears of the group room, and it accepts a drop-in there.
    let h = hall.clone();
    let frame = moder
        .recv_until(move |v| {
            v["type"] == "groups" && v["room"] == h.as_str() && v["groups"] != json!([])
        })
        .await;
    let rooms = group_rooms(&frame);
    assert_eq!(rooms.len(), 1, "two people make one group: {frame}");
    let group = rooms[&0].clone();
    assert!(group.starts_with(&format!("{event}/group-")), "{group}");
    let h = hall.clone();
    let w = a
        .recv_until(move |v| v["type"] == "welcome" && v["room"] != h.as_str())
        .await;
    assert_eq!(w["room"], group.as_str());
    moder
        .ok(json!({"type": "join_room", "room": group.clone()}))
        .await;
    let g = group.clone();
    moder
        .recv_until(move |v| v["type"] == "snapshot" && v["room"] == g.as_str())
        .await;
    // The facilitator on the owner gets it too; participants do not.
    let h = hall.clone();
    let f = fac
        .recv_until(move |v| v["type"] == "groups" && v["room"] == h.as_str())
        .await;
    assert_eq!(group_rooms(&f), rooms);
    for p in [&mut a, &mut c] {
        p.send(json!({"type": "ping", "id": 999})).await;
        let mut pending = Vec::new();
        for _ in 0..1_000 {
            let v = p.recv_json().await;
            let pong = v["type"] == "pong";
            pending.push(v);
            if pong {
                break;
            }
        }
        assert!(
            !pending.iter().any(|v| v["type"] == "groups"),
            "{pending:?}"
        );
    }

    // A late joiner on n2 gets the hall's messages in its snapshot.
    let late_t = n2.invite(&event, "observer", "Lee", None).await;
    let late = n2.join(&late_t).await;
    assert_eq!(texts(late.snapshot.as_ref().unwrap()), said);

    // The owner dies: n2 rebuilds the hall from Redis (snapshot + input log). A staff member
    // who comes in now gets the same group room right after the snapshot, and the history
    // came over with the engine.
    n1.kill();
    let org_t = n2.invite(&event, "organizer", "Oda", None).await;
    let mut org = n2.join(&org_t).await;
    assert_eq!(texts(org.snapshot.as_ref().unwrap()), said);
    // (On another node than the owner, a live event may come between the two.)
    let next = org.recv_until(|v| v["type"] != "event").await;
    assert_eq!(next["type"], "groups", "{next}");
    assert_eq!(group_rooms(&next), rooms);
    drop((late, n2));
}
