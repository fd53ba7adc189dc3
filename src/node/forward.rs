//! Messages other nodes forward to this node as a room's owner (`ToOwner`): joins, commands,
//! leaves and drop-ins arriving over the bus, handed to the owned room's actor.

use super::*;
use crate::room::ConnMsg;
use crate::wire::ClientId;

impl ClusterNode {
    /// A forwarded message for a room this node owns: one method per message.
    pub(super) fn to_owner(self: &Arc<Self>, hub: &Arc<dyn NodeHost>, msg: ToOwner) {
        let hub = Arc::clone(hub);
        match msg {
            ToOwner::Join {
                node,
                conn,
                claims,
                resume,
            } => self.forwarded_join(hub, node, conn, claims, resume),
            ToOwner::Cmd {
                node,
                conn,
                room,
                id,
                command,
            } => self.forwarded_command(hub, node, conn, &room, id, command),
            ToOwner::DropIn {
                node,
                conn,
                room,
                id,
                join,
            } => self.forwarded_drop_in(&hub, node, conn, &room, id, join),
            ToOwner::Leave { node, conn } => self.forwarded_leave(&hub, node, conn),
            ToOwner::End { node, req, event } => {
                let this = Arc::clone(self);
                self.tracker.spawn(async move {
                    let _ = hub.end_local(event).await;
                    let reply = ToNode::Reply { req, summary: None };
                    this.reply_to(&node, &reply).await;
                });
            }
            ToOwner::Summary { node, req, event } => {
                let this = Arc::clone(self);
                self.tracker.spawn(async move {
                    let summary = hub.summary(event).await;
                    this.reply_to(&node, &ToNode::Reply { req, summary }).await;
                });
            }
        }
    }

    /// A connection on `node` joins the hall: a local proxy stands in for it, and the join's
    /// outcome goes back after its welcome and snapshot.
    fn forwarded_join(
        self: &Arc<Self>,
        hub: Arc<dyn NodeHost>,
        node: String,
        conn: u64,
        claims: Claims,
        resume: Option<crate::wire::Resume>,
    ) {
        let this = Arc::clone(self);
        let hall = RoomId::hall(&claims.event);
        let Some(handle) = hub.live_room(&claims.event, &hall) else {
            let m = ToNode::Joined {
                conn,
                outcome: JoinOutcome::Unavailable,
            };
            self.tracker
                .spawn(async move { this.reply_to(&node, &m).await });
            return;
        };
        let local = self.new_proxy(&node, conn, &claims, &hall);
        let out = self.proxy_out(&node, conn);
        let (reply, rx) = oneshot::channel();
        let req = JoinRequest {
            sub: Subscriber {
                conn: local,
                member: claims.member.clone(),
                role: claims.role,
                out: Arc::clone(&out),
            },
            claims: claims.clone(),
            resume,
        };
        let sent = handle.tx.try_send(RoomMsg::Conn(ConnMsg::Join {
            req: Box::new(req),
            reply,
        }));
        let sent = sent.is_ok();
        self.tracker.spawn(async move {
            let res = if sent { rx.await.ok() } else { None };
            match res {
                Some(Ok(r)) => {
                    let m = ToNode::Joined {
                        conn,
                        outcome: JoinOutcome::Ok {
                            seq: r.seq,
                            recovered: r.recovered,
                        },
                    };
                    // After the welcome and snapshot, in the same queue.
                    let _ = out.push_control(m);
                    let field = format!("{node}/{conn}");
                    let body = serde_json::to_vec(&claims).unwrap_or_default();
                    if let Err(e) = this.store.put_conn(hall.as_str(), &field, &body).await {
                        tracing::warn!("cannot record a connection: {e}");
                    }
                }
                other => {
                    let outcome = match other {
                        Some(Err(rej)) => JoinOutcome::Refused {
                            code: rej.code,
                            message: rej.message,
                        },
                        _ => JoinOutcome::Unavailable,
                    };
                    if let Some(p) = this.lock().proxies.remove(&(node.clone(), conn)) {
                        p.retire.cancel();
                    }
                    this.reply_to(&node, &ToNode::Joined { conn, outcome })
                        .await;
                }
            }
        });
    }

