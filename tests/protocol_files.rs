//! The shipped protocol files load cleanly, and `commonground protocols check` reports a
//! broken file with its location and a failing exit code.

use std::path::PathBuf;
use std::process::Command;

use commonground::protocol::load::{default_dir, Library};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_commonground"))
}

/// A scratch directory unique to this test and process, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("commonground-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn shipped_protocols_load_as_a_library() {
    let lib = match Library::load_dir(&default_dir()) {
        Ok(lib) => lib,
        Err(e) => panic!("shipped protocols have problems:\n{e}"),
    };
    assert!(lib.len() >= 8, "{:?}", lib.names());
    for (name, p) in lib.iter() {
        assert!(!p.phases.is_empty(), "{name} has no phases");
        assert!(
            !p.title.is_empty() && !p.description.is_empty(),
            "{name} needs a title and description"
        );
        let file = std::fs::read_to_string(lib.path(name).unwrap()).unwrap();
        assert!(
            file.starts_with("# "),
            "{name}: the file opens with a comment naming its format"
        );
    }
    for name in [
        "reflective-structured-dialogue",
        "living-room",
        "red-blue-workshop",
        "deliberative-forum",
        "joint-town-hall",
        "public-comment",
        "empathy-circle",
        "small-group-round",
    ] {
        assert!(lib.get(name).is_some(), "missing {name}");
    }
}

#[test]
fn check_accepts_the_shipped_directory() {
    let out = bin()
        .args(["protocols", "check"])
        .arg(default_dir())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("joint-town-hall.toml (7 phases)"),
        "{stdout}"
    );
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("ok: ")).count(),
        8,
        "{stdout}"
    );
}

#[test]
fn check_reports_a_broken_file_with_its_location() {
    let dir = TempDir::new("check");
    let path = dir.0.join("broken.toml");
    std::fs::write(
        &path,
        "title = \"Broken\"\n[[phase]]\nid = \"r\"\nkind = \"round\"\nprompt = \"Why?\"\nturn = \"0s\"\norder = \"loud\"\n",
    )
    .unwrap();
    let out = bin()
        .args(["protocols", "check"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let p = path.display();
    assert_eq!(
        stderr.lines().collect::<Vec<_>>(),
        [
            format!("{p}:6:8: `turn` must be longer than zero"),
            format!("{p}:7:9: unknown order `loud`; expected one of join, random, alternate_communities"),
        ]
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn check_resolves_breakouts_within_a_directory() {
    let dir = TempDir::new("breakout");
    std::fs::write(
        dir.0.join("hall.toml"),
        "title = \"Hall\"\n[[phase]]\nid = \"groups\"\nkind = \"breakout\"\nduration = \"10m\"\ngroup_size = 4\nprotocol = \"missing\"\n",
    )
    .unwrap();
    let out = bin()
        .args(["protocols", "check"])
        .arg(&dir.0)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("hall.toml:7:12: breakout protocol `missing` is not in the library"),
        "{stderr}"
    );
}

#[test]
fn list_and_show() {
    let out = bin().args(["protocols", "list"]).output().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 8, "{stdout}");
    assert!(
        stdout.lines().any(|l| l.starts_with("living-room ")),
        "{stdout}"
    );

    let out = bin()
        .args(["protocols", "show", "empathy-circle", "--participants", "4"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("Empathy Circle (empathy-circle)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Planned total for 4 participants"),
        "{stdout}"
    );

    let out = bin()
        .args(["protocols", "show", "no-such-thing"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no protocol named `no-such-thing`"),
        "{stderr}"
    );
    assert!(stderr.contains("joint-town-hall"), "{stderr}");
}

#[test]
fn show_describes_the_demo() {
    let out = bin()
        .args(["protocols", "show", "joint-town-hall"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("Joint Town Hall (joint-town-hall)"),
        "{stdout}"
    );
}

/// With no subcommand the binary serves the demo (the README's first command): it prints
/// where it listens and an invite link per role, then runs until stopped.
#[test]
fn no_subcommand_serves_the_demo() {
    use std::io::{BufRead, BufReader};
    let mut child = bin()
        .args(["--bind", "127.0.0.1:0"])
        .env_remove("COMMONGROUND_CONFIG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        seen.push(line);
        if seen.iter().filter(|l| l.contains("/?token=")).count() == 5 {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let text = seen.join("\n");
    assert!(text.contains("listening on http://127.0.0.1:"), "{text}");
    assert!(text.contains("Demo event: Joint town hall"), "{text}");
    for who in [
        "facilitator",
        "moderator",
        "Dayton, OH",
        "Boulder, CO",
        "observer",
    ] {
        assert!(text.contains(who), "{who}: {text}");
    }
}
