//! Organizer endpoints: create, list, end and delete events; mint invite tokens.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::api::{ApiError, ApiJson, Organizer};
use crate::engine::member::{MemberId, Role};
use crate::engine::MAX_NAME_CHARS;
use crate::hub::{EventInfo, HubError};
use crate::room::RoomSummary;
use crate::state::AppState;
use crate::time::Millis;
use crate::token::{Claims, CLAIMS_VERSION};
use crate::wire::ErrorCode;

/// Default invite lifetime.
pub const DEFAULT_TTL_SECONDS: u64 = 24 * 3600;
/// Longest invite lifetime.
pub const MAX_TTL_SECONDS: u64 = 30 * 24 * 3600;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateEvent {
    pub title: String,
    pub protocol: String,
    pub communities: Vec<String>,
    #[serde(default)]
    pub seed: Option<u64>,
    /// Seconds the event's data is kept after it ends (default: the server's `--retention`).
    #[serde(default)]
    pub retention_secs: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateInvite {
    pub role: Role,
    pub name: String,
    #[serde(default)]
    pub community: Option<String>,
    #[serde(default)]
    pub ttl_seconds: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invite {
    pub token: String,
    pub member: MemberId,
    pub role: Role,
    pub name: String,
    pub community: Option<String>,
    pub expires_at: Millis,
    /// The browser client's link.
    pub url: String,
    pub ws_url: String,
}

#[derive(Debug, Serialize)]
pub struct EventDetail {
    #[serde(flatten)]
    pub info: EventInfo,
    #[serde(flatten)]
    pub room: RoomSummary,
}

pub fn hub_error(e: HubError) -> ApiError {
    match e {
        HubError::UnknownEvent(_) => ApiError::not_found(ErrorCode::UnknownEvent, e.to_string()),
        HubError::Ended => ApiError::new(StatusCode::CONFLICT, ErrorCode::Ended, &e.to_string()),
        HubError::UnknownProtocol(_) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::UnknownProtocol,
            &e.to_string(),
        ),
        HubError::Invalid(m) => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::Invalid, &m)
        }
        HubError::Unavailable => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
            &e.to_string(),
        ),
        HubError::InvalidRetention(_) => {
            ApiError::bad_request(ErrorCode::InvalidRetention, e.to_string())
        }
        HubError::TooManyEvents(_) => ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::TooManyEvents,
            &e.to_string(),
        ),
    }
}

pub async fn create_event(
    State(app): State<AppState>,
    _key: Organizer,
    body: Result<ApiJson<CreateEvent>, ApiError>,
) -> Result<Response, ApiError> {
    // The key first (`Organizer` is extracted before the body): a caller without it learns
    // nothing about what a valid body looks like.
    let ApiJson(req) = body?;
    let info = app
        .hub
        .create_event_with(
            &req.title,
            &req.protocol,
            &req.communities,
            req.seed,
            req.retention_secs,
        )
        .map_err(hub_error)?;
    // Durable before the 201: the invite links the organizer mails out must survive a restart.
    app.hub.persist_meta(&info.id).await.map_err(hub_error)?;
    tracing::info!(event = %info.id, protocol = %info.protocol, "event created");
    Ok((StatusCode::CREATED, Json(info)).into_response())
}

/// Events per page of `GET /api/events` unless `limit` says otherwise, and the most it may.
pub const DEFAULT_PAGE: usize = 100;
pub const MAX_PAGE: usize = 500;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    after: Option<String>,
}

/// One page of events, oldest first; `next` is the `after` of the following page, `null` on
/// the last.
#[derive(Debug, Serialize)]
pub struct EventPage {
    pub events: Vec<EventInfo>,
    pub next: Option<String>,
}

/// A page cursor: the last event's creation time and id (stable while events come and go).
fn cursor(e: &EventInfo) -> String {
    format!("{}.{}", e.created_at.as_u64(), e.id)
}

fn parse_cursor(s: &str) -> Option<(Millis, &str)> {
    let (at, id) = s.split_once('.')?;
    Some((Millis(at.parse().ok()?), id))
}

