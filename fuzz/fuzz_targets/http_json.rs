//! Fuzz target: the organizer API's request bodies and the rehearsal preview's query string.
//!
//! These are the only structured inputs the HTTP API reads (`CreateEvent`, `CreateInvite` as
//! JSON bodies, `PreviewQuery` as a query string); deserializing them must never panic,
//! whatever arrives. The first byte picks the type so one corpus covers all three.

#![no_main]

use commonground::api::events::{CreateEvent, CreateInvite};
use commonground::api::preview::PreviewQuery;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    match which % 3 {
        0 => {
            let _ = serde_json::from_slice::<CreateEvent>(body);
        }
        1 => {
            let _ = serde_json::from_slice::<CreateInvite>(body);
        }
        _ => {
            let _ = serde_urlencoded::from_bytes::<PreviewQuery>(body);
        }
    }
});
