//! The `commonground` binary: sets up logging, parses the command line and hands over to
//! `cli`. Running it with no subcommand starts the server with the demo event (the README's
//! first command).

mod cli;

use clap::Parser;

/// Libraries that log whole frames, SDP or request heads at `debug`/`trace`: those carry
/// invite tokens, speech and ICE credentials, so they are capped at `info` whatever
/// `RUST_LOG` asks (SECURITY.md, "Logs"; `tests/logs.rs`).
const PAYLOAD_LOGGERS: [&str; 5] = [
    "tungstenite",
    "tokio_tungstenite",
    "hyper",
    "hyper_util",
    "str0m",
];

fn main() -> std::process::ExitCode {
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    for target in PAYLOAD_LOGGERS {
        if let Ok(d) = format!("{target}=info").parse() {
            filter = filter.add_directive(d);
        }
    }
    // Logs go to standard error; standard output carries only what the operator must read
    // (the listen address, a generated organizer key, the demo links), so it can be piped.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let args = cli::Args::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
