//! Issue #18, join links, over real sockets: the organizer creates, lists and revokes
//! multi-use links per community and role; residents redeem them for member tokens of their
//! own. Checked: the cap holds under concurrent redemptions on separate connections, expiry
//! and revocation refuse with their codes, bad display names are refused without costing a
//! use, the minted token joins the hall's WebSocket as the link's community and role,
//! redemptions are rate limited per address, and the links (codes, counts, revocations)
//! survive a SIGKILL and restart of the real binary on its SQLite data dir.
//!
//! Waits are bounded; nothing measures how long anything takes.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use common::cluster_node::{self, spawn_single, unique};
use common::*;
use serde_json::{json, Value};

fn config() -> commonground::config::Config {
    let mut c = test_config();
    // The rate limit has its own test; the others redeem many times from 127.0.0.1.
    c.joins_per_minute = 10_000;
    c
}

async fn create_link(server: &TestServer, event: &str, body: Value) -> Value {
    let res = server
        .org("POST", &format!("/api/events/{event}/links"), Some(body))
        .await;
    assert_eq!(res.status, 201, "{}", res.body);
    res.json()
}

async fn list(server: &TestServer, event: &str) -> Vec<Value> {
    let res = server
        .org("GET", &format!("/api/events/{event}/links"), None)
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    res.json()["links"].as_array().unwrap().clone()
}

async fn redeem_at(addr: std::net::SocketAddr, code: &str, body: Value) -> HttpResponse {
    let body = body.to_string();
    http::request(
        addr,
        "POST",
        &format!("/api/join/{code}"),
        &[("Content-Type", "application/json")],
        Some(&body),
    )
    .await
}

async fn redeem(server: &TestServer, code: &str, body: Value) -> HttpResponse {
    redeem_at(server.addr, code, body).await
}

