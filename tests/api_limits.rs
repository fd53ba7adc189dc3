//! Issue #20, "Also": the organizer key and the other server-wide bounds, over real sockets
//! (and the real binary for what happens at start).
//!
//! - wrong organizer keys are rate-limited per client address, and the right key is never
//!   refused because of them;
//! - a key given at start must be at least 128 bits, and may come from a file or the
//!   environment instead of the command line;
//! - the Origin allow-list defaults to the configured public URL (or the bound address),
//!   never the request's own Host (DNS rebinding);
//! - a client frame with a repeated JSON key is refused;
//! - the events per server are capped and `GET /api/events` is paginated.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream as StdTcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

fn wrong(key: &str) -> String {
    format!("Bearer {key}")
}

async fn get_events(server: &TestServer, auth: &str) -> HttpResponse {
    server
        .http("GET", "/api/events", None, &[("Authorization", auth)])
        .await
}

#[tokio::test]
async fn wrong_organizer_keys_are_rate_limited_per_address_and_the_right_key_always_works() {
    let mut c = test_config();
    c.key_failures_per_minute = 3;
    let server = start_server(c).await;
    let right = format!("Bearer {ORG_KEY}");
    // Within the quota a wrong key is an ordinary 401.
    for i in 0..3 {
        let res = get_events(&server, &wrong(&format!("guess-{i}"))).await;
        assert_eq!(res.status, 401, "guess {i}: {}", res.body);
    }
    // Beyond it, wrong keys are 429 without telling a guess apart...
    for i in 3..8 {
        let res = get_events(&server, &wrong(&format!("guess-{i}"))).await;
        assert_eq!(res.status, 429, "guess {i}: {}", res.body);
        assert_eq!(res.json()["error"]["code"], "rate_limited", "{}", res.body);
    }
    // ... on every organizer endpoint, the rehearsal preview that needs the key too ...
    let res = server
        .http(
            "POST",
            "/api/events",
            Some("{}"),
            &[
                ("Authorization", "Bearer nope"),
                ("Content-Type", "application/json"),
            ],
        )
        .await;
    assert_eq!(res.status, 429, "{}", res.body);
    let res = server
        .http(
            "GET",
            "/api/protocols/test-hall/rehearse?participants=100&runs=30",
            None,
            &[("Authorization", "Bearer nope")],
        )
        .await;
    assert_eq!(res.status, 429, "{}", res.body);
    // ... but the organizer on the same address (the venue's Wi-Fi) still gets in at once,
    // and a request without any key is not a guess: it is told to send one.
    let res = get_events(&server, &right).await;
    assert_eq!(res.status, 200, "{}", res.body);
    let event = server.create_event("test-open").await;
    let _ = server.invite(&event, "observer", "Olive", None).await;
    let res = server.http("GET", "/api/events", None, &[]).await;
    assert_eq!(res.status, 401, "{}", res.body);
    let res = get_events(&server, "Bearer still-guessing").await;
    assert_eq!(res.status, 429, "{}", res.body);
    assert!(
        server
            .metric("commonground_organizer_key_failures_total")
            .await
            >= 10.0
    );
    assert!(
        server
            .metric("commonground_organizer_key_rate_limited_total")
            .await
            >= 7.0
    );
    server.stop().await.unwrap();
}

/// Runs the binary until it exits (bounded): its exit code and standard error.
fn run_to_exit(cmd: &mut Command) -> (Option<i32>, String) {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the server");
    // Bounded by a number of polls (WAIT in 20 ms steps), not by reading a clock.
    let polls = WAIT.as_millis() / 20;
    for _ in 0..polls {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return (status.code(), err);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the server started instead of refusing its configuration: {cmd:?}");
}

fn serve() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_commonground"));
    cmd.args(["serve", "--bind", "127.0.0.1:0", "--demo", "false"])
        .args(["--ephemeral", "--media", "off"])
        .env_remove("COMMONGROUND_CONFIG")
        .env_remove("COMMONGROUND_ORGANIZER_KEY")
        .env_remove("COMMONGROUND_ORGANIZER_KEY_FILE");
    cmd
}

/// A running binary and the address it listens on.
struct Running {
    child: Child,
    addr: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(cmd: &mut Command) -> Running {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting the server");
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { return };
            if let Some(rest) = line.split("listening on http://").nth(1) {
                let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_string());
            }
        }
    });
    let addr = rx
        .recv_timeout(WAIT)
        .expect("the server says where it listens");
    Running { child, addr }
}

