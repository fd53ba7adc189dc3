//! The media task: one UDP socket for every peer, the SFU core, and the handle the
//! gateway uses to signal (`media_offer`, `media_leave`).
//!
//! The task is the SFU's only owner, so no lock guards the peers; the gateway talks to it
//! through a bounded inbox. Time comes from the server's `Clock`, the same timeline the
//! engine's deadlines are on, which is what lets the gate cut at a deadline by itself.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::engine::member::MemberId;
use crate::media::gates::Gates;
use crate::media::sfu::{Limits, MediaError, Sfu};
use crate::media::stats::MediaStats;
use crate::wire::RoomId;

/// Signaling requests waiting for the task. Small: each is answered in microseconds.
const INBOX: usize = 256;
/// Largest datagram read; anything longer is truncated and then refused by str0m.
const MAX_DATAGRAM: usize = 2048;

enum MediaMsg {
    Offer {
        room: RoomId,
        member: MemberId,
        sdp: String,
        reply: oneshot::Sender<Result<String, MediaError>>,
    },
    Leave {
        room: RoomId,
        member: MemberId,
    },
}

/// The gateway's way to the media task. Cheap to clone.
#[derive(Debug, Clone)]
pub struct MediaHandle {
    tx: mpsc::Sender<MediaMsg>,
    local: SocketAddr,
}

impl std::fmt::Debug for MediaMsg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MediaMsg")
    }
}

impl MediaHandle {
    /// The socket's bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Answers a member's SDP offer for `room`.
    pub async fn offer(
        &self,
        room: RoomId,
        member: MemberId,
        sdp: String,
    ) -> Result<String, MediaError> {
        let (reply, rx) = oneshot::channel();
        let msg = MediaMsg::Offer {
            room,
            member,
            sdp,
            reply,
        };
        if self.tx.send(msg).await.is_err() {
            return Err(MediaError::Unavailable);
        }
        rx.await.unwrap_or(Err(MediaError::Unavailable))
    }

    /// Ends a member's audio in `room`. Never waits: a full inbox means the task is gone
    /// or far behind, and the peer then ends by its own timeout.
    pub fn leave(&self, room: RoomId, member: MemberId) {
        let _ = self.tx.try_send(MediaMsg::Leave { room, member });
    }
}

/// What the media task needs.
#[derive(Debug)]
pub struct MediaConfig {
    pub socket: std::net::UdpSocket,
    /// Announced in answers; `None` uses the socket's own address.
    pub public_addr: Option<SocketAddr>,
    pub limits: Limits,
}

/// Starts the media task on an already bound socket (config validated it before binding).
pub fn spawn(
    config: MediaConfig,
    gates: Arc<Gates>,
    stats: Arc<MediaStats>,
    clock: Arc<dyn Clock>,
    cancel: CancellationToken,
) -> std::io::Result<MediaHandle> {
    config.socket.set_nonblocking(true)?;
    let socket = UdpSocket::from_std(config.socket)?;
    let local = socket.local_addr()?;
    let public = config.public_addr.unwrap_or(local);
    let (tx, rx) = mpsc::channel(INBOX);
    let sfu = Sfu::new(config.limits, public, gates, stats);
    tokio::spawn(run(socket, sfu, rx, clock, cancel));
    Ok(MediaHandle { tx, local })
}

async fn run(
    socket: UdpSocket,
    mut sfu: Sfu,
    mut rx: mpsc::Receiver<MediaMsg>,
    clock: Arc<dyn Clock>,
    cancel: CancellationToken,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let deadline = sfu
            .poll_timeout()
            .map(tokio::time::Instant::from_std)
            .unwrap_or_else(|| clock.instant() + std::time::Duration::from_secs(3600));
        tokio::select! {
            () = cancel.cancelled() => return,
            msg = rx.recv() => {
                let Some(msg) = msg else { return };
                let now = clock.instant().into_std();
                match msg {
                    MediaMsg::Offer { room, member, sdp, reply } => {
                        let _ = reply.send(sfu.offer(&room, &member, &sdp, now));
                    }
                    MediaMsg::Leave { room, member } => sfu.leave(&room, &member),
                }
            }
            res = socket.recv_from(&mut buf) => {
                // A read error on UDP (an ICMP port unreachable surfacing) is about one
                // peer's path, never the socket: skip it.
                if let Ok((n, source)) = res {
                    sfu.handle_datagram(source, &buf[..n], clock.instant().into_std(), clock.now());
                }
            }
            () = tokio::time::sleep_until(deadline) => {
                sfu.handle_timeout(clock.instant().into_std(), clock.now());
            }
        }
        for (dest, bytes) in sfu.drain_outbox() {
            // Best effort like any UDP send: a full socket buffer drops the datagram, which
            // RTP tolerates; waiting would stall every other peer.
            let _ = socket.try_send_to(&bytes, dest);
        }
    }
}
