//! Breakout groups as rooms, in the room actor: the hall's side (reconciling where each of
//! its connections should be with where they are, spawning group rooms, staff drop-ins,
//! telling staff the live group room ids, relaying the groups' reports and flags to its staff)
//! and the group's side (detaching a connection, closing, telling the hall of a report or
//! flag). Split from `actor.rs` so the actor's loop, inputs and durability read on their
//! own; these are still methods of the one [`RoomActor`], the only code touching its engine.
//!
//! The hall owns every placement: after each input that touched the breakout it calls
//! `reconcile_groups`, which sends the groups `Attach`, `Detach` and `Close`. A group room
//! never closes a connection: it unsubscribes it and queues `left_room`.

use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;

use crate::bus::{ConnId, Outbound};
use crate::engine::event::{Audience, Event, EventKind};
use crate::engine::member::MemberId;
use crate::engine::phase::PhaseState;
use crate::engine::Input;
use crate::journal::{self, LiveGroup};
use crate::room::actor::{Conn, RoomActor, RoomState};
use crate::room::GroupMsg;
use crate::room::{JoinRequest, RoomHandle, RoomKind, RoomMsg};
use crate::time::Millis;
use crate::wire::RoomId;
use crate::wire::{ClientId, ErrorCode, GroupRoom, LeftReason, ServerMsg};

impl RoomActor {
    // The group's side.

    /// Group rooms: takes a connection out, leaving it open and subscribed to the hall.
    pub(super) async fn detach(&mut self, conn: ConnId, reason: LeftReason) {
        self.ctx.bus.unsubscribe(&self.id, conn);
        let Some(c) = self.conns.remove(&conn) else {
            return;
        };
        let frame = self.left_room(reason);
        let _ = c.sub.out.push_forced(frame);
        let member = c.sub.member;
        if !self.conns.values().any(|c| c.sub.member == member) {
            let _ = self.apply(Input::Leave { member }).await;
        }
    }

    fn left_room(&self, reason: LeftReason) -> Utf8Bytes {
        let hall = match &self.kind {
            RoomKind::Group { hall, .. } => hall.to_string(),
            RoomKind::Hall => self.id.to_string(),
        };
        let msg = ServerMsg::LeftRoom {
            room: self.id.to_string(),
            reason,
            hall,
        };
        Utf8Bytes::from(msg.to_json())
    }

    /// Group rooms: the breakout ended. Every connection stays open (and in the hall); the
    /// final state goes to the hub for the report.
    pub(super) fn close_group(&mut self) {
        if self.is_hall() {
            return;
        }
        let frame = self.left_room(LeftReason::Closed);
        let conns: Vec<(ConnId, Conn)> = self.conns.drain().collect();
        for (conn, _) in &conns {
            self.ctx.bus.unsubscribe(&self.id, *conn);
        }
        let blank = RoomState::new(self.state.engine.clone());
        let state = std::mem::replace(&mut self.state, blank);
        // Recorded as ended before anyone hears of it, so a command sent after `left_room`
        // finds the room gone (`unknown_room`).
        self.hub.group_ended(&self.event, &self.id, state);
        for (_, c) in conns {
            let _ = c.sub.out.push_forced(frame.clone());
        }
        tracing::debug!(room = %self.id, "breakout group closed");
    }

    // The hall's side of breakouts.

    /// The `groups` frame: the live group rooms as staff were last told of them.
    fn groups_frame(&self) -> Utf8Bytes {
        let msg = ServerMsg::Groups {
            room: self.id.to_string(),
            groups: self
                .announced
                .iter()
                .map(|(index, room)| GroupRoom {
                    index: *index,
                    room: room.to_string(),
                })
                .collect(),
        };
        Utf8Bytes::from(msg.to_json())
    }

    /// Hall: tells every staff connection the live group rooms when they changed (opened,
    /// spawned for a late member, reassigned, closed). True when it sent.
    pub(super) fn announce_groups(&mut self) -> bool {
        if !self.is_hall() {
            return false;
        }
        let live: Vec<(u32, RoomId)> = self
            .state
            .groups
            .iter()
            .map(|(i, h)| (*i, h.id.clone()))
            .collect();
        if live == self.announced {
            return false;
        }
        self.announced = live;
        let frame = self.groups_frame();
        for c in self.conns.values().filter(|c| c.sub.role.is_staff()) {
            let _ = c.sub.out.push(frame.clone());
        }
        true
    }

    /// Hall: the live group rooms for one staff connection (after its snapshot or resume).
    pub(super) fn send_groups_to(&self, conn: ConnId) {
        if let Some(c) = self.conns.get(&conn) {
            let _ = c.sub.out.push(self.groups_frame());
        }
    }

