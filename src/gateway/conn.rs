//! One WebSocket connection: a reader (hello in `hello.rs`, commands, heartbeats) and a
//! writer (`writer.rs`) fed by the connection's byte-bounded outbound queue, each its own
//! task (so a frame pushed by a room wakes only the writer).
//!
//! The reader never writes to the socket: replies, events and close frames all go through
//! the queue, so their order is the order they were queued. Commands are forwarded to the
//! room one at a time and answered with `ack` or `error`. A bad frame gets an `error` and
//! changes nothing; only repeated abuse (more than `MAX_BAD_FRAMES` in `BAD_FRAME_WINDOW`)
//! closes the connection.
//!
//! In cluster mode the connection talks to its rooms through this node's links (see
//! `cluster::node`), whichever node owns them; a forwarded command that gets no answer
//! within `FORWARD_WAIT` is answered `unavailable`, never left hanging.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, Utf8Bytes, WebSocket};
use futures_util::stream::SplitStream;
use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::task::AbortOnDropHandle;

use crate::bus::{ConnId, Outbound};
use crate::metrics::Metrics;
use crate::room::ConnMsg;
use crate::room::{RoomHandle, RoomMsg};
use crate::state::AppState;
use crate::wire::CloseReason;
use crate::wire::ErrorCode;
use crate::wire::RoomId;
use crate::wire::{parse_client, ClientId, ClientMsg, MediaReq, ServerMsg, StatusLevel};

/// Bad frames tolerated within `BAD_FRAME_WINDOW` before closing with 4009.
pub const MAX_BAD_FRAMES: usize = 10;
pub const BAD_FRAME_WINDOW: Duration = Duration::from_secs(10);
/// How long a join may wait for a busy room's inbox.
pub(super) const JOIN_WAIT: Duration = Duration::from_secs(5);
/// How often a join is retried when the room moved (parked or restarted) under it.
pub(super) const JOIN_ATTEMPTS: usize = 3;
/// Bound on writing out what is queued plus the close frame once a connection is closing.
pub(super) const CLOSE_WAIT: Duration = Duration::from_secs(5);
/// How long the reader waits for the client's close reply after the server's close frame.
const CLOSE_DRAIN: Duration = Duration::from_secs(1);
/// Single node: how many of one connection's commands may wait in their room at once. More
/// than one lets a member's pipelined commands share a commit; few enough that a flooding
/// connection holds only a handful of the room's inbox slots (1,024 by default), never the
/// room.
pub(super) const COMMANDS_IN_FLIGHT: usize = 4;
/// Cluster mode: how long a command forwarded to another node may take.
pub(super) const FORWARD_WAIT: Duration = Duration::from_secs(5);

/// Runs a connection to the end.
pub async fn run(socket: WebSocket, app: AppState, conn: ConnId, ip: IpAddr) {
    Metrics::inc(&app.metrics.connections_total);
    Metrics::inc_gauge(&app.metrics.connections_open, 1);
    let (sink, stream) = socket.split();
    let out = Arc::new(Outbound::new(app.config.outbound_queue_bytes));
    let reader = Reader {
        app: app.clone(),
        conn,
        ip,
        out: Arc::clone(&out),
        joined: None,
        bad: VecDeque::new(),
        last_heard: app.clock.instant(),
        in_flight: Arc::new(tokio::sync::Semaphore::new(COMMANDS_IN_FLIGHT)),
    };
    // The writer is a task of its own: every frame a room pushes wakes only it, where one task
    // running both halves would poll the reader's whole `select!` for each frame too. It ends
    // with the connection, whichever way this task ends.
    let writer = AbortOnDropHandle::new(tokio::spawn(crate::gateway::writer::write_loop(
        sink,
        Arc::clone(&out),
    )));
    reader.run(stream).await;
    let _ = writer.await;
    Metrics::inc_gauge(&app.metrics.connections_open, -1);
}

pub(super) struct Joined {
    /// The event's hall; group rooms are looked up per command.
    pub(super) room: RoomHandle,
    pub(super) event: String,
    pub(super) member: crate::engine::member::MemberId,
    /// The member's key in the shared command limiter (`Limits::allow_command`).
    pub(super) rate_key: (String, String),
    /// Rooms whose audio this connection joined, left when it closes. Bounded by the rooms
    /// of one event the member can reach.
    pub(super) audio: Vec<RoomId>,
}

