//! The town-hall flow end to end over real sockets: breakout groups as rooms of their own
//! (joined on the same socket, left without closing it), staff dropping in, help requests,
//! recall, Q&A, a before/after poll, then the report and transcript checked against what the
//! test did. Expected figures come from the events the test saw (`held_ms` of each
//! `floor_released`), never from a clock.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use serde_json::{json, Value};

/// A client and every frame it has read, so a test can look back.
struct P {
    c: Client,
    name: String,
    community: Option<String>,
    seen: Vec<Value>,
}

impl P {
    fn id(&self) -> String {
        self.c.member.clone()
    }

    /// The first frame (seen before or read now) that matches.
    async fn wait(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(v) = self.seen.iter().find(|v| pred(v)) {
            return v.clone();
        }
        // Bounded: every read has its own timeout (`common::WAIT`).
        for _ in 0..10_000 {
            let v = self.c.recv_json().await;
            self.seen.push(v.clone());
            if pred(&v) {
                return v;
            }
        }
        panic!("{}: no matching frame", self.name);
    }

    /// The first event of this type in `room`.
    async fn event_in(&mut self, room: &str, ty: &str) -> Value {
        let (room, ty) = (room.to_string(), ty.to_string());
        self.wait(move |v| v["type"] == "event" && v["room"] == room && v["event"]["type"] == ty)
            .await
    }

    async fn ok(&mut self, v: Value) {
        self.c.ok(v).await;
    }

    async fn refused(&mut self, v: Value) -> String {
        self.c.refused(v).await
    }
}

const DAYTON: &str = "Dayton, OH";
const BOULDER: &str = "Boulder, CO";

async fn person(
    server: &TestServer,
    event: &str,
    role: &str,
    name: &str,
    community: Option<&str>,
) -> P {
    let token = server.invite(event, role, name, community).await;
    let c = server.join(&token).await;
    P {
        c,
        name: name.into(),
        community: community.map(str::to_string),
        seen: Vec::new(),
    }
}

/// Participants: `n_dayton` from Dayton, `n_boulder` from Boulder.
async fn residents(server: &TestServer, event: &str, n_dayton: usize, n_boulder: usize) -> Vec<P> {
    let mut out = Vec::new();
    for i in 0..n_dayton {
        out.push(person(server, event, "participant", &format!("D{i}"), Some(DAYTON)).await);
    }
    for i in 0..n_boulder {
        out.push(
            person(
                server,
                event,
                "participant",
                &format!("B{i}"),
                Some(BOULDER),
            )
            .await,
        );
    }
    out
}

fn hall(event: &str) -> String {
    format!("{event}/hall")
}

/// Starts the joint town hall and skips to the breakout phase (index 3): the opening, the
/// poll, the poll's results (shown until the facilitator moves on), the open floor.
async fn to_breakouts(fac: &mut P, event: &str) -> Value {
    fac.ok(json!({"type": "start"})).await;
    for _ in 0..4 {
        fac.ok(json!({"type": "next_phase"})).await;
    }
    fac.event_in(&hall(event), "breakout_opened").await
}

fn groups_of(opened: &Value) -> Vec<Vec<String>> {
    opened["event"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            g.as_array()
                .unwrap()
                .iter()
                .map(|m| m.as_str().unwrap().to_string())
                .collect()
        })
        .collect()
}

/// Waits for the group `welcome` and `snapshot` on a participant's socket; returns the room.
async fn group_welcome(p: &mut P, event: &str) -> String {
    let hall = hall(event);
    let w = p
        .wait(|v| v["type"] == "welcome" && v["room"] != hall.as_str())
        .await;
    assert_eq!(w["member"], p.id().as_str());
    assert_eq!(w["event"], event);
    let room = w["room"].as_str().unwrap().to_string();
    assert!(room.starts_with(&format!("{event}/group-")), "{room}");
    let r = room.clone();
    let snap = p
        .wait(move |v| v["type"] == "snapshot" && v["room"] == r.as_str())
        .await;
    assert!(snap["state"]["members"].is_array(), "{snap}");
    room
}

/// Releases seen in `room`, by member: (own-view ms, reflect ms, turns).
fn accounted(frames: &[Value], room: &str) -> BTreeMap<String, (u64, u64, u32)> {
    let mut out: BTreeMap<String, (u64, u64, u32)> = BTreeMap::new();
    for v in frames {
        if v["type"] != "event" || v["room"] != room || v["event"]["type"] != "floor_released" {
            continue;
        }
        let e = &v["event"];
        let entry = out
            .entry(e["member"].as_str().unwrap().to_string())
            .or_default();
        // A pass is not speaking: no time, no turn (docs/fairness.md).
        if e["reason"] == "passed" {
            continue;
        }
        let held = e["held_ms"].as_u64().unwrap();
        match e["turn"].as_str().unwrap() {
            "reflect" => entry.1 += held,
            _ => {
                entry.0 += held;
                entry.2 += 1;
            }
        }
    }
    out
}

fn person_figures(equity: &Value, member: &str) -> (u64, u64, u32) {
    let p = equity["people"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["member"] == member)
        .unwrap_or_else(|| panic!("{member} not in {equity}"));
    (
        p["speaking_ms"].as_u64().unwrap(),
        p["reflect_ms"].as_u64().unwrap(),
        p["turns"].as_u64().unwrap() as u32,
    )
}

