//! Faults lose nothing (issue #8): a client whose socket is cut in the middle of a burst of
//! commands (TCP reset, TCP shutdown, or a frame cut in half) — every command it got an `ack`
//! for has its effect in the event log and the transcript, no command it got an `error` for
//! does, and it resumes without gaps. A slow client cut loose (4008) loses nothing either:
//! every acknowledged broadcast is in the transcript and the client resumes without a gap.
//!
//! Why a prefix check is exact: one connection's commands are applied in order, so after a
//! cut the room has applied some prefix of what was sent (the server may have read more than
//! the client saw acknowledged, never less). The effects a staff member saw for that member
//! must therefore equal the effects of `sent[..m]` minus the refused ones, for some `m` at
//! least one past the last acknowledged command. The cut points come from a fixed seed, so a
//! failure replays.
//!
//! Killing a node mid-turn and restarting Redis are in `tests/cluster.rs`; the checks that
//! acknowledged commands survive them (in the transcript, not only in the event stream) are
//! `acked_commands_survive_the_owner_being_killed` and
//! `acked_commands_survive_a_redis_restart` here. Real sockets, real processes and real
//! Redis; every wait is bounded.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::cluster_node::{spawn_node, spawn_node_on, OwnRedis, SHARED_REDIS};
use common::*;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;
use tokio_tungstenite::MaybeTlsStream;

/// SplitMix64: the cut points, reproducible from the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const SEED: u64 = 0x00C0_FFEE_2026;
const CHOICES: [&str; 3] = ["a", "b", "c"];

fn fault_protocols() -> PathBuf {
    let dir = protocol_dir();
    std::fs::write(
        dir.join("fault-test.toml"),
        r#"name = "fault-test"
title = "Fault test"
description = "An open floor, audience questions and a poll, with long timers."

[[phase]]
id = "open"
kind = "queue"
title = "Open floor"
prompt = "What matters to you?"
ordering = "fifo"
turn = "10m"

[[phase]]
id = "qa"
kind = "qa"
title = "Questions"
answer_turn = "10m"

[[phase]]
id = "poll"
kind = "poll"
title = "Poll"
question = "Which one?"
choices = ["a", "b", "c"]
"#,
    )
    .unwrap();
    dir
}

/// How the socket is cut.
#[derive(Debug, Clone, Copy)]
enum Cut {
    /// RST: SO_LINGER 0, then close.
    Reset,
    /// FIN: shut the write half down, then drop.
    Shutdown,
    /// Half of a masked text frame, then RST: the server is mid-frame.
    HalfFrame,
}

fn tcp(c: &mut Client) -> &mut TcpStream {
    match c.ws.get_mut() {
        MaybeTlsStream::Plain(s) => s,
        _ => panic!("tests use plain TCP"),
    }
}

/// Cuts the connection without a WebSocket close.
async fn cut(mut c: Client, how: Cut) {
    match how {
        Cut::Reset => {
            tcp(&mut c).set_zero_linger().unwrap();
        }
        Cut::Shutdown => {
            let _ = tcp(&mut c).shutdown().await;
        }
        Cut::HalfFrame => {
            let payload = br#"{"type":"raise_hand","id":"never"}"#;
            let mask = [0x11u8, 0x22, 0x33, 0x44];
            let mut frame = vec![0x81, 0x80 | payload.len() as u8];
            frame.extend_from_slice(&mask);
            frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
            let half = frame.len() / 2;
            let s = tcp(&mut c);
            let _ = s.write_all(&frame[..half]).await;
            let _ = s.flush().await;
            s.set_zero_linger().unwrap();
        }
    }
    drop(c);
}

/// One command of a burst and what became of it.
#[derive(Debug, Clone)]
struct Sent {
    cmd: Value,
    /// `Some("ack")`, `Some(code)` for a refusal, `None` when no reply came before the cut.
    reply: Option<String>,
}

