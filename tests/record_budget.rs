//! Issue #20, finding 6: one member cannot grow a room's memory without bound. Notes,
//! messages and questions stay in the room's record until the event is purged; a member who
//! has written their share is refused `over_budget`, staff are told first, and everyone else
//! carries on (`src/engine/budget.rs`).

mod common;

use common::*;
use commonground::engine::budget::{ITEM_OVERHEAD_BYTES, MEMBER_SHARE_BYTES, WARN_PERCENT};
use serde_json::json;

fn config() -> commonground::config::Config {
    let mut c = qa_config();
    std::fs::write(
        c.protocols_dir.join("test-notes.toml"),
        r#"name = "test-notes"
title = "Notes"
description = "A long reflection with notes shared without names."

[[phase]]
id = "reflect"
kind = "reflection"
title = "Reflect"
prompt = "Write what you heard."
duration = "10h"
notes = "shared_anonymous"
"#,
    )
    .unwrap();
    // The facilitator reads the notes only at the end: room for all of them.
    c.outbound_queue_bytes = 4 * 1024 * 1024;
    c
}

#[tokio::test]
async fn a_member_who_wrote_their_share_is_refused_and_staff_are_told() {
    let server = start_server(config()).await;
    let event = server.create_event("test-notes").await;
    let fac = server.invite(&event, "facilitator", "Fay", None).await;
    let ana = server
        .invite(&event, "participant", "Ana", Some("Dayton, OH"))
        .await;
    let ben = server
        .invite(&event, "participant", "Ben", Some("Boulder, CO"))
        .await;
    let mut fay = server.join(&fac).await;
    fay.ok(json!({"type": "start"})).await;
    let mut ana = server.join(&ana).await;

    // A script writing the longest notes it may, without end.
    let long = "n".repeat(2_000);
    let fits = MEMBER_SHARE_BYTES / (2_000 + ITEM_OVERHEAD_BYTES);
    let (mut accepted, mut refused) = (0u64, 0u64);
    for _ in 0..fits + 20 {
        let r = ana.cmd(json!({"type": "note", "text": long})).await;
        if r["type"] == "ack" {
            assert_eq!(refused, 0, "nothing is accepted after the first refusal");
            accepted += 1;
        } else {
            assert_eq!(r["code"], "over_budget", "{r}");
            refused += 1;
        }
    }
    assert_eq!(accepted, fits);
    assert_eq!(refused, 20);

    // Staff heard about it before the refusals: one warning naming the member.
    let warning = fay.event("budget_warning").await;
    assert_eq!(warning["event"]["member"], ana.member.as_str(), "{warning}");
    assert_eq!(warning["event"]["limit_bytes"], MEMBER_SHARE_BYTES);
    let used = warning["event"]["used_bytes"].as_u64().unwrap();
    assert!(used >= MEMBER_SHARE_BYTES / 100 * WARN_PERCENT, "{warning}");

    // Everyone else carries on: another participant writes, staff broadcast, and a fresh
    // join (a reload) still gets its snapshot.
    let mut ben = server.join(&ben).await;
    ben.ok(json!({"type": "note", "text": "I heard a lot of notes."}))
        .await;
    fay.ok(json!({"type": "broadcast", "text": "Thanks for writing, everyone."}))
        .await;
    let fresh = server.join(&fac).await;
    assert!(fresh.snapshot.is_some());
    server.stop().await.unwrap();
}
