//! `soak`: a realistic mixed load held for a long time (a town hall and its breakout groups
//! at once), sampled every few seconds, to show whether memory, connections or latency drift.
//!
//! One hall event (`--hall-protocol`, a facilitator presentation that runs into overtime, so
//! it never ends by itself) where the facilitator speaks `--rate` utterances per second to
//! `--listeners` participants, and `--groups` separate events of `--group-size` members
//! running back-to-back go-rounds (`--group-protocol`, made with `loadtest protocol`) whose
//! timers drive every turn; the participant holding the floor says one thing per turn. Both
//! run together for `--duration` seconds. Every `--sample-secs` a row is printed and kept:
//! the server's RSS and CPU (from /proc), its open sockets, the p50/p99 of hall delivery
//! latency and of group command round trips *in that interval*, deliveries, gaps (utterance
//! numbers a listener skipped), errors and closes. After the run the hall drains and the
//! totals give the losses: every acknowledged utterance at every listener, and within each
//! group every member seeing the same floor grants.
//!
//! Everything is bounded: the counts come from flags, waits have timeouts, the run has its
//! duration and main's watchdog (`--max-secs`) ends the process whatever happens.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context as _};
use futures_util::StreamExt as _;
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use crate::api::Invite;
use crate::client::{self, Ws};
use crate::procstat::{self, Usage};
use crate::progress::Progress;
use crate::report::{new_hist, Report};
use crate::scenario::townhall::derive_usage;
use crate::scenario::{
    close_bucket, connect_and_join, invite_all, wait_connected, Ctx, Failures, COMMUNITIES,
};
use crate::target::{self, Incoming, Target};

#[derive(Debug, Clone, clap::Args)]
pub struct SoakArgs {
    /// Seconds of mixed load after everybody joined (the script's default is 30 minutes).
    #[arg(long, default_value_t = 1800)]
    pub duration: u64,
    /// Seconds between samples.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub sample_secs: u64,
    /// Listeners in the hall, split over two communities.
    #[arg(long, default_value_t = 1000)]
    pub listeners: u32,
    /// Utterances per second from the hall's speaker.
    #[arg(long, default_value_t = 2.0)]
    pub rate: f64,
    /// Bytes of utterance text (marker plus padding).
    #[arg(long, default_value_t = 200)]
    pub message_bytes: usize,
    /// Breakout groups (each one event).
    #[arg(long, default_value_t = 100)]
    pub groups: u32,
    /// Members per group: one facilitator, the rest take turns.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(2..=50))]
    pub group_size: u32,
    /// The hall's protocol: its first phase must be a facilitator presentation; with
    /// `on_timeout = "overtime"` it lasts the whole run (see `scripts/soak.sh`).
    #[arg(long, default_value = "soak-hall")]
    pub hall_protocol: String,
    /// The groups' go-round protocol (`loadtest protocol --name soak-go-round --phases N`,
    /// with enough phases to outlast the run).
    #[arg(long, default_value = "soak-go-round")]
    pub group_protocol: String,
    /// Spread the groups' `start` over this many milliseconds.
    #[arg(long, default_value_t = 3000)]
    pub start_spread_ms: u64,
    /// Seconds to wait after the last utterance for deliveries and acks.
    #[arg(long, default_value_t = 10)]
    pub drain: u64,
    /// Print the hall protocol file (`soak-hall.toml`) and exit.
    #[arg(long)]
    pub print_hall_protocol: bool,
}

/// The hall protocol the soak expects, for the script and the test to load on the server.
pub const HALL_PROTOCOL: &str = r#"# The soak's hall: one facilitator presentation that runs into overtime, so the speaker
# keeps the floor for the whole run. Not for real events.
name = "soak-hall"
title = "Soak hall"
description = "One long presentation for the soak load."

[defaults]
warn_before = "0s"

[[phase]]
id = "talk"
kind = "presentation"
title = "Talk"
prompt = "A long talk."
duration = "1m"
on_timeout = "overtime"
speaker = "facilitator"
"#;

