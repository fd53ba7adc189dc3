//! End to end over real sockets: a facilitator, a moderator and participants from two
//! communities run a short protocol to its end.

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn a_town_hall_runs_from_start_to_end() {
    let server = start_server(test_config()).await;
    let event = server.create_event("test-hall").await;
    let fac_t = server.invite(&event, "facilitator", "Fran", None).await;
    let mod_t = server.invite(&event, "moderator", "Mo", None).await;
    let a1_t = server
        .invite(&event, "participant", "Ana", Some("Dayton, OH"))
        .await;
    let b1_t = server
        .invite(&event, "participant", "Ben", Some("Boulder, CO"))
        .await;
    let b2_t = server
        .invite(&event, "participant", "Bea", Some("Boulder, CO"))
        .await;

    let mut fac = server.join(&fac_t).await;
    let mut moder = server.join(&mod_t).await;
    let mut a1 = server.join(&a1_t).await;
    let mut b1 = server.join(&b1_t).await;
    let mut b2 = server.join(&b2_t).await;
    let snap = b2.snapshot.clone().unwrap();
    assert_eq!(snap["state"]["members"].as_array().unwrap().len(), 5);
    assert!(
        snap["state"]["equity"].is_null(),
        "participants do not see equity"
    );
    let fac_snap = fac.snapshot.as_ref().unwrap();
    assert!(!fac_snap["state"]["equity"].is_null(), "staff see equity");

    fac.ok(json!({"type": "start"})).await;
    a1.event("phase_started").await;

    // Hands go up; the first is served at once.
    a1.ok(json!({"type": "raise_hand"})).await;
    let g = a1.event("floor_granted").await;
    assert_eq!(g["event"]["member"], a1.member.as_str());
    b1.ok(json!({"type": "raise_hand"})).await;
    b2.ok(json!({"type": "raise_hand"})).await;
    a1.ok(json!({"type": "speak", "text": "Our town cares about this."}))
        .await;

    // The moderator puts Bea first.
    moder
        .ok(json!({"type": "move_in_queue", "member": b2.member, "position": 0}))
        .await;
    let first = b2.member.clone();
    b1.recv_until(|v| {
        v["event"]["type"] == "queue_changed" && v["event"]["order"][0] == first.as_str()
    })
    .await;

    // Ana yields; Bea first sums up what Ana said.
    a1.ok(json!({"type": "yield_floor"})).await;
    let g = b2
        .recv_until(|v| v["event"]["type"] == "floor_granted" && v["event"]["turn"] == "reflect")
        .await;
    assert_eq!(g["event"]["member"], b2.member.as_str());
    assert_eq!(g["event"]["responding_to"], a1.member.as_str());
    b2.ok(json!({"type": "speak", "text": "You said your town cares."}))
        .await;
    b2.ok(json!({"type": "yield_floor"})).await;
    a1.event("reflection_pending").await;
    a1.ok(json!({"type": "confirm_reflection"})).await;
    let g = b2
        .recv_until(|v| v["event"]["type"] == "floor_granted" && v["event"]["turn"] == "own")
        .await;
    assert_eq!(g["event"]["member"], b2.member.as_str());

    // The moderator mutes Ben, who loses his place in the queue.
    moder.ok(json!({"type": "mute", "member": b1.member})).await;
    b1.event("muted").await;
    assert_eq!(b1.refused(json!({"type": "raise_hand"})).await, "muted");

    // On to the closing reflection, which ends by itself after one second.
    fac.ok(json!({"type": "next_phase"})).await;
    for c in [&mut fac, &mut moder, &mut a1, &mut b1, &mut b2] {
        c.event("session_ended").await;
        assert_eq!(c.closed().await, Closed::Code(1000, "session ended".into()));
    }
    // Every client saw the same events in the same order, with increasing numbers.
    let seqs: Vec<u64> = b1
        .events
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");

    let res = server
        .http("GET", &format!("/api/events/{event}"), None, &[])
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.json()["ended"], true);
    server.stop().await.unwrap();
}
