//! The room actor's connections: a connection's command (checked, routed to the hall when it
//! is event-wide, answered on its own queue), a join (welcome, snapshot or resume, subscription at the
//! same sequence number), a cluster takeover's adoption of connections still open elsewhere,
//! the per-member socket cap, and a leave. More methods of the same actor (`actor.rs`).

use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use tokio::sync::oneshot;

use crate::bus::{ConnId, Outbound};
use crate::engine::command::Command;
use crate::engine::member::MemberId;
use crate::engine::reject::{RejectCode, Rejection};
use crate::engine::Input;
use crate::metrics::Metrics;
use crate::room::actor::{Conn, RoomActor, MAX_SOCKETS_PER_MEMBER};
use crate::room::store::Staged;
use crate::room::RoomKind;
use crate::room::{ConnMsg, GroupMsg};
use crate::room::{JoinReply, JoinRequest, RoomMsg};
use crate::time::Millis;
use crate::wire::{
    self, ClientId, CloseReason, Code, ErrorCode, LeftReason, Refusal, ServerMsg, WIRE_VERSION,
};

/// A join the engine took, waiting for its store (`batch.rs`).
pub(super) struct StagedJoin {
    pub(super) req: JoinRequest,
    pub(super) now: Millis,
    /// The joiner's snapshot frame, taken right after the join (none with a resume, which
    /// is answered on release).
    pub(super) snapshot: Option<String>,
}

impl RoomActor {
    /// Stages a member's join after `top`; `Err` when the engine refused it. `*top` moves
    /// past the join's events.
    pub(super) fn stage_join(
        &mut self,
        req: JoinRequest,
        top: &mut u64,
    ) -> (Option<Staged>, Result<StagedJoin, Rejection>) {
        let claims = &req.claims;
        let now = self.ctx.clock.now();
        let (staged, result) = self.stage(
            now,
            Input::Join {
                member: claims.member.clone(),
                name: claims.name.clone(),
                role: claims.role,
                community: claims.community.clone(),
            },
            *top,
        );
        *top += staged.as_ref().map_or(0, |s| s.events.len() as u64);
        if let Err(rej) = result {
            return (staged, Err(rej));
        }
        // The engine is exactly as of this join now; later inputs of the batch may move it.
        let snapshot = req.resume.is_none().then(|| {
            let view = self.state.engine.view(now, &req.sub.member, req.sub.role);
            wire::encode_snapshot(self.id.as_str(), *top, &view)
        });
        (staged, Ok(StagedJoin { req, now, snapshot }))
    }

