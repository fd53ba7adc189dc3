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
