//! Public endpoints: protocols, event summaries, health, readiness and metrics.

use std::sync::atomic::Ordering;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::api::events::{hub_error, EventDetail};
use crate::api::ApiError;
use crate::protocol::describe::{describe, summary_line, DEFAULT_PLANNING_SIZE};
use crate::protocol::Protocol;
use crate::state::AppState;
use crate::wire::ErrorCode;

#[derive(Debug, Serialize)]
pub struct ProtocolItem {
    pub name: String,
    pub title: String,
    pub description: String,
    pub phases: usize,
    pub summary: String,
}

#[derive(Debug, Serialize)]
pub struct ProtocolDetail<'a> {
    pub protocol: &'a Protocol,
    pub describe: String,
}

pub async fn list_protocols(State(app): State<AppState>) -> Json<Vec<ProtocolItem>> {
    let items = app
        .hub
        .library()
        .iter()
        .map(|(name, p)| ProtocolItem {
            name: name.to_string(),
            title: p.title.clone(),
            description: p.description.clone(),
            phases: p.phases.len(),
            summary: summary_line(p),
        })
        .collect();
    Json(items)
}

pub async fn show_protocol(
    State(app): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let p = app.hub.library().get(&name).ok_or_else(|| {
        ApiError::not_found(
            ErrorCode::UnknownProtocol,
            format!("there is no protocol `{name}`"),
        )
    })?;
    let n = p
        .group_size
        .map_or(DEFAULT_PLANNING_SIZE, |g| u64::from(g.max));
    let body = ProtocolDetail {
        protocol: &p,
        describe: describe(&p, n),
    };
    Ok(Json(body).into_response())
}

pub async fn show_event(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<EventDetail>, ApiError> {
    if let Some(node) = &app.cluster {
        // An event created on another node.
        let _ = node.ensure_event(&*app.hub, &id).await;
        // Deleted (or expired) in the shared registry: drop our copy.
        app.hub.verify_shared(&id).await;
    }
    let mut info = app.hub.event(&id).ok_or_else(|| {
        ApiError::not_found(ErrorCode::UnknownEvent, format!("there is no event `{id}`"))
    })?;
    let room = app.hub.summary(&id).await.map_err(hub_error)?;
    // Public: the join links (their ids, roles, counts) are the organizer's.
    info.links.clear();
    Ok(Json(EventDetail { info, room }))
}

pub async fn healthz() -> &'static str {
    "ok\n"
}

/// Ready unless shutting down or, in cluster mode, cut off from Redis (503 with a JSON
/// reason, so a load balancer sends clients to a node that can serve them).
pub async fn readyz(State(app): State<AppState>) -> Response {
    if !app.ready.load(Ordering::Acquire) {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    }
    if let Some(Err(reason)) = app.cluster.as_ref().map(|c| c.healthy()) {
        let body = serde_json::json!({"ready": false, "reason": reason});
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    }
    (StatusCode::OK, "ready\n").into_response()
}

pub async fn metrics(State(app): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(),
    )
        .into_response()
}

pub async fn not_found() -> ApiError {
    ApiError::not_found(ErrorCode::NotFound, "no such endpoint")
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::MethodNotAllowed,
        "this endpoint does not take that method",
    )
}
