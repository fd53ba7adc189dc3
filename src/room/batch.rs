//! Several inputs of one room share one commit.
//!
//! Waiting for the store before taking the next input made a durable room as slow as its
//! disk: one fsync per join, so a 10,000-member join storm or a busy hall queued behind the
//! journal. A member's join or command now takes, with it, every join and command already
//! waiting in the inbox (up to [`MAX_BATCH`]): each is staged in order on the engine, all go
//! to the store as one commit, and each is then published and answered in order, so nobody
//! hears of an input before it is durable and the order of events is the order of inputs.
//!
//! The engine runs ahead of what was published while a batch is open, so whatever reads the
//! engine on release must be the batch's last input: a join with a `resume` (its snapshot,
//! when the resume cannot be served, is taken on release) and an input whose events move
//! the room beyond the everyday ([`plain`]: a phase or breakout change, a removal, the end)
//! close the batch. Everything else a join needs from the engine (its snapshot) is taken when
//! it is staged. Groups are placed once the batch's last input is published, before its
//! answer (a facilitator whose `next_phase` opened the groups knows them when acked).
//!
//! A refused commit answers its inputs, and every later one of the batch, `unavailable`; a
//! join is then not answered at all, so the gateway tries again.

use std::sync::Arc;

use tokio::sync::oneshot;

use crate::bus::{ConnId, Outbound};
use crate::engine::command::Command;
use crate::engine::event::{Event, EventKind};
use crate::engine::reject::Rejection;
use crate::engine::Input;
use crate::room::actor::RoomActor;
use crate::room::conns::{goes_to_hall, Routed, StagedJoin};
use crate::room::store::{Staged, Stored};
use crate::room::{ConnMsg, GroupMsg, JoinReply, JoinRequest, RoomKind, RoomMsg};
use crate::wire::{ClientId, Refusal};

/// The most inputs one commit carries: enough that a join storm costs a few hundred joins
/// per fsync, few enough that the first of them is not kept waiting long.
pub(super) const MAX_BATCH: usize = 256;

/// Where a join's answer goes.
pub(super) enum JoinReplyTo {
    /// The gateway (or a cluster proxy) waits for it.
    Conn(oneshot::Sender<Result<JoinReply, Refusal>>),
    /// The hall attached the connection to this group; nobody waits.
    Hall,
}

/// A message that can share a commit with the inputs before it.
pub(super) enum Arrival {
    Join(Box<JoinRequest>, JoinReplyTo),
    Command {
        conn: ConnId,
        id: Option<ClientId>,
        command: Command,
        out: Arc<Outbound>,
        reply: oneshot::Sender<Result<(), Refusal>>,
    },
}

impl Arrival {
    /// `msg` as an arrival, or back when it must be handled on its own.
    fn of(msg: RoomMsg, kind: &RoomKind) -> Result<Arrival, RoomMsg> {
        // A group forwards these to its hall at once: not an input of its own.
        if let RoomMsg::Conn(ConnMsg::Command { command, .. }) = &msg {
            if matches!(kind, RoomKind::Group { .. }) && goes_to_hall(command) {
                return Err(msg);
            }
        }
        match msg {
            RoomMsg::Conn(ConnMsg::Join { req, reply }) => {
                Ok(Arrival::Join(req, JoinReplyTo::Conn(reply)))
            }
            RoomMsg::Group(GroupMsg::Attach { req }) => Ok(Arrival::Join(req, JoinReplyTo::Hall)),
            RoomMsg::Conn(ConnMsg::Command {
                conn,
                id,
                command,
                out,
                reply,
            }) => Ok(Arrival::Command {
                conn,
                id,
                command,
                out,
                reply,
            }),
            other => Err(other),
        }
    }
}

