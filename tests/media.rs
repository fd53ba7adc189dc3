//! The SFU over real UDP on loopback, with str0m client peers: the gate's decisions reach
//! (or do not reach) real listeners.
//!
//! The server's media task runs on a real socket and real monotonic time (ICE and DTLS need
//! it), but the gate's timeline (`Clock::now`, the engine's Unix milliseconds) is a test
//! clock, so the deadline is crossed by setting the clock, not by waiting.

// Reason: the client peers are real WebRTC stacks on real sockets; they need real time.
#![allow(clippy::disallowed_methods)]

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use commonground::clock::Clock;
use commonground::engine::event::{Audience, Event, EventKind, ReleaseReason, TurnKind};
use commonground::engine::member::MemberId;
use commonground::media::gate::DropReason;
use commonground::media::{self, Gates, Limits, MediaConfig, MediaError, MediaHandle, MediaStats};
use commonground::time::Millis;
use commonground::wire::RoomId;
use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event as RtcEvent, Input, Output, Rtc};
use tokio_util::sync::CancellationToken;

mod common;

const T0: u64 = 1_000_000;

/// Real monotonic time for str0m; a settable Unix-millisecond timeline for the gate.
#[derive(Debug)]
struct TestClock {
    ms: AtomicU64,
}

impl Clock for TestClock {
    fn now(&self) -> Millis {
        Millis(self.ms.load(Ordering::SeqCst))
    }
    fn instant(&self) -> tokio::time::Instant {
        tokio::time::Instant::now()
    }
}

struct Server {
    handle: MediaHandle,
    gates: Arc<Gates>,
    stats: Arc<MediaStats>,
    clock: Arc<TestClock>,
    room: RoomId,
    _cancel: tokio_util::sync::DropGuard,
}

impl Server {
    fn start(connect_timeout: Duration) -> Server {
        Server::with_limits(Limits {
            max_peers: 16,
            max_peers_per_room: 8,
            connect_timeout,
        })
    }

    fn with_limits(limits: Limits) -> Server {
        let gates = Arc::new(Gates::new());
        let stats = Arc::new(MediaStats::default());
        let clock = Arc::new(TestClock {
            ms: AtomicU64::new(T0),
        });
        let cancel = CancellationToken::new();
        let config = MediaConfig {
            socket: UdpSocket::bind("127.0.0.1:0").unwrap(),
            public_addr: None,
            limits,
        };
        let handle = media::spawn(
            config,
            Arc::clone(&gates),
            Arc::clone(&stats),
            clock.clone(),
            cancel.clone(),
        )
        .unwrap();
        Server {
            handle,
            gates,
            stats,
            clock,
            room: RoomId::hall("e"),
            _cancel: cancel.drop_guard(),
        }
    }

    /// Feeds one engine event the way the room actor's hook does.
    fn follow(&self, kind: EventKind) {
        let ev = Event {
            at: self.clock.now(),
            audience: Audience::Everyone,
            kind,
        };
        self.gates.follow(&self.room, &ev);
    }

    fn set_time(&self, ms: u64) {
        self.clock.ms.store(ms, Ordering::SeqCst);
    }

    fn dropped(&self, r: DropReason) -> u64 {
        self.stats.dropped_count(r)
    }
}

/// A str0m peer playing a browser: one sendrecv audio m-line (mic up, floor down) and one
/// recvonly (staff down), or only receiving m-lines for a listener.
struct Client {
    name: &'static str,
    tag: u8,
    rtc: Rtc,
    sock: UdpSocket,
    addr: SocketAddr,
    mic: Option<Mid>,
    floor: Mid,
    staff: Mid,
    connected: bool,
    ts: u64,
    /// (track, first payload byte = the speaker's tag) of every frame received.
    heard: Vec<(Mid, u8)>,
}

impl Client {
    fn new(name: &'static str, tag: u8, sends: bool) -> (Client, String, SdpPendingOffer) {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_nonblocking(true).unwrap();
        let addr = sock.local_addr().unwrap();
        let mut rtc = Rtc::builder()
            .clear_codecs()
            .enable_opus(true, false)
            .build(Instant::now());
        rtc.add_local_candidate(Candidate::host(addr, "udp").unwrap());
        let mut change = rtc.sdp_api();
        let dir = if sends {
            Direction::SendRecv
        } else {
            Direction::RecvOnly
        };
        let floor = change.add_media(MediaKind::Audio, dir, None, None, None);
        let staff = change.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
        let (offer, pending) = change.apply().unwrap();
        let client = Client {
            name,
            tag,
            rtc,
            sock,
            addr,
            mic: sends.then_some(floor),
            floor,
            staff,
            connected: false,
            ts: 0,
            heard: Vec::new(),
        };
        (client, offer.to_sdp_string(), pending)
    }

    async fn join(server: &Server, name: &'static str, tag: u8, sends: bool) -> Client {
        let (mut c, offer, pending) = Client::new(name, tag, sends);
        let answer = server
            .handle
            .offer(server.room.clone(), MemberId::new(name), offer)
            .await
            .unwrap();
        c.accept(&answer, pending);
        c
    }

