//! The gateway's edges over real sockets: malformed and oversized frames, tokens, rate
//! limits, origins, and the hello and idle deadlines.

mod common;

use std::time::Duration;

use common::*;
use commonground::engine::member::{MemberId, Role};
use commonground::time::Millis;
use commonground::token::{Claims, TokenKey};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message;

async fn seq_of(server: &TestServer, event: &str) -> u64 {
    let res = server
        .http("GET", &format!("/api/events/{event}"), None, &[])
        .await;
    res.json()["seq"].as_u64().unwrap()
}

async fn assert_usable(c: &mut Client) {
    c.send(json!({"type": "ping", "id": "alive"})).await;
    let pong = c.recv_until(|v| v["type"] == "pong").await;
    assert_eq!(pong["id"], "alive");
}

#[tokio::test]
async fn bad_frames_get_errors_and_change_nothing() {
    let server = start_server(test_config()).await;
    let event = server.create_event("test-open").await;
    let t = server
        .invite(&event, "participant", "Ana", Some("Dayton, OH"))
        .await;
    let mut p = server.join(&t).await;
    let before = seq_of(&server, &event).await;

    let texts: Vec<(&str, Value)> = vec![
        ("not json", Value::Null),
        ("[1, 2]", Value::Null),
        (r#"{"type": "shout", "id": "a"}"#, json!("a")),
        (r#"{"type": "raise_hand", "id": "b", "x": 1}"#, json!("b")),
        (r#"{"type": "lower_hand", "id": "c", "x": 1}"#, json!("c")),
        (r#"{"type": "mute", "id": "d"}"#, json!("d")),
        (
            r#"{"type": "upvote", "id": "e", "question": "one"}"#,
            json!("e"),
        ),
        (r#"{"id": "f"}"#, json!("f")),
        (r#"{"type": "raise_hand", "id": {"x": 1}}"#, Value::Null),
        (
            r#"{"type": "hello", "id": "g", "token": "again"}"#,
            json!("g"),
        ),
    ];
    for (text, id) in texts {
        p.send_raw(Message::text(text)).await;
        let err = p.recv_until(|v| v["type"] == "error").await;
        assert_eq!(err["code"], "invalid", "{text} -> {err}");
        assert_eq!(err["id"], id, "{text} -> {err}");
        assert!(err["message"].as_str().unwrap().len() > 3);
        assert_usable(&mut p).await;
    }
    assert_eq!(
        seq_of(&server, &event).await,
        before,
        "bad frames change nothing"
    );
    // A second connection (more than ten bad frames in ten seconds would close the first).
    let mut p = server.join(&t).await;
    // Binary frames.
    p.send_raw(Message::binary(vec![1u8, 2, 3])).await;
    let err = p.recv_until(|v| v["type"] == "error").await;
    assert_eq!(err["code"], "invalid");
    assert_usable(&mut p).await;
    // A text frame whose payload is not UTF-8 (sent as a raw frame).
    let frame = Frame::message(vec![b'{', 0xff, 0xfe, b'}'], OpCode::Data(Data::Text), true);
    p.send_raw(Message::Frame(frame)).await;
    let err = p.recv_until(|v| v["type"] == "error").await;
    assert_eq!(err["code"], "invalid", "{err}");
    // The WebSocket library ends the stream after this error, so the server closes (1007).
    assert_eq!(p.closed().await, Closed::Code(1007, "invalid utf-8".into()));
    assert_eq!(
        seq_of(&server, &event).await,
        before,
        "bad frames change nothing"
    );

    // Over the message limit but under the transport's hard cap: an error, the connection
    // stays usable and nothing changed.
    let mut p = server.join(&t).await;
    let big = format!(r#"{{"type": "speak", "text": "{}"}}"#, "x".repeat(20_000));
    p.send_raw(Message::text(big)).await;
    let err = p.recv_until(|v| v["type"] == "error").await;
    assert_eq!(err["code"], "too_large");
    assert_usable(&mut p).await;
    assert_eq!(seq_of(&server, &event).await, before);

    // Over the hard cap: tungstenite refuses it from the header, so an error, then 1009.
    let cap = commonground::gateway::hard_frame_cap(test_config().max_message_bytes);
    let huge = format!(r#"{{"type": "speak", "text": "{}"}}"#, "x".repeat(cap));
    p.send_raw(Message::text(huge)).await;
    let err = p.recv_until(|v| v["type"] == "error").await;
    assert_eq!(err["code"], "too_large");
    assert_eq!(
        p.closed().await,
        Closed::Code(1009, "message too large".into())
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn repeated_abuse_closes_with_4009() {
    let server = start_server(test_config()).await;
    let event = server.create_event("test-open").await;
    let p = server
        .invite(&event, "participant", "Ana", Some("Dayton, OH"))
        .await;
    let mut p = server.join(&p).await;
    for _ in 0..11 {
        p.send_raw(Message::text("garbage")).await;
    }
    assert_eq!(
        p.closed().await,
        Closed::Code(4009, "too many bad frames".into())
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn commands_before_hello_are_refused_and_silence_is_closed() {
    let mut config = test_config();
    config.hello_timeout = Duration::from_millis(500);
    let server = start_server(config).await;
    let mut c = server.connect().await;
    c.send(json!({"type": "raise_hand", "id": 1})).await;
    let err = c.recv_json().await;
    assert_eq!(err["code"], "invalid");
    assert_eq!(c.closed().await, Closed::Code(4002, "no hello".into()));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_client_that_stops_answering_pings_is_closed_as_idle() {
    let mut config = test_config();
    config.ping_interval = Duration::from_millis(100);
    config.idle_timeout = Duration::from_millis(400);
    let server = start_server(config).await;
    let event = server.create_event("test-open").await;
    let t = server.invite(&event, "observer", "Olive", None).await;
    let mut c = server.join(&t).await;
    // Not reading means not answering pings. Read again soon after the idle timeout, while
    // the server still waits (one second) for the reply to its close frame.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(c.closed().await, Closed::Code(4011, "idle timeout".into()));
    server.stop().await.unwrap();
}

async fn hello_refused(server: &TestServer, hello: Value) -> (Value, Closed) {
    let mut c = server.connect().await;
    c.send(hello).await;
    let err = c.recv_json().await;
    (err, c.closed().await)
}

#[tokio::test]
async fn bad_tokens_are_refused_with_4001() {
    let server = start_server(test_config()).await;
    let event = server.create_event("test-open").await;
    let other = server.create_event("test-open").await;
    let good = server
        .invite(&event, "participant", "Ana", Some("Dayton, OH"))
        .await;
    let unauthorized = Closed::Code(4001, "unauthorized".into());

    // Tampered: one character of the claims changed.
    let mut tampered = good.clone().into_bytes();
    tampered[5] = if tampered[5] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let key = TokenKey::new(b"test-token-secret-0123456789");
    let claims = |event: &str, exp: u64| Claims {
        v: 1,
        event: event.into(),
        member: MemberId::new("m-x"),
        name: "Xen".into(),
        role: Role::Participant,
        community: Some("Dayton, OH".into()),
        exp: Millis(exp),
    };
    let expired = key.sign(&claims(&event, 1_000));
    let foreign_key =
        TokenKey::new(b"another-secret-entirely-42").sign(&claims(&event, u64::MAX / 2));
    for token in [
        tampered,
        expired,
        foreign_key,
        "garbage".to_string(),
        String::new(),
    ] {
        let (err, closed) = hello_refused(&server, json!({"type": "hello", "token": token})).await;
        assert_eq!(err["code"], "unauthorized", "{token}: {err}");
        assert_eq!(closed, unauthorized, "{token}");
    }
    // A good token cannot open another event's room.
    let (err, closed) = hello_refused(
        &server,
        json!({"type": "hello", "token": good, "resume": {"room": format!("{other}/hall"), "last_seq": 0}}),
    )
    .await;
    assert_eq!(err["code"], "unauthorized");
    assert_eq!(closed, unauthorized);
    // A validly signed token for an event that does not exist.
    let ghost = key.sign(&claims("evt-ghost", u64::MAX / 2));
    let (err, closed) = hello_refused(&server, json!({"type": "hello", "token": ghost})).await;
    assert_eq!(err["code"], "unknown_room");
    assert_eq!(closed, Closed::Code(4004, "unknown room".into()));

    assert!(server.metric("commonground_hello_failures_total").await >= 6.0);
    // The good token still works.
    let _ = server.join(&good).await;
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_command_flood_is_rate_limited_and_the_connection_survives() {
    let mut config = test_config();
    config.command_rate = 5;
    config.command_burst = 5;
    let server = start_server(config).await;
    let event = server.create_event("test-open").await;
    let t = server
        .invite(&event, "participant", "Ana", Some("Dayton, OH"))
        .await;
    let mut c = server.join(&t).await;
    for i in 0..30 {
        c.send(json!({"type": "lower_hand", "id": i})).await;
    }
    let mut limited = 0;
    for _ in 0..30 {
        let r = c
            .recv_until(|v| v["type"] == "error" || v["type"] == "ack")
            .await;
        if r["code"] == "rate_limited" {
            limited += 1;
        }
    }
    assert!(limited >= 20, "{limited} of 30 were limited");
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_usable(&mut c).await;
    server.stop().await.unwrap();
}

#[tokio::test]
async fn origins_outside_the_allow_list_are_refused() {
    let server = start_server(test_config()).await;
    assert_eq!(
        server.connect_with_origin("http://evil.test").await.err(),
        Some(403)
    );
    let same = format!("http://{}", server.addr);
    assert!(server.connect_with_origin(&same).await.is_ok());
    server.stop().await.unwrap();
}
