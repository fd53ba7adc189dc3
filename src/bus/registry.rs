//! Per room, the connections of this node subscribed to it: the one table both buses keep.
//!
//! A std `RwLock` guards the map: publishing and disconnecting take the read lock and only
//! push into queues (no await, no I/O); subscribing and unsubscribing take the write lock
//! briefly.
//!
//! Why the indexes: a hall holds thousands of connections, and joining one costs the room a
//! subscribe plus events meant for that member or for staff. Scanning every subscription for
//! those (a string comparison per member) and for the subscribe's replace check made a join
//! O(hall size), so a 10,000-client join storm O(n²) (`perf` in BENCHMARKS.md). Subscribe,
//! unsubscribe and a member's or staff's events are now proportional to what they touch.

use std::collections::HashMap;
use std::sync::RwLock;

use crate::bus::{ConnId, Subscriber};
use crate::engine::event::Audience;
use crate::engine::member::MemberId;
use crate::wire::CloseReason;
use crate::wire::RoomId;

#[derive(Debug, Default)]
pub struct Registry {
    rooms: RwLock<HashMap<RoomId, Subs>>,
}

/// One room's subscriptions, in a vector (fan-out order) with indexes into it.
#[derive(Debug, Default)]
struct Subs {
    all: Vec<Subscriber>,
    /// Where each connection sits in `all`.
    at: HashMap<ConnId, usize>,
    /// Each member's connections (a member may have several tabs open).
    by_member: HashMap<MemberId, Vec<ConnId>>,
    /// Connections of staff (facilitators, moderators, organizers).
    staff: Vec<ConnId>,
}

impl Subs {
    fn add(&mut self, sub: Subscriber) {
        self.remove(sub.conn);
        self.at.insert(sub.conn, self.all.len());
        self.by_member
            .entry(sub.member.clone())
            .or_default()
            .push(sub.conn);
        if sub.role.is_staff() {
            self.staff.push(sub.conn);
        }
        self.all.push(sub);
    }

    fn remove(&mut self, conn: ConnId) -> Option<Subscriber> {
        let i = self.at.remove(&conn)?;
        let gone = self.all.swap_remove(i);
        if let Some(moved) = self.all.get(i) {
            self.at.insert(moved.conn, i);
        }
        if let Some(conns) = self.by_member.get_mut(&gone.member) {
            conns.retain(|c| *c != conn);
            if conns.is_empty() {
                self.by_member.remove(&gone.member);
            }
        }
        if gone.role.is_staff() {
            self.staff.retain(|c| *c != conn);
        }
        Some(gone)
    }

    fn get(&self, conn: ConnId) -> Option<&Subscriber> {
        self.at.get(&conn).and_then(|i| self.all.get(*i))
    }

    fn member(&self, member: &MemberId) -> impl Iterator<Item = &Subscriber> {
        self.by_member
            .get(member)
            .into_iter()
            .flatten()
            .filter_map(|c| self.get(*c))
    }

    fn staff(&self) -> impl Iterator<Item = &Subscriber> {
        self.staff.iter().filter_map(|c| self.get(*c))
    }
}

impl Registry {
    /// Adds a connection to a room, replacing an earlier subscription of the same connection.
    pub fn add(&self, room: &RoomId, sub: Subscriber) {
        let mut rooms = self.rooms.write().unwrap_or_else(|e| e.into_inner());
        rooms.entry(room.clone()).or_default().add(sub);
    }

    /// Takes a connection out of a room; returns its subscription when it had one.
    pub fn remove(&self, room: &RoomId, conn: ConnId) -> Option<Subscriber> {
        let mut rooms = self.rooms.write().unwrap_or_else(|e| e.into_inner());
        let subs = rooms.get_mut(room)?;
        let gone = subs.remove(conn);
        if subs.all.is_empty() {
            rooms.remove(room);
        }
        gone
    }

    /// Calls `f` with every subscription of a room, under the read lock.
    pub fn for_each(&self, room: &RoomId, mut f: impl FnMut(&Subscriber)) {
        let rooms = self.rooms.read().unwrap_or_else(|e| e.into_inner());
        for sub in rooms.get(room).into_iter().flat_map(|s| &s.all) {
            f(sub);
        }
    }

