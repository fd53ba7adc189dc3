//! Nobody gets in where they do not belong: a table of every way in, over real sockets, each
//! with the exact stable code it must get.
//!
//! `tests/gateway.rs` covers a few bad tokens and one foreign origin, and `tests/roles.rs`
//! checks every command against `Role::may`; this file is the matrix: forged, tampered,
//! expired, other-event and malformed tokens, wrong roles, the organizer key on every
//! organizer endpoint, and the Origin allow-list, with refusals changing nothing.

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use common::*;
use commonground::config::Config;
use commonground::engine::member::{MemberId, Role};
use commonground::time::Millis;
use commonground::token::{Claims, TokenKey, MAX_TOKEN_BYTES};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

const SECRET: &[u8] = b"test-token-secret-0123456789";

/// The test config, with failed hellos from 127.0.0.1 allowed often enough that a table of
/// bad tokens does not get the address blocked halfway (that block has its own test).
fn config() -> Config {
    let mut c = test_config();
    c.hello_failures_per_minute = 10_000;
    c
}

fn claims(event: &str, role: Role, exp: u64) -> Claims {
    Claims {
        v: 1,
        event: event.into(),
        member: MemberId::new("m-matrix"),
        name: "Mallory".into(),
        role,
        community: Some("Dayton, OH".into()),
        exp: Millis(exp),
    }
}

/// Signs arbitrary bytes as a token body with the server's real secret: a token whose
/// signature is right but whose content is not valid claims.
fn sign_raw(body: &[u8]) -> String {
    let body = URL_SAFE_NO_PAD.encode(body);
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET).unwrap();
    mac.update(body.as_bytes());
    let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{body}.{sig}")
}

/// Says `hello` on a fresh socket and returns the error code and the close.
async fn refused_hello(server: &TestServer, hello: Value) -> (String, Closed) {
    let mut c = server.connect().await;
    c.send(hello).await;
    let err = c.recv_until(|v| v["type"] != "pong").await;
    assert_eq!(err["type"], "error", "{err}");
    (
        err["code"].as_str().unwrap_or("").to_string(),
        c.closed().await,
    )
}

