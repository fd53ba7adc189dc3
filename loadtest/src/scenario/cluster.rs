//! `cluster`: the townhall with its listeners spread over several Commonground nodes sharing
//! the hall over Redis, and the speaker on the first node.
//!
//! The question it answers is what a second node costs: every utterance goes from the owner
//! (the node the speaker joined first, which takes the hall) through Redis to each node, and
//! each node fans it out to its own listeners. So the run reports the CPU and memory of every
//! node (and of Redis, given its pid) and deliveries per CPU-second of all of them together,
//! the figure that compares with a single node's `deliveries_per_server_cpu_s`.

use std::sync::Arc;

use anyhow::{bail, Context as _};
use serde_json::json;

use crate::client::Connector;
use crate::procstat::Usage;
use crate::report::Report;
use crate::scenario::townhall::{self, TownhallArgs};
use crate::scenario::Ctx;
use crate::target::{self, Target};

#[derive(Debug, Clone, clap::Args)]
pub struct ClusterArgs {
    #[command(flatten)]
    pub townhall: TownhallArgs,
    /// The nodes' base URLs, comma-separated (loopback only). The speaker, the event and its
    /// invites use the first; listener i connects to node i mod N.
    #[arg(long, value_delimiter = ',', required = true)]
    pub urls: Vec<String>,
    /// The nodes' pids, comma-separated, in the order of --urls: CPU and RSS per node.
    #[arg(long, value_delimiter = ',')]
    pub pids: Vec<u32>,
    /// Redis's pid: its CPU counts among the cores the cluster used.
    #[arg(long)]
    pub redis_pid: Option<u32>,
}

pub async fn run(ctx: Arc<Ctx>, args: ClusterArgs) -> anyhow::Result<Report> {
    if ctx.target != Target::Commonground {
        bail!("the cluster scenario runs Commonground nodes; use townhall for the peers");
    }
    if !args.pids.is_empty() && args.pids.len() != args.urls.len() {
        bail!("--pids must name one pid per --urls entry");
    }
    let mut nodes = Vec::with_capacity(args.urls.len());
    for url in &args.urls {
        let addr = target::loopback_addr(url)?;
        nodes.push(Connector::new(
            addr,
            ctx.target.ws_path(),
            ctx.connector.source_count(),
            ctx.connector.concurrency(),
            ctx.join_timeout,
        ));
    }
    let mut procs: Vec<(String, u32)> = args
        .pids
        .iter()
        .enumerate()
        .map(|(i, p)| (format!("node{}", i + 1), *p))
        .collect();
    if let Some(p) = args.redis_pid {
        procs.push(("redis".into(), p));
    }
    let usage = Usage::of(&procs).context("sampling the nodes (are --pids right?)")?;
    let n_nodes = nodes.len() as u64;
    let listeners = u64::from(args.townhall.listeners);
    let mut r = townhall::run_on("cluster", ctx, usage, args.townhall, nodes).await?;
    r.params["nodes"] = json!(args.urls);
    r.figure("nodes", n_nodes);
    per_process(&mut r, listeners, n_nodes);
    Ok(r)
}

/// CPU, cores busy and memory of each process over the measured window (`node1_cpu_s`,
/// `redis_cores_busy`, ...); RSS per connection for the nodes (listener i is on node i mod N);
/// deliveries per CPU-second of the nodes alone (`deliveries_per_server_cpu_s` counts Redis
/// too when its pid was given).
fn per_process(r: &mut Report, listeners: u64, n_nodes: u64) {
    let window_s = r
        .figures
        .iter()
        .find(|(n, _)| n == "window_s")
        .and_then(|(_, v)| v.as_f64())
        .unwrap_or(0.0);
    let base = r.usage.get_each("baseline");
    let conn = r.usage.get_each("connected");
    let s0 = r.usage.get_each("measure_start");
    let s1 = r.usage.get_each("measure_end");
    if base.is_empty() || s1.len() != base.len() {
        return;
    }
    let mut nodes_cpu = 0.0;
    for (i, (label, b)) in base.iter().enumerate() {
        let cpu = s1[i].1.cpu_s - s0[i].1.cpu_s;
        r.figure(&format!("{label}_cpu_s"), cpu);
        if window_s > 0.0 {
            r.figure(&format!("{label}_cores_busy"), cpu / window_s);
        }
        r.figure(&format!("{label}_rss_connected_kib"), conn[i].1.rss_kib);
        if label.starts_with("node") && (i as u64) < n_nodes {
            nodes_cpu += cpu;
            let here = listeners / n_nodes + u64::from((i as u64) < listeners % n_nodes);
            r.figure(&format!("{label}_listeners"), here);
            if here > 0 {
                let per = (conn[i].1.rss_kib as f64 - b.rss_kib as f64) / here as f64;
                r.figure(&format!("{label}_rss_per_conn_kib"), per);
            }
        }
    }
    let delivered = r
        .figures
        .iter()
        .find(|(n, _)| n == "deliveries_received")
        .and_then(|(_, v)| v.as_u64())
        .unwrap_or(0);
    if nodes_cpu > 0.0 {
        // Without Redis: what the Commonground processes themselves spent.
        r.figure("deliveries_per_node_cpu_s", delivered as f64 / nodes_cpu);
    }
}
