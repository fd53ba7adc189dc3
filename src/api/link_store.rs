//! Where a join-link change is made durable, and why it is atomic, in both modes.
//!
//! - Single node: the links live in the event's metadata (`EventInfo::links`). The change
//!   runs under the hub's registry lock (`Hub::update_links`), which also queues the
//!   metadata for the journal before releasing it; the answer waits for the journal. A change
//!   the journal refused is undone in memory.
//! - Cluster mode: every node may redeem the same link at once, so no node's copy can be the
//!   authority. The table is its own key next to the hall's (`P:{evt/hall}:links`, JSON),
//!   changed by compare-and-set: read, apply the change in Rust, write only if the key still
//!   holds what was read (one Lua step), else read again. A cap then holds across nodes. The
//!   key is not the metadata record itself because other paths (ending an event, a reseed)
//!   write that record whole from a node's own copy, which would put back stale counts. It
//!   shares the hall's hash tag, so retention and the organizer's delete remove it with every
//!   other key of the event. Each change opens its own Redis connection (the store's shared
//!   one is private to it): a few per resident who joins, which is far below what one Redis
//!   serves.

use std::time::Duration;

use redis::Script;

use crate::api::events::hub_error;
use crate::api::ApiError;
use crate::hub::{EventInfo, HubError};
use crate::journal;
use crate::node::ClusterNode;
use crate::state::AppState;
use crate::token::link::JoinLink;
use crate::wire::RoomId;

/// Compare-and-set rounds before a change gives up (`unavailable`): each lost round means
/// another redemption of the same event went through, so this bounds the work, not fairness.
const CAS_ROUNDS: usize = 200;
/// Bound on one Redis step, as the store's own connections have.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

/// Sets `KEYS[1]` to `ARGV[2]` if it holds `ARGV[1]` (`ARGV[1]` empty: if it is absent).
/// `KEEPTTL`: a change after the event ended (a revocation) keeps the retention the end set.
const CAS: &str = r"
local cur = redis.call('GET', KEYS[1])
if (cur == false and ARGV[1] == '') or cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
  return 1
end
return 0
";

/// Runs `change` on the event's links, atomically with respect to every other change (on
/// this node or, in cluster mode, any node), and makes the result durable before returning.
/// `change` returns its result and whether it changed anything; it may run more than once
/// in cluster mode (each run sees the latest table). `undo` reverts a change the journal
/// refused (single node).
pub async fn with_links<R>(
    app: &AppState,
    event: &str,
    mut change: impl FnMut(&EventInfo, &mut Vec<JoinLink>) -> Result<(R, bool), ApiError>,
    undo: impl FnOnce(&mut Vec<JoinLink>),
) -> Result<R, ApiError> {
    let unknown = || hub_error(HubError::UnknownEvent(event.to_string()));
    if let Some(node) = &app.cluster {
        let info = app.hub.event(event).ok_or_else(unknown)?;
        return shared(node, &info, change).await;
    }
    let (r, ack) = app
        .hub
        .update_links(event, &mut change)
        .ok_or_else(unknown)??;
    let Some(ack) = ack else { return Ok(r) };
    if let Err(e) = journal::wait(ack).await {
        tracing::error!(event, "cannot store a join link change: {e}");
        let _ = app.hub.update_links(event, |_, links| {
            undo(links);
            Ok::<_, ApiError>(((), true))
        });
        return Err(hub_error(HubError::Unavailable));
    }
    Ok(r)
}

fn unavailable(e: impl std::fmt::Display) -> ApiError {
    tracing::error!("join links in redis: {e}");
    hub_error(HubError::Unavailable)
}

/// The Redis key of an event's link table.
pub fn shared_key(node: &ClusterNode, event: &str) -> String {
    format!(
        "{}:{{{}}}:links",
        node.store().prefix(),
        RoomId::hall(event)
    )
}

async fn shared<R>(
    node: &ClusterNode,
    info: &EventInfo,
    mut change: impl FnMut(&EventInfo, &mut Vec<JoinLink>) -> Result<(R, bool), ApiError>,
) -> Result<R, ApiError> {
    let key = shared_key(node, &info.id);
    let mut c = tokio::time::timeout(
        REDIS_TIMEOUT,
        node.store().client().get_multiplexed_async_connection(),
    )
    .await
    .map_err(unavailable)?
    .map_err(unavailable)?;
    let cas = Script::new(CAS);
    for _ in 0..CAS_ROUNDS {
        let cur: Option<Vec<u8>> = tokio::time::timeout(
            REDIS_TIMEOUT,
            redis::cmd("GET").arg(&key).query_async(&mut c),
        )
        .await
        .map_err(unavailable)?
        .map_err(unavailable)?;
        let mut links: Vec<JoinLink> = match &cur {
            Some(b) => serde_json::from_slice(b).map_err(unavailable)?,
            None => Vec::new(),
        };
        let (r, changed) = change(info, &mut links)?;
        if !changed {
            return Ok(r);
        }
        let new = serde_json::to_vec(&links).map_err(unavailable)?;
        let set: u64 = tokio::time::timeout(
            REDIS_TIMEOUT,
            cas.key(&key)
                .arg(cur.unwrap_or_default())
                .arg(new)
                .invoke_async(&mut c),
        )
        .await
        .map_err(unavailable)?
        .map_err(unavailable)?;
        if set == 1 {
            return Ok(r);
        }
    }
    Err(unavailable("too many concurrent changes"))
}