/// The event a command causes for its sender, as (type, distinguishing field).
fn effect(cmd: &Value) -> (String, Option<String>) {
    match cmd["type"].as_str().unwrap() {
        "raise_hand" => ("hand_raised".into(), None),
        "lower_hand" => ("hand_lowered".into(), None),
        "speak" => ("said".into(), cmd["text"].as_str().map(str::to_string)),
        "ask" => (
            "question_asked".into(),
            cmd["text"].as_str().map(str::to_string),
        ),
        "vote" => ("voted".into(), cmd["choice"].as_str().map(str::to_string)),
        other => panic!("no effect known for {other}"),
    }
}

fn effect_of_event(e: &Value) -> (String, Option<String>) {
    let ev = &e["event"];
    let ty = ev["type"].as_str().unwrap_or("").to_string();
    let field = match ty.as_str() {
        "said" | "question_asked" => ev["text"].as_str().map(str::to_string),
        "voted" => ev["choice"].as_str().map(str::to_string),
        _ => None,
    };
    (ty, field)
}

/// What a burst left: each command's fate, and the events the client read before the cut.
struct Burst {
    sent: Vec<Sent>,
    events: Vec<Value>,
    last_seq: u64,
}

/// Sends `cmds` without waiting, reads replies until `wait_for` of them came (bounded), and
/// cuts the socket `how`.
async fn burst_and_cut(
    mut c: Client,
    cmds: Vec<Value>,
    send_before_cut: usize,
    wait_for: usize,
    how: Cut,
) -> Burst {
    let mut sent: Vec<Sent> = Vec::new();
    for (i, mut cmd) in cmds.into_iter().take(send_before_cut).enumerate() {
        cmd["id"] = json!(format!("b{i}"));
        c.send(cmd.clone()).await;
        sent.push(Sent { cmd, reply: None });
    }
    let mut replies = 0;
    // Bounded: at most this many frames read, each within 5 s.
    for _ in 0..10_000 {
        if replies >= wait_for {
            break;
        }
        let Ok(Some(Ok(msg))) = tokio::time::timeout(
            Duration::from_secs(5),
            futures_util::StreamExt::next(&mut c.ws),
        )
        .await
        else {
            break;
        };
        let tokio_tungstenite::tungstenite::Message::Text(t) = msg else {
            continue;
        };
        let v: Value = serde_json::from_str(&t).unwrap();
        if v["type"] == "event" {
            c.last_seq = v["seq"].as_u64().unwrap();
            c.events.push(v);
            continue;
        }
        let Some(i) = v["id"]
            .as_str()
            .and_then(|id| id.strip_prefix('b'))
            .and_then(|n| n.parse::<usize>().ok())
        else {
            continue;
        };
        replies += 1;
        sent[i].reply = Some(if v["type"] == "ack" {
            "ack".into()
        } else {
            v["code"].as_str().unwrap_or("?").to_string()
        });
    }
    let (events, last_seq) = (std::mem::take(&mut c.events), c.last_seq);
    cut(c, how).await;
    Burst {
        sent,
        events,
        last_seq,
    }
}

/// Reconnects with `resume` and returns the client and the resumed frame.
async fn resume(server: &TestServer, token: &str, room: &str, last_seq: u64) -> (Client, Value) {
    let mut c = server.connect().await;
    c.send(json!({"type": "hello", "token": token,
        "resume": {"room": room, "last_seq": last_seq}}))
        .await;
    let welcome = c.recv_json().await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    c.member = welcome["member"].as_str().unwrap().to_string();
    c.room = welcome["room"].as_str().unwrap().to_string();
    c.last_seq = last_seq;
    let resumed = c.recv_json().await;
    assert_eq!(resumed["type"], "resumed", "{resumed}");
    (c, resumed)
}

/// The member's effects in the staff log, in order, before it left after the cut.
fn observed_effects(log: &[Value], member: &str) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for e in log {
        let ev = &e["event"];
        if ev["member"] != member {
            continue;
        }
        if ev["type"] == "member_left" {
            break;
        }
        let eff = effect_of_event(e);
        if matches!(
            eff.0.as_str(),
            "hand_raised" | "hand_lowered" | "said" | "question_asked" | "voted"
        ) {
            out.push(eff);
        }
    }
    out
}

