//! The WebSocket gateway at `GET /ws`: admission (origin, rate limits, connection permits,
//! explicit WebSocket limits) and the close codes that tell a client why it was let go.
//!
//! Each accepted socket runs `conn::run` (one reader, one writer fed by the connection's
//! byte-bounded outbound queue). The task is tracked by the server's `TaskTracker`, because
//! axum's graceful shutdown does not wait for upgraded sockets.

pub mod conn;
mod hello;
pub mod listener;
mod writer;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::api::ApiError;
use crate::bus::ConnId;
use crate::metrics::Metrics;
use crate::state::AppState;
use crate::wire::ErrorCode;

/// Read buffer per connection: small, because most connections are idle listeners that send
/// a hello and a few commands (tungstenite's default is 128 KiB, allocated eagerly). A larger
/// message is still read whole, in several reads; this is a third of a listener's memory at
/// 4 KiB (heaptrack, BENCHMARKS.md).
pub const READ_BUFFER_BYTES: usize = 1024;
/// The writer feeds every frame the outbound queue hands over, then flushes once: with a
/// write buffer the frames of one batch leave in one `write(2)` instead of one each. On
/// loopback the syscall, not the bytes, is the cost (about 88 % of the server's CPU is the
/// kernel's TCP path at saturation, `perf` in BENCHMARKS.md), so a backlog drains several
/// times cheaper. The buffer keeps the capacity of the largest batch it held (a frame's
/// worth for a listener that keeps up, up to about this much after a backlog).
pub const WRITE_BUFFER_BYTES: usize = 8 * 1024;

/// `GET /ws`: checks admission, then upgrades with explicit limits.
pub async fn ws_handler(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let refuse = |status: StatusCode, code: ErrorCode, message: &str| {
        Metrics::inc(&app.metrics.connections_refused);
        ApiError::new(status, code, message).into_response()
    };
    let ws = match ws {
        Ok(ws) => ws,
        Err(e) => {
            return ApiError::new(e.status(), ErrorCode::NotWebsocket, &e.body_text())
                .into_response()
        }
    };
    if !app.ready.load(Ordering::Acquire) {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
            "the server is shutting down",
        );
    }
    let ip = peer.ip();
    let now = app.clock.now();
    // An address with many failed hellos is not refused here: a venue's shared Wi-Fi is one
    // address, and a valid token from it must always get in. Its failed hellos are answered
    // `rate_limited` instead (`conn::Reader::refuse_hello`).
    let _ = now;
    if !app.limits.allow_connect(ip) {
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::RateLimited,
            "too many connection attempts from this address",
        );
    }
    if !origin_allowed(&headers, &app.origins) {
        return refuse(
            StatusCode::FORBIDDEN,
            ErrorCode::ForbiddenOrigin,
            "this Origin may not open a WebSocket here",
        );
    }
    let Ok(permit) = app.conn_permits.clone().try_acquire_owned() else {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
            "the server has too many connections",
        );
    };
    let token = app.tracker.token();
    let conn = ConnId(app.next_conn.fetch_add(1, Ordering::Relaxed));
    let max = app.config.max_message_bytes;
    ws.read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        // A single frame larger than this fails to write, and snapshots of a large hall are
        // bigger than any client message: bound it by the outbound queue instead.
        .max_write_buffer_size(app.config.outbound_queue_bytes.max(max) + 64 * 1024)
        // The transport admits frames up to a hard cap above the message limit, so a
        // moderately oversized message is read whole and answered `too_large` while the
        // connection stays open; only a frame beyond the cap (which tungstenite refuses from
        // its header, leaving the rest of the stream unreadable) closes it with 1009.
        .max_message_size(hard_frame_cap(max))
        .max_frame_size(hard_frame_cap(max))
        .on_failed_upgrade(|e| tracing::debug!("websocket upgrade failed: {e}"))
        .on_upgrade(move |socket| async move {
            conn::run(socket, app, conn, ip).await;
            drop(permit);
            drop(token);
        })
}

