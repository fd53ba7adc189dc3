//! A connection's outbound queue, bounded in bytes.
//!
//! Rooms push without waiting (`push`), the connection's writer drains everything queued in
//! one go (`next`). When a push would go over the byte limit, the queue drops what it holds
//! and closes with [`CloseReason::SlowConsumer`]: the client reconnects and resumes, and the
//! room never waits for it. A std mutex guards the state: it is held for a few pointer moves,
//! never across an await.

use std::collections::VecDeque;
use std::sync::Mutex;

use axum::extract::ws::{Message, Utf8Bytes};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::cluster::msg::ToNode;
use crate::wire::CloseReason;

/// Why a push did not queue the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushError {
    /// The queue was over its limit; it is now closing as a slow consumer.
    Overflow,
    /// The queue is already closing.
    Closed,
}

/// One queued item: a WebSocket message for the client or, on a cluster proxy's queue only,
/// a control message for the proxy's forwarder, kept in order with the frames around it
/// (a `sub` must reach the connection's node after the snapshot it follows). A typed value,
/// so nothing in one process is serialized to be parsed back.
#[derive(Debug)]
pub enum Queued {
    Ws(Message),
    Control(Box<ToNode>),
}

/// What the writer should do next.
#[derive(Debug)]
pub enum Next {
    Send(Vec<Queued>),
    Close(CloseReason),
}

/// What a control message counts against the byte limit: about its JSON size.
const CONTROL_BYTES: usize = 64;

/// Frames' worth of queue capacity a connection keeps between batches.
const KEEP_CAPACITY: usize = 16;

#[derive(Debug)]
pub struct Outbound {
    limit: usize,
    state: Mutex<State>,
    notify: Notify,
    /// Fires on any close, so the connection's reader stops taking commands.
    closed: CancellationToken,
    /// Fires on a close that drops queued frames (slow consumer), so the writer abandons a
    /// write that the client is not reading.
    aborted: CancellationToken,
}

#[derive(Debug, Default)]
struct State {
    items: VecDeque<Queued>,
    bytes: usize,
    /// The close reason, and whether queued frames go out first.
    closing: Option<(CloseReason, bool)>,
}

