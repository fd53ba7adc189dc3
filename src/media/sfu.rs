//! The forwarding core: one str0m `Rtc` per audio peer, every inbound audio frame checked
//! against the room's gate and written, unchanged, to the room's other peers.
//!
//! Sans-IO like str0m itself: the task (`task.rs`) hands in datagrams and the time, and
//! takes out datagrams to send and the next deadline. Nothing here reads a clock or a
//! socket, so the forwarding rules can be driven on any timeline.
//!
//! Listener tracks: each peer's offer has up to two audio m-lines the server sends on. The
//! first is the *floor* track, the second the *staff* track. The server switches the floor
//! track's source when the floor changes hands and rewrites its media time so the track's
//! timestamps run on without a jump (str0m numbers the sequence and owns the SSRC), so a
//! listener's jitter buffer sees one continuous stream. See `docs/media.md` for why.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::change::SdpOffer;
use str0m::crypto::CryptoProvider;
use str0m::media::{Frequency, MediaData, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};

use crate::engine::member::MemberId;
use crate::media::budget::SourceBudget;
use crate::media::gate::Voice;
use crate::media::gates::Gates;
use crate::media::stats::{inc, MediaStats};
use crate::time::Millis;
use crate::wire::RoomId;

/// Largest SDP offer accepted. A browser's audio-only offer is 2–6 KiB; this leaves room
/// for candidates and extensions, fits in the default 16 KiB WebSocket message, and bounds
/// what the parser sees.
pub const MAX_SDP_BYTES: usize = 12 * 1024;

/// One Opus frame at 48 kHz (20 ms): the gap put between two speakers on the floor track.
const FRAME_TICKS: u64 = 960;

/// How the SFU is bounded.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_peers: usize,
    pub max_peers_per_room: usize,
    /// A peer that has not completed ICE and DTLS by then is dropped.
    pub connect_timeout: Duration,
}

/// Why a `media_offer` was refused. `code` is the wire error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    #[error("this server runs without media")]
    Unavailable,
    #[error("the SDP is over {MAX_SDP_BYTES} bytes")]
    TooLarge,
    #[error("the SDP offer cannot be used: {0}")]
    Invalid(String),
    #[error("no more audio peers fit (room or server limit)")]
    Full,
}

impl MediaError {
    pub fn code(&self) -> &'static str {
        match self {
            MediaError::Unavailable => "media_unavailable",
            MediaError::TooLarge => "too_large",
            MediaError::Invalid(_) => "invalid",
            MediaError::Full => "full",
        }
    }
}

/// Reads an SDP offer within the size limit. The one entry point for untrusted SDP, so
/// it is what the fuzz target drives.
pub fn parse_offer(sdp: &str) -> Result<SdpOffer, MediaError> {
    if sdp.len() > MAX_SDP_BYTES {
        return Err(MediaError::TooLarge);
    }
    SdpOffer::from_sdp_string(sdp).map_err(|e| MediaError::Invalid(e.to_string()))
}

type PeerId = u64;

/// Where a floor or staff track's media time stands, for the source switch.
#[derive(Debug, Clone, Copy)]
struct OutClock {
    source: PeerId,
    /// Source media time (48 kHz ticks) of the last frame written.
    src_last: u64,
    /// Media time written for that frame.
    out_last: u64,
}

#[derive(Debug)]
struct Peer {
    room: RoomId,
    member: MemberId,
    rtc: Rtc,
    created: Instant,
    connected: bool,
    /// The member's microphone: the one audio m-line the server receives on.
    mic: Option<Mid>,
    floor_out: Option<Mid>,
    staff_out: Option<Mid>,
    floor_clock: Option<OutClock>,
    staff_clock: Option<OutClock>,
    next_timeout: Instant,
}

/// The SFU's state: every peer on this node.
#[derive(Debug)]
pub struct Sfu {
    limits: Limits,
    /// The address announced in every answer (the socket's, or `--media-public-addr`).
    public: SocketAddr,
    crypto: Arc<CryptoProvider>,
    gates: Arc<Gates>,
    stats: Arc<MediaStats>,
    peers: HashMap<PeerId, Peer>,
    next_id: PeerId,
    /// What sources of refused datagrams may still cost a scan of the peers.
    budget: SourceBudget,
    /// Datagrams to send, drained by the task.
    outbox: Vec<(SocketAddr, Vec<u8>)>,
}

