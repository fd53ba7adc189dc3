//! Smoke run of the loadtest, so the tool never rots: tiny scenarios against real servers.
//!
//! The loadtest is its own workspace package, so this test builds its binaries with the same
//! cargo and profile, starts a server on port 0 (the bare peer, then `commonground serve`),
//! runs `townhall` with a handful of listeners for two seconds, and checks the run's JSON: it
//! completed, lost nothing, and has a non-empty latency histogram. No assertion depends on how
//! fast anything is. The cluster test runs the same townhall over two `commonground serve
//! --redis` nodes on the shared Redis (127.0.0.1:6379, a key prefix of its own), listeners on
//! both. Another test feeds the breakouts scenario's generated protocol to the real protocol
//! loader.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

/// Where cargo put this test binary's siblings: target/<profile>.
fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/loadtest_smoke-<hash>
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>")
        .to_path_buf()
}

/// Builds the loadtest package's binaries once per test process.
fn loadtest_bins() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "--quiet", "-p", "loadtest", "--bins"]);
        if !cfg!(debug_assertions) {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("running cargo build -p loadtest");
        assert!(status.success(), "cargo build -p loadtest failed");
        bin_dir()
    })
}

/// A child process killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a server that prints `listening on ADDR` (anywhere in a line) on stdout or stderr.
fn start(mut cmd: Command) -> Server {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting the server");
    let out = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(out).lines();
    let addr = loop {
        let Some(Ok(line)) = lines.next() else {
            let _ = child.kill();
            panic!("the server exited before saying where it listens");
        };
        if let Some(rest) = line.split("listening on ").nth(1) {
            let word = rest.split_whitespace().next().unwrap_or("");
            let word = word.trim_start_matches("http://").trim_end_matches('/');
            if let Ok(a) = word.parse() {
                break a;
            }
        }
    };
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Server { child, addr }
}

