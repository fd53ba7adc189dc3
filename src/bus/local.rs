//! The in-process bus: per room, the list of this node's subscribed connections.
//!
//! The table lives in `registry.rs`, shared with the cluster bus.

use std::sync::Arc;

use crate::bus::queue::PushError;
use crate::bus::registry::Registry;
use crate::bus::{Bus, ConnId, Sequenced, Subscriber};
use crate::engine::member::MemberId;
use crate::metrics::Metrics;
use crate::wire::CloseReason;
use crate::wire::RoomId;

#[derive(Debug)]
pub struct LocalBus {
    rooms: Registry,
    metrics: Arc<Metrics>,
}

impl LocalBus {
    pub fn new(metrics: Arc<Metrics>) -> LocalBus {
        LocalBus {
            rooms: Registry::default(),
            metrics,
        }
    }
}

impl Bus for LocalBus {
    fn publish(&self, room: &RoomId, event: &Arc<Sequenced>) {
        self.rooms.for_audience(room, &event.audience, |sub| {
            if sub.out.push(event.frame.clone()) == Err(PushError::Overflow) {
                Metrics::inc(&self.metrics.slow_consumer_disconnects);
                tracing::info!(room = %room, conn = sub.conn.0, member = %sub.member, seq = event.seq,
                    "slow consumer: outbound queue overflowed, closing with 4008");
            }
        });
    }

    fn subscribe(&self, room: &RoomId, sub: Subscriber) {
        self.rooms.add(room, sub);
    }

    fn unsubscribe(&self, room: &RoomId, conn: ConnId) {
        self.rooms.remove(room, conn);
    }

    fn disconnect(&self, room: &RoomId, member: Option<&MemberId>, reason: CloseReason) {
        self.rooms.disconnect(room, member, reason);
    }

    fn subscribers(&self, room: &RoomId) -> usize {
        self.rooms.count(room)
    }
}
