//! Fuzz target: audio signaling on arbitrary bytes: the SDP offer parser the SFU uses for
//! untrusted offers, and the `media_*` wire messages around it.
//!
//! Both must turn any input into a value or a typed refusal (`invalid`, `too_large`), never
//! panic: an offer is parsed before any peer state exists, so a hostile one can only be
//! refused.

#![no_main]

use commonground::wire::{parse_client, ClientMsg, MediaReq};
use commonground::media::{parse_offer, MediaError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match parse_offer(&text) {
        Ok(offer) => {
            // What parses must print again and parse to the same offer.
            let again = offer.to_sdp_string();
            assert!(parse_offer(&again).is_ok(), "a printed offer parses");
        }
        Err(e) => assert!(matches!(e, MediaError::Invalid(_) | MediaError::TooLarge)),
    }
    if let Ok(ClientMsg::Media {
        req: MediaReq::MediaOffer { sdp },
        ..
    }) = parse_client(&text)
    {
        let _ = parse_offer(&sdp);
    }
});
