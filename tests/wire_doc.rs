//! Every JSON example in `docs/wire-protocol.md` parses and round-trips through the code:
//! client messages through the gateway's parser, server messages through `ServerMsg`.

use commonground::wire::{parse_client, ServerMsg};
use serde_json::Value;

const SERVER_TYPES: [&str; 12] = [
    "welcome",
    "snapshot",
    "resumed",
    "event",
    "ack",
    "error",
    "pong",
    "status",
    "left_room",
    "groups",
    "group_event",
    "media_answer",
];

fn json_blocks(doc: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in doc.lines() {
        match (&mut current, line.trim()) {
            (None, "```json") => current = Some(String::new()),
            (Some(_), "```") => blocks.push(current.take().unwrap_or_default()),
            (Some(buf), _) => {
                buf.push_str(line);
                buf.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

#[test]
fn every_example_in_the_wire_doc_round_trips() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/wire-protocol.md");
    let doc = std::fs::read_to_string(path).unwrap();
    let blocks = json_blocks(&doc);
    assert!(blocks.len() >= 15, "found only {} examples", blocks.len());
    let (mut n_client, mut n_server) = (0, 0);
    let mut documented = std::collections::BTreeSet::new();
    for block in blocks {
        let value: Value = serde_json::from_str(&block)
            .unwrap_or_else(|e| panic!("example is not JSON ({e}):\n{block}"));
        let ty = value["type"].as_str().expect("every example has a type");
        if SERVER_TYPES.contains(&ty) {
            documented.insert(ty.to_string());
            let msg: ServerMsg = serde_json::from_value(value.clone())
                .unwrap_or_else(|e| panic!("server example does not parse ({e}):\n{block}"));
            let back = serde_json::to_value(&msg).unwrap();
            assert_eq!(back, value, "server example does not round-trip:\n{block}");
            n_server += 1;
        } else {
            parse_client(&block)
                .unwrap_or_else(|e| panic!("client example is refused ({}):\n{block}", e.message));
            n_client += 1;
        }
    }
    for ty in SERVER_TYPES {
        assert!(
            documented.contains(ty),
            "no example of the server frame `{ty}`"
        );
    }
    assert!(
        n_client >= 5 && n_server >= 10,
        "{n_client} client, {n_server} server examples"
    );
}

/// The wire doc's "Error codes" table lists every code a WebSocket client can get: the
/// engine's refusals and the server's own (`wire::ErrorCode`), and nothing else.
#[test]
fn the_error_code_table_matches_the_code() {
    use commonground::engine::reject::RejectCode;
    use commonground::wire::ErrorCode;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/wire-protocol.md");
    let doc = std::fs::read_to_string(path).unwrap();
    let table = doc
        .split("## Error codes")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("the doc has an `Error codes` section");
    let mut listed = std::collections::BTreeSet::new();
    for row in table.lines().filter(|l| l.starts_with("| `")) {
        let first = row.split('|').nth(1).unwrap_or("");
        for code in first.split('`').skip(1).step_by(2) {
            listed.insert(code.to_string());
        }
    }
    let mut known: std::collections::BTreeSet<String> = RejectCode::ALL
        .iter()
        .map(|c| c.as_str().to_string())
        .collect();
    known.extend(
        ErrorCode::ALL
            .iter()
            .filter(|c| c.on_websocket())
            .map(|c| c.as_str().to_string()),
    );
    // Audio signaling's own, owned by the media layer.
    known.insert("full".to_string());
    let missing: Vec<_> = known.difference(&listed).collect();
    let unknown: Vec<_> = listed.difference(&known).collect();
    assert!(
        missing.is_empty(),
        "codes missing from the table: {missing:?}"
    );
    assert!(
        unknown.is_empty(),
        "table codes the server never sends: {unknown:?}"
    );
}

mod events {
    use commonground::engine::event::{EventKind, ReleaseReason, TurnKind};
    use commonground::engine::member::{MemberId, Role};
    use commonground::engine::moderation::ReportStatus;
    use commonground::time::Millis;

    /// How many `EventKind` variants there are: the match in [`index`] has one arm each.
    pub const VARIANTS: usize = 59;

    /// Each variant's position. The match has no wildcard, so a new variant does not compile
    /// until it gets an arm here, and then [`samples`] must have one of it too.
    pub fn index(k: &EventKind) -> usize {
        match k {
            EventKind::MemberJoined { .. } => 0,
            EventKind::MemberLeft { .. } => 1,
            EventKind::MemberRemoved { .. } => 2,
            EventKind::SessionStarted => 3,
            EventKind::SessionPaused => 4,
            EventKind::SessionResumed { .. } => 5,
            EventKind::SessionEnded => 6,
            EventKind::PhaseStarted { .. } => 7,
            EventKind::PhaseEnded { .. } => 8,
            EventKind::PhaseOvertime { .. } => 9,
            EventKind::Interlude { .. } => 10,
            EventKind::FloorGranted { .. } => 11,
            EventKind::FloorReleased { .. } => 12,
            EventKind::FloorRevoked { .. } => 13,
            EventKind::TurnOvertime { .. } => 14,
            EventKind::Interjected { .. } => 15,
            EventKind::Warning { .. } => 16,
            EventKind::DeadlineExtended { .. } => 17,
            EventKind::HandRaised { .. } => 18,
            EventKind::HandLowered { .. } => 19,
            EventKind::QueueChanged { .. } => 20,
            EventKind::Passed { .. } => 21,
            EventKind::ReflectionPending { .. } => 22,
            EventKind::ReflectionConfirmed { .. } => 23,
            EventKind::ClarificationRequested { .. } => 24,
            EventKind::Invited { .. } => 25,
            EventKind::InvitationDeclined { .. } => 26,
            EventKind::Muted { .. } => 27,
            EventKind::Unmuted { .. } => 28,
            EventKind::Said { .. } => 29,
            EventKind::Noted { .. } => 30,
            EventKind::Hidden { .. } => 31,
            EventKind::Broadcast { .. } => 32,
            EventKind::SideChanged { .. } => 33,
            EventKind::QuestionAsked { .. } => 34,
            EventKind::QuestionUpvoted { .. } => 35,
            EventKind::QuestionApproved { .. } => 36,
            EventKind::QuestionOnFloor { .. } => 37,
            EventKind::Voted { .. } => 38,
            EventKind::QuestionsMerged { .. } => 39,
            EventKind::QuestionOrder { .. } => 40,
            EventKind::BreakoutOpened { .. } => 41,
            EventKind::BreakoutMoved { .. } => 42,
            EventKind::BreakoutClosing { .. } => 43,
            EventKind::BreakoutClosed => 44,
            EventKind::HelpRequested { .. } => 45,
            EventKind::HelpResolved { .. } => 46,
            EventKind::Nudged { .. } => 47,
            EventKind::MoveOnOffered => 48,
            EventKind::MoveOnTally { .. } => 49,
            EventKind::MoveOnCarried { .. } => 50,
            EventKind::EquityUpdated { .. } => 51,
            EventKind::ReportFiled { .. } => 52,
            EventKind::ReportClosed { .. } => 53,
            EventKind::MessageFlagged { .. } => 54,
            EventKind::PollResults { .. } => 55,
            EventKind::BudgetWarning { .. } => 56,
            EventKind::MemberReconnecting { .. } => 57,
            EventKind::MemberReconnected { .. } => 58,
        }
    }

    /// One of each variant with every optional field set, so its serde form has every field.
    pub fn samples() -> Vec<EventKind> {
        let m = || MemberId::new("m-1");
        let t = Millis(1_764_345_600_000);
        let s = |x: &str| x.to_string();
        vec![
            EventKind::MemberReconnecting {
                member: m(),
                until: t,
            },
            EventKind::MemberReconnected { member: m() },
            EventKind::MemberJoined {
                member: m(),
                name: s("Ana"),
                role: Role::Participant,
                community: Some(s("Dayton, OH")),
            },
            EventKind::MemberLeft { member: m() },
            EventKind::MemberRemoved {
                member: m(),
                by: m(),
            },
            EventKind::SessionStarted,
            EventKind::SessionPaused,
            EventKind::SessionResumed { shifted_ms: 1 },
            EventKind::SessionEnded,
            EventKind::PhaseStarted {
                index: 0,
                id: s("p"),
                kind: s("queue"),
                title: s("P"),
                prompt: Some(s("?")),
                deadline: Some(t),
            },
            EventKind::PhaseEnded {
                index: 0,
                id: s("p"),
            },
            EventKind::PhaseOvertime { index: 0 },
            EventKind::Interlude {
                until: t,
                think: true,
            },
            EventKind::FloorGranted {
                member: m(),
                name: s("Ana"),
                turn: TurnKind::Own,
                deadline: Some(t),
                responding_to: Some(m()),
                by: Some(m()),
            },
            EventKind::FloorReleased {
                member: m(),
                turn: TurnKind::Own,
                reason: ReleaseReason::Yielded,
                held_ms: 1,
            },
            EventKind::FloorRevoked {
                member: m(),
                by: m(),
            },
            EventKind::TurnOvertime { member: m() },
            EventKind::Interjected {
                member: m(),
                on: true,
                held_ms: 0,
            },
            EventKind::Warning {
                deadline: t,
                phase: true,
            },
            EventKind::DeadlineExtended {
                deadline: t,
                phase: true,
            },
            EventKind::HandRaised {
                member: m(),
                name: s("Ana"),
                stance: Some(s("for")),
                position: 0,
            },
            EventKind::HandLowered { member: m() },
            EventKind::QueueChanged {
                order: vec![m()],
                by: Some(m()),
            },
            EventKind::Passed {
                member: m(),
                for_now: true,
            },
            EventKind::ReflectionPending {
                speaker: m(),
                listener: m(),
                until: t,
                attempt: 1,
            },
            EventKind::ReflectionConfirmed {
                speaker: m(),
                listener: m(),
                by_timeout: false,
            },
            EventKind::ClarificationRequested {
                speaker: m(),
                listener: m(),
            },
            EventKind::Invited {
                member: m(),
                by: m(),
            },
            EventKind::InvitationDeclined { member: m() },
            EventKind::Muted {
                member: m(),
                by: m(),
            },
            EventKind::Unmuted {
                member: m(),
                by: m(),
            },
            EventKind::Said {
                message: 1,
                member: m(),
                text: s("hi"),
            },
            EventKind::Noted {
                message: 1,
                member: Some(m()),
                text: s("hi"),
            },
            EventKind::Hidden {
                message: 1,
                by: m(),
            },
            EventKind::Broadcast {
                by: m(),
                text: s("hi"),
            },
            EventKind::SideChanged {
                side: s("Dayton, OH"),
                until: t,
            },
            EventKind::QuestionAsked {
                question: 1,
                member: m(),
                text: s("?"),
            },
            EventKind::QuestionUpvoted {
                question: 1,
                votes: 1,
            },
            EventKind::QuestionApproved {
                question: 1,
                by: m(),
                member: m(),
                text: s("?"),
                votes: 0,
            },
            EventKind::QuestionOnFloor {
                question: 1,
                asker: m(),
                text: s("?"),
            },
            EventKind::Voted {
                member: m(),
                choice: s("yes"),
            },
            EventKind::QuestionsMerged {
                question: 2,
                into: 1,
                votes: 1,
                by: Some(m()),
            },
            EventKind::QuestionOrder {
                order: vec![1],
                by: Some(m()),
            },
            EventKind::BreakoutOpened {
                protocol: s("small-group-round"),
                groups: vec![vec![m()]],
                until: Some(t),
            },
            EventKind::BreakoutMoved {
                member: m(),
                group: 0,
            },
            EventKind::BreakoutClosing { until: t },
            EventKind::BreakoutClosed,
            EventKind::HelpRequested { member: m() },
            EventKind::HelpResolved {
                member: m(),
                by: m(),
            },
            EventKind::Nudged { member: m() },
            EventKind::MoveOnOffered,
            EventKind::MoveOnTally {
                votes: 1,
                eligible: 2,
                threshold_pct: 60,
            },
            EventKind::MoveOnCarried {
                votes: 2,
                eligible: 2,
            },
            EventKind::EquityUpdated {
                gini: 0.0,
                gini_within: 0.0,
                gini_between: 0.0,
                total_speaking_ms: 0,
                total_voiced_ms: 0,
                by_community: vec![(s("Dayton, OH"), 0)],
                not_spoken: 0,
            },
            EventKind::ReportFiled {
                report: 1,
                by: m(),
                message: Some(1),
                member: Some(m()),
                reason: s("rude"),
            },
            EventKind::ReportClosed {
                report: 1,
                by: m(),
                status: ReportStatus::Dismissed,
            },
            EventKind::MessageFlagged {
                message: 1,
                member: Some(m()),
                words: vec![s("idiot")],
            },
            EventKind::PollResults {
                phase: s("poll"),
                totals: vec![(s("yes"), 1)],
                by_community: vec![(s("Dayton, OH"), vec![(s("yes"), 1)])],
                closed: true,
                until: Some(t),
            },
            EventKind::BudgetWarning {
                member: Some(m()),
                used_bytes: 240_000,
                limit_bytes: 262_144,
            },
        ]
    }
}

/// The wire doc's event table lists every `EventKind` variant, each with every field, an
/// audience and when it is sent; and nothing that is not an event.
#[test]
fn the_event_table_lists_every_event_and_field() {
    let samples = events::samples();
    let covered: std::collections::BTreeSet<usize> = samples.iter().map(events::index).collect();
    assert_eq!(
        covered,
        (0..events::VARIANTS).collect(),
        "`events::samples` needs exactly one of each EventKind variant"
    );
    assert_eq!(samples.len(), events::VARIANTS);

    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/wire-protocol.md");
    let doc = std::fs::read_to_string(path).unwrap();
    let section = doc
        .split("### Event types")
        .nth(1)
        .and_then(|rest| rest.split("\n#").next())
        .expect("the doc has an `Event types` section");
    let mut rows = std::collections::BTreeMap::new();
    for row in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.split(" | ").collect();
        assert_eq!(
            cells.len(),
            4,
            "a row needs event, fields, audience, when: {row}"
        );
        let name = cells[0]
            .trim_start_matches("| ")
            .trim_matches('`')
            .to_string();
        assert!(
            cells[2].trim().len() > 3 && cells[3].trim_end_matches('|').trim().len() > 3,
            "`{name}` needs an audience and when it is sent"
        );
        assert!(
            rows.insert(name.clone(), cells[1].to_string()).is_none(),
            "`{name}` is listed twice"
        );
    }
    let mut missing = Vec::new();
    let mut names = std::collections::BTreeSet::new();
    for kind in &samples {
        let v = serde_json::to_value(kind).unwrap();
        let ty = v["type"].as_str().unwrap().to_string();
        names.insert(ty.clone());
        let Some(fields) = rows.get(&ty) else {
            missing.push(format!("event `{ty}`"));
            continue;
        };
        for key in v.as_object().unwrap().keys().filter(|k| *k != "type") {
            if !fields.contains(&format!("`{key}`")) && !fields.contains(&format!("`{key}?`")) {
                missing.push(format!("`{ty}`.`{key}`"));
            }
        }
    }
    assert!(missing.is_empty(), "missing from the wire doc: {missing:?}");
    let unknown: Vec<&String> = rows.keys().filter(|k| !names.contains(*k)).collect();
    assert!(unknown.is_empty(), "not events: {unknown:?}");
}
