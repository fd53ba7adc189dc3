//! The TCP listener in front of HTTP, where a client that never finishes a request is
//! stopped before hyper parses anything: a cap on open connections per client address, and
//! a deadline for the request headers (slowloris, issue #20 finding 4).
//!
//! hyper's own header timeout needs a timer axum's `serve` does not install, so the deadline
//! lives in the stream: it is armed when the connection opens and again after each response
//! (the keep-alive wait for the next request), and disarmed once the bytes read contain the
//! end of a request head (`\r\n\r\n`). A connection whose response is `101 Switching
//! Protocols` is never re-armed: the WebSocket's own hello and idle timeouts take over.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;

/// Open connections per address, shared by the listener and its streams.
type Counts = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// A `TcpListener` that refuses an address's connections over the cap (closing them at
/// once) and hands out [`GuardedStream`]s.
#[derive(Debug)]
pub struct GuardedListener {
    inner: TcpListener,
    counts: Counts,
    max_per_address: usize,
    header_timeout: Duration,
}

impl GuardedListener {
    pub fn new(
        inner: TcpListener,
        max_per_address: usize,
        header_timeout: Duration,
    ) -> GuardedListener {
        GuardedListener {
            inner,
            counts: Arc::new(Mutex::new(HashMap::new())),
            max_per_address,
            header_timeout,
        }
    }

    /// Counts the connection in, or `None` when its address is at the cap.
    fn admit(&self, ip: IpAddr) -> Option<AddressGuard> {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let n = counts.entry(ip).or_insert(0);
        if *n >= self.max_per_address {
            return None;
        }
        *n += 1;
        Some(AddressGuard {
            counts: Arc::clone(&self.counts),
            ip,
        })
    }
}

impl axum::serve::Listener for GuardedListener {
    type Io = GuardedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (GuardedStream, SocketAddr) {
        loop {
            let (tcp, addr) = match self.inner.accept().await {
                Ok(pair) => pair,
                Err(e) => {
                    accept_error(e).await;
                    continue;
                }
            };
            let Some(guard) = self.admit(addr.ip()) else {
                // Dropped unread: the cheapest answer, and the socket's descriptor is free
                // again at once.
                tracing::debug!("connection refused: too many open from one address");
                continue;
            };
            // Small frames must not wait for Nagle's algorithm (tens of ms per reply).
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!("cannot set TCP_NODELAY: {e}");
            }
            let stream = GuardedStream {
                tcp,
                _guard: guard,
                timeout: self.header_timeout,
                deadline: Some(Box::pin(tokio::time::sleep(self.header_timeout))),
                end: 0,
                awaiting_response: false,
                upgraded: false,
            };
            return (stream, addr);
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// As axum's own listener: per-connection errors are skipped; anything else (out of file
/// descriptors) is logged and retried after a second, so the loop does not spin.
async fn accept_error(e: io::Error) {
    use io::ErrorKind::*;
    if matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    ) {
        return;
    }
    tracing::error!("accept error: {e}");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Takes the connection out of its address's count when the stream is dropped.
#[derive(Debug)]
struct AddressGuard {
    counts: Counts,
    ip: IpAddr,
}

impl Drop for AddressGuard {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = counts.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// A connection with a deadline for its request headers.
#[derive(Debug)]
pub struct GuardedStream {
    tcp: TcpStream,
    _guard: AddressGuard,
    timeout: Duration,
    /// Armed while the server waits for a request head.
    deadline: Option<Pin<Box<Sleep>>>,
    /// How much of `\r\n\r\n` the bytes read so far end with.
    end: usize,
    /// A head was read and its response has not started.
    awaiting_response: bool,
    /// The response was `101`: a WebSocket now, never re-armed.
    upgraded: bool,
}

const END: &[u8] = b"\r\n\r\n";
const SWITCHING: &[u8] = b"HTTP/1.1 101 ";

impl GuardedStream {
    /// Scans newly read bytes of a request head.
    fn scan(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.end = step(self.end, b, END);
            if self.end == END.len() {
                self.deadline = None;
                self.awaiting_response = true;
                self.end = 0;
                return;
            }
        }
    }

    /// A response starts: unless it switched protocols, the next request's head must arrive
    /// in time too (the keep-alive idle limit).
    fn writing(&mut self, first: &[u8]) {
        if !self.awaiting_response {
            return;
        }
        self.awaiting_response = false;
        if first.starts_with(SWITCHING) {
            self.upgraded = true;
        } else if !self.upgraded {
            self.deadline = Some(Box::pin(tokio::time::sleep(self.timeout)));
        }
    }
}

/// The next state of a matcher for `\r\n\r\n`: falling back to 1 on `\r` and to 0 otherwise
/// is exact for this pattern.
fn step(state: usize, b: u8, pat: &[u8]) -> usize {
    if pat[state] == b {
        state + 1
    } else if pat[0] == b {
        1
    } else {
        0
    }
}

impl AsyncRead for GuardedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if let Some(deadline) = &mut this.deadline {
            if deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no complete request headers in time",
                )));
            }
        }
        let before = buf.filled().len();
        let res = Pin::new(&mut this.tcp).poll_read(cx, buf);
        if this.deadline.is_some() {
            if let Poll::Ready(Ok(())) = res {
                let new = buf.filled()[before..].to_vec();
                this.scan(&new);
            }
        }
        res
    }
}

impl AsyncWrite for GuardedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        this.writing(buf);
        Pin::new(&mut this.tcp).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let first = bufs
            .iter()
            .find(|b| !b.is_empty())
            .map_or(&[][..], |b| &b[..]);
        this.writing(first);
        Pin::new(&mut this.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_matcher_finds_the_end_of_a_head() {
        let mut s = 0;
        for &b in b"GET / HTTP/1.1\r\nHost: x\r\n\r" {
            s = step(s, b, END);
        }
        assert_eq!(s, 3);
        assert_eq!(step(s, b'\n', END), 4);
        assert_eq!(step(3, b'\r', END), 1);
        assert_eq!(step(2, b'x', END), 0);
    }
}