/// The prefix check (see the file comment). Replies come in order, so the answered
/// commands are a prefix of the sent ones: their acknowledged effects must lead the log
/// exactly, refused ones must be absent, and what follows can only be the effects of the
/// unanswered rest, in order (each either applied or refused by the server).
fn assert_prefix_applied(sent: &[Sent], observed: &[(String, Option<String>)], round: usize) {
    let show = || {
        sent.iter()
            .map(|s| (s.cmd.to_string(), s.reply.clone()))
            .collect::<Vec<_>>()
    };
    let answered = sent.iter().take_while(|s| s.reply.is_some()).count();
    assert!(
        sent[answered..].iter().all(|s| s.reply.is_none()),
        "round {round}: replies out of order: {:#?}",
        show()
    );
    let definite: Vec<(String, Option<String>)> = sent[..answered]
        .iter()
        .filter(|s| s.reply.as_deref() == Some("ack"))
        .map(|s| effect(&s.cmd))
        .collect();
    assert!(
        observed.len() >= definite.len() && observed[..definite.len()] == definite[..],
        "round {round}: the acknowledged commands' effects do not lead the log\n\
         sent: {:#?}\nobserved: {observed:#?}",
        show()
    );
    let mut rest = observed[definite.len()..].iter().peekable();
    for s in &sent[answered..] {
        if rest.peek().is_some_and(|o| **o == effect(&s.cmd)) {
            rest.next();
        }
    }
    assert!(
        rest.next().is_none(),
        "round {round}: effects in the log that no command explains (a refused one applied?)\n\
         sent: {:#?}\nobserved: {observed:#?}",
        show()
    );
}

/// Events everybody in the hall is sent.
const PUBLIC: [&str; 7] = [
    "said",
    "hand_raised",
    "hand_lowered",
    "floor_granted",
    "floor_released",
    "phase_started",
    "broadcast",
];

/// A member's events over all its connections: in order, none twice, and every public
/// event the staff log has in that span is there (nothing fell between a cut and a resume).
fn assert_resumed_without_gaps(member_events: &[Value], staff: &[Value], what: &str) {
    let s: Vec<u64> = member_events
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert!(
        s.windows(2).all(|w| w[0] < w[1]),
        "{what}: out of order or twice: {s:?}"
    );
    let (Some(first), Some(last)) = (s.first(), s.last()) else {
        return;
    };
    let have: std::collections::BTreeSet<u64> = s.iter().copied().collect();
    for e in staff {
        let seq = e["seq"].as_u64().unwrap();
        let ty = e["event"]["type"].as_str().unwrap_or("");
        if seq >= *first && seq <= *last && PUBLIC.contains(&ty) {
            assert!(have.contains(&seq), "{what}: missed {e}");
        }
    }
}