/// Runs the loadtest and returns the JSON of its one run.
fn loadtest(args: &[&str], server: &Server, name: &str) -> Value {
    let out = std::env::temp_dir().join(format!(
        "commonground-loadtest-smoke-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&out);
    let run = Command::new(loadtest_bins().join("loadtest"))
        .args(args)
        .args(["--server-pid", &server.child.id().to_string()])
        .args(["--out", out.to_str().expect("utf-8 temp dir")])
        .args(["--quiet", "--max-secs", "120", "--source-addrs", "2"])
        .output()
        .expect("running the loadtest");
    assert!(
        run.status.success(),
        "the loadtest run failed: {}\n{}\n{}",
        run.status,
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let json = std::fs::read_dir(&out)
        .expect("results dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "json"))
        .expect("a JSON result file");
    assert!(
        json.with_extension("svg").exists(),
        "an SVG chart next to the JSON"
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let _ = std::fs::remove_dir_all(&out);
    v
}

fn check_townhall(v: &Value, listeners: u64) {
    let f = &v["figures"];
    assert_eq!(f["listeners_joined"], listeners, "{v:#}");
    assert_eq!(f["lost"], 0, "{v:#}");
    assert_eq!(f["deliveries_received"], f["deliveries_expected"], "{v:#}");
    assert!(f["deliveries_expected"].as_u64().unwrap() > 0, "{v:#}");
    assert!(
        v["latency"]["delivery"]["count"].as_u64().unwrap() > 0,
        "{v:#}"
    );
    assert!(f["server_rss_connected_kib"].as_u64().unwrap() > 0, "{v:#}");
}

#[test]
fn townhall_against_the_bare_peer() {
    let mut cmd = Command::new(loadtest_bins().join("bare_broadcast"));
    cmd.args(["--bind", "127.0.0.1:0"]);
    let server = start(cmd);
    let url = format!("ws://{}", server.addr);
    let v = loadtest(
        &[
            "townhall",
            "--target",
            "bare",
            "--url",
            &url,
            "--listeners",
            "20",
            "--rate",
            "10",
            "--duration",
            "2",
            "--warmup",
            "0",
        ],
        &server,
        "bare",
    );
    check_townhall(&v, 20);
}

#[test]
fn townhall_against_commonground() {
    // The repository's protocols: the hall runs `joint-town-hall`, whose first phase is the
    // facilitator's presentation (the speaker).
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("protocols");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_commonground"));
    cmd.args([
        "serve",
        "--bind",
        "127.0.0.1:0",
        "--demo",
        "false",
        "--ephemeral",
    ])
    .args(["--organizer-key", "smoke-test-organizer-key"])
    .args(["--protocols", repo.to_str().expect("utf-8 path")])
    .env_remove("COMMONGROUND_CONFIG");
    let server = start(cmd);
    let url = format!("http://{}", server.addr);
    let v = loadtest(
        &[
            "townhall",
            "--target",
            "commonground",
            "--url",
            &url,
            "--organizer-key",
            "smoke-test-organizer-key",
            "--listeners",
            "20",
            "--rate",
            "10",
            "--duration",
            "2",
            "--warmup",
            "0",
        ],
        &server,
        "commonground",
    );
    check_townhall(&v, 20);
}

/// A Redis key prefix no other run uses (the shared Redis holds every test's keys).
fn unique_prefix(test: &str) -> String {
    let nanos = std::time::SystemTime::UNIX_EPOCH
        .elapsed()
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("cgtest-{test}-{}-{nanos}", std::process::id())
}

#[test]
fn cluster_of_two_nodes_over_redis() {
    // Two nodes on the shared Redis under a prefix of their own, sharing the token secret so
    // an invite minted on node 1 joins on node 2.
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("protocols");
    let prefix = unique_prefix("loadtest-cluster");
    let node = |id: &str| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_commonground"));
        cmd.args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--demo",
            "false",
            "--ephemeral",
        ])
        .args(["--organizer-key", "smoke-test-organizer-key"])
        .args(["--token-secret", "smoke-test-token-secret-0123456789"])
        .args([
            "--redis",
            "redis://127.0.0.1:6379",
            "--redis-prefix",
            &prefix,
        ])
        .args(["--node-id", id])
        .args(["--protocols", repo.to_str().expect("utf-8 path")])
        .env_remove("COMMONGROUND_CONFIG");
        start(cmd)
    };
    let (a, b) = (node("smoke-a"), node("smoke-b"));
    let urls = format!("http://{},http://{}", a.addr, b.addr);
    let pids = format!("{},{}", a.child.id(), b.child.id());
    let v = loadtest(
        &[
            "cluster",
            "--urls",
            &urls,
            "--pids",
            &pids,
            "--organizer-key",
            "smoke-test-organizer-key",
            "--listeners",
            "20",
            "--rate",
            "10",
            "--duration",
            "2",
            "--warmup",
            "0",
        ],
        &a,
        "cluster",
    );
    check_townhall(&v, 20);
    let f = &v["figures"];
    assert_eq!(v["scenario"], "cluster", "{v:#}");
    assert_eq!(f["nodes"], 2, "{v:#}");
    // Half the listeners were on the node that does not own the hall: every utterance crossed
    // Redis to reach them, and none was lost (checked above).
    assert_eq!(f["node2_listeners"], 10, "{v:#}");
    assert!(f["node2_rss_connected_kib"].as_u64().unwrap() > 0, "{v:#}");
}

#[test]
fn the_breakouts_protocol_passes_the_real_loader() {
    let out = Command::new(loadtest_bins().join("loadtest"))
        .args(["protocol", "--turn-ms", "1500", "--phases", "3"])
        .output()
        .expect("running loadtest protocol");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf-8 TOML");
    let p = commonground::protocol::load::parse(Path::new("loadtest-go-round.toml"), &text)
        .unwrap_or_else(|d| panic!("the generated protocol is refused: {d:?}\n{text}"));
    assert_eq!(p.name, "loadtest-go-round");
    assert_eq!(p.phases.len(), 3);
}
