//! Organizer endpoints for what an event leaves behind: the equity report and the
//! transcript, live or after the end, for the hall and every breakout group.
//!
//! The hub hands over copies of each room's engine and typed log (`Hub::record`); the
//! documents are built here, off the room actors, by the pure `record` functions.

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::api::events::hub_error;
use crate::api::{require_organizer, ApiError};
use crate::hub::EventRecord;
use crate::record::{report, transcript};
use crate::state::AppState;
use crate::wire::ErrorCode;

/// The `format` query parameter, when given.
fn format_param(query: Option<&str>) -> Result<Option<String>, ApiError> {
    let mut format = None;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("format", v)) => format = Some(v.to_string()),
            _ => {
                return Err(ApiError::bad_request(
                    ErrorCode::Invalid,
                    format!("unknown query parameter `{pair}`; only `format` is read"),
                ))
            }
        }
    }
    Ok(format)
}

fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.split(',').any(|t| t.trim().starts_with("text/html")))
}

fn typed(content_type: &'static str, body: String) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
    )
        .into_response()
}

/// The hall's report with a section per breakout group.
pub fn event_report(rec: &EventRecord) -> report::Report {
    let mut r = report::build(&rec.hall.engine, &rec.hall.log);
    r.event_title = Some(rec.info.title.clone());
    r.groups = rec
        .groups
        .iter()
        .map(|g| {
            report::group(
                g.record.room.as_str(),
                g.opening,
                g.index,
                &g.record.engine,
                &g.record.log,
            )
        })
        .collect();
    r
}

/// `GET /api/events/{id}/report`: JSON, or HTML with `?format=html` or `Accept: text/html`.
pub async fn get_report(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    require_organizer(&app, &headers)?;
    let format = format_param(query.as_deref())?;
    let html = match format.as_deref() {
        Some("html") => true,
        Some("json") => false,
        None => wants_html(&headers),
        Some(other) => {
            return Err(ApiError::bad_request(
                ErrorCode::Invalid,
                format!("unknown format `{other}`; use `json` or `html`"),
            ))
        }
    };
    let rec = app.hub.record(&id).await.map_err(hub_error)?;
    let r = event_report(&rec);
    if html {
        return Ok(typed("text/html; charset=utf-8", report::to_html(&r)));
    }
    Ok(Json(r).into_response())
}

/// `GET /api/events/{id}/transcript`: JSON Lines (each line names its `room`), or Markdown
/// with `?format=md`.
pub async fn get_transcript(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    require_organizer(&app, &headers)?;
    let markdown = match format_param(query.as_deref())?.as_deref() {
        None | Some("jsonl") => false,
        Some("md") => true,
        Some(other) => {
            return Err(ApiError::bad_request(
                ErrorCode::Invalid,
                format!("unknown format `{other}`; use `jsonl` or `md`"),
            ))
        }
    };
    let rec = app.hub.record(&id).await.map_err(hub_error)?;
    let hall = transcript::build(&rec.hall.log, rec.hall.engine.roster());
    let groups: Vec<(String, transcript::Transcript)> = rec
        .groups
        .iter()
        .map(|g| {
            let t = transcript::build(&g.record.log, g.record.engine.roster());
            (g.record.room.to_string(), t)
        })
        .collect();
    if markdown {
        let r = event_report(&rec);
        let named: Vec<_> = r
            .groups
            .iter()
            .zip(groups.into_iter().map(|g| g.1))
            .collect();
        let md = transcript::event_markdown(&rec.info.title, &r, &hall, &named);
        return Ok(typed("text/markdown; charset=utf-8", md));
    }
    let mut out = transcript::to_jsonl_in(rec.hall.room.as_str(), &hall);
    for (room, t) in &groups {
        out.push_str(&transcript::to_jsonl_in(room, t));
    }
    Ok(typed("application/x-ndjson", out))
}