/// The largest frame the transport reads whole: four times the message limit. Memory per
/// connection only grows to it while such a frame is being read.
pub fn hard_frame_cap(max_message_bytes: usize) -> usize {
    max_message_bytes.saturating_mul(HARD_CAP_FACTOR)
}

/// How many times the message limit the transport accepts before failing the connection.
pub const HARD_CAP_FACTOR: usize = 4;

/// The Origins allowed to open a WebSocket: `--allowed-origins` when given; otherwise the
/// origin of `--public-url`; without one, the origins of the bound address
/// (`http://127.0.0.1:PORT` and, for loopback or wildcard binds, `http://localhost:PORT`).
///
/// Never the request's own `Host`: a DNS-rebinding page (`evil.example` resolving to the
/// server) sends `Host: evil.example` and `Origin: http://evil.example`, which would match.
pub fn allowed_origins(
    configured: &[String],
    public_url: Option<&str>,
    local: SocketAddr,
) -> Vec<String> {
    if !configured.is_empty() {
        return configured
            .iter()
            .map(|o| o.trim_end_matches('/').to_ascii_lowercase())
            .collect();
    }
    if let Some(url) = public_url {
        return vec![url_origin(url)];
    }
    let port = local.port();
    let ip = local.ip();
    let mut v = Vec::new();
    if ip.is_unspecified() {
        v.push(format!("http://127.0.0.1:{port}"));
    } else {
        v.push(format!("http://{local}"));
    }
    if ip.is_loopback() || ip.is_unspecified() {
        v.push(format!("http://localhost:{port}"));
    }
    v
}

/// The origin (`scheme://host[:port]`, lower case, without a default port) of a URL that
/// starts with `http://` or `https://` (the config checks that).
pub fn url_origin(url: &str) -> String {
    let url = url.trim().to_ascii_lowercase();
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url.as_str()));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let default_port = if scheme == "https" { ":443" } else { ":80" };
    let authority = authority.strip_suffix(default_port).unwrap_or(authority);
    format!("{scheme}://{authority}")
}

/// Whether the request's `Origin` may open a socket: it must be on `allowed` (see
/// [`allowed_origins`]), compared without case and a trailing slash. A missing Origin (a
/// non-browser client) is allowed; `*` allows any.
pub fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get("origin").and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let origin = origin.trim().trim_end_matches('/');
    allowed
        .iter()
        .any(|a| a == "*" || a.trim_end_matches('/').eq_ignore_ascii_case(origin))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(origin: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("host", "example.org:8080".parse().unwrap());
        if let Some(o) = origin {
            h.insert("origin", o.parse().unwrap());
        }
        h
    }

    #[test]
    fn origins() {
        let local: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let default = allowed_origins(&[], None, local);
        assert_eq!(default, ["http://127.0.0.1:8080", "http://localhost:8080"]);
        assert!(origin_allowed(&headers(None), &default));
        assert!(origin_allowed(
            &headers(Some("http://localhost:8080")),
            &default
        ));
        // The request's Host does not vouch for its Origin (DNS rebinding).
        assert!(!origin_allowed(
            &headers(Some("http://example.org:8080")),
            &default
        ));
        assert!(!origin_allowed(
            &headers(Some("http://evil.test")),
            &default
        ));
        let public = allowed_origins(&[], Some("https://Town.Example:443/hall/"), local);
        assert_eq!(public, ["https://town.example"]);
        assert!(origin_allowed(
            &headers(Some("https://town.example")),
            &public
        ));
        assert!(!origin_allowed(
            &headers(Some("http://127.0.0.1:8080")),
            &public
        ));
        let list = allowed_origins(&["https://town.example/".to_string()], None, local);
        assert!(origin_allowed(
            &headers(Some("https://town.example")),
            &list
        ));
        assert!(!origin_allowed(
            &headers(Some("http://example.org:8080")),
            &list
        ));
        assert!(origin_allowed(
            &headers(Some("http://x")),
            &["*".to_string()]
        ));
        let wild = allowed_origins(&[], None, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(wild, ["http://127.0.0.1:9000", "http://localhost:9000"]);
        assert_eq!(
            url_origin("http://a.example:8080/x?y"),
            "http://a.example:8080"
        );
    }
}
