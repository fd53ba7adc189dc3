//! Rehearsal over HTTP: `GET /api/protocols/{name}/rehearse` runs the same simulation as
//! `commonground rehearse`, so a facilitator console can preview an event's length and
//! fairness before it starts.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;

use crate::api::ApiError;
use crate::rehearse::crowd::Models;
use crate::rehearse::{Request, Summary};
use crate::state::AppState;
use crate::wire::ErrorCode;

/// Most runs one preview may ask for: previews share the server's CPU with live rooms.
pub const MAX_PREVIEW_RUNS: u32 = 200;

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
    Path(name): Path<String>,
    query: Result<Query<PreviewQuery>, QueryRejection>,
) -> Result<Json<Summary>, ApiError> {
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
    // The simulation is CPU work: keep it off the async workers that serve live rooms.
    let result = tokio::task::spawn_blocking(move || request.run(&[protocol], &Models::default()))
        .await
        .map_err(|_| {
            ApiError::bad_request(ErrorCode::Unavailable, "the rehearsal did not finish")
        })?;
    let mut summaries =
        result.map_err(|e| ApiError::bad_request(ErrorCode::Invalid, e.to_string()))?;
    summaries
        .pop()
        .map(Json)
        .ok_or_else(|| ApiError::bad_request(ErrorCode::Invalid, "nothing to rehearse"))
}
