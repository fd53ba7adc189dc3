//! Live counters every client task bumps, and a once-a-second progress line on stderr.

use std::io::{IsTerminal as _, Write as _};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::client;

#[derive(Debug, Default)]
pub struct Progress {
    /// Connections the scenario wants.
    pub wanted: AtomicU64,
    /// Connections joined (welcome + snapshot, or joined).
    pub joined: AtomicU64,
    /// Connections that failed to connect or join.
    pub failed: AtomicU64,
    /// Messages or commands sent.
    pub sent: AtomicU64,
    /// Deliveries received (utterances, events).
    pub received: AtomicU64,
    /// Refusals, unexpected closes and other errors while running.
    pub errors: AtomicU64,
}

impl Progress {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Relaxed)
    }
}

/// Prints the counters every second until the returned task is aborted. On a terminal the
/// line is rewritten in place; otherwise a line is printed every five seconds.
pub fn spawn(label: String, p: Arc<Progress>, quiet: bool) -> JoinHandle<()> {
    tokio::spawn(async move {
        if quiet {
            return;
        }
        let tty = std::io::stderr().is_terminal();
        let start = client::now();
        let mut last_recv = 0;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.tick().await;
        loop {
            tick.tick().await;
            let secs = start.elapsed().as_secs();
            let recv = Progress::get(&p.received);
            let line = format!(
                "[{label} {secs:>4}s] joined {}/{} failed {} sent {} received {} ({}/s) errors {}",
                Progress::get(&p.joined),
                Progress::get(&p.wanted),
                Progress::get(&p.failed),
                Progress::get(&p.sent),
                recv,
                recv - last_recv,
                Progress::get(&p.errors),
            );
            last_recv = recv;
            let mut err = std::io::stderr().lock();
            if tty {
                let _ = write!(err, "\r{line}\x1b[K");
                let _ = err.flush();
            } else if secs.is_multiple_of(5) {
                let _ = writeln!(err, "{line}");
            }
        }
    })
}

/// Ends the progress line cleanly.
pub fn finish(h: JoinHandle<()>) {
    h.abort();
    if std::io::stderr().is_terminal() {
        eprintln!();
    }
}