/// One staged input of a batch and how it is answered.
enum Item {
    Join {
        staged: Option<Staged>,
        join: Result<StagedJoin, Rejection>,
        reply: JoinReplyTo,
    },
    Command {
        staged: Option<Staged>,
        result: Result<(), Rejection>,
        id: Option<ClientId>,
        out: Arc<Outbound>,
        reply: oneshot::Sender<Result<(), Refusal>>,
    },
}

impl Item {
    fn staged(&self) -> Option<&Staged> {
        match self {
            Item::Join { staged, .. } | Item::Command { staged, .. } => staged.as_ref(),
        }
    }
}

impl RoomActor {
    /// Stages `first` and every join and command waiting behind it, commits them as one,
    /// then publishes and answers each in order.
    pub(super) async fn run_batch(&mut self, first: Arrival) {
        self.flush_voiced_before_input().await;
        self.unavailable = false;
        // Without a store there is nothing to share: each input goes out at once.
        let limit = if self.stores() { MAX_BATCH } else { 1 };
        let mut top = self.state.last_seq;
        let mut items = Vec::new();
        let mut next = Some(first);
        while let Some(arrival) = next.take() {
            let ends = self.stage_arrival(arrival, &mut top, &mut items);
            if ends || items.len() >= limit || self.lost {
                break;
            }
            match self.rx.try_recv() {
                Ok(msg) => match Arrival::of(msg, &self.kind) {
                    Ok(a) => next = Some(a),
                    Err(msg) => {
                        self.held = Some(msg);
                        break;
                    }
                },
                Err(_) => break,
            }
        }
        tracing::trace!(room = %self.id, inputs = items.len(), "batch staged");
        let stored = if self.lost {
            Stored::Prefix(0)
        } else {
            let staged: Vec<&Staged> = items.iter().filter_map(Item::staged).collect();
            self.commit(&staged).await
        };
        self.release(items, stored);
        self.snapshot_if_due().await;
    }

    /// Stages one arrival; true when it must be the batch's last.
    fn stage_arrival(&mut self, arrival: Arrival, top: &mut u64, items: &mut Vec<Item>) -> bool {
        if self.lost {
            self.unavailable = true;
            refuse_arrival(arrival);
            return true;
        }
        match arrival {
            Arrival::Join(req, reply) => {
                let resume = req.resume.is_some();
                let (staged, join) = self.stage_join(*req, top);
                let ends = resume || staged.as_ref().is_some_and(|s| !plain(&s.events));
                items.push(Item::Join {
                    staged,
                    join,
                    reply,
                });
                ends
            }
            Arrival::Command {
                conn,
                id,
                command,
                out,
                reply,
            } => {
                let Some(Routed {
                    from,
                    command,
                    out,
                    reply,
                }) = self.route_command(conn, id.clone(), command, out, reply)
                else {
                    return false;
                };
                let now = self.ctx.clock.now();
                let (staged, result) = self.stage(now, Input::Command { from, command }, *top);
                *top += staged.as_ref().map_or(0, |s| s.events.len() as u64);
                let ends = staged.as_ref().is_some_and(|s| !plain(&s.events));
                items.push(Item::Command {
                    staged,
                    result,
                    id,
                    out,
                    reply,
                });
                ends
            }
        }
    }

