//! Fuzz target: the gateway's frame decoder on arbitrary bytes.
//!
//! Every text frame a client sends goes through `parse_client` before anything else looks at
//! it, so it must turn any input into a message or a `BadFrame`, never panic. Bytes that are
//! not UTF-8 are decoded lossily (the transport refuses them before this point, but the
//! replacement characters are good input too).

#![no_main]

use commonground::wire::{parse_client, ClientMsg};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(ClientMsg::Command { command, .. }) = parse_client(&text) {
        // What parses must serialize again (the wire form is the serde form).
        let json = serde_json::to_string(&command).expect("a parsed command serializes");
        let back: commonground::engine::command::Command =
            serde_json::from_str(&json).expect("a serialized command parses");
        assert_eq!(back, command);
        let _ = (command.name(), command.capability());
    }
});
