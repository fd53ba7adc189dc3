//! The rehearsal preview over HTTP, on a real server: the same figures as the CLI.

mod common;

use common::*;

#[tokio::test]
async fn a_protocol_can_be_rehearsed_over_http() {
    let server = start_server(test_config()).await;
    let lib = commonground::protocol::load::Library::load_dir(&protocol_dir()).unwrap();
    let name = lib.names()[0].to_string();
    let path = format!("/api/protocols/{name}/rehearse?participants=6&talkative=1&runs=3&seed=4");
    let res = server.http("GET", &path, None, &[]).await;
    assert_eq!(res.status, 200, "{}", res.body);
    let body = res.json();
    assert_eq!(body["protocol"], name.as_str());
    assert_eq!(body["runs"], 3);
    assert!(body["gini"]["median"].is_number());
    assert_eq!(body["people"].as_array().unwrap().len(), 6);
    let again = server.http("GET", &path, None, &[]).await;
    assert_eq!(again.body, res.body, "deterministic for a seed");

    let bad = server
        .http(
            "GET",
            &format!("/api/protocols/{name}/rehearse?runs=0"),
            None,
            &[],
        )
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["error"]["code"], "invalid");
    let unknown = server
        .http(
            "GET",
            &format!("/api/protocols/{name}/rehearse?color=red"),
            None,
            &[],
        )
        .await;
    assert_eq!(unknown.status, 400);
    let missing = server
        .http("GET", "/api/protocols/nope/rehearse", None, &[])
        .await;
    assert_eq!(missing.status, 404);
}
