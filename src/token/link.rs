//! Join links: one multi-use link per community (or staff role) that residents open to get
//! their own member token, instead of an organizer minting each token by hand.
//!
//! A link is a record kept in the event's metadata ([`JoinLink`]: its community, role,
//! expiry, cap, use count, revocation) and a public code the organizer shares. The code is
//! `base64url(event id ‖ link id ‖ HMAC-SHA256(secret, both)[..16])`, 64 characters: the link
//! id is 128 random bits and the MAC another 128 that only the server can compute, so the
//! stored record (in SQLite or Redis) does not hold anything that redeems the link, and a
//! code names its event without a server-wide index (any cluster node can find it).
//!
//! Whether a link may be used right now is a pure function of the record and an injected
//! `now` ([`JoinLink::take`]), tested here; the hub applies it under its lock, so a cap holds
//! however many redemptions race.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::Mac;
use serde::{Deserialize, Serialize};

use super::TokenKey;
use crate::engine::member::Role;
use crate::time::Millis;

/// Most links one event holds (revoked ones included): a link per community and staff role
/// is a handful; this bounds the metadata record against a script.
pub const MAX_LINKS_PER_EVENT: usize = 100;
/// Longest label an organizer gives a link.
pub const MAX_LABEL_CHARS: usize = 80;
/// Largest cap on one link's uses.
pub const MAX_USES: u32 = 100_000;
/// Length of a link's public code.
pub const CODE_CHARS: usize = 64;
const MAC_BYTES: usize = 16;

/// One join link, as the event's metadata stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinLink {
    /// `lnk-` and 32 hex digits (128 random bits).
    pub id: String,
    /// The community every member who joins through it belongs to; `None`: each picks one of
    /// the event's communities.
    pub community: Option<String>,
    pub role: Role,
    /// The organizer's note ("Dayton residents"), shown to nobody else.
    #[serde(default)]
    pub label: Option<String>,
    pub created_at: Millis,
    /// After this (Unix ms) the link is refused `link_expired`.
    #[serde(default)]
    pub expires_at: Option<Millis>,
    /// At most this many members join through it; then `link_full`.
    #[serde(default)]
    pub max_uses: Option<u32>,
    /// Members who joined through it so far.
    #[serde(default)]
    pub uses: u32,
    /// When the organizer revoked it; then `link_revoked`.
    #[serde(default)]
    pub revoked_at: Option<Millis>,
}

/// Why a link cannot be used now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkRefusal {
    #[error("this join link is not valid; check that you copied all of it, or ask the organizers for a new one")]
    Unknown,
    #[error("this join link has expired; please ask the organizers for a new one")]
    Expired,
    #[error("this join link has been used as often as the organizers allowed; please ask them for a new one")]
    Full,
    #[error("the organizers have withdrawn this join link; please ask them for a new one")]
    Revoked,
}

impl JoinLink {
    /// Whether a member may join through the link at `now` (revoked first, then expired,
    /// then full: the reason the organizer acted on wins).
    pub fn check(&self, now: Millis) -> Result<(), LinkRefusal> {
        if self.revoked_at.is_some() {
            return Err(LinkRefusal::Revoked);
        }
        if self.expires_at.is_some_and(|at| at <= now) {
            return Err(LinkRefusal::Expired);
        }
        if self.max_uses.is_some_and(|max| self.uses >= max) {
            return Err(LinkRefusal::Full);
        }
        Ok(())
    }

    /// [`JoinLink::check`], then counts one use. Called under the registry's lock, so the
    /// check and the count are one step.
    pub fn take(&mut self, now: Millis) -> Result<(), LinkRefusal> {
        self.check(now)?;
        self.uses = self.uses.saturating_add(1);
        Ok(())
    }

    /// Gives back a use that produced no member (the store refused it).
    pub fn give_back(&mut self) {
        self.uses = self.uses.saturating_sub(1);
    }
}

/// A new link id: `lnk-` and 128 random bits in hex.
pub fn new_link_id() -> String {
    let mut bytes = [0u8; 16];
    // The OS generator; a failure here means the machine cannot make any secret at all.
    getrandom::fill(&mut bytes).expect("the OS random generator works");
    format!("lnk-{}", hex(&bytes))
}

