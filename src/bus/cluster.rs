//! The bus of a room owner in cluster mode.
//!
//! Events do not go through it: the room appends them to Redis, which publishes them, and
//! every node (this one included) fans them out to its own connections from its one
//! subscription per room. What remains here is the room's list of connections (proxies of
//! connections on some node) for `disconnect`, and telling each connection's node, in order
//! with the connection's frames, from which sequence number on it gets the room's events.

use crate::bus::registry::Registry;
use crate::bus::{Bus, ConnId, Sequenced, Subscriber};
use crate::cluster::msg::ToNode;
use crate::engine::member::MemberId;
use crate::wire::CloseReason;
use crate::wire::RoomId;

#[derive(Debug, Default)]
pub struct ClusterBus {
    rooms: Registry,
}

impl ClusterBus {
    pub fn new() -> ClusterBus {
        ClusterBus::default()
    }
}

impl Bus for ClusterBus {
    fn publish(&self, _room: &RoomId, _event: &std::sync::Arc<Sequenced>) {}

    fn subscribe(&self, room: &RoomId, sub: Subscriber) {
        self.subscribe_at(room, sub, 0);
    }

    fn subscribe_at(&self, room: &RoomId, sub: Subscriber, after: u64) {
        // The forwarder fills in the connection.
        let _ = sub.out.push_control(ToNode::Sub {
            conn: 0,
            room: room.to_string(),
            after,
        });
        self.rooms.add(room, sub);
    }

    fn unsubscribe(&self, room: &RoomId, conn: ConnId) {
        if let Some(s) = self.rooms.remove(room, conn) {
            let _ = s.out.push_control(ToNode::Unsub {
                conn: 0,
                room: room.to_string(),
            });
        }
    }

    fn disconnect(&self, room: &RoomId, member: Option<&MemberId>, reason: CloseReason) {
        self.rooms.disconnect(room, member, reason);
    }

    fn subscribers(&self, room: &RoomId) -> usize {
        self.rooms.count(room)
    }
}
