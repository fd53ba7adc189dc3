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