/// Staff see every event but private ones: their numbers have no gap.
fn assert_no_gap(events: &[Value], what: &str) {
    let s: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(
        s.windows(2).all(|w| w[1] == w[0] + 1),
        "{what}: a gap or a duplicate in {s:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acked_commands_survive_a_client_cut_mid_burst() {
    let mut config = test_config();
    config.protocols_dir = fault_protocols();
    // The command rate is per member across its sockets: these bursts from one member over
    // many reconnects are about acks surviving cuts, not about the limiter.
    config.command_rate = 10_000;
    config.command_burst = 10_000;
    let server = start_server(config).await;
    let event = server.create_event("fault-test").await;
    let hall = format!("{event}/hall");
    let fac_t = server.invite(&event, "facilitator", "Fran", None).await;
    let p_t = server
        .invite(&event, "participant", "Ana", Some("Dayton, OH"))
        .await;
    let q_t = server
        .invite(&event, "participant", "Ben", Some("Boulder, CO"))
        .await;
    let mut fac = server.join(&fac_t).await;
    let fac_from = fac.last_seq;
    let mut q = server.join(&q_t).await;
    let mut p = server.join(&p_t).await;
    let member = p.member.clone();
    fac.ok(json!({"type": "start"})).await;

    let mut rng = Rng(SEED);
    let cuts = [Cut::Reset, Cut::Shutdown, Cut::HalfFrame];
    let mut acked_texts: Vec<String> = Vec::new();
    let mut refused_texts: Vec<String> = Vec::new();
    let mut p_events: Vec<Value> = Vec::new();
    let mut text_n = 0;
    // (phase, rounds): open floor with hands, open floor holding the floor, questions, votes.
    let plan: [(&str, usize); 4] = [("hands", 4), ("speak", 4), ("ask", 4), ("vote", 4)];
    let mut round = 0;
    for (kind, rounds) in plan {
        match kind {
            "speak" => {
                // Ben yields; Ana raises her hand and gets the empty floor.
                q.ok(json!({"type": "yield_floor"})).await;
            }
            "ask" => fac.ok(json!({"type": "next_phase"})).await,
            "vote" => fac.ok(json!({"type": "next_phase"})).await,
            _ => {
                // Ben holds the floor, so Ana's raised hand waits in the queue.
                q.ok(json!({"type": "raise_hand"})).await;
            }
        }
        for _ in 0..rounds {
            if kind == "speak" {
                p.ok(json!({"type": "raise_hand"})).await;
                let pm = member.clone();
                p.recv_until(|v| {
                    v["event"]["type"] == "floor_granted" && v["event"]["member"] == pm.as_str()
                })
                .await;
            }
            let n = 5 + rng.below(20) as usize;
            let cmds: Vec<Value> = (0..n)
                .map(|i| {
                    // Every fifth command is one the phase refuses (the wrong kind, or an
                    // unknown choice); hands start with a lower that has nothing to lower.
                    let odd_one = i % 5 == 4;
                    match kind {
                        "hands" if i % 2 == 1 => json!({"type": "raise_hand"}),
                        "hands" => json!({"type": "lower_hand"}),
                        "speak" | "ask" => {
                            text_n += 1;
                            let ty = match (kind, odd_one) {
                                ("speak", false) | ("ask", true) => "speak",
                                _ => "ask",
                            };
                            json!({"type": ty, "text": format!("fault text {text_n} round {round}")})
                        }
                        _ if odd_one => json!({"type": "vote", "choice": "none of these"}),
                        _ => json!({"type": "vote", "choice": CHOICES[i % 3]}),
                    }
                })
                .collect();
            let send = 1 + rng.below(n as u64) as usize;
            let wait_for = rng.below(send as u64 + 1) as usize;
            let how = cuts[rng.below(3) as usize];
            // The staff log is read up to here (a reply comes after every earlier event).
            fac.ok(json!({"type": "broadcast", "text": format!("round {round}")}))
                .await;
            let log_from = fac.events.len();
            let burst = burst_and_cut(p, cmds, send, wait_for, how).await;
            let (sent, last_seq) = (burst.sent, burst.last_seq);
            p_events.extend(burst.events);

            // The server has finished with the old socket once its member left the room;
            // everything it applied for it precedes that in the staff log.
            let pm = member.clone();
            fac.recv_until(|v| {
                v["event"]["type"] == "member_left" && v["event"]["member"] == pm.as_str()
            })
            .await;
            let observed = observed_effects(&fac.events[log_from..], &member);
            let count = |f: &dyn Fn(&Sent) -> bool| sent.iter().filter(|s| f(s)).count();
            eprintln!(
                "round {round} ({kind}, {how:?}): {} sent, {} acked, {} refused, {} unanswered, {} applied",
                sent.len(),
                count(&|s| s.reply.as_deref() == Some("ack")),
                count(&|s| s.reply.as_ref().is_some_and(|r| r != "ack")),
                count(&|s| s.reply.is_none()),
                observed.len()
            );
            assert_prefix_applied(&sent, &observed, round);
            for s in &sent {
                if let Some(t) = s.cmd["text"].as_str() {
                    match s.reply.as_deref() {
                        Some("ack") => acked_texts.push(t.to_string()),
                        Some(_) => refused_texts.push(t.to_string()),
                        None => {}
                    }
                }
            }

            // Resume: exactly the missed events, no gap, none twice.
            let (c, resumed) = resume(&server, &p_t, &hall, last_seq).await;
            assert_eq!(resumed["recovered"], true, "round {round}: {resumed}");
            p = c;
            round += 1;
        }
    }
    // Ana's client kept every event it was sent across all its connections, in order.
    fac.ok(json!({"type": "broadcast", "text": "the end"}))
        .await;
    fac.event("broadcast").await;
    p.event("broadcast").await;
    assert_no_gap(&fac.events, "the facilitator");
    assert_eq!(fac.events[0]["seq"].as_u64(), Some(fac_from + 1));
    p_events.append(&mut p.events);
    assert_resumed_without_gaps(&p_events, &fac.events, "Ana");

    // The transcript has every acknowledged text and none of the refused ones.
    fac.ok(json!({"type": "end"})).await;
    let t = server
        .org("GET", &format!("/api/events/{event}/transcript"), None)
        .await;
    assert_eq!(t.status, 200, "{}", t.body);
    assert!(!acked_texts.is_empty(), "some texts were acknowledged");
    for text in &acked_texts {
        assert!(
            t.body.contains(text.as_str()),
            "acknowledged `{text}` missing from the transcript"
        );
    }
    for text in &refused_texts {
        assert!(
            !t.body.contains(&format!("\"{text}\"")),
            "refused `{text}` is in the transcript"
        );
    }
    server.stop().await.unwrap();
}

/// A slow client cut loose (4008) loses nothing: every acknowledged broadcast is in the
/// transcript, and the client, whose gap is over the resume budget, comes back on a fresh
/// snapshot and continues from it without a gap (an exact resume is `tests/resume.rs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_client_cut_loose_resumes_and_the_transcript_has_every_ack() {
    let mut config = test_config();
    config.max_message_bytes = 4096;
    config.outbound_queue_bytes = 8192;
    config.command_rate = 100_000;
    config.command_burst = 100_000;
    config.event_log_len = 100_000;
    let server = start_server(config).await;
    let event = server.create_event("test-open").await;
    let hall = format!("{event}/hall");
    let fac_t = server.invite(&event, "facilitator", "Fran", None).await;
    let slow_t = server.invite(&event, "observer", "Slow", None).await;
    let mut fac = server.join(&fac_t).await;
    let mut slow = server.join(&slow_t).await;
    let slow_from = slow.last_seq;

    // Broadcasts until the slow client (which reads nothing) is cut loose, then a few more.
    const MAX_BROADCASTS: usize = 20_000;
    let text = "x".repeat(1_500);
    let mut acked = Vec::new();
    for i in 0..MAX_BROADCASTS {
        let t = format!("b{i} {text}");
        fac.ok(json!({"type": "broadcast", "text": t})).await;
        acked.push(format!("b{i} "));
        let cut_loose = server
            .state
            .metrics
            .slow_consumer_disconnects
            .load(std::sync::atomic::Ordering::Relaxed);
        if cut_loose >= 1 {
            break;
        }
    }
    assert!(
        acked.len() < MAX_BROADCASTS,
        "the slow client was never cut loose"
    );
    for i in 0..5 {
        let t = format!("after-{i}-");
        fac.ok(json!({"type": "broadcast", "text": t})).await;
        acked.push(t);
    }
    assert!(matches!(slow.closed().await, Closed::Code(4008, _)));
    let read = slow.events.clone();
    let (mut again, resumed) = resume(&server, &slow_t, &hall, slow.last_seq).await;
    // What it missed is far over the resume budget (half this small queue): the server
    // answers recovered: false and a fresh snapshot instead of a frame it could not write.
    assert_eq!(resumed["recovered"], false, "{resumed}");
    assert_eq!(resumed["events"], json!([]));
    let snap = again.recv_json().await;
    assert_eq!(snap["type"], "snapshot", "{snap}");
    let snap_seq = snap["seq"].as_u64().unwrap();
    assert!(
        snap_seq > slow.last_seq,
        "the snapshot is newer than what it read"
    );
    fac.ok(json!({"type": "broadcast", "text": "done"})).await;
    again.recv_until(|v| v["event"]["text"] == "done").await;
    let seqs = |events: &[Value]| -> Vec<u64> {
        events.iter().map(|e| e["seq"].as_u64().unwrap()).collect()
    };
    let before = seqs(&read);
    let want: Vec<u64> = (slow_from + 1..=slow_from + before.len() as u64).collect();
    assert_eq!(before, want, "a gap or a duplicate before the cut");
    let after = seqs(&again.events);
    let want: Vec<u64> = (snap_seq + 1..=snap_seq + after.len() as u64).collect();
    assert_eq!(after, want, "a gap or a duplicate after the snapshot");

    let t = server
        .org("GET", &format!("/api/events/{event}/transcript"), None)
        .await;
    assert_eq!(t.status, 200);
    for a in &acked {
        assert!(
            t.body.contains(a.as_str()),
            "acknowledged `{a}` not in the transcript"
        );
    }
    server.stop().await.unwrap();
}

