//! The `rehearse` command, run as a user would: the built binary, its output and exit codes.

use std::process::Command;

fn commonground(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_commonground"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn rehearses_every_shipped_protocol() {
    let lib = commonground::protocol::load::Library::load_dir(
        &commonground::protocol::load::default_dir(),
    )
    .unwrap();
    for name in lib.names() {
        let (code, out, err) = commonground(&["rehearse", name, "--runs", "2", "--talkative", "1"]);
        assert_eq!(code, 0, "{name}: {err}");
        assert!(out.contains("Gini of speaking time"), "{name}: {out}");
        assert!(out.contains("duration: median"), "{name}: {out}");
    }
}

#[test]
fn compares_side_by_side_and_writes_html() {
    let dir = std::env::temp_dir().join(format!("cg-rehearse-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let html = dir.join("report.html");
    let (code, out, err) = commonground(&[
        "rehearse",
        "living-room",
        "--compare",
        "public-comment",
        "--communities",
        "Dayton, OH:4,Boulder, CO:4",
        "--talkative",
        "2",
        "--runs",
        "3",
        "--html",
        html.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("living-room") && out.contains("public-comment"));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<svg") && page.contains("Dayton, OH"));
    let (code, json, _) = commonground(&[
        "rehearse",
        "living-room",
        "--runs",
        "2",
        "--json",
        "--seed",
        "9",
    ]);
    assert_eq!(code, 0);
    let (_, again, _) = commonground(&[
        "rehearse",
        "living-room",
        "--runs",
        "2",
        "--json",
        "--seed",
        "9",
    ]);
    assert_eq!(json, again, "same seed, same rehearsal");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_requests_fail_with_a_clear_sentence() {
    let (code, _, err) = commonground(&["rehearse", "no-such-protocol"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("no protocol named") && err.contains("living-room"),
        "{err}"
    );
    let (code, _, err) = commonground(&["rehearse", "living-room", "--communities", "Dayton"]);
    assert_eq!(code, 1);
    assert!(err.contains("NAME:COUNT"), "{err}");
    let (code, _, err) = commonground(&[
        "rehearse",
        "living-room",
        "--participants",
        "4",
        "--talkative",
        "5",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("more than the 4 participants"), "{err}");
}