impl Outbound {
    pub fn new(limit: usize) -> Outbound {
        Outbound {
            limit,
            state: Mutex::new(State::default()),
            notify: Notify::new(),
            closed: CancellationToken::new(),
            aborted: CancellationToken::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a text frame, or closes the queue as a slow consumer when it would overflow.
    pub fn push(&self, frame: Utf8Bytes) -> Result<(), PushError> {
        self.push_inner(frame, false)
    }

    /// Queues a frame that must go out whatever the limit (the welcome and snapshot a room
    /// queues on join); it still counts against later pushes.
    pub fn push_forced(&self, frame: Utf8Bytes) -> Result<(), PushError> {
        self.push_inner(frame, true)
    }

    /// Queues a control message for a cluster proxy's forwarder (forced, like the frames it
    /// travels with).
    pub fn push_control(&self, msg: ToNode) -> Result<(), PushError> {
        self.push_item(Queued::Control(Box::new(msg)), CONTROL_BYTES, true)
    }

    fn push_inner(&self, frame: Utf8Bytes, forced: bool) -> Result<(), PushError> {
        let len = frame.len();
        self.push_item(Queued::Ws(Message::Text(frame)), len, forced)
    }

    fn push_item(&self, item: Queued, len: usize, forced: bool) -> Result<(), PushError> {
        let mut st = self.lock();
        if st.closing.is_some() {
            return Err(PushError::Closed);
        }
        if !forced && st.bytes + len > self.limit {
            st.items.clear();
            st.bytes = 0;
            st.closing = Some((CloseReason::SlowConsumer, false));
            drop(st);
            self.closed.cancel();
            self.aborted.cancel();
            self.notify.notify_one();
            return Err(PushError::Overflow);
        }
        st.bytes += len;
        st.items.push_back(item);
        drop(st);
        self.notify.notify_one();
        Ok(())
    }

    /// Queues a WebSocket ping (heartbeat); it does not count against the limit.
    pub fn ping(&self) {
        let mut st = self.lock();
        if st.closing.is_none() {
            st.items
                .push_back(Queued::Ws(Message::Ping(Default::default())));
        }
        drop(st);
        self.notify.notify_one();
    }

    /// Closes the queue. With `flush`, frames already queued go out before the close frame.
    /// The first reason wins.
    pub fn close(&self, reason: CloseReason, flush: bool) {
        let mut st = self.lock();
        if st.closing.is_none() {
            st.closing = Some((reason, flush));
            if !flush {
                st.items.clear();
                st.bytes = 0;
                self.aborted.cancel();
            }
            self.closed.cancel();
        }
        drop(st);
        self.notify.notify_one();
    }

    /// Resolves once the queue is closing.
    pub async fn closed(&self) {
        self.closed.cancelled().await;
    }

    /// Resolves once the queue was closed without flushing.
    pub async fn aborted(&self) {
        self.aborted.cancelled().await;
    }

    pub fn is_closing(&self) -> bool {
        self.lock().closing.is_some()
    }

    /// The reason the queue is closing, if it is.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.lock().closing.map(|(r, _)| r)
    }

    /// Bytes queued and not yet taken by the writer.
    pub fn queued_bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Waits for frames (all of them at once) or the close.
    pub async fn next(&self) -> Next {
        loop {
            {
                let mut st = self.lock();
                if !st.items.is_empty() {
                    st.bytes = 0;
                    // A deque grown by a burst (the first few hundred joins of a hall are
                    // announced to everyone) is taken whole, so the connection does not keep
                    // it for good; a small one is drained and reused, so a writer that is
                    // behind does not regrow it for every batch.
                    let items = if st.items.capacity() > KEEP_CAPACITY {
                        Vec::from(std::mem::take(&mut st.items))
                    } else {
                        st.items.drain(..).collect()
                    };
                    return Next::Send(items);
                }
                if let Some((reason, _)) = st.closing {
                    return Next::Close(reason);
                }
            }
            // `notify_one` stores a permit when nobody waits, so a push between the check
            // above and this await is not missed.
            self.notify.notified().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn overflow_closes_as_slow_consumer() {
        let q = Outbound::new(10);
        q.push(Utf8Bytes::from_static("12345")).unwrap();
        q.push(Utf8Bytes::from_static("12345")).unwrap();
        assert_eq!(
            q.push(Utf8Bytes::from_static("1")),
            Err(PushError::Overflow)
        );
        assert_eq!(q.push(Utf8Bytes::from_static("1")), Err(PushError::Closed));
        assert!(matches!(
            q.next().await,
            Next::Close(CloseReason::SlowConsumer)
        ));
    }

    #[tokio::test]
    async fn flushing_close_sends_queued_frames_first() {
        let q = Outbound::new(100);
        q.push(Utf8Bytes::from_static("a")).unwrap();
        q.close(CloseReason::Removed, true);
        assert!(matches!(q.next().await, Next::Send(v) if v.len() == 1));
        assert!(matches!(q.next().await, Next::Close(CloseReason::Removed)));
        assert_eq!(q.queued_bytes(), 0);
    }

    #[tokio::test]
    async fn draining_frees_the_budget() {
        let q = Outbound::new(10);
        q.push(Utf8Bytes::from_static("1234567890")).unwrap();
        assert!(matches!(q.next().await, Next::Send(_)));
        q.push(Utf8Bytes::from_static("1234567890")).unwrap();
    }

    #[tokio::test]
    async fn a_control_message_keeps_its_place_among_the_frames() {
        let q = Outbound::new(100);
        q.push(Utf8Bytes::from_static("a")).unwrap();
        q.push_control(ToNode::Probe { n: 7 }).unwrap();
        q.push(Utf8Bytes::from_static("b")).unwrap();
        let Next::Send(items) = q.next().await else {
            panic!("frames expected")
        };
        let kinds: Vec<String> = items
            .iter()
            .map(|i| match i {
                Queued::Ws(Message::Text(t)) => t.as_str().to_string(),
                Queued::Control(c) => format!("{c:?}"),
                Queued::Ws(m) => format!("{m:?}"),
            })
            .collect();
        assert_eq!(kinds, ["a", "Probe { n: 7 }", "b"]);
    }
}
