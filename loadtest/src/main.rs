//! Load generator for Commonground, the bare tokio-tungstenite limit and Socket.IO.
//!
//! Layout:
//! - `target`: the three servers and their frames (the only place that knows the wire).
//! - `api`: the Commonground HTTP calls that create events and invites.
//! - `client`: opening WebSockets (bounded concurrency, loopback source addresses) and the
//!   clock.
//! - `scenario/*`: `townhall`, `breakouts`, `join-storm`, `cluster` (the townhall over several
//!   nodes), `soak`.
//! - `report`, `procstat`, `progress`: histograms, tables, JSON, SVG; /proc sampling; the
//!   progress line.
//!
//! Every run is bounded: counts come from flags, each phase has its own timeout, and a
//! watchdog thread ends the process at `--max-secs` whatever else happens.

mod api;
mod client;
mod procstat;
mod progress;
mod report;
mod scenario;
mod target;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::client::Connector;
use crate::procstat::Usage;
use crate::scenario::Ctx;
use crate::target::Target;

#[derive(Debug, Parser)]
#[command(
    name = "loadtest",
    about = "Drive real WebSocket clients against Commonground, the bare limit or Socket.IO"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, clap::Args)]
struct Common {
    /// Which server speaks on --url.
    #[arg(long, global = true, value_enum, default_value_t = Target::Commonground)]
    target: Target,
    /// Base URL of the server (loopback only) [default: per target, 127.0.0.1:8080 / 9001 / 3000].
    #[arg(long, global = true)]
    url: Option<String>,
    /// The server's pid, to report its CPU seconds and RSS from /proc.
    #[arg(long, global = true)]
    server_pid: Option<u32>,
    /// Organizer key for Commonground's API.
    #[arg(
        long,
        global = true,
        env = "COMMONGROUND_ORGANIZER_KEY",
        hide_env_values = true
    )]
    organizer_key: Option<String>,
    /// Directory for the JSON and SVG of each run.
    #[arg(long, global = true, default_value = "loadtest/results")]
    out: PathBuf,
    /// Loopback source addresses to spread client sockets over (127.0.0.1 ..= 127.0.0.N).
    #[arg(long, global = true, default_value_t = 8, value_parser = clap::value_parser!(u8).range(1..=250))]
    source_addrs: u8,
    /// Connection handshakes in flight at once.
    #[arg(long, global = true, default_value_t = 256)]
    connect_concurrency: usize,
    /// Seconds one connection may take to connect, and again to join.
    #[arg(long, global = true, default_value_t = 10)]
    join_timeout: u64,
    /// Seconds the whole connect phase may take.
    #[arg(long, global = true, default_value_t = 120)]
    connect_deadline: u64,
    /// Generator threads (1 = a current-thread runtime, best when pinned to one core).
    #[arg(long, global = true, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    threads: u16,
    /// Hard limit on the whole run in seconds: the process exits (code 3) when it is reached.
    #[arg(long, global = true, default_value_t = 600)]
    max_secs: u64,
    /// No progress line.
    #[arg(long, global = true)]
    quiet: bool,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// One hall, N listeners, one speaker at a fixed rate: delivery latency.
    Townhall(scenario::townhall::TownhallArgs),
    /// Many small rooms running go-rounds with short timers: lateness of turn changes.
    Breakouts(scenario::breakouts::BreakoutsArgs),
    /// N clients joining within a window: success, time to all joined, refusals.
    JoinStorm(scenario::join_storm::JoinStormArgs),
    /// A town hall and breakout groups at once for a long time, sampled every few seconds:
    /// memory, connections, latency over time (`scripts/soak.sh`).
    Soak(scenario::soak::SoakArgs),
    /// Townhall with listeners spread over several nodes sharing the hall over Redis, and the
    /// speaker on the first: per-node CPU and memory, deliveries per CPU-second of them all.
    Cluster(scenario::cluster::ClusterArgs),
    /// Print the short go-round protocol the breakouts scenario needs (load it with the
    /// server's `--protocols DIR`).
    Protocol(scenario::breakouts::ProtocolArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("loadtest: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let c = cli.common;
    match &cli.cmd {
        Cmd::Protocol(a) => {
            print!("{}", scenario::breakouts::protocol_toml(a));
            return Ok(ExitCode::SUCCESS);
        }
        Cmd::Breakouts(_) if c.target != Target::Commonground => {
            eprintln!(
                "loadtest breakouts: only --target commonground has server-side turn timers; \
                 the bare and Socket.IO peers have nothing to measure here"
            );
            return Ok(ExitCode::from(2));
        }
        _ => {}
    }
    // A cluster run's API calls and speaker go to its first node.
    let first_node = match &cli.cmd {
        Cmd::Cluster(a) => a.urls.first().cloned(),
        _ => None,
    };
    let url = c
        .url
        .clone()
        .or(first_node)
        .unwrap_or_else(|| c.target.default_url().to_owned());
    let addr = target::loopback_addr(&url)?;
    raise_nofile();
    client::init_clock();
    let max_secs = c.max_secs;
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(max_secs));
        eprintln!("\nloadtest: hard deadline of {max_secs} s reached; exiting");
        std::process::exit(3);
    });
    let rt = if c.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(usize::from(c.threads))
            .enable_all()
            .build()?
    };
    rt.block_on(async move {
        let usage = Usage::new(c.server_pid)?;
        let ctx = Arc::new(Ctx {
            target: c.target,
            addr,
            organizer_key: c.organizer_key.clone(),
            connector: Connector::new(
                addr,
                c.target.ws_path(),
                c.source_addrs,
                c.connect_concurrency,
                Duration::from_secs(c.join_timeout),
            ),
            progress: Arc::default(),
            join_timeout: Duration::from_secs(c.join_timeout),
            connect_deadline: Duration::from_secs(c.connect_deadline),
        });
        let label = format!("{} {}", scenario_name(&cli.cmd), c.target.name());
        let bar = progress::spawn(label, Arc::clone(&ctx.progress), c.quiet);
        let res = match cli.cmd {
            Cmd::Townhall(a) => scenario::townhall::run(Arc::clone(&ctx), usage, a).await,
            Cmd::Breakouts(a) => scenario::breakouts::run(Arc::clone(&ctx), usage, a).await,
            Cmd::JoinStorm(a) => scenario::join_storm::run(Arc::clone(&ctx), usage, a).await,
            Cmd::Soak(a) => scenario::soak::run(Arc::clone(&ctx), usage, a, c.server_pid).await,
            Cmd::Cluster(a) => scenario::cluster::run(Arc::clone(&ctx), a).await,
            Cmd::Protocol(_) => unreachable!("handled before the runtime"),
        };
        progress::finish(bar);
        let report = res?;
        print!("{}", report.table());
        let stamp = client::unix_now_us() / 1_000_000;
        let path = report
            .write(&c.out, stamp)
            .with_context(|| format!("writing results to {}", c.out.display()))?;
        println!("results: {}", path.display());
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

fn scenario_name(cmd: &Cmd) -> &'static str {
    match cmd {
        Cmd::Townhall(_) => "townhall",
        Cmd::Breakouts(_) => "breakouts",
        Cmd::JoinStorm(_) => "join-storm",
        Cmd::Soak(_) => "soak",
        Cmd::Cluster(_) => "cluster",
        Cmd::Protocol(_) => "protocol",
    }
}

/// Thousands of sockets need more than the usual 1024 descriptors: raise the soft limit to
/// the hard one.
fn raise_nofile() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) if n < 20_000 => {
            eprintln!("loadtest: note: the open-file limit is {n}; large runs may fail to connect");
        }
        Ok(_) => {}
        Err(e) => eprintln!("loadtest: note: could not raise the open-file limit: {e}"),
    }
}