#[tokio::test]
async fn every_bad_token_is_refused_with_its_code_and_close() {
    let server = start_server(config()).await;
    let event = server.create_event("test-open").await;
    let other = server.create_event("test-open").await;
    let ended = server.create_event("test-open").await;
    let good = server
        .invite(&event, "participant", "Ana", Some("Dayton, OH"))
        .await;
    let ended_token = server
        .invite(&ended, "participant", "Eve", Some("Boulder, CO"))
        .await;
    let res = server
        .org("POST", &format!("/api/events/{ended}/end"), None)
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    // The server's own time, from a welcome, so "expired" means expired by its clock.
    let now = {
        let mut c = server.connect().await;
        c.send(json!({"type": "hello", "token": good})).await;
        let welcome = c.recv_json().await;
        c.close().await;
        welcome["server_time"].as_u64().unwrap()
    };
    let key = TokenKey::new(SECRET);
    let later = now + 3_600_000;
    let (body, sig) = good.split_once('.').unwrap();
    let as_organizer = {
        let mut c: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).unwrap()).unwrap();
        c["role"] = json!("organizer");
        URL_SAFE_NO_PAD.encode(c.to_string())
    };
    let flipped_sig = {
        let mut s = sig.to_string().into_bytes();
        s[0] = if s[0] == b'A' { b'B' } else { b'A' };
        String::from_utf8(s).unwrap()
    };
    let mut v2 = serde_json::to_value(claims(&event, Role::Participant, later)).unwrap();
    v2["v"] = json!(2);
    let mut admin = serde_json::to_value(claims(&event, Role::Participant, later)).unwrap();
    admin["role"] = json!("admin");
    let mut extra = serde_json::to_value(claims(&event, Role::Participant, later)).unwrap();
    extra["is_admin"] = json!(true);

    let unauthorized = || Closed::Code(4001, "unauthorized".into());
    let unknown_room = || Closed::Code(4004, "unknown room".into());
    let hello = |token: &str| json!({"type": "hello", "token": token});
    let cases: Vec<(&str, Value, &str, Closed)> = vec![
        // Forged: signed with another secret, or claims edited under the real signature.
        (
            "forged signature (other secret)",
            hello(&TokenKey::new(b"not-the-server-secret-000").sign(&claims(
                &event,
                Role::Organizer,
                later,
            ))),
            "unauthorized",
            unauthorized(),
        ),
        (
            "claims raised to organizer under the original signature",
            hello(&format!("{as_organizer}.{sig}")),
            "unauthorized",
            unauthorized(),
        ),
        (
            "signature altered",
            hello(&format!("{body}.{flipped_sig}")),
            "unauthorized",
            unauthorized(),
        ),
        (
            "signature dropped",
            hello(&format!("{body}.")),
            "unauthorized",
            unauthorized(),
        ),
        // Expired, long ago and just now.
        (
            "expired long ago",
            hello(&key.sign(&claims(&event, Role::Participant, 1_000))),
            "unauthorized",
            unauthorized(),
        ),
        (
            "expired a moment ago",
            hello(&key.sign(&claims(&event, Role::Participant, now - 1))),
            "unauthorized",
            unauthorized(),
        ),
        // Other events.
        (
            "resume into another event's room",
            json!({"type": "hello", "token": good,
                "resume": {"room": format!("{other}/hall"), "last_seq": 0}}),
            "unauthorized",
            unauthorized(),
        ),
        (
            "resume into another event's breakout group",
            json!({"type": "hello", "token": good,
                "resume": {"room": format!("{other}/g0"), "last_seq": 0}}),
            "unauthorized",
            unauthorized(),
        ),
        (
            "signed for an event that does not exist",
            hello(&key.sign(&claims("evt-nowhere", Role::Participant, later))),
            "unknown_room",
            unknown_room(),
        ),
        (
            "invite of an event that ended",
            hello(&ended_token),
            "unknown_room",
            unknown_room(),
        ),
        // Malformed.
        ("empty", hello(""), "unauthorized", unauthorized()),
        ("garbage", hello("garbage"), "unauthorized", unauthorized()),
        ("only dots", hello("..."), "unauthorized", unauthorized()),
        (
            "signature not base64",
            hello(&format!("{body}.!!!")),
            "unauthorized",
            unauthorized(),
        ),
        (
            "over the size limit",
            hello(&format!("{body}{}.{sig}", "A".repeat(MAX_TOKEN_BYTES))),
            "unauthorized",
            unauthorized(),
        ),
        (
            "signed, but not JSON",
            hello(&sign_raw(b"not json at all")),
            "unauthorized",
            unauthorized(),
        ),
        (
            "signed, unknown claims version",
            hello(&sign_raw(v2.to_string().as_bytes())),
            "unauthorized",
            unauthorized(),
        ),
        (
            "signed, unknown role",
            hello(&sign_raw(admin.to_string().as_bytes())),
            "unauthorized",
            unauthorized(),
        ),
        (
            "signed, an extra claim",
            hello(&sign_raw(extra.to_string().as_bytes())),
            "unauthorized",
            unauthorized(),
        ),
    ];
    let before = server.metric("commonground_hello_failures_total").await;
    let n = cases.len();
    for (name, hello, code, close) in cases {
        let (got, closed) = refused_hello(&server, hello).await;
        assert_eq!(got, code, "{name}");
        assert_eq!(closed, close, "{name}");
    }
    let after = server.metric("commonground_hello_failures_total").await;
    assert!(after - before >= (n - 2) as f64, "{before} -> {after}");
    // Nothing above let anyone in: the event's room still has only Ana's one visit.
    let res = server
        .http("GET", &format!("/api/events/{event}"), None, &[])
        .await;
    assert_eq!(res.status, 200);
    // And the good token still works.
    let _ = server.join(&good).await;
    server.stop().await.unwrap();
}

