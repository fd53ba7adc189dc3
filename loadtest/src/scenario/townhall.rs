//! `townhall`: one hall, N listeners from two communities, one speaker holding the floor and
//! speaking at a fixed rate; latency from each utterance's *intended* send time to every
//! listener's receipt.
//!
//! Open loop: the speaker sends on a fixed schedule (`interval` with burst catch-up) and each
//! utterance carries its scheduled time, so a stalled sender or server shows up as latency
//! instead of silently thinning the load (coordinated omission). On Commonground the speaker
//! is the event's facilitator: `start` opens the protocol's first phase, a presentation, which
//! grants the facilitator the floor; every `speak` is then a `said` event for the whole hall.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context as _};
use futures_util::StreamExt as _;
use hdrhistogram::Histogram;
use serde_json::json;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{self, Connector, Ws};
use crate::procstat::Usage;
use crate::progress::Progress;
use crate::report::{new_hist, Report};
use crate::scenario::{
    close_bucket, connect_and_join, connect_and_join_via, invite_all, wait_connected, Ctx, Failures,
};
use crate::target::{self, Incoming, Target};

#[derive(Debug, Clone, clap::Args)]
pub struct TownhallArgs {
    /// Listeners in the hall, split over two communities.
    #[arg(long, default_value_t = 10_000)]
    pub listeners: u32,
    /// Utterances per second from the speaker.
    #[arg(long, default_value_t = 20.0)]
    pub rate: f64,
    /// Seconds of speaking.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Leading seconds whose latencies are not recorded (they still count for losses).
    #[arg(long, default_value_t = 1)]
    pub warmup: u64,
    /// Bytes of utterance text (marker plus padding).
    #[arg(long, default_value_t = 200)]
    pub message_bytes: usize,
    /// Seconds to wait after the last utterance for deliveries and acks.
    #[arg(long, default_value_t = 10)]
    pub drain: u64,
    /// Commonground protocol for the hall; its first phase must be a facilitator presentation.
    #[arg(long, default_value = "joint-town-hall")]
    pub protocol: String,
    /// Times a listener retries a join the server answered `unavailable` (or that timed out),
    /// as a real client does, after 0.5 s, 1 s, 1.5 s, ...; every retry is counted.
    #[arg(long, default_value_t = 0)]
    pub join_retries: u32,
}

/// State every listener task shares.
#[derive(Debug)]
struct Shared {
    hist: Mutex<Histogram<u64>>,
    warmup_seqs: u64,
    out_of_order: std::sync::atomic::AtomicU64,
    failures: Failures,
    join_retries: u32,
    retried: std::sync::atomic::AtomicU64,
}

const ROOM: &str = "hall";

pub async fn run(ctx: Arc<Ctx>, usage: Usage, args: TownhallArgs) -> anyhow::Result<Report> {
    let nodes = vec![Arc::clone(&ctx.connector)];
    run_on("townhall", ctx, usage, args, nodes).await
}

