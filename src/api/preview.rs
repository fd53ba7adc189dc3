//! Rehearsal over HTTP: `GET /api/protocols/{name}/rehearse` runs the same simulation as
//! `commonground rehearse`, so a facilitator console can preview an event's length and
//! fairness before it starts.
//!
//! It is public and CPU-bound, so it is bounded four ways (issue #20, finding 3): a cost
//! budget of people x runs x phases (larger previews need the organizer key, and none may
//! exceed [`MAX_COST`]); a per-address rate (`Limits::allow_preview`); a pool of
//! [`PREVIEW_WORKERS`] blocking threads, off the async workers that serve live rooms; and a
//! cancel flag, set when the client goes away and checked between runs.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::Deserialize;

use crate::api::{require_organizer, ApiError};
use crate::metrics::Metrics;
use crate::rehearse::crowd::{CrowdError, Models};
use crate::rehearse::{Request, Summary};
use crate::state::{AppState, PREVIEW_WORKERS};
use crate::wire::ErrorCode;

/// Most runs one preview may ask for: previews share the server's CPU with live rooms.
pub const MAX_PREVIEW_RUNS: u32 = 200;
/// The most a preview without the organizer key may cost, in people x runs x phases: the
/// default preview of any shipped protocol (8 people, 20 runs, up to 8 phases: 1,280) fits,
/// and the worst case (500 people, one run) is about a CPU-second.
pub const OPEN_COST: u64 = 5_000;
/// The most any preview may cost (with the organizer key): 100 people x 25 runs x 8 phases,
/// a few CPU-seconds on the one worker. 500 people x 200 runs used to cost ~126 CPU-seconds.
pub const MAX_COST: u64 = 20_000;

/// Sets the cancel flag when dropped: axum drops the handler's future when the client goes
/// away, and the blocking work sees the flag before its next run.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviewQuery {
    participants: Option<usize>,
    communities: Option<String>,
    #[serde(default)]
    talkative: usize,
    #[serde(default)]
    quiet: usize,
    runs: Option<u32>,
    seed: Option<u64>,
}

pub async fn rehearse(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
    headers: HeaderMap,
    query: Result<Query<PreviewQuery>, QueryRejection>,
) -> Result<Json<Summary>, ApiError> {
    if !app.limits.allow_preview(peer.ip()) {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::RateLimited,
            "too many rehearsal previews from this address; try again in a minute",
        ));
    }
    let Query(q) = query.map_err(|e| ApiError::bad_request(ErrorCode::Invalid, e.body_text()))?;
    let protocol = app.hub.library().get(&name).ok_or_else(|| {
        ApiError::not_found(
            ErrorCode::UnknownProtocol,
            format!("there is no protocol `{name}`"),
        )
    })?;
    let runs = q.runs.unwrap_or(20);
    if runs == 0 || runs > MAX_PREVIEW_RUNS {
        return Err(ApiError::bad_request(
            ErrorCode::Invalid,
            format!("runs must be 1 to {MAX_PREVIEW_RUNS}"),
        ));
    }
    if q.participants.is_some_and(|n| n == 0 || n > 500) {
        return Err(ApiError::bad_request(
            ErrorCode::Invalid,
            "participants must be 1 to 500",
        ));
    }
    let request = Request {
        participants: q.participants,
        communities: q.communities,
        talkative: q.talkative,
        quiet: q.quiet,
        runs,
        seed: q.seed.unwrap_or(1),
    };
    let cost = request
        .cost(&protocol)
        .map_err(|e| ApiError::bad_request(ErrorCode::Invalid, e.to_string()))?;
    if cost > MAX_COST {
        return Err(ApiError::bad_request(
            ErrorCode::TooCostly,
            format!(
                "this preview costs {cost} (people x runs x phases); the limit is {MAX_COST}: \
                 use fewer runs or people, or `commonground rehearse` on your own machine"
            ),
        ));
    }
    if cost > OPEN_COST {
        // A wrong key here is a guess like any other: counted, and 429 past the quota.
        require_organizer(&app, &headers, Some(peer.ip())).map_err(|e| {
            if e.status != StatusCode::UNAUTHORIZED {
                return e;
            }
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                ErrorCode::Unauthorized,
                &format!(
                    "this preview costs {cost} (people x runs x phases); above {OPEN_COST} it \
                     needs the organizer key as `Authorization: Bearer <key>`"
                ),
            )
        })?;
    }
    let Ok(permit) = Arc::clone(&app.previews).try_acquire_owned() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Busy,
            &format!("{PREVIEW_WORKERS} rehearsal preview(s) already running; try again shortly"),
        ));
    };
    let cancel = Arc::new(AtomicBool::new(false));
    let guard = CancelOnDrop(Arc::clone(&cancel));
    let metrics = Arc::clone(&app.metrics);
    // CPU work on a blocking thread, holding its pool permit until it really stops.
    let result = tokio::task::spawn_blocking(move || {
        Metrics::inc_gauge(&metrics.previews_running, 1);
        let result = request.run_until(&[protocol], &Models::default(), &cancel);
        Metrics::inc_gauge(&metrics.previews_running, -1);
        if matches!(result, Err(CrowdError::Cancelled)) {
            Metrics::inc(&metrics.previews_cancelled);
        }
        drop(permit);
        result
    })
    .await
    .map_err(|_| ApiError::bad_request(ErrorCode::Unavailable, "the rehearsal did not finish"))?;
    drop(guard);
    let mut summaries =
        result.map_err(|e| ApiError::bad_request(ErrorCode::Invalid, e.to_string()))?;
    summaries
        .pop()
        .map(Json)
        .ok_or_else(|| ApiError::bad_request(ErrorCode::Invalid, "nothing to rehearse"))
}
