//! The HTTP API: organizer endpoints (Bearer organizer key), public protocol and event
//! summaries, health, readiness and metrics.
//!
//! Every error is JSON `{"error": {"code", "message"}}` with a 4xx status for client mistakes.
//! Request bodies go through [`ApiJson`], which turns axum's plain-text JSON rejections into
//! these errors, and every request DTO has `deny_unknown_fields`.

pub mod events;
pub mod preview;
pub mod public;
pub mod report;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
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

/// Checks `Authorization: Bearer <organizer key>`.
pub fn require_organizer(app: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    if organizer_key_ok(app, headers) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::UNAUTHORIZED,
        ErrorCode::Unauthorized,
        "send the organizer key as `Authorization: Bearer <key>`",
    ))
}
