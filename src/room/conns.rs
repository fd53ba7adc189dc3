//! The room actor's connections: a connection's command (checked, routed to the hall when it
//! is event-wide, answered on its own queue), a join (welcome, snapshot or resume, subscription at the
//! same sequence number), a cluster takeover's adoption of connections still open elsewhere,
//! the per-member socket cap, and a leave. More methods of the same actor (`actor.rs`).

use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;

use crate::bus::{ConnId, Outbound};
use crate::engine::command::Command;
use crate::engine::member::MemberId;
use crate::engine::reject::{RejectCode, Rejection};
use crate::engine::Input;
use crate::metrics::Metrics;
use crate::room::actor::{Conn, RoomActor, MAX_SOCKETS_PER_MEMBER};
use crate::room::RoomKind;
use crate::room::{ConnMsg, GroupMsg};
use crate::room::{JoinReply, JoinRequest, RoomMsg};
use crate::wire::{
    self, ClientId, CloseReason, ErrorCode, LeftReason, Refusal, ServerMsg, WIRE_VERSION,
};

impl RoomActor {
    pub(super) async fn join(&mut self, req: JoinRequest) -> Result<JoinReply, Refusal> {
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
        })
        .await?;
        let now = self.ctx.clock.now();
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
            let view = self.state.engine.view(now, &sub.member, sub.role);
            let text = wire::encode_snapshot(self.id.as_str(), last, &view);
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
        let staff = sub.role.is_staff();
        self.ctx.bus.subscribe_at(&self.id, sub, last);
        // A member of a live group goes (back) into it, e.g. after a reconnect.
        self.place(conn);
        self.begin_new_groups();
        if staff && !self.announce_groups() && !self.announced.is_empty() {
            self.send_groups_to(conn);
        }
        if staff {
            self.ask_open_reports(conn);
        }
        Ok(JoinReply {
            seq: last,
            recovered: resume.map(|_| recovered == Some(true)),
        })
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
        if !self.state.engine.roster().is_present(&claims.member) {
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

    pub(super) async fn command(
        &mut self,
        conn: ConnId,
        id: Option<ClientId>,
        command: Command,
        out: Arc<Outbound>,
        reply: tokio::sync::oneshot::Sender<Result<(), Refusal>>,
    ) {
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
            return;
        };
        // A group's call for help goes to the hall, where the event's staff are; so do a
        // removal and a mute, which hold for the whole event, not one group.
        if let (
            RoomKind::Group { hall, .. },
            Command::AskHelp
            | Command::ResolveHelp { .. }
            | Command::Remove { .. }
            | Command::Mute { .. }
            | Command::Unmute { .. },
        ) = (&self.kind, &command)
        {
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
            return;
        }
        let from = c.sub.member.clone();
        let res = self.apply(Input::Command { from, command }).await;
        self.reconcile_groups();
        // Before the ack, so a facilitator whose `next_phase` opened the groups knows them.
        self.announce_groups();
        let answer = match &res {
            _ if self.unavailable => ServerMsg::error(
                id,
                ErrorCode::Unavailable,
                "the command could not be applied (the servers lost touch); retry",
            ),
            Ok(()) => ServerMsg::Ack { id },
            Err(rej) => ServerMsg::error(id, rej.code.as_str(), rej.message.clone()),
        };
        let _ = out.push(Utf8Bytes::from(answer.to_json()));
        let _ = reply.send(res);
    }
}