impl Sfu {
    pub fn new(
        limits: Limits,
        public: SocketAddr,
        gates: Arc<Gates>,
        stats: Arc<MediaStats>,
    ) -> Sfu {
        Sfu {
            limits,
            public,
            crypto: Arc::new(str0m::crypto::from_feature_flags()),
            gates,
            stats,
            peers: HashMap::new(),
            next_id: 1,
            budget: SourceBudget::new(),
            outbox: Vec::new(),
        }
    }

    /// Accepts a member's offer for `room` and returns the answer (ICE-lite, the server's
    /// one host candidate inside). A second offer from the same member replaces the first.
    pub fn offer(
        &mut self,
        room: &RoomId,
        member: &MemberId,
        sdp: &str,
        now: Instant,
    ) -> Result<String, MediaError> {
        let res = self.offer_inner(room, member, sdp, now);
        if res.is_err() {
            inc(&self.stats.offers_refused);
        }
        res
    }

    fn offer_inner(
        &mut self,
        room: &RoomId,
        member: &MemberId,
        sdp: &str,
        now: Instant,
    ) -> Result<String, MediaError> {
        let offer = parse_offer(sdp)?;
        self.leave(room, member);
        let in_room = self.peers.values().filter(|p| &p.room == room).count();
        if self.peers.len() >= self.limits.max_peers || in_room >= self.limits.max_peers_per_room {
            return Err(MediaError::Full);
        }
        let mut rtc = Rtc::builder()
            .set_ice_lite(true)
            .clear_codecs()
            .enable_opus(true, false)
            .set_crypto_provider(Arc::clone(&self.crypto))
            .build(now);
        let candidate = Candidate::host(self.public, "udp")
            .map_err(|e| MediaError::Invalid(format!("server candidate: {e}")))?;
        rtc.add_local_candidate(candidate);
        let answer = rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| MediaError::Invalid(e.to_string()))?;
        let id = self.next_id;
        self.next_id += 1;
        self.peers.insert(
            id,
            Peer {
                room: room.clone(),
                member: member.clone(),
                rtc,
                created: now,
                connected: false,
                mic: None,
                floor_out: None,
                staff_out: None,
                floor_clock: None,
                staff_clock: None,
                next_timeout: now,
            },
        );
        self.stats
            .peers
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // The offer's m-lines surface as `MediaAdded` events; poll them now so the mic
        // (and with it consent) is known before the first packet.
        self.poll_peer(id, Millis::ZERO);
        Ok(answer.to_sdp_string())
    }

    /// Ends a member's audio in a room (`media_leave`, or the connection closed).
    pub fn leave(&mut self, room: &RoomId, member: &MemberId) {
        let ids: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, p)| &p.room == room && &p.member == member)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.drop_peer(id);
        }
    }

    /// One datagram from the socket. Hostile input has one outcome each, and none of them
    /// touches another peer: a source over its budget is dropped before any work
    /// (`source_rate_limited`); a datagram that is not STUN, DTLS or RTP (`malformed`) or
    /// that no peer accepts (`unknown_source`) is dropped and charged to its source; a
    /// datagram a peer accepts but cannot use (DTLS garbage from its address) is that
    /// peer's to ignore, and only a peer whose DTLS or ICE state str0m closed is dropped.
    pub fn handle_datagram(
        &mut self,
        source: SocketAddr,
        contents: &[u8],
        now: Instant,
        now_ms: Millis,
    ) {
        if !self.budget.allows(source, now) {
            inc(&self.stats.dropped_rate_limited);
            return;
        }
        let Ok(contents) = contents.try_into() else {
            inc(&self.stats.dropped_malformed);
            self.refused(source, now);
            return;
        };
        let input = Input::Receive(
            now,
            Receive {
                proto: Protocol::Udp,
                source,
                destination: self.public,
                contents,
            },
        );
        // Linear in the node's peers, which `Limits::max_peers` bounds (and the budget
        // above keeps one source from repeating it); str0m matches STUN by ufrag and
        // everything else by the peer's nominated address.
        let Some(id) = self
            .peers
            .iter()
            .find(|(_, p)| p.rtc.accepts(&input))
            .map(|(id, _)| *id)
        else {
            inc(&self.stats.dropped_unknown);
            self.refused(source, now);
            return;
        };
        let ok = self
            .peers
            .get_mut(&id)
            .is_some_and(|p| p.rtc.handle_input(input).is_ok());
        if !ok {
            inc(&self.stats.peer_errors);
            self.drop_peer(id);
            return;
        }
        self.poll_peer(id, now_ms);
    }

    fn refused(&mut self, source: SocketAddr, now: Instant) {
        self.budget.charge(source, now);
        self.stats.tracked_sources.store(
            self.budget.tracked() as i64,
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// Drives every peer whose timer is due, and drops peers that never connected.
    pub fn handle_timeout(&mut self, now: Instant, now_ms: Millis) {
        let due: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, p)| p.next_timeout <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            let ok = self
                .peers
                .get_mut(&id)
                .is_some_and(|p| p.rtc.handle_input(Input::Timeout(now)).is_ok());
            if !ok {
                self.drop_peer(id);
                inc(&self.stats.peer_errors);
                continue;
            }
            self.poll_peer(id, now_ms);
        }
        let stale: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, p)| {
                !p.connected
                    && now.saturating_duration_since(p.created) >= self.limits.connect_timeout
            })
            .map(|(id, _)| *id)
            .collect();
        for id in stale {
            // Dropped first, then counted: whoever reads the counter finds the peer gone.
            self.drop_peer(id);
            inc(&self.stats.ice_timeouts);
        }
    }

    /// When `handle_timeout` next has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let timers = self.peers.values().map(|p| p.next_timeout);
        let connects = self
            .peers
            .values()
            .filter(|p| !p.connected)
            .map(|p| p.created + self.limits.connect_timeout);
        timers.chain(connects).min()
    }

    /// Datagrams to send since the last call.
    pub fn drain_outbox(&mut self) -> std::vec::Drain<'_, (SocketAddr, Vec<u8>)> {
        self.outbox.drain(..)
    }

    /// Audio peers in a room.
    pub fn n_peers(&self, room: &RoomId) -> usize {
        self.peers.values().filter(|p| &p.room == room).count()
    }

    fn drop_peer(&mut self, id: PeerId) {
        let Some(mut p) = self.peers.remove(&id) else {
            return;
        };
        p.rtc.disconnect();
        use std::sync::atomic::Ordering::Relaxed;
        self.stats.peers.fetch_sub(1, Relaxed);
        if p.connected {
            self.stats.listeners.fetch_sub(1, Relaxed);
            self.stats.room_listener(p.room.as_str(), -1);
        }
        if p.mic.is_some() {
            let still = self
                .peers
                .values()
                .any(|q| q.room == p.room && q.member == p.member && q.mic.is_some());
            if !still {
                self.gates
                    .with(&p.room, |g| g.set_sending(&p.member, false));
            }
        }
    }

    /// Polls one peer until its next timeout, forwarding any audio it produced. Listeners
    /// written to are polled in turn so their datagrams go out now.
    fn poll_peer(&mut self, id: PeerId, now_ms: Millis) {
        let mut work = vec![id];
        while let Some(id) = work.pop() {
            let mut frames = Vec::new();
            let alive = self.poll_one(id, &mut frames);
            if !alive {
                self.drop_peer(id);
                continue;
            }
            for data in frames {
                self.forward(id, &data, now_ms, &mut work);
            }
        }
    }

    /// Returns false when the peer should be dropped.
    fn poll_one(&mut self, id: PeerId, frames: &mut Vec<MediaData>) -> bool {
        let Some(p) = self.peers.get_mut(&id) else {
            return true;
        };
        loop {
            if !p.rtc.is_alive() {
                return false;
            }
            let Ok(out) = p.rtc.poll_output() else {
                inc(&self.stats.peer_errors);
                return false;
            };
            match out {
                Output::Timeout(t) => {
                    p.next_timeout = t;
                    return true;
                }
                Output::Transmit(t) => self.outbox.push((t.destination, t.contents.to_vec())),
                Output::Event(Event::Connected) => {
                    if !p.connected {
                        p.connected = true;
                        self.stats
                            .listeners
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        self.stats.room_listener(p.room.as_str(), 1);
                    }
                }
                Output::Event(Event::IceConnectionStateChange(
                    str0m::IceConnectionState::Disconnected,
                )) => return false,
                Output::Event(Event::MediaAdded(m)) => {
                    if m.kind != MediaKind::Audio {
                        continue;
                    }
                    if m.direction.is_receiving() && p.mic.is_none() {
                        p.mic = Some(m.mid);
                        // Consent: the member's own offer carried a sending track.
                        self.gates.with(&p.room, |g| g.set_sending(&p.member, true));
                    }
                    if m.direction.is_sending() {
                        if p.floor_out.is_none() {
                            p.floor_out = Some(m.mid);
                        } else if p.staff_out.is_none() {
                            p.staff_out = Some(m.mid);
                        }
                    }
                }
                Output::Event(Event::MediaData(data)) if Some(data.mid) == p.mic => {
                    frames.push(data);
                }
                Output::Event(_) => {}
            }
        }
    }

    /// The gate decides; then the frame goes, unchanged, to every other connected peer of
    /// the room on the floor or staff track.
    fn forward(&mut self, from: PeerId, data: &MediaData, now_ms: Millis, work: &mut Vec<PeerId>) {
        let Some(src) = self.peers.get(&from) else {
            return;
        };
        let (room, member) = (src.room.clone(), src.member.clone());
        let voiced = data.ext_vals.voice_activity.unwrap_or(false);
        let voice = match self.gates.check_frame(&room, &member, now_ms, voiced) {
            Ok(v) => v,
            Err(reason) => {
                self.stats.dropped(reason);
                return;
            }
        };
        let src_time = data.time.rebase(Frequency::FORTY_EIGHT_KHZ).numer();
        for (id, p) in self.peers.iter_mut() {
            if *id == from || p.room != room || !p.connected {
                continue;
            }
            let (mid, clock) = match voice {
                Voice::Floor => (p.floor_out, &mut p.floor_clock),
                Voice::Staff => (p.staff_out, &mut p.staff_clock),
            };
            let Some(mid) = mid else { continue };
            let out_time = next_out_time(clock, from, src_time);
            let Some(writer) = p.rtc.writer(mid) else {
                continue;
            };
            let Some(pt) = writer.match_params(data.params) else {
                continue;
            };
            let writer = match (data.ext_vals.audio_level, data.ext_vals.voice_activity) {
                (Some(level), Some(va)) => writer.audio_level(level, va),
                _ => writer,
            };
            let time = MediaTime::new(out_time, Frequency::FORTY_EIGHT_KHZ);
            if writer
                .write(pt, data.network_time, time, Arc::clone(&data.data))
                .is_ok()
            {
                use std::sync::atomic::Ordering::Relaxed;
                self.stats.forwarded_packets.fetch_add(1, Relaxed);
                self.stats
                    .forwarded_bytes
                    .fetch_add(data.data.len() as u64, Relaxed);
                work.push(*id);
            }
        }
    }
}

/// The media time to write for a frame from `source` at `src_time`: continuous within one
/// source; one frame after the last written frame when the source changes.
fn next_out_time(clock: &mut Option<OutClock>, source: PeerId, src_time: u64) -> u64 {
    let out = match *clock {
        Some(c) if c.source == source => c.out_last.wrapping_add(src_time.wrapping_sub(c.src_last)),
        Some(c) => c.out_last.wrapping_add(FRAME_TICKS),
        None => src_time,
    };
    *clock = Some(OutClock {
        source,
        src_last: src_time,
        out_last: out,
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_track_runs_on_across_a_change_of_speaker() {
        let mut c = None;
        assert_eq!(next_out_time(&mut c, 1, 1_000), 1_000);
        assert_eq!(next_out_time(&mut c, 1, 1_960), 1_960);
        // Speaker 2's clock is elsewhere; the track continues one frame later.
        assert_eq!(next_out_time(&mut c, 2, 900_000), 2_920);
        assert_eq!(next_out_time(&mut c, 2, 900_960), 3_880);
        assert_eq!(next_out_time(&mut c, 1, 5_000), 4_840);
    }
}
