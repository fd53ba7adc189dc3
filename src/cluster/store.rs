//! Atomic Redis primitives for room ownership, sequencing and history.
//!
//! Long file: each Lua step sits beside the one function that runs it, under the key layout
//! below, so what is atomic and which keys it touches read in one place; split, a reader
//! would chase a script across files to check a fencing rule.
//!
//! Key layout for room `R` under prefix `P` (all keys share the hash tag `{R}`):
//! - `P:{R}:lease`  — the owning node's id, with a TTL (`SET NX PX`, renewed while alive);
//! - `P:{R}:epoch`  — the fencing epoch, `INCR`ed on every takeover;
//! - `P:{R}:seq`    — the last event sequence number;
//! - `P:{R}:stream` — the bounded event history; entry id `<seq>-0`, fields `e` (epoch) and
//!   `d` (the published bytes);
//! - `P:{R}:snap`   — the latest engine snapshot (`seq`, `epoch`, `state`);
//! - `P:{R}:inputs` — the engine inputs applied since the snapshot (JSON, one per list item),
//!   appended in the same script as the events they caused and cleared in the same script
//!   that stores the next snapshot, so snapshot + inputs always rebuild the engine exactly;
//! - `P:{R}:conns`  — the connections attached to the room, `node/conn` -> token claims, so
//!   a node taking over knows whom to keep and whom to mark gone;
//! - `P:{R}:meta`   — the event's metadata (hall rooms only; shared event registry);
//! - `P:{R}:groups` — a hall's live breakout group rooms: index -> `room opening`;
//! - channel `P:{R}:events` — every appended event, published in the same script;
//! - channel `P:{R}:inbox`  — joins and commands forwarded to the room's owner.
//!
//! Per node `N` (hash tag `{node:N}`): `P:{node:N}:alive` (liveness, with a TTL) and channel
//! `P:{node:N}:node` (frames, replies and the node's own pub/sub probe).

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};

/// Bound on one Redis command. redis-rs 1.x defaults to 500 ms; scripts that append a burst
/// of events on a busy machine can take longer, and a wedged server must not hang a room
/// forever either.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Bound on (re)connecting.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Redis keys and channels of one room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    pub lease: String,
    pub epoch: String,
    pub seq: String,
    pub stream: String,
    pub snap: String,
    pub inputs: String,
    pub conns: String,
    pub meta: String,
    pub groups: String,
    pub events: String,
    pub inbox: String,
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
            inputs: k("inputs"),
            conns: k("conns"),
            meta: k("meta"),
            groups: k("groups"),
            events: k("events"),
            inbox: k("inbox"),
        }
    }
}

/// Keys and channels of one node, under the node's own hash tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeKeys {
    pub alive: String,
    pub channel: String,
}

impl NodeKeys {
    pub fn new(prefix: &str, node: &str) -> NodeKeys {
        NodeKeys {
            alive: format!("{prefix}:{{node:{node}}}:alive"),
            channel: format!("{prefix}:{{node:{node}}}:node"),
        }
    }
}

/// What a node taking a room over reads, in one atomic step.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    /// `(seq, engine state)` of the latest snapshot.
    pub snapshot: Option<(u64, Vec<u8>)>,
    /// The inputs applied after the snapshot, oldest first.
    pub inputs: Vec<Vec<u8>>,
    /// The room's last sequence number.
    pub top: u64,
    /// Connections attached to the room: `node/conn` -> claims (JSON).
    pub conns: Vec<(String, Vec<u8>)>,
    /// A hall's live breakout groups: index -> `room opening`.
    pub groups: Vec<(String, String)>,
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

/// The Lua steps, each hashed once: `Script::new` computes the script's SHA-1, and `apply` runs
/// for every input a room takes.
struct Scripts {
    apply: Script,
    snapshot_trim: Script,
    reseed: Script,
    renew: Script,
    release: Script,
}