fn error_code(res: &HttpResponse) -> String {
    res.json()["error"]["code"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// Says hello with `token` and returns the `welcome` frame.
async fn welcome(server: &TestServer, token: &str) -> Value {
    let mut c = server.connect().await;
    c.send(json!({"type": "hello", "token": token})).await;
    let w = c.recv_json().await;
    assert_eq!(w["type"], "welcome", "{w}");
    w
}

#[tokio::test]
async fn organizer_creates_lists_and_revokes_links_and_only_the_organizer_may() {
    let server = start_server(config()).await;
    let event = server.create_event("test-hall").await;

    // Without the key nothing about links is answered.
    let path = format!("/api/events/{event}/links");
    let body = json!({"community": "Dayton, OH"}).to_string();
    let res = server
        .http(
            "POST",
            &path,
            Some(&body),
            &[("Content-Type", "application/json")],
        )
        .await;
    assert_eq!(res.status, 401, "{}", res.body);
    assert_eq!(server.http("GET", &path, None, &[]).await.status, 401);

    let dayton = create_link(
        &server,
        &event,
        json!({"community": "Dayton, OH", "label": "Dayton residents", "max_uses": 200}),
    )
    .await;
    assert_eq!(dayton["role"], "participant");
    assert_eq!(dayton["uses"], 0);
    assert_eq!(dayton["state"], "open");
    let code = dayton["code"].as_str().unwrap().to_string();
    assert!(code.len() >= 22, "at least 128 bits: {code}");
    assert_eq!(
        dayton["url"],
        format!("http://{}/join/{code}", server.addr),
        "{dayton}"
    );
    let open = create_link(&server, &event, json!({})).await;
    assert_eq!(open["community"], Value::Null);
    let staff = create_link(
        &server,
        &event,
        json!({"role": "moderator", "max_uses": 2, "label": "moderators"}),
    )
    .await;
    assert_eq!(staff["role"], "moderator");
    assert_ne!(open["code"], dayton["code"]);

    // What the organizer cannot make.
    for (body, why) in [
        (json!({"community": "Nowhere"}), "not one of"),
        (json!({"role": "organizer"}), "organizers"),
        (json!({"role": "facilitator"}), "max_uses"),
        (json!({"role": "moderator", "max_uses": 500}), "max_uses"),
        (json!({"max_uses": 0}), "max_uses"),
        (json!({"expires_in_secs": 0}), "expires_in_secs"),
        (json!({"label": "x".repeat(81)}), "label"),
    ] {
        let res = server.org("POST", &path, Some(body.clone())).await;
        assert_eq!(res.status, 422, "{body}: {}", res.body);
        assert_eq!(error_code(&res), "invalid");
        assert!(res.body.contains(why), "{body}: {}", res.body);
    }
    let res = server.org("POST", &path, Some(json!({"rôle": 1}))).await;
    assert_eq!(res.status, 400, "{}", res.body);
    let res = server
        .org("POST", "/api/events/evt-nope/links", Some(json!({})))
        .await;
    assert_eq!(
        (res.status, error_code(&res)),
        (404, "unknown_event".into())
    );

    // The page asks what the link is for.
    let info = server
        .http("GET", &format!("/api/join/{code}"), None, &[])
        .await;
    assert_eq!(info.status, 200, "{}", info.body);
    let info = info.json();
    assert_eq!(info["event"], event);
    assert_eq!(info["community"], "Dayton, OH");
    assert_eq!(info["community_required"], false);
    assert!(
        info.get("label").is_none(),
        "labels are the organizer's: {info}"
    );

    let res = redeem(&server, &code, json!({"name": "Ana"})).await;
    assert_eq!(res.status, 201, "{}", res.body);
    let links = list(&server, &event).await;
    assert_eq!(links.len(), 3);
    assert_eq!(links[0]["id"], dayton["id"]);
    assert_eq!(links[0]["uses"], 1);
    assert_eq!(links[0]["url"], dayton["url"]);
    assert_eq!(links[0]["label"], "Dayton residents");

    // Revoked: refused from then on; the member who joined keeps their token.
    let token = res.json()["token"].as_str().unwrap().to_string();
    let id = dayton["id"].as_str().unwrap();
    let res = server
        .org(
            "POST",
            &format!("/api/events/{event}/links/{id}/revoke"),
            None,
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.json()["state"], "revoked");
    let res = redeem(&server, &code, json!({"name": "Bo"})).await;
    assert_eq!((res.status, error_code(&res)), (410, "link_revoked".into()));
    let res = server
        .http("GET", &format!("/api/join/{code}"), None, &[])
        .await;
    assert_eq!(error_code(&res), "link_revoked");
    assert_eq!(list(&server, &event).await[0]["uses"], 1);
    assert_eq!(welcome(&server, &token).await["name"], "Ana");
    let res = server
        .org(
            "POST",
            &format!("/api/events/{event}/links/lnk-nope/revoke"),
            None,
        )
        .await;
    assert_eq!((res.status, error_code(&res)), (404, "unknown_link".into()));

    // Codes this server did not make, or altered ones, name no link.
    let mut altered = code.clone().into_bytes();
    altered[40] = if altered[40] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    for bad in ["nope", altered.as_str(), &"A".repeat(64)] {
        let res = redeem(&server, bad, json!({"name": "Eve"})).await;
        assert_eq!((res.status, error_code(&res)), (404, "unknown_link".into()));
    }

    // Event responses leave the links out (the public one above all).
    let res = server
        .http("GET", &format!("/api/events/{event}"), None, &[])
        .await;
    assert!(!res.body.contains("lnk-"), "{}", res.body);
    let res = server.org("GET", "/api/events", None).await;
    assert!(!res.body.contains("lnk-"), "{}", res.body);

    // An ended event's links are refused.
    let res = server
        .org("POST", &format!("/api/events/{event}/end"), None)
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let res = redeem(
        &server,
        open["code"].as_str().unwrap(),
        json!({"name": "Cy", "community": "Boulder, CO"}),
    )
    .await;
    assert_eq!((res.status, error_code(&res)), (409, "ended".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cap_of_five_admits_exactly_five_of_twenty_concurrent_redemptions() {
    let server = start_server(config()).await;
    let event = server.create_event("test-hall").await;
    let link = create_link(
        &server,
        &event,
        json!({"community": "Boulder, CO", "max_uses": 5}),
    )
    .await;
    let code = link["code"].as_str().unwrap().to_string();
    let addr = server.addr;
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let code = code.clone();
            tokio::spawn(async move {
                redeem_at(addr, &code, json!({"name": format!("Resident {i}")})).await
            })
        })
        .collect();
    let mut members = BTreeSet::new();
    let mut full = 0;
    for t in tasks {
        let res = t.await.unwrap();
        match res.status {
            201 => {
                members.insert(res.json()["member"].as_str().unwrap().to_string());
            }
            410 => {
                assert_eq!(error_code(&res), "link_full");
                full += 1;
            }
            s => panic!("unexpected {s}: {}", res.body),
        }
    }
    assert_eq!((members.len(), full), (5, 15), "five distinct members");
    let links = list(&server, &event).await;
    assert_eq!(
        (links[0]["uses"].clone(), links[0]["state"].clone()),
        (json!(5), json!("full"))
    );
    let res = server
        .http("GET", &format!("/api/join/{code}"), None, &[])
        .await;
    assert_eq!((res.status, error_code(&res)), (410, "link_full".into()));
}

#[tokio::test]
async fn an_expired_link_is_refused_and_listed_as_expired() {
    let server = start_server(config()).await;
    let event = server.create_event("test-hall").await;
    let link = create_link(
        &server,
        &event,
        json!({"community": "Dayton, OH", "expires_in_secs": 1}),
    )
    .await;
    let code = link["code"].as_str().unwrap();
    let expires_at = link["expires_at"].as_u64().unwrap();
    assert_eq!(expires_at, link["created_at"].as_u64().unwrap() + 1000);
    // Bounded wait for the expiry to pass on the server's clock; no assertion on timing.
    let mut last = None;
    for _ in 0..100 {
        let res = redeem(&server, code, json!({"name": "Late"})).await;
        if res.status == 410 {
            last = Some(res);
            break;
        }
        assert_eq!(res.status, 201, "{}", res.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let res = last.expect("the link expires");
    assert_eq!(error_code(&res), "link_expired");
    assert_eq!(list(&server, &event).await[0]["state"], "expired");
    let res = server
        .http("GET", &format!("/api/join/{code}"), None, &[])
        .await;
    assert_eq!((res.status, error_code(&res)), (410, "link_expired".into()));
}

#[tokio::test]
async fn bad_names_and_communities_are_refused_without_costing_a_use() {
    let server = start_server(config()).await;
    let event = server.create_event("test-hall").await;
    let bound = create_link(
        &server,
        &event,
        json!({"community": "Dayton, OH", "max_uses": 1}),
    )
    .await;
    let code = bound["code"].as_str().unwrap();
    for name in [
        json!(""),
        json!("    "),
        json!("x".repeat(61)),
        json!("Ana\nBob"),
        json!("tab\there"),
        json!("bell\u{7}"),
    ] {
        let res = redeem(&server, code, json!({ "name": name })).await;
        assert_eq!(res.status, 422, "{name}: {}", res.body);
        assert_eq!(error_code(&res), "invalid");
        assert!(
            res.json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains("name"),
            "{}",
            res.body
        );
    }
    let res = redeem(
        &server,
        code,
        json!({"name": "Ana", "community": "Boulder, CO"}),
    )
    .await;
    assert_eq!(res.status, 422, "{}", res.body);
    let res = redeem(&server, code, json!({"nom": "Ana"})).await;
    assert_eq!(res.status, 400, "{}", res.body);
    assert_eq!(list(&server, &event).await[0]["uses"], 0, "no use taken");
    // Exactly 60 characters after trimming is fine, and the one use is still there.
    let sixty = format!("  {}  ", "é".repeat(60));
    let res = redeem(&server, code, json!({ "name": sixty })).await;
    assert_eq!(res.status, 201, "{}", res.body);
    assert_eq!(res.json()["name"], "é".repeat(60));

    // An open link: a participant must choose one of the event's communities.
    let open = create_link(&server, &event, json!({})).await;
    let code = open["code"].as_str().unwrap();
    let info = server
        .http("GET", &format!("/api/join/{code}"), None, &[])
        .await
        .json();
    assert_eq!(info["community_required"], true);
    assert_eq!(info["communities"], json!(["Dayton, OH", "Boulder, CO"]));
    for body in [
        json!({"name": "Bo"}),
        json!({"name": "Bo", "community": "Nowhere"}),
    ] {
        let res = redeem(&server, code, body.clone()).await;
        assert_eq!(res.status, 422, "{body}: {}", res.body);
        assert!(
            res.body.contains("Boulder, CO"),
            "names the choices: {}",
            res.body
        );
    }
    assert_eq!(list(&server, &event).await[1]["uses"], 0);
}

#[tokio::test]
async fn the_minted_token_joins_the_hall_as_the_links_community_and_role() {
    let server = start_server(config()).await;
    let event = server.create_event("test-hall").await;
    let boulder = create_link(&server, &event, json!({"community": "Boulder, CO"})).await;
    let open = create_link(&server, &event, json!({})).await;
    let observers = create_link(&server, &event, json!({"role": "observer"})).await;
    let mods = create_link(&server, &event, json!({"role": "moderator", "max_uses": 1})).await;
    let cases = [
        (
            &boulder,
            json!({"name": "Ana"}),
            "participant",
            json!("Boulder, CO"),
        ),
        (
            &open,
            json!({"name": "Bo", "community": "Dayton, OH"}),
            "participant",
            json!("Dayton, OH"),
        ),
        (&observers, json!({"name": "Cy"}), "observer", Value::Null),
        (&mods, json!({"name": "Di"}), "moderator", Value::Null),
    ];
    let mut members = BTreeSet::new();
    for (link, body, role, community) in cases {
        let res = redeem(&server, link["code"].as_str().unwrap(), body.clone()).await;
        assert_eq!(res.status, 201, "{}", res.body);
        let joined = res.json();
        assert_eq!(joined["event"], event);
        assert_eq!(joined["role"], role);
        assert!(
            joined["url"].as_str().unwrap().contains("/?token="),
            "{joined}"
        );
        let w = welcome(&server, joined["token"].as_str().unwrap()).await;
        assert_eq!(w["event"], event, "{w}");
        assert_eq!(w["role"], role, "{w}");
        assert_eq!(w["community"], community, "{w}");
        assert_eq!(w["name"], body["name"], "{w}");
        assert_eq!(w["member"], joined["member"], "{w}");
        members.insert(joined["member"].as_str().unwrap().to_string());
    }
    assert_eq!(members.len(), 4, "one member per redemption");
}

#[tokio::test]
async fn redemptions_are_rate_limited_per_address() {
    let mut c = test_config();
    c.joins_per_minute = 3;
    let server = start_server(c).await;
    let event = server.create_event("test-hall").await;
    let link = create_link(&server, &event, json!({"community": "Dayton, OH"})).await;
    let code = link["code"].as_str().unwrap();
    for i in 0..3 {
        let res = redeem(&server, code, json!({"name": format!("R{i}")})).await;
        assert_eq!(res.status, 201, "{}", res.body);
    }
    let res = redeem(&server, code, json!({"name": "R3"})).await;
    assert_eq!((res.status, error_code(&res)), (429, "rate_limited".into()));
    assert_eq!(list(&server, &event).await[0]["uses"], 3);
    // The organizer's own endpoints are not affected.
    create_link(&server, &event, json!({})).await;
}

#[tokio::test]
async fn the_join_page_and_its_script_are_served_without_referrer() {
    let server = start_server(config()).await;
    let event = server.create_event("test-hall").await;
    let link = create_link(&server, &event, json!({})).await;
    let page = server
        .http(
            "GET",
            &format!("/join/{}", link["code"].as_str().unwrap()),
            None,
            &[],
        )
        .await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("<label for=\"join-name\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("/join.js"));
    let script = server.http("GET", "/join.js", None, &[]).await;
    assert_eq!(script.status, 200);
    assert!(script.body.contains("/api/join/"));
    assert_eq!(
        commonground::api::links::JOIN_CSP,
        commonground::web::CSP,
        "the join page's policy is the client's"
    );
}

fn data_dir() -> PathBuf {
    std::env::temp_dir().join(unique("join-links-data"))
}

#[tokio::test]
async fn links_their_counts_and_revocations_survive_a_restart_of_the_durable_server() {
    let dir = data_dir();
    let protocols = common::protocol_dir();
    let mut node = spawn_single(&dir, &protocols);
    let event = node.create_event("test-hall").await;
    let post = |addr, path: String, body: Value| async move {
        let (status, body) = cluster_node::request(addr, "POST", &path, Some(body)).await;
        (
            status,
            serde_json::from_str::<Value>(&body).unwrap_or(Value::Null),
        )
    };
    let links_path = format!("/api/events/{event}/links");
    let (s, capped) = post(
        node.addr,
        links_path.clone(),
        json!({"community": "Dayton, OH", "max_uses": 2}),
    )
    .await;
    assert_eq!(s, 201, "{capped}");
    let (s, revoked) = post(node.addr, links_path.clone(), json!({"role": "observer"})).await;
    assert_eq!(s, 201, "{revoked}");
    let capped_code = capped["code"].as_str().unwrap().to_string();
    let (s, first) = post(
        node.addr,
        format!("/api/join/{capped_code}"),
        json!({"name": "Ana"}),
    )
    .await;
    assert_eq!(s, 201, "{first}");
    let (s, _) = post(
        node.addr,
        format!(
            "/api/events/{event}/links/{}/revoke",
            revoked["id"].as_str().unwrap()
        ),
        json!({}),
    )
    .await;
    assert_eq!(s, 200);
    let (_, before) = cluster_node::request(node.addr, "GET", &links_path, None).await;

    // SIGKILL: nothing is flushed on the way out; only what was stored before each answer.
    node.kill();
    let node = spawn_single(&dir, &protocols);
    let (s, after) = cluster_node::request(node.addr, "GET", &links_path, None).await;
    assert_eq!(s, 200, "{after}");
    let strip = |body: &str| -> Value {
        // The base URL carries the port, which changes with the restart.
        let mut v: Value = serde_json::from_str(body).unwrap();
        for l in v["links"].as_array_mut().unwrap() {
            l.as_object_mut().unwrap().remove("url");
        }
        v
    };
    assert_eq!(
        strip(&before),
        strip(&after),
        "the same links, codes and counts"
    );
    let after: Value = serde_json::from_str(&after).unwrap();
    assert_eq!(after["links"][0]["uses"], 1);
    assert_eq!(after["links"][1]["state"], "revoked");

    // The count carried over: one more fits the cap of two, then it is full.
    let (s, second) = post(
        node.addr,
        format!("/api/join/{capped_code}"),
        json!({"name": "Bo"}),
    )
    .await;
    assert_eq!(s, 201, "{second}");
    let (s, third) = post(
        node.addr,
        format!("/api/join/{capped_code}"),
        json!({"name": "Cy"}),
    )
    .await;
    assert_eq!(
        (s, third["error"]["code"].clone()),
        (410, json!("link_full"))
    );
    let (s, res) = post(
        node.addr,
        format!("/api/join/{}", revoked["code"].as_str().unwrap()),
        json!({"name": "Di"}),
    )
    .await;
    assert_eq!(
        (s, res["error"]["code"].clone()),
        (410, json!("link_revoked"))
    );
    // The member minted before the crash is still that member.
    let mut c = node.connect().await;
    c.send(json!({"type": "hello", "token": first["token"]}))
        .await;
    let w = c.recv_json().await;
    assert_eq!(
        (w["type"].clone(), w["member"].clone()),
        (json!("welcome"), first["member"].clone())
    );
    drop(node);
    let _ = std::fs::remove_dir_all(dir);
}

/// Cluster mode: two nodes of the real binary on the shared Redis (a key prefix of their
/// own). A link made on one node is redeemed on both at once and its cap still holds; a
/// revocation on one is refused on the other; the token minted on one joins on the other as
/// the link's community; a deleted event's links are gone everywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_cluster_mode_a_cap_holds_across_nodes_and_revocations_reach_every_node() {
    let prefix = unique("join-links");
    let dir = cluster_node::protocol_dir(None);
    let n1 = cluster_node::spawn_node(&prefix, "j1", &dir);
    let n2 = cluster_node::spawn_node(&prefix, "j2", &dir);
    let event = n1.create_event("joint-town-hall").await;
    let links_path = format!("/api/events/{event}/links");
    let capped = n1
        .post(
            &links_path,
            json!({"community": "Dayton, OH", "max_uses": 5}),
        )
        .await;
    let open = n2.post(&links_path, json!({})).await;
    let code = capped["code"].as_str().unwrap().to_string();

    let (s, info) = n2.http("GET", &format!("/api/join/{code}"), None).await;
    assert_eq!(s, 200, "the other node knows the link: {info}");

    let addrs = [n1.addr, n2.addr];
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let (code, addr) = (code.clone(), addrs[i % 2]);
            tokio::spawn(async move {
                redeem_at(addr, &code, json!({"name": format!("Resident {i}")})).await
            })
        })
        .collect();
    let mut members = BTreeSet::new();
    let mut full = 0;
    for t in tasks {
        let res = t.await.unwrap();
        match res.status {
            201 => {
                members.insert(res.json()["member"].as_str().unwrap().to_string());
            }
            410 => {
                assert_eq!(error_code(&res), "link_full");
                full += 1;
            }
            s => panic!("unexpected {s}: {}", res.body),
        }
    }
    assert_eq!(
        (members.len(), full),
        (5, 15),
        "five members across both nodes"
    );
    for node in [&n1, &n2] {
        let (_, body) = node.http("GET", &links_path, None).await;
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["links"][0]["uses"], 5, "{body}");
        assert_eq!(v["links"].as_array().unwrap().len(), 2, "{body}");
    }

    // Revoked on one node, refused on the other.
    let (s, _) = n1
        .http(
            "POST",
            &format!(
                "/api/events/{event}/links/{}/revoke",
                open["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(s, 200);
    let open_code = open["code"].as_str().unwrap();
    let res = redeem_at(
        n2.addr,
        open_code,
        json!({"name": "Late", "community": "Boulder, CO"}),
    )
    .await;
    assert_eq!((res.status, error_code(&res)), (410, "link_revoked".into()));

    // A member minted through one node joins through the other.
    let other = n2
        .post(&links_path, json!({"community": "Boulder, CO"}))
        .await;
    let res = redeem_at(
        n2.addr,
        other["code"].as_str().unwrap(),
        json!({"name": "Bea"}),
    )
    .await;
    assert_eq!(res.status, 201, "{}", res.body);
    let token = res.json()["token"].as_str().unwrap().to_string();
    let mut c = n1.connect().await;
    c.send(json!({"type": "hello", "token": token})).await;
    let w = c.recv_json().await;
    assert_eq!(
        (w["type"].clone(), w["community"].clone()),
        (json!("welcome"), json!("Boulder, CO")),
        "{w}"
    );
    c.close().await;

    // Deleted: the links go with the event, on every node.
    let (s, _) = n1
        .http("DELETE", &format!("/api/events/{event}"), None)
        .await;
    assert_eq!(s, 204);
    let other_code = other["code"].as_str().unwrap();
    for addr in addrs {
        let res = redeem_at(addr, other_code, json!({"name": "Gone"})).await;
        assert_eq!(
            (res.status, error_code(&res)),
            (404, "unknown_link".into()),
            "{}",
            res.body
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// The organizer's link endpoints need the exact key, checked before the body, like every
/// organizer endpoint (`tests/auth_matrix.rs`); and refusals change nothing.
#[tokio::test]
async fn the_link_endpoints_need_the_exact_organizer_key_before_the_body() {
    let server = start_server(config()).await;
    let event = server.create_event("test-hall").await;
    let link = create_link(&server, &event, json!({})).await;
    let endpoints = [
        (
            "POST",
            format!("/api/events/{event}/links"),
            Some(json!({}).to_string()),
        ),
        ("GET", format!("/api/events/{event}/links"), None),
        (
            "POST",
            format!(
                "/api/events/{event}/links/{}/revoke",
                link["id"].as_str().unwrap()
            ),
            None,
        ),
    ];
    let wrong = [
        None,
        Some("Bearer not-the-organizer-key".to_string()),
        Some("Bearer ".to_string()),
        Some(ORG_KEY.to_string()),
        Some(format!("bearer {ORG_KEY}")),
        Some(format!("Bearer {}", &ORG_KEY[..ORG_KEY.len() - 1])),
        Some(format!("Bearer {ORG_KEY}x")),
    ];
    for (method, path, body) in &endpoints {
        for auth in &wrong {
            let mut headers = vec![("Content-Type", "application/json")];
            if let Some(a) = auth {
                headers.push(("Authorization", a.as_str()));
            }
            let res = server.http(method, path, body.as_deref(), &headers).await;
            assert_eq!(
                res.status, 401,
                "{method} {path} with {auth:?}: {}",
                res.body
            );
            assert_eq!(error_code(&res), "unauthorized");
        }
    }
    let path = format!("/api/events/{event}/links");
    for body in ["{not json", r#"{"unknown": 1}"#] {
        let res = server
            .http(
                "POST",
                &path,
                Some(body),
                &[("Content-Type", "application/json")],
            )
            .await;
        assert_eq!(res.status, 401, "{body}: {}", res.body);
    }
    let links = list(&server, &event).await;
    assert_eq!(links.len(), 1);
    assert_eq!(links[0]["state"], "open");
}

#[test]
fn the_join_links_doc_lists_every_link_error_code() {
    use commonground::wire::ErrorCode;
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/join-links.md"))
        .unwrap();
    for c in [
        ErrorCode::UnknownLink,
        ErrorCode::LinkExpired,
        ErrorCode::LinkFull,
        ErrorCode::LinkRevoked,
        ErrorCode::RateLimited,
        ErrorCode::Invalid,
        ErrorCode::Ended,
        ErrorCode::Unavailable,
    ] {
        assert!(
            doc.contains(&format!("| `{}` |", c.as_str())),
            "docs/join-links.md's error table lacks `{}`",
            c.as_str()
        );
    }
    // HTTP only: the WebSocket's code table (docs/wire-protocol.md) does not list them.
    for c in [
        ErrorCode::UnknownLink,
        ErrorCode::LinkExpired,
        ErrorCode::LinkFull,
        ErrorCode::LinkRevoked,
    ] {
        assert!(!c.on_websocket(), "{c}");
    }
}
