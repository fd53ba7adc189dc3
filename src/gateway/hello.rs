//! A connection's `hello`: the token verified (a failure counted per address, never
//! refusing a valid token), the event made known on this node in cluster mode, and the join
//! into the hall retried while the room moves under it. More methods of the reader
//! (`conn.rs`).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::bus::Subscriber;
use crate::engine::reject::RejectCode;
use crate::hub::HubError;
use crate::metrics::Metrics;
use crate::room::ConnMsg;
use crate::room::{JoinRequest, RoomMsg};
use crate::wire::CloseReason;
use crate::wire::RoomId;
use crate::wire::{ClientId, Hello, ServerMsg};
use crate::wire::{Code, ErrorCode};

use crate::gateway::conn::{Flow, Joined, Reader, FORWARD_WAIT, JOIN_ATTEMPTS, JOIN_WAIT};

impl Reader {
    fn refuse_hello(&self, id: Option<ClientId>, message: &str) -> Flow {
        Metrics::inc(&self.app.metrics.hello_failures);
        let now = self.app.clock.now();
        self.app.limits.hello_failed(self.ip, now);
        if self.app.limits.is_blocked(self.ip, now) {
            self.send(&ServerMsg::error(
                id,
                ErrorCode::RateLimited,
                "too many failed hellos from this address; a valid token still gets in",
            ));
        } else {
            self.send(&ServerMsg::error(id, ErrorCode::Unauthorized, message));
        }
        self.close_with(CloseReason::Unauthorized)
    }

    pub(super) async fn hello(&mut self, id: Option<ClientId>, hello: Hello) -> Flow {
        let claims = match self.app.tokens.verify(&hello.token, self.app.clock.now()) {
            Ok(c) => c,
            Err(e) => return self.refuse_hello(id, &e.to_string()),
        };
        let hall = RoomId::hall(&claims.event);
        if let Some(r) = &hello.resume {
            if r.room != hall.as_str() {
                return self.refuse_hello(id, "the token is for another event's room");
            }
        }
        if let Some(node) = &self.app.cluster {
            let ended = || self.app.hub.event(&claims.event).is_none_or(|e| e.ended);
            match node.ensure_event(&*self.app.hub, &claims.event).await {
                Ok(true) if !ended() => {}
                Ok(_) => {
                    self.send(&ServerMsg::error(
                        id,
                        ErrorCode::UnknownRoom,
                        "this event has ended or does not exist",
                    ));
                    return self.close_with(CloseReason::UnknownRoom);
                }
                Err(_) => return self.unavailable(id),
            }
        }
        for _ in 0..JOIN_ATTEMPTS {
            let room = match &self.app.cluster {
                Some(node) => Ok(node.link(self.app.hub.clone(), &hall, &hall)),
                None => self.app.hub.room(&claims.event),
            };
            let room = match room {
                Ok(r) => r,
                Err(HubError::UnknownEvent(_) | HubError::Ended) => {
                    self.send(&ServerMsg::error(
                        id,
                        ErrorCode::UnknownRoom,
                        "this event has ended or does not exist",
                    ));
                    return self.close_with(CloseReason::UnknownRoom);
                }
                Err(_) => return self.unavailable(id),
            };
            let (reply, rx) = oneshot::channel();
            let req = JoinRequest {
                sub: Subscriber {
                    conn: self.conn,
                    member: claims.member.clone(),
                    role: claims.role,
                    out: Arc::clone(&self.out),
                },
                claims: claims.clone(),
                resume: hello.resume.clone(),
            };
            let sent = tokio::time::timeout(
                JOIN_WAIT,
                room.tx.send(RoomMsg::Conn(ConnMsg::Join {
                    req: Box::new(req),
                    reply,
                })),
            )
            .await;
            match sent {
                Ok(Ok(())) => {}
                // The room stopped (parked) between lookup and send: look it up again.
                Ok(Err(_)) => continue,
                Err(_) => return self.unavailable(id),
            }
            let wait = if self.app.cluster.is_some() {
                FORWARD_WAIT
            } else {
                Duration::MAX
            };
            let Ok(answer) = tokio::time::timeout(wait, rx).await else {
                return self.unavailable(id);
            };
            match answer {
                Ok(Ok(_)) => {
                    tracing::debug!(conn = self.conn.0, member = %claims.member, room = %room.id, "joined");
                    self.joined = Some(Joined {
                        room,
                        event: claims.event.clone(),
                        member: claims.member.clone(),
                        rate_key: (claims.event.clone(), claims.member.to_string()),
                        audio: Vec::new(),
                    });
                    return Flow::Continue;
                }
                Ok(Err(rej)) => {
                    self.send(&ServerMsg::error(id, rej.code.as_str(), rej.message));
                    let reason = match rej.code {
                        Code::Engine(RejectCode::Removed) => CloseReason::Removed,
                        Code::Server(ErrorCode::Unavailable) => CloseReason::Unavailable,
                        _ => CloseReason::Unauthorized,
                    };
                    return self.close_with(reason);
                }
                Err(_) => continue,
            }
        }
        self.unavailable(id)
    }
}