/// The townhall with listener `i` connected through `nodes[i % nodes.len()]` (the `cluster`
/// scenario gives one connector per node); the speaker and the API use `ctx`'s server.
pub async fn run_on(
    scenario: &'static str,
    ctx: Arc<Ctx>,
    mut usage: Usage,
    args: TownhallArgs,
    nodes: Vec<Arc<Connector>>,
) -> anyhow::Result<Report> {
    if nodes.is_empty() {
        bail!("no node to connect listeners to");
    }
    if !(args.rate > 0.0 && args.rate <= 100_000.0) {
        bail!("--rate must be in (0, 100000]");
    }
    let n = args.listeners as usize;
    let (listener_tokens, speaker_token) = match ctx.target {
        Target::Commonground => {
            let mut api = ctx.api()?;
            let event = api
                .create_event("loadtest townhall", &args.protocol, &super::COMMUNITIES)
                .await
                .context("creating the townhall event")?;
            let speaker = api
                .invite(&event, "facilitator", "Speaker", super::COMMUNITIES[0])
                .await?;
            let roles = vec!["participant"; n];
            let invites = invite_all(&ctx, &event, &roles, "Listener ").await?;
            (
                invites.into_iter().map(|i| i.token).collect(),
                speaker.token,
            )
        }
        Target::Bare | Target::Socketio => (vec![String::new(); n], String::new()),
    };

    usage.mark("baseline");

    // The speaker joins first and takes the floor while the hall is empty: staff snapshots
    // list every member, so joining a full hall is the expensive path (and not what we
    // measure). Until the listeners are in, a task keeps reading its socket.
    Progress::add(&ctx.progress.wanted, 1);
    let speaker = connect_and_join(&ctx, ROOM, &speaker_token)
        .await
        .map_err(|e| anyhow::anyhow!("the speaker could not join: {e}"))?;
    Progress::add(&ctx.progress.joined, 1);
    let mut ws = speaker.ws;
    if ctx.target == Target::Commonground {
        take_floor(&mut ws, &speaker.member).await?;
    }
    let (hold_tx, hold_rx) = tokio::sync::oneshot::channel::<()>();
    let holder = tokio::spawn(keep_reading(ws, ctx.target, hold_rx));

    // Listeners: connect, join, then count and time every utterance until told to stop.
    let shared = Arc::new(Shared {
        hist: Mutex::new(new_hist()),
        warmup_seqs: (args.rate * args.warmup as f64).round() as u64,
        out_of_order: std::sync::atomic::AtomicU64::new(0),
        failures: Failures::default(),
        join_retries: args.join_retries,
        retried: std::sync::atomic::AtomicU64::new(0),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    Progress::add(&ctx.progress.wanted, n as u64);
    let connect_started = client::now();
    let mut tasks = Vec::with_capacity(n);
    for (i, token) in listener_tokens.into_iter().enumerate() {
        let (ctx, shared, stop) = (Arc::clone(&ctx), Arc::clone(&shared), stop_rx.clone());
        let node = Arc::clone(&nodes[i % nodes.len()]);
        tasks.push(tokio::spawn(listener(ctx, node, shared, token, stop)));
    }
    let all_joined = wait_connected(&ctx, connect_started).await;
    let connect_s = connect_started.elapsed().as_secs_f64();
    // The speaker counts among the joined; the figures are about listeners.
    let joined = Progress::get(&ctx.progress.joined) - 1;
    usage.mark("connected");
    if joined == 0 {
        bail!(
            "no listener could join; failures: {:?}",
            shared.failures.snapshot()
        );
    }
    let _ = hold_tx.send(());
    let mut ws = holder
        .await?
        .context("the speaker's connection closed while the listeners joined")?;
    usage.mark("measure_start");
    let t0 = client::now() + Duration::from_millis(20);
    let spoke = speak(&ctx, &mut ws, &args, t0).await?;

    // Drain: wait until every utterance not refused reached every joined listener. An
    // utterance whose ack is still outstanding counts as expected: only a refusal excuses it.
    let refused: u64 = spoke.refused.values().sum();
    let expected = spoke.sent.saturating_sub(refused) * joined;
    let drain_until = client::now() + Duration::from_secs(args.drain);
    loop {
        let unique = Progress::get(&ctx.progress.received).saturating_sub(
            shared
                .out_of_order
                .load(std::sync::atomic::Ordering::Relaxed),
        );
        if unique >= expected || client::now() >= drain_until {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let window_s = t0.elapsed().as_secs_f64();
    usage.mark("measure_end");
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }
    drop(ws);

    // Report.
    let received = Progress::get(&ctx.progress.received);
    let ooo = shared
        .out_of_order
        .load(std::sync::atomic::Ordering::Relaxed);
    let unique = received.saturating_sub(ooo);
    let hist = shared
        .hist
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let mut r = Report {
        scenario,
        target: ctx.target.name(),
        params: json!({
            "listeners": args.listeners, "rate_per_s": args.rate, "duration_s": args.duration,
            "warmup_s": args.warmup, "message_bytes": args.message_bytes,
            "join_retries": args.join_retries,
            "protocol": if ctx.target == Target::Commonground { Some(&args.protocol) } else { None },
        }),
        latencies: vec![("delivery", hist), ("speaker_ack", spoke.ack_hist.clone())],
        figures: Vec::new(),
        usage,
        notes: Vec::new(),
    };
    r.figure("listeners_joined", joined);
    r.figure("listeners_failed", Progress::get(&ctx.progress.failed));
    r.figure(
        "join_retries",
        shared.retried.load(std::sync::atomic::Ordering::Relaxed),
    );
    r.figure(
        "listeners_joined_in_s",
        if all_joined {
            json!(connect_s)
        } else {
            json!(null)
        },
    );
    r.figure("utterances_sent", spoke.sent);
    r.figure("utterances_acked", spoke.acked);
    r.figure("utterances_refused", refused);
    r.figure("deliveries_expected", expected);
    r.figure("deliveries_received", unique);
    r.figure("lost", expected.saturating_sub(unique));
    r.figure("duplicates_or_reordered", ooo);
    r.figure("deliveries_per_s", unique as f64 / window_s);
    r.figure("window_s", window_s);
    r.figure("errors", Progress::get(&ctx.progress.errors));
    r.figure("refusals", json!(spoke.refused));
    r.figure("failures", json!(shared.failures.snapshot()));
    derive_usage(&mut r, joined, unique, window_s);
    if !all_joined {
        r.notes.push(format!(
            "not every listener joined within {:?}; the run went on with {joined}",
            ctx.connect_deadline
        ));
    }
    if expected > unique {
        r.notes.push(format!(
            "{} deliveries missing after {} s of drain: lost, or the server is saturated",
            expected - unique,
            args.drain
        ));
    }
    Ok(r)
}

/// Server CPU per delivery and memory per connection, and the generator's own CPU, from the
/// usage marks `baseline`, `connected`, `measure_start`, `measure_end`.
pub fn derive_usage(r: &mut Report, conns: u64, deliveries: u64, window_s: f64) {
    let (Some((base, _)), Some((conn, _)), Some((s0, g0)), Some((s1, g1))) = (
        r.usage.get("baseline"),
        r.usage.get("connected"),
        r.usage.get("measure_start"),
        r.usage.get("measure_end"),
    ) else {
        return;
    };
    let gen_cpu = g1.cpu_s - g0.cpu_s;
    r.figure("loadtest_cpu_s", gen_cpu);
    r.figure("loadtest_cores_busy", gen_cpu / window_s);
    if gen_cpu / window_s > 0.9 {
        r.notes.push(format!(
            "the load generator was {:.0}% busy: numbers may show its limit, not the server's",
            100.0 * gen_cpu / window_s
        ));
    }
    if !r.usage.has_server() {
        r.notes
            .push("no --server-pid: server CPU and memory not measured".into());
        return;
    }
    let cpu = s1.cpu_s - s0.cpu_s;
    r.figure("server_cpu_s", cpu);
    r.figure("server_cores_busy", cpu / window_s);
    if deliveries > 0 {
        r.figure("server_cpu_us_per_delivery", cpu * 1e6 / deliveries as f64);
    }
    if cpu > 0.0 && deliveries > 0 {
        // Throughput per core used: comparable between one node and several sharing cores.
        r.figure("deliveries_per_server_cpu_s", deliveries as f64 / cpu);
    }
    r.figure("server_rss_baseline_kib", base.rss_kib);
    r.figure("server_rss_connected_kib", conn.rss_kib);
    r.figure("server_rss_end_kib", s1.rss_kib);
    if conns > 0 {
        r.figure(
            "server_rss_per_conn_kib",
            (conn.rss_kib as f64 - base.rss_kib as f64) / conns as f64,
        );
    }
}

/// Reads (and drops) the speaker's frames until `hold` fires, then hands the socket back;
/// `None` if the connection closed meanwhile.
async fn keep_reading(
    mut ws: Ws,
    target: Target,
    mut hold: tokio::sync::oneshot::Receiver<()>,
) -> Option<Ws> {
    loop {
        tokio::select! {
            _ = &mut hold => return Some(ws),
            m = ws.next() => match m {
                Some(Ok(Message::Text(t))) => {
                    if matches!(target::decode(target, &t, false), Incoming::EioPing) {
                        client::send_text(&mut ws, "3".into()).await.ok()?;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return None,
            },
        }
    }
}

async fn listener(
    ctx: Arc<Ctx>,
    node: Arc<Connector>,
    sh: Arc<Shared>,
    token: String,
    mut stop: watch::Receiver<bool>,
) {
    let p = &ctx.progress;
    let mut attempt = 0;
    let mut ws = loop {
        match connect_and_join_via(&ctx, &node, ROOM, &token).await {
            Ok(j) => break j.ws,
            Err(e) if attempt < sh.join_retries && retryable(&e) => {
                attempt += 1;
                sh.retried
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(500) * attempt).await;
            }
            Err(e) => {
                sh.failures.add(e);
                Progress::add(&p.failed, 1);
                return;
            }
        }
    };
    Progress::add(&p.joined, 1);
    let mut last: Option<u64> = None;
    let mut batch: Vec<u64> = Vec::with_capacity(64);
    let flush = |batch: &mut Vec<u64>| {
        let mut h = sh.hist.lock().unwrap_or_else(|e| e.into_inner());
        for v in batch.drain(..) {
            h.saturating_record(v.max(1));
        }
    };
    loop {
        let msg = tokio::select! {
            biased;
            _ = stop.changed() => break,
            m = ws.next() => m,
        };
        match msg {
            Some(Ok(Message::Text(t))) => match target::decode(ctx.target, &t, false) {
                Incoming::Said { seq, intended_us } => {
                    let lat = client::us_since_origin(client::now()).saturating_sub(intended_us);
                    Progress::add(&p.received, 1);
                    if last.is_some_and(|l| seq <= l) {
                        sh.out_of_order
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    } else {
                        last = Some(seq);
                    }
                    if seq >= sh.warmup_seqs {
                        batch.push(lat);
                        if batch.len() == batch.capacity() {
                            flush(&mut batch);
                        }
                    }
                }
                Incoming::EioPing => {
                    let _ = client::send_text(&mut ws, "3".into()).await;
                }
                Incoming::Error { code, .. } => {
                    sh.failures.add(format!("error:{code}"));
                    Progress::add(&p.errors, 1);
                }
                _ => {}
            },
            Some(Ok(Message::Close(c))) => {
                sh.failures.add(close_bucket(c.as_ref()));
                Progress::add(&p.errors, 1);
                break;
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => {
                sh.failures.add("disconnected");
                Progress::add(&p.errors, 1);
                break;
            }
        }
    }
    flush(&mut batch);
}

/// Refusals a client is told to retry: the room was busy (`unavailable`, close 1013) or the
/// answer did not come in time.
fn retryable(bucket: &str) -> bool {
    matches!(
        bucket,
        "error:unavailable" | "close:1013" | "join_timeout" | "connect_timeout"
    )
}

/// Commonground: the facilitator starts the session and waits for its presentation floor.
async fn take_floor(ws: &mut Ws, me: &str) -> anyhow::Result<()> {
    client::send_text(ws, target::command_frame("start", 0)).await?;
    let granted = async {
        while let Some(m) = ws.next().await {
            let Message::Text(t) = m? else { continue };
            if t.contains("\"floor_granted\"") && t.contains(me) {
                return anyhow::Ok(());
            }
            if let Incoming::Error { id: Some(0), code } =
                target::decode(Target::Commonground, &t, false)
            {
                if code != "already_started" {
                    bail!("`start` was refused: {code}");
                }
            }
        }
        bail!("the connection closed before the speaker got the floor")
    };
    tokio::time::timeout(Duration::from_secs(10), granted)
        .await
        .context("the speaker was not granted the floor within 10 s (is the first phase a facilitator presentation?)")?
}

#[derive(Debug)]
struct Spoke {
    sent: u64,
    acked: u64,
    refused: BTreeMap<String, u64>,
    ack_hist: Histogram<u64>,
}

/// Sends `rate × duration` utterances on a fixed schedule and collects their acks.
async fn speak(
    ctx: &Ctx,
    ws: &mut Ws,
    args: &TownhallArgs,
    t0: tokio::time::Instant,
) -> anyhow::Result<Spoke> {
    let total = (args.rate * args.duration as f64).round() as u64;
    let mut tick = tokio::time::interval_at(t0, Duration::from_secs_f64(1.0 / args.rate));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut out = Spoke {
        sent: 0,
        acked: 0,
        refused: BTreeMap::new(),
        ack_hist: new_hist(),
    };
    // Command id = utterance seq + 1 (id 0 was `start`).
    let mut pending: HashMap<u64, u64> = HashMap::new();
    let ack_deadline =
        t0 + Duration::from_secs_f64(total as f64 / args.rate) + Duration::from_secs(args.drain);
    loop {
        if out.sent == total && pending.is_empty() {
            break;
        }
        tokio::select! {
            t = tick.tick(), if out.sent < total => {
                let seq = out.sent;
                let intended = client::us_since_origin(t);
                let text = target::marker_text(seq, intended, args.message_bytes);
                client::send_text(ws, target::publish_frame(ctx.target, ROOM, &text, seq + 1)).await?;
                pending.insert(seq + 1, intended);
                out.sent += 1;
                Progress::add(&ctx.progress.sent, 1);
            }
            m = ws.next() => {
                let Some(m) = m else { bail!("the speaker's connection closed") };
                let Message::Text(t) = m? else { continue };
                match target::decode(ctx.target, &t, false) {
                    Incoming::Ack { id } => {
                        if let Some(intended) = pending.remove(&id) {
                            out.acked += 1;
                            let now = client::us_since_origin(client::now());
                            out.ack_hist.saturating_record(now.saturating_sub(intended).max(1));
                        }
                    }
                    Incoming::Error { id, code } => {
                        if let Some(id) = id {
                            pending.remove(&id);
                        }
                        *out.refused.entry(code).or_default() += 1;
                        Progress::add(&ctx.progress.errors, 1);
                    }
                    Incoming::EioPing => client::send_text(ws, "3".into()).await?,
                    _ => {}
                }
            }
            _ = tokio::time::sleep_until(ack_deadline) => break,
        }
    }
    Ok(out)
}