pub(super) enum Flow {
    Continue,
    Stop,
}

pub(super) struct Reader {
    pub(super) app: AppState,
    pub(super) conn: ConnId,
    pub(super) ip: IpAddr,
    pub(super) out: Arc<Outbound>,
    pub(super) joined: Option<Joined>,
    /// Arrival times of recent bad frames.
    pub(super) bad: VecDeque<Instant>,
    pub(super) last_heard: Instant,
    /// Single node: permits for the commands waiting in their room ([`COMMANDS_IN_FLIGHT`]).
    pub(super) in_flight: Arc<tokio::sync::Semaphore>,
}

impl Reader {
    async fn run(mut self, mut stream: SplitStream<WebSocket>) {
        let cfg = Arc::clone(&self.app.config);
        let hello_deadline = self.app.clock.instant() + cfg.hello_timeout;
        let mut ping = tokio::time::interval_at(
            self.app.clock.instant() + cfg.ping_interval,
            cfg.ping_interval,
        );
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let cancel = self.app.cancel.clone();
        let out = Arc::clone(&self.out);
        // Whether the client closed or the socket failed (else we are closing it).
        let mut peer_gone = false;
        loop {
            let msg = tokio::select! {
                biased;
                () = cancel.cancelled() => {
                    self.send(&ServerMsg::Status {
                        level: StatusLevel::Warning,
                        message: "the server is shutting down; reconnect to resume".into(),
                    });
                    self.out.close(CloseReason::GoingAway, true);
                    break;
                }
                () = out.closed() => break,
                () = tokio::time::sleep_until(hello_deadline), if self.joined.is_none() => {
                    self.out.close(CloseReason::HelloTimeout, true);
                    break;
                }
                _ = ping.tick() => {
                    if self.app.clock.instant() - self.last_heard >= cfg.idle_timeout {
                        self.out.close(CloseReason::Idle, true);
                        break;
                    }
                    self.out.ping();
                    continue;
                }
                m = stream.next() => m,
            };
            let flow = match msg {
                None => {
                    peer_gone = true;
                    Flow::Stop
                }
                Some(Ok(m)) => {
                    self.last_heard = self.app.clock.instant();
                    match m {
                        // Boxed: `hello` is the deepest future a connection runs, and
                        // unboxed it would size every idle connection's task.
                        Message::Text(text) => Box::pin(self.on_text(&text)).await,
                        Message::Binary(_) => self.bad_frame(
                            None,
                            ErrorCode::Invalid,
                            "binary frames are not accepted; send JSON text frames",
                        ),
                        Message::Ping(_) | Message::Pong(_) => Flow::Continue,
                        Message::Close(_) => {
                            peer_gone = true;
                            Flow::Stop
                        }
                    }
                }
                Some(Err(e)) => {
                    let flow = self.on_error(e);
                    peer_gone = !self.out.is_closing();
                    flow
                }
            };
            if let Flow::Stop = flow {
                break;
            }
        }
        // Whatever ended the loop, the writer stops after what is queued.
        self.out.close(CloseReason::GoingAway, !peer_gone);
        if let Some(j) = self.joined.take() {
            if let Some(media) = &self.app.media {
                for room in &j.audio {
                    media.leave(room.clone(), j.member.clone());
                }
            }
            let leave = j
                .room
                .tx
                .send(RoomMsg::Conn(ConnMsg::Leave { conn: self.conn }));
            let _ = tokio::time::timeout(JOIN_WAIT, leave).await;
        } else if let Some(node) = &self.app.cluster {
            // A hello that failed may have left the connection registered on this node.
            node.forget(self.conn);
        }
        if !peer_gone {
            // Complete the closing handshake: keep reading (and so answering the client's
            // pings) until its close reply, so the close frame is not lost to a reset.
            let drain = async {
                while let Some(Ok(m)) = stream.next().await {
                    if let Message::Close(_) = m {
                        break;
                    }
                }
            };
            let _ = tokio::time::timeout(CLOSE_DRAIN, drain).await;
        }
    }