    /// A command from a proxied connection, for the hall or one of its groups; its `ack` or
    /// `error` and then `Done` go back in the proxy's queue.
    fn forwarded_command(
        self: &Arc<Self>,
        hub: Arc<dyn NodeHost>,
        node: String,
        conn: u64,
        room: &str,
        id: Option<ClientId>,
        command: crate::engine::command::Command,
    ) {
        let this = Arc::clone(self);
        let found = self
            .lock()
            .proxies
            .get(&(node.clone(), conn))
            .map(|p| (p.local, Arc::clone(&p.out), p.event.clone()));
        let Some((local, out, event)) = found else {
            // This owner never saw the connection join (it took over without the
            // record): the client reconnects and resumes.
            let frames = vec![ServerMsg::error(
                id,
                ErrorCode::Unavailable,
                "the room moved to another server; reconnect to resume",
            )
            .to_json()];
            self.tracker.spawn(async move {
                this.reply_to(&node, &ToNode::Frames { conn, frames }).await;
                this.reply_to(
                    &node,
                    &ToNode::Done {
                        conn,
                        refused: Some(ErrorCode::Unavailable.into()),
                    },
                )
                .await;
                this.reply_to(
                    &node,
                    &ToNode::Close {
                        conn,
                        code: CloseReason::Unavailable.code(),
                        flush: true,
                    },
                )
                .await;
            });
            return;
        };
        let target = RoomId::parse(&event, room).and_then(|r| hub.live_room(&event, &r));
        let refuse = |code: ErrorCode, text: &str| {
            let _ = out.push(Utf8Bytes::from(
                ServerMsg::error(id.clone(), code, text).to_json(),
            ));
            let _ = out.push_control(ToNode::Done {
                conn,
                refused: Some(code.into()),
            });
        };
        let Some(target) = target else {
            refuse(
                ErrorCode::UnknownRoom,
                "that room has ended or does not exist",
            );
            return;
        };
        let (reply, rx) = oneshot::channel();
        let sent = target.tx.try_send(RoomMsg::Conn(ConnMsg::Command {
            conn: local,
            id: id.clone(),
            command,
            out: Arc::clone(&out),
            reply,
        }));
        if sent.is_err() {
            refuse(ErrorCode::Unavailable, "the room is busy; retry shortly");
            return;
        }
        self.tracker.spawn(async move {
            let refused = match rx.await {
                Ok(Ok(())) => None,
                Ok(Err(refusal)) => Some(refusal.code),
                Err(_) => {
                    let _ = out.push(Utf8Bytes::from(
                        ServerMsg::error(id, ErrorCode::Unavailable, "the room is closed")
                            .to_json(),
                    ));
                    Some(ErrorCode::Unavailable.into())
                }
            };
            let _ = out.push_control(ToNode::Done { conn, refused });
        });
    }

    /// Staff on another node drop in on (or leave) a breakout group.
    fn forwarded_drop_in(
        &self,
        hub: &Arc<dyn NodeHost>,
        node: String,
        conn: u64,
        room: &str,
        id: Option<ClientId>,
        join: bool,
    ) {
        let found = self
            .lock()
            .proxies
            .get(&(node, conn))
            .map(|p| (p.local, p.event.clone(), p.hall.clone()));
        let Some((local, event, hall)) = found else {
            return;
        };
        let Some(room) = RoomId::parse(&event, room) else {
            return;
        };
        if let Some(h) = hub.live_room(&event, &hall) {
            let _ = h.tx.try_send(RoomMsg::Conn(ConnMsg::DropIn {
                conn: local,
                id,
                room,
                join,
            }));
        }
    }

    /// A proxied connection closed on its node.
    fn forwarded_leave(self: &Arc<Self>, hub: &Arc<dyn NodeHost>, node: String, conn: u64) {
        let this = Arc::clone(self);
        let hall = self
            .lock()
            .proxies
            .get(&(node.clone(), conn))
            .map(|p| (p.event.clone(), p.hall.clone()));
        let Some((event, hall)) = hall else { return };
        let Some(h) = hub.live_room(&event, &hall) else {
            return;
        };
        self.tracker
            .spawn(async move { this.drop_proxy(&node, conn, &h).await });
    }
}
