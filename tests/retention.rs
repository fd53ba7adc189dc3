//! Retention and the organizer's delete (issue #8), over real sockets: an event's data is
//! kept for its retention after it ends and then purged; `DELETE /api/events/{id}` ends a
//! live event, disconnects its members and forgets it at once. In cluster mode (a real Redis
//! on 127.0.0.1:6379, a unique key prefix per test) the keys of a deleted event are gone
//! (`SCAN` by prefix), an ended event's keys carry the retention as a TTL, and the other node
//! drops its copy too.
//!
//! Waits are bounded (a poll loop with a count and `WAIT`); nothing asserts on speed.

mod common;

use std::time::Duration;

use common::*;
use commonground::config::{Config, ServeArgs};
use serde_json::{json, Value};

const REDIS: &str = "redis://127.0.0.1:6379/";

/// Polls `check` every 100 ms until it holds, at most 300 times (30 s).
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..300 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("not within 30 s: {what}");
}

async fn create(server: &TestServer, extra: Value) -> HttpResponse {
    let mut body = json!({"title": "Retention", "protocol": "test-open",
        "communities": ["Dayton, OH", "Boulder, CO"]});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    server.org("POST", "/api/events", Some(body)).await
}

/// Everything that reads an event answers 404 `unknown_event`.
async fn assert_gone(server: &TestServer, event: &str) {
    for path in [
        format!("/api/events/{event}/report"),
        format!("/api/events/{event}/transcript"),
        format!("/api/events/{event}"),
    ] {
        let res = server.org("GET", &path, None).await;
        assert_eq!(res.status, 404, "GET {path}: {}", res.body);
        assert_eq!(res.json()["error"]["code"], "unknown_event", "GET {path}");
    }
    let res = server
        .org(
            "POST",
            &format!("/api/events/{event}/invites"),
            Some(json!({"role": "observer", "name": "Late"})),
        )
        .await;
    assert_eq!(res.status, 404, "{}", res.body);
}

/// A token for a purged event is refused with `unknown_room` and close 4004.
async fn assert_token_refused(server: &TestServer, token: &str) {
    let mut c = server.connect().await;
    c.send(json!({"type": "hello", "token": token})).await;
    let err = c.recv_json().await;
    assert_eq!(err["type"], "error", "{err}");
    assert_eq!(err["code"], "unknown_room", "{err}");
    assert!(matches!(c.closed().await, Closed::Code(4004, _)));
}

#[tokio::test]
async fn retention_is_validated_and_defaults_to_the_server_setting() {
    let mut config = test_config();
    config.retention = Duration::from_secs(7200);
    let server = start_server(config).await;
    let res = create(&server, json!({})).await;
    assert_eq!(res.status, 201, "{}", res.body);
    assert_eq!(res.json()["retention_secs"], 7200);
    let res = create(&server, json!({"retention_secs": 86_400})).await;
    assert_eq!(res.status, 201, "{}", res.body);
    assert_eq!(res.json()["retention_secs"], 86_400);
    for bad in [json!(0), json!(365 * 24 * 3600 + 1), json!(u64::MAX)] {
        let res = create(&server, json!({"retention_secs": bad})).await;
        assert_eq!(res.status, 400, "{bad}: {}", res.body);
        assert_eq!(res.json()["error"]["code"], "invalid_retention", "{bad}");
    }
    for bad in [json!(-1), json!("30d"), json!(1.5)] {
        let res = create(&server, json!({"retention_secs": bad})).await;
        assert_eq!(res.status, 400, "{bad}: {}", res.body);
        assert_eq!(res.json()["error"]["code"], "invalid", "{bad}");
    }
    server.stop().await.unwrap();
}

#[test]
fn the_server_retention_setting_is_checked() {
    let resolve = |r: &str| {
        Config::resolve(ServeArgs {
            organizer_key: Some(ORG_KEY.into()),
            retention: Some(commonground::config::parse_duration(r).unwrap()),
            ..ServeArgs::default()
        })
    };
    assert_eq!(
        resolve("30d").unwrap().retention,
        Duration::from_secs(30 * 86_400)
    );
    assert_eq!(resolve("2h").unwrap().retention, Duration::from_secs(7200));
    for bad in ["0s", "366d", "1500ms"] {
        let e = resolve(bad).unwrap_err().to_string();
        assert!(e.contains("retention"), "{bad}: {e}");
    }
    let default = Config::resolve(ServeArgs {
        organizer_key: Some(ORG_KEY.into()),
        ..ServeArgs::default()
    })
    .unwrap();
    assert_eq!(default.retention, Duration::from_secs(30 * 86_400));
}

