//! Resume after a dropped connection (exactly the missed events, or a fresh snapshot when
//! they are too old) and slow consumers (cut loose with 4008 while others keep receiving).

mod common;

use std::sync::atomic::Ordering;

use common::*;
use serde_json::{json, Value};

fn seqs(events: &[Value]) -> Vec<u64> {
    events.iter().map(|e| e["seq"].as_u64().unwrap()).collect()
}

#[tokio::test]
async fn a_dropped_client_resumes_with_exactly_what_it_missed() {
    let server = start_server(test_config()).await;
    let event = server.create_event("test-open").await;
    let fac = server.invite(&event, "facilitator", "Fran", None).await;
    let p1_t = server
        .invite(&event, "participant", "Ana", Some("Dayton, OH"))
        .await;
    let p2_t = server
        .invite(&event, "participant", "Ben", Some("Boulder, CO"))
        .await;
    let mut fac = server.join(&fac).await;
    let mut p2 = server.join(&p2_t).await;
    let mut p1 = server.join(&p1_t).await;
    fac.ok(json!({"type": "start"})).await;
    p1.ok(json!({"type": "raise_hand"})).await;
    p1.event("floor_granted").await;
    let last_seq = p1.last_seq;
    let before = p1.events.clone();

    // The connection drops without a close handshake.
    drop(p1);
    p2.event("member_left").await;
    p2.ok(json!({"type": "raise_hand"})).await;
    fac.ok(json!({"type": "broadcast", "text": "while you were away"}))
        .await;
    fac.ok(json!({"type": "revoke_floor"})).await;

    // Ana comes back and resumes.
    let mut p1 = server.connect().await;
    p1.send(json!({"type": "hello", "token": p1_t,
        "resume": {"room": format!("{event}/hall"), "last_seq": last_seq}}))
        .await;
    assert_eq!(p1.recv_json().await["type"], "welcome");
    let resumed = p1.recv_json().await;
    assert_eq!(resumed["type"], "resumed", "{resumed}");
    assert_eq!(resumed["recovered"], true);
    let got = seqs(resumed["events"].as_array().unwrap());
    assert!(!got.is_empty());

    // Live events continue right after the resumed ones.
    fac.ok(json!({"type": "broadcast", "text": "welcome back"}))
        .await;
    p1.recv_until(|v| v["event"]["type"] == "broadcast").await;
    p2.recv_until(|v| v["event"]["type"] == "broadcast" && v["event"]["text"] == "welcome back")
        .await;

    // Ben never disconnected and has the same role: he saw every event Ana may see.
    let p2_after: Vec<u64> = seqs(&p2.events)
        .into_iter()
        .filter(|s| *s > last_seq)
        .collect();
    let p1_after: Vec<u64> = seqs(&p1.events);
    assert_eq!(p1_after, p2_after, "no gaps, no duplicates");
    let all: Vec<u64> = seqs(&before).into_iter().chain(p1_after).collect();
    assert!(all.windows(2).all(|w| w[0] < w[1]), "{all:?}");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_resume_older_than_the_log_gets_a_fresh_snapshot() {
    let mut config = test_config();
    config.event_log_len = 3;
    let server = start_server(config).await;
    let event = server.create_event("test-open").await;
    let fac = server.invite(&event, "facilitator", "Fran", None).await;
    let p1_t = server
        .invite(&event, "participant", "Ana", Some("Dayton, OH"))
        .await;
    let mut fac = server.join(&fac).await;
    let p1 = server.join(&p1_t).await;
    let last_seq = p1.last_seq;
    drop(p1);
    for i in 0..5 {
        fac.ok(json!({"type": "broadcast", "text": format!("news {i}")}))
            .await;
    }
    let mut p1 = server.connect().await;
    p1.send(json!({"type": "hello", "token": p1_t,
        "resume": {"room": format!("{event}/hall"), "last_seq": last_seq}}))
        .await;
    assert_eq!(p1.recv_json().await["type"], "welcome");
    let resumed = p1.recv_json().await;
    assert_eq!(resumed["recovered"], false, "{resumed}");
    assert_eq!(resumed["events"], json!([]));
    let snap = p1.recv_json().await;
    assert_eq!(snap["type"], "snapshot");
    assert!(snap["seq"].as_u64().unwrap() > last_seq + 5);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_consumer_is_cut_loose_while_others_keep_receiving() {
    let mut config = test_config();
    config.max_message_bytes = 4096;
    // Room for ~30 broadcasts: the fast reader shares two CPUs with the server and must not
    // be cut for a scheduling hiccup; the slow one, who never reads, still fills it once its
    // socket buffers are full.
    config.outbound_queue_bytes = 64 * 1024;
    config.command_rate = 100_000;
    config.command_burst = 100_000;
    let server = start_server(config).await;
    let event = server.create_event("test-open").await;
    let fac = server.invite(&event, "facilitator", "Fran", None).await;
    let fast = server.invite(&event, "observer", "Fast", None).await;
    let slow = server.invite(&event, "observer", "Slow", None).await;
    let mut fac = server.join(&fac).await;
    let mut fast = server.join(&fast).await;
    let mut slow = server.join(&slow).await;

    const MAX_BROADCASTS: usize = 20_000;
    // The fast reader runs on its own task, reading everything until the last broadcast.
    let reader = tokio::spawn(async move {
        loop {
            let v = fast.read_json().await;
            if v["event"]["type"] == "broadcast" && v["event"]["text"] == "done" {
                return fast;
            }
        }
    });
    let text = "x".repeat(1_900);
    let mut sent = 0;
    while sent < MAX_BROADCASTS {
        fac.ok(json!({"type": "broadcast", "text": text})).await;
        sent += 1;
        let slow_count = server
            .state
            .metrics
            .slow_consumer_disconnects
            .load(Ordering::Relaxed);
        if slow_count >= 1 {
            break;
        }
    }
    assert!(sent < MAX_BROADCASTS, "the slow client was never cut loose");
    // A few more after the cut, which the fast client still gets.
    for _ in 0..10 {
        fac.ok(json!({"type": "broadcast", "text": "after"})).await;
        sent += 1;
    }
    fac.ok(json!({"type": "broadcast", "text": "done"})).await;
    sent += 1;
    let fast = tokio::time::timeout(WAIT, reader)
        .await
        .expect("fast reader in time")
        .unwrap();
    let s = seqs(&fast.events);
    assert!(
        s.windows(2).all(|w| w[1] == w[0] + 1),
        "the fast client has no gaps"
    );
    let broadcasts = fast
        .events
        .iter()
        .filter(|e| e["event"]["type"] == "broadcast")
        .count();
    assert_eq!(broadcasts, sent, "the fast client got every broadcast");
    // The slow client finally reads: what was buffered, then the close with 4008.
    assert_eq!(
        slow.closed().await,
        Closed::Code(4008, "slow consumer, resume".into())
    );
    server.stop().await.unwrap();
}
