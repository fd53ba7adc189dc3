//! The browser client's end-to-end tests, run from `cargo test`: `web/e2e/run.sh` drives
//! headless Chromium (Debian's `chromium`, through playwright-core) against this build's
//! `commonground` binary, with a facilitator, a moderator, participants from two communities
//! and an observer each in their own browser context.
//!
//! Missing node or Chromium is a failure with the command that fixes it, never a silent pass:
//! `scripts/ensure-chromium.sh` installs both.

use std::path::Path;
use std::process::Command;

#[test]
fn the_browser_client_runs_a_town_hall_in_headless_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "the browser tests need Chromium at {chromium}; install it with \
         `scripts/ensure-chromium.sh` (apt-get install -y chromium chromium-driver) \
         or point CHROMIUM at one"
    );
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.as_ref().is_ok_and(|o| o.status.success()),
        "the browser tests need Node.js 20 or newer; install it with `scripts/ensure-chromium.sh` \
         (apt-get install -y nodejs npm): {node:?}"
    );

    let out = Command::new("bash")
        .arg(root.join("web/e2e/run.sh"))
        .env("COMMONGROUND_BIN", env!("CARGO_BIN_EXE_commonground"))
        .env("CHROMIUM", &chromium)
        .current_dir(root)
        .output()
        .expect("bash runs web/e2e/run.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        out.status.success(),
        "the browser tests failed ({}); screenshots are in web/e2e/screenshots/\n{stdout}\n{stderr}",
        out.status
    );
    // node's test runner ends with its counts; make sure tests really ran.
    assert!(
        stdout.contains("ℹ pass") && !stdout.contains("ℹ pass 0"),
        "the browser tests ran no test:\n{stdout}"
    );
}