    /// A stored join: queues the welcome and the snapshot (or the resume) and subscribes the
    /// connection at the join's sequence number. Placing it in a group is left to the caller
    /// (`settle_joins`), once every input of the batch is published.
    pub(super) fn finish_join(&mut self, join: StagedJoin) -> JoinReply {
        let StagedJoin { req, now, snapshot } = join;
        let JoinRequest {
            sub,
            claims,
            resume,
        } = req;
        let welcome = ServerMsg::Welcome {
            v: WIRE_VERSION,
            member: claims.member.clone(),
            name: claims.name.clone(),
            role: claims.role,
            community: claims.community.clone(),
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
        // The missed events this member may see, unless together they exceed the budget.
        let missed = recoverable.and_then(|r| {
            let mut bytes = 0usize;
            let mut frames = Vec::new();
            for e in self.state.log.iter().filter(|e| e.seq > r.last_seq) {
                if e.audience.includes(&sub.member, sub.role) {
                    bytes += e.frame.len() + 1;
                    if bytes > self.ctx.resume_bytes {
                        return None;
                    }
                    frames.push(e.frame.as_str());
                }
            }
            Some(frames)
        });
        if recoverable.is_some() && missed.is_none() {
            Metrics::inc(&self.ctx.metrics.resumes_too_large);
        }
        let recovered = match (&resume, missed) {
            (_, Some(frames)) => {
                let text = wire::encode_resumed(self.id.as_str(), true, frames.into_iter());
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
            // A resume join is always the last of its batch, so the engine is as of it.
            let text = snapshot.unwrap_or_else(|| {
                let view = self.state.engine.view(now, &sub.member, sub.role);
                wire::encode_snapshot(self.id.as_str(), last, &view)
            });
            let _ = sub.out.push_forced(Utf8Bytes::from(text));
        }
        let conn = sub.conn;
        self.conns.insert(
            conn,
            Conn {
                sub: sub.clone(),
                claims,
            },
        );
        self.close_oldest_sockets(&sub.member);
        self.idle_since = None;
        self.ctx.bus.subscribe_at(&self.id, sub, last);
        JoinReply {
            seq: last,
            recovered: resume.map(|_| recovered == Some(true)),
        }
    }

    /// After the joins of a batch are published: each goes (back) into its live group (e.g.
    /// after a reconnect), and staff learn the live groups and their open reports.
    pub(super) fn settle_joins(&mut self, joined: &[ConnId]) {
        for conn in joined {
            self.place(*conn);
        }
        self.begin_new_groups();
        let announced = self.announce_groups();
        for conn in joined {
            let staff = self.conns.get(conn).is_some_and(|c| c.sub.role.is_staff());
            if !staff {
                continue;
            }
            if !announced && !self.announced.is_empty() {
                self.send_groups_to(*conn);
            }
            self.ask_open_reports(*conn);
        }
    }

    /// Keeps at most [`MAX_SOCKETS_PER_MEMBER`] open sockets per member: the newest win, the
    /// oldest are closed (4012). One token's 300 sockets used to crowd everyone else out.
    pub(super) fn close_oldest_sockets(&self, member: &MemberId) {
        let mut open: Vec<&Conn> = self
            .conns
            .values()
            .filter(|c| &c.sub.member == member && !c.sub.out.is_closing())
            .collect();
        if open.len() <= MAX_SOCKETS_PER_MEMBER {
            return;
        }
        open.sort_by_key(|c| c.sub.conn);
        let extra = open.len() - MAX_SOCKETS_PER_MEMBER;
        for c in open.into_iter().take(extra) {
            c.sub.out.close(CloseReason::Replaced, true);
        }
    }

    /// Cluster mode: a connection the previous owner served, still open on its node. It is
    /// already receiving events; only the room's record of it is rebuilt.
    pub(super) async fn adopt(&mut self, req: JoinRequest) {
        let JoinRequest { sub, claims, .. } = req;
        // A member in their reconnect grace is still present; the join ends the grace.
        let engine = &self.state.engine;
        if !engine.roster().is_present(&claims.member) || engine.is_reconnecting(&claims.member) {
            let joined = self
                .apply(Input::Join {
                    member: claims.member.clone(),
                    name: claims.name.clone(),
                    role: claims.role,
                    community: claims.community.clone(),
                })
                .await;
            if joined.is_err() {
                return;
            }
        }
        let conn = sub.conn;
        self.conns.insert(
            conn,
            Conn {
                sub: sub.clone(),
                claims,
            },
        );
        self.idle_since = None;
        self.ctx
            .bus
            .subscribe_at(&self.id, sub, self.state.last_seq);
        self.place(conn);
        self.begin_new_groups();
    }

    pub(super) async fn leave(&mut self, conn: ConnId) {
        self.ctx.bus.unsubscribe(&self.id, conn);
        let Some(c) = self.conns.remove(&conn) else {
            return;
        };
        // The connection is gone: out of every group too.
        if let Some(room) = self.placed.remove(&conn) {
            self.send_group(
                &room,
                RoomMsg::Group(GroupMsg::Detach {
                    conn,
                    reason: LeftReason::Left,
                }),
            );
        }
        for room in self.listening.remove(&conn).unwrap_or_default() {
            self.send_group(
                &room,
                RoomMsg::Group(GroupMsg::Detach {
                    conn,
                    reason: LeftReason::Left,
                }),
            );
        }
        let member = c.sub.member;
        if !self.conns.values().any(|c| c.sub.member == member) {
            let _ = self.apply(Input::Leave { member }).await;
            self.reconcile_groups();
        }
        if self.conns.is_empty() && self.is_hall() {
            self.idle_since = Some(self.ctx.clock.instant());
        }
    }

    /// A command this room does not take itself, or cannot take from `conn`, is answered
    /// here at once (`None`); otherwise the member it comes from.
    pub(super) fn route_command(
        &mut self,
        conn: ConnId,
        id: Option<ClientId>,
        command: Command,
        out: Arc<Outbound>,
        reply: oneshot::Sender<Result<(), Refusal>>,
    ) -> Option<Routed> {
        Metrics::inc(&self.ctx.metrics.commands_total);
        let Some(c) = self.conns.get(&conn) else {
            let rej = if self.is_hall() {
                Rejection::new(
                    RejectCode::UnknownMember,
                    "join the room before sending commands",
                )
            } else {
                Rejection::new(
                    RejectCode::Forbidden,
                    format!("you are not in room {}", self.id),
                )
            };
            let answer = ServerMsg::error(id, rej.code.as_str(), rej.message.clone());
            let _ = out.push(Utf8Bytes::from(answer.to_json()));
            let _ = reply.send(Err(rej.into()));
            return None;
        };
        if let RoomKind::Group { hall, .. } = &self.kind {
            if goes_to_hall(&command) {
                let msg = RoomMsg::Conn(ConnMsg::Command {
                    conn,
                    id: id.clone(),
                    command,
                    out: Arc::clone(&out),
                    reply,
                });
                let sent = self
                    .hub
                    .live_room(&self.event, hall)
                    .map(|h| h.tx.try_send(msg));
                if !matches!(sent, Some(Ok(()))) {
                    let answer = ServerMsg::error(
                        id,
                        ErrorCode::Unavailable,
                        "the hall could not take it; retry",
                    );
                    let _ = out.push(Utf8Bytes::from(answer.to_json()));
                }
                return None;
            }
        }
        Some(Routed {
            from: c.sub.member.clone(),
            command,
            out,
            reply,
        })
    }

    /// Answers a command on its connection's queue, after the events it caused.
    pub(super) fn answer_command(
        id: Option<ClientId>,
        res: Result<(), Refusal>,
        out: &Outbound,
        reply: oneshot::Sender<Result<(), Refusal>>,
    ) {
        let answer = match &res {
            Ok(()) => ServerMsg::Ack { id },
            Err(rej) if rej.code == Code::Server(ErrorCode::Unavailable) => ServerMsg::error(
                id,
                ErrorCode::Unavailable,
                "the command could not be applied (the servers lost touch); retry",
            ),
            Err(rej) => ServerMsg::error(id, rej.code.as_str(), rej.message.clone()),
        };
        let _ = out.push(Utf8Bytes::from(answer.to_json()));
        let _ = reply.send(res);
    }
}

/// A command this room takes itself, from a member of it.
pub(super) struct Routed {
    pub(super) from: MemberId,
    pub(super) command: Command,
    pub(super) out: Arc<Outbound>,
    pub(super) reply: oneshot::Sender<Result<(), Refusal>>,
}

/// A group's call for help goes to the hall, where the event's staff are; so do a removal
/// and a mute, which hold for the whole event, not one group.
pub(super) fn goes_to_hall(command: &Command) -> bool {
    matches!(
        command,
        Command::AskHelp
            | Command::ResolveHelp { .. }
            | Command::Remove { .. }
            | Command::Mute { .. }
            | Command::Unmute { .. }
    )
}
