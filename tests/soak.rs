//! The soak, bounded for the suite: the `loadtest soak` scenario (a town hall and breakout
//! groups at once) for 60 seconds at a modest load against the real binary, sampled every
//! 10 seconds. It must lose nothing, see no error and no unexpected close, and the server's
//! memory must not keep growing between the second sample and the last.
//!
//! The memory bound is a ratio, not a timing: RSS at the last sample may be at most
//! `RSS_GROWTH_LIMIT` times RSS at the second (the first is still warming up: joins, buffers,
//! allocator arenas). What is expected to grow is the rooms' full event logs, kept for the
//! transcript and the report: at this load about 800 events a minute of a few hundred bytes,
//! well under 1 MiB on a server of about 12 MiB, i.e. a few percent. A leak of one retained
//! frame (~300 bytes) per delivery would add ~3 MiB over the 50 s between the samples (100
//! listeners × 2 utterances/s), about 25 %, which the bound catches. `scripts/soak.sh` runs
//! the same scenario for 30 minutes (`docs/soak.md`).

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// RSS at the last sample over RSS at the second (see the file comment).
const RSS_GROWTH_LIMIT: f64 = 1.25;
const KEY: &str = "soak-test-organizer-key";

/// Where cargo put this test binary's siblings: target/<profile>.
fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>")
        .to_path_buf()
}

/// Builds the loadtest package's binaries with the same cargo and profile.
fn loadtest_bin() -> PathBuf {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(["build", "--quiet", "-p", "loadtest", "--bins"]);
    if !cfg!(debug_assertions) {
        cmd.arg("--release");
    }
    let status = cmd.status().expect("running cargo build -p loadtest");
    assert!(status.success(), "cargo build -p loadtest failed");
    bin_dir().join("loadtest")
}

/// The server process, killed when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(protocols: &Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_commonground"))
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--demo",
            "false",
            "--ephemeral",
        ])
        .args(["--organizer-key", KEY])
        .args(["--protocols", protocols.to_str().expect("utf-8 path")])
        .args(["--connect-rate", "100000", "--connect-burst", "100000"])
        .env_remove("COMMONGROUND_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting the server");
    let out = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(out).lines();
    let url = loop {
        let Some(Ok(line)) = lines.next() else {
            let _ = child.kill();
            panic!("the server exited before saying where it listens");
        };
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.split_whitespace().next().unwrap_or("").to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Server { child, url }
}

fn output(cmd: &mut Command) -> String {
    let out = cmd.output().expect("running the loadtest");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

#[test]
fn sixty_second_soak_loses_nothing_and_memory_levels_off() {
    let loadtest = loadtest_bin();
    let dir = std::env::temp_dir().join(format!(
        "commonground-soak-{}-{}",
        std::process::id(),
        commonground::config::random_hex(4)
    ));
    let protocols = dir.join("protocols");
    std::fs::create_dir_all(&protocols).unwrap();
    // Turns of 3 s, 4 speakers a group: 5 rounds a minute; 10 phases outlast the run.
    let go_round = output(Command::new(&loadtest).args([
        "protocol",
        "--name",
        "soak-go-round",
        "--turn-ms",
        "3000",
        "--phases",
        "10",
    ]));
    std::fs::write(protocols.join("soak-go-round.toml"), go_round).unwrap();
    let hall = output(Command::new(&loadtest).args(["soak", "--print-hall-protocol"]));
    std::fs::write(protocols.join("soak-hall.toml"), hall).unwrap();

    let server = start_server(&protocols);
    let results = dir.join("results");
    output(
        Command::new(&loadtest)
            .args(["soak", "--url", &server.url, "--organizer-key", KEY])
            .args(["--server-pid", &server.child.id().to_string()])
            .args(["--out", results.to_str().expect("utf-8 dir")])
            .args(["--quiet", "--max-secs", "300", "--source-addrs", "2"])
            .args(["--duration", "60", "--sample-secs", "10"])
            .args(["--listeners", "100", "--rate", "2"])
            .args(["--groups", "10", "--group-size", "5"]),
    );
    let json = std::fs::read_dir(&results)
        .expect("results dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "json"))
        .expect("a JSON result file");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let f = &v["figures"];
    assert_eq!(f["joined"], 1 + 100 + 10 * 5, "{v:#}");
    assert_eq!(f["join_failed"], 0, "{v:#}");
    assert_eq!(f["lost"], 0, "{v:#}");
    assert_eq!(f["hall_gaps"], 0, "{v:#}");
    assert_eq!(f["errors"], 0, "{v:#}");
    assert_eq!(f["closes"], 0, "{v:#}");
    assert_eq!(f["utterances_acked"], f["utterances_sent"], "{v:#}");
    assert!(f["deliveries_received"].as_u64().unwrap() > 0, "{v:#}");
    assert!(f["floor_grants_received"].as_u64().unwrap() > 0, "{v:#}");
    let samples = f["samples"].as_array().expect("samples");
    assert!(samples.len() >= 5, "a sample every 10 s: {v:#}");
    for s in samples {
        assert!(s["rss_kib"].as_u64().unwrap() > 0, "{s}");
        assert!(s["sockets"].as_u64().unwrap() > 0, "{s}");
    }
    let ratio = f["rss_last_over_second"].as_f64().expect("an RSS ratio");
    assert!(
        ratio <= RSS_GROWTH_LIMIT,
        "RSS grew {ratio:.2}x between the second and the last sample: {samples:#?}"
    );
}