/// Counters and per-interval histograms every task shares; the sampler swaps the histograms.
#[derive(Debug)]
struct Shared {
    delivery: Mutex<Histogram<u64>>,
    rtt: Mutex<Histogram<u64>>,
    delivery_all: Mutex<Histogram<u64>>,
    rtt_all: Mutex<Histogram<u64>>,
    hall_joined: AtomicU64,
    deliveries: AtomicU64,
    duplicates: AtomicU64,
    gaps: AtomicU64,
    group_events: AtomicU64,
    group_cmds: AtomicU64,
    group_acks: AtomicU64,
    errors: AtomicU64,
    closes: AtomicU64,
    failures: Failures,
}

impl Shared {
    fn new() -> Shared {
        Shared {
            delivery: Mutex::new(new_hist()),
            rtt: Mutex::new(new_hist()),
            delivery_all: Mutex::new(new_hist()),
            rtt_all: Mutex::new(new_hist()),
            hall_joined: AtomicU64::new(0),
            deliveries: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            gaps: AtomicU64::new(0),
            group_events: AtomicU64::new(0),
            group_cmds: AtomicU64::new(0),
            group_acks: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            closes: AtomicU64::new(0),
            failures: Failures::default(),
        }
    }

    fn error(&self, kind: String) {
        self.failures.add(kind);
        self.errors.fetch_add(1, Relaxed);
    }
}

fn record_batch(h: &Mutex<Histogram<u64>>, all: &Mutex<Histogram<u64>>, vals: &mut Vec<u64>) {
    {
        let mut h = h.lock().unwrap_or_else(|e| e.into_inner());
        for v in vals.iter() {
            h.saturating_record((*v).max(1));
        }
    }
    let mut a = all.lock().unwrap_or_else(|e| e.into_inner());
    for v in vals.drain(..) {
        a.saturating_record(v.max(1));
    }
}

fn take(h: &Mutex<Histogram<u64>>) -> Histogram<u64> {
    std::mem::replace(
        &mut *h.lock().unwrap_or_else(|e| e.into_inner()),
        new_hist(),
    )
}

/// One row of the time series.
#[derive(Debug, Clone)]
struct Sample {
    t_s: f64,
    rss_kib: u64,
    cpu_cores: f64,
    sockets: u64,
    deliveries: u64,
    delivery_p50_us: u64,
    delivery_p99_us: u64,
    group_events: u64,
    rtt_p50_us: u64,
    rtt_p99_us: u64,
    gaps: u64,
    errors: u64,
    closes: u64,
}

impl Sample {
    fn to_json(&self) -> Value {
        json!({
            "t_s": self.t_s, "rss_kib": self.rss_kib, "cpu_cores": self.cpu_cores,
            "sockets": self.sockets, "deliveries": self.deliveries,
            "delivery_p50_us": self.delivery_p50_us, "delivery_p99_us": self.delivery_p99_us,
            "group_events": self.group_events,
            "rtt_p50_us": self.rtt_p50_us, "rtt_p99_us": self.rtt_p99_us,
            "gaps": self.gaps, "errors": self.errors, "closes": self.closes,
        })
    }
}

const HEADER: &str = "    t_s    rss_MiB  cpu_cores  sockets  deliveries  hall_p50_ms  hall_p99_ms  group_events  cmd_p50_ms  cmd_p99_ms  gaps  errors  closes";

fn row(s: &Sample) -> String {
    let ms = |us: u64| us as f64 / 1000.0;
    format!(
        "{:>7.0} {:>10.1} {:>10.3} {:>8} {:>11} {:>12.2} {:>12.2} {:>13} {:>11.2} {:>11.2} {:>5} {:>7} {:>7}",
        s.t_s,
        s.rss_kib as f64 / 1024.0,
        s.cpu_cores,
        s.sockets,
        s.deliveries,
        ms(s.delivery_p50_us),
        ms(s.delivery_p99_us),
        s.group_events,
        ms(s.rtt_p50_us),
        ms(s.rtt_p99_us),
        s.gaps,
        s.errors,
        s.closes
    )
}

/// Open sockets of `pid` (its descriptors that are sockets), or 0 without /proc access.
fn open_sockets(pid: u32) -> u64 {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return 0;
    };
    dir.filter_map(Result::ok)
        .filter(|e| {
            std::fs::read_link(e.path()).is_ok_and(|l| l.to_string_lossy().starts_with("socket:"))
        })
        .count() as u64
}