    /// The engine's current groups, while a breakout phase runs.
    fn breakout_groups(&self) -> Option<(&[Vec<MemberId>], &str)> {
        match self.state.engine.phase() {
            Some(PhaseState::Breakout(b)) => Some((&b.groups, &b.spec.protocol)),
            _ => None,
        }
    }

    pub(super) fn send_group(&self, room: &RoomId, msg: RoomMsg) -> bool {
        let Some(h) = self.state.groups.values().find(|h| h.id == *room) else {
            return false;
        };
        match h.tx.try_send(msg) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(room = %room, "breakout group did not take a message: {e}");
                false
            }
        }
    }

    pub(super) fn close_all_groups(&mut self) {
        if !self.state.groups.is_empty() {
            self.groups_dirty = true;
        }
        for h in std::mem::take(&mut self.state.groups).into_values() {
            // A full inbox: the group is dropped with its handle and stops on its own.
            let _ = h.tx.try_send(RoomMsg::Group(GroupMsg::Close));
        }
        self.placed.clear();
        self.listening.clear();
    }

    /// Brings group rooms and placements in line with the engine's breakout: spawns missing
    /// groups, moves connections whose member changed group, ends the groups when the
    /// breakout is over.
    pub(super) fn reconcile_groups(&mut self) {
        if !self.is_hall() {
            return;
        }
        if self.breakout_groups().is_none() {
            if !self.state.groups.is_empty() {
                self.close_all_groups();
            }
            return;
        }
        let conns: Vec<ConnId> = self.conns.keys().copied().collect();
        for conn in conns {
            self.place(conn);
        }
        self.begin_new_groups();
    }

    /// Starts groups spawned by the last placements, after their first members' `Attach`
    /// (the inbox keeps the order), so a go-round includes everyone placed at the opening.
    pub(super) fn begin_new_groups(&mut self) {
        for index in std::mem::take(&mut self.unstarted) {
            if let Some(h) = self.state.groups.get(&index) {
                let _ = h.tx.try_send(RoomMsg::Group(GroupMsg::Begin));
            }
        }
    }

    /// Staff drop in to listen to a group, or leave it.
    pub(super) fn drop_in(
        &mut self,
        conn: ConnId,
        id: Option<ClientId>,
        room: &RoomId,
        join: bool,
    ) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let out = Arc::clone(&c.sub.out);
        let answer = match self.try_drop_in(conn, room, join) {
            Ok(()) => ServerMsg::Ack { id },
            Err((code, message)) => ServerMsg::error(id, code, message),
        };
        let _ = out.push(Utf8Bytes::from(answer.to_json()));
    }

    fn try_drop_in(
        &mut self,
        conn: ConnId,
        room: &RoomId,
        join: bool,
    ) -> Result<(), (ErrorCode, String)> {
        let Some(c) = self.conns.get(&conn) else {
            return Err((ErrorCode::UnknownMember, "join the hall first".into()));
        };
        if !c.sub.role.is_staff() {
            return Err((
                ErrorCode::Forbidden,
                "only moderators, facilitators and organizers drop in to listen".into(),
            ));
        }
        let live = self.state.groups.values().any(|h| h.id == *room);
        let listening = self.listening.entry(conn).or_default();
        if !join {
            if !listening.remove(room) {
                return Err((
                    ErrorCode::NotInRoom,
                    format!("you are not listening to {room}"),
                ));
            }
            self.send_group(
                room,
                RoomMsg::Group(GroupMsg::Detach {
                    conn,
                    reason: LeftReason::Left,
                }),
            );
            return Ok(());
        }
        if !live {
            return Err((
                ErrorCode::UnknownRoom,
                format!("{room} is not a live breakout group of this event"),
            ));
        }
        if listening.contains(room) {
            return Ok(());
        }
        let req = JoinRequest {
            sub: c.sub.clone(),
            claims: c.claims.clone(),
            resume: None,
        };
        if !self.send_group(
            room,
            RoomMsg::Group(GroupMsg::Attach { req: Box::new(req) }),
        ) {
            return Err((
                ErrorCode::Unavailable,
                "the group could not take you; retry".into(),
            ));
        }
        self.listening.entry(conn).or_default().insert(room.clone());
        Ok(())
    }

    /// Puts one hall connection in the group room its member belongs to.
    pub(super) fn place(&mut self, conn: ConnId) {
        if !self.is_hall() {
            return;
        }
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let member = c.sub.member.clone();
        let (index, protocol) = match self.breakout_groups() {
            Some((groups, protocol)) => (
                groups.iter().position(|g| g.contains(&member)),
                protocol.to_string(),
            ),
            None => return,
        };
        let want = match index {
            Some(i) => self.group_room(i as u32, &protocol),
            None => None,
        };
        let have = self.placed.get(&conn).cloned();
        if want.as_ref().map(|h| &h.id) == have.as_ref() {
            return;
        }
        if let Some(old) = have {
            self.placed.remove(&conn);
            self.send_group(
                &old,
                RoomMsg::Group(GroupMsg::Detach {
                    conn,
                    reason: LeftReason::Moved,
                }),
            );
        }
        let Some(h) = want else { return };
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let req = JoinRequest {
            sub: c.sub.clone(),
            claims: c.claims.clone(),
            resume: None,
        };
        if h.tx
            .try_send(RoomMsg::Group(GroupMsg::Attach { req: Box::new(req) }))
            .is_ok()
        {
            // After the `Attach` in the same inbox, so the group knows the member by then.
            if let Some(msg) = self.hall_mute_of(&member) {
                let _ = h.tx.try_send(msg);
            }
            self.placed.insert(conn, h.id);
        }
    }

    /// Hall: the mute a group must apply for `member` (None when not muted here).
    fn hall_mute_of(&self, member: &MemberId) -> Option<RoomMsg> {
        let m = self.state.engine.roster().get(member)?;
        if !m.muted {
            return None;
        }
        let by = self.muted_by(member).unwrap_or_else(|| member.clone());
        Some(RoomMsg::Group(GroupMsg::HallModeration {
            member: member.clone(),
            muted: true,
            by,
        }))
    }

    /// Who last muted `member` in this room, from the typed log.
    fn muted_by(&self, member: &MemberId) -> Option<MemberId> {
        self.state
            .record
            .iter()
            .rev()
            .find_map(|l| match &l.event.kind {
                EventKind::Muted { member: m, by } if m == member => Some(by.clone()),
                _ => None,
            })
    }

    /// Hall: a mute or unmute holds in every live group too (groups opened later learn it
    /// when their members are placed, in `place`).
    pub(super) fn spread_moderation(&self, kind: &EventKind) {
        if !self.is_hall() {
            return;
        }
        let (member, muted, by) = match kind {
            EventKind::Muted { member, by } => (member, true, by),
            EventKind::Unmuted { member, by } => (member, false, by),
            _ => return,
        };
        for h in self.state.groups.values() {
            let _ = h.tx.try_send(RoomMsg::Group(GroupMsg::HallModeration {
                member: member.clone(),
                muted,
                by: by.clone(),
            }));
        }
    }

    /// The live room of group `index`, spawned on first use.
    fn group_room(&mut self, index: u32, protocol: &str) -> Option<RoomHandle> {
        if let Some(h) = self.state.groups.get(&index) {
            return Some(h.clone());
        }
        let h = Arc::clone(&self.hub)
            .spawn_group(&self.event, &self.id, index, self.state.openings, protocol)
            .map_err(
                |e| tracing::error!(room = %self.id, index, "cannot open a breakout group: {e}"),
            )
            .ok()?;
        // Sent before any `Attach`... but `Begin` must follow the first members, so it goes
        // out from `begin_new_groups` once this round of placements is done.
        self.state.groups.insert(index, h.clone());
        self.unstarted.push(index);
        self.groups_dirty = true;
        Some(h)
    }

    // Reports and flags from every group reach the hall's staff.

    /// Group rooms: a report, closure, flag or hide goes to the hall as a `group_event` frame
    /// for its staff, who cannot listen to every group. The hall keeps no copy: a staff
    /// member joining later asks the groups (`OpenReports`). None for other events.
    pub(super) fn hall_staff_msg(&self, ev: &Event) -> Option<RoomMsg> {
        if !for_hall_staff(&ev.kind) {
            return None;
        }
        let frame = self.group_event_frame(ev.at, &ev.kind, false)?;
        Some(RoomMsg::Group(GroupMsg::GroupEvent {
            group: self.id.clone(),
            frame,
        }))
    }

    /// Group rooms: sends the hall a message (a full or missing hall drops it, logged).
    pub(super) fn tell_hall(&self, msg: RoomMsg) {
        let RoomKind::Group { hall, .. } = &self.kind else {
            return;
        };
        let sent = self
            .hub
            .live_room(&self.event, hall)
            .map(|h| h.tx.try_send(msg));
        if !matches!(sent, Some(Ok(()))) {
            tracing::warn!(room = %self.id, "the hall did not take a report or flag for its staff");
        }
    }

    /// Group rooms: a still-open report, re-sent to one staff connection of the hall.
    pub(super) fn send_open_reports(&self, out: &Arc<Outbound>) {
        for r in self.state.engine.reports() {
            let kind = EventKind::ReportFiled {
                report: r.id,
                by: r.by.clone(),
                message: r.message,
                member: r.member.clone(),
                reason: r.reason.clone(),
            };
            if let Some(frame) = self.group_event_frame(r.at, &kind, true) {
                let _ = out.push(frame);
            }
        }
    }

    /// The `group_event` frame for one of this group's events (None in a hall).
    fn group_event_frame(&self, at: Millis, kind: &EventKind, replay: bool) -> Option<Utf8Bytes> {
        let RoomKind::Group { hall, index } = &self.kind else {
            return None;
        };
        let text = match kind {
            EventKind::ReportFiled {
                message: Some(m), ..
            }
            | EventKind::MessageFlagged { message: m, .. } => self.message_text(*m),
            _ => None,
        };
        let msg = ServerMsg::GroupEvent {
            room: hall.to_string(),
            group: GroupRoom {
                index: *index,
                room: self.id.to_string(),
            },
            at,
            event: kind.clone(),
            text,
            replay,
        };
        Some(Utf8Bytes::from(msg.to_json()))
    }

    /// The text of an item (message, shared note, question) said in the open in this room,
    /// newest first from the typed log; None for private notes and unknown ids.
    fn message_text(&self, id: u64) -> Option<String> {
        self.state.record.iter().rev().find_map(|l| {
            if matches!(l.event.audience, Audience::Member(_)) {
                return None;
            }
            match &l.event.kind {
                EventKind::Said { message, text, .. } | EventKind::Noted { message, text, .. }
                    if *message == id =>
                {
                    Some(text.clone())
                }
                EventKind::QuestionAsked { question, text, .. } if *question == id => {
                    Some(text.clone())
                }
                _ => None,
            }
        })
    }

    /// Hall: a group's `group_event` frame for every staff connection, while the group is
    /// live (a frame that raced the group's close is dropped).
    pub(super) fn forward_group_event(&self, group: &RoomId, frame: Utf8Bytes) {
        if !self.state.groups.values().any(|h| h.id == *group) {
            return;
        }
        for c in self.conns.values().filter(|c| c.sub.role.is_staff()) {
            let _ = c.sub.out.push(frame.clone());
        }
    }

    /// Hall: asks each live group to re-send its open reports to a staff connection that
    /// just got its snapshot (the groups queue them after it, on the same queue).
    pub(super) fn ask_open_reports(&self, conn: ConnId) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        if !self.is_hall() || !c.sub.role.is_staff() {
            return;
        }
        for h in self.state.groups.values() {
            let out = Arc::clone(&c.sub.out);
            let _ = h.tx.try_send(RoomMsg::Group(GroupMsg::OpenReports { out }));
        }
    }

    // The store of record.

    /// Halls: records which group rooms are live, in the room's store of record (Redis in
    /// cluster mode, so a node taking the hall over takes them over too; the journal on a
    /// single node, so a restart starts them again), and awaits it before the hall goes on.
    /// Without a durable store there is nothing to record.
    pub(super) async fn sync_groups(&mut self) {
        if !self.groups_dirty {
            return;
        }
        let opening = self.state.openings;
        let stored = if let Some(node) = self.ctx.cluster.clone() {
            let groups: Vec<(u32, String)> = self
                .state
                .groups
                .iter()
                .map(|(i, h)| (*i, format!("{} {opening}", h.id)))
                .collect();
            node.store()
                .put_groups(self.id.as_str(), &groups)
                .await
                .map_err(|e| e.to_string())
        } else if self.ctx.journal.durable() {
            let groups = self
                .state
                .groups
                .iter()
                .map(|(i, h)| LiveGroup {
                    index: *i,
                    room: h.id.to_string(),
                    opening,
                })
                .collect();
            let ack = self
                .ctx
                .journal
                .put_groups(&self.event, self.id.as_str(), groups);
            journal::wait(ack).await.map_err(|e| e.to_string())
        } else {
            Ok(())
        };
        match stored {
            Ok(()) => self.groups_dirty = false,
            Err(e) => tracing::warn!(room = %self.id, "cannot record the breakout groups: {e}"),
        }
    }
}

/// What every group tells the hall's staff: reports, their closing, word-list flags, and
/// hides (so a flag another moderator settled by hiding leaves everyone's list).
fn for_hall_staff(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::ReportFiled { .. }
            | EventKind::ReportClosed { .. }
            | EventKind::MessageFlagged { .. }
            | EventKind::Hidden { .. }
    )
}