/// `GET /api/events` with `Authorization: Bearer <key>`: the status.
fn list_status(addr: &str, key: &str) -> u16 {
    let mut s = StdTcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    write!(
        s,
        "GET /api/events HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Authorization: Bearer {key}\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn an_organizer_key_under_128_bits_stops_the_server_at_start() {
    for key in [
        "eight-chars-key",             // 15 characters: fine before, too short now
        "abcdefghij0123456789X",       // 21
        "abcdefghij 0123456789XYZ",    // a space
        "abcdefghij0123456789XYZ+/==", // standard base64 padding and signs
    ] {
        let (code, err) = run_to_exit(serve().args(["--organizer-key", key]));
        assert_eq!(code, Some(64), "{key:?}: {err}");
        assert!(err.contains("organizer_key"), "{key:?}: {err}");
        assert!(err.contains("at least 22 characters"), "{key:?}: {err}");
        assert!(!err.contains(key), "the key is not echoed: {err}");
    }
    // The same rule for a key from the environment.
    let (code, err) = run_to_exit(serve().env("COMMONGROUND_ORGANIZER_KEY", "short-env-key-12345"));
    assert_eq!(code, Some(64), "{err}");
}

#[test]
fn the_organizer_key_can_come_from_a_file_or_the_environment() {
    let dir = std::env::temp_dir().join(format!(
        "cg-keyfile-{}-{}",
        std::process::id(),
        commonground::config::random_hex(4)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let key = commonground::config::random_hex(16);
    let file = dir.join("organizer.key");
    std::fs::write(&file, format!("{key}\n")).unwrap();
    let path = file.to_str().unwrap();

    let server = start(serve().args(["--organizer-key-file", path]));
    assert_eq!(list_status(&server.addr, &key), 200);
    assert_eq!(list_status(&server.addr, &format!("{key}x")), 401);
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", server.child.id())).unwrap();
    assert!(
        !String::from_utf8_lossy(&cmdline).contains(&key),
        "the key is not in ps"
    );
    drop(server);

    let env_key = commonground::config::random_hex(16);
    let server = start(serve().env("COMMONGROUND_ORGANIZER_KEY", &env_key));
    assert_eq!(list_status(&server.addr, &env_key), 200);
    drop(server);

    // A file with a short key, a missing file, or both a key and a file: refused at start.
    std::fs::write(&file, "too-short\n").unwrap();
    let (code, err) = run_to_exit(serve().args(["--organizer-key-file", path]));
    assert_eq!(code, Some(64), "{err}");
    assert!(err.contains("organizer_key"), "{err}");
    let missing = dir.join("missing.key");
    let (code, err) =
        run_to_exit(serve().args(["--organizer-key-file", missing.to_str().unwrap()]));
    assert_eq!(code, Some(64), "{err}");
    assert!(err.contains("organizer_key_file"), "{err}");
    std::fs::write(&file, format!("{key}\n")).unwrap();
    let (code, err) = run_to_exit(
        serve()
            .args(["--organizer-key-file", path])
            .args(["--organizer-key", &key]),
    );
    assert_eq!(code, Some(64), "{err}");
    assert!(err.contains("not both"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

/// A WebSocket upgrade written by hand with the given `Host` and `Origin`: the status and
/// the error code of a refusal.
async fn upgrade(server: &TestServer, host: &str, origin: &str) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let req = format!(
        "GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Origin: {origin}\r\n\r\n"
    );
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(WAIT, stream.read(&mut chunk))
            .await
            .expect("a response in time")
            .unwrap();
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            assert!(n > 0, "closed before a response");
            continue;
        };
        let status: u16 = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        if status == 101 {
            return (status, Value::Null);
        }
        if let Ok(v) = serde_json::from_str::<Value>(body) {
            return (status, v["error"]["code"].clone());
        }
        assert!(n > 0, "closed before the whole body: {text}");
    }
}

#[tokio::test]
async fn the_origin_allow_list_does_not_trust_the_requests_host() {
    // DNS rebinding: evil.example resolves to this server, so the page's requests carry
    // `Host: evil.example` and `Origin: http://evil.example`. Same host, and still refused.
    let server = start_server(test_config()).await;
    let port = server.addr.port();
    for (host, origin) in [
        (
            "evil.example".to_string(),
            "http://evil.example".to_string(),
        ),
        (
            format!("evil.example:{port}"),
            format!("http://evil.example:{port}"),
        ),
    ] {
        let (status, code) = upgrade(&server, &host, &origin).await;
        assert_eq!((status, code), (403, json!("forbidden_origin")), "{origin}");
    }
    // Loopback development keeps working: the bound address's origins, whatever Host says.
    for origin in [
        format!("http://127.0.0.1:{port}"),
        format!("http://localhost:{port}"),
    ] {
        let (status, _) = upgrade(&server, "evil.example", &origin).await;
        assert_eq!(status, 101, "{origin}");
    }
    server.stop().await.unwrap();

    // With a public URL, its origin is the default allow-list, and nothing else.
    let mut c = test_config();
    c.public_url = Some("https://town.example/halls/".into());
    let server = start_server(c).await;
    let port = server.addr.port();
    let (status, _) = upgrade(&server, "town.example", "https://town.example").await;
    assert_eq!(status, 101);
    for origin in [
        "http://town.example".to_string(),
        "https://evil.example".to_string(),
        format!("http://127.0.0.1:{port}"),
    ] {
        let (status, code) = upgrade(&server, "town.example", &origin).await;
        assert_eq!((status, code), (403, json!("forbidden_origin")), "{origin}");
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_frame_with_a_repeated_key_is_refused() {
    let server = start_server(test_config()).await;
    let event = server.create_event("test-open").await;
    let t = server.invite(&event, "facilitator", "Fay", None).await;
    let mut fay = server.join(&t).await;
    // Read by the last key this would end the session; read by the first it is a ping.
    for frame in [
        r#"{"type":"ping","type":"end"}"#,
        r#"{"type":"end","id":"a","id":"b"}"#,
        r#"{"type":"broadcast","text":"hi","text":"bye"}"#,
    ] {
        fay.send_raw(Message::Text(frame.into())).await;
        let err = fay.recv_until(|m| m["type"] == "error").await;
        assert_eq!(err["code"], "invalid", "{frame}: {err}");
        let message = err["message"].as_str().unwrap();
        assert!(message.contains("appears twice"), "{frame}: {err}");
    }
    // Nothing happened, and the connection is still usable.
    fay.send(json!({"type": "ping", "id": 1})).await;
    let pong = fay.recv_until(|m| m["type"] == "pong").await;
    assert_eq!(pong["id"], 1);
    let res = server
        .http("GET", &format!("/api/events/{event}"), None, &[])
        .await;
    assert_eq!(res.json()["session"], "not_started", "{}", res.body);
    server.stop().await.unwrap();
}

async fn create(server: &TestServer, title: &str) -> HttpResponse {
    server
        .org(
            "POST",
            "/api/events",
            Some(json!({"title": title, "protocol": "test-open",
                "communities": ["Dayton, OH", "Boulder, CO"]})),
        )
        .await
}

#[tokio::test]
async fn events_per_server_are_capped() {
    let mut c = test_config();
    c.max_events = 3;
    let server = start_server(c).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let res = create(&server, &format!("E{i}")).await;
        assert_eq!(res.status, 201, "{}", res.body);
        ids.push(res.json()["id"].as_str().unwrap().to_string());
    }
    let res = create(&server, "one too many").await;
    assert_eq!(res.status, 409, "{}", res.body);
    assert_eq!(res.json()["error"]["code"], "too_many_events");
    // Deleting an event makes room again.
    let res = server
        .org("DELETE", &format!("/api/events/{}", ids[0]), None)
        .await;
    assert_eq!(res.status, 204, "{}", res.body);
    let res = create(&server, "room again").await;
    assert_eq!(res.status, 201, "{}", res.body);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn the_event_list_comes_in_pages() {
    let server = start_server(test_config()).await;
    let mut created = Vec::new();
    for i in 0..105 {
        let res = create(&server, &format!("E{i}")).await;
        assert_eq!(res.status, 201, "{}", res.body);
        created.push(res.json()["id"].as_str().unwrap().to_string());
    }
    // The default page is 100, oldest first, with a cursor to the rest.
    let first = server.org("GET", "/api/events", None).await.json();
    assert_eq!(first["events"].as_array().unwrap().len(), 100, "{first}");
    let next = first["next"].as_str().expect("a next cursor").to_string();
    let rest = server
        .org("GET", &format!("/api/events?after={next}"), None)
        .await
        .json();
    assert_eq!(rest["events"].as_array().unwrap().len(), 5, "{rest}");
    assert_eq!(rest["next"], Value::Null);
    // Small pages walk the same list, each event once.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(a) => format!("/api/events?limit=40&after={a}"),
            None => "/api/events?limit=40".to_string(),
        };
        let page = server.org("GET", &path, None).await.json();
        for e in page["events"].as_array().unwrap() {
            seen.push(e["id"].as_str().unwrap().to_string());
        }
        match page["next"].as_str() {
            Some(n) => after = Some(n.to_string()),
            None => break,
        }
    }
    let mut want = created.clone();
    want.sort();
    let mut got = seen.clone();
    got.sort();
    assert_eq!(got, want);
    assert_eq!(seen.len(), 105);
    // The most a page holds is 500; bad parameters are 400 invalid.
    let page = server
        .org("GET", "/api/events?limit=500", None)
        .await
        .json();
    assert_eq!(page["events"].as_array().unwrap().len(), 105);
    for q in [
        "limit=0",
        "limit=501",
        "limit=x",
        "after=nonsense",
        "colour=red",
    ] {
        let res = server.org("GET", &format!("/api/events?{q}"), None).await;
        assert_eq!(res.status, 400, "{q}: {}", res.body);
        assert_eq!(res.json()["error"]["code"], "invalid", "{q}");
    }
    server.stop().await.unwrap();
}
