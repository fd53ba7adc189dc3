//! The few Commonground HTTP API calls the scenarios need: create an event, invite members.
//!
//! Kept in one small module because the API is young: `POST /api/events` (Bearer organizer
//! key) and `POST /api/events/{id}/invites`. The client is hyper's own HTTP/1.1 client
//! (`client::conn::http1`) on one keep-alive connection, opened when needed and opened again
//! after a transport error or a `Connection: close`.

use std::net::SocketAddr;

use anyhow::{bail, Context as _};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{AUTHORIZATION, CONNECTION, CONTENT_TYPE, HOST};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpStream;

/// An invite: the token for `hello`.
#[derive(Debug, Clone)]
pub struct Invite {
    pub token: String,
}

/// One keep-alive connection to the API.
#[derive(Debug)]
pub struct Api {
    addr: SocketAddr,
    key: String,
    /// The kept connection's request handle; its connection runs on a task of its own.
    conn: Option<SendRequest<Full<Bytes>>>,
}

impl Api {
    pub fn new(addr: SocketAddr, key: &str) -> Api {
        Api {
            addr,
            key: key.to_owned(),
            conn: None,
        }
    }

    /// Creates an event and returns its id.
    pub async fn create_event(
        &mut self,
        title: &str,
        protocol: &str,
        communities: &[&str],
    ) -> anyhow::Result<String> {
        let body = json!({"title": title, "protocol": protocol, "communities": communities});
        let v = self.post("/api/events", &body).await?;
        let id = match v.get("id") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => bail!("POST /api/events: no `id` in {v}"),
        };
        Ok(id)
    }

    /// Invites one member with `role` to the event.
    pub async fn invite(
        &mut self,
        event: &str,
        role: &str,
        name: &str,
        community: &str,
    ) -> anyhow::Result<Invite> {
        let body = json!({"role": role, "name": name, "community": community});
        let path = format!("/api/events/{event}/invites");
        let v = self.post(&path, &body).await?;
        let field = |k: &str| -> anyhow::Result<String> {
            v.get(k)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .with_context(|| format!("POST {path}: no `{k}` in {v}"))
        };
        Ok(Invite {
            token: field("token")?,
        })
    }

    async fn post(&mut self, path: &str, body: &Value) -> anyhow::Result<Value> {
        // A reused keep-alive connection may have been closed by the server meanwhile: one
        // retry on a fresh connection covers that. Only transport errors are retried, never
        // an HTTP status.
        let reused = self.conn.is_some();
        let (status, text) = match self.exchange(path, body).await {
            Err(_) if reused => self.exchange(path, body).await?,
            res => res?,
        };
        if !(200..300).contains(&status) {
            bail!("POST {path}: HTTP {status}: {}", text.trim());
        }
        serde_json::from_str(&text)
            .with_context(|| format!("POST {path}: body is not JSON: {text}"))
    }

    /// One request and its response on the kept connection (opened when needed). A
    /// transport error or a `Connection: close` drops the connection; the next call opens one.
    async fn exchange(&mut self, path: &str, body: &Value) -> anyhow::Result<(u16, String)> {
        let req = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(HOST, self.addr.to_string())
            .header(AUTHORIZATION, format!("Bearer {}", self.key))
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .with_context(|| format!("POST {path}: not a valid request"))?;
        let res = async {
            let sender = self.sender().await?;
            sender.ready().await?;
            let res = sender.send_request(req).await?;
            let status = res.status().as_u16();
            let close = res
                .headers()
                .get(CONNECTION)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
            let body = res.into_body().collect().await?.to_bytes();
            anyhow::Ok((status, String::from_utf8_lossy(&body).into_owned(), close))
        }
        .await;
        match res {
            Ok((status, text, close)) => {
                if close {
                    self.conn = None;
                }
                Ok((status, text))
            }
            Err(e) => {
                self.conn = None;
                Err(e.context(format!("POST {path} to the API at {}", self.addr)))
            }
        }
    }

    /// The kept connection's handle, connecting first when there is none (or it closed).
    async fn sender(&mut self) -> anyhow::Result<&mut SendRequest<Full<Bytes>>> {
        let sender = match self.conn.take() {
            Some(s) if !s.is_closed() => s,
            _ => connect(self.addr).await?,
        };
        Ok(self.conn.insert(sender))
    }
}

