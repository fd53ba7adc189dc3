//! Cluster mode groundwork: the Redis side of sharing rooms between nodes.
//!
//! `store` holds the atomic Redis steps the design rests on (see ARCHITECTURE.md, "Cluster
//! mode"): one owner per room by a lease with a fencing epoch, and one Lua step per event that
//! checks the lease and epoch, numbers the event, appends it to the room's bounded stream and
//! publishes it, so sequence numbers, stream order and delivery order always agree. Every key
//! and channel of a room shares the room's hash tag, so the layout works on Redis Cluster.
//!
//! The node side (forwarding commands to the owner, per-room subscriptions, takeover) builds
//! on these primitives with the cluster issue.

pub mod store;
