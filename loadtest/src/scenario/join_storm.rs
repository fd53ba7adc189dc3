//! `join-storm`: N clients start joining at evenly spread moments within a window; success
//! rate, time until all joined, and what the server refused (HTTP 429 on the upgrade, or an
//! `error` with `rate_limited`).
//!
//! Each client's join time is measured from its *scheduled* start, so a slow connect phase
//! counts against the server instead of pushing later clients back (coordinated omission).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use futures_util::StreamExt as _;
use hdrhistogram::Histogram;
use serde_json::json;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use crate::client;
use crate::procstat::Usage;
use crate::progress::Progress;
use crate::report::{new_hist, Report};
use crate::scenario::{
    close_bucket, connect_and_join, invite_all, wait_connected, Ctx, Failures, COMMUNITIES,
};
use crate::target::{self, Incoming, Target};

#[derive(Debug, Clone, clap::Args)]
pub struct JoinStormArgs {
    /// Clients joining.
    #[arg(long, default_value_t = 10_000)]
    pub clients: u32,
    /// Window over which the clients start, in milliseconds (0 = all at once).
    #[arg(long, default_value_t = 1_000)]
    pub window_ms: u64,
    /// Seconds to hold the joined connections before closing them.
    #[arg(long, default_value_t = 1)]
    pub hold: u64,
    /// Commonground protocol of the event.
    #[arg(long, default_value = "joint-town-hall")]
    pub protocol: String,
}

const ROOM: &str = "storm";

pub async fn run(ctx: Arc<Ctx>, mut usage: Usage, args: JoinStormArgs) -> anyhow::Result<Report> {
    let n = args.clients as usize;
    let tokens: Vec<String> = match ctx.target {
        Target::Commonground => {
            let mut api = ctx.api()?;
            let event = api
                .create_event("loadtest join storm", &args.protocol, &COMMUNITIES)
                .await
                .context("creating the join-storm event")?;
            let roles = vec!["participant"; n];
            invite_all(&ctx, &event, &roles, "Joiner ")
                .await?
                .into_iter()
                .map(|i| i.token)
                .collect()
        }
        Target::Bare | Target::Socketio => vec![String::new(); n],
    };
    usage.mark("baseline");
    usage.mark("measure_start");

    let hist = Arc::new(Mutex::new(new_hist()));
    let last_joined_us = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(Failures::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    Progress::add(&ctx.progress.wanted, n as u64);
    let t0 = client::now() + Duration::from_millis(50);
    let mut tasks = Vec::with_capacity(n);
    for (i, token) in tokens.into_iter().enumerate() {
        let at = t0 + Duration::from_micros(args.window_ms * 1000 * i as u64 / n.max(1) as u64);
        let (ctx, hist, last, failures) = (
            Arc::clone(&ctx),
            Arc::clone(&hist),
            Arc::clone(&last_joined_us),
            Arc::clone(&failures),
        );
        let mut stop = stop_rx.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(at).await;
            match connect_and_join(&ctx, ROOM, &token).await {
                Ok(j) => {
                    let done = client::now();
                    let took = u64::try_from((done - at).as_micros()).unwrap_or(u64::MAX);
                    hist.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .saturating_record(took.max(1));
                    let since_t0 = u64::try_from((done - t0).as_micros()).unwrap_or(u64::MAX);
                    last.fetch_max(since_t0, Relaxed);
                    Progress::add(&ctx.progress.joined, 1);
                    // Hold the connection until the run ends, reading what the room sends
                    // (other members' arrivals) as a real client would.
                    let mut ws = j.ws;
                    loop {
                        let m = tokio::select! {
                            biased;
                            _ = stop.changed() => break,
                            m = ws.next() => m,
                        };
                        match m {
                            Some(Ok(Message::Text(t))) => {
                                Progress::add(&ctx.progress.received, 1);
                                if matches!(
                                    target::decode(ctx.target, &t, false),
                                    Incoming::EioPing
                                ) && client::send_text(&mut ws, "3".into()).await.is_err()
                                {
                                    break;
                                }
                            }
                            Some(Ok(Message::Close(c))) => {
                                failures.add(format!("after join: {}", close_bucket(c.as_ref())));
                                Progress::add(&ctx.progress.errors, 1);
                                break;
                            }
                            Some(Ok(_)) => {}
                            Some(Err(_)) | None => {
                                failures.add("after join: disconnected");
                                Progress::add(&ctx.progress.errors, 1);
                                break;
                            }
                        }
                    }
                }
                Err(e) => {
                    failures.add(e);
                    Progress::add(&ctx.progress.failed, 1);
                }
            }
        }));
    }
    let finished = wait_connected(&ctx, t0).await;
    let window_s = t0.elapsed().as_secs_f64();
    usage.mark("connected");
    usage.mark("measure_end");
    tokio::time::sleep(Duration::from_secs(args.hold)).await;
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }

    let joined = Progress::get(&ctx.progress.joined);
    let failed = Progress::get(&ctx.progress.failed);
    let fails = failures.snapshot();
    let rate_limited: u64 = fails
        .iter()
        .filter(|(k, _)| k.contains("429") || k.contains("rate_limited"))
        .map(|(_, v)| v)
        .sum();
    let h: Histogram<u64> = hist.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut r = Report {
        scenario: "join-storm",
        target: ctx.target.name(),
        params: json!({"clients": args.clients, "window_ms": args.window_ms}),
        latencies: vec![("join_time", h)],
        figures: Vec::new(),
        usage,
        notes: Vec::new(),
    };
    r.figure("joined", joined);
    r.figure("failed", failed);
    r.figure("success_rate", joined as f64 / n.max(1) as f64);
    r.figure(
        "time_to_all_joined_s",
        if finished && failed == 0 {
            json!(last_joined_us.load(Relaxed) as f64 / 1e6)
        } else {
            json!(null)
        },
    );
    r.figure(
        "time_to_last_joined_s",
        last_joined_us.load(Relaxed) as f64 / 1e6,
    );
    r.figure("refused_rate_limited", rate_limited);
    r.figure(
        "frames_received_while_holding",
        Progress::get(&ctx.progress.received),
    );
    r.figure("errors_after_join", Progress::get(&ctx.progress.errors));
    r.figure("failures", json!(fails));
    super::townhall::derive_usage(&mut r, joined, 0, window_s);
    if !finished {
        r.notes.push(format!(
            "the connect deadline ({:?}) passed before every client finished",
            ctx.connect_deadline
        ));
    }
    Ok(r)
}
