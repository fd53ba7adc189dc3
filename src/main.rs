//! The `commonground` binary: parses the command line and hands over to `cli`.
//!
//! Until the server exists, running it without a subcommand describes the demo protocol
//! (`joint-town-hall`), which is the README's first command.

mod cli;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = cli::Args::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