#[tokio::test]
async fn an_ended_event_is_purged_when_its_retention_runs_out() {
    let server = start_server(test_config()).await;
    let short = create(&server, json!({"retention_secs": 1})).await.json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let long = create(&server, json!({"retention_secs": 3600}))
        .await
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut tokens = Vec::new();
    for event in [&short, &long] {
        let token = server
            .invite(event, "participant", "Ana", Some("Dayton, OH"))
            .await;
        let mut c = server.join(&token).await;
        let end = server
            .org("POST", &format!("/api/events/{event}/end"), None)
            .await;
        assert_eq!(end.status, 200, "{}", end.body);
        c.event("session_ended").await;
        assert!(matches!(c.closed().await, Closed::Code(1000, _)));
        tokens.push(token);
    }
    let show = server
        .org("GET", &format!("/api/events/{long}"), None)
        .await;
    let info = show.json();
    assert_eq!(info["ended"], true, "{info}");
    let (ended_at, purge_at) = (
        info["ended_at"].as_u64().unwrap(),
        info["purge_at"].as_u64().unwrap(),
    );
    assert_eq!(purge_at, ended_at + 3_600_000, "{info}");

    eventually("the short-retention event is purged", || async {
        server
            .org("GET", &format!("/api/events/{short}/report"), None)
            .await
            .status
            == 404
    })
    .await;
    assert_gone(&server, &short).await;
    assert_token_refused(&server, &tokens[0]).await;
    let events = server.org("GET", "/api/events", None).await.json();
    let ids: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert!(!ids.contains(&short.as_str()), "{events}");

    // The other event, with an hour to go, is all there.
    let t = server
        .org("GET", &format!("/api/events/{long}/transcript"), None)
        .await;
    assert_eq!(t.status, 200, "{}", t.body);
    let r = server
        .org("GET", &format!("/api/events/{long}/report"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn delete_ends_a_live_event_disconnects_everyone_and_forgets_it() {
    let server = start_server(test_config()).await;
    let event = server.create_event("test-open").await;
    let fac = server.invite(&event, "facilitator", "Fay", None).await;
    let ana = server
        .invite(&event, "participant", "Ana", Some("Dayton, OH"))
        .await;
    let mut f = server.join(&fac).await;
    let mut a = server.join(&ana).await;
    f.ok(json!({"type": "start"})).await;
    a.ok(json!({"type": "raise_hand"})).await;
    let path = format!("/api/events/{event}");

    // The key is checked first: without it nothing is deleted.
    let res = server.http("DELETE", &path, None, &[]).await;
    assert_eq!(res.status, 401, "{}", res.body);
    assert_eq!(res.json()["error"]["code"], "unauthorized");
    let res = server
        .http(
            "DELETE",
            &path,
            None,
            &[("Authorization", "Bearer wrong-key")],
        )
        .await;
    assert_eq!(res.status, 401);
    assert_eq!(server.org("GET", &path, None).await.status, 200);

    let res = server.org("DELETE", &path, None).await;
    assert_eq!(res.status, 204, "{}", res.body);
    for c in [&mut f, &mut a] {
        c.event("session_ended").await;
        assert!(matches!(c.closed().await, Closed::Code(1000, _)));
    }
    assert_gone(&server, &event).await;
    assert_token_refused(&server, &ana).await;
    let res = server.org("DELETE", &path, None).await;
    assert_eq!(res.status, 404, "{}", res.body);
    assert_eq!(res.json()["error"]["code"], "unknown_event");
    let res = server.org("DELETE", "/api/events/evt-nothere", None).await;
    assert_eq!(res.status, 404);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn delete_after_the_end_forgets_the_kept_record() {
    let server = start_server(test_config()).await;
    let event = server.create_event("test-open").await;
    let end = server
        .org("POST", &format!("/api/events/{event}/end"), None)
        .await;
    assert_eq!(end.status, 200, "{}", end.body);
    let t = server
        .org("GET", &format!("/api/events/{event}/transcript"), None)
        .await;
    assert_eq!(t.status, 200);
    let res = server
        .org("DELETE", &format!("/api/events/{event}"), None)
        .await;
    assert_eq!(res.status, 204, "{}", res.body);
    assert_gone(&server, &event).await;
    server.stop().await.unwrap();
}

// ---- cluster mode: real Redis ----

fn unique(test: &str) -> String {
    format!(
        "cgtest-retention-{test}-{}-{}",
        std::process::id(),
        commonground::config::random_hex(4)
    )
}

/// A node in this process, in cluster mode on `prefix`.
struct Node {
    server: TestServer,
}

fn cluster_config(prefix: &str, node: &str, protocols: &std::path::Path) -> Config {
    let mut config = test_config();
    config.protocols_dir = protocols.to_path_buf();
    config.redis = Some(REDIS.into());
    config.redis_prefix = prefix.into();
    config.node_id = node.into();
    config.lease = Duration::from_secs(1);
    config
}

async fn start_node(config: Config) -> Node {
    // `RUST_LOG=commonground=debug cargo test` shows the nodes' logs.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    Node {
        server: start_cluster_server(config).await,
    }
}

/// The keys under `prefix` that belong to `event`, by `SCAN`.
async fn keys_of(prefix: &str, event: &str) -> Vec<String> {
    let client = redis::Client::open(REDIS).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let mut cursor: u64 = 0;
    let mut out = Vec::new();
    for _ in 0..10_000 {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}:*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut c)
            .await
            .unwrap();
        out.extend(batch.into_iter().filter(|k| k.contains(event)));
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    out
}

async fn ttl(key: &str) -> i64 {
    let client = redis::Client::open(REDIS).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("TTL")
        .arg(key)
        .query_async(&mut c)
        .await
        .unwrap()
}

async fn cleanup(prefix: &str) {
    let client = redis::Client::open(REDIS).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let keys = keys_of(prefix, "").await;
    if !keys.is_empty() {
        let _: () = redis::cmd("DEL")
            .arg(keys)
            .query_async(&mut c)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn cluster_delete_removes_every_key_and_both_nodes_forget_the_event() {
    let prefix = unique("delete");
    let protocols = protocol_dir();
    let n1 = start_node(cluster_config(&prefix, "r1", &protocols)).await;
    let n2 = start_node(cluster_config(&prefix, "r2", &protocols)).await;
    let event = n1.server.create_event("test-open").await;
    let fac = n1.server.invite(&event, "facilitator", "Fay", None).await;
    let ana = n1
        .server
        .invite(&event, "participant", "Ana", Some("Dayton, OH"))
        .await;
    // Members on both nodes, a running session with an event log in Redis.
    let mut f = n1.server.join(&fac).await;
    let mut a = n2.server.join(&ana).await;
    f.ok(json!({"type": "start"})).await;
    a.ok(json!({"type": "raise_hand"})).await;
    f.ok(json!({"type": "broadcast", "text": "welcome"})).await;
    for n in [&n1, &n2] {
        let r = n
            .server
            .org("GET", &format!("/api/events/{event}"), None)
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    assert!(
        !keys_of(&prefix, &event).await.is_empty(),
        "the running event has keys in redis"
    );

    // Delete through the node that does not own the hall (n1 created it; the first join
    // took it over wherever it landed, so try n2 and check both anyway).
    let res = n2
        .server
        .org("DELETE", &format!("/api/events/{event}"), None)
        .await;
    assert_eq!(res.status, 204, "{}", res.body);
    for c in [&mut f, &mut a] {
        c.event("session_ended").await;
        assert!(matches!(c.closed().await, Closed::Code(1000, _)));
    }
    let left = keys_of(&prefix, &event).await;
    assert!(left.is_empty(), "keys left after the delete: {left:?}");
    // And nothing writes them back (a late snapshot or metadata write would).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let left = keys_of(&prefix, &event).await;
    assert!(left.is_empty(), "keys came back after the delete: {left:?}");
    for n in [&n1, &n2] {
        assert_gone(&n.server, &event).await;
        assert_token_refused(&n.server, &ana).await;
        let res = n
            .server
            .org("DELETE", &format!("/api/events/{event}"), None)
            .await;
        assert_eq!(res.status, 404, "{}", res.body);
    }
    n1.server.stop().await.unwrap();
    n2.server.stop().await.unwrap();
    cleanup(&prefix).await;
}

#[tokio::test]
async fn cluster_retention_is_a_ttl_on_every_key_of_an_ended_event() {
    let prefix = unique("ttl");
    let protocols = protocol_dir();
    let n1 = start_node(cluster_config(&prefix, "t1", &protocols)).await;
    let n2 = start_node(cluster_config(&prefix, "t2", &protocols)).await;
    let res = create(&n1.server, json!({"retention_secs": 3})).await;
    assert_eq!(res.status, 201, "{}", res.body);
    let event = res.json()["id"].as_str().unwrap().to_string();
    let ana = n1
        .server
        .invite(&event, "participant", "Ana", Some("Dayton, OH"))
        .await;
    let mut a = n2.server.join(&ana).await;
    let r = n2
        .server
        .org("GET", &format!("/api/events/{event}"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let end = n1
        .server
        .org("POST", &format!("/api/events/{event}/end"), None)
        .await;
    assert_eq!(end.status, 200, "{}", end.body);
    a.event("session_ended").await;
    // Every key of the ended event gets the retention as its TTL (set by the ending node
    // right after the end), so Redis drops them by itself.
    eventually("every key of the ended event has a TTL", || async {
        let keys = keys_of(&prefix, &event).await;
        let mut all = !keys.is_empty();
        for k in &keys {
            let t = ttl(k).await;
            all &= (0..=3).contains(&t);
        }
        all
    })
    .await;
    eventually("redis dropped the ended event's keys", || async {
        keys_of(&prefix, &event).await.is_empty()
    })
    .await;
    for n in [&n1, &n2] {
        eventually("the node forgot the event", || async {
            n.server
                .org("GET", &format!("/api/events/{event}"), None)
                .await
                .status
                == 404
        })
        .await;
        assert_gone(&n.server, &event).await;
        assert_token_refused(&n.server, &ana).await;
    }
    n1.server.stop().await.unwrap();
    n2.server.stop().await.unwrap();
    cleanup(&prefix).await;
}