/// What a code names: the event and the link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkRef {
    pub event: String,
    pub link: String,
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// `prefix` and 32 lowercase hex digits → the 16 bytes.
fn id_bytes(id: &str, prefix: &str) -> Option<[u8; 16]> {
    let h = id.strip_prefix(prefix)?;
    if h.len() != 32 || !h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&h[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

impl TokenKey {
    fn link_mac(&self, event: &[u8; 16], link: &[u8; 16]) -> hmac::Hmac<sha2::Sha256> {
        let mut mac = self.mac();
        // A domain separator: a link MAC is never a valid token signature, nor the reverse.
        mac.update(b"commonground join link v1\0");
        mac.update(event);
        mac.update(link);
        mac
    }

    /// The public code of link `link` of `event`; `None` when either id is not in the form
    /// the server generates (`evt-`/`lnk-` and 32 hex digits).
    pub fn link_code(&self, event: &str, link: &str) -> Option<String> {
        let (e, l) = (id_bytes(event, "evt-")?, id_bytes(link, "lnk-")?);
        let tag = self.link_mac(&e, &l).finalize().into_bytes();
        let mut raw = Vec::with_capacity(32 + MAC_BYTES);
        raw.extend_from_slice(&e);
        raw.extend_from_slice(&l);
        raw.extend_from_slice(&tag[..MAC_BYTES]);
        Some(URL_SAFE_NO_PAD.encode(raw))
    }

    /// Reads a code back (its MAC checked in constant time); `None` for anything this server
    /// did not make.
    pub fn read_link_code(&self, code: &str) -> Option<LinkRef> {
        if code.len() != CODE_CHARS {
            return None;
        }
        let raw = URL_SAFE_NO_PAD.decode(code).ok()?;
        if raw.len() != 32 + MAC_BYTES {
            return None;
        }
        let (mut e, mut l) = ([0u8; 16], [0u8; 16]);
        e.copy_from_slice(&raw[..16]);
        l.copy_from_slice(&raw[16..32]);
        self.link_mac(&e, &l)
            .verify_truncated_left(&raw[32..])
            .ok()?;
        Some(LinkRef {
            event: format!("evt-{}", hex(&e)),
            link: format!("lnk-{}", hex(&l)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link() -> JoinLink {
        JoinLink {
            id: new_link_id(),
            community: Some("Dayton, OH".into()),
            role: Role::Participant,
            label: None,
            created_at: Millis(1_000),
            expires_at: Some(Millis(10_000)),
            max_uses: Some(2),
            uses: 0,
            revoked_at: None,
        }
    }

    const EVENT: &str = "evt-0123456789abcdef0123456789abcdef";

    #[test]
    fn a_cap_admits_exactly_that_many() {
        let mut l = link();
        assert_eq!(l.take(Millis(2_000)), Ok(()));
        assert_eq!(l.take(Millis(2_000)), Ok(()));
        assert_eq!(l.take(Millis(2_000)), Err(LinkRefusal::Full));
        assert_eq!(l.uses, 2);
        l.give_back();
        assert_eq!(l.take(Millis(2_000)), Ok(()));
    }

    #[test]
    fn expiry_is_exclusive_of_its_instant_and_revocation_wins() {
        let mut l = link();
        assert_eq!(l.check(Millis(9_999)), Ok(()));
        assert_eq!(l.check(Millis(10_000)), Err(LinkRefusal::Expired));
        l.uses = 2;
        assert_eq!(l.check(Millis(10_000)), Err(LinkRefusal::Expired));
        l.revoked_at = Some(Millis(3_000));
        assert_eq!(l.check(Millis(2_000)), Err(LinkRefusal::Revoked));
        let open = JoinLink {
            expires_at: None,
            max_uses: None,
            uses: u32::MAX,
            ..link()
        };
        assert_eq!(open.check(Millis(u64::MAX)), Ok(()));
    }

    #[test]
    fn codes_round_trip_and_only_this_secret_reads_them() {
        let key = TokenKey::new(b"0123456789abcdef0123");
        let id = new_link_id();
        let code = key.link_code(EVENT, &id).unwrap();
        assert_eq!(code.len(), CODE_CHARS);
        assert!(code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(
            key.read_link_code(&code),
            Some(LinkRef {
                event: EVENT.into(),
                link: id
            })
        );
        let other = TokenKey::new(b"another secret of 20");
        assert_eq!(other.read_link_code(&code), None);
        for i in 0..code.len() {
            let mut bytes = code.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let tampered = String::from_utf8(bytes).unwrap();
            assert_eq!(key.read_link_code(&tampered), None, "byte {i}");
        }
        assert_eq!(key.read_link_code(""), None);
        assert_eq!(key.read_link_code(&"A".repeat(CODE_CHARS)), None);
        assert_eq!(key.read_link_code(&format!("{code}A")), None);
    }

    #[test]
    fn ids_the_server_did_not_make_have_no_code() {
        let key = TokenKey::new(b"0123456789abcdef0123");
        let id = new_link_id();
        assert!(key.link_code("evt-demo", &id).is_none());
        assert!(key.link_code(EVENT, "lnk-XYZ").is_none());
        assert!(key
            .link_code(&EVENT.to_uppercase().replace("EVT", "evt"), &id)
            .is_none());
        assert_ne!(new_link_id(), new_link_id());
    }
}
