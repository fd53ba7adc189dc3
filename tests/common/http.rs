//! The tests' one HTTP client: hyper's own HTTP/1.1 client on a fresh connection per request
//! (`Connection: close`), so hyper parses the status line, the headers and both
//! `Content-Length` and chunked bodies. Every step is bounded by [`WAIT`].

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::header::{HeaderName, HeaderValue, CONNECTION, HOST};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;

use super::WAIT;

/// A response: its status and its whole body (as text).
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub body: String,
}

impl HttpResponse {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// Sends one request to `addr` and reads the whole response. `Host` and `Connection: close`
/// are added; `headers` go as given. Panics (the test fails) on a transport error or when
/// any step takes longer than [`WAIT`].
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> HttpResponse {
    let what = format!("{method} {path}");
    let stream = tokio::time::timeout(WAIT, TcpStream::connect(addr))
        .await
        .unwrap_or_else(|_| panic!("{what}: connect in time"))
        .unwrap_or_else(|e| panic!("{what}: connect: {e}"));
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap_or_else(|e| panic!("{what}: handshake: {e}"));
    // Drives the connection; it ends with the response (`Connection: close`).
    tokio::spawn(conn);
    let method = Method::from_bytes(method.as_bytes()).expect("an HTTP method");
    let mut req = Request::builder().method(method).uri(path);
    let h = req.headers_mut().expect("a valid request so far");
    h.insert(HOST, HeaderValue::from_str(&addr.to_string()).unwrap());
    h.insert(CONNECTION, HeaderValue::from_static("close"));
    for (k, v) in headers {
        h.append(
            HeaderName::from_bytes(k.as_bytes()).expect("a header name"),
            HeaderValue::from_str(v).expect("a header value"),
        );
    }
    let req = req
        .body(Full::new(Bytes::from(body.unwrap_or("").to_owned())))
        .unwrap_or_else(|e| panic!("{what}: a valid request: {e}"));
    let res = tokio::time::timeout(WAIT, sender.send_request(req))
        .await
        .unwrap_or_else(|_| panic!("{what}: HTTP response in time"))
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let status = res.status().as_u16();
    let body = tokio::time::timeout(WAIT, res.into_body().collect())
        .await
        .unwrap_or_else(|_| panic!("{what}: HTTP body in time"))
        .unwrap_or_else(|e| panic!("{what}: body: {e}"))
        .to_bytes();
    HttpResponse {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}