// ---- a node killed mid-turn (separate processes, real Redis) ----

/// Sends a command until it is acknowledged (a takeover answers `unavailable` meanwhile);
/// bounded.
async fn ok_eventually(c: &mut Client, cmd: Value) {
    for _ in 0..100 {
        let r = c.cmd(cmd.clone()).await;
        if r["type"] == "ack" {
            return;
        }
        assert_eq!(r["code"], "unavailable", "{cmd} -> {r}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{cmd} was never acknowledged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acked_commands_survive_the_owner_being_killed() {
    let prefix = format!(
        "cgtest-faults-kill-{}-{}",
        std::process::id(),
        commonground::config::random_hex(4)
    );
    let dir = protocol_dir();
    let mut k1 = spawn_node(&prefix, "f1", &dir);
    let k2 = spawn_node(&prefix, "f2", &dir);
    let (status, body) = k1
        .http(
            "POST",
            "/api/events",
            Some(json!({"title": "Kill", "protocol": "test-open",
                "communities": ["Dayton, OH", "Boulder, CO"]})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let event = serde_json::from_str::<Value>(&body).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let hall = format!("{event}/hall");
    let ana_t = k1
        .invite(&event, "participant", "Ana", Some("Dayton, OH"))
        .await;
    let fac_t = k1.invite(&event, "facilitator", "Fran", None).await;
    // The first join makes k1 the owner; the facilitator listens through k2.
    let mut ana = k1.join(&ana_t).await;
    let mut fac = k2.join(&fac_t).await;
    fac.ok(json!({"type": "start"})).await;
    ana.ok(json!({"type": "raise_hand"})).await;
    let mut acked = Vec::new();
    for i in 0..5 {
        let t = format!("before the kill {i}");
        ana.ok(json!({"type": "speak", "text": t})).await;
        acked.push(t);
    }
    // Commands in flight when the owner dies: whatever was acknowledged must survive.
    let mut in_flight = Vec::new();
    for i in 0..5 {
        let t = format!("in flight {i}");
        ana.send(json!({"type": "speak", "text": t, "id": format!("f{i}")}))
            .await;
        in_flight.push(t);
    }
    k1.child.kill().unwrap();
    let _ = k1.child.wait();
    let mut seen = ana.events.clone();
    loop {
        match tokio::time::timeout(WAIT, futures_util::StreamExt::next(&mut ana.ws)).await {
            Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Text(t)))) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["type"] == "ack" {
                    let i: usize = v["id"].as_str().unwrap()[1..].parse().unwrap();
                    acked.push(in_flight[i].clone());
                }
                if v["type"] == "event" {
                    seen.push(v);
                }
            }
            Ok(Some(Ok(_))) => {}
            _ => break,
        }
    }
    let last_seq = seen
        .last()
        .and_then(|e| e["seq"].as_u64())
        .unwrap_or(ana.last_seq);

    // Ana comes back through k2, which takes the room over, and resumes.
    let mut again = k2.connect().await;
    again
        .send(json!({"type": "hello", "token": ana_t,
            "resume": {"room": hall, "last_seq": last_seq}}))
        .await;
    let welcome = again.recv_json().await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    let resumed = again.recv_json().await;
    assert_eq!(resumed["type"], "resumed", "{resumed}");
    assert_eq!(resumed["recovered"], true, "{resumed}");
    for e in resumed["events"].as_array().unwrap() {
        assert!(e["seq"].as_u64().unwrap() > last_seq, "{e}");
    }
    // She still holds the floor (her leave waits for k1's liveness to run out, or she
    // rejoined in time) or raises her hand again; either way she speaks after the kill.
    let t = "after the kill".to_string();
    for _ in 0..100 {
        let r = again.cmd(json!({"type": "speak", "text": t})).await;
        if r["type"] == "ack" {
            break;
        }
        if r["code"] != "unavailable" {
            ok_eventually(&mut again, json!({"type": "raise_hand"})).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    acked.push(t);
    ok_eventually(&mut fac, json!({"type": "end"})).await;

    let (status, body) = k2
        .http("GET", &format!("/api/events/{event}/transcript"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    for a in &acked {
        assert!(
            body.contains(a.as_str()),
            "acknowledged `{a}` not in the transcript:\n{body}"
        );
    }
    drop(k2);
    let client = redis::Client::open(SHARED_REDIS).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut c)
        .await
        .unwrap();
    if !keys.is_empty() {
        let _: () = redis::cmd("DEL")
            .arg(keys)
            .query_async(&mut c)
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acked_commands_survive_a_redis_restart() {
    let redis = OwnRedis::start();
    let port = redis.port;
    let url = redis.url();
    let dir = protocol_dir();
    let d1 = spawn_node_on(&url, "127.0.0.1:0", "cgtest-faults-restart", "r1", &dir);
    let d2 = spawn_node_on(&url, "127.0.0.1:0", "cgtest-faults-restart", "r2", &dir);
    let (status, body) = d1
        .http(
            "POST",
            "/api/events",
            Some(json!({"title": "Restart", "protocol": "test-open",
                "communities": ["Dayton, OH", "Boulder, CO"]})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let event = serde_json::from_str::<Value>(&body).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let fac_t = d1.invite(&event, "facilitator", "Fran", None).await;
    let p_t = d1
        .invite(&event, "participant", "Ana", Some("Dayton, OH"))
        .await;
    // The facilitator's join makes d1 the owner; Ana speaks through d2.
    let mut fac = d1.join(&fac_t).await;
    let mut p = d2.join(&p_t).await;
    fac.ok(json!({"type": "start"})).await;
    p.ok(json!({"type": "raise_hand"})).await;
    let pm = p.member.clone();
    p.recv_until(|v| v["event"]["type"] == "floor_granted" && v["event"]["member"] == pm.as_str())
        .await;
    let mut acked = Vec::new();
    for i in 0..3 {
        let t = format!("before the restart {i}");
        p.ok(json!({"type": "speak", "text": t})).await;
        acked.push(t);
    }

    drop(redis);
    let mut refused = 0;
    // While Redis is away, commands are refused (`unavailable`) or, if one slips through
    // before the nodes notice, acknowledged: only the acknowledged ones are promised.
    for i in 0..3 {
        let t = format!("while away {i}");
        let r = p.cmd(json!({"type": "speak", "text": t})).await;
        if r["type"] == "ack" {
            acked.push(t);
        } else {
            assert_eq!(r["code"], "unavailable", "{r}");
            refused += 1;
        }
    }
    // A store failure is the server's `unavailable` end to end, never the engine's
    // `forbidden`: on the owner and on the node that forwarded the commands.
    for node in [&d1, &d2] {
        let (_, metrics) = node.http("GET", "/metrics", None).await;
        assert!(
            !metrics.contains("refused_commands_total{code=\"forbidden\"}"),
            "{metrics}"
        );
    }
    let (_, metrics) = d2.http("GET", "/metrics", None).await;
    assert_eq!(
        refused > 0,
        metrics.contains("refused_commands_total{code=\"unavailable\"}"),
        "{refused} refused:\n{metrics}"
    );
    let _redis = OwnRedis::start_on(port);
    let t = "after the restart".to_string();
    ok_eventually(&mut p, json!({"type": "speak", "text": t})).await;
    acked.push(t);
    ok_eventually(&mut fac, json!({"type": "end"})).await;

    // The owner (d1) kept the room in memory and put it back into the empty Redis.
    let (status, body) = d1
        .http("GET", &format!("/api/events/{event}/transcript"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    for a in &acked {
        assert!(
            body.contains(a.as_str()),
            "acknowledged `{a}` not in the transcript:\n{body}"
        );
    }
    drop((d1, d2));
}
