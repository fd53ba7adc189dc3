//! Per room, the connections of this node subscribed to it: the one table both buses keep.
//!
//! A std `RwLock` guards the map: publishing and disconnecting take the read lock and only
//! push into queues (no await, no I/O); subscribing and unsubscribing take the write lock
//! briefly.

use std::collections::HashMap;
use std::sync::RwLock;

use crate::bus::{ConnId, Subscriber};
use crate::engine::member::MemberId;
use crate::gateway::CloseReason;
use crate::room::RoomId;

#[derive(Debug, Default)]
pub struct Registry {
    rooms: RwLock<HashMap<RoomId, Vec<Subscriber>>>,
}

impl Registry {
    /// Adds a connection to a room, replacing an earlier subscription of the same connection.
    pub fn add(&self, room: &RoomId, sub: Subscriber) {
        let mut rooms = self.rooms.write().unwrap_or_else(|e| e.into_inner());
        let subs = rooms.entry(room.clone()).or_default();
        subs.retain(|s| s.conn != sub.conn);
        subs.push(sub);
    }

    /// Takes a connection out of a room; returns its subscription when it had one.
    pub fn remove(&self, room: &RoomId, conn: ConnId) -> Option<Subscriber> {
        let mut rooms = self.rooms.write().unwrap_or_else(|e| e.into_inner());
        let subs = rooms.get_mut(room)?;
        let at = subs.iter().position(|s| s.conn == conn);
        let gone = at.map(|i| subs.remove(i));
        if subs.is_empty() {
            rooms.remove(room);
        }
        gone
    }

    /// Calls `f` with every subscription of a room, under the read lock.
    pub fn for_each(&self, room: &RoomId, mut f: impl FnMut(&Subscriber)) {
        let rooms = self.rooms.read().unwrap_or_else(|e| e.into_inner());
        for sub in rooms.get(room).into_iter().flatten() {
            f(sub);
        }
    }

    /// Closes, after what is queued, the connections of one member (`Some`) or of everyone.
    pub fn disconnect(&self, room: &RoomId, member: Option<&MemberId>, reason: CloseReason) {
        self.for_each(room, |sub| {
            if member.is_none_or(|m| *m == sub.member) {
                sub.out.close(reason, true);
            }
        });
    }

    pub fn count(&self, room: &RoomId) -> usize {
        let rooms = self.rooms.read().unwrap_or_else(|e| e.into_inner());
        rooms.get(room).map_or(0, Vec::len)
    }
}
