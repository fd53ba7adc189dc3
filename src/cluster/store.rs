//! Atomic Redis primitives for room ownership, sequencing and history.
//!
//! Key layout for room `R` under prefix `P` (all keys share the hash tag `{R}`):
//! - `P:{R}:lease`  — the owning node's id, with a TTL (`SET NX PX`, renewed while alive);
//! - `P:{R}:epoch`  — the fencing epoch, `INCR`ed on every takeover;
//! - `P:{R}:seq`    — the last event sequence number;
//! - `P:{R}:stream` — the bounded event history; entry id `<seq>-0`, fields `e` (epoch) and
//!   `d` (the published bytes);
//! - `P:{R}:snap`   — the latest engine snapshot (`seq`, `epoch`, `state`);
//! - channel `P:{R}:events` — every appended event, published in the same script.

use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};

/// Redis keys and channels of one room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    pub lease: String,
    pub epoch: String,
    pub seq: String,
    pub stream: String,
    pub snap: String,
    pub events: String,
}

impl Keys {
    pub fn new(prefix: &str, room: &str) -> Keys {
        let k = |s: &str| format!("{prefix}:{{{room}}}:{s}");
        Keys {
            lease: k("lease"),
            epoch: k("epoch"),
            seq: k("seq"),
            stream: k("stream"),
            snap: k("snap"),
            events: k("events"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// This node does not hold the room's lease (it expired or another node took over).
    #[error("this node does not own the room")]
    NotOwner,
    /// The lease is ours but the epoch moved on: a takeover happened in between.
    #[error("stale epoch")]
    StaleEpoch,
    /// The event's number is not the next one: something else appended.
    #[error("sequence mismatch: expected {expected}, stream is at {actual}")]
    SeqMismatch { expected: u64, actual: u64 },
}

/// The events after a given sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    /// The room's last sequence number.
    pub top: u64,
    /// `(seq, bytes)` in order.
    pub entries: Vec<(u64, Vec<u8>)>,
    /// False when part of the gap was already trimmed from the stream: the caller must send a
    /// fresh snapshot instead (never a partial catch-up).
    pub complete: bool,
}

// KEYS: lease, epoch, seq, stream. ARGV: node, epoch, seq, maxlen, payload, channel.
const APPEND: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {err='NOT_OWNER'} end
if redis.call('GET', KEYS[2]) ~= ARGV[2] then return {err='STALE_EPOCH'} end
local cur = tonumber(redis.call('GET', KEYS[3]) or '0')
if cur + 1 ~= tonumber(ARGV[3]) then return {err='SEQ_MISMATCH ' .. cur} end
redis.call('SET', KEYS[3], ARGV[3])
redis.call('XADD', KEYS[4], 'MAXLEN', '=', ARGV[4], ARGV[3] .. '-0', 'e', ARGV[2], 'd', ARGV[5])
redis.call('PUBLISH', ARGV[6], ARGV[5])
return cur + 1
";

// KEYS: lease. ARGV: node, ttl_ms.
const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
";

// KEYS: lease. ARGV: node.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

// KEYS: lease, epoch, snap. ARGV: node, epoch, seq, state.
const SNAPSHOT: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {err='NOT_OWNER'} end
if redis.call('GET', KEYS[2]) ~= ARGV[2] then return {err='STALE_EPOCH'} end
redis.call('HSET', KEYS[3], 'seq', ARGV[3], 'epoch', ARGV[2], 'state', ARGV[4])
return 1
";

/// One node's handle on the shared store.
#[derive(Clone)]
pub struct Store {
    conn: ConnectionManager,
    prefix: String,
    node: String,
    lease_ms: u64,
    history: usize,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("prefix", &self.prefix)
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

/// Maps the scripts' error replies (`NOT_OWNER`, `STALE_EPOCH`, `SEQ_MISMATCH <n>`) to values.
fn script_error(e: redis::RedisError, expected: u64) -> StoreError {
    match e.code() {
        Some("NOT_OWNER") => StoreError::NotOwner,
        Some("STALE_EPOCH") => StoreError::StaleEpoch,
        Some("SEQ_MISMATCH") => {
            let actual = e.detail().and_then(|d| d.trim().parse().ok()).unwrap_or(0);
            StoreError::SeqMismatch { expected, actual }
        }
        _ => StoreError::Redis(e),
    }
}

impl Store {
    /// Connects (with automatic reconnection) as `node`.
    pub async fn connect(
        url: &str,
        prefix: &str,
        node: &str,
        lease_ms: u64,
        history: usize,
    ) -> Result<Store, StoreError> {
        let client = redis::Client::open(url)?;
        let conn = ConnectionManager::new(client).await?;
        Ok(Store {
            conn,
            prefix: prefix.to_string(),
            node: node.to_string(),
            lease_ms,
            history,
        })
    }

    pub fn keys(&self, room: &str) -> Keys {
        Keys::new(&self.prefix, room)
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    /// Takes the room's lease if nobody holds it; returns the new fencing epoch.
    pub async fn acquire(&self, room: &str) -> Result<Option<u64>, StoreError> {
        let k = self.keys(room);
        let mut c = self.conn.clone();
        let ok: Option<String> = redis::cmd("SET")
            .arg(&k.lease)
            .arg(&self.node)
            .arg("NX")
            .arg("PX")
            .arg(self.lease_ms)
            .query_async(&mut c)
            .await?;
        if ok.is_none() {
            return Ok(None);
        }
        let epoch: u64 = c.incr(&k.epoch, 1).await?;
        Ok(Some(epoch))
    }

    /// Extends our lease; false when we no longer hold it.
    pub async fn renew(&self, room: &str) -> Result<bool, StoreError> {
        let k = self.keys(room);
        let mut c = self.conn.clone();
        let n: i64 = Script::new(RENEW)
            .key(&k.lease)
            .arg(&self.node)
            .arg(self.lease_ms)
            .invoke_async(&mut c)
            .await?;
        Ok(n == 1)
    }

    /// Gives the lease up (graceful shutdown hands rooms over without waiting for expiry).
    pub async fn release(&self, room: &str) -> Result<bool, StoreError> {
        let k = self.keys(room);
        let mut c = self.conn.clone();
        let n: i64 = Script::new(RELEASE)
            .key(&k.lease)
            .arg(&self.node)
            .invoke_async(&mut c)
            .await?;
        Ok(n == 1)
    }

    pub async fn owner(&self, room: &str) -> Result<Option<String>, StoreError> {
        let mut c = self.conn.clone();
        Ok(c.get(self.keys(room).lease).await?)
    }

    /// `(epoch, last seq)` of the room.
    pub async fn top(&self, room: &str) -> Result<(u64, u64), StoreError> {
        let k = self.keys(room);
        let mut c = self.conn.clone();
        let (e, s): (Option<u64>, Option<u64>) = redis::pipe()
            .get(&k.epoch)
            .get(&k.seq)
            .query_async(&mut c)
            .await?;
        Ok((e.unwrap_or(0), s.unwrap_or(0)))
    }

    /// Appends event `seq` (which must be the next number) under `epoch` and publishes it, in
    /// one atomic step that first checks this node still owns the room at that epoch.
    pub async fn append(
        &self,
        room: &str,
        epoch: u64,
        seq: u64,
        payload: &[u8],
    ) -> Result<(), StoreError> {
        let k = self.keys(room);
        let mut c = self.conn.clone();
        let res: Result<u64, redis::RedisError> = Script::new(APPEND)
            .key(&k.lease)
            .key(&k.epoch)
            .key(&k.seq)
            .key(&k.stream)
            .arg(&self.node)
            .arg(epoch)
            .arg(seq)
            .arg(self.history)
            .arg(payload)
            .arg(&k.events)
            .invoke_async(&mut c)
            .await;
        res.map(|_| ()).map_err(|e| script_error(e, seq))
    }

    /// The events after `after`, up to `limit`; `complete` is false when the stream no longer
    /// holds all of them.
    pub async fn since(&self, room: &str, after: u64, limit: usize) -> Result<Gap, StoreError> {
        let k = self.keys(room);
        let mut c = self.conn.clone();
        let (_, top) = self.top(room).await?;
        if after >= top {
            return Ok(Gap {
                top,
                entries: Vec::new(),
                complete: after == top,
            });
        }
        let reply: redis::streams::StreamRangeReply = c
            .xrange_count(&k.stream, format!("{}-0", after + 1), "+", limit)
            .await?;
        let mut entries = Vec::with_capacity(reply.ids.len());
        for id in reply.ids {
            let seq: u64 = id
                .id
                .split('-')
                .next()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let data: Vec<u8> = match id.map.get("d") {
                Some(v) => redis::from_redis_value(v.clone()).unwrap_or_default(),
                None => Vec::new(),
            };
            entries.push((seq, data));
        }
        let contiguous = entries
            .iter()
            .enumerate()
            .all(|(i, (s, _))| *s == after + 1 + i as u64);
        let complete = contiguous && entries.last().map(|e| e.0) == Some(top);
        Ok(Gap {
            top,
            entries,
            complete,
        })
    }

    /// Stores the engine snapshot at `seq`, fenced like `append`.
    pub async fn save_snapshot(
        &self,
        room: &str,
        epoch: u64,
        seq: u64,
        state: &[u8],
    ) -> Result<(), StoreError> {
        let k = self.keys(room);
        let mut c = self.conn.clone();
        let res: Result<i64, redis::RedisError> = Script::new(SNAPSHOT)
            .key(&k.lease)
            .key(&k.epoch)
            .key(&k.snap)
            .arg(&self.node)
            .arg(epoch)
            .arg(seq)
            .arg(state)
            .invoke_async(&mut c)
            .await;
        res.map(|_| ()).map_err(|e| script_error(e, seq))
    }

    /// The latest snapshot: `(seq, state)`.
    pub async fn load_snapshot(&self, room: &str) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        let k = self.keys(room);
        let mut c = self.conn.clone();
        let (seq, state): (Option<u64>, Option<Vec<u8>>) = redis::cmd("HMGET")
            .arg(&k.snap)
            .arg("seq")
            .arg("state")
            .query_async(&mut c)
            .await?;
        Ok(seq.zip(state))
    }
}