    /// Calls `f` with every subscription of a room that `audience` includes, each once,
    /// touching only those when the audience is one member or staff.
    pub fn for_audience(&self, room: &RoomId, audience: &Audience, mut f: impl FnMut(&Subscriber)) {
        let rooms = self.rooms.read().unwrap_or_else(|e| e.into_inner());
        let Some(subs) = rooms.get(room) else {
            return;
        };
        match audience {
            Audience::Everyone => subs.all.iter().for_each(f),
            Audience::Staff => subs.staff().for_each(f),
            Audience::Member(m) => subs.member(m).for_each(f),
            Audience::MemberAndStaff(m) => {
                // The member's own staff connections are already among the staff.
                subs.member(m)
                    .filter(|s| !s.role.is_staff())
                    .for_each(&mut f);
                subs.staff().for_each(f);
            }
        }
    }

    /// Closes, after what is queued, the connections of one member (`Some`) or of everyone.
    pub fn disconnect(&self, room: &RoomId, member: Option<&MemberId>, reason: CloseReason) {
        let close = |sub: &Subscriber| sub.out.close(reason, true);
        let rooms = self.rooms.read().unwrap_or_else(|e| e.into_inner());
        let Some(subs) = rooms.get(room) else {
            return;
        };
        match member {
            Some(m) => subs.member(m).for_each(close),
            None => subs.all.iter().for_each(close),
        }
    }

    pub fn count(&self, room: &RoomId) -> usize {
        let rooms = self.rooms.read().unwrap_or_else(|e| e.into_inner());
        rooms.get(room).map_or(0, |s| s.all.len())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::bus::Outbound;
    use crate::engine::member::Role;

    fn sub(conn: u64, member: &str, role: Role) -> Subscriber {
        Subscriber {
            conn: ConnId(conn),
            member: MemberId(member.into()),
            role,
            out: Arc::new(Outbound::new(1 << 20)),
        }
    }

    fn reached(r: &Registry, room: &RoomId, a: &Audience) -> Vec<u64> {
        let mut v = Vec::new();
        r.for_audience(room, a, |s| v.push(s.conn.0));
        v.sort_unstable();
        v
    }

    #[test]
    fn audiences_reach_exactly_whom_they_include() {
        let room = RoomId::hall("evt-1");
        let r = Registry::default();
        let all = [
            sub(1, "ana", Role::Participant),
            sub(2, "ana", Role::Participant),
            sub(3, "fran", Role::Facilitator),
            sub(4, "bo", Role::Participant),
            sub(5, "mo", Role::Moderator),
        ];
        for s in all.iter().cloned() {
            r.add(&room, s);
        }
        // Whatever the index says must match the audience rule itself.
        let audiences = [
            Audience::Everyone,
            Audience::Staff,
            Audience::Member(MemberId("ana".into())),
            Audience::MemberAndStaff(MemberId("ana".into())),
            Audience::MemberAndStaff(MemberId("fran".into())),
            Audience::Member(MemberId("nobody".into())),
        ];
        let check = |r: &Registry, live: &[&Subscriber]| {
            for a in &audiences {
                let mut want: Vec<u64> = live
                    .iter()
                    .filter(|s| a.includes(&s.member, s.role))
                    .map(|s| s.conn.0)
                    .collect();
                want.sort_unstable();
                assert_eq!(reached(r, &room, a), want, "{a:?}");
            }
        };
        check(&r, &all.iter().collect::<Vec<_>>());
        // Removing from the middle moves the last one; the indexes follow.
        assert!(r.remove(&room, ConnId(2)).is_some());
        assert!(r.remove(&room, ConnId(3)).is_some());
        assert!(r.remove(&room, ConnId(3)).is_none());
        check(&r, &[&all[0], &all[3], &all[4]]);
        // Re-subscribing a connection replaces it.
        r.add(&room, sub(4, "bo", Role::Moderator));
        assert_eq!(r.count(&room), 3);
        assert_eq!(reached(&r, &room, &Audience::Staff), vec![4, 5]);
        for c in [1, 4, 5] {
            r.remove(&room, ConnId(c));
        }
        assert_eq!(r.count(&room), 0);
    }

    #[test]
    fn disconnecting_a_member_closes_only_their_connections() {
        let room = RoomId::hall("evt-1");
        let r = Registry::default();
        let (a1, a2, b) = (
            sub(1, "ana", Role::Participant),
            sub(2, "ana", Role::Participant),
            sub(3, "bo", Role::Participant),
        );
        for s in [&a1, &a2, &b] {
            r.add(&room, s.clone());
        }
        r.disconnect(&room, Some(&MemberId("ana".into())), CloseReason::Removed);
        assert!(a1.out.is_closing() && a2.out.is_closing());
        assert!(!b.out.is_closing());
    }
}