pub async fn run(
    ctx: Arc<Ctx>,
    mut usage: Usage,
    args: SoakArgs,
    server_pid: Option<u32>,
) -> anyhow::Result<Report> {
    if args.print_hall_protocol {
        print!("{HALL_PROTOCOL}");
        let _ = std::io::stdout().flush();
        std::process::exit(0);
    }
    if ctx.target != Target::Commonground {
        bail!("soak needs --target commonground");
    }
    if !(args.rate > 0.0 && args.rate <= 1000.0) {
        bail!("--rate must be in (0, 1000]");
    }
    let n = args.listeners as usize;
    let mut api = ctx.api()?;
    let hall = api
        .create_event("soak hall", &args.hall_protocol, &COMMUNITIES)
        .await
        .with_context(|| {
            format!(
                "creating the hall with protocol `{}` (load it on the server; see scripts/soak.sh)",
                args.hall_protocol
            )
        })?;
    let speaker = api
        .invite(&hall, "facilitator", "Speaker", COMMUNITIES[0])
        .await?;
    let roles = vec!["participant"; n];
    let listeners = invite_all(&ctx, &hall, &roles, "Listener ").await?;
    let groups = create_groups(&ctx, &args).await?;
    usage.mark("baseline");

    let sh = Arc::new(Shared::new());
    Progress::add(&ctx.progress.wanted, 1);
    let sp = connect_and_join(&ctx, "", &speaker.token)
        .await
        .map_err(|e| anyhow::anyhow!("the speaker could not join: {e}"))?;
    Progress::add(&ctx.progress.joined, 1);
    let mut speaker_ws = sp.ws;
    take_floor(&mut speaker_ws, &sp.member).await?;

    let (go_tx, go_rx) = watch::channel(false);
    let (stop_tx, stop_rx) = watch::channel(false);
    let (stop_groups_tx, stop_groups_rx) = watch::channel(false);
    let size = args.group_size as usize;
    Progress::add(&ctx.progress.wanted, (n + groups.len() * size) as u64);
    let started = client::now();
    let mut listener_tasks = Vec::with_capacity(n);
    for inv in listeners {
        let (ctx, sh, stop) = (Arc::clone(&ctx), Arc::clone(&sh), stop_rx.clone());
        listener_tasks.push(tokio::spawn(listener(ctx, sh, inv.token, stop)));
    }
    let mut group_tasks = Vec::new();
    let group_count = groups.len() as u64;
    for (g, invites) in groups.into_iter().enumerate() {
        for (i, inv) in invites.into_iter().enumerate() {
            let (ctx, sh) = (Arc::clone(&ctx), Arc::clone(&sh));
            let (go, stop) = (go_rx.clone(), stop_groups_rx.clone());
            let delay = (i == 0).then(|| {
                Duration::from_micros(args.start_spread_ms * 1000 * g as u64 / group_count.max(1))
            });
            group_tasks.push(tokio::spawn(member(ctx, sh, g, inv.token, delay, go, stop)));
        }
    }
    let all_joined = wait_connected(&ctx, started).await;
    let connect_s = started.elapsed().as_secs_f64();
    usage.mark("connected");
    let joined = Progress::get(&ctx.progress.joined);
    if joined <= 1 {
        bail!("nobody could join; failures: {:?}", sh.failures.snapshot());
    }
    let hall_joined = sh.hall_joined.load(Relaxed);

    // The sampler: one row every `sample_secs` until stopped.
    let (sampler_stop_tx, sampler_stop_rx) = watch::channel(false);
    let sampler = tokio::spawn(sampler(
        Arc::clone(&sh),
        server_pid,
        Duration::from_secs(args.sample_secs),
        sampler_stop_rx,
    ));

    usage.mark("measure_start");
    let _ = go_tx.send(true);
    let t0 = client::now() + Duration::from_millis(20);
    let spoke = speak(&ctx, &sh, &mut speaker_ws, &args, t0).await?;
    let _ = stop_groups_tx.send(true);
    let mut per_group: BTreeMap<usize, Vec<Seen>> = BTreeMap::new();
    for t in group_tasks {
        if let Ok(Ok(Some((g, seen)))) = tokio::time::timeout(Duration::from_secs(5), t).await {
            per_group.entry(g).or_default().push(seen);
        }
    }
    // Drain the hall: every utterance not refused should reach every listener still there.
    let refused: u64 = spoke.refused.values().sum();
    let listeners_now = listener_tasks.iter().filter(|t| !t.is_finished()).count() as u64;
    let expected = spoke.sent.saturating_sub(refused) * listeners_now;
    let drain_until = client::now() + Duration::from_secs(args.drain);
    loop {
        let unique = sh.deliveries.load(Relaxed);
        if unique >= expected || client::now() >= drain_until {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let window_s = t0.elapsed().as_secs_f64();
    usage.mark("measure_end");
    let _ = sampler_stop_tx.send(true);
    let samples = sampler.await.unwrap_or_default();
    let sample_json: Vec<Value> = samples.iter().map(Sample::to_json).collect();
    println!("\n{}", markdown(&sample_json));
    let _ = stop_tx.send(true);
    for t in listener_tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }
    drop(speaker_ws);

    // Within a group every member must have seen every grant up to the point all of them
    // had reached (they stop reading at slightly different moments).
    let (mut grants_expected, mut grants_got) = (0u64, 0u64);
    for seen in per_group.values() {
        let cutoff = seen.iter().map(|s| s.last_seq).min().unwrap_or(0);
        let all: std::collections::BTreeSet<u64> = seen
            .iter()
            .flat_map(|s| s.grants.iter().copied())
            .filter(|q| *q <= cutoff)
            .collect();
        grants_expected += all.len() as u64 * seen.len() as u64;
        grants_got += seen
            .iter()
            .map(|s| s.grants.iter().filter(|q| **q <= cutoff).count() as u64)
            .sum::<u64>();
    }
    let received = sh.deliveries.load(Relaxed);
    let lock = |h: &Mutex<Histogram<u64>>| h.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut r = Report {
        scenario: "soak",
        target: ctx.target.name(),
        params: json!({
            "duration_s": args.duration, "sample_secs": args.sample_secs,
            "listeners": args.listeners, "rate_per_s": args.rate,
            "message_bytes": args.message_bytes, "groups": args.groups,
            "group_size": args.group_size, "hall_protocol": args.hall_protocol,
            "group_protocol": args.group_protocol,
        }),
        latencies: vec![
            ("hall_delivery", lock(&sh.delivery_all)),
            ("speaker_ack", spoke.ack_hist.clone()),
            ("group_command_rtt", lock(&sh.rtt_all)),
        ],
        figures: Vec::new(),
        usage,
        notes: Vec::new(),
    };
    r.figure("joined", joined);
    r.figure("join_failed", Progress::get(&ctx.progress.failed));
    r.figure(
        "all_joined_in_s",
        if all_joined {
            json!(connect_s)
        } else {
            json!(null)
        },
    );
    r.figure("hall_listeners_joined", hall_joined);
    r.figure("hall_listeners_at_end", listeners_now);
    r.figure("utterances_sent", spoke.sent);
    r.figure("utterances_acked", spoke.acked);
    r.figure("utterances_refused", refused);
    r.figure("deliveries_expected", expected);
    r.figure("deliveries_received", received);
    r.figure("hall_lost", expected.saturating_sub(received));
    r.figure("hall_gaps", sh.gaps.load(Relaxed));
    r.figure("hall_duplicates", sh.duplicates.load(Relaxed));
    r.figure("group_commands", sh.group_cmds.load(Relaxed));
    r.figure("group_acks", sh.group_acks.load(Relaxed));
    r.figure("group_events", sh.group_events.load(Relaxed));
    r.figure("floor_grants_expected", grants_expected);
    r.figure("floor_grants_received", grants_got);
    r.figure("groups_lost", grants_expected.saturating_sub(grants_got));
    r.figure(
        "lost",
        expected.saturating_sub(received) + grants_expected.saturating_sub(grants_got),
    );
    r.figure("errors", sh.errors.load(Relaxed));
    r.figure("closes", sh.closes.load(Relaxed));
    r.figure("failures", json!(sh.failures.snapshot()));
    r.figure("refusals", json!(spoke.refused));
    r.figure("window_s", window_s);
    if let (Some(second), Some(last)) = (samples.get(1), samples.last()) {
        if second.rss_kib > 0 {
            r.figure(
                "rss_last_over_second",
                last.rss_kib as f64 / second.rss_kib as f64,
            );
        }
    }
    r.figure("samples", Value::Array(sample_json));
    derive_usage(&mut r, joined, received, window_s);
    if !all_joined {
        r.notes.push(format!(
            "not every connection joined within {:?}; the run went on with {joined}",
            ctx.connect_deadline
        ));
    }
    if grants_expected > 0 && sh.group_events.load(Relaxed) == 0 {
        r.notes
            .push("no group event was seen: is the group protocol loaded?".into());
    }
    Ok(r)
}

/// Samples the server and the counters every `every` until told to stop; prints each row.
async fn sampler(
    sh: Arc<Shared>,
    pid: Option<u32>,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) -> Vec<Sample> {
    let start = client::now();
    let mut out = Vec::new();
    let mut tick = tokio::time::interval_at(start + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let proc_sample = |pid: Option<u32>| pid.and_then(|p| procstat::sample(&p.to_string()).ok());
    let mut last_cpu = proc_sample(pid).map_or(0.0, |s| s.cpu_s);
    let mut last_t = start;
    let (mut last_del, mut last_ev, mut last_gaps, mut last_err, mut last_close) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    println!("{HEADER}");
    loop {
        let last_round = tokio::select! {
            _ = tick.tick() => false,
            _ = stop.changed() => true,
        };
        let now = client::now();
        let p = proc_sample(pid);
        let cpu = p.map_or(0.0, |s| s.cpu_s);
        let dt = now.duration_since(last_t).as_secs_f64().max(1e-3);
        let d = take(&sh.delivery);
        let r = take(&sh.rtt);
        let (del, ev, gaps, err, close) = (
            sh.deliveries.load(Relaxed),
            sh.group_events.load(Relaxed),
            sh.gaps.load(Relaxed),
            sh.errors.load(Relaxed),
            sh.closes.load(Relaxed),
        );
        let s = Sample {
            t_s: now.duration_since(start).as_secs_f64(),
            rss_kib: p.map_or(0, |s| s.rss_kib),
            cpu_cores: (cpu - last_cpu) / dt,
            sockets: pid.map_or(0, open_sockets),
            deliveries: del - last_del,
            delivery_p50_us: d.value_at_quantile(0.5),
            delivery_p99_us: d.value_at_quantile(0.99),
            group_events: ev - last_ev,
            rtt_p50_us: r.value_at_quantile(0.5),
            rtt_p99_us: r.value_at_quantile(0.99),
            gaps: gaps - last_gaps,
            errors: err - last_err,
            closes: close - last_close,
        };
        (last_cpu, last_t) = (cpu, now);
        (last_del, last_ev, last_gaps, last_err, last_close) = (del, ev, gaps, err, close);
        println!("{}", row(&s));
        let _ = std::io::stdout().flush();
        out.push(s);
        if last_round {
            return out;
        }
    }
}

/// The markdown table of a run's samples (for `docs/soak.md`).
pub fn markdown(samples: &[Value]) -> String {
    let mut s = String::from(
        "| t (s) | RSS (MiB) | CPU (cores) | sockets | deliveries | hall p50 / p99 (ms) | group events | cmd p50 / p99 (ms) | gaps | errors | closes |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for v in samples {
        let g = |k: &str| v.get(k).and_then(Value::as_f64).unwrap_or(0.0);
        let _ = writeln!(
            s,
            "| {:.0} | {:.1} | {:.3} | {} | {} | {:.1} / {:.1} | {} | {:.1} / {:.1} | {} | {} | {} |",
            g("t_s"),
            g("rss_kib") / 1024.0,
            g("cpu_cores"),
            g("sockets"),
            g("deliveries"),
            g("delivery_p50_us") / 1000.0,
            g("delivery_p99_us") / 1000.0,
            g("group_events"),
            g("rtt_p50_us") / 1000.0,
            g("rtt_p99_us") / 1000.0,
            g("gaps"),
            g("errors"),
            g("closes"),
        );
    }
    s
}

/// Creates the group events and their invites: per group a facilitator and participants.
async fn create_groups(ctx: &Ctx, args: &SoakArgs) -> anyhow::Result<Vec<Vec<Invite>>> {
    const LANES: u32 = 4;
    let mut lanes = Vec::new();
    for lane in 0..LANES {
        let mut api = ctx.api()?;
        let (groups, size, protocol) = (args.groups, args.group_size, args.group_protocol.clone());
        lanes.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for g in (lane..groups).step_by(LANES as usize) {
                let event = api
                    .create_event(&format!("soak group {g}"), &protocol, &COMMUNITIES)
                    .await
                    .with_context(|| format!("creating group {g} with protocol `{protocol}` (load it with `loadtest protocol --name {protocol}` and the server's --protocols)"))?;
                let mut invites = Vec::new();
                for i in 0..size {
                    let role = if i == 0 { "facilitator" } else { "participant" };
                    let name = format!("Group {g} member {i}");
                    invites.push(
                        api.invite(&event, role, &name, COMMUNITIES[i as usize % 2])
                            .await?,
                    );
                }
                out.push((g, invites));
            }
            anyhow::Ok(out)
        }));
    }
    let mut all = Vec::new();
    for l in lanes {
        all.extend(l.await??);
    }
    all.sort_by_key(|(g, _)| *g);
    Ok(all.into_iter().map(|(_, i)| i).collect())
}

