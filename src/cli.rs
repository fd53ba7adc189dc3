//! Command-line interface: `commonground [serve]`, `protocols check|list|show` and `rehearse`.
//!
//! With no subcommand the binary serves (with the demo event on, unless told otherwise): that
//! is the README's first command. Server flags also work without the word `serve`.
//!
//! Parsing is clap derive; each subcommand is one function that prints its result and
//! returns the exit code. Diagnostics go to stderr, one `path:line:column: message` per line,
//! so editors and CI can jump to them.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use commonground::config::{Config, ServeArgs};
use commonground::protocol::describe::{describe, summary_line, DEFAULT_PLANNING_SIZE};
use commonground::protocol::load::{self, Diagnostic, Library, LoadError};
use commonground::protocol::Protocol;
use commonground::server::Server;

/// `EX_USAGE`: the configuration is invalid.
pub const EXIT_BAD_CONFIG: u8 = 64;
/// Bound on `--participants`, which keeps planned totals far from overflow.
const MAX_PARTICIPANTS: u64 = 10_000;

#[derive(Debug, Parser)]
#[command(
    name = "commonground",
    version,
    about = "Real-time facilitation server for civil-discourse town halls",
    args_conflicts_with_subcommands = true
)]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<Cmd>,
    /// Server settings when no subcommand is given (the same as `serve`).
    #[command(flatten)]
    pub serve: ServeArgs,
}

// Parsed once at start and never moved around, so the size of `ServeArgs` costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Run the server (the default). Every flag can also come from a COMMONGROUND_* variable
    /// or the --config TOML file; flags win over the environment, which wins over the file.
    Serve(ServeArgs),
    /// Work with protocol files (protocols/*.toml).
    #[command(subcommand)]
    Protocols(ProtocolsCmd),
    /// Simulate sessions of a protocol with synthetic participants: length and fairness.
    Rehearse(RehearseArgs),
}

#[derive(Debug, clap::Args)]
pub struct RehearseArgs {
    /// Protocol name (from the protocols directory) or a path to a .toml file.
    protocol: String,
    /// More protocols to run on the same crowd, side by side.
    #[arg(long, num_args = 1..)]
    compare: Vec<String>,
    /// Crowd size, split evenly over two communities [default: the protocol's largest group, or 8].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=500))]
    participants: Option<u64>,
    /// Communities and their sizes, for example "Dayton, OH:4,Boulder, CO:5".
    #[arg(long)]
    communities: Option<String>,
    /// How many talkative members (raise a hand at every chance, use the full turn).
    #[arg(long, default_value_t = 0)]
    talkative: usize,
    /// How many quiet members (rarely raise a hand, short turns, sometimes pass).
    #[arg(long, default_value_t = 0)]
    quiet: usize,
    /// Simulated sessions per protocol.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
    runs: u32,
    /// Seed of the first run; run i uses seed + i.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// A TOML file of behaviour models that override or extend the defaults.
    #[arg(long)]
    models: Option<PathBuf>,
    /// Also write an HTML report with charts to this file.
    #[arg(long)]
    html: Option<PathBuf>,
    /// Print the summaries as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Directory of protocol files [default: the repository's protocols/].
    #[arg(long, env = "COMMONGROUND_PROTOCOLS")]
    dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ProtocolsCmd {
    /// Validate protocol files; a directory is checked as one library.
    Check {
        /// Files or directories of *.toml files.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// One line per protocol in the directory.
    List {
        /// Directory of protocol files [default: the repository's protocols/].
        #[arg(long, env = "COMMONGROUND_PROTOCOLS")]
        dir: Option<PathBuf>,
    },
    /// Describe a protocol phase by phase, with its planned length.
    Show {
        name: String,
        /// Directory of protocol files [default: the repository's protocols/].
        #[arg(long, env = "COMMONGROUND_PROTOCOLS")]
        dir: Option<PathBuf>,
        /// Group size for the planned total [default: the protocol's largest group, or 8].
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=MAX_PARTICIPANTS))]
        participants: Option<u64>,
    },
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        None => serve(args.serve),
        Some(Cmd::Serve(serve_args)) => serve(serve_args),
        Some(Cmd::Protocols(ProtocolsCmd::Check { paths })) => Ok(check(&paths)),
        Some(Cmd::Protocols(ProtocolsCmd::List { dir })) => list(dir),
        Some(Cmd::Protocols(ProtocolsCmd::Show {
            name,
            dir,
            participants,
        })) => show(&name, dir, participants),
        Some(Cmd::Rehearse(args)) => rehearse(args),
    }
}

/// A protocol by name from the library, or from a file path.
fn protocol_arg(lib: &Library, name: &str) -> anyhow::Result<std::sync::Arc<Protocol>> {
    if name.ends_with(".toml") {
        let p = load::load_file(Path::new(name)).map_err(|e| anyhow::anyhow!("{e}"))?;
        return Ok(std::sync::Arc::new(p));
    }
    lib.get(name).ok_or_else(|| {
        anyhow::anyhow!(
            "no protocol named {name:?}; known: {}",
            lib.names().join(", ")
        )
    })
}

