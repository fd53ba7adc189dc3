//! The room actor: one tokio task per live room, the only code that touches its engine.
//!
//! `run` is a loop of `next_input().await` (the only `select!`: the inbox, the one timer,
//! cancellation) followed by synchronous handling: feed the engine, number each event, encode
//! it once, append it to the bounded log (for resume) and publish it on the bus. Joins are
//! handled here too, so a connection's snapshot and its subscription happen at the same
//! sequence number: nothing is lost or sent twice in between.

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;

use crate::bus::{Bus, ConnId, Outbound, Sequenced};
use crate::clock::Clock;
use crate::engine::command::Command;
use crate::engine::core::Session;
use crate::engine::event::EventKind;
use crate::engine::member::{MemberId, Role};
use crate::engine::reject::{RejectCode, Rejection};
use crate::engine::{Engine, Input};
use crate::gateway::wire::{self, ServerMsg, WIRE_VERSION};
use crate::gateway::CloseReason;
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::room::{JoinReply, JoinRequest, RoomId, RoomMsg};

/// Member id of the organizer who ends an event through the HTTP API.
pub const API_ORGANIZER: &str = "organizer-api";

/// What a room keeps between inputs, and what is parked when it idles.
#[derive(Debug)]
pub struct RoomState {
    pub engine: Engine,
    /// The most recent events, oldest first, for resume.
    pub log: VecDeque<Arc<Sequenced>>,
    /// The sequence number of the last event (0 before the first).
    pub last_seq: u64,
}

impl RoomState {
    pub fn new(engine: Engine) -> RoomState {
        RoomState {
            engine,
            log: VecDeque::new(),
            last_seq: 0,
        }
    }