    pub(super) fn send(&self, msg: &ServerMsg) {
        let _ = self.out.push(Utf8Bytes::from(msg.to_json()));
    }

    pub(super) fn close_with(&self, reason: CloseReason) -> Flow {
        self.out.close(reason, true);
        Flow::Stop
    }

    fn on_error(&mut self, e: axum::Error) -> Flow {
        let inner = e.into_inner();
        match inner.downcast_ref::<tungstenite::Error>() {
            // RFC 6455 section 8.1 requires failing the connection on a text frame that is not
            // UTF-8 (and tokio-tungstenite ends the stream after it anyway): the client learns
            // why from the error, then the close 1007.
            Some(tungstenite::Error::Utf8(_)) => {
                Metrics::inc(&self.app.metrics.bad_frames);
                self.send(&ServerMsg::error(
                    None,
                    ErrorCode::Invalid,
                    "the text frame is not valid UTF-8",
                ));
                self.close_with(CloseReason::InvalidUtf8)
            }
            // Over the hard transport cap: the rest of the frame cannot be skipped without
            // reading it, so the connection ends after the error.
            Some(tungstenite::Error::Capacity(_)) => {
                Metrics::inc(&self.app.metrics.bad_frames);
                let max = self.app.config.max_message_bytes;
                self.send(&ServerMsg::error(
                    None,
                    ErrorCode::TooLarge,
                    format!(
                        "messages are limited to {max} bytes; frames over {} close the connection",
                        super::hard_frame_cap(max)
                    ),
                ));
                self.close_with(CloseReason::TooLarge)
            }
            Some(tungstenite::Error::Protocol(e)) => {
                Metrics::inc(&self.app.metrics.bad_frames);
                tracing::debug!(conn = self.conn.0, "websocket protocol error: {e}");
                self.close_with(CloseReason::ProtocolError)
            }
            _ => {
                tracing::debug!(conn = self.conn.0, "websocket read error: {inner}");
                Flow::Stop
            }
        }
    }

    /// Answers a bad frame; too many within the window close the connection (4009).
    fn bad_frame(&mut self, id: Option<ClientId>, code: ErrorCode, message: &str) -> Flow {
        Metrics::inc(&self.app.metrics.bad_frames);
        self.send(&ServerMsg::error(id, code, message));
        let now = self.app.clock.instant();
        self.bad.push_back(now);
        while self
            .bad
            .front()
            .is_some_and(|t| now - *t > BAD_FRAME_WINDOW)
        {
            self.bad.pop_front();
        }
        if self.bad.len() > MAX_BAD_FRAMES {
            return self.close_with(CloseReason::Abuse);
        }
        Flow::Continue
    }

    async fn on_text(&mut self, text: &str) -> Flow {
        let max = self.app.config.max_message_bytes;
        if text.len() > max {
            // Read whole (it is under the transport's hard cap) but over the message limit:
            // refused like any bad frame, without parsing it.
            let message = format!("messages are limited to {max} bytes");
            return self.bad_frame(None, ErrorCode::TooLarge, &message);
        }
        let msg = match parse_client(text) {
            Ok(m) => m,
            Err(bad) => return self.bad_frame(bad.id, ErrorCode::Invalid, &bad.message),
        };
        match msg {
            ClientMsg::Hello { id, hello } => {
                if self.joined.is_some() {
                    return self.bad_frame(
                        id,
                        ErrorCode::Invalid,
                        "already joined; hello is sent once",
                    );
                }
                self.hello(id, hello).await
            }
            ClientMsg::Ping { id }
            | ClientMsg::Command { id, .. }
            | ClientMsg::DropIn { id, .. }
            | ClientMsg::Media { id, .. }
                if self.joined.is_none() =>
            {
                self.bad_frame(id, ErrorCode::Invalid, "send hello with your token first")
            }
            ClientMsg::Ping { id } => {
                if !self.allow_command() {
                    return self.rate_limited(id);
                }
                self.send(&ServerMsg::Pong {
                    id,
                    server_time: self.app.clock.now(),
                });
                Flow::Continue
            }
            ClientMsg::Command { id, room, command } => {
                tracing::trace!(conn = self.conn.0, ?id, "command");
                if !self.allow_command() {
                    return self.rate_limited(id);
                }
                self.command(id, room, command).await
            }
            ClientMsg::DropIn { id, room, join } => {
                if !self.allow_command() {
                    return self.rate_limited(id);
                }
                self.drop_in(id, &room, join).await
            }
            ClientMsg::Media { id, room, req } => {
                if !self.allow_command() {
                    return self.rate_limited(id);
                }
                self.media(id, room.as_deref(), req).await
            }
        }
    }