fn rehearse(args: RehearseArgs) -> anyhow::Result<ExitCode> {
    use commonground::rehearse::{crowd::Models, report, Request};
    let lib = library(args.dir)?;
    let mut protocols = vec![protocol_arg(&lib, &args.protocol)?];
    for name in &args.compare {
        protocols.push(protocol_arg(&lib, name)?);
    }
    let models = match &args.models {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Models::with_overrides(&text)?
        }
        None => Models::default(),
    };
    let request = Request {
        participants: args.participants.map(|n| n as usize),
        communities: args.communities,
        talkative: args.talkative,
        quiet: args.quiet,
        runs: args.runs,
        seed: args.seed,
    };
    let summaries = request.run(&protocols, &models)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summaries)?);
    } else if summaries.len() == 1 {
        print!("{}", report::text(&summaries[0]));
    } else {
        for s in &summaries {
            println!("{}", report::text(s));
        }
        print!("{}", report::compare(&summaries));
    }
    if let Some(path) = &args.html {
        std::fs::write(path, report::html(&summaries))
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Checks every path; prints `ok:` lines on stdout when all are valid, else every
/// diagnostic on stderr.
fn check(paths: &[PathBuf]) -> ExitCode {
    let mut oks = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    for path in paths {
        if path.is_dir() {
            match Library::load_dir(path) {
                Ok(lib) if lib.is_empty() => {
                    problems.push(format!("{}: no *.toml protocol files here", path.display()));
                }
                Ok(lib) => {
                    for (name, p) in lib.iter() {
                        let file = lib.path(name).unwrap_or(path);
                        oks.push(ok_line(file, p));
                    }
                }
                Err(e) => problems.extend(error_lines(e)),
            }
        } else {
            match load::load_file(path) {
                Ok(p) => oks.push(ok_line(path, &p)),
                Err(e) => problems.extend(error_lines(e)),
            }
        }
    }
    if problems.is_empty() {
        for line in oks {
            println!("{line}");
        }
        ExitCode::SUCCESS
    } else {
        for line in problems {
            eprintln!("{line}");
        }
        ExitCode::FAILURE
    }
}

fn ok_line(path: &Path, p: &Protocol) -> String {
    let n = p.phases.len();
    format!(
        "ok: {} ({n} {})",
        path.display(),
        if n == 1 { "phase" } else { "phases" }
    )
}

fn error_lines(e: LoadError) -> Vec<String> {
    match e {
        LoadError::Invalid(diags) => diags.iter().map(Diagnostic::to_string).collect(),
        io @ LoadError::Io { .. } => vec![io.to_string()],
    }
}

fn library(dir: Option<PathBuf>) -> anyhow::Result<Library> {
    let dir = dir.unwrap_or_else(load::default_dir);
    Library::load_dir(&dir).with_context(|| format!("loading protocols from {}", dir.display()))
}

fn list(dir: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let lib = library(dir)?;
    for (_, p) in lib.iter() {
        println!("{}", summary_line(p));
    }
    Ok(ExitCode::SUCCESS)
}

fn show(name: &str, dir: Option<PathBuf>, participants: Option<u64>) -> anyhow::Result<ExitCode> {
    let lib = library(dir)?;
    let Some(p) = lib.get(name) else {
        eprintln!(
            "error: no protocol named `{name}`; known protocols: {}",
            lib.names().join(", ")
        );
        return Ok(ExitCode::FAILURE);
    };
    let n = participants
        .or_else(|| p.group_size.map(|g| u64::from(g.max)))
        .unwrap_or(DEFAULT_PLANNING_SIZE)
        .min(MAX_PARTICIPANTS);
    print!("{}", describe(&p, n));
    Ok(ExitCode::SUCCESS)
}

/// Resolves the configuration (exit 64 when it is invalid), binds, prints the links and
/// serves until SIGINT or SIGTERM.
fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let mut config = match Config::resolve(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(EXIT_BAD_CONFIG));
        }
    };
    // The data dir and the journal before binding: a bad one stops here, with the reason.
    let journal = match commonground::server::open_journal(&mut config) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(EXIT_BAD_CONFIG));
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let bind = config.bind;
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .with_context(|| format!("cannot listen on {bind}"))?;
        let key = config
            .organizer_key_generated
            .then(|| config.organizer_key.clone());
        let server = Server::start_with(listener, config, journal).await?;
        let state = server.state().clone();
        println!("Commonground is listening on {}", state.base_url);
        // Voice: where browsers send audio (the answer's candidate), or that it is off.
        match &state.media {
            Some(m) => println!("Audio (embedded SFU, UDP): {}", m.local_addr()),
            None => println!("Audio: off (--media off); text only"),
        }
        if let Some(key) = key {
            println!("Organizer API key (generated for this run): {key}");
        }
        if let Some(demo) = server.demo() {
            println!("\nDemo event: {} ({})", demo.event.title, demo.event.id);
            println!(
                "WebSocket endpoint: {}  (send {{\"type\":\"hello\",\"token\":\"...\"}})",
                state.ws_url
            );
            for inv in &demo.invites {
                let who = match &inv.community {
                    Some(c) => format!("{} ({}, {c})", inv.name, inv.role),
                    None => format!("{} ({})", inv.name, inv.role),
                };
                println!("  {who}:\n    {}", inv.url);
            }
            println!();
        }
        server.run(shutdown_signal()).await?;
        Ok(ExitCode::SUCCESS)
    })
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
