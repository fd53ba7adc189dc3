//! The data dir on a read-only file system (a real read-only bind mount): the server must
//! refuse to start and say why, not start, serve what it can read and refuse every command
//! later. Needs the right to mount (root, as on this project's machines and CI); without it
//! the test says so and does nothing.
//!
//! Waits are bounded; nothing measures wall-clock time.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::cluster_node::{spawn_single, unique, ORG_KEY};

/// A read-only bind mount of `dir` onto itself, undone when dropped.
struct ReadOnly(PathBuf);

impl ReadOnly {
    fn mount(dir: &Path) -> Option<ReadOnly> {
        let ok = |args: &[&str]| {
            Command::new("mount")
                .args(args)
                .arg(dir)
                .arg(dir)
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if !ok(&["--bind"]) {
            return None;
        }
        let guard = ReadOnly(dir.to_path_buf());
        ok(&["-o", "remount,ro,bind"]).then_some(guard)
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_data_dir_is_refused_at_start_with_the_reason() {
    let root = std::env::temp_dir().join(unique("ro-data"));
    let data = root.join("data");
    std::fs::create_dir_all(&root).unwrap();
    let protocols = common::protocol_dir();
    // A data dir with an event in it, as a server left it.
    let mut node = spawn_single(&data, &protocols);
    node.create_event("test-open").await;
    node.kill();
    let Some(ro) = ReadOnly::mount(&root) else {
        eprintln!("skipped: cannot mount (needs root); a read-only data dir is not tested here");
        let _ = std::fs::remove_dir_all(&root);
        return;
    };
    assert!(
        std::fs::write(data.join("x"), b"x").is_err(),
        "the mount is read-only"
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_commonground"))
        .args(["serve", "--bind", "127.0.0.1:0", "--demo", "false"])
        .args(["--organizer-key", ORG_KEY])
        .arg("--data-dir")
        .arg(&data)
        .arg("--protocols")
        .arg(&protocols)
        .env_remove("COMMONGROUND_CONFIG")
        .env_remove("COMMONGROUND_TOKEN_SECRET")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut status = None;
    for _ in 0..200 {
        if let Some(s) = child.try_wait().unwrap() {
            status = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let Some(status) = status else {
        let _ = child.kill();
        panic!("the server started on a read-only data dir");
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(!status.success(), "{status}: {out}{err}");
    assert!(
        !out.contains("is listening"),
        "it must not listen first: {out}"
    );
    assert!(
        err.contains("cannot write there") && err.contains(&data.display().to_string()),
        "the reason names the dir: {err}"
    );
    drop(ro);
    let _ = std::fs::remove_dir_all(&root);
}