    /// Audio signaling. The room must be one this connection may send commands to; the
    /// media layer then decides nothing about the floor, it only answers the offer.
    async fn media(&mut self, id: Option<ClientId>, room: Option<&str>, req: MediaReq) -> Flow {
        let Some(media) = self.app.media.clone() else {
            self.send(&ServerMsg::error(
                id,
                ErrorCode::MediaUnavailable,
                "this server runs without audio (--media off)",
            ));
            return Flow::Continue;
        };
        let room_id = match self.route(room) {
            Ok(handle) => handle.id.clone(),
            Err(message) => {
                self.send(&ServerMsg::error(id, ErrorCode::UnknownRoom, message));
                return Flow::Continue;
            }
        };
        let Some(joined) = self.joined.as_mut() else {
            return Flow::Continue;
        };
        let member = joined.member.clone();
        match req {
            MediaReq::MediaOffer { sdp } => match media.offer(room_id.clone(), member, sdp).await {
                Ok(sdp) => {
                    if let Some(j) = self.joined.as_mut() {
                        if !j.audio.contains(&room_id) {
                            j.audio.push(room_id.clone());
                        }
                    }
                    self.send(&ServerMsg::MediaAnswer {
                        id,
                        room: room_id.as_str().to_string(),
                        sdp,
                    });
                }
                Err(e) => self.send(&ServerMsg::error(id, e.code(), e.to_string())),
            },
            MediaReq::MediaCandidate { .. } => self.send(&ServerMsg::Ack { id }),
            MediaReq::MediaLeave => {
                joined.audio.retain(|r| r != &room_id);
                media.leave(room_id, member);
                self.send(&ServerMsg::Ack { id });
            }
        }
        Flow::Continue
    }