/// The facilitator starts the hall and waits for its presentation floor.
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
                bail!("`start` was refused: {code}");
            }
        }
        bail!("the connection closed before the speaker got the floor")
    };
    tokio::time::timeout(Duration::from_secs(10), granted)
        .await
        .context("the speaker was not granted the floor within 10 s (is the hall protocol's first phase a facilitator presentation?)")?
}

#[derive(Debug)]
struct Spoke {
    sent: u64,
    acked: u64,
    refused: BTreeMap<String, u64>,
    ack_hist: Histogram<u64>,
}

/// Speaks at `rate` for `duration` seconds on a fixed schedule, then waits for the acks.
async fn speak(
    ctx: &Ctx,
    sh: &Shared,
    ws: &mut Ws,
    args: &SoakArgs,
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
                client::send_text(ws, target::publish_frame(Target::Commonground, "", &text, seq + 1)).await?;
                pending.insert(seq + 1, intended);
                out.sent += 1;
                Progress::add(&ctx.progress.sent, 1);
            }
            m = ws.next() => {
                let Some(m) = m else { bail!("the speaker's connection closed") };
                let Message::Text(t) = m? else { continue };
                match target::decode(Target::Commonground, &t, false) {
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
                        *out.refused.entry(code.clone()).or_default() += 1;
                        sh.error(format!("speaker error:{code}"));
                    }
                    _ => {}
                }
            }
            _ = tokio::time::sleep_until(ack_deadline) => break,
        }
    }
    Ok(out)
}

