//! The node's one pub/sub connection and what arrives on it: (re)connecting with
//! backoff, the self-probe, forwarded messages for rooms this node owns, frames for this
//! node's connections, and the feeds (one per room) that deliver each room's events in
//! order, without gap or duplicate.

use super::*;

impl ClusterNode {
    /// The node's one pub/sub connection: (re)connects with backoff, resubscribes every
    /// channel, refills every feed, then reads messages, probes and internal notices.
    pub(super) async fn dispatch(
        self: Arc<Self>,
        hub: Arc<dyn NodeHost>,
        mut rx: mpsc::UnboundedReceiver<Internal>,
    ) {
        let mut feeds: HashMap<String, Feed> = HashMap::new();
        let mut backoff = BACKOFF_MIN;
        let mut probe_n: u64 = 0;
        loop {
            if self.cancel.is_cancelled() {
                return;
            }
            let ps =
                tokio::time::timeout(SUBSCRIBE_TIMEOUT, self.store.client().get_async_pubsub())
                    .await;
            let ps = match ps {
                Ok(Ok(p)) => p,
                other => {
                    let why = match other {
                        Ok(Err(e)) => format!("redis pub/sub: {e}"),
                        _ => "redis pub/sub: connect timed out".into(),
                    };
                    self.set_health(false, &why);
                    tokio::select! {
                        () = self.cancel.cancelled() => return,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    continue;
                }
            };
            let (mut sink, mut stream) = ps.split();
            let chans: Vec<String> = self
                .channels
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .cloned()
                .collect();
            let sub = tokio::time::timeout(SUBSCRIBE_TIMEOUT, sink.subscribe(&chans)).await;
            if !matches!(sub, Ok(Ok(()))) {
                self.set_health(false, "redis pub/sub: subscribe failed");
                tokio::select! {
                    () = self.cancel.cancelled() => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
            *self.sink.lock().await = Some(sink);
            // Channels added while we were (re)subscribing.
            let now: Vec<String> = self
                .channels
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .filter(|c| !chans.contains(c))
                .cloned()
                .collect();
            if !now.is_empty() {
                if let Some(mut s) = self.sink.lock().await.clone() {
                    let _ = tokio::time::timeout(SUBSCRIBE_TIMEOUT, s.subscribe(&now)).await;
                }
            }
            backoff = BACKOFF_MIN;
            // Anything published while we were not listening is in the streams.
            let rooms: Vec<String> = feeds.keys().cloned().collect();
            for room in rooms {
                self.fill(&mut feeds, &room).await;
            }
            self.pubsub_up.store(true, Ordering::Release);
            self.set_health(true, "");
            let mut probe = tokio::time::interval(PROBE_EVERY);
            probe.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut outstanding: Option<(u64, Instant)> = None;
            loop {
                tokio::select! {
                    () = self.cancel.cancelled() => return,
                    m = stream.next() => match m {
                        None => {
                            tracing::warn!(node = %self.cfg.node, "pub/sub connection closed; rebuilding");
                            break;
                        }
                        Some(m) => {
                            let channel = m.get_channel_name().to_string();
                            let payload = m.get_payload_bytes().to_vec();
                            if let Some(n) = self.on_message(&hub, &mut feeds, &channel, &payload).await {
                                if outstanding.is_some_and(|(o, _)| n >= o) {
                                    outstanding = None;
                                }
                            }
                        }
                    },
                    Some(i) = rx.recv() => match i {
                        Internal::ConnGone(conn) => self.conn_gone(&mut feeds, conn).await,
                    },
                    _ = probe.tick() => {
                        if let Some((_, sent)) = outstanding {
                            if self.clock.instant() - sent > PROBE_TIMEOUT {
                                tracing::warn!(node = %self.cfg.node, "pub/sub probe did not come back; rebuilding");
                                break;
                            }
                            continue;
                        }
                        probe_n += 1;
                        let body = serde_json::to_vec(&ToNode::Probe { n: probe_n }).unwrap_or_default();
                        match self.store.publish(&self.keys.channel, &body).await {
                            Ok(_) => outstanding = Some((probe_n, self.clock.instant())),
                            Err(e) => {
                                self.set_health(false, &format!("redis: {e}"));
                                break;
                            }
                        }
                    }
                }
            }
            *self.sink.lock().await = None;
            self.pubsub_up.store(false, Ordering::Release);
            self.set_health(false, "redis pub/sub connection lost; reconnecting");
        }
    }

    /// Handles one pub/sub message; returns a probe number when it was our probe.
    async fn on_message(
        self: &Arc<Self>,
        hub: &Arc<dyn NodeHost>,
        feeds: &mut HashMap<String, Feed>,
        channel: &str,
        payload: &[u8],
    ) -> Option<u64> {
        if channel == self.keys.channel {
            let msg: ToNode = match serde_json::from_slice(payload) {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!("bad node message: {e}");
                    return None;
                }
            };
            if let ToNode::Probe { n } = msg {
                return Some(n);
            }
            self.to_node(feeds, msg).await;
            return None;
        }
        let room = tag_of(channel)?.to_string();
        if channel.ends_with(":inbox") {
            match serde_json::from_slice::<ToOwner>(payload) {
                Ok(m) => self.to_owner(hub, m),
                Err(e) => tracing::warn!("bad inbox message: {e}"),
            }
        } else if channel.ends_with(":events") {
            self.on_event(feeds, &room, payload).await;
        }
        None
    }

    // ---- the node holding connections ----

    async fn to_node(&self, feeds: &mut HashMap<String, Feed>, msg: ToNode) {
        tracing::trace!(?msg, "node message");
        match msg {
            ToNode::Frames { conn, frames } => {
                let st = self.lock();
                if let Some(c) = st.conns.get(&conn) {
                    for f in frames {
                        let _ = c.out.push_forced(Utf8Bytes::from(f));
                    }
                }
            }
            ToNode::Sub { conn, room, after } => self.on_sub(feeds, conn, &room, after).await,
            ToNode::Unsub { conn, room } => {
                let empty = feeds.get_mut(&room).is_some_and(|f| {
                    f.subs.remove(&conn);
                    f.subs.is_empty()
                });
                if empty {
                    feeds.remove(&room);
                    self.unsubscribe(&self.store.keys(&room).events).await;
                }
            }
            ToNode::Close { conn, code, flush } => {
                if let Some(c) = self.lock().conns.get(&conn) {
                    c.out.close(CloseReason::from_code(code), flush);
                }
            }
            ToNode::Joined { conn, outcome } => {
                let tx = self.lock().pending_joins.remove(&conn);
                if let Some(tx) = tx {
                    match outcome {
                        JoinOutcome::Ok { seq, recovered } => {
                            let _ = tx.send(Ok(JoinReply { seq, recovered }));
                        }
                        JoinOutcome::Refused { code, message } => {
                            let _ = tx.send(Err(msg::rejection(code, message)));
                        }
                        // Dropping the sender: the gateway looks the room up again.
                        JoinOutcome::Unavailable => drop(tx),
                    }
                }
            }
            ToNode::Done { conn, refused } => {
                let tx = self.lock().pending_cmds.remove(&conn);
                if let Some(tx) = tx {
                    let _ = tx.send(match refused {
                        None => Ok(()),
                        Some(code) => Err(Refusal::new(code, "")),
                    });
                }
            }
            ToNode::Reply { req, summary } => {
                if let Some(tx) = self.lock().pending_reqs.remove(&req) {
                    let _ = tx.send(summary);
                }
            }
            ToNode::Probe { .. } => {}
        }
    }

    async fn on_sub(&self, feeds: &mut HashMap<String, Feed>, conn: u64, room: &str, after: u64) {
        if !self.lock().conns.contains_key(&conn) {
            return;
        }
        if !feeds.contains_key(room) {
            self.subscribe(&self.store.keys(room).events).await;
            let mut feed = Feed::new(after);
            feed.subs.insert(conn, after);
            feeds.insert(room.to_string(), feed);
            self.fill(feeds, room).await;
            return;
        }
        let Some(feed) = feeds.get_mut(room) else {
            return;
        };
        if feed.subs.contains_key(&conn) {
            // Already served (a new owner re-announcing a connection it adopted).
            return;
        }
        if after < feed.last {
            let from_buf = feed.buf.front().is_some_and(|e| e.seq <= after + 1);
            let missed: Vec<Arc<Sequenced>> = if from_buf {
                feed.buf.iter().filter(|e| e.seq > after).cloned().collect()
            } else {
                let upto = feed.last;
                let from_stream = |g: &crate::cluster::store::Gap| {
                    g.entries.first().is_some_and(|e| e.0 == after + 1)
                        && g.entries.last().is_some_and(|e| e.0 >= upto)
                };
                match self.store.since(room, after, FILL_PAGE).await {
                    Ok(gap) if from_stream(&gap) => gap
                        .entries
                        .iter()
                        .filter(|(s, _)| *s <= upto)
                        .filter_map(|(_, b)| decode_event(b).map(|p| Arc::new(to_sequenced(p))))
                        .collect(),
                    _ => {
                        // Cannot be served without a gap: the client resumes.
                        if let Some(c) = self.lock().conns.get(&conn) {
                            c.out.close(CloseReason::SlowConsumer, true);
                        }
                        return;
                    }
                }
            };
            let st = self.lock();
            if let Some(c) = st.conns.get(&conn) {
                for e in missed.iter().filter(|e| e.seq > after) {
                    if e.audience.includes(&c.member, c.role) {
                        let _ = c.out.push(e.frame.clone());
                    }
                }
            }
        }
        if let Some(feed) = feeds.get_mut(room) {
            feed.subs.insert(conn, after);
        }
    }

    async fn on_event(&self, feeds: &mut HashMap<String, Feed>, room: &str, payload: &[u8]) {
        let Some(feed) = feeds.get_mut(room) else {
            return;
        };
        let Some(p) = decode_event(payload) else {
            tracing::warn!(room, "undecodable event");
            return;
        };
        if p.seq <= feed.last {
            return;
        }
        if p.epoch < feed.epoch {
            tracing::warn!(
                room,
                seq = p.seq,
                epoch = p.epoch,
                "event from a stale epoch dropped"
            );
            return;
        }
        if p.seq > feed.last + 1 {
            self.fill(feeds, room).await;
            return;
        }
        let ev = Arc::new(to_sequenced_epoch(p, feed));
        self.deliver(feed, ev);
    }

    fn deliver(&self, feed: &mut Feed, ev: Arc<Sequenced>) {
        {
            let st = self.lock();
            for (conn, after) in &feed.subs {
                if ev.seq <= *after {
                    continue;
                }
                if let Some(c) = st.conns.get(conn) {
                    if ev.audience.includes(&c.member, c.role) {
                        let _ = c.out.push(ev.frame.clone());
                    }
                }
            }
        }
        feed.last = ev.seq;
        if feed.buf.len() >= FEED_BUFFER {
            feed.buf.pop_front();
        }
        feed.buf.push_back(ev);
    }

    /// Reads the stream after the feed's last event and delivers what it finds, in order.
    async fn fill(&self, feeds: &mut HashMap<String, Feed>, room: &str) {
        for _ in 0..FILL_ROUNDS {
            let Some(last) = feeds.get(room).map(|f| f.last) else {
                return;
            };
            let gap = match self.store.since(room, last, FILL_PAGE).await {
                Ok(g) => g,
                Err(e) => {
                    tracing::warn!(room, "cannot fill a gap yet: {e}");
                    return;
                }
            };
            let Some(feed) = feeds.get_mut(room) else {
                return;
            };
            if gap.top <= last {
                return;
            }
            if gap.entries.first().is_none_or(|e| e.0 != last + 1) {
                // Trimmed away: these connections resume (and get a fresh snapshot).
                tracing::warn!(room, last, top = gap.top, "gap no longer in the stream");
                let st = self.lock();
                for conn in feed.subs.keys() {
                    if let Some(c) = st.conns.get(conn) {
                        c.out.close(CloseReason::SlowConsumer, true);
                    }
                }
                drop(st);
                feed.last = gap.top;
                feed.buf.clear();
                return;
            }
            for (seq, bytes) in gap.entries {
                if seq != feed.last + 1 {
                    break;
                }
                if let Some(p) = decode_event(&bytes) {
                    let ev = Arc::new(to_sequenced_epoch(p, feed));
                    self.deliver(feed, ev);
                } else {
                    feed.last = seq;
                }
            }
        }
    }

    async fn conn_gone(&self, feeds: &mut HashMap<String, Feed>, conn: u64) {
        let mut empty = Vec::new();
        for (room, f) in feeds.iter_mut() {
            if f.subs.remove(&conn).is_some() && f.subs.is_empty() {
                empty.push(room.clone());
            }
        }
        for room in empty {
            feeds.remove(&room);
            self.unsubscribe(&self.store.keys(&room).events).await;
        }
    }
}

fn to_sequenced_epoch(p: msg::EventPayload, feed: &mut Feed) -> Sequenced {
    feed.epoch = feed.epoch.max(p.epoch);
    to_sequenced(p)
}

/// One room's events on this node: the last delivered number, recent events, and the local
/// connections served with the number after which each gets events.
struct Feed {
    last: u64,
    epoch: u64,
    buf: VecDeque<Arc<Sequenced>>,
    subs: HashMap<u64, u64>,
}

impl Feed {
    fn new(last: u64) -> Feed {
        Feed {
            last,
            epoch: 0,
            buf: VecDeque::new(),
            subs: HashMap::new(),
        }
    }
}
