//! The data dir: created (mode 0700) and checked before the server binds; it holds the
//! journal database and the generated token secret, so invite links survive restarts.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::Config;

/// The journal's file in the data dir.
pub const DB_FILE: &str = "commonground.db";
/// The generated token secret in the data dir (used unless `--token-secret` is given).
pub const SECRET_FILE: &str = "token-secret";

#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error("data dir {path}: {reason}")]
    Unusable { path: String, reason: String },
}

fn unusable(path: &Path, reason: impl std::fmt::Display) -> DataDirError {
    DataDirError::Unusable {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// Creates the data dir when missing, loads (or generates) the token secret into `config`
/// unless one was configured, and returns the database path. `None` when nothing is kept on
/// disk: `--ephemeral`, or cluster mode (Redis is the store of record there).
pub fn prepare(config: &mut Config) -> Result<Option<PathBuf>, DataDirError> {
    if config.ephemeral || config.redis.is_some() {
        return Ok(None);
    }
    let dir = config.data_dir.clone();
    if !dir.exists() {
        create_private_dir(&dir)?;
        tracing::info!(path = %dir.display(), "created the data dir");
    }
    if !dir.is_dir() {
        return Err(unusable(&dir, "not a directory"));
    }
    probe_writable(&dir)?;
    if config.token_secret_generated {
        config.token_secret = load_or_create_secret(&dir.join(SECRET_FILE))?;
        config.token_secret_generated = false;
    }
    Ok(Some(dir.join(DB_FILE)))
}

/// The journal reads a read-only database fine and would fail only at the first command:
/// find out before the server binds, and say so.
fn probe_writable(dir: &Path) -> Result<(), DataDirError> {
    let probe = dir.join(".write-probe");
    let written = std::fs::File::create(&probe)
        .and_then(|mut f| f.write_all(b"ok").and_then(|()| f.sync_all()));
    let _ = std::fs::remove_file(&probe);
    written.map_err(|e| {
        unusable(
            dir,
            format!("cannot write there ({e}); the server needs to store every command before it acknowledges it"),
        )
    })
}

fn create_private_dir(dir: &Path) -> Result<(), DataDirError> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
        .map_err(|e| unusable(dir, format!("cannot create it: {e}")))
}

fn load_or_create_secret(path: &Path) -> Result<Vec<u8>, DataDirError> {
    match std::fs::read_to_string(path) {
        Ok(s) => {
            let s = s.trim();
            if s.len() < 16 {
                return Err(unusable(path, "the token secret is shorter than 16 bytes"));
            }
            return Ok(s.as_bytes().to_vec());
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(unusable(path, format!("cannot read the token secret: {e}"))),
    }
    let secret = crate::config::random_hex(32);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let write = |opts: &std::fs::OpenOptions| -> std::io::Result<()> {
        let mut f = opts.open(path)?;
        f.write_all(secret.as_bytes())?;
        f.sync_all()
    };
    write(&opts).map_err(|e| unusable(path, format!("cannot write the token secret: {e}")))?;
    Ok(secret.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ServeArgs;

    fn config_in(dir: &Path) -> Config {
        Config::resolve(ServeArgs {
            organizer_key: Some("test-organizer-key-0123456789".into()),
            data_dir: Some(dir.to_path_buf()),
            ..ServeArgs::default()
        })
        .unwrap()
    }

    #[test]
    fn the_data_dir_is_private_and_keeps_one_token_secret_across_starts() {
        let dir = std::env::temp_dir()
            .join(format!("cg-dir-{}", crate::config::random_hex(6)))
            .join("data");
        let mut first = config_in(&dir);
        let db = prepare(&mut first).unwrap().unwrap();
        assert_eq!(db, dir.join(DB_FILE));
        let mut second = config_in(&dir);
        assert_ne!(
            first.token_secret, second.token_secret,
            "resolve alone is random"
        );
        prepare(&mut second).unwrap();
        assert_eq!(first.token_secret, second.token_secret);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&dir), 0o700);
            assert_eq!(mode(&dir.join(SECRET_FILE)), 0o600);
        }
        // A configured secret wins and the file is left alone.
        let mut third = config_in(&dir);
        third.token_secret = b"configured-secret-0123456789".to_vec();
        third.token_secret_generated = false;
        prepare(&mut third).unwrap();
        assert_eq!(third.token_secret, b"configured-secret-0123456789");
        // A data dir that is a file is refused with its path.
        let file = dir.join("not-a-dir");
        std::fs::write(&file, b"x").unwrap();
        let err = prepare(&mut config_in(&file)).unwrap_err().to_string();
        assert!(err.contains("not a directory"), "{err}");
        // --ephemeral keeps nothing on disk.
        let mut eph = config_in(&dir.join("never"));
        eph.ephemeral = true;
        assert!(prepare(&mut eph).unwrap().is_none());
        assert!(!dir.join("never").exists());
    }
}
