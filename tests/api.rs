//! The HTTP API over a real socket, and graceful shutdown.

mod common;

use common::*;
use serde_json::{json, Value};

#[tokio::test]
async fn organizer_endpoints_need_the_key_and_errors_are_json() {
    let server = start_server(test_config()).await;
    let body = r#"{"title": "T", "protocol": "test-open", "communities": ["A", "B"]}"#;
    let ct = ("Content-Type", "application/json");
    let res = server.http("POST", "/api/events", Some(body), &[ct]).await;
    assert_eq!(res.status, 401);
    assert_eq!(res.json()["error"]["code"], "unauthorized");
    let res = server
        .http(
            "POST",
            "/api/events",
            Some(body),
            &[ct, ("Authorization", "Bearer wrong-key")],
        )
        .await;
    assert_eq!(res.status, 401);
    let res = server.http("GET", "/api/events", None, &[]).await;
    assert_eq!(res.status, 401);

    let auth = format!("Bearer {ORG_KEY}");
    let org = [ct, ("Authorization", auth.as_str())];
    let cases = [
        ("{not json", 400, "invalid_json"),
        (
            r#"{"title": "T", "protocol": "test-open", "communities": ["A", "B"], "x": 1}"#,
            400,
            "invalid",
        ),
        (r#"{"title": "T", "protocol": "test-open"}"#, 400, "invalid"),
        (
            r#"{"title": "T", "protocol": "nope", "communities": ["A", "B"]}"#,
            422,
            "unknown_protocol",
        ),
        (
            r#"{"title": "T", "protocol": "test-open", "communities": ["A"]}"#,
            422,
            "invalid",
        ),
        (
            r#"{"title": "", "protocol": "test-open", "communities": ["A", "B"]}"#,
            422,
            "invalid",
        ),
    ];
    for (body, status, code) in cases {
        let res = server.http("POST", "/api/events", Some(body), &org).await;
        assert_eq!(res.status, status, "{body}: {}", res.body);
        assert_eq!(res.json()["error"]["code"], code, "{body}");
    }
    let res = server
        .http(
            "POST",
            "/api/events",
            Some(body),
            &[("Authorization", auth.as_str())],
        )
        .await;
    assert_eq!(res.status, 415, "{}", res.body);

    let event = server.create_event("test-open").await;
    let invite = |body: serde_json::Value| {
        let path = format!("/api/events/{event}/invites");
        let server = &server;
        async move { server.org("POST", &path, Some(body)).await }
    };
    let res = invite(json!({"role": "king", "name": "X"})).await;
    assert_eq!(res.status, 400);
    let res = invite(json!({"role": "participant", "name": "X"})).await;
    assert_eq!(
        (res.status, res.json()["error"]["code"].clone()),
        (422, json!("invalid"))
    );
    let res = invite(json!({"role": "participant", "name": "X", "community": "Mars"})).await;
    assert_eq!(res.status, 422);
    let res = invite(
        json!({"role": "participant", "name": "X", "community": "Dayton, OH", "ttl_seconds": 60}),
    )
    .await;
    assert_eq!(res.status, 201);
    let inv = res.json();
    assert!(inv["url"].as_str().unwrap().contains("/?token="));
    assert_eq!(inv["ws_url"], format!("ws://{}/ws", server.addr));

    let res = server
        .org(
            "POST",
            "/api/events/evt-nope/invites",
            Some(json!({"role": "observer", "name": "X"})),
        )
        .await;
    assert_eq!(
        (res.status, res.json()["error"]["code"].clone()),
        (404, json!("unknown_event"))
    );
    let res = server.http("GET", "/api/events/evt-nope", None, &[]).await;
    assert_eq!(res.status, 404);
    let res = server.http("GET", "/no/such/path", None, &[]).await;
    assert_eq!(
        (res.status, res.json()["error"]["code"].clone()),
        (404, json!("not_found"))
    );

    let res = server.org("GET", "/api/events", None).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.json()["events"].as_array().unwrap().len(), 1);
    assert_eq!(res.json()["next"], Value::Null);
    let res = server
        .http("GET", &format!("/api/events/{event}"), None, &[])
        .await;
    assert_eq!(res.json()["session"], "not_started");

    let res = server
        .org("POST", &format!("/api/events/{event}/end"), None)
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.json()["ended"], true);
    let res = server
        .http("GET", &format!("/api/events/{event}"), None, &[])
        .await;
    assert_eq!(res.json()["ended"], true);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn public_endpoints() {
    let server = start_server(test_config()).await;
    assert_eq!(server.http("GET", "/healthz", None, &[]).await.status, 200);
    assert_eq!(server.http("GET", "/readyz", None, &[]).await.status, 200);
    let res = server.http("GET", "/api/protocols", None, &[]).await;
    let names: Vec<String> = res
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    assert!(names.contains(&"test-hall".to_string()), "{names:?}");
    let res = server
        .http("GET", "/api/protocols/test-hall", None, &[])
        .await;
    assert_eq!(res.status, 200);
    let p = res.json();
    assert_eq!(p["protocol"]["name"], "test-hall");
    assert!(p["describe"].as_str().unwrap().len() > 20);
    assert_eq!(
        server
            .http("GET", "/api/protocols/nope", None, &[])
            .await
            .status,
        404
    );
    let metrics = server.http("GET", "/metrics", None, &[]).await.body;
    for name in [
        "commonground_connections_open",
        "commonground_rooms_live",
        "commonground_events_total",
        "commonground_command_latency_seconds_count",
        "commonground_slow_consumer_disconnects_total",
        "commonground_hello_failures_total",
    ] {
        assert!(metrics.contains(name), "{name} missing");
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn shutdown_closes_every_socket_with_1001_and_run_returns() {
    let server = start_server(test_config()).await;
    let event = server.create_event("test-open").await;
    let mut clients = Vec::new();
    for name in ["A", "B", "C"] {
        let t = server.invite(&event, "observer", name, None).await;
        clients.push(server.join(&t).await);
    }
    let pending = server.connect().await;
    let stop = tokio::spawn(server.stop());
    for c in &mut clients {
        let status = c.recv_until(|v| v["type"] == "status").await;
        assert_eq!(status["level"], "warning");
        assert_eq!(
            c.closed().await,
            Closed::Code(1001, "server shutting down".into())
        );
    }
    let mut pending = pending;
    assert!(matches!(pending.closed().await, Closed::Code(1001, _)));
    stop.await.unwrap().unwrap();
}

/// Event and member ids carry 128 random bits (UUID v4, 32 hex digits), so an event id from
/// one public URL (`GET /api/events/{id}`) gives no way to guess another.
#[tokio::test]
async fn event_and_member_ids_are_128_bit_random() {
    let server = start_server(test_config()).await;
    let hex32 = |s: &str| s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit());
    let a = server.create_event("test-open").await;
    let b = server.create_event("test-open").await;
    assert_ne!(a, b);
    for id in [&a, &b] {
        let rest = id.strip_prefix("evt-").unwrap_or_else(|| panic!("{id}"));
        assert!(hex32(rest), "{id}");
    }
    let token = server
        .invite(&a, "participant", "Ana", Some("Dayton, OH"))
        .await;
    let c = server.join(&token).await;
    let rest = c
        .member
        .strip_prefix("m-")
        .unwrap_or_else(|| panic!("{}", c.member));
    assert!(hex32(rest), "{}", c.member);
    server.stop().await.unwrap();
}
