//! Moderated Q&A over real sockets (issue #19): in a phase with `moderated = true`, a
//! question reaches its asker and staff only, live and in snapshots, until a moderator
//! approves it; `question_approved` then brings it, text and all, to everyone.

mod common;

use common::*;
use serde_json::{json, Value};

fn moderated_config() -> commonground::config::Config {
    let config = test_config();
    std::fs::write(
        config.protocols_dir.join("test-qa-moderated.toml"),
        r#"name = "test-qa-moderated"
title = "Moderated questions"

[[phase]]
id = "qa"
kind = "qa"
title = "Questions"
prompt = "Ask the panel."
answer_turn = "10m"
moderated = true
"#,
    )
    .unwrap();
    config
}

fn question_ids(snapshot: &Value) -> Vec<u64> {
    snapshot["state"]["questions"]
        .as_array()
        .expect("questions in the snapshot")
        .iter()
        .map(|q| q["id"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn a_moderated_question_is_hidden_from_other_residents_until_approved() {
    let server = start_server(moderated_config()).await;
    let event = server.create_event("test-qa-moderated").await;
    let join = |role: &'static str, name: &'static str, community: Option<&'static str>| {
        let (server, event) = (&server, event.clone());
        async move {
            let t = server.invite(&event, role, name, community).await;
            server.join(&t).await
        }
    };
    let mut fac = join("facilitator", "Fran", None).await;
    let mut moder = join("moderator", "Mo", None).await;
    let asker_token = server
        .invite(&event, "participant", "Ana", Some("Dayton, OH"))
        .await;
    let mut asker = server.join(&asker_token).await;
    let mut other = join("participant", "Ben", Some("Boulder, CO")).await;
    fac.ok(json!({"type": "start"})).await;

    let text = "Who pays for the new bridge?";
    asker.ok(json!({"type": "ask", "text": text})).await;
    let asked = moder.event("question_asked").await;
    assert_eq!(asked["event"]["text"], text);
    let q = asked["event"]["question"].as_u64().unwrap();
    asker.event("question_asked").await;

    // Someone who joins now, and the asker on a reload, see what they would have seen live.
    let late = join("participant", "Cal", Some("Boulder, CO")).await;
    assert_eq!(
        question_ids(late.snapshot.as_ref().unwrap()),
        Vec::<u64>::new()
    );
    let reloaded = server.join(&asker_token).await;
    assert_eq!(reloaded.member, asker.member);
    assert_eq!(question_ids(reloaded.snapshot.as_ref().unwrap()), vec![q]);
    let t = server.invite(&event, "moderator", "Mo2", None).await;
    let staff = server.join(&t).await;
    assert_eq!(question_ids(staff.snapshot.as_ref().unwrap()), vec![q]);
    // Up-voting a question nobody else has seen is refused as if it did not exist.
    assert_eq!(
        other
            .refused(json!({"type": "upvote", "question": q}))
            .await,
        "unknown_item"
    );

    moder.ok(json!({"type": "approve", "question": q})).await;
    let approved = other.event("question_approved").await;
    assert_eq!(approved["event"]["question"], q);
    assert_eq!(approved["event"]["text"], text);
    assert_eq!(approved["event"]["member"], asker.member.as_str());
    assert_eq!(approved["event"]["votes"], 0);
    assert!(
        !other
            .events
            .iter()
            .any(|e| e["event"]["type"] == "question_asked"),
        "another resident got the question before it was approved: {:?}",
        other.events
    );
    other.ok(json!({"type": "upvote", "question": q})).await;
    let after = join("participant", "Dee", Some("Dayton, OH")).await;
    assert_eq!(question_ids(after.snapshot.as_ref().unwrap()), vec![q]);
}