    /// Publishes and answers each item the store took, in order; refuses the rest.
    fn release(&mut self, items: Vec<Item>, stored: Stored) {
        let durable = match stored {
            Stored::All => usize::MAX,
            Stored::Prefix(n) => n,
        };
        // The first item whose input was not stored: it and every later one are refused
        // (a later refusal by the engine may have been caused by an input that is gone).
        let mut cut = items.len();
        let mut counted = 0;
        for (i, item) in items.iter().enumerate() {
            if item.staged().is_some() {
                if counted == durable {
                    cut = i;
                    break;
                }
                counted += 1;
            }
        }
        let mut joined = Vec::new();
        let mut commands = false;
        for (i, item) in items.into_iter().enumerate() {
            if i >= cut {
                self.unavailable = true;
                refuse(item);
                continue;
            }
            let last = i + 1 == cut;
            match item {
                Item::Join {
                    staged,
                    join,
                    reply,
                } => {
                    if let Some(s) = staged {
                        self.publish(s);
                    }
                    let res = match join {
                        Ok(j) => {
                            joined.push(j.req.sub.conn);
                            Ok(self.finish_join(j))
                        }
                        Err(rej) => Err(Refusal::from(rej)),
                    };
                    if last {
                        self.settle(&joined, commands);
                    }
                    match reply {
                        JoinReplyTo::Conn(tx) => {
                            let _ = tx.send(res);
                        }
                        JoinReplyTo::Hall => {
                            if let Err(rej) = res {
                                tracing::debug!(room = %self.id, code = rej.code.as_str(), "not attached");
                            }
                        }
                    }
                }
                Item::Command {
                    staged,
                    result,
                    id,
                    out,
                    reply,
                } => {
                    if let Some(s) = staged {
                        self.publish(s);
                    }
                    commands = true;
                    if last {
                        self.settle(&joined, commands);
                    }
                    RoomActor::answer_command(id, result.map_err(Refusal::from), &out, reply);
                }
            }
        }
    }

    /// Once the batch's last stored input is published: connections go where the engine
    /// now places them, and staff learn the live groups.
    fn settle(&mut self, joined: &[ConnId], commands: bool) {
        if commands {
            self.reconcile_groups();
        }
        self.settle_joins(joined);
    }
}

/// An arrival for a room that stopped: refused at once, as an unstored input is.
fn refuse_arrival(arrival: Arrival) {
    match arrival {
        Arrival::Join(..) => {}
        Arrival::Command { id, out, reply, .. } => RoomActor::answer_command(
            id,
            Err(Refusal::unavailable("the room stopped")),
            &out,
            reply,
        ),
    }
}

/// Answers an input that was not stored: a command `unavailable` (retry), a join not at all
/// (the gateway tries again).
fn refuse(item: Item) {
    match item {
        Item::Join { .. } => {}
        Item::Command { id, out, reply, .. } => {
            RoomActor::answer_command(id, Err(Refusal::unavailable("not stored")), &out, reply)
        }
    }
}

/// Whether an input's events leave the room's shape alone, so later inputs may share its
/// commit: what members do all evening (join, leave, hands, speech, questions, votes, turns
/// within a phase, staff broadcasts and nudges). Anything else (a phase or breakout change,
/// a removal or mute, a report or flag that goes to the hall's staff, the end) ends the
/// batch.
pub(super) fn plain(events: &[Event]) -> bool {
    events.iter().all(|e| {
        matches!(
            e.kind,
            EventKind::MemberJoined { .. }
                | EventKind::MemberLeft { .. }
                | EventKind::HandRaised { .. }
                | EventKind::HandLowered { .. }
                | EventKind::QueueChanged { .. }
                | EventKind::Said { .. }
                | EventKind::Noted { .. }
                | EventKind::QuestionAsked { .. }
                | EventKind::QuestionUpvoted { .. }
                | EventKind::Voted { .. }
                | EventKind::EquityUpdated { .. }
                | EventKind::Warning { .. }
                | EventKind::FloorGranted { .. }
                | EventKind::FloorReleased { .. }
                | EventKind::TurnOvertime { .. }
                | EventKind::Passed { .. }
                | EventKind::ReflectionPending { .. }
                | EventKind::ReflectionConfirmed { .. }
                | EventKind::Invited { .. }
                | EventKind::InvitationDeclined { .. }
                | EventKind::MoveOnTally { .. }
                | EventKind::BudgetWarning { .. }
                | EventKind::Broadcast { .. }
                | EventKind::Nudged { .. }
                | EventKind::Interjected { .. }
                | EventKind::DeadlineExtended { .. }
                | EventKind::ClarificationRequested { .. }
                | EventKind::HelpRequested { .. }
                | EventKind::HelpResolved { .. }
        )
    })
}
