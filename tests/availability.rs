//! Issue #20: one member, or a client with no token, cannot take the town hall down. Each
//! test reproduces one finding over real sockets: the attack first, then proof that the
//! people it targeted (a fresh staff join, `/healthz`) still get through.
//!
//! No assertion measures time: loops are bounded by counts and waits by the shared timeout.

mod common;

use common::*;
use commonground::config::Config;
use serde_json::json;

/// A test library with a long Q&A phase, and per-connection rates high enough that a flood
/// reaches the room (the rate limiter has its own tests).
fn qa_config() -> Config {
    let mut config = test_config();
    std::fs::write(
        config.protocols_dir.join("test-qa.toml"),
        r#"name = "test-qa"
title = "Questions"
description = "Audience questions with up-votes."

[[phase]]
id = "qa"
kind = "qa"
title = "Questions"
prompt = "Ask the panel."
answer_turn = "10m"
"#,
    )
    .unwrap();
    config.command_rate = 10_000;
    config.command_burst = 10_000;
    config
}

/// Finding 1: 1,000 long questions from one participant used to make the hall's snapshot
/// larger than a connection may write, closing every later join (the facilitator reloading
/// too) with 1006. Now the member is capped, the snapshot is bounded, and a fresh staff join
/// gets its snapshot.
#[tokio::test]
async fn a_question_flood_leaves_a_fresh_staff_join_working() {
    const FLOOD: usize = 1_000;
    let server = start_server(qa_config()).await;
    let event = server.create_event("test-qa").await;
    let mut fac = server
        .join(&server.invite(&event, "facilitator", "Fran", None).await)
        .await;
    fac.ok(json!({"type": "start"})).await;
    let token = server
        .invite(&event, "participant", "Mallory", Some("Dayton, OH"))
        .await;
    let mut attacker = server.join(&token).await;
    let text = "é".repeat(280);
    for i in 0..FLOOD {
        attacker
            .send(json!({"type": "ask", "id": format!("q{i}"), "text": text}))
            .await;
    }
    let (mut acks, mut capped) = (0, 0);
    for _ in 0..FLOOD {
        let r = attacker
            .recv_until(|v| v["type"] == "ack" || v["type"] == "error")
            .await;
        match (r["type"].as_str(), r["code"].as_str()) {
            (Some("ack"), _) => acks += 1,
            (_, Some("too_many_questions")) => capped += 1,
            _ => panic!("unexpected reply {r}"),
        }
    }
    assert_eq!(acks, 20, "the per-member cap");
    assert_eq!(capped, FLOOD - 20);
    // A fresh facilitator (a reload) and a fresh moderator get their snapshots.
    for role in ["facilitator", "moderator"] {
        let c = server
            .join(&server.invite(&event, role, "Staff", None).await)
            .await;
        let snap = c.snapshot.as_ref().unwrap();
        assert_eq!(snap["state"]["questions_total"], 20, "{role}");
        assert!(snap.to_string().len() < 96 * 1024, "{role}");
    }
    // Removing the attacker takes their questions out of later snapshots.
    let mut moderator = server
        .join(&server.invite(&event, "moderator", "Mo", None).await)
        .await;
    let member = attacker.member.clone();
    moderator
        .ok(json!({"type": "remove", "member": member}))
        .await;
    let late = server
        .join(&server.invite(&event, "observer", "Late", None).await)
        .await;
    let snap = late.snapshot.as_ref().unwrap();
    assert_eq!(snap["state"]["questions_total"], 0, "{snap}");
    assert_eq!(snap["state"]["questions"], json!([]));
    // The facilitator's connection kept up through all of it.
    fac.send(json!({"type": "ping", "id": "still-here"})).await;
    let pong = fac.recv_until(|v| v["type"] == "pong").await;
    assert_eq!(pong["id"], "still-here");
    server.stop().await.unwrap();
}