async fn listener(ctx: Arc<Ctx>, sh: Arc<Shared>, token: String, mut stop: watch::Receiver<bool>) {
    let p = &ctx.progress;
    let mut ws = match connect_and_join(&ctx, "", &token).await {
        Ok(j) => j.ws,
        Err(e) => {
            sh.failures.add(e);
            Progress::add(&p.failed, 1);
            return;
        }
    };
    Progress::add(&p.joined, 1);
    sh.hall_joined.fetch_add(1, Relaxed);
    let mut last: Option<u64> = None;
    let mut batch: Vec<u64> = Vec::with_capacity(64);
    loop {
        let msg = tokio::select! {
            biased;
            _ = stop.changed() => break,
            m = ws.next() => m,
        };
        match msg {
            Some(Ok(Message::Text(t))) => match target::decode(Target::Commonground, &t, false) {
                Incoming::Said { seq, intended_us } => {
                    let lat = client::us_since_origin(client::now()).saturating_sub(intended_us);
                    Progress::add(&p.received, 1);
                    match last {
                        Some(l) if seq <= l => {
                            sh.duplicates.fetch_add(1, Relaxed);
                            continue;
                        }
                        Some(l) if seq > l + 1 => {
                            sh.gaps.fetch_add(seq - l - 1, Relaxed);
                        }
                        None if seq > 0 => {
                            sh.gaps.fetch_add(seq, Relaxed);
                        }
                        _ => {}
                    }
                    last = Some(seq);
                    sh.deliveries.fetch_add(1, Relaxed);
                    batch.push(lat);
                    if batch.len() == batch.capacity() {
                        record_batch(&sh.delivery, &sh.delivery_all, &mut batch);
                    }
                }
                Incoming::Error { code, .. } => sh.error(format!("listener error:{code}")),
                _ => {}
            },
            Some(Ok(Message::Close(c))) => {
                sh.error(format!("listener {}", close_bucket(c.as_ref())));
                sh.closes.fetch_add(1, Relaxed);
                break;
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => {
                sh.error("listener disconnected".into());
                sh.closes.fetch_add(1, Relaxed);
                break;
            }
        }
        // Keep the interval histograms current even at low rates.
        if !batch.is_empty() && last.is_some_and(|l| l % 4 == 0) {
            record_batch(&sh.delivery, &sh.delivery_all, &mut batch);
        }
    }
    record_batch(&sh.delivery, &sh.delivery_all, &mut batch);
}

/// What a group member saw: the sequence numbers of the floor grants, and the last event's.
#[derive(Debug, Default)]
struct Seen {
    grants: Vec<u64>,
    last_seq: u64,
}

/// A group member: the facilitator starts the group; whoever is granted the floor says one
/// thing. Returns (group, what it saw).
async fn member(
    ctx: Arc<Ctx>,
    sh: Arc<Shared>,
    group: usize,
    token: String,
    facilitator: Option<Duration>,
    mut go: watch::Receiver<bool>,
    mut stop: watch::Receiver<bool>,
) -> Option<(usize, Seen)> {
    let p = &ctx.progress;
    let j = match connect_and_join(&ctx, "", &token).await {
        Ok(j) => j,
        Err(e) => {
            sh.failures.add(e);
            Progress::add(&p.failed, 1);
            return None;
        }
    };
    Progress::add(&p.joined, 1);
    let (mut ws, me) = (j.ws, j.member);
    let mut pending: HashMap<u64, tokio::time::Instant> = HashMap::new();
    let mut next_id = 1u64;
    let mut seen = Seen::default();
    let mut started = false;
    loop {
        let msg = tokio::select! {
            biased;
            _ = stop.changed() => break,
            _ = go.changed(), if facilitator.is_some() && !started => {
                started = true;
                tokio::time::sleep(facilitator.unwrap_or_default()).await;
                let id = next_id;
                next_id += 1;
                pending.insert(id, client::now());
                if client::send_text(&mut ws, target::command_frame("start", id)).await.is_err() {
                    break;
                }
                continue;
            }
            m = ws.next() => m,
        };
        let text = match msg {
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(Message::Close(c))) => {
                sh.error(format!("group {}", close_bucket(c.as_ref())));
                sh.closes.fetch_add(1, Relaxed);
                break;
            }
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => {
                sh.error("group disconnected".into());
                sh.closes.fetch_add(1, Relaxed);
                break;
            }
        };
        match target::decode(Target::Commonground, &text, true) {
            Incoming::Event(v) => {
                Progress::add(&p.received, 1);
                sh.group_events.fetch_add(1, Relaxed);
                let seq = v.get("seq").and_then(Value::as_u64).unwrap_or(0);
                seen.last_seq = seen.last_seq.max(seq);
                let ev = v.get("event");
                let kind = ev.and_then(|e| e.get("type")).and_then(Value::as_str);
                if kind != Some("floor_granted") {
                    continue;
                }
                seen.grants.push(seq);
                let mine = ev.and_then(|e| e.get("member")).and_then(Value::as_str) == Some(&me);
                if !mine {
                    continue;
                }
                let id = next_id;
                next_id += 1;
                pending.insert(id, client::now());
                let cmd = json!({"type": "speak", "id": id, "text": "my turn"}).to_string();
                if client::send_text(&mut ws, cmd).await.is_err() {
                    break;
                }
                sh.group_cmds.fetch_add(1, Relaxed);
                Progress::add(&p.sent, 1);
            }
            Incoming::Ack { id } => {
                if let Some(t) = pending.remove(&id) {
                    sh.group_acks.fetch_add(1, Relaxed);
                    let us = u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX);
                    record_batch(&sh.rtt, &sh.rtt_all, &mut vec![us]);
                }
            }
            Incoming::Error { id, code } => {
                if let Some(id) = id {
                    pending.remove(&id);
                }
                sh.error(format!("group error:{code}"));
            }
            _ => {}
        }
    }
    Some((group, seen))
}
