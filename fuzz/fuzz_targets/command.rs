//! Fuzz target: arbitrary frames, parsed as the gateway parses them, fed as commands into an
//! engine with a small roster, on every shipped protocol.
//!
//! The engine holds all the room's rules, so no sequence of commands from any role may panic
//! it, and after every input the invariants the room relies on must hold: no deadline in the
//! past, a floor holder who is present and not muted, nobody queued twice, a refusal that
//! changes nothing; and at the end every member's snapshot serializes.
//!
//! Input: the first byte picks the protocol. Then one frame per line: the line's first byte
//! picks who sends it (or a leave and rejoin, or a tick), its second how many seconds pass
//! first, and the rest is the frame's text.

#![no_main]

use std::path::Path;
use std::sync::{Arc, OnceLock};

use commonground::engine::member::{MemberId, Role};
use commonground::engine::moderation::WordList;
use commonground::engine::{Engine, EngineConfig, Input};
use commonground::wire::{parse_client, ClientMsg};
use commonground::protocol::load::parse;
use commonground::protocol::Protocol;
use commonground::time::Millis;
use libfuzzer_sys::fuzz_target;

const FILES: [(&str, &str); 8] = [
    (
        "deliberative-forum.toml",
        include_str!("../../protocols/deliberative-forum.toml"),
    ),
    (
        "empathy-circle.toml",
        include_str!("../../protocols/empathy-circle.toml"),
    ),
    (
        "joint-town-hall.toml",
        include_str!("../../protocols/joint-town-hall.toml"),
    ),
    (
        "living-room.toml",
        include_str!("../../protocols/living-room.toml"),
    ),
    (
        "public-comment.toml",
        include_str!("../../protocols/public-comment.toml"),
    ),
    (
        "red-blue-workshop.toml",
        include_str!("../../protocols/red-blue-workshop.toml"),
    ),
    (
        "reflective-structured-dialogue.toml",
        include_str!("../../protocols/reflective-structured-dialogue.toml"),
    ),
    (
        "small-group-round.toml",
        include_str!("../../protocols/small-group-round.toml"),
    ),
];

const ROSTER: [(&str, Role, Option<&str>); 7] = [
    ("f", Role::Facilitator, None),
    ("m", Role::Moderator, None),
    ("o", Role::Observer, None),
    ("a1", Role::Participant, Some("Dayton, OH")),
    ("a2", Role::Participant, Some("Dayton, OH")),
    ("b1", Role::Participant, Some("Boulder, CO")),
    ("b2", Role::Participant, Some("Boulder, CO")),
];

fn protocols() -> &'static [Arc<Protocol>] {
    static P: OnceLock<Vec<Arc<Protocol>>> = OnceLock::new();
    P.get_or_init(|| {
        FILES
            .iter()
            .map(|(name, text)| {
                Arc::new(parse(Path::new(name), text).expect("shipped protocols load"))
            })
            .collect()
    })
}

fn join(engine: &mut Engine, now: Millis, i: usize) {
    let (id, role, community) = ROSTER[i];
    let _ = engine.handle(
        now,
        Input::Join {
            member: MemberId::new(id),
            name: id.to_string(),
            role,
            community: community.map(str::to_string),
        },
    );
}

fn check(engine: &Engine, now: Millis) {
    if let Some(d) = engine.next_deadline() {
        assert!(
            d > now,
            "a deadline {d:?} at or before now {now:?} survived a call"
        );
    }
    if let Some(f) = engine.floor() {
        let m = engine
            .roster()
            .get(&f.member)
            .expect("the holder is on the roster");
        assert!(
            m.present && !m.muted,
            "the holder is absent or muted: {m:?}"
        );
    }
    let queue = engine.queue();
    let mut seen = std::collections::BTreeSet::new();
    for q in &queue {
        assert!(seen.insert(q), "{q} is queued twice");
    }
}

/// Every member's snapshot builds and serializes (checked once per input: it is the slow part).
fn check_views(engine: &Engine, now: Millis) {
    for (id, role, _) in ROSTER {
        let view = engine.view(now, &MemberId::new(id), role);
        serde_json::to_string(&view).expect("a view serializes");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let list = protocols();
    let protocol = Arc::clone(&list[pick as usize % list.len()]);
    let words = Arc::new(WordList::new(["idiot", "go home"]));
    let mut engine = Engine::new(protocol, EngineConfig::with_seed(7).with_word_list(words));
    let mut now = Millis(1_700_000_000_000);
    for i in 0..ROSTER.len() {
        join(&mut engine, now, i);
    }
    let _ = engine.handle(
        now,
        Input::Command {
            from: MemberId::new("f"),
            command: commonground::engine::command::Command::Start,
        },
    );
    for line in rest.split(|b| *b == b'\n').take(64) {
        let [who, secs, frame @ ..] = line else {
            continue;
        };
        now = now + u64::from(*secs) * 1000;
        let sender = *who as usize % (ROSTER.len() + 2);
        if sender == ROSTER.len() {
            let i = 3 + (*secs as usize % 4);
            let _ = engine.handle(
                now,
                Input::Leave {
                    member: MemberId::new(ROSTER[i].0),
                },
            );
            join(&mut engine, now, i);
        } else if sender == ROSTER.len() + 1 {
            let _ = engine.handle(now, Input::Tick);
        } else if let Ok(ClientMsg::Command { command, .. }) =
            parse_client(&String::from_utf8_lossy(frame))
        {
            let from = MemberId::new(ROSTER[sender].0);
            // With no timer due, a refusal must leave the room exactly as it was.
            let quiet = engine.next_deadline().is_none_or(|d| d > now);
            let before = quiet.then(|| engine.clone());
            let h = engine.handle(now, Input::Command { from, command });
            if let (Err(r), Some(before)) = (&h.result, before) {
                assert!(before == engine, "a refused command ({r}) changed the room");
                assert!(
                    h.events.is_empty(),
                    "a refused command ({r}) emitted events"
                );
            }
        } else {
            let _ = engine.handle(now, Input::Tick);
        }
        check(&engine, now);
    }
    check_views(&engine, now);
});
