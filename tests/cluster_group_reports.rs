//! Cluster mode: reports and word-list flags raised inside a breakout group reach the hall's
//! staff on every node (`group_event`), not only those listening in, and a staff member who
//! joins later on another node than the owner gets the still-open ones. Separate processes of
//! the real binary on the shared Redis (127.0.0.1:6379) under a unique key prefix.
//!
//! Waits are bounded (every read has a timeout, loops have a bound); nothing measures
//! wall-clock time.

mod common;

use std::time::Duration;

use common::cluster_node::{group_rooms, protocol_dir, spawn_node, unique};
use common::Client;
use serde_json::{json, Value};

/// Reads up to the reply of a `ping` and returns everything read on the way.
async fn drain(c: &mut Client) -> Vec<Value> {
    c.send(json!({"type": "ping", "id": 999})).await;
    let mut seen = Vec::new();
    for _ in 0..1_000 {
        let v = c.recv_json().await;
        let pong = v["type"] == "pong";
        seen.push(v);
        if pong {
            return seen;
        }
    }
    panic!("no pong");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_reports_reach_staff_on_every_node() {
    tokio::time::timeout(Duration::from_secs(60), inner())
        .await
        .expect("the test finishes within 60 s");
}

async fn inner() {
    let dir = protocol_dir(Some("idiot\n"));
    let prefix = unique("cgreports");
    let n1 = spawn_node(&prefix, "n1", &dir);
    let n2 = spawn_node(&prefix, "n2", &dir);
    let event = n1.create_event("joint-town-hall").await;
    let hall = format!("{event}/hall");
    // The facilitator joins first, on n1: n1 owns the hall (and its groups); the rest are on n2.
    let fac_t = n1.invite(&event, "facilitator", "Fran", None).await;
    let mod_t = n2.invite(&event, "moderator", "Mo", None).await;
    let mut fac = n1.join(&fac_t).await;
    let mut moder = n2.join(&mod_t).await;
    let mut ps = Vec::new();
    for (name, community) in [
        ("Ana", "Dayton, OH"),
        ("Cal", "Boulder, CO"),
        ("Dee", "Dayton, OH"),
    ] {
        let t = n2
            .invite(&event, "participant", name, Some(community))
            .await;
        ps.push(n2.join(&t).await);
    }
    fac.ok(json!({"type": "start"})).await;
    // Opening, the poll, its results (the facilitator moves on), the open floor.
    for _ in 0..4 {
        fac.ok(json!({"type": "next_phase"})).await;
    }
    let h = hall.clone();
    let frame = moder
        .recv_until(move |v| {
            v["type"] == "groups" && v["room"] == h.as_str() && v["groups"] != json!([])
        })
        .await;
    let rooms = group_rooms(&frame);
    assert_eq!(rooms.len(), 1, "three people make one group: {frame}");
    let group = rooms[&0].clone();

    // The group's go-round gives someone the floor; they say a listed word.
    let g = group.clone();
    let granted = ps[0]
        .recv_until(move |v| {
            v["type"] == "event" && v["room"] == g.as_str() && v["event"]["type"] == "floor_granted"
        })
        .await;
    let speaker_id = granted["event"]["member"].as_str().unwrap().to_string();
    let speaker = ps.iter().position(|p| p.member == speaker_id).unwrap();
    let text = "Only an idiot would close the library.";
    ps[speaker]
        .ok(json!({"type": "speak", "room": group, "text": text}))
        .await;
    // The moderator on n2, not listening in, gets the flag through the hall's owner on n1.
    let flagged = moder
        .recv_until(|v| v["type"] == "group_event" && v["event"]["type"] == "message_flagged")
        .await;
    assert_eq!(flagged["room"], hall.as_str(), "{flagged}");
    assert_eq!(flagged["group"], json!({"index": 0, "room": group}));
    assert_eq!(flagged["text"], text);
    let message = flagged["event"]["message"].as_u64().unwrap();

    let reporter = (speaker + 1) % ps.len();
    ps[reporter]
        .ok(json!({"type": "report", "room": group, "message": message, "reason": "An insult"}))
        .await;
    for c in [&mut moder, &mut fac] {
        let filed = c
            .recv_until(|v| v["type"] == "group_event" && v["event"]["type"] == "report_filed")
            .await;
        assert_eq!(
            filed["group"],
            json!({"index": 0, "room": group}),
            "{filed}"
        );
        assert_eq!(filed["event"]["message"], message);
        assert_eq!(filed["text"], text);
        assert_eq!(filed["replay"], false);
    }

    // A staff member joining on n2 gets the open report after the hall snapshot and groups.
    let org_t = n2.invite(&event, "organizer", "Oda", None).await;
    let mut org = n2.join(&org_t).await;
    let replayed = org
        .recv_until(|v| v["type"] == "group_event" && v["event"]["type"] == "report_filed")
        .await;
    assert_eq!(replayed["replay"], true, "{replayed}");
    assert_eq!(replayed["group"]["room"], group.as_str());
    assert_eq!(replayed["text"], text);

    // Closed by a moderator who listens in: every staff connection hears of it.
    moder
        .ok(json!({"type": "join_room", "room": group.clone()}))
        .await;
    moder
        .ok(json!({"type": "hide", "room": group, "message": message}))
        .await;
    for c in [&mut fac, &mut org] {
        let closed = c
            .recv_until(|v| v["type"] == "group_event" && v["event"]["type"] == "report_closed")
            .await;
        assert_eq!(closed["event"]["status"], "hidden", "{closed}");
    }

    // Participants never get it.
    for p in ps.iter_mut() {
        let seen = drain(p).await;
        assert!(!seen.iter().any(|v| v["type"] == "group_event"), "{seen:?}");
    }
    drop((n1, n2));
}
