//! The in-process bus: per room, the list of this node's subscribed connections.
//!
//! A std `RwLock` guards the map: publishing takes the read lock and only pushes into
//! queues (no await, no I/O); subscribing and unsubscribing take the write lock briefly.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::bus::queue::PushError;
use crate::bus::{Bus, ConnId, Sequenced, Subscriber};
use crate::engine::member::MemberId;
use crate::gateway::CloseReason;
use crate::metrics::Metrics;
use crate::room::RoomId;

#[derive(Debug)]
pub struct LocalBus {
    rooms: RwLock<HashMap<RoomId, Vec<Subscriber>>>,
    metrics: Arc<Metrics>,
}

impl LocalBus {
    pub fn new(metrics: Arc<Metrics>) -> LocalBus {
        LocalBus {
            rooms: RwLock::new(HashMap::new()),
            metrics,
        }
    }
}

impl Bus for LocalBus {
    fn publish(&self, room: &RoomId, event: &Arc<Sequenced>) {
        let rooms = self.rooms.read().unwrap_or_else(|e| e.into_inner());
        let Some(subs) = rooms.get(room) else { return };
        for sub in subs {
            if !event.audience.includes(&sub.member, sub.role) {
                continue;
            }
            if sub.out.push(event.frame.clone()) == Err(PushError::Overflow) {
                Metrics::inc(&self.metrics.slow_consumer_disconnects);
                tracing::info!(room = %room, conn = sub.conn.0, member = %sub.member, seq = event.seq,
                    "slow consumer: outbound queue overflowed, closing with 4008");
            }
        }
    }

    fn subscribe(&self, room: &RoomId, sub: Subscriber) {
        let mut rooms = self.rooms.write().unwrap_or_else(|e| e.into_inner());
        rooms.entry(room.clone()).or_default().push(sub);
    }

    fn unsubscribe(&self, room: &RoomId, conn: ConnId) {
        let mut rooms = self.rooms.write().unwrap_or_else(|e| e.into_inner());
        if let Some(subs) = rooms.get_mut(room) {
            subs.retain(|s| s.conn != conn);
            if subs.is_empty() {
                rooms.remove(room);
            }
        }
    }

    fn disconnect(&self, room: &RoomId, member: Option<&MemberId>, reason: CloseReason) {
        let rooms = self.rooms.read().unwrap_or_else(|e| e.into_inner());
        let Some(subs) = rooms.get(room) else { return };
        for sub in subs {
            if member.is_none_or(|m| *m == sub.member) {
                sub.out.close(reason, true);
            }
        }
    }

    fn subscribers(&self, room: &RoomId) -> usize {
        let rooms = self.rooms.read().unwrap_or_else(|e| e.into_inner());
        rooms.get(room).map_or(0, Vec::len)
    }
}
