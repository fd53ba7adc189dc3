//! The HTTP API: organizer endpoints (Bearer organizer key), public protocol and event
//! summaries, join links (`links.rs`), health, readiness and metrics.
//!
//! Every error is JSON `{"error": {"code", "message"}}` with a 4xx status for client mistakes.
//! Request bodies go through [`ApiJson`], which turns axum's plain-text JSON rejections into
//! these errors, and every request DTO has `deny_unknown_fields`.

pub mod events;
pub mod link_store;
pub mod links;
pub mod preview;
pub mod public;
pub mod report;

use std::net::{IpAddr, SocketAddr};

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::state::AppState;
use crate::token::constant_time_eq;
use crate::wire::ErrorCode;

/// A JSON error with a stable code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: impl Into<&'static str>, message: &str) -> ApiError {
        ApiError {
            status,
            code: code.into(),
            message: message.to_string(),
        }
    }

    pub fn bad_request(code: impl Into<&'static str>, message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn not_found(code: impl Into<&'static str>, message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            code: code.into(),
            message: message.into(),
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorInner<'a>,
}

#[derive(Serialize)]
struct ErrorInner<'a> {
    code: &'a str,
    message: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorInner {
                code: self.code,
                message: &self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

/// `Json<T>` whose rejections are our JSON errors.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(json_rejection(&rejection)),
        }
    }
}

fn json_rejection(r: &JsonRejection) -> ApiError {
    let (status, code) = match r {
        JsonRejection::MissingJsonContentType(_) => (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
        ),
        JsonRejection::JsonSyntaxError(_) => (StatusCode::BAD_REQUEST, ErrorCode::InvalidJson),
        JsonRejection::JsonDataError(_) => (StatusCode::BAD_REQUEST, ErrorCode::Invalid),
        _ => (StatusCode::BAD_REQUEST, ErrorCode::Invalid),
    };
    ApiError {
        status,
        code: code.as_str(),
        message: r.body_text(),
    }
}

/// Whether the request carries exactly `Authorization: Bearer <organizer key>`. Nothing is
/// trimmed: a padded key (`Bearer  K `) is a different key.
pub fn organizer_key_ok(app: &AppState, headers: &HeaderMap) -> bool {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|key| constant_time_eq(key.as_bytes(), app.config.organizer_key.as_bytes()))
}

/// Checks `Authorization: Bearer <organizer key>` from the client address `peer`.
///
/// The right key is always accepted. A wrong one (any `Authorization` header that is not the
/// key) is counted against the address (`key_failures_per_minute`); beyond the quota it is
/// answered `429 rate_limited` for a minute instead of `401`, so guessing from one address
/// runs at a few keys a minute. A request without `Authorization` is not a guess and is not
/// counted.
pub fn require_organizer(
    app: &AppState,
    headers: &HeaderMap,
    peer: Option<IpAddr>,
) -> Result<(), ApiError> {
    if organizer_key_ok(app, headers) {
        return Ok(());
    }
    if let (Some(ip), true) = (peer, headers.contains_key("authorization")) {
        crate::metrics::Metrics::inc(&app.metrics.key_failures);
        if app.limits.key_failed(ip, app.clock.now()) {
            crate::metrics::Metrics::inc(&app.metrics.key_failures_refused);
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::RateLimited,
                "too many wrong organizer keys from this address; try again in a minute",
            ));
        }
    }
    Err(ApiError::new(
        StatusCode::UNAUTHORIZED,
        ErrorCode::Unauthorized,
        "send the organizer key as `Authorization: Bearer <key>`",
    ))
}

/// An extractor that admits only the organizer: [`require_organizer`] with the client's
/// address (from `ConnectInfo`). Put it before the body so the key is checked first.
#[derive(Debug, Clone, Copy)]
pub struct Organizer;

impl FromRequestParts<AppState> for Organizer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        require_organizer(app, &parts.headers, peer).map(|()| Organizer)
    }
}
