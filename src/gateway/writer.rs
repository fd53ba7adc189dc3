//! A connection's writer task: takes everything its outbound queue holds in one go, writes
//! it, and ends with the close frame; a slow consumer is cut loose mid-write.

use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::stream::SplitSink;
use futures_util::SinkExt;

use crate::bus::queue::{Next, Queued};
use crate::bus::Outbound;
use crate::gateway::conn::CLOSE_WAIT;
use crate::wire::CloseReason;

/// Writes what the queue hands over until it closes, then sends the close frame.
pub(super) async fn write_loop(mut sink: SplitSink<WebSocket, Message>, out: Arc<Outbound>) {
    let reason = loop {
        match out.next().await {
            Next::Send(msgs) => {
                let send = async {
                    for m in msgs {
                        // A client's queue holds only WebSocket messages; controls are for
                        // cluster proxies.
                        if let Queued::Ws(m) = m {
                            sink.feed(m).await?;
                        }
                    }
                    sink.flush().await
                };
                let res = tokio::select! {
                    r = send => r.map_err(|_| ()),
                    // A slow consumer is cut loose even in the middle of a write it is not
                    // reading.
                    () = out.aborted() => Err(()),
                    // Once closing, what is queued gets a bounded time to go out.
                    () = async { out.closed().await; tokio::time::sleep(CLOSE_WAIT).await } => Err(()),
                };
                if res.is_err() {
                    break out.close_reason();
                }
            }
            Next::Close(reason) => break Some(reason),
        }
    };
    if let Some(reason) = reason {
        let frame = CloseFrame {
            code: reason.code(),
            reason: Utf8Bytes::from_static(reason.reason()),
        };
        let _ = tokio::time::timeout(CLOSE_WAIT, sink.send(Message::Close(Some(frame)))).await;
    }
    // Make sure the reader stops too (the socket failed, or we closed it).
    out.close(CloseReason::GoingAway, false);
}