    /// Resolves a command's `room` to a live room of this connection's event.
    fn route(&self, room: Option<&str>) -> Result<RoomHandle, &'static str> {
        let Some(joined) = &self.joined else {
            return Err("send hello with your token first");
        };
        let Some(text) = room else {
            return Ok(joined.room.clone());
        };
        let Some(id) = RoomId::parse(&joined.event, text) else {
            return Err("there is no such room in this event");
        };
        if id == joined.room.id {
            return Ok(joined.room.clone());
        }
        if let Some(node) = &self.app.cluster {
            // The owner knows whether the group is live; it answers `unknown_room` if not.
            return Ok(node.link(self.app.hub.clone(), &joined.room.id, &id));
        }
        self.app
            .hub
            .live_room(&joined.event, &id)
            .ok_or("that room has ended or does not exist")
    }

    /// `join_room` / `leave_room`: the hall owns group placements, so it decides.
    async fn drop_in(&mut self, id: Option<ClientId>, room: &str, join: bool) -> Flow {
        let Some(joined) = &self.joined else {
            return Flow::Continue;
        };
        let Some(room) = RoomId::parse(&joined.event, room) else {
            self.send(&ServerMsg::error(
                id,
                ErrorCode::UnknownRoom,
                "there is no such room in this event",
            ));
            return Flow::Continue;
        };
        let msg = RoomMsg::Conn(ConnMsg::DropIn {
            conn: self.conn,
            id: id.clone(),
            room,
            join,
        });
        if joined.room.tx.try_send(msg).is_err() {
            self.app.metrics.refused(ErrorCode::Unavailable);
            self.send(&ServerMsg::error(
                id,
                ErrorCode::Unavailable,
                "the hall is busy; retry",
            ));
        }
        Flow::Continue
    }

    /// One command (or ping) from the member's shared quota.
    fn allow_command(&self) -> bool {
        self.joined
            .as_ref()
            .is_none_or(|j| self.app.limits.allow_command(&j.rate_key))
    }

    fn rate_limited(&self, id: Option<ClientId>) -> Flow {
        self.app.metrics.refused(ErrorCode::RateLimited);
        self.send(&ServerMsg::error(
            id,
            ErrorCode::RateLimited,
            "too many messages; slow down",
        ));
        Flow::Continue
    }

    async fn command(
        &mut self,
        id: Option<ClientId>,
        room: Option<String>,
        command: crate::engine::command::Command,
    ) -> Flow {
        let target = match self.route(room.as_deref()) {
            Ok(h) => h,
            Err(message) => {
                self.app.metrics.refused(ErrorCode::UnknownRoom);
                self.send(&ServerMsg::error(id, ErrorCode::UnknownRoom, message));
                return Flow::Continue;
            }
        };
        // Single node: wait while this connection already has its share of commands in the
        // room (the connection reads no further frame meanwhile: that is the backpressure).
        let permit = if self.app.cluster.is_none() {
            let acquire = Arc::clone(&self.in_flight).acquire_owned();
            tokio::select! {
                p = acquire => p.ok(),
                () = self.out.closed() => return Flow::Stop,
            }
        } else {
            None
        };
        let started = self.app.clock.instant();
        let (reply, rx) = oneshot::channel();
        let msg = RoomMsg::Conn(ConnMsg::Command {
            conn: self.conn,
            id: id.clone(),
            command,
            out: Arc::clone(&self.out),
            reply,
        });
        if let Err(e) = target.tx.try_send(msg) {
            let text = match e {
                mpsc::error::TrySendError::Full(_) => "the room is busy; retry shortly",
                mpsc::error::TrySendError::Closed(_) => "the room is closed",
            };
            self.app.metrics.refused(ErrorCode::Unavailable);
            self.send(&ServerMsg::error(id, ErrorCode::Unavailable, text));
            return Flow::Continue;
        }
        if self.app.cluster.is_none() {
            // A room on this node answers on the connection's queue itself, in order with
            // its events: the connection reads its next frame at once, so a member's
            // pipelined commands reach the room together and share one commit
            // (`room/batch.rs`) where each used to wait out the one before it.
            let (metrics, clock, out) = (
                Arc::clone(&self.app.metrics),
                Arc::clone(&self.app.clock),
                Arc::clone(&self.out),
            );
            tokio::spawn(async move {
                let answered = rx.await;
                drop(permit);
                match answered {
                    Ok(res) => {
                        metrics.command_latency(clock.instant() - started);
                        if let Err(rej) = res {
                            metrics.refused(rej.code.as_str());
                        }
                    }
                    Err(_) => {
                        metrics.refused(ErrorCode::Unavailable);
                        let msg =
                            ServerMsg::error(id, ErrorCode::Unavailable, "the room is closed");
                        let _ = out.push(Utf8Bytes::from(msg.to_json()));
                    }
                }
            });
            return Flow::Continue;
        }
        let wait = FORWARD_WAIT;
        let res = tokio::select! {
            r = tokio::time::timeout(wait, rx) => match r {
                Ok(r) => r,
                Err(_) => {
                    self.app.metrics.refused(ErrorCode::Unavailable);
                    self.send(&ServerMsg::error(
                        id,
                        ErrorCode::Unavailable,
                        "no answer from the room's server in time; the command may not have been applied",
                    ));
                    return Flow::Continue;
                }
            },
            () = self.out.closed() => return Flow::Stop,
        };
        self.app
            .metrics
            .command_latency(self.app.clock.instant() - started);
        // The room queued the ack or error itself, in order with the events.
        match res {
            Ok(Ok(())) => {}
            Ok(Err(rej)) => self.app.metrics.refused(rej.code.as_str()),
            Err(_) => {
                self.app.metrics.refused(ErrorCode::Unavailable);
                self.send(&ServerMsg::error(
                    id,
                    ErrorCode::Unavailable,
                    "the room is closed",
                ));
            }
        }
        Flow::Continue
    }

    pub(super) fn unavailable(&self, id: Option<ClientId>) -> Flow {
        self.send(&ServerMsg::error(
            id,
            ErrorCode::Unavailable,
            "the room could not take the connection; retry",
        ));
        self.close_with(CloseReason::Unavailable)
    }
}