    /// A short public summary for `GET /api/events/{id}`.
    pub fn summary(&self, present: usize) -> RoomSummary {
        let session = match self.engine.session() {
            Session::NotStarted => "not_started",
            Session::Running => "running",
            Session::Paused { .. } => "paused",
            Session::Ended => "ended",
        };
        let phase = self.engine.phase_index().and_then(|i| {
            self.engine.protocol().phases.get(i).map(|p| PhaseSummary {
                index: i,
                id: p.id.clone(),
                title: p.title.clone(),
            })
        });
        RoomSummary {
            session,
            phase,
            present,
            seq: self.last_seq,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoomSummary {
    pub session: &'static str,
    pub phase: Option<PhaseSummary>,
    /// Members present in the room.
    pub present: usize,
    pub seq: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PhaseSummary {
    pub index: usize,
    pub id: String,
    pub title: String,
}

/// What every room actor shares with the server.
#[derive(Debug, Clone)]
pub struct RoomCtx {
    pub bus: Arc<dyn Bus>,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    pub cancel: CancellationToken,
    pub log_len: usize,
    pub idle: Duration,
}

enum Next {
    Msg(RoomMsg),
    Deadline,
    Idle,
    Stop,
}

pub struct RoomActor {
    id: RoomId,
    event: String,
    rx: mpsc::Receiver<RoomMsg>,
    state: RoomState,
    /// Connections: the member each one is, and its outbound queue (for command replies).
    conns: HashMap<ConnId, (MemberId, Role, Arc<Outbound>)>,
    ctx: RoomCtx,
    hub: Arc<Hub>,
    /// The one timer, reset to the engine's next deadline or the idle deadline.
    sleep: Pin<Box<Sleep>>,
    /// Set while nobody is connected.
    idle_since: Option<Instant>,
}

impl std::fmt::Debug for RoomActor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomActor")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl RoomActor {
    pub fn new(
        event: String,
        rx: mpsc::Receiver<RoomMsg>,
        state: RoomState,
        ctx: RoomCtx,
        hub: Arc<Hub>,
    ) -> RoomActor {
        let now = ctx.clock.instant();
        RoomActor {
            id: RoomId::hall(&event),
            event,
            rx,
            state,
            conns: HashMap::new(),
            sleep: Box::pin(tokio::time::sleep_until(now)),
            idle_since: Some(now),
            ctx,
            hub,
        }
    }

    pub async fn run(mut self) {
        Metrics::inc_gauge(&self.ctx.metrics.rooms_live, 1);
        tracing::debug!(room = %self.id, "room started");
        // Timers that fell due while the room was parked fire at their own deadlines.
        let _ = self.apply(Input::Tick);
        loop {
            if self.state.engine.session() == Session::Ended {
                self.finish();
                break;
            }
            match self.next_input().await {
                Next::Msg(msg) => self.handle(msg),
                Next::Deadline => {
                    let _ = self.apply(Input::Tick);
                }
                Next::Idle => {
                    if self.hub.park(&self.event, &mut self.state, &self.rx) {
                        tracing::debug!(room = %self.id, "room idle: parked");
                        break;
                    }
                    self.idle_since = Some(self.ctx.clock.instant());
                }
                Next::Stop => break,
            }
        }
        Metrics::inc_gauge(&self.ctx.metrics.rooms_live, -1);
    }

    /// The only `select!`: the inbox, the one timer and cancellation.
    async fn next_input(&mut self) -> Next {
        let deadline = self
            .state
            .engine
            .next_deadline()
            .map(|d| self.ctx.clock.instant_at(d));
        let idle = self.idle_since.map(|t| t + self.ctx.idle);
        let wake = match (deadline, idle) {
            (Some(d), Some(i)) => Some(d.min(i)),
            (d, i) => d.or(i),
        };
        if let Some(w) = wake {
            self.sleep.as_mut().reset(w);
        }
        tokio::select! {
            biased;
            () = self.ctx.cancel.cancelled() => Next::Stop,
            msg = self.rx.recv() => match msg {
                Some(m) => Next::Msg(m),
                None => Next::Stop,
            },
            () = &mut self.sleep, if wake.is_some() => {
                if deadline.is_some() && deadline == wake {
                    Next::Deadline
                } else {
                    Next::Idle
                }
            }
        }
    }

    fn handle(&mut self, msg: RoomMsg) {
        match msg {
            RoomMsg::Join { req, reply } => {
                let res = self.join(*req);
                let _ = reply.send(res);
            }
            RoomMsg::Leave { conn } => self.leave(conn),
            RoomMsg::Command {
                conn,
                id,
                command,
                reply,
            } => {
                Metrics::inc(&self.ctx.metrics.commands_total);
                let Some((member, _, out)) = self.conns.get(&conn) else {
                    let _ = reply.send(Err(Rejection::new(
                        RejectCode::UnknownMember,
                        "join the room before sending commands",
                    )));
                    return;
                };
                let (from, out) = (member.clone(), Arc::clone(out));
                let res = self.apply(Input::Command { from, command });
                let answer = match &res {
                    Ok(()) => ServerMsg::Ack { id },
                    Err(rej) => ServerMsg::error(id, rej.code.as_str(), rej.message.clone()),
                };
                let _ = out.push(Utf8Bytes::from(answer.to_json()));
                let _ = reply.send(res);
            }
            RoomMsg::End { reply } => {
                self.end_by_organizer();
                let _ = reply.send(());
            }
            RoomMsg::Inspect { reply } => {
                let present = self.state.engine.roster().present_count();
                let _ = reply.send(self.state.summary(present));
            }
        }
    }

    /// Feeds the engine and publishes what it emitted.
    fn apply(&mut self, input: Input) -> Result<(), Rejection> {
        let now = self.ctx.clock.now();
        let handled = self.state.engine.handle(now, input);
        for ev in handled.events {
            self.state.last_seq += 1;
            let seq = self.state.last_seq;
            let frame = wire::encode_event(self.id.as_str(), seq, ev.at, &ev.kind);
            let seqd = Arc::new(Sequenced {
                seq,
                audience: ev.audience,
                frame: Utf8Bytes::from(frame),
            });
            if self.state.log.len() >= self.ctx.log_len {
                self.state.log.pop_front();
            }
            self.state.log.push_back(Arc::clone(&seqd));
            Metrics::inc(&self.ctx.metrics.events_total);
            self.ctx.bus.publish(&self.id, &seqd);
            if let EventKind::MemberRemoved { member, .. } = &ev.kind {
                self.ctx
                    .bus
                    .disconnect(&self.id, Some(member), CloseReason::Removed);
            }
        }
        handled.result
    }

    fn join(&mut self, req: JoinRequest) -> Result<JoinReply, Rejection> {
        let JoinRequest {
            sub,
            claims,
            resume,
        } = req;
        self.apply(Input::Join {
            member: claims.member.clone(),
            name: claims.name.clone(),
            role: claims.role,
            community: claims.community.clone(),
        })?;
        let now = self.ctx.clock.now();
        let welcome = ServerMsg::Welcome {
            v: WIRE_VERSION,
            member: claims.member.clone(),
            name: claims.name.clone(),
            role: claims.role,
            community: claims.community,
            event: self.event.clone(),
            room: self.id.to_string(),
            server_time: now,
        };
        // The welcome, snapshot and resume frames go out whatever the queue's limit.
        let _ = sub.out.push_forced(Utf8Bytes::from(welcome.to_json()));
        let last = self.state.last_seq;
        let recoverable = resume.as_ref().filter(|r| {
            let oldest = self.state.log.front().map_or(last + 1, |e| e.seq);
            r.room == self.id.as_str() && r.last_seq <= last && r.last_seq + 1 >= oldest
        });
        let recovered = match (&resume, recoverable) {
            (_, Some(r)) => {
                let frames = self
                    .state
                    .log
                    .iter()
                    .filter(|e| e.seq > r.last_seq && e.audience.includes(&sub.member, sub.role))
                    .map(|e| e.frame.as_str());
                let text = wire::encode_resumed(self.id.as_str(), true, frames);
                let _ = sub.out.push_forced(Utf8Bytes::from(text));
                Some(true)
            }
            (Some(_), None) => {
                let text = wire::encode_resumed(self.id.as_str(), false, std::iter::empty());
                let _ = sub.out.push_forced(Utf8Bytes::from(text));
                None
            }
            (None, None) => None,
        };
        if recovered != Some(true) {
            let view = self.state.engine.view(now, &sub.member, sub.role);
            let text = wire::encode_snapshot(self.id.as_str(), last, &view);
            let _ = sub.out.push_forced(Utf8Bytes::from(text));
        }
        self.conns.insert(
            sub.conn,
            (sub.member.clone(), sub.role, Arc::clone(&sub.out)),
        );
        self.idle_since = None;
        self.ctx.bus.subscribe(&self.id, sub);
        Ok(JoinReply {
            seq: last,
            recovered: resume.map(|_| recovered == Some(true)),
        })
    }

    fn leave(&mut self, conn: ConnId) {
        self.ctx.bus.unsubscribe(&self.id, conn);
        let Some((member, _, _)) = self.conns.remove(&conn) else {
            return;
        };
        if !self.conns.values().any(|(m, _, _)| *m == member) {
            let _ = self.apply(Input::Leave { member });
        }
        if self.conns.is_empty() {
            self.idle_since = Some(self.ctx.clock.instant());
        }
    }

    /// Ends the session on the organizer's behalf: a member with the organizer role joins,
    /// ends it and leaves, so the log says who ended it.
    fn end_by_organizer(&mut self) {
        if self.state.engine.session() == Session::Ended {
            return;
        }
        let member = MemberId::new(API_ORGANIZER);
        let _ = self.apply(Input::Join {
            member: member.clone(),
            name: "Organizer".into(),
            role: Role::Organizer,
            community: None,
        });
        let _ = self.apply(Input::Command {
            from: member,
            command: Command::End,
        });
    }

    /// The session ended: tell every connection and leave the registry.
    fn finish(&mut self) {
        tracing::info!(room = %self.id, "session ended; closing the room");
        self.ctx
            .bus
            .disconnect(&self.id, None, CloseReason::SessionEnded);
        for conn in self.conns.keys() {
            self.ctx.bus.unsubscribe(&self.id, *conn);
        }
        self.hub.room_ended(&self.event);
    }
}