#[tokio::test]
async fn a_joint_town_hall_with_breakouts_qa_and_polls() {
    let server = start_server(config_with_shipped(&[
        "joint-town-hall",
        "small-group-round",
    ]))
    .await;
    let event = server.create_event("joint-town-hall").await;
    let hall_id = hall(&event);
    let mut fac = person(&server, &event, "facilitator", "Fran", None).await;
    let mut moder = person(&server, &event, "moderator", "Mo", None).await;
    let mut ps = residents(&server, &event, 6, 6).await;
    let community: BTreeMap<String, String> = ps
        .iter()
        .map(|p| (p.id(), p.community.clone().unwrap()))
        .collect();

    // Opening, then the poll before: 2 very, 4 somewhat, 6 not very hopeful.
    fac.ok(json!({"type": "start"})).await;
    fac.ok(json!({"type": "next_phase"})).await;
    let before = ["Very hopeful", "Somewhat hopeful", "Not very hopeful"];
    for (i, p) in ps.iter_mut().enumerate() {
        let choice = before[if i < 2 {
            0
        } else if i < 6 {
            1
        } else {
            2
        }];
        p.ok(json!({"type": "vote", "choice": choice})).await;
    }
    fac.ok(json!({"type": "next_phase"})).await;
    // The poll closes and its results are shown to everyone, until the facilitator moves on
    // (or `show_results` passes): the open floor does not start under them, and the poll
    // takes no more votes.
    let closed = |v: &Value| {
        v["event"]["type"] == "poll_results"
            && v["event"]["phase"] == "poll-before"
            && v["event"]["closed"] == true
    };
    let shown = fac.wait(closed).await;
    let until = shown["event"]["until"]
        .as_u64()
        .expect("closed results carry `until`");
    assert_eq!(until, shown["at"].as_u64().unwrap() + 30_000, "{shown}");
    let seen = ps[11].wait(closed).await;
    assert_eq!(seen["event"]["totals"], shown["event"]["totals"]);
    assert_eq!(
        ps[11]
            .refused(json!({"type": "vote", "choice": "Very hopeful"}))
            .await,
        "poll_closed"
    );
    assert!(!fac
        .seen
        .iter()
        .any(|v| v["event"]["type"] == "phase_started" && v["event"]["id"] == "open-floor"));
    fac.ok(json!({"type": "next_phase"})).await;
    fac.wait(|v| v["event"]["type"] == "phase_started" && v["event"]["id"] == "open-floor")
        .await;

    // One turn on the open floor.
    ps[0].ok(json!({"type": "raise_hand"})).await;
    let d0 = ps[0].id();
    ps[0]
        .wait(|v| v["event"]["type"] == "floor_granted" && v["event"]["member"] == d0.as_str())
        .await;
    ps[0]
        .ok(json!({"type": "speak", "text": "Water rights matter here."}))
        .await;
    ps[0].ok(json!({"type": "yield_floor"})).await;

    // Breakouts of four, mixed.
    fac.ok(json!({"type": "next_phase"})).await;
    let opened = fac.event_in(&hall_id, "breakout_opened").await;
    let groups = groups_of(&opened);
    assert_eq!(groups.len(), 3, "{opened}");
    for g in &groups {
        assert_eq!(g.len(), 4);
        let comms: BTreeSet<&String> = g.iter().map(|m| &community[m]).collect();
        assert_eq!(comms.len(), 2, "group {g:?} is not mixed");
    }
    let mut room_of: BTreeMap<String, String> = BTreeMap::new();
    for p in ps.iter_mut() {
        let room = group_welcome(p, &event).await;
        room_of.insert(p.id(), room);
    }
    let mut room_of_group = Vec::new();
    for g in &groups {
        let rooms: BTreeSet<&String> = g.iter().map(|m| &room_of[m]).collect();
        assert_eq!(rooms.len(), 1, "a group's members share one room");
        room_of_group.push(rooms.into_iter().next().unwrap().clone());
    }
    let distinct: BTreeSet<&String> = room_of_group.iter().collect();
    assert_eq!(distinct.len(), 3);
    let ids: Vec<String> = ps.iter().map(P::id).collect();
    let idx = |id: &str| ids.iter().position(|p| p == id).unwrap();
    let (room_a, room_b, room_c) = (
        room_of_group[0].clone(),
        room_of_group[1].clone(),
        room_of_group[2].clone(),
    );

    // Group A runs its go-round with reflect-back: the first speaker, then the second sums
    // them up, is confirmed, and speaks.
    let a_members = groups[0].clone();
    let mut a0 = idx(&a_members[0]);
    let first = ps[a0].event_in(&room_a, "floor_granted").await;
    let s1 = first["event"]["member"].as_str().unwrap().to_string();
    assert_eq!(first["event"]["turn"], "own");
    let i1 = idx(&s1);
    ps[i1]
        .ok(json!({"type": "speak", "room": room_a, "text": "My family farms."}))
        .await;
    ps[i1]
        .ok(json!({"type": "yield_floor", "room": room_a}))
        .await;
    let ra = room_a.clone();
    let reflect = ps[i1]
        .wait(move |v| {
            v["room"] == ra.as_str()
                && v["event"]["type"] == "floor_granted"
                && v["event"]["turn"] == "reflect"
        })
        .await;
    let s2 = reflect["event"]["member"].as_str().unwrap().to_string();
    assert_eq!(reflect["event"]["responding_to"], s1.as_str());
    let i2 = idx(&s2);
    ps[i2]
        .ok(json!({"type": "speak", "room": room_a, "text": "You farm, and water matters."}))
        .await;
    ps[i2]
        .ok(json!({"type": "yield_floor", "room": room_a}))
        .await;
    ps[i1].event_in(&room_a, "reflection_pending").await;
    ps[i1]
        .ok(json!({"type": "confirm_reflection", "room": room_a}))
        .await;
    let (ra, s2c) = (room_a.clone(), s2.clone());
    ps[i2]
        .wait(move |v| {
            v["room"] == ra.as_str()
                && v["event"]["type"] == "floor_granted"
                && v["event"]["turn"] == "own"
                && v["event"]["member"] == s2c.as_str()
        })
        .await;
    ps[i2]
        .ok(json!({"type": "yield_floor", "room": room_a}))
        .await;

    // The hall is still there on the same socket: commands without `room` go to the hall.
    assert_eq!(
        ps[i2].refused(json!({"type": "lower_hand"})).await,
        "wrong_phase"
    );
    // Nobody may send to a group they are not in, nor drop in as a participant.
    assert_eq!(
        ps[i2]
            .refused(json!({"type": "raise_hand", "room": room_b}))
            .await,
        "forbidden"
    );
    assert_eq!(
        ps[i2]
            .refused(json!({"type": "join_room", "room": room_b}))
            .await,
        "forbidden"
    );
    assert_eq!(
        ps[i2]
            .refused(json!({"type": "raise_hand", "room": format!("{event}/group-99")}))
            .await,
        "unknown_room"
    );

    // The facilitator drops in on group A and moves it to its open conversation, where a
    // hand goes up and gets the floor.
    fac.ok(json!({"type": "join_room", "room": room_a})).await;
    let ra = room_a.clone();
    let w = fac
        .wait(move |v| v["type"] == "welcome" && v["room"] == ra.as_str())
        .await;
    assert_eq!(w["role"], "facilitator");
    fac.ok(json!({"type": "next_phase", "room": room_a})).await;
    let ra = room_a.clone();
    a0 = idx(&a_members
        .iter()
        .find(|m| **m != s1 && **m != s2)
        .unwrap()
        .clone());
    ps[a0]
        .wait(move |v| {
            v["room"] == ra.as_str()
                && v["event"]["type"] == "phase_started"
                && v["event"]["index"] == 1
        })
        .await;
    let s3 = ps[a0].id();
    ps[a0]
        .ok(json!({"type": "raise_hand", "room": room_a}))
        .await;
    let (ra, s3c) = (room_a.clone(), s3.clone());
    ps[a0]
        .wait(move |v| {
            v["room"] == ra.as_str()
                && v["event"]["type"] == "floor_granted"
                && v["event"]["member"] == s3c.as_str()
        })
        .await;
    ps[a0]
        .ok(json!({"type": "speak", "room": room_a, "text": "What would help you?"}))
        .await;
    ps[a0]
        .ok(json!({"type": "yield_floor", "room": room_a}))
        .await;
    let (ra, s3c) = (room_a.clone(), s3.clone());
    ps[a0]
        .wait(move |v| {
            v["room"] == ra.as_str()
                && v["event"]["type"] == "floor_released"
                && v["event"]["member"] == s3c.as_str()
        })
        .await;

    // A moderator drops in on group B as a listener: not a group participant.
    moder.ok(json!({"type": "join_room", "room": room_b})).await;
    let rb = room_b.clone();
    let snap = moder
        .wait(move |v| v["type"] == "snapshot" && v["room"] == rb.as_str())
        .await;
    let members = snap["state"]["members"].as_array().unwrap();
    let mo_id = moder.id();
    let me = members.iter().find(|m| m["id"] == mo_id.as_str()).unwrap();
    assert_eq!(me["role"], "moderator");
    // Listening to B does not let the moderator act in C.
    assert_eq!(
        moder
            .refused(json!({"type": "hide", "message": 1, "room": room_c}))
            .await,
        "forbidden"
    );

    // Group C asks for help; the hall's staff see it.
    let c0 = idx(&groups[2][0]);
    let asker = ps[c0].id();
    ps[c0].ok(json!({"type": "ask_help", "room": room_c})).await;
    for staff in [&mut fac, &mut moder] {
        let h = staff.event_in(&hall_id, "help_requested").await;
        assert_eq!(h["event"]["member"], asker.as_str());
    }

    // A broadcast from the facilitator reaches every group member through the hall.
    fac.ok(json!({"type": "broadcast", "text": "Five minutes left."}))
        .await;
    for p in ps.iter_mut() {
        let b = p.event_in(&hall_id, "broadcast").await;
        assert_eq!(b["event"]["text"], "Five minutes left.");
    }

    // The facilitator recalls the groups early, then moves on: everyone is back in the hall
    // on the same socket.
    fac.ok(json!({"type": "close_breakouts"})).await;
    for p in ps.iter_mut() {
        p.event_in(&hall_id, "breakout_closing").await;
    }
    fac.ok(json!({"type": "next_phase"})).await;
    for p in ps.iter_mut() {
        p.event_in(&hall_id, "breakout_closed").await;
        let room = room_of[&p.id()].clone();
        let r = room.clone();
        let left = p
            .wait(move |v| v["type"] == "left_room" && v["room"] == r.as_str())
            .await;
        assert_eq!(left["reason"], "closed");
        assert_eq!(left["hall"], hall_id.as_str());
    }
    let rb = room_b.clone();
    moder
        .wait(move |v| v["type"] == "left_room" && v["room"] == rb.as_str())
        .await;
    // The group is gone: commands to it are refused, the hall takes them.
    assert_eq!(
        ps[a0]
            .refused(json!({"type": "raise_hand", "room": room_a}))
            .await,
        "unknown_room"
    );

    // Q&A: three questions; up-votes; the moderator approves the most wanted.
    fac.wait(|v| v["event"]["type"] == "phase_started" && v["event"]["id"] == "qa")
        .await;
    let mut qids = Vec::new();
    for (i, text) in ["Who pays?", "When?", "Why now?"].iter().enumerate() {
        ps[i + 3].ok(json!({"type": "ask", "text": text})).await;
        let t = text.to_string();
        let q = fac
            .wait(move |v| {
                v["event"]["type"] == "question_asked" && v["event"]["text"] == t.as_str()
            })
            .await;
        qids.push(q["event"]["question"].as_u64().unwrap());
    }
    for p in ps.iter_mut().take(3) {
        p.ok(json!({"type": "upvote", "question": qids[1]})).await;
    }
    assert_eq!(
        ps[0]
            .refused(json!({"type": "upvote", "question": qids[1]}))
            .await,
        "duplicate"
    );
    moder
        .ok(json!({"type": "approve", "question": qids[1]}))
        .await;
    let on_floor = fac.event_in(&hall_id, "question_on_floor").await;
    assert_eq!(on_floor["event"]["question"], qids[1]);

    // The poll after: 6 very, 4 somewhat, 2 not very hopeful.
    fac.ok(json!({"type": "next_phase"})).await;
    fac.wait(|v| v["event"]["type"] == "phase_started" && v["event"]["id"] == "poll-after")
        .await;
    for (i, p) in ps.iter_mut().enumerate() {
        let choice = before[if i < 6 {
            0
        } else if i < 10 {
            1
        } else {
            2
        }];
        p.ok(json!({"type": "vote", "choice": choice})).await;
    }
    fac.ok(json!({"type": "next_phase"})).await;
    fac.wait(|v| {
        v["event"]["type"] == "poll_results"
            && v["event"]["phase"] == "poll-after"
            && v["event"]["closed"] == true
    })
    .await;
    // Moving on from the results starts the closing reflection.
    fac.ok(json!({"type": "next_phase"})).await;
    fac.wait(|v| v["event"]["type"] == "phase_started" && v["event"]["id"] == "closing")
        .await;

    // Everyone saw every hall release; one of them serves as the record of what happened.
    let hall_seen = fac.seen.clone();
    // Group A's releases are public: a member who was there throughout (and has read up
    // to the group's `left_room`) saw them all.
    let a_seen = ps[a0].seen.clone();

    // The report, live.
    let res = server
        .org("GET", &format!("/api/events/{event}/report"), None)
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let report = res.json();
    check_report(
        &report,
        &groups,
        &room_of_group,
        &hall_seen,
        &a_seen,
        &hall_id,
        &room_a,
        &d0,
        &qids,
    );

    // The transcript lists the group's turns with their room.
    let res = server
        .org("GET", &format!("/api/events/{event}/transcript"), None)
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let lines: Vec<Value> = res
        .body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let a_turns: Vec<(String, String)> = lines
        .iter()
        .filter(|l| l["kind"] == "turn" && l["room"] == room_a.as_str())
        .map(|l| {
            (
                l["member"].as_str().unwrap().to_string(),
                l["turn"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        a_turns[..4],
        [
            (s1.clone(), "own".to_string()),
            (s2.clone(), "reflect".to_string()),
            (s2.clone(), "own".to_string()),
            // The round moves on to the next reflect-back, ended by the facilitator.
            (a_turns[3].0.clone(), "reflect".to_string()),
        ]
    );
    assert_eq!(a_turns[4], (s3.clone(), "own".to_string()));
    assert!(lines.iter().any(|l| l["kind"] == "turn"
        && l["room"] == hall_id.as_str()
        && l["member"] == d0.as_str()));
    assert!(lines
        .iter()
        .any(|l| l["kind"] == "said" && l["text"] == "You farm, and water matters."));
    let md = server
        .org(
            "GET",
            &format!("/api/events/{event}/transcript?format=md"),
            None,
        )
        .await;
    assert_eq!(md.status, 200);
    assert!(md.body.contains("My family farms."), "{}", md.body);
    // Groups are numbered as people saw them, and nobody is named by an internal id (#19).
    for n in 1..=3 {
        assert!(
            md.body.contains(&format!("\n# Breakout group {n}: ")),
            "{}",
            md.body
        );
    }
    assert!(!md.body.contains("group 0"), "{}", md.body);
    for room in [&room_a, &room_b, &room_c] {
        assert!(!md.body.contains(room.as_str()), "{room} in {}", md.body);
    }
    for id in &ids {
        assert!(
            !md.body.contains(id.as_str()),
            "member id {id} in {}",
            md.body
        );
    }
    assert!(md.body.contains("## Attendance"), "{}", md.body);
    assert!(md.body.contains("## Phases"), "{}", md.body);

    // After the end the report is still there, with the same groups.
    let end = server
        .org("POST", &format!("/api/events/{event}/end"), None)
        .await;
    assert_eq!(end.status, 200, "{}", end.body);
    for p in ps.iter_mut() {
        assert_eq!(
            p.c.closed().await,
            Closed::Code(1000, "session ended".into())
        );
    }
    let after = server
        .org("GET", &format!("/api/events/{event}/report"), None)
        .await;
    assert_eq!(after.status, 200, "{}", after.body);
    let after = after.json();
    assert!(after["ended_at"].is_u64());
    assert_eq!(after["groups"], report["groups"]);
    assert_eq!(after["polls"], report["polls"]);
    let html = server
        .http(
            "GET",
            &format!("/api/events/{event}/report"),
            None,
            &[
                ("Authorization", &format!("Bearer {ORG_KEY}")),
                ("Accept", "text/html"),
            ],
        )
        .await;
    assert_eq!(html.status, 200);
    assert!(html.body.contains("Breakout groups"), "{}", html.body);
    // A page to hand on (#19): landmarks, groups numbered as people saw them, names only.
    for needle in [
        "<html lang=\"en\">",
        "<main>",
        "<nav aria-label=",
        "<th scope=\"row\">Group 1</th>",
        "<th scope=\"row\">Group 3</th>",
        "Who joined, when and for how long",
        "Phases: planned and actual time",
    ] {
        assert!(html.body.contains(needle), "{needle} in {}", html.body);
    }
    for id in &ids {
        assert!(
            !html.body.contains(id.as_str()),
            "member id {id} in the HTML report"
        );
    }
    assert!(!html.body.contains(&room_a), "a room id in the HTML report");
}

#[allow(clippy::too_many_arguments)]
fn check_report(
    report: &Value,
    groups: &[Vec<String>],
    rooms: &[String],
    hall_seen: &[Value],
    a_seen: &[Value],
    hall_id: &str,
    room_a: &str,
    d0: &str,
    qids: &[u64],
) {
    assert_eq!(report["protocol"], "joint-town-hall");
    // Polls: exact tallies, and the shift between them.
    let polls = report["polls"].as_array().unwrap();
    let tally = |phase: &str| -> BTreeMap<String, u64> {
        let p = polls.iter().find(|p| p["phase"] == phase).unwrap();
        p["totals"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t[0].as_str().unwrap().to_string(), t[1].as_u64().unwrap()))
            .filter(|(_, n)| *n > 0)
            .collect()
    };
    let want = |a: u64, b: u64, c: u64| -> BTreeMap<String, u64> {
        [
            ("Very hopeful", a),
            ("Somewhat hopeful", b),
            ("Not very hopeful", c),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    };
    assert_eq!(tally("poll-before"), want(2, 4, 6));
    assert_eq!(tally("poll-after"), want(6, 4, 2));
    let shift = &report["poll_shifts"][0];
    assert_eq!(shift["before"], "poll-before");
    assert_eq!(shift["after"], "poll-after");
    let very = shift["choices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c[0] == "Very hopeful")
        .unwrap();
    // Shares are exact ratios; the tolerance only covers JSON's float formatting.
    assert!(
        (very[1].as_f64().unwrap() - 2.0 / 12.0).abs() < 1e-12,
        "{shift}"
    );
    assert!(
        (very[2].as_f64().unwrap() - 6.0 / 12.0).abs() < 1e-12,
        "{shift}"
    );
    // Q&A and help.
    assert_eq!(report["questions_asked"], qids.len());
    assert_eq!(report["questions_answered"], 1);
    assert_eq!(report["help_requests"], 1);
    // The hall's equity: D0's one open-floor turn, exactly as released.
    let hall_acc = accounted(hall_seen, hall_id);
    assert_eq!(person_figures(&report["equity"], d0), hall_acc[d0]);
    assert_eq!(report["equity"]["people"].as_array().unwrap().len(), 12);
    // Groups: one section per group room, its members, and group A's figures exactly as
    // its releases said.
    let rg = report["groups"].as_array().unwrap();
    assert_eq!(rg.len(), 3);
    for (g, room) in groups.iter().zip(rooms) {
        let section = rg.iter().find(|s| s["room"] == room.as_str()).unwrap();
        let mut members: Vec<String> = section["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().or(m.as_str()).unwrap().to_string())
            .collect();
        members.sort();
        let mut want = g.clone();
        want.sort();
        assert_eq!(members, want, "listeners are not group members");
        assert_eq!(section["protocol"], "small-group-round");
        assert_eq!(section["opening"], 1);
        assert_eq!(section["equity"]["people"].as_array().unwrap().len(), 4);
    }
    let a = rg.iter().find(|s| s["room"] == room_a).unwrap();
    let acc = accounted(a_seen, room_a);
    assert!(acc.len() >= 3, "{acc:?}");
    for (member, figures) in &acc {
        assert_eq!(person_figures(&a["equity"], member), *figures, "{member}");
    }
    let spoken: u64 = acc.values().map(|f| f.0).sum();
    assert_eq!(a["equity"]["total_speaking_ms"], spoken);
    let not_spoken = a["equity"]["not_spoken"].as_array().unwrap();
    assert_eq!(
        not_spoken.len(),
        4 - acc.values().filter(|f| f.2 > 0).count()
    );
}

/// Two people are fewer than one group of four: they make one group together.
#[tokio::test]
async fn fewer_people_than_one_group_make_one_group() {
    let server = start_server(config_with_shipped(&[
        "joint-town-hall",
        "small-group-round",
    ]))
    .await;
    let event = server.create_event("joint-town-hall").await;
    let mut fac = person(&server, &event, "facilitator", "Fran", None).await;
    let mut ps = residents(&server, &event, 1, 1).await;
    let opened = to_breakouts(&mut fac, &event).await;
    let groups = groups_of(&opened);
    assert_eq!(groups.len(), 1, "{opened}");
    assert_eq!(groups[0].len(), 2);
    let r0 = group_welcome(&mut ps[0], &event).await;
    let r1 = group_welcome(&mut ps[1], &event).await;
    assert_eq!(r0, r1);
    // The facilitator is not placed in a group.
    fac.ok(json!({"type": "close_breakouts"})).await;
    fac.ok(json!({"type": "next_phase"})).await;
    for p in ps.iter_mut() {
        let left = p.wait(|v| v["type"] == "left_room").await;
        assert_eq!(left["room"], r0.as_str());
    }
    assert!(!fac.seen.iter().any(|v| v["type"] == "welcome"));
}

/// A hall from one community only still splits into groups; observers are not placed.
#[tokio::test]
async fn one_community_only_and_observers_stay_in_the_hall() {
    let server = start_server(config_with_shipped(&[
        "joint-town-hall",
        "small-group-round",
    ]))
    .await;
    let event = server.create_event("joint-town-hall").await;
    let mut fac = person(&server, &event, "facilitator", "Fran", None).await;
    let mut obs = person(&server, &event, "observer", "Olive", None).await;
    let mut ps = residents(&server, &event, 8, 0).await;
    let opened = to_breakouts(&mut fac, &event).await;
    let groups = groups_of(&opened);
    assert_eq!(groups.len(), 2, "{opened}");
    let mut rooms = BTreeMap::new();
    for p in ps.iter_mut() {
        let r = group_welcome(p, &event).await;
        rooms.insert(p.id(), r);
    }
    for g in &groups {
        let rs: BTreeSet<&String> = g.iter().map(|m| &rooms[m]).collect();
        assert_eq!(rs.len(), 1);
    }
    // The observer may not drop in, and gets no group.
    assert_eq!(
        obs.refused(json!({"type": "join_room", "room": rooms[&groups[0][0]]}))
            .await,
        "forbidden"
    );
    assert!(!obs
        .seen
        .iter()
        .chain(obs.c.events.iter())
        .any(|v| v["type"] == "welcome"));
}

/// A member leaving mid-breakout leaves their group; a group whose participants all left
/// stays until the recall, and the report keeps them.
#[tokio::test]
async fn members_leave_mid_breakout_and_the_group_is_kept() {
    let server = start_server(config_with_shipped(&[
        "joint-town-hall",
        "small-group-round",
    ]))
    .await;
    let event = server.create_event("joint-town-hall").await;
    let mut fac = person(&server, &event, "facilitator", "Fran", None).await;
    let mut ps = residents(&server, &event, 4, 4).await;
    let opened = to_breakouts(&mut fac, &event).await;
    let groups = groups_of(&opened);
    assert_eq!(groups.len(), 2);
    let mut rooms = BTreeMap::new();
    for p in ps.iter_mut() {
        let r = group_welcome(p, &event).await;
        rooms.insert(p.id(), r);
    }
    // One member of group 0 leaves: the others see it in the group room.
    let g0 = groups[0].clone();
    let room0 = rooms[&g0[0]].clone();
    let leaver = ps.iter().position(|p| p.id() == g0[0]).unwrap();
    let stayer = ps.iter().position(|p| p.id() == g0[1]).unwrap();
    let gone = ps.remove(leaver);
    let gone_id = gone.id();
    gone.c.close().await;
    let stayer = if stayer > leaver { stayer - 1 } else { stayer };
    let (r, g) = (room0.clone(), gone_id.clone());
    ps[stayer]
        .wait(move |v| {
            v["room"] == r.as_str()
                && v["event"]["type"] == "member_left"
                && v["event"]["member"] == g.as_str()
        })
        .await;
    // Everyone of group 1 leaves.
    let g1 = groups[1].clone();
    let room1 = rooms[&g1[0]].clone();
    let mut kept = Vec::new();
    for p in ps.drain(..) {
        if g1.contains(&p.id()) {
            p.c.close().await;
        } else {
            kept.push(p);
        }
    }
    let mut ps = kept;
    // The hall hears every group-1 member leave.
    for m in &g1 {
        let m = m.clone();
        fac.wait(move |v| {
            v["event"]["type"] == "member_left" && v["event"]["member"] == m.as_str()
        })
        .await;
    }
    fac.ok(json!({"type": "close_breakouts"})).await;
    fac.ok(json!({"type": "next_phase"})).await;
    for p in ps.iter_mut() {
        let left = p.wait(|v| v["type"] == "left_room").await;
        assert_eq!(left["room"], room0.as_str());
    }
    let report = server
        .org("GET", &format!("/api/events/{event}/report"), None)
        .await
        .json();
    let rg = report["groups"].as_array().unwrap();
    assert_eq!(rg.len(), 2);
    for (room, g) in [(&room0, &g0), (&room1, &g1)] {
        let s = rg.iter().find(|s| s["room"] == room.as_str()).unwrap();
        assert_eq!(s["members"].as_array().unwrap().len(), g.len());
    }
}

/// A late joiner is placed into a group (on the same socket as their hall welcome); a
/// member who reconnects is put back into their group; a facilitator moves a member.
#[tokio::test]
async fn late_joiners_reconnects_and_moves() {
    let server = start_server(config_with_shipped(&[
        "joint-town-hall",
        "small-group-round",
    ]))
    .await;
    let event = server.create_event("joint-town-hall").await;
    let mut fac = person(&server, &event, "facilitator", "Fran", None).await;
    let mut ps = residents(&server, &event, 4, 4).await;
    let opened = to_breakouts(&mut fac, &event).await;
    let groups = groups_of(&opened);
    let mut rooms = BTreeMap::new();
    for p in ps.iter_mut() {
        let r = group_welcome(p, &event).await;
        rooms.insert(p.id(), r);
    }

    // Late joiner.
    let mut late = person(&server, &event, "participant", "Lee", Some(BOULDER)).await;
    let lid = late.id();
    let moved = fac
        .wait(move |v| {
            v["event"]["type"] == "breakout_moved" && v["event"]["member"] == lid.as_str()
        })
        .await;
    let g = moved["event"]["group"].as_u64().unwrap() as usize;
    let room = group_welcome(&mut late, &event).await;
    assert_eq!(room, rooms[&groups[g][0]]);

    // Reconnect: a fresh socket gets the hall, then its group again.
    let token = server
        .invite(&event, "participant", "Ruth", Some(DAYTON))
        .await;
    let mut ruth = P {
        c: server.join(&token).await,
        name: "Ruth".into(),
        community: Some(DAYTON.into()),
        seen: Vec::new(),
    };
    let first = group_welcome(&mut ruth, &event).await;
    ruth.c.close().await;
    let mut again = P {
        c: server.join(&token).await,
        name: "Ruth".into(),
        community: Some(DAYTON.into()),
        seen: Vec::new(),
    };
    let second = group_welcome(&mut again, &event).await;
    assert_eq!(first, second);

    // The facilitator moves someone to the other group.
    let who = ps[0].id();
    let from = rooms[&who].clone();
    let target = (0..groups.len())
        .find(|i| rooms[&groups[*i][0]] != from)
        .unwrap();
    fac.ok(json!({"type": "move_to_group", "member": who, "group": target}))
        .await;
    let f = from.clone();
    let left = ps[0]
        .wait(move |v| v["type"] == "left_room" && v["room"] == f.as_str())
        .await;
    assert_eq!(left["reason"], "moved");
    let to = rooms[&groups[target][0]].clone();
    let t = to.clone();
    ps[0]
        .wait(move |v| v["type"] == "welcome" && v["room"] == t.as_str())
        .await;
    // Commands now go to the new group (the round refuses a hand, but the room is right).
    let code = ps[0]
        .refused(json!({"type": "lower_hand", "room": to}))
        .await;
    assert_ne!(code, "forbidden");
    assert_eq!(
        ps[0]
            .refused(json!({"type": "lower_hand", "room": from}))
            .await,
        "forbidden"
    );
}

/// Reopening breakouts ends the first groups (`left_room` with `closed`) and opens new rooms
/// with new ids; the report keeps both openings.
#[tokio::test]
async fn reopening_breakouts_makes_new_group_rooms() {
    let server = start_server(config_with_shipped(&[
        "joint-town-hall",
        "small-group-round",
    ]))
    .await;
    let event = server.create_event("joint-town-hall").await;
    let mut fac = person(&server, &event, "facilitator", "Fran", None).await;
    let mut ps = residents(&server, &event, 3, 3).await;
    to_breakouts(&mut fac, &event).await;
    let mut first = BTreeMap::new();
    for p in ps.iter_mut() {
        first.insert(p.id(), group_welcome(p, &event).await);
    }
    fac.ok(json!({"type": "open_breakouts", "group_size": 2, "assignment": "reshuffle"}))
        .await;
    for p in ps.iter_mut() {
        let old = first[&p.id()].clone();
        let o = old.clone();
        let left = p
            .wait(move |v| v["type"] == "left_room" && v["room"] == o.as_str())
            .await;
        assert_eq!(left["reason"], "closed");
        let hall = hall(&event);
        let o = old.clone();
        let w = p
            .wait(move |v| {
                v["type"] == "welcome" && v["room"] != hall.as_str() && v["room"] != o.as_str()
            })
            .await;
        assert!(!first.values().any(|r| r == w["room"].as_str().unwrap()));
    }
    let report = server
        .org("GET", &format!("/api/events/{event}/report"), None)
        .await
        .json();
    let openings: BTreeSet<u64> = report["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["opening"].as_u64().unwrap())
        .collect();
    assert_eq!(openings, BTreeSet::from([1, 2]));
}

/// The endpoints are organizer-only and refuse what they do not know, as JSON errors.
#[tokio::test]
async fn report_and_transcript_errors() {
    let server = start_server(test_config()).await;
    let event = server.create_event("test-hall").await;
    for path in ["report", "transcript"] {
        let res = server
            .http("GET", &format!("/api/events/{event}/{path}"), None, &[])
            .await;
        assert_eq!(res.status, 401);
        assert_eq!(res.json()["error"]["code"], "unauthorized");
        let res = server
            .org("GET", &format!("/api/events/evt-nope/{path}"), None)
            .await;
        assert_eq!(res.status, 404);
        assert_eq!(res.json()["error"]["code"], "unknown_event");
        let res = server
            .org(
                "GET",
                &format!("/api/events/{event}/{path}?format=pdf"),
                None,
            )
            .await;
        assert_eq!(res.status, 400);
        assert_eq!(res.json()["error"]["code"], "invalid");
    }
    // Before anyone joined: an empty report and an empty transcript.
    let res = server
        .org("GET", &format!("/api/events/{event}/report"), None)
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.json()["groups"], json!([]));
    let res = server
        .org("GET", &format!("/api/events/{event}/transcript"), None)
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.body, "");
}

/// A moderator listening in on a group removes a participant: they leave the whole event (the
/// connection closes with 4010), the group hears them leave, and they cannot come back.
#[tokio::test]
async fn a_removal_inside_a_group_removes_from_the_event() {
    let server = start_server(config_with_shipped(&[
        "joint-town-hall",
        "small-group-round",
    ]))
    .await;
    let event = server.create_event("joint-town-hall").await;
    let mut fac = person(&server, &event, "facilitator", "Fran", None).await;
    let mut moder = person(&server, &event, "moderator", "Mo", None).await;
    let token = server
        .invite(&event, "participant", "Dis", Some(DAYTON))
        .await;
    let dis = P {
        c: server.join(&token).await,
        name: "Dis".into(),
        community: Some(DAYTON.into()),
        seen: Vec::new(),
    };
    let mut ps = residents(&server, &event, 1, 2).await;
    ps.insert(0, dis);
    let opened = to_breakouts(&mut fac, &event).await;
    assert_eq!(groups_of(&opened).len(), 1, "{opened}");
    let mut room = String::new();
    for p in ps.iter_mut() {
        room = group_welcome(p, &event).await;
    }
    moder.ok(json!({"type": "join_room", "room": room})).await;
    let dis_id = ps[0].id();
    moder
        .ok(json!({"type": "remove", "member": dis_id, "room": room}))
        .await;
    let mut dis = ps.remove(0);
    assert_eq!(
        dis.c.closed().await,
        Closed::Code(4010, "removed by a moderator".into())
    );
    let (r, d) = (room.clone(), dis_id.clone());
    ps[0]
        .wait(move |v| {
            v["room"] == r.as_str()
                && v["event"]["type"] == "member_left"
                && v["event"]["member"] == d.as_str()
        })
        .await;
    fac.event_in(&hall(&event), "member_removed").await;
    // The same invite cannot rejoin.
    let mut again = server.connect().await;
    again.send(json!({"type": "hello", "token": token})).await;
    let err = again.recv_until(|v| v["type"] == "error").await;
    assert_eq!(err["code"], "removed", "{err}");
}

/// The live group rooms in a `groups` frame, by index.
fn group_rooms(frame: &Value) -> BTreeMap<u64, String> {
    frame["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["index"].as_u64().unwrap(),
                g["room"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Waits for a `groups` frame from the hall with `n` groups.
async fn groups_frame(p: &mut P, event: &str, n: usize) -> Value {
    let hall = hall(event);
    // `seen` keeps old frames: the latest match is the one that counts.
    for _ in 0..10_000 {
        if let Some(v) = p.seen.iter().rev().find(|v| v["type"] == "groups") {
            if v["groups"].as_array().map(Vec::len) == Some(n) {
                assert_eq!(v["room"], hall.as_str());
                return v.clone();
            }
        }
        let v = p.c.recv_json().await;
        p.seen.push(v);
    }
    panic!("{}: no groups frame with {n} groups", p.name);
}

/// Reads up to the reply of a `ping`: everything the hall queued for this connection before
/// is then in `seen`.
async fn drain(p: &mut P) {
    p.c.send(json!({"type": "ping", "id": 999})).await;
    p.wait(|v| v["type"] == "pong").await;
}

/// Staff learn the group room ids (`groups`) when breakouts open, change and close, and right
/// after a snapshot; the ids accept `join_room`. Participants and observers never get them.
#[tokio::test]
async fn staff_learn_group_rooms_and_others_do_not() {
    let server = start_server(config_with_shipped(&[
        "joint-town-hall",
        "small-group-round",
    ]))
    .await;
    let event = server.create_event("joint-town-hall").await;
    let mut fac = person(&server, &event, "facilitator", "Fran", None).await;
    let mut moder = person(&server, &event, "moderator", "Mo", None).await;
    let mut obs = person(&server, &event, "observer", "Olive", None).await;
    let mut ps = residents(&server, &event, 4, 4).await;
    let opened = to_breakouts(&mut fac, &event).await;
    let groups = groups_of(&opened);
    assert_eq!(groups.len(), 2, "{opened}");
    let mut rooms = BTreeMap::new();
    for p in ps.iter_mut() {
        let r = group_welcome(p, &event).await;
        rooms.insert(p.id(), r);
    }
    let announced = group_rooms(&groups_frame(&mut fac, &event, 2).await);
    for (i, g) in groups.iter().enumerate() {
        // The index is the engine's; the room is where its members were placed.
        assert_eq!(announced[&(i as u64)], rooms[&g[0]], "{announced:?}");
    }
    assert_eq!(
        group_rooms(&groups_frame(&mut moder, &event, 2).await),
        announced
    );
    for room in announced.values() {
        moder.ok(json!({"type": "join_room", "room": room})).await;
        let r = room.clone();
        moder
            .wait(move |v| v["type"] == "snapshot" && v["room"] == r.as_str())
            .await;
    }

    // A staff member who arrives (or reloads) now gets them right after the hall snapshot.
    let token = server.invite(&event, "organizer", "Oda", None).await;
    let mut org = server.join(&token).await;
    let next = org.recv_json().await;
    assert_eq!(next["type"], "groups", "{next}");
    assert_eq!(group_rooms(&next), announced);
    // And after a resume.
    let last_seq = org.last_seq;
    org.close().await;
    let mut again = server.connect().await;
    again
        .send(json!({"type": "hello", "token": token,
            "resume": {"room": hall(&event), "last_seq": last_seq}}))
        .await;
    let welcome = again.recv_json().await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    let resumed = again.recv_json().await;
    assert_eq!(resumed["type"], "resumed", "{resumed}");
    let next = again
        .recv_until(|v| v["type"] != "snapshot" && v["type"] != "event")
        .await;
    assert_eq!(next["type"], "groups", "{next}");
    assert_eq!(group_rooms(&next), announced);

    // Reassigned: new rooms.
    fac.ok(json!({"type": "open_breakouts", "group_size": 2, "assignment": "reshuffle"}))
        .await;
    let reshuffled = group_rooms(&groups_frame(&mut fac, &event, 4).await);
    assert_eq!(
        reshuffled.keys().copied().collect::<Vec<_>>(),
        vec![0, 1, 2, 3]
    );
    assert!(reshuffled.values().all(|r| !rooms.values().any(|o| o == r)));
    // Closed: an empty list.
    fac.ok(json!({"type": "close_breakouts"})).await;
    fac.ok(json!({"type": "next_phase"})).await;
    groups_frame(&mut fac, &event, 0).await;
    groups_frame(&mut moder, &event, 0).await;

    // Nobody else heard of them: each connection has read everything queued before its pong.
    drain(&mut obs).await;
    for p in ps.iter_mut() {
        drain(p).await;
    }
    for p in ps.iter().chain([&obs]) {
        assert!(
            !p.seen.iter().any(|v| v["type"] == "groups"),
            "{} got a groups frame",
            p.name
        );
    }
}

/// Someone who joins late gets the conversation so far in the snapshot (`state.messages`),
/// in order, each with its author and time.
#[tokio::test]
async fn a_late_joiner_sees_earlier_messages() {
    let server = start_server(config_with_shipped(&[
        "joint-town-hall",
        "small-group-round",
    ]))
    .await;
    let event = server.create_event("joint-town-hall").await;
    let mut fac = person(&server, &event, "facilitator", "Fran", None).await;
    fac.ok(json!({"type": "start"})).await;
    let said = [
        "Welcome, Dayton and Boulder.",
        "We start with a short poll.",
    ];
    for text in said {
        fac.ok(json!({"type": "speak", "text": text})).await;
    }
    let fac_id = fac.id();
    let mut ats = Vec::new();
    for text in said {
        let e = fac
            .wait(move |v| v["event"]["type"] == "said" && v["event"]["text"] == text)
            .await;
        ats.push(e["at"].clone());
    }
    let late = person(&server, &event, "participant", "Lee", Some(DAYTON)).await;
    let snap = late.c.snapshot.unwrap();
    let messages = snap["state"]["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2, "{snap}");
    for ((m, text), at) in messages.iter().zip(said).zip(&ats) {
        assert_eq!(m["kind"], "said");
        assert_eq!(m["member"], fac_id.as_str());
        assert_eq!(m["text"], text);
        assert_eq!(&m["at"], at);
    }
}

/// The `group_event` frames a connection has read, with the inner event of this type.
fn group_events<'a>(p: &'a P, ty: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    p.seen
        .iter()
        .filter(move |v| v["type"] == "group_event" && v["event"]["type"] == ty)
}

/// Reports and word-list flags raised inside a breakout group reach every staff connection in
/// the hall (`group_event`), listening in or not, with the group's index and room and the
/// message's text; staff who join later get the still-open ones; nobody else hears of them.
#[tokio::test]
async fn reports_and_flags_in_groups_reach_the_halls_staff() {
    let mut config = config_with_shipped(&["joint-town-hall", "small-group-round"]);
    config.word_list =
        std::sync::Arc::new(commonground::engine::moderation::WordList::parse("idiot\n"));
    let server = start_server(config).await;
    let event = server.create_event("joint-town-hall").await;
    let hall = hall(&event);
    let mut fac = person(&server, &event, "facilitator", "Fran", None).await;
    let mut moder = person(&server, &event, "moderator", "Mo", None).await;
    let mut obs = person(&server, &event, "observer", "Olive", None).await;
    let mut ps = residents(&server, &event, 4, 4).await;
    let opened = to_breakouts(&mut fac, &event).await;
    let groups = groups_of(&opened);
    assert_eq!(groups.len(), 2, "{opened}");
    let mut rooms = BTreeMap::new();
    for p in ps.iter_mut() {
        let r = group_welcome(p, &event).await;
        rooms.insert(p.id(), r);
    }
    let announced = group_rooms(&groups_frame(&mut moder, &event, 2).await);
    let room_a = announced[&0].clone();
    assert_eq!(rooms[&groups[0][0]], room_a);

    // Group 0's go-round gives someone the floor; they say something on the word list.
    let first = ps.iter().position(|p| groups[0].contains(&p.id())).unwrap();
    let granted = ps[first].event_in(&room_a, "floor_granted").await;
    let speaker_id = granted["event"]["member"].as_str().unwrap().to_string();
    let speaker = ps.iter().position(|p| p.id() == speaker_id).unwrap();
    let text = "Only an idiot would close the library.";
    ps[speaker]
        .ok(json!({"type": "speak", "room": room_a, "text": text}))
        .await;
    let said = ps[speaker].event_in(&room_a, "said").await;
    let message = said["event"]["message"].as_u64().unwrap();

    // The moderator, in the hall only, learns of the flag.
    let flagged = moder
        .wait(|v| v["type"] == "group_event" && v["event"]["type"] == "message_flagged")
        .await;
    assert_eq!(flagged["room"], hall.as_str(), "{flagged}");
    assert_eq!(flagged["group"], json!({"index": 0, "room": room_a}));
    assert_eq!(flagged["event"]["message"], message);
    assert_eq!(flagged["event"]["words"], json!(["idiot"]));
    assert_eq!(flagged["text"], text);
    assert_eq!(flagged["replay"], false);

    // A member of the group reports the message, and the speaker.
    let reporter = ps
        .iter()
        .position(|p| groups[0].contains(&p.id()) && p.id() != speaker_id)
        .unwrap();
    ps[reporter]
        .ok(json!({"type": "report", "room": room_a, "message": message,
            "reason": "An insult"}))
        .await;
    ps[reporter]
        .ok(
            json!({"type": "report", "room": room_a, "member": speaker_id,
            "reason": "Keeps insulting people"}),
        )
        .await;
    let reporter_id = ps[reporter].id();
    for p in [&mut fac, &mut moder] {
        let about_message = p
            .wait(|v| {
                v["type"] == "group_event"
                    && v["event"]["type"] == "report_filed"
                    && v["event"]["message"].is_u64()
            })
            .await;
        assert_eq!(about_message["group"], json!({"index": 0, "room": room_a}));
        assert_eq!(about_message["event"]["message"], message);
        assert_eq!(about_message["event"]["by"], reporter_id.as_str());
        assert_eq!(about_message["event"]["reason"], "An insult");
        assert_eq!(about_message["text"], text);
        let about_member = p
            .wait(|v| {
                v["type"] == "group_event"
                    && v["event"]["type"] == "report_filed"
                    && v["event"]["member"].is_string()
            })
            .await;
        assert_eq!(about_member["event"]["member"], speaker_id.as_str());
        assert!(about_member.get("text").is_none(), "{about_member}");
    }

    // A staff member who arrives now gets the open reports after the snapshot and the groups.
    let oda = server.invite(&event, "organizer", "Oda", None).await;
    let mut oda = P {
        c: server.join(&oda).await,
        name: "Oda".into(),
        community: None,
        seen: Vec::new(),
    };
    let groups_next = oda.wait(|v| v["type"] == "groups").await;
    assert_eq!(group_rooms(&groups_next), announced);
    let mut replayed = Vec::new();
    for _ in 0..2 {
        let n = replayed.len();
        let r = oda
            .wait(move |v| {
                v["type"] == "group_event"
                    && v["event"]["type"] == "report_filed"
                    && v["event"]["report"].as_u64() > Some(n as u64)
            })
            .await;
        assert_eq!(r["replay"], true, "{r}");
        assert_eq!(r["group"], json!({"index": 0, "room": room_a}));
        replayed.push(r);
    }
    assert_eq!(replayed[0]["text"], text);
    assert_eq!(replayed[1]["event"]["member"], speaker_id.as_str());

    // The moderator listens in and hides the message: the report closes, everywhere.
    moder.ok(json!({"type": "join_room", "room": room_a})).await;
    moder
        .ok(json!({"type": "hide", "room": room_a, "message": message}))
        .await;
    let report = replayed[0]["event"]["report"].clone();
    for p in [&mut fac, &mut oda] {
        let r = report.clone();
        let closed = p
            .wait(move |v| {
                v["type"] == "group_event"
                    && v["event"]["type"] == "report_closed"
                    && v["event"]["report"] == r
            })
            .await;
        assert_eq!(closed["event"]["status"], "hidden", "{closed}");
        assert_eq!(closed["group"]["room"], room_a.as_str());
        let hidden = p
            .wait(|v| v["type"] == "group_event" && v["event"]["type"] == "hidden")
            .await;
        assert_eq!(hidden["event"]["message"], message);
    }
    // Listening in, the moderator has the group's own event too (clients dedupe).
    moder.event_in(&room_a, "report_closed").await;
    let other = replayed[1]["event"]["report"].clone();
    moder
        .ok(json!({"type": "dismiss_report", "room": room_a, "report": other}))
        .await;
    let o = other.clone();
    fac.wait(move |v| {
        v["type"] == "group_event"
            && v["event"]["type"] == "report_closed"
            && v["event"]["report"] == o
    })
    .await;

    // Nothing is open any more: the next staff member to arrive gets no replay.
    let ned = server.invite(&event, "moderator", "Ned", None).await;
    let mut ned = P {
        c: server.join(&ned).await,
        name: "Ned".into(),
        community: None,
        seen: Vec::new(),
    };
    ned.wait(|v| v["type"] == "groups").await;
    drain(&mut ned).await;
    assert_eq!(group_events(&ned, "report_filed").count(), 0);

    // Participants (in either group) and observers never hear of it from the hall.
    drain(&mut obs).await;
    for p in ps.iter_mut() {
        drain(p).await;
    }
    for p in ps.iter().chain([&obs]) {
        assert!(
            !p.seen.iter().any(|v| v["type"] == "group_event"),
            "{} got a group_event",
            p.name
        );
    }
    // The group's staff-only events reached the hall's staff once each.
    drain(&mut fac).await;
    assert_eq!(group_events(&fac, "message_flagged").count(), 1);
    assert_eq!(group_events(&fac, "report_filed").count(), 2);
    assert_eq!(group_events(&fac, "report_closed").count(), 2);
    server.stop().await.unwrap();
}

/// Moderation is event-wide: a member muted in the hall is muted in the breakout group opened
/// later (the group's round never gives them the floor), and a mute or unmute sent to a group
/// holds in the hall and in the group alike.
#[tokio::test]
async fn a_mute_holds_in_every_room_of_the_event() {
    let server = start_server(config_with_shipped(&[
        "joint-town-hall",
        "small-group-round",
    ]))
    .await;
    let event = server.create_event("joint-town-hall").await;
    let hall_id = hall(&event);
    let mut fac = person(&server, &event, "facilitator", "Fran", None).await;
    let mut moder = person(&server, &event, "moderator", "Mo", None).await;
    let mut ps = residents(&server, &event, 2, 2).await;
    let dis = ps[0].id();
    fac.ok(json!({"type": "start"})).await;
    moder.ok(json!({"type": "mute", "member": dis})).await;
    // Opening, the poll, its results, the open floor.
    for _ in 0..4 {
        fac.ok(json!({"type": "next_phase"})).await;
    }
    let opened = fac.event_in(&hall_id, "breakout_opened").await;
    assert_eq!(groups_of(&opened).len(), 1, "{opened}");
    let room = group_welcome(&mut ps[0], &event).await;
    let (r, d) = (room.clone(), dis.clone());
    let muted = ps[0]
        .wait(move |v| {
            v["room"] == r.as_str()
                && v["event"]["type"] == "muted"
                && v["event"]["member"] == d.as_str()
        })
        .await;
    assert_eq!(muted["event"]["by"], moder.id().as_str(), "{muted}");
    // The group's round starts with someone else and passes over the muted member.
    let r = room.clone();
    let granted = ps[1]
        .wait(move |v| v["room"] == r.as_str() && v["event"]["type"] == "floor_granted")
        .await;
    assert_ne!(granted["event"]["member"], dis.as_str(), "{granted}");
    // An unmute sent to the group is the hall's: both rooms hear it.
    moder.ok(json!({"type": "join_room", "room": room})).await;
    moder
        .ok(json!({"type": "unmute", "member": dis, "room": room}))
        .await;
    fac.event_in(&hall_id, "unmuted").await;
    let (r, d) = (room.clone(), dis.clone());
    ps[0]
        .wait(move |v| {
            v["room"] == r.as_str()
                && v["event"]["type"] == "unmuted"
                && v["event"]["member"] == d.as_str()
        })
        .await;
    // A mute sent to the group holds in the hall.
    let other = ps[2].id();
    moder
        .ok(json!({"type": "mute", "member": other, "room": room}))
        .await;
    let h = fac.event_in(&hall_id, "muted").await;
    assert!(h["event"]["member"] == dis.as_str() || h["event"]["member"] == other.as_str());
    let (r, o) = (room.clone(), other.clone());
    ps[2]
        .wait(move |v| {
            v["room"] == r.as_str()
                && v["event"]["type"] == "muted"
                && v["event"]["member"] == o.as_str()
        })
        .await;
}
