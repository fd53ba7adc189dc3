//! The log audit, on the real binary at the most verbose level: tokens, the organizer key,
//! speech, notes, questions and display names never reach the logs, and the logs go to
//! standard error, with standard output keeping only the start-up lines SECURITY.md lists.
//!
//! A session does everything that carries a secret or a resident's words (invites, hellos,
//! wrong keys, `speak`, `note`, `ask`, a report with a reason, a bad frame quoting a secret),
//! then the process stops and both streams are searched.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::json;

use common::cluster_node::{unique, Node, ORG_KEY};
use common::WAIT;

/// Strings that must appear nowhere in the logs.
const SPEECH: &str = "Speech-7c1e-the-bridge-toll";
const NOTE: &str = "Note-91ab-what-I-heard";
const QUESTION: &str = "Question-55d2-about-zoning";
const REASON: &str = "Reason-0f3e-for-the-report";
const NAME: &str = "Resident-Name-3b9d";

fn protocols() -> PathBuf {
    let dir = std::env::temp_dir().join(unique("logs-protocols"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("log-audit.toml"),
        r#"name = "log-audit"
title = "Open floor, then questions"
description = "Speech, notes and questions, for the log audit."

[[phase]]
id = "open"
kind = "queue"
title = "Open floor"
prompt = "What matters to you?"
ordering = "fifo"
turn = "10m"

[[phase]]
id = "notes"
kind = "reflection"
title = "Reflection"
prompt = "One thing you heard."
duration = "10m"
notes = "shared_anonymous"

[[phase]]
id = "qa"
kind = "qa"
title = "Questions"
prompt = "Ask the panel."
answer_turn = "10m"
"#,
    )
    .unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_and_speech_never_reach_the_logs_and_logs_go_to_stderr() {
    let dir = std::env::temp_dir().join(unique("logs"));
    std::fs::create_dir_all(&dir).unwrap();
    let (out_path, err_path) = (dir.join("stdout.txt"), dir.join("stderr.txt"));
    let child = Command::new(env!("CARGO_BIN_EXE_commonground"))
        .args(["serve", "--bind", "127.0.0.1:0", "--demo", "false"])
        .args(["--organizer-key", ORG_KEY, "--shutdown-grace", "2s"])
        .args(["--command-rate", "1000", "--command-burst", "1000"])
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--protocols")
        .arg(protocols())
        .env_remove("COMMONGROUND_CONFIG")
        .env("RUST_LOG", "trace")
        .stdout(Stdio::from(std::fs::File::create(&out_path).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(&err_path).unwrap()))
        .spawn()
        .expect("the commonground binary starts");
    // The address from standard output (bounded: 400 looks 50 ms apart).
    let mut addr = None;
    for _ in 0..400 {
        let text = std::fs::read_to_string(&out_path).unwrap_or_default();
        addr = text.lines().find_map(|l| {
            l.strip_prefix("Commonground is listening on http://")
                .and_then(|a| a.trim().parse::<std::net::SocketAddr>().ok())
        });
        if addr.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let addr = addr.expect("the server prints its address");
    let mut node = Node { child, addr };

    let event = node.create_event("log-audit").await;
    let tf = node.invite(&event, "facilitator", "Fay", None).await;
    let ta = node
        .invite(&event, "participant", NAME, Some("Dayton, OH"))
        .await;

    // A wrong organizer key and a forged token: refusals are logged, their secrets are not.
    let wrong_key = "wrong-key-0123456789abcdefXYZ";
    let raw = format!(
        "GET /api/events HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: Bearer {wrong_key}\r\n\r\n"
    );
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(raw.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(WAIT, s.read_to_end(&mut buf)).await;
    }
    let forged = format!("{}x", &ta[..ta.len() - 1]);
    let mut bad = node.connect().await;
    bad.send(json!({"type": "hello", "token": forged})).await;
    let _ = bad.closed().await;

    let mut f = node.join(&tf).await;
    let mut a = node.join(&ta).await;
    f.ok(json!({"type": "start"})).await;
    a.ok(json!({"type": "raise_hand"})).await;
    a.event("floor_granted").await;
    a.ok(json!({"type": "speak", "text": SPEECH})).await;
    let said = a.event("said").await;
    let message = said["event"]["message"].as_u64().unwrap();
    // A bad frame that quotes a secret: the error names the problem, the log not the text.
    a.send(json!({"type": "speak", "text": SPEECH, "bogus": ORG_KEY}))
        .await;
    a.recv_until(|v| v["type"] == "error").await;
    f.ok(json!({"type": "report", "message": message, "reason": REASON}))
        .await;
    a.ok(json!({"type": "yield_floor"})).await;
    f.ok(json!({"type": "next_phase"})).await;
    a.event("phase_started").await;
    a.ok(json!({"type": "note", "text": NOTE})).await;
    f.ok(json!({"type": "next_phase"})).await;
    a.recv_until(|v| v["event"]["type"] == "phase_started" && v["event"]["id"] == "qa")
        .await;
    a.ok(json!({"type": "ask", "text": QUESTION})).await;
    f.close().await;
    a.close().await;

    // A clean stop, so every buffered log line is written.
    node.terminate();

    let stdout = std::fs::read_to_string(&out_path).unwrap();
    let stderr = std::fs::read_to_string(&err_path).unwrap();
    assert!(
        stderr.lines().count() > 20,
        "trace logging was on, so stderr has the logs: {stderr}"
    );
    for (what, secret) in [
        ("an invite token", tf.as_str()),
        ("an invite token", ta.as_str()),
        ("a forged token", forged.as_str()),
        ("the organizer key", ORG_KEY),
        ("a wrong organizer key", wrong_key),
        ("speech", SPEECH),
        ("a note", NOTE),
        ("a question", QUESTION),
        ("a report's reason", REASON),
        ("a display name", NAME),
    ] {
        assert!(!stderr.contains(secret), "{what} in the logs:\n{stderr}");
        assert!(!stdout.contains(secret), "{what} on stdout:\n{stdout}");
    }
    // Standard output keeps only the start-up lines; log records are never there.
    for level in [" TRACE ", " DEBUG ", " INFO ", " WARN ", " ERROR "] {
        assert!(!stdout.contains(level), "a log record on stdout:\n{stdout}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
