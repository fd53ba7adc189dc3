//! Staff joining a hall that is already large.
//!
//! The load test once found that a facilitator could not join a hall of about 550 members:
//! the staff snapshot (equity per member) outgrew the socket's write buffer and the
//! connection dropped without a close frame. Snapshots of large halls are now trimmed and the
//! write buffer is bounded by the outbound queue; this drives 650 real sockets to keep it so.

mod common;

use common::*;
use futures_util::future::join_all;
use serde_json::json;

/// Enough members that the untrimmed staff snapshot would be well past the old limit.
const MEMBERS: usize = 650;
/// Sockets opened at once, so the test does not depend on a large accept backlog.
const BATCH: usize = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_join_a_hall_of_650_and_run_it() {
    let mut config = test_config();
    config.connect_rate = 100_000;
    config.connect_burst = 100_000;
    config.max_connections = 2 * MEMBERS;
    let server = start_server(config).await;
    let event = server.create_event("test-open").await;

    let mut tokens = Vec::with_capacity(MEMBERS);
    for i in 0..MEMBERS {
        let city = if i % 2 == 0 {
            "Dayton, OH"
        } else {
            "Boulder, CO"
        };
        tokens.push(
            server
                .invite(&event, "participant", &format!("Resident {i}"), Some(city))
                .await,
        );
    }
    let mut members = Vec::with_capacity(MEMBERS);
    for chunk in tokens.chunks(BATCH) {
        members.extend(join_all(chunk.iter().map(|t| server.join(t))).await);
    }
    assert_eq!(members.len(), MEMBERS);

    let f = server.invite(&event, "facilitator", "Fran", None).await;
    let mut f = server.join(&f).await;
    let snap = f.snapshot.take().expect("a snapshot");
    let view = &snap["state"];
    assert_eq!(
        view["counts"]["present"],
        json!(MEMBERS + 1),
        "{}",
        view["counts"]
    );
    assert!(
        view["equity"].is_object(),
        "staff see the equity figures: {}",
        view["equity"]
    );
    f.ok(json!({"type": "start"})).await;

    let m = server.invite(&event, "moderator", "Mo", None).await;
    let mut m = server.join(&m).await;
    assert_eq!(
        m.snapshot.as_ref().unwrap()["state"]["counts"]["present"],
        json!(MEMBERS + 2)
    );
    // A participant far down the list still hears the session start.
    let last = members.last_mut().unwrap();
    last.event("session_started").await;
    m.send(json!({"type": "ping", "id": 1})).await;
    m.recv_until(|v| v["type"] == "pong").await;
    server.stop().await.unwrap();
}