/// `GET /api/events?limit=&after=`: the server's events, oldest first, a page at a time.
pub async fn list_events(
    State(app): State<AppState>,
    _key: Organizer,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<EventPage>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(ErrorCode::Invalid, e.body_text()))?;
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(
            ErrorCode::Invalid,
            format!("limit must be 1 to {MAX_PAGE}"),
        ));
    }
    let after = match q.after.as_deref() {
        None => None,
        Some(s) => Some(parse_cursor(s).ok_or_else(|| {
            ApiError::bad_request(
                ErrorCode::Invalid,
                "`after` must be the `next` of a previous page",
            )
        })?),
    };
    let (mut events, more) = app.hub.events_page(after, limit);
    // Join links have their own endpoint (`api/links.rs`).
    for e in &mut events {
        e.links.clear();
    }
    let next = if more {
        events.last().map(cursor)
    } else {
        None
    };
    Ok(Json(EventPage { events, next }))
}

pub async fn end_event(
    State(app): State<AppState>,
    _key: Organizer,
    Path(id): Path<String>,
) -> Result<Json<EventInfo>, ApiError> {
    app.hub.end_event(&id).await.map_err(hub_error)?;
    let mut info = app
        .hub
        .event(&id)
        .ok_or_else(|| hub_error(HubError::UnknownEvent(id.clone())))?;
    info.ended = true;
    info.links.clear();
    Ok(Json(info))
}

/// `DELETE /api/events/{id}`: ends the event if it runs, then removes every trace of it
/// (see `Hub::delete_event`). 204; an unknown (or already deleted) event is 404.
pub async fn delete_event(
    State(app): State<AppState>,
    _key: Organizer,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    // The key first (`Organizer`), before anything about the event is looked up.
    if !app.hub.verify_shared(&id).await {
        return Err(hub_error(HubError::UnknownEvent(id)));
    }
    app.hub.delete_event(&id).await.map_err(hub_error)?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn create_invite(
    State(app): State<AppState>,
    _key: Organizer,
    Path(id): Path<String>,
    body: Result<ApiJson<CreateInvite>, ApiError>,
) -> Result<Response, ApiError> {
    let ApiJson(req) = body?;
    app.hub.verify_shared(&id).await;
    let invite = mint_invite(&app, &id, req)?;
    Ok((StatusCode::CREATED, Json(invite)).into_response())
}

/// Checks an invite request against the event and signs its token.
pub fn mint_invite(app: &AppState, event: &str, req: CreateInvite) -> Result<Invite, ApiError> {
    let info = app
        .hub
        .event(event)
        .ok_or_else(|| hub_error(HubError::UnknownEvent(event.to_string())))?;
    if info.ended {
        return Err(hub_error(HubError::Ended));
    }
    let invalid =
        |m: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::Invalid, &m);
    let name = req.name.trim().to_string();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(invalid(format!(
            "a display name needs 1 to {MAX_NAME_CHARS} characters"
        )));
    }
    match (&req.community, req.role) {
        (None, Role::Participant) => {
            return Err(invalid(format!(
                "a participant belongs to one of the event's communities: {}",
                info.communities.join(", ")
            )))
        }
        (Some(c), _) if !info.communities.contains(c) => {
            return Err(invalid(format!(
                "`{c}` is not one of the event's communities: {}",
                info.communities.join(", ")
            )))
        }
        _ => {}
    }
    let ttl = req.ttl_seconds.unwrap_or(DEFAULT_TTL_SECONDS);
    if ttl == 0 || ttl > MAX_TTL_SECONDS {
        return Err(invalid(format!(
            "ttl_seconds must be between 1 and {MAX_TTL_SECONDS}"
        )));
    }
    let member = MemberId::new(format!("m-{}", uuid::Uuid::new_v4().simple()));
    let claims = Claims {
        v: CLAIMS_VERSION,
        event: info.id,
        member: member.clone(),
        name: name.clone(),
        role: req.role,
        community: req.community.clone(),
        exp: app.clock.now() + ttl * 1000,
    };
    let token = app.tokens.sign(&claims);
    Ok(Invite {
        url: format!("{}/?token={token}", app.base_url),
        ws_url: app.ws_url.clone(),
        token,
        member,
        role: req.role,
        name,
        community: req.community,
        expires_at: claims.exp,
    })
}