    fn accept(&mut self, answer: &str, pending: SdpPendingOffer) {
        let answer = SdpAnswer::from_sdp_string(answer).unwrap();
        self.rtc.sdp_api().accept_answer(pending, answer).unwrap();
    }

    fn step(&mut self) {
        let mut buf = [0u8; 2048];
        loop {
            match self.sock.recv_from(&mut buf) {
                Ok((n, source)) => {
                    let Ok(contents) = buf[..n].try_into() else {
                        continue;
                    };
                    let input = Input::Receive(
                        Instant::now(),
                        Receive {
                            proto: Protocol::Udp,
                            source,
                            destination: self.addr,
                            contents,
                        },
                    );
                    self.rtc.handle_input(input).unwrap();
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => continue,
            }
        }
        self.rtc
            .handle_input(Input::Timeout(Instant::now()))
            .unwrap();
        loop {
            match self.rtc.poll_output().unwrap() {
                Output::Timeout(_) => break,
                Output::Transmit(t) => {
                    let _ = self.sock.send_to(&t.contents, t.destination);
                }
                Output::Event(RtcEvent::Connected) => self.connected = true,
                Output::Event(RtcEvent::MediaData(d)) => self.heard.push((d.mid, d.data[0])),
                Output::Event(_) => {}
            }
        }
    }

    /// Sends `n` Opus-sized frames (80 bytes, 20 ms each) tagged with this client's tag.
    fn send(&mut self, n: usize) {
        let mid = self.mic.expect("a sending client");
        let pt = self
            .rtc
            .codec_config()
            .find(|p| p.spec().codec == Codec::Opus)
            .unwrap()
            .pt();
        for _ in 0..n {
            let writer = self.rtc.writer(mid).unwrap().audio_level(-20, true);
            let time = MediaTime::new(self.ts, Frequency::FORTY_EIGHT_KHZ);
            writer
                .write(pt, Instant::now(), time, vec![self.tag; 80])
                .unwrap();
            self.ts += 960;
        }
    }

    /// Sends `n` frames marked as silence (RFC 6464 level -127 dBov, no voice activity):
    /// a member holding the floor without talking.
    fn send_silence(&mut self, n: usize) {
        let mid = self.mic.expect("a sending client");
        let pt = self
            .rtc
            .codec_config()
            .find(|p| p.spec().codec == Codec::Opus)
            .unwrap()
            .pt();
        for _ in 0..n {
            let writer = self.rtc.writer(mid).unwrap().audio_level(-127, false);
            let time = MediaTime::new(self.ts, Frequency::FORTY_EIGHT_KHZ);
            writer
                .write(pt, Instant::now(), time, vec![self.tag; 80])
                .unwrap();
            self.ts += 960;
        }
    }

    fn heard_on(&self, track: Mid) -> Vec<u8> {
        let mut tags: Vec<u8> = self
            .heard
            .iter()
            .filter(|(m, _)| *m == track)
            .map(|(_, t)| *t)
            .collect();
        tags.dedup();
        tags
    }

    fn count_from(&self, tag: u8) -> usize {
        self.heard.iter().filter(|(_, t)| *t == tag).count()
    }
}

/// Steps every client until `done` holds; fails after a generous bound (a hang, not a
/// performance threshold).
async fn drive_until(
    clients: &mut [&mut Client],
    what: &str,
    done: impl Fn(&[&mut Client]) -> bool,
) {
    for _ in 0..5_000 {
        for c in clients.iter_mut() {
            c.step();
        }
        if done(clients) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("gave up waiting for: {what}");
}

/// Steps every client for a while, for asserting that nothing (more) arrives.
async fn drive_for(clients: &mut [&mut Client], rounds: usize) {
    for _ in 0..rounds {
        for c in clients.iter_mut() {
            c.step();
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn id(s: &str) -> MemberId {
    MemberId::new(s)
}

fn granted(member: &str, turn: TurnKind, deadline: Option<u64>) -> EventKind {
    EventKind::FloorGranted {
        member: id(member),
        name: member.into(),
        turn,
        deadline: deadline.map(Millis),
        responding_to: None,
        by: None,
    }
}

fn released(member: &str, reason: ReleaseReason) -> EventKind {
    EventKind::FloorReleased {
        member: id(member),
        turn: TurnKind::Own,
        reason,
        held_ms: 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_voice_the_engine_allows_reaches_the_listeners() {
    let s = Server::start(Duration::from_secs(30));
    let mut a = Client::join(&s, "a", 1, true).await;
    let mut b = Client::join(&s, "b", 2, true).await;
    let mut c = Client::join(&s, "c", 3, true).await;
    let mut f = Client::join(&s, "f", 4, true).await;
    let mut o = Client::join(&s, "o", 5, false).await;
    {
        let mut all = [&mut a, &mut b, &mut c, &mut f, &mut o];
        drive_until(&mut all, "every peer connected", |cs| {
            cs.iter().all(|c| c.connected)
        })
        .await;
    }
    let stats = Arc::clone(&s.stats);
    drive_until(&mut [&mut a], "the server saw five listeners", |_| {
        stats.listeners.load(Ordering::SeqCst) == 5
    })
    .await;
    // And per room in /metrics.
    assert_eq!(stats.room_listeners(s.room.as_str()), 5);

    // a holds the floor; b and c talk at the same time and reach nobody.
    s.follow(granted("a", TurnKind::Own, Some(T0 + 60_000)));
    a.send(5);
    b.send(5);
    c.send(5);
    {
        let mut all = [&mut a, &mut b, &mut c, &mut f, &mut o];
        drive_until(&mut all, "every listener heard a's 5 frames", |cs| {
            cs.iter()
                .filter(|c| c.name != "a")
                .all(|c| c.count_from(1) == 5)
        })
        .await;
        drive_for(&mut all, 50).await;
    }
    for l in [&b, &c, &f, &o] {
        assert_eq!(l.heard_on(l.floor), [1], "{} on the floor track", l.name);
        assert!(
            l.heard_on(l.staff).is_empty(),
            "{} on the staff track",
            l.name
        );
    }
    assert!(a.heard.is_empty(), "the speaker does not hear herself");
    assert_eq!(s.dropped(DropReason::NotOnFloor), 10);

    // The turn's deadline: the gate cuts by itself, before any release event.
    s.set_time(T0 + 60_000);
    a.send(3);
    {
        let mut all = [&mut a, &mut b, &mut c, &mut f, &mut o];
        drive_until(&mut all, "the server dropped a's late frames", |_| {
            s.dropped(DropReason::Expired) == 3
        })
        .await;
        drive_for(&mut all, 50).await;
    }
    assert_eq!(o.count_from(1), 5, "nothing after the deadline");

    // The next speaker is heard on the same floor track.
    s.follow(released("a", ReleaseReason::Expired));
    s.follow(granted("b", TurnKind::Own, Some(T0 + 120_000)));
    b.send(4);
    {
        let mut all = [&mut a, &mut b, &mut c, &mut f, &mut o];
        drive_until(&mut all, "b heard by all", |cs| {
            cs.iter()
                .filter(|c| c.name != "b")
                .all(|c| c.count_from(2) == 4)
        })
        .await;
    }
    assert_eq!(o.heard_on(o.floor), [1, 2]);

    // A mute mid-turn stops b at once.
    s.follow(EventKind::Muted {
        member: id("b"),
        by: id("m"),
    });
    b.send(2);
    {
        let mut all = [&mut a, &mut b, &mut c, &mut f, &mut o];
        drive_until(&mut all, "b's frames dropped as muted", |_| {
            s.dropped(DropReason::Muted) == 2
        })
        .await;
        drive_for(&mut all, 30).await;
    }
    assert_eq!(o.count_from(2), 4);

    // c holds the floor; staff f interjects and is heard beside c on the staff track.
    s.follow(released("b", ReleaseReason::Muted));
    s.follow(granted("c", TurnKind::Own, None));
    s.follow(EventKind::Interjected {
        member: id("f"),
        on: true,
        held_ms: 0,
    });
    c.send(3);
    f.send(3);
    {
        let mut all = [&mut a, &mut b, &mut c, &mut f, &mut o];
        drive_until(&mut all, "c and f both heard", |cs| {
            cs.iter()
                .filter(|x| x.name == "o" || x.name == "a")
                .all(|x| x.count_from(3) == 3 && x.count_from(4) == 3)
        })
        .await;
    }
    assert_eq!(o.heard_on(o.floor), [1, 2, 3]);
    assert_eq!(o.heard_on(o.staff), [4]);

    // Reflect-back: the summariser a takes the voice, c is cut, then back to c to clarify.
    s.follow(EventKind::Interjected {
        member: id("f"),
        on: false,
        held_ms: 1_000,
    });
    s.follow(released("c", ReleaseReason::Yielded));
    s.follow(granted("a", TurnKind::Reflect, Some(T0 + 200_000)));
    a.send(2);
    c.send(2);
    f.send(1);
    {
        let mut all = [&mut a, &mut b, &mut c, &mut f, &mut o];
        drive_until(&mut all, "a's reflect-back heard", |cs| {
            cs.iter().find(|x| x.name == "o").unwrap().count_from(1) == 7
        })
        .await;
        drive_for(&mut all, 30).await;
    }
    assert_eq!(o.count_from(3), 3, "c is not heard during the reflect-back");
    assert_eq!(o.count_from(4), 3, "f stopped interjecting");
    s.follow(released("a", ReleaseReason::Yielded));
    s.follow(granted("c", TurnKind::Clarify, Some(T0 + 220_000)));
    c.send(2);
    {
        let mut all = [&mut a, &mut b, &mut c, &mut f, &mut o];
        drive_until(&mut all, "c's clarification heard", |cs| {
            cs.iter().find(|x| x.name == "o").unwrap().count_from(3) == 5
        })
        .await;
    }
    assert_eq!(o.heard_on(o.floor), [1, 2, 3, 1, 3]);
    let metrics = {
        let mut out = String::new();
        s.stats.render(&mut out);
        out
    };
    assert!(metrics.contains("commonground_media_dropped_packets_total{reason=\"muted\"} 2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_without_a_sending_track_is_never_forwarded() {
    let s = Server::start(Duration::from_secs(30));
    let mut a = Client::join(&s, "a", 1, true).await;
    let mut o = Client::join(&s, "o", 5, false).await;
    {
        let mut all = [&mut a, &mut o];
        drive_until(&mut all, "connected", |cs| cs.iter().all(|c| c.connected)).await;
    }
    // Even granted the floor, a member who joined to listen only has nothing forwarded:
    // the server holds no sending track of theirs (consent).
    s.follow(granted("o", TurnKind::Own, None));
    assert_eq!(
        s.gates
            .with(&s.room, |g| g.may_forward(&id("o"), Millis(T0))),
        Err(DropReason::NoConsent)
    );
    assert_eq!(
        s.gates
            .with(&s.room, |g| g.may_forward(&id("a"), Millis(T0))),
        Err(DropReason::NotOnFloor)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_offers_get_stable_codes_and_the_room_keeps_working() {
    let s = Server::start(Duration::from_secs(30));
    let res = s
        .handle
        .offer(s.room.clone(), id("x"), "v=0\r\nthis is not sdp".into())
        .await;
    assert!(matches!(res, Err(MediaError::Invalid(_))), "{res:?}");
    assert_eq!(res.unwrap_err().code(), "invalid");
    let huge = "a".repeat(media::MAX_SDP_BYTES + 1);
    let res = s.handle.offer(s.room.clone(), id("x"), huge).await;
    assert_eq!(res, Err(MediaError::TooLarge));
    assert_eq!(MediaError::TooLarge.code(), "too_large");

    // Garbage datagrams from an unknown address are dropped and counted; a real peer
    // connects and is heard as usual.
    let stray = UdpSocket::bind("127.0.0.1:0").unwrap();
    for n in 0..50u8 {
        let _ = stray.send_to(&[n; 100], s.handle.local_addr());
    }
    // A STUN-looking binding request with an unknown ufrag.
    let mut stun = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
    stun.extend_from_slice(&[7; 12]);
    let _ = stray.send_to(&stun, s.handle.local_addr());
    let mut a = Client::join(&s, "a", 1, true).await;
    let mut o = Client::join(&s, "o", 5, false).await;
    {
        let mut all = [&mut a, &mut o];
        drive_until(&mut all, "connected", |cs| cs.iter().all(|c| c.connected)).await;
    }
    s.follow(granted("a", TurnKind::Own, None));
    a.send(3);
    {
        let mut all = [&mut a, &mut o];
        drive_until(&mut all, "heard", |cs| cs[1].count_from(1) == 3).await;
    }
    let refused = s.stats.dropped_unknown.load(Ordering::SeqCst)
        + s.stats.dropped_malformed.load(Ordering::SeqCst);
    assert_eq!(refused, 51, "every stray datagram is counted by reason");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_never_completes_ice_is_dropped_by_its_timeout() {
    let s = Server::start(Duration::from_millis(300));
    // The offer is answered, but this client never steps: no STUN, no DTLS.
    let _silent = Client::join(&s, "z", 9, true).await;
    assert_eq!(s.stats.peers.load(Ordering::SeqCst), 1);
    let stats = Arc::clone(&s.stats);
    let mut other = Client::new("w", 8, false).0;
    drive_until(&mut [&mut other], "the silent peer timed out", |_| {
        stats.ice_timeouts.load(Ordering::SeqCst) == 1
    })
    .await;
    assert_eq!(s.stats.peers.load(Ordering::SeqCst), 0);
    assert_eq!(
        s.gates
            .with(&s.room, |g| g.may_forward(&id("z"), Millis(T0))),
        Err(DropReason::NoConsent),
        "a dropped peer takes its consent with it"
    );
}

/// Joins a member's WebSocket connection to the hall's audio with a str0m peer.
async fn ws_audio(ws: &mut common::Client, name: &'static str, tag: u8, sends: bool) -> Client {
    let (mut peer, offer, pending) = Client::new(name, tag, sends);
    ws.send(serde_json::json!({"type": "media_offer", "id": "m", "sdp": offer}))
        .await;
    let answer = ws
        .recv_until(|v| v["type"] == "media_answer" || v["type"] == "error")
        .await;
    assert_eq!(answer["type"], "media_answer", "{answer}");
    assert_eq!(answer["room"], ws.room.as_str());
    assert_eq!(answer["id"], "m");
    peer.accept(answer["sdp"].as_str().unwrap(), pending);
    peer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_websocket_the_engine_s_floor_decides_who_is_heard() {
    let server = common::start_server(common::test_config()).await;
    let event = server.create_event("test-open").await;
    let tf = server.invite(&event, "facilitator", "Fay", None).await;
    let ta = server
        .invite(&event, "participant", "Ana", Some("Dayton, OH"))
        .await;
    let tb = server
        .invite(&event, "participant", "Ben", Some("Boulder, CO"))
        .await;
    let mut wf = server.join(&tf).await;
    let mut wa = server.join(&ta).await;
    let mut wb = server.join(&tb).await;
    let mut f = ws_audio(&mut wf, "f", 4, true).await;
    let mut a = ws_audio(&mut wa, "a", 1, true).await;
    let mut b = ws_audio(&mut wb, "b", 2, true).await;
    drive_until(&mut [&mut f, &mut a, &mut b], "connected", |cs| {
        cs.iter().all(|c| c.connected)
    })
    .await;

    // Before the session starts nobody holds the floor: Ana's voice reaches nobody.
    a.send(3);
    drive_for(&mut [&mut f, &mut a, &mut b], 50).await;
    assert_eq!(f.count_from(1) + b.count_from(1), 0);

    wf.ok(serde_json::json!({"type": "start"})).await;
    wa.ok(serde_json::json!({"type": "raise_hand"})).await;
    let granted = wa.event("floor_granted").await;
    assert_eq!(granted["event"]["member"], wa.member.as_str());
    a.send(5);
    b.send(5);
    drive_until(
        &mut [&mut f, &mut a, &mut b],
        "Ana heard by Fay and Ben",
        |cs| cs[0].count_from(1) == 5 && cs[2].count_from(1) == 5,
    )
    .await;
    drive_for(&mut [&mut f, &mut a, &mut b], 50).await;
    assert_eq!(
        f.count_from(2) + a.count_from(2),
        0,
        "Ben is not on the floor"
    );

    // The facilitator interjects: everyone sees the event, and Fay is heard on the staff
    // track while Ana keeps the floor.
    wf.ok(serde_json::json!({"type": "interject", "on": true}))
        .await;
    let ev = wb.event("interjected").await;
    assert_eq!(ev["event"]["on"], true);
    f.send(3);
    a.send(2);
    drive_until(
        &mut [&mut f, &mut a, &mut b],
        "Fay and Ana both heard",
        |cs| cs[2].count_from(4) == 3 && cs[2].count_from(1) == 7,
    )
    .await;
    assert_eq!(b.heard_on(b.staff), [4]);

    // Ana yields; a media_leave ends Ben's audio and acks.
    wa.ok(serde_json::json!({"type": "yield_floor"})).await;
    wb.ok(serde_json::json!({"type": "media_leave"})).await;
    let dropped = server
        .metric("commonground_media_dropped_packets_total{reason=\"not_on_floor\"}")
        .await;
    assert!(
        dropped >= 8.0,
        "Ben's 5 and Ana's 3 early frames: {dropped}"
    );
    assert!(
        server
            .metric("commonground_media_forwarded_packets_total")
            .await
            >= 17.0
    );
}

#[tokio::test]
async fn signaling_refusals_have_stable_codes() {
    let server = common::start_server(common::test_config()).await;
    let event = server.create_event("test-open").await;
    let token = server.invite(&event, "observer", "Obi", None).await;
    let mut ws = server.join(&token).await;
    let code = |v: &serde_json::Value| v["code"].as_str().unwrap_or_default().to_string();
    ws.send(serde_json::json!({"type": "media_offer", "id": 1, "sdp": "not sdp"}))
        .await;
    let r = ws.recv_until(|v| v["id"] == 1).await;
    assert_eq!(code(&r), "invalid", "{r}");
    // Over the SDP limit but under the WebSocket message limit, so the media layer refuses it.
    let big = "a".repeat(media::MAX_SDP_BYTES + 1);
    ws.send(serde_json::json!({"type": "media_offer", "id": 2, "sdp": big}))
        .await;
    let r = ws.recv_until(|v| v["id"] == 2).await;
    assert_eq!(code(&r), "too_large", "{r}");
    ws.send(serde_json::json!({"type": "media_offer", "id": 3}))
        .await;
    let r = ws.recv_until(|v| v["id"] == 3).await;
    assert_eq!(code(&r), "invalid", "a missing sdp: {r}");
    ws.send(serde_json::json!({"type": "media_offer", "id": 4, "sdp": "x", "room": "nope"}))
        .await;
    let r = ws.recv_until(|v| v["id"] == 4).await;
    assert_eq!(code(&r), "unknown_room", "{r}");
    // An observer may listen: a receive-only offer is answered.
    let mut peer = ws_audio(&mut ws, "o", 5, false).await;
    drive_until(&mut [&mut peer], "the observer's peer connected", |cs| {
        cs[0].connected
    })
    .await;

    let mut config = common::test_config();
    config.media = false;
    let off = common::start_server(config).await;
    let event = off.create_event("test-open").await;
    let token = off
        .invite(&event, "participant", "Ana", Some("Dayton, OH"))
        .await;
    let mut ws = off.join(&token).await;
    ws.send(serde_json::json!({"type": "media_offer", "id": 1, "sdp": "v=0"}))
        .await;
    let r = ws.recv_until(|v| v["id"] == 1).await;
    assert_eq!(code(&r), "media_unavailable", "{r}");
}

fn phase_started(deadline: Option<u64>) -> EventKind {
    EventKind::PhaseStarted {
        index: 0,
        id: "p".into(),
        kind: "presentation".into(),
        title: "P".into(),
        prompt: None,
        deadline: deadline.map(Millis),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_presenter_is_cut_at_the_phase_deadline_and_a_fishbowl_speaker_at_the_swap() {
    let s = Server::start(Duration::from_secs(30));
    let mut a = Client::join(&s, "a", 1, true).await;
    let mut b = Client::join(&s, "b", 2, true).await;
    let mut o = Client::join(&s, "o", 5, false).await;
    drive_until(&mut [&mut a, &mut b, &mut o], "connected", |cs| {
        cs.iter().all(|c| c.connected)
    })
    .await;
    // A presentation turn has no deadline of its own: the phase's is the cut.
    s.follow(phase_started(Some(T0 + 10_000)));
    s.follow(granted("a", TurnKind::Presentation, None));
    a.send(3);
    drive_until(&mut [&mut a, &mut b, &mut o], "the presenter heard", |cs| {
        cs[2].count_from(1) == 3
    })
    .await;
    s.set_time(T0 + 10_000);
    a.send(2);
    drive_until(
        &mut [&mut a, &mut b, &mut o],
        "cut at the phase deadline",
        |_| s.dropped(DropReason::Expired) == 2,
    )
    .await;

    // A fishbowl: b's turn would run to T0 + 100 s, but the sides swap at T0 + 20 s.
    s.follow(released("a", ReleaseReason::PhaseEnded));
    s.follow(EventKind::PhaseEnded {
        index: 0,
        id: "p".into(),
    });
    s.follow(phase_started(None));
    s.follow(EventKind::SideChanged {
        side: "Boulder".into(),
        until: Millis(T0 + 20_000),
    });
    s.follow(granted("b", TurnKind::Own, Some(T0 + 100_000)));
    b.send(2);
    drive_until(
        &mut [&mut a, &mut b, &mut o],
        "the inner speaker heard",
        |cs| cs[2].count_from(2) == 2,
    )
    .await;
    s.set_time(T0 + 20_000);
    b.send(2);
    drive_until(&mut [&mut a, &mut b, &mut o], "cut at the swap", |_| {
        s.dropped(DropReason::Expired) == 4
    })
    .await;
    drive_for(&mut [&mut a, &mut b, &mut o], 30).await;
    assert_eq!((o.count_from(1), o.count_from(2)), (3, 2));
}

/// A well-formed STUN binding request with a ufrag no peer has: 20-byte header, USERNAME,
/// PRIORITY and a MESSAGE-INTEGRITY nobody can verify.
fn foreign_stun(n: u32) -> Vec<u8> {
    let mut m = vec![0x00, 0x01, 0x00, 0x2c, 0x21, 0x12, 0xa4, 0x42];
    m.extend_from_slice(&n.to_be_bytes());
    m.extend_from_slice(&[7; 8]);
    m.extend_from_slice(&[0x00, 0x06, 0x00, 0x08]);
    m.extend_from_slice(b"evil:bad");
    m.extend_from_slice(&[0x00, 0x24, 0x00, 0x04, 0x6e, 0x00, 0x1e, 0xff]);
    m.extend_from_slice(&[0x00, 0x08, 0x00, 0x14]);
    m.extend_from_slice(&[9; 20]);
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stun_flood_and_dtls_garbage_do_not_disturb_the_established_peers() {
    let s = Server::start(Duration::from_secs(30));
    let mut a = Client::join(&s, "a", 1, true).await;
    let mut o = Client::join(&s, "o", 5, false).await;
    drive_until(&mut [&mut a, &mut o], "connected", |cs| {
        cs.iter().all(|c| c.connected)
    })
    .await;
    s.follow(granted("a", TurnKind::Own, None));

    // One address floods foreign STUN while a speaks: 40 rounds of 50 datagrams, each
    // round followed by one of a's frames.
    let flood = UdpSocket::bind("127.0.0.1:0").unwrap();
    let server = s.handle.local_addr();
    for round in 0..40u32 {
        for i in 0..50 {
            let _ = flood.send_to(&foreign_stun(round * 50 + i), server);
        }
        a.send(1);
        for c in [&mut a, &mut o] {
            c.step();
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    drive_until(&mut [&mut a, &mut o], "every frame of a's heard", |cs| {
        cs[1].count_from(1) == 40
    })
    .await;
    let limited = s.stats.dropped_rate_limited.load(Ordering::SeqCst);
    let unknown = s.stats.dropped_unknown.load(Ordering::SeqCst);
    let malformed = s.stats.dropped_malformed.load(Ordering::SeqCst);
    assert_eq!(malformed, 0, "the flood is well-formed STUN");
    assert!(
        limited > 1_000,
        "the flood was cut at its source: {limited}"
    );
    assert!(
        unknown <= 64 + 40,
        "past its burst the flood costs no peer scan: {unknown}"
    );
    assert_eq!(s.stats.tracked_sources.load(Ordering::SeqCst), 1);

    // DTLS garbage from a's own address: a record header and junk. Nobody is dropped and
    // a stays heard.
    for n in 0..20u8 {
        let mut junk = vec![22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, n, 0, 16];
        junk.extend_from_slice(&[n; 16]);
        let _ = a.sock.send_to(&junk, server);
        let _ = a.sock.send_to(&[23, 0xfe, 0xfd, n, n, n], server);
    }
    a.send(3);
    drive_until(&mut [&mut a, &mut o], "a heard after the garbage", |cs| {
        cs[1].count_from(1) == 43
    })
    .await;
    assert_eq!(s.stats.peers.load(Ordering::SeqCst), 2);
    assert_eq!(s.stats.peer_errors.load(Ordering::SeqCst), 0);
    let mut metrics = String::new();
    s.stats.render(&mut metrics);
    assert!(metrics.contains(&format!(
        "commonground_media_dropped_packets_total{{reason=\"source_rate_limited\"}} {limited}"
    )));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_limits_refuse_with_full_and_a_leave_frees_a_place() {
    let s = Server::with_limits(Limits {
        max_peers: 3,
        max_peers_per_room: 2,
        connect_timeout: Duration::from_secs(30),
    });
    let other = RoomId::hall("other");
    let offer = |room: &RoomId, who: &str| {
        let (_, sdp, _) = Client::new("x", 0, false);
        s.handle.offer(room.clone(), id(who), sdp)
    };
    assert!(offer(&s.room, "a").await.is_ok());
    assert!(offer(&s.room, "b").await.is_ok());
    assert_eq!(
        offer(&s.room, "c").await,
        Err(MediaError::Full),
        "room limit"
    );
    assert_eq!(MediaError::Full.code(), "full");
    assert!(
        offer(&s.room, "a").await.is_ok(),
        "a member's new offer replaces their old peer"
    );
    assert!(offer(&other, "d").await.is_ok(), "another room has room");
    assert_eq!(
        offer(&other, "e").await,
        Err(MediaError::Full),
        "server limit"
    );
    s.handle.leave(s.room.clone(), id("b"));
    assert!(offer(&other, "e").await.is_ok(), "b's leave freed a place");
    assert_eq!(s.stats.peers.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn the_room_peer_flag_is_enforced_over_the_websocket() {
    let mut config = common::test_config();
    config.media_max_room_peers = 1;
    let server = common::start_server(config).await;
    let event = server.create_event("test-open").await;
    let ta = server
        .invite(&event, "participant", "Ana", Some("Dayton, OH"))
        .await;
    let tb = server
        .invite(&event, "participant", "Ben", Some("Boulder, CO"))
        .await;
    let mut wa = server.join(&ta).await;
    let mut wb = server.join(&tb).await;
    let _a = ws_audio(&mut wa, "a", 1, true).await;
    let (_, offer, _) = Client::new("b", 2, true);
    wb.send(serde_json::json!({"type": "media_offer", "id": 9, "sdp": offer}))
        .await;
    let r = wb.recv_until(|v| v["id"] == 9).await;
    assert_eq!(
        (r["type"].as_str(), r["code"].as_str()),
        (Some("error"), Some("full")),
        "{r}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voiced_time_counts_forwarded_voice_not_silence_on_the_floor() {
    let s = Server::start(Duration::from_secs(30));
    let mut a = Client::join(&s, "a", 1, true).await;
    let mut b = Client::join(&s, "b", 2, true).await;
    let mut o = Client::join(&s, "o", 5, false).await;
    drive_until(&mut [&mut a, &mut b, &mut o], "connected", |cs| {
        cs.iter().all(|c| c.connected)
    })
    .await;
    // a talks for 10 frames on the floor; b, not on the floor, talks too.
    s.follow(granted("a", TurnKind::Own, Some(T0 + 60_000)));
    a.send(10);
    b.send(4);
    drive_until(&mut [&mut a, &mut b, &mut o], "a heard", |cs| {
        cs[2].count_from(1) == 10
    })
    .await;
    // Past the deadline a's voice is not forwarded, so it is not voiced floor time either.
    s.set_time(T0 + 60_000);
    a.send(5);
    drive_until(
        &mut [&mut a, &mut b, &mut o],
        "a's late frames dropped",
        |_| s.dropped(DropReason::Expired) == 5,
    )
    .await;
    // b holds the floor for a minute of the injected clock, in silence.
    s.follow(released("a", ReleaseReason::Expired));
    s.follow(granted("b", TurnKind::Own, Some(T0 + 120_000)));
    b.send_silence(10);
    drive_until(
        &mut [&mut a, &mut b, &mut o],
        "b's silence forwarded",
        |cs| cs[2].count_from(2) == 10,
    )
    .await;
    s.set_time(T0 + 119_000);
    b.send_silence(2);
    drive_until(&mut [&mut a, &mut b, &mut o], "more silence", |cs| {
        cs[2].count_from(2) == 12
    })
    .await;
    assert_eq!(
        s.gates.pending_voiced_ms(&s.room, &id("a")),
        200,
        "10 frames of 20 ms"
    );
    assert_eq!(
        s.gates.pending_voiced_ms(&s.room, &id("b")),
        0,
        "silence is not voiced"
    );
    assert_eq!(s.gates.pending_voiced_ms(&s.room, &id("o")), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_shows_voiced_time_beside_floor_time() {
    let server = common::start_server(common::test_config()).await;
    let event = server.create_event("test-open").await;
    let tf = server.invite(&event, "facilitator", "Fay", None).await;
    let ta = server
        .invite(&event, "participant", "Ana", Some("Dayton, OH"))
        .await;
    let tb = server
        .invite(&event, "participant", "Ben", Some("Boulder, CO"))
        .await;
    let mut wf = server.join(&tf).await;
    let mut wa = server.join(&ta).await;
    let mut wb = server.join(&tb).await;
    let mut f = ws_audio(&mut wf, "f", 4, false).await;
    let mut a = ws_audio(&mut wa, "a", 1, true).await;
    let mut b = ws_audio(&mut wb, "b", 2, true).await;
    drive_until(&mut [&mut f, &mut a, &mut b], "connected", |cs| {
        cs.iter().all(|c| c.connected)
    })
    .await;
    wf.ok(serde_json::json!({"type": "start"})).await;
    wa.ok(serde_json::json!({"type": "raise_hand"})).await;
    wa.event("floor_granted").await;
    a.send(6);
    drive_until(&mut [&mut f, &mut a, &mut b], "Ana heard", |cs| {
        cs[0].count_from(1) == 6
    })
    .await;
    wa.ok(serde_json::json!({"type": "yield_floor"})).await;
    // The live equity view has the voice as soon as the turn ends.
    let eq = wf.event("equity_updated").await;
    assert_eq!(eq["event"]["total_voiced_ms"], 120, "{eq}");
    wb.ok(serde_json::json!({"type": "raise_hand"})).await;
    wb.event("floor_granted").await;
    b.send_silence(6);
    drive_until(
        &mut [&mut f, &mut a, &mut b],
        "Ben's silence forwarded",
        |cs| cs[0].count_from(2) == 6,
    )
    .await;
    wb.ok(serde_json::json!({"type": "yield_floor"})).await;

    let res = server
        .org("GET", &format!("/api/events/{event}/report"), None)
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let report = res.json();
    let person = |m: &str| {
        report["equity"]["people"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["member"] == m)
            .unwrap_or_else(|| panic!("{m} in {report}"))
            .clone()
    };
    let (ana, ben) = (person(wa.member.as_str()), person(wb.member.as_str()));
    assert_eq!(ana["voiced_ms"], 120, "{ana}");
    assert_eq!(ana["turns"], 1);
    assert_eq!(ben["turns"], 1, "Ben held the floor");
    assert_eq!(ben["voiced_ms"].as_u64().unwrap_or(0), 0, "{ben}");
    let html = server
        .org(
            "GET",
            &format!("/api/events/{event}/report?format=html"),
            None,
        )
        .await;
    assert!(
        html.body.contains("s voiced)"),
        "voiced time in the HTML report"
    );
}

/// A server keeping its journal in `dir` (the SQLite default), media on.
fn durable_config(dir: &std::path::Path) -> commonground::config::Config {
    let mut config = common::test_config();
    config.ephemeral = false;
    config.data_dir = dir.to_path_buf();
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voiced_time_is_journaled_and_survives_a_restart() {
    let dir = std::env::temp_dir().join(format!(
        "cg-voiced-{}-{}",
        std::process::id(),
        T0 + u64::from(std::process::id() % 1000)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let server = common::start_server(durable_config(&dir)).await;
    let event = server.create_event("test-open").await;
    let tf = server.invite(&event, "facilitator", "Fay", None).await;
    let ta = server
        .invite(&event, "participant", "Ana", Some("Dayton, OH"))
        .await;
    let mut wf = server.join(&tf).await;
    let mut wa = server.join(&ta).await;
    let mut f = ws_audio(&mut wf, "f", 4, false).await;
    let mut a = ws_audio(&mut wa, "a", 1, true).await;
    drive_until(&mut [&mut f, &mut a], "connected", |cs| {
        cs.iter().all(|c| c.connected)
    })
    .await;
    wf.ok(serde_json::json!({"type": "start"})).await;
    wa.ok(serde_json::json!({"type": "raise_hand"})).await;
    wa.event("floor_granted").await;
    a.send(7);
    drive_until(&mut [&mut f, &mut a], "Ana heard", |cs| {
        cs[0].count_from(1) == 7
    })
    .await;
    // Acknowledged after the voice before it was journaled.
    wa.ok(serde_json::json!({"type": "yield_floor"})).await;
    let ana = wa.member.clone();
    drop((wf, wa, f, a));
    server.stop().await.unwrap();

    let server = common::start_server(durable_config(&dir)).await;
    let res = server
        .org("GET", &format!("/api/events/{event}/report"), None)
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let report = res.json();
    let person = report["equity"]["people"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["member"] == ana.as_str())
        .unwrap_or_else(|| panic!("Ana in {report}"))
        .clone();
    assert_eq!(person["voiced_ms"], 140, "{person}");
    assert_eq!(report["equity"]["total_voiced_ms"], 140);
    server.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