/// A hello with a token that is not a string is a bad frame, not a login attempt: it gets
/// `invalid` and the connection may still say hello properly.
#[tokio::test]
async fn a_hello_of_the_wrong_shape_is_invalid_and_the_socket_may_retry() {
    let server = start_server(config()).await;
    let event = server.create_event("test-open").await;
    let good = server.invite(&event, "observer", "Olive", None).await;
    let mut c = server.connect().await;
    for bad in [
        json!({"type": "hello", "token": 42}),
        json!({"type": "hello"}),
        json!({"type": "hello", "token": good, "role": "organizer"}),
    ] {
        c.send(bad.clone()).await;
        let err = c.recv_json().await;
        assert_eq!(err["code"], "invalid", "{bad} -> {err}");
    }
    let c = Client::hello(c, &good).await;
    let welcome_role = c.snapshot.as_ref().map(|_| ());
    assert!(welcome_role.is_some());
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_role_may_not_send_another_roles_commands_and_refusals_change_nothing() {
    let server = start_server(config()).await;
    let event = server.create_event("test-open").await;
    let mut fac = server
        .join(&server.invite(&event, "facilitator", "Fran", None).await)
        .await;
    let mut p = server
        .join(
            &server
                .invite(&event, "participant", "Pat", Some("Dayton, OH"))
                .await,
        )
        .await;
    let mut o = server
        .join(&server.invite(&event, "observer", "Olive", None).await)
        .await;
    let mut m = server
        .join(&server.invite(&event, "moderator", "Mo", None).await)
        .await;
    fac.ok(json!({"type": "start"})).await;
    let pid = p.member.clone();
    let fid = fac.member.clone();
    let path = format!("/api/events/{event}");
    let before = server.http("GET", &path, None, &[]).await.json()["seq"].clone();
    // (who, command): each must be `forbidden`.
    let table: Vec<(&str, Value)> = vec![
        ("participant", json!({"type": "start"})),
        ("participant", json!({"type": "end"})),
        ("participant", json!({"type": "next_phase"})),
        ("participant", json!({"type": "mute", "member": fid})),
        ("participant", json!({"type": "remove", "member": pid})),
        ("participant", json!({"type": "hide", "message": 1})),
        (
            "participant",
            json!({"type": "dismiss_report", "report": 1}),
        ),
        ("participant", json!({"type": "grant_floor", "member": pid})),
        ("participant", json!({"type": "broadcast", "text": "obey"})),
        ("observer", json!({"type": "raise_hand"})),
        ("observer", json!({"type": "ask", "text": "me?"})),
        ("observer", json!({"type": "vote", "choice": "yes"})),
        ("observer", json!({"type": "mute", "member": pid})),
        ("observer", json!({"type": "end"})),
        ("moderator", json!({"type": "end"})),
        ("moderator", json!({"type": "pause"})),
        ("moderator", json!({"type": "broadcast", "text": "hi"})),
        ("moderator", json!({"type": "raise_hand"})),
        ("facilitator", json!({"type": "raise_hand"})),
        ("facilitator", json!({"type": "note", "text": "x"})),
    ];
    for (who, cmd) in table {
        let c = match who {
            "participant" => &mut p,
            "observer" => &mut o,
            "moderator" => &mut m,
            _ => &mut fac,
        };
        let code = c.refused(cmd.clone()).await;
        assert_eq!(code, "forbidden", "{who} {cmd}");
    }
    let after = server.http("GET", &path, None, &[]).await.json()["seq"].clone();
    assert_eq!(after, before, "refusals change nothing");
    // What each may do goes through (the same connections, so the refusals did not harm them).
    o.ok(json!({"type": "report", "member": pid, "reason": "talks over others"}))
        .await;
    m.ok(json!({"type": "dismiss_report", "report": 1})).await;
    p.ok(json!({"type": "raise_hand"})).await;
    server.stop().await.unwrap();
}

/// Every organizer endpoint, with a valid request body, so only the key decides.
fn organizer_endpoints(event: &str) -> Vec<(&'static str, String, Option<Value>)> {
    vec![
        (
            "POST",
            "/api/events".into(),
            Some(json!({"title": "Sneaky", "protocol": "test-open",
                "communities": ["A", "B"]})),
        ),
        ("GET", "/api/events".into(), None),
        (
            "POST",
            format!("/api/events/{event}/invites"),
            Some(json!({"role": "organizer", "name": "Mallory"})),
        ),
        ("POST", format!("/api/events/{event}/end"), None),
        ("GET", format!("/api/events/{event}/report"), None),
        ("GET", format!("/api/events/{event}/transcript"), None),
        (
            "GET",
            format!("/api/events/{event}/report?format=html"),
            None,
        ),
    ]
}

#[tokio::test]
async fn the_organizer_api_needs_the_exact_key_on_every_endpoint() {
    let server = start_server(config()).await;
    let event = server.create_event("test-open").await;
    let wrong_auth: Vec<(&str, Option<String>)> = vec![
        ("no Authorization", None),
        ("wrong key", Some("Bearer not-the-organizer-key".into())),
        ("empty bearer", Some("Bearer ".into())),
        ("key without scheme", Some(ORG_KEY.into())),
        ("lower-case scheme", Some(format!("bearer {ORG_KEY}"))),
        ("Basic scheme", Some(format!("Basic {ORG_KEY}"))),
        (
            "a prefix of the key",
            Some(format!("Bearer {}", &ORG_KEY[..ORG_KEY.len() - 1])),
        ),
        ("the key and more", Some(format!("Bearer {ORG_KEY}x"))),
        (
            "the key upper-cased",
            Some(format!("Bearer {}", ORG_KEY.to_uppercase())),
        ),
    ];
    for (method, path, body) in organizer_endpoints(&event) {
        let body = body.map(|b| b.to_string());
        for (name, auth) in &wrong_auth {
            let mut headers = vec![("Content-Type", "application/json")];
            if let Some(a) = auth {
                headers.push(("Authorization", a.as_str()));
            }
            let res = server.http(method, &path, body.as_deref(), &headers).await;
            assert_eq!(res.status, 401, "{method} {path} with {name}: {}", res.body);
            assert_eq!(
                res.json()["error"]["code"],
                "unauthorized",
                "{method} {path} with {name}"
            );
        }
        // The key in the query string is not the key.
        let sep = if path.contains('?') { '&' } else { '?' };
        let res = server
            .http(
                method,
                &format!("{path}{sep}key={ORG_KEY}"),
                body.as_deref(),
                &[("Content-Type", "application/json")],
            )
            .await;
        assert_eq!(res.status, 401, "{method} {path} with the key in the query");
    }
    // The key is checked before the body is read: a malformed body or a missing content
    // type without the key is still 401, so the caller learns nothing about valid bodies.
    for path in [
        "/api/events".to_string(),
        format!("/api/events/{event}/invites"),
    ] {
        for (body, headers) in [
            ("{not json", vec![("Content-Type", "application/json")]),
            (
                r#"{"unknown": 1}"#,
                vec![("Content-Type", "application/json")],
            ),
            (r#"{"title": "x"}"#, vec![]),
        ] {
            let res = server.http("POST", &path, Some(body), &headers).await;
            assert_eq!(res.status, 401, "POST {path} {body:?}: {}", res.body);
        }
    }
    // None of it did anything: one event, still running, and invites still mint.
    let list = server.org("GET", "/api/events", None).await;
    assert_eq!(
        list.json()["events"].as_array().unwrap().len(),
        1,
        "{}",
        list.body
    );
    let _ = server
        .invite(&event, "participant", "Ana", Some("Dayton, OH"))
        .await;
    // With the key, each endpoint answers something other than 401.
    for (method, path, body) in organizer_endpoints(&event) {
        let res = server.org(method, &path, body).await;
        assert_ne!(res.status, 401, "{method} {path}: {}", res.body);
    }
    server.stop().await.unwrap();
}

/// The `/ws` upgrade request with an Origin, written by hand (the shared HTTP helper sends
/// `Connection: close`, which is not an upgrade): a refusal is a JSON error body.
async fn upgrade_status(server: &TestServer, origin: &str) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let req = format!(
        "GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Origin: {origin}\r\n\r\n",
        server.addr
    );
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let (head, body) = loop {
        let n = tokio::time::timeout(WAIT, stream.read(&mut chunk))
            .await
            .expect("a response in time")
            .unwrap();
        assert!(n > 0, "the server closed without a full response");
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if body.len() >= len {
                break (head.to_string(), body[..len].to_string());
            }
        }
    };
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap();
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn origins_off_the_allow_list_are_refused_before_the_upgrade() {
    // Default (no public URL): only the bound address's own origins, over http.
    let server = start_server(config()).await;
    let port = server.addr.port();
    let refused = [
        "http://evil.test".to_string(),
        "null".to_string(),
        format!("http://127.0.0.1:{}", port + 1),
        format!("http://127.0.0.1:{port}.evil.test"),
        format!("https://127.0.0.1:{port}"),
        format!("ftp://127.0.0.1:{port}"),
        "127.0.0.1".to_string(),
    ];
    for origin in &refused {
        let (status, body) = upgrade_status(&server, origin).await;
        assert_eq!(status, 403, "{origin}");
        assert_eq!(body["error"]["code"], "forbidden_origin", "{origin}");
    }
    for origin in [
        format!("http://127.0.0.1:{port}"),
        format!("http://127.0.0.1:{port}/"),
        format!("http://localhost:{port}"),
    ] {
        assert!(
            server.connect_with_origin(&origin).await.is_ok(),
            "{origin}"
        );
    }
    server.stop().await.unwrap();

    // An explicit list replaces the default.
    let mut c = config();
    c.allowed_origins = vec!["https://town.example".into()];
    let server = start_server(c).await;
    let port = server.addr.port();
    assert!(server
        .connect_with_origin("https://town.example")
        .await
        .is_ok());
    for origin in [
        "http://town.example".to_string(),
        "https://town.example.evil".to_string(),
        "https://evil.town.example".to_string(),
        format!("http://127.0.0.1:{port}"),
    ] {
        let (status, body) = upgrade_status(&server, &origin).await;
        assert_eq!(status, 403, "{origin}");
        assert_eq!(body["error"]["code"], "forbidden_origin", "{origin}");
    }
    // A client without an Origin (not a browser) is not subject to the list.
    let event = server.create_event("test-open").await;
    let t = server.invite(&event, "observer", "Olive", None).await;
    let _ = server.join(&t).await;
    server.stop().await.unwrap();
}