/// A new HTTP/1.1 connection to `addr`: its request handle, the connection driven by a task.
async fn connect(addr: SocketAddr) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let s = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to the API at {addr}"))?;
    s.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(s)).await?;
    // Runs until either side closes the connection; an error there shows up as the next
    // request's error.
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
    use tokio::net::TcpListener;

    use super::*;

    /// Serves canned responses, one per request, on one keep-alive connection.
    async fn canned(responses: Vec<&'static str>) -> SocketAddr {
        canned_connections(vec![responses]).await
    }

    /// Serves canned responses on successive connections: the first list on the first
    /// connection accepted, and so on; each connection is closed after its list (whatever
    /// the responses said about keep-alive).
    async fn canned_connections(connections: Vec<Vec<&'static str>>) -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            for responses in connections {
                let (s, _) = l.accept().await.unwrap();
                let mut s = BufReader::new(s);
                for r in responses {
                    // Read the request head and its JSON body.
                    let mut len = 0;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        s.read_line(&mut line).await.unwrap();
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap();
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let mut body = vec![0; len];
                    s.read_exact(&mut body).await.unwrap();
                    s.get_mut().write_all(r.as_bytes()).await.unwrap();
                }
            }
        });
        addr
    }

    #[tokio::test]
    async fn content_length_and_chunked_bodies_on_one_connection() {
        let addr = canned(vec![
            "HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{\"id\":\"e1\"}",
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n8\r\n{\"token\"\r\n7\r\n:\"t-1\"}\r\n0\r\n\r\n",
            "HTTP/1.1 422 Unprocessable Entity\r\ncontent-length: 2\r\n\r\nno",
        ])
        .await;
        let mut api = Api::new(addr, "key");
        let id = api.create_event("t", "p", &["a", "b"]).await.unwrap();
        assert_eq!(id, "e1");
        let inv = api.invite(&id, "participant", "n", "a").await.unwrap();
        assert_eq!(inv.token, "t-1");
        let err = api.invite(&id, "participant", "n", "a").await.unwrap_err();
        assert!(err.to_string().contains("HTTP 422"), "{err}");
    }

    /// A kept connection the server closed (after a response without `Connection: close`)
    /// and one it announced closing: the next request goes out on a new connection.
    #[tokio::test]
    async fn a_closed_connection_is_opened_again() {
        let addr = canned_connections(vec![
            vec!["HTTP/1.1 201 Created\r\ncontent-length: 11\r\n\r\n{\"id\":\"e1\"}"],
            vec!["HTTP/1.1 201 Created\r\nconnection: close\r\ncontent-length: 15\r\n\r\n{\"token\":\"t-1\"}"],
            vec!["HTTP/1.1 201 Created\r\ncontent-length: 15\r\n\r\n{\"token\":\"t-2\"}"],
        ])
        .await;
        let mut api = Api::new(addr, "key");
        let id = api.create_event("t", "p", &["a", "b"]).await.unwrap();
        assert_eq!(id, "e1");
        let inv = api.invite(&id, "participant", "n", "a").await.unwrap();
        assert_eq!(inv.token, "t-1");
        let inv = api.invite(&id, "participant", "n", "a").await.unwrap();
        assert_eq!(inv.token, "t-2");
    }

    /// No server: a transport error, never a panic.
    #[tokio::test]
    async fn no_server_is_an_error() {
        let addr = {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            l.local_addr().unwrap()
        };
        let mut api = Api::new(addr, "key");
        let err = api.create_event("t", "p", &["a"]).await.unwrap_err();
        assert!(
            format!("{err:#}").contains("connecting to the API"),
            "{err:#}"
        );
    }
}