fn scripts() -> &'static Scripts {
    static SCRIPTS: std::sync::LazyLock<Scripts> = std::sync::LazyLock::new(|| Scripts {
        apply: Script::new(APPLY),
        snapshot_trim: Script::new(SNAPSHOT_TRIM),
        reseed: Script::new(RESEED),
        renew: Script::new(RENEW),
        release: Script::new(RELEASE),
    });
    &SCRIPTS
}

// KEYS: lease, epoch, seq, stream, inputs.
// ARGV: node, epoch, first_seq, maxlen, channel, count, then for each of the `count` inputs:
// input, n, payload_1 .. payload_n. All inputs or none: the checks come before any write.
const APPLY: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {err='NOT_OWNER'} end
if redis.call('GET', KEYS[2]) ~= ARGV[2] then return {err='STALE_EPOCH'} end
local cur = tonumber(redis.call('GET', KEYS[3]) or '0')
local first = tonumber(ARGV[3])
if cur + 1 ~= first then return {err='SEQ_MISMATCH ' .. cur} end
local s = cur
local a = 7
for _ = 1, tonumber(ARGV[6]) do
  local input = ARGV[a]
  local n = tonumber(ARGV[a + 1])
  for i = 1, n do
    s = s + 1
    redis.call('XADD', KEYS[4], 'MAXLEN', '=', ARGV[4], s .. '-0', 'e', ARGV[2], 'd', ARGV[a + 1 + i])
    redis.call('PUBLISH', ARGV[5], ARGV[a + 1 + i])
  end
  if input ~= '' then redis.call('RPUSH', KEYS[5], input) end
  a = a + 2 + n
end
if s > cur then redis.call('SET', KEYS[3], s) end
return s
";

// KEYS: lease, epoch, snap, inputs. ARGV: node, epoch, seq, state.
const SNAPSHOT_TRIM: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {err='NOT_OWNER'} end
if redis.call('GET', KEYS[2]) ~= ARGV[2] then return {err='STALE_EPOCH'} end
redis.call('HSET', KEYS[3], 'seq', ARGV[3], 'epoch', ARGV[2], 'state', ARGV[4])
redis.call('DEL', KEYS[4])
return 1
";

// Redis lost the room (restarted without persistence): the owner that still holds the state
// puts it back. Refused when the room's epoch exists (then the data was not lost, and a
// takeover is the only way in).
// KEYS: lease, epoch, seq, snap, inputs, meta. ARGV: node, ttl_ms, epoch, seq, state, meta.
const RESEED: &str = r"
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
redis.call('SET', KEYS[2], ARGV[3])
redis.call('SET', KEYS[3], ARGV[4])
redis.call('HSET', KEYS[4], 'seq', ARGV[4], 'epoch', ARGV[3], 'state', ARGV[5])
redis.call('DEL', KEYS[5])
if ARGV[6] ~= '' then redis.call('SET', KEYS[6], ARGV[6]) end
return 1
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

