//! Cluster mode: several nodes sharing rooms through Redis.
//!
//! `store` holds the atomic Redis steps the design rests on (see ARCHITECTURE.md, "Cluster
//! mode"): one owner per room by a lease with a fencing epoch, and one Lua step per engine
//! input that checks the lease and epoch, numbers the events, appends them and the input to
//! the room's bounded stream and input log, and publishes them, so sequence numbers, stream
//! order and delivery order always agree. `msg` is what nodes say to each other. One node's
//! side (forwarding, per-room subscriptions, ownership, takeover, health) is `crate::node`,
//! above the rooms and the hub; these two sit below them. Every
//! key and channel of a room shares the room's hash tag, so the layout works on Redis
//! Cluster.

pub mod msg;
pub mod store;
