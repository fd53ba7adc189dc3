//! The server's `--word-list` reaches every room's engine: a matching message is delivered
//! and flagged to staff only, in the hall and in breakout groups alike.

mod common;

use std::sync::Arc;

use common::*;
use commonground::engine::moderation::WordList;
use serde_json::json;

#[tokio::test]
async fn a_listed_word_flags_the_message_for_staff_only() {
    let mut config = test_config();
    config.word_list = Arc::new(WordList::parse("# test list\nidiot\n"));
    let server = start_server(config).await;
    let event = server.create_event("test-open").await;
    let f = server.invite(&event, "facilitator", "Fran", None).await;
    let mut f = server.join(&f).await;
    let m = server.invite(&event, "moderator", "Mo", None).await;
    let mut m = server.join(&m).await;
    let a = server
        .invite(&event, "participant", "Ana", Some("Dayton, OH"))
        .await;
    let mut a = server.join(&a).await;
    let b = server
        .invite(&event, "participant", "Ben", Some("Boulder, CO"))
        .await;
    let mut b = server.join(&b).await;
    f.ok(json!({"type": "start"})).await;
    a.ok(json!({"type": "raise_hand"})).await;
    a.event("floor_granted").await;
    a.ok(json!({"type": "speak", "text": "Only an Idiot would cut the library."}))
        .await;
    let flagged = m.event("message_flagged").await;
    assert_eq!(flagged["event"]["words"], json!(["idiot"]), "{flagged}");
    assert_eq!(flagged["event"]["member"], a.member.as_str());
    // Still delivered: a flag is not a block.
    let said = b.event("said").await;
    assert_eq!(
        said["event"]["text"],
        "Only an Idiot would cut the library."
    );
    a.ok(json!({"type": "speak", "text": "A kind sentence."}))
        .await;
    let next = b.event("said").await;
    assert_eq!(next["event"]["text"], "A kind sentence.");
    // The participant never saw the flag.
    assert!(
        !b.events
            .iter()
            .any(|e| e["event"]["type"] == "message_flagged"),
        "participants do not see flags"
    );
    server.stop().await.unwrap();
}
