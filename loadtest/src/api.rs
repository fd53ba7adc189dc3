//! The few Commonground HTTP API calls the scenarios need: create an event, invite members.
//!
//! Kept in one small module because the API is young: `POST /api/events` (Bearer organizer
//! key) and `POST /api/events/{id}/invites`. The client is a minimal HTTP/1.1 keep-alive
//! client over one `TcpStream` (JSON bodies with `Content-Length` or chunked responses), which
//! saves a heavy HTTP dependency for a dozen lines of protocol.

use std::net::SocketAddr;

use anyhow::{bail, Context as _};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
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
    conn: Option<BufReader<TcpStream>>,
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

    /// One request and its response on the kept connection (opened when needed).
    async fn exchange(&mut self, path: &str, body: &Value) -> anyhow::Result<(u16, String)> {
        let body = body.to_string();
        let conn = match &mut self.conn {
            Some(c) => c,
            None => {
                let s = TcpStream::connect(self.addr)
                    .await
                    .with_context(|| format!("connecting to the API at {}", self.addr))?;
                s.set_nodelay(true)?;
                self.conn.insert(BufReader::new(s))
            }
        };
        let req = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.addr,
            self.key,
            body.len()
        );
        let res = async {
            conn.get_mut().write_all(req.as_bytes()).await?;
            read_response(conn).await
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
                Err(e)
            }
        }
    }
}

/// Reads one response: status, body, and whether the server will close the connection.
async fn read_response(conn: &mut BufReader<TcpStream>) -> anyhow::Result<(u16, String, bool)> {
    let mut line = String::new();
    if conn.read_line(&mut line).await? == 0 {
        bail!("the API closed the connection");
    }
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad HTTP status line `{}`", line.trim()))?;
    let mut len = None;
    let mut chunked = false;
    let mut close = false;
    loop {
        line.clear();
        conn.read_line(&mut line).await?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let Some((k, v)) = l.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_ascii_lowercase());
        match k.as_str() {
            "content-length" => len = v.parse::<usize>().ok(),
            "transfer-encoding" => chunked = v.contains("chunked"),
            "connection" => close = v == "close",
            _ => {}
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            line.clear();
            conn.read_line(&mut line).await?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                .context("bad chunk size")?;
            let mut chunk = vec![0; size + 2];
            conn.read_exact(&mut chunk).await?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(n) = len {
        body.resize(n, 0);
        conn.read_exact(&mut body).await?;
    } else {
        conn.read_to_end(&mut body).await?;
        close = true;
    }
    Ok((status, String::from_utf8_lossy(&body).into_owned(), close))
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt as _;
    use tokio::net::TcpListener;

    use super::*;

    /// Serves canned responses, one per request, on one keep-alive connection.
    async fn canned(responses: Vec<&'static str>) -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
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
}