/// One node's handle on the shared store.
#[derive(Clone)]
pub struct Store {
    client: redis::Client,
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
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(1));
        let conn = ConnectionManager::new_with_config(client.clone(), config).await?;
        Ok(Store {
            client,
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

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn lease_ms(&self) -> u64 {
        self.lease_ms
    }

    /// The client, for the node's dedicated pub/sub connection.
    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    pub fn node_keys(&self, node: &str) -> NodeKeys {
        NodeKeys::new(&self.prefix, node)
    }

    /// A round trip, for readiness.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let _: String = redis::cmd("PING").query_async(&mut c).await?;
        Ok(())
    }

    /// Publishes raw bytes; returns how many subscribers received them.
    pub async fn publish(&self, channel: &str, payload: &[u8]) -> Result<u64, StoreError> {
        let mut c = self.conn.clone();
        Ok(c.publish(channel, payload).await?)
    }

    /// Marks this node alive for `ttl_ms`.
    pub async fn heartbeat(&self, ttl_ms: u64) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let key = self.node_keys(&self.node).alive;
        let _: () = c.pset_ex(key, 1, ttl_ms).await?;
        Ok(())
    }

    /// Whether `node`'s liveness key exists.
    pub async fn alive(&self, node: &str) -> Result<bool, StoreError> {
        let mut c = self.conn.clone();
        Ok(c.exists(self.node_keys(node).alive).await?)
    }

    /// Stores an event's metadata next to its hall (the shared event registry).
    pub async fn put_meta(&self, hall: &str, meta: &[u8]) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let _: () = c.set(self.keys(hall).meta, meta).await?;
        Ok(())
    }

    pub async fn get_meta(&self, hall: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut c = self.conn.clone();
        Ok(c.get(self.keys(hall).meta).await?)
    }

    /// Records a connection attached to a room (`field` is `node/conn`).
    pub async fn put_conn(&self, room: &str, field: &str, claims: &[u8]) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let _: () = c.hset(self.keys(room).conns, field, claims).await?;
        Ok(())
    }

    pub async fn del_conn(&self, room: &str, field: &str) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let _: () = c.hdel(self.keys(room).conns, field).await?;
        Ok(())
    }

    /// Appends the events one input caused, and the input itself, under `epoch`, and
    /// publishes the events: one atomic step that first checks this node still owns the room
    /// at that epoch and that `first_seq` is the next number. `input` empty: not logged.
    pub async fn apply(
        &self,
        room: &str,
        epoch: u64,
        first_seq: u64,
        input: &[u8],
        payloads: &[Vec<u8>],
    ) -> Result<u64, StoreError> {
        self.apply_many(room, epoch, first_seq, &[(input, payloads.to_vec())])
            .await
    }

    /// Appends several inputs of one room, each with its events, in one atomic step checked
    /// as `apply` checks one: all are stored and published in order, or none. Returns the
    /// room's last sequence number.
    pub async fn apply_many(
        &self,
        room: &str,
        epoch: u64,
        first_seq: u64,
        batch: &[(&[u8], Vec<Vec<u8>>)],
    ) -> Result<u64, StoreError> {
        let k = self.keys(room);
        let mut c = self.conn.clone();
        let mut inv = scripts().apply.prepare_invoke();
        inv.key(&k.lease)
            .key(&k.epoch)
            .key(&k.seq)
            .key(&k.stream)
            .key(&k.inputs)
            .arg(&self.node)
            .arg(epoch)
            .arg(first_seq)
            .arg(self.history)
            .arg(&k.events)
            .arg(batch.len());
        for (input, payloads) in batch {
            inv.arg(*input).arg(payloads.len());
            for p in payloads {
                inv.arg(p.as_slice());
            }
        }
        let res: Result<u64, redis::RedisError> = inv.invoke_async(&mut c).await;
        res.map_err(|e| script_error(e, first_seq))
    }

    /// Stores the engine snapshot at `seq` and clears the input log, fenced like `apply`.
    pub async fn snapshot_and_trim(
        &self,
        room: &str,
        epoch: u64,
        seq: u64,
        state: &[u8],
    ) -> Result<(), StoreError> {
        let k = self.keys(room);
        let mut c = self.conn.clone();
        let res: Result<i64, redis::RedisError> = scripts()
            .snapshot_trim
            .key(&k.lease)
            .key(&k.epoch)
            .key(&k.snap)
            .key(&k.inputs)
            .arg(&self.node)
            .arg(epoch)
            .arg(seq)
            .arg(state)
            .invoke_async(&mut c)
            .await;
        res.map(|_| ()).map_err(|e| script_error(e, seq))
    }

    /// Puts a room Redis lost back from the owner's memory; returns the new epoch, or `None`
    /// when Redis still knows the room (or another node holds its lease).
    pub async fn reseed(
        &self,
        room: &str,
        epoch: u64,
        seq: u64,
        state: &[u8],
        meta: &[u8],
    ) -> Result<Option<u64>, StoreError> {
        let k = self.keys(room);
        let mut c = self.conn.clone();
        let next = epoch + 1;
        let n: i64 = scripts()
            .reseed
            .key(&k.lease)
            .key(&k.epoch)
            .key(&k.seq)
            .key(&k.snap)
            .key(&k.inputs)
            .key(&k.meta)
            .arg(&self.node)
            .arg(self.lease_ms)
            .arg(next)
            .arg(seq)
            .arg(state)
            .arg(meta)
            .invoke_async(&mut c)
            .await?;
        Ok((n == 1).then_some(next))
    }

    /// Whether Redis still knows the room at all (its epoch key exists).
    pub async fn known(&self, room: &str) -> Result<bool, StoreError> {
        let mut c = self.conn.clone();
        Ok(c.exists(self.keys(room).epoch).await?)
    }

    /// Reads everything a takeover needs in one atomic step (call it holding the lease: the
    /// old owner is fenced off, so nothing changes after).
    pub async fn load(&self, room: &str) -> Result<Loaded, StoreError> {
        let k = self.keys(room);
        let mut c = self.conn.clone();
        type Reply = (
            (Option<u64>, Option<Vec<u8>>),
            Vec<Vec<u8>>,
            Option<u64>,
            Vec<(String, Vec<u8>)>,
            Vec<(String, String)>,
        );
        let ((seq, state), inputs, top, conns, groups): Reply = redis::pipe()
            .atomic()
            .cmd("HMGET")
            .arg(&k.snap)
            .arg("seq")
            .arg("state")
            .lrange(&k.inputs, 0, -1)
            .get(&k.seq)
            .hgetall(&k.conns)
            .hgetall(&k.groups)
            .query_async(&mut c)
            .await?;
        Ok(Loaded {
            snapshot: seq.zip(state),
            inputs,
            top: top.unwrap_or(0),
            conns,
            groups,
        })
    }

    /// Replaces a hall's record of its live breakout groups (index -> `room opening`).
    pub async fn put_groups(&self, hall: &str, groups: &[(u32, String)]) -> Result<(), StoreError> {
        let k = self.keys(hall);
        let mut c = self.conn.clone();
        let mut p = redis::pipe();
        p.atomic().del(&k.groups).ignore();
        for (i, v) in groups {
            p.hset(&k.groups, i, v).ignore();
        }
        let _: () = p.query_async(&mut c).await?;
        Ok(())
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
        let n: i64 = scripts()
            .renew
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
        let n: i64 = scripts()
            .release
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

    /// Every key of an event's rooms (its hall and every breakout group): `P:{evt/…}:*`,
    /// found with `SCAN`, bounded in rounds.
    pub async fn event_keys(&self, event: &str) -> Result<Vec<String>, StoreError> {
        let pattern = format!("{}:{{{}/*", glob_escape(&self.prefix), glob_escape(event));
        let mut c = self.conn.clone();
        let mut cursor: u64 = 0;
        let mut keys = Vec::new();
        for _ in 0..SCAN_ROUNDS {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut c)
                .await?;
            keys.extend(batch);
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    /// Retention: every key of the event expires in `secs` (set when the event ends).
    pub async fn expire_event(&self, event: &str, secs: u64) -> Result<(), StoreError> {
        let keys = self.event_keys(event).await?;
        let mut c = self.conn.clone();
        for chunk in keys.chunks(100) {
            let mut pipe = redis::pipe();
            for k in chunk {
                pipe.cmd("EXPIRE").arg(k).arg(secs).ignore();
            }
            let _: () = pipe.query_async(&mut c).await?;
        }
        Ok(())
    }

    /// An organizer's delete: removes every key of the event; returns how many there were.
    pub async fn delete_event(&self, event: &str) -> Result<usize, StoreError> {
        let keys = self.event_keys(event).await?;
        let mut c = self.conn.clone();
        for chunk in keys.chunks(100) {
            let _: u64 = redis::cmd("DEL").arg(chunk).query_async(&mut c).await?;
        }
        Ok(keys.len())
    }
}

/// Bound on `SCAN` rounds for one event's keys (1000 keys a round on a big keyspace).
const SCAN_ROUNDS: usize = 100_000;

/// Escapes Redis glob characters, so an id or prefix matches only itself.
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        if matches!(ch, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}
