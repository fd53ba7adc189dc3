//! `Config::resolve`: sources in order, defaults, and every refusal naming its key.

use super::*;

#[test]
fn defaults_are_valid_and_generate_secrets() {
    let c = Config::resolve(ServeArgs::default()).unwrap();
    assert_eq!(c.bind, SocketAddr::from(([127, 0, 0, 1], 8080)));
    assert!(c.organizer_key_generated);
    assert_eq!(c.max_message_bytes, 16 * 1024);
    assert_eq!(c.hello_timeout, Duration::from_secs(10));
}

#[test]
fn media_flags_are_validated_before_binding() {
    let c = Config::resolve(ServeArgs::default()).unwrap();
    assert!(c.media);
    assert_eq!(c.media_bind, SocketAddr::from(([127, 0, 0, 1], 0)));
    let key_of = |args: ServeArgs| match Config::resolve(args) {
        Err(ConfigError::Invalid { key, .. }) => Some(key),
        _ => None,
    };
    let wildcard = ServeArgs {
        media_bind: Some("0.0.0.0:3478".parse().unwrap()),
        ..ServeArgs::default()
    };
    assert_eq!(key_of(wildcard), Some("media_public_addr"));
    let floating = ServeArgs {
        media_public_addr: Some("203.0.113.7:3478".parse().unwrap()),
        ..ServeArgs::default()
    };
    assert_eq!(key_of(floating), Some("media_bind"));
    let natted = ServeArgs {
        media_bind: Some("0.0.0.0:3478".parse().unwrap()),
        media_public_addr: Some("203.0.113.7:3478".parse().unwrap()),
        ..ServeArgs::default()
    };
    assert_eq!(key_of(natted), None);
    let off = ServeArgs {
        media: Some(false),
        media_bind: Some("0.0.0.0:0".parse().unwrap()),
        ..ServeArgs::default()
    };
    assert!(!Config::resolve(off).unwrap().media);
    assert_eq!(parse_on_off("off"), Ok(false));
    assert!(parse_on_off("maybe").is_err());
}

#[test]
fn media_limits_have_defaults_and_bounds() {
    let c = Config::resolve(ServeArgs::default()).unwrap();
    assert_eq!((c.media_max_peers, c.media_max_room_peers), (2_000, 1_000));
    assert_eq!(c.media_connect_timeout, Duration::from_secs(15));
    let key_of = |args: ServeArgs| match Config::resolve(args) {
        Err(ConfigError::Invalid { key, .. }) => Some(key),
        _ => None,
    };
    for (peers, room, key) in [
        (0, 1, Some("media_max_peers")),
        (MAX_MEDIA_PEERS + 1, 1, Some("media_max_peers")),
        (10, 0, Some("media_max_room_peers")),
        (10, 11, Some("media_max_room_peers")),
        (10, 10, None),
    ] {
        let args = ServeArgs {
            media_max_peers: Some(peers),
            media_max_room_peers: Some(room),
            ..ServeArgs::default()
        };
        assert_eq!(key_of(args), key, "{peers} {room}");
    }
    for (t, ok) in [
        (999, false),
        (1_000, true),
        (120_000, true),
        (120_001, false),
    ] {
        let args = ServeArgs {
            media_connect_timeout: Some(Duration::from_millis(t)),
            ..ServeArgs::default()
        };
        let want = (!ok).then_some("media_connect_timeout");
        assert_eq!(key_of(args), want, "{t} ms");
    }
}

#[test]
fn bad_values_name_their_key() {
    let args = ServeArgs {
        ping_interval: Some(Duration::from_secs(90)),
        ..ServeArgs::default()
    };
    let err = Config::resolve(args).unwrap_err();
    assert!(matches!(
        err,
        ConfigError::Invalid {
            key: "ping_interval",
            ..
        }
    ));
    let args = ServeArgs {
        token_secret: Some("short".into()),
        ..ServeArgs::default()
    };
    assert!(matches!(
        Config::resolve(args),
        Err(ConfigError::Invalid {
            key: "token_secret",
            ..
        })
    ));
}

#[test]
fn file_values_apply_under_flags() {
    let dir = std::env::temp_dir().join(format!("cg-config-{}", random_hex(6)));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("c.toml");
    std::fs::write(
        &path,
        "bind = \"127.0.0.1:9999\"\nhello_timeout = \"3s\"\ncommand_rate = 5\n",
    )
    .unwrap();
    let args = ServeArgs {
        config: Some(path.clone()),
        command_rate: Some(7),
        ..ServeArgs::default()
    };
    let c = Config::resolve(args).unwrap();
    assert_eq!(c.bind.port(), 9999);
    assert_eq!(c.hello_timeout, Duration::from_secs(3));
    assert_eq!(c.command_rate, 7);
    std::fs::write(&path, "nope = 1\n").unwrap();
    let args = ServeArgs {
        config: Some(path),
        ..ServeArgs::default()
    };
    assert!(matches!(
        Config::resolve(args),
        Err(ConfigError::File { .. })
    ));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_word_list_comes_from_a_file_named_by_flag_or_config_file() {
    let dir = std::env::temp_dir().join(format!("cg-words-{}", random_hex(6)));
    std::fs::create_dir_all(&dir).unwrap();
    let words = dir.join("words.txt");
    std::fs::write(&words, "# flagged for review\nIdiot\n\ngo home\n").unwrap();
    let c = Config::resolve(ServeArgs {
        word_list: Some(words.clone()),
        ..ServeArgs::default()
    })
    .unwrap();
    assert_eq!(c.word_list.entries(), ["idiot", "go home"]);
    let conf = dir.join("c.toml");
    std::fs::write(
        &conf,
        format!("word_list = {:?}\n", words.display().to_string()),
    )
    .unwrap();
    let c = Config::resolve(ServeArgs {
        config: Some(conf),
        ..ServeArgs::default()
    })
    .unwrap();
    assert_eq!(c.word_list.len(), 2);
    assert!(Config::resolve(ServeArgs::default())
        .unwrap()
        .word_list
        .is_empty());
    let err = Config::resolve(ServeArgs {
        word_list: Some(dir.join("missing.txt")),
        ..ServeArgs::default()
    })
    .unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::Invalid {
                key: "word_list",
                ..
            }
        ),
        "{err}"
    );
    let big = dir.join("big.txt");
    std::fs::write(&big, "x\n".repeat(MAX_WORD_LIST_BYTES as usize)).unwrap();
    let err = Config::resolve(ServeArgs {
        word_list: Some(big),
        ..ServeArgs::default()
    })
    .unwrap_err();
    assert!(err.to_string().contains("word_list"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn organizer_keys_need_128_bits_and_the_new_limits_have_defaults() {
    let c = Config::resolve(ServeArgs::default()).unwrap();
    assert!(
        organizer_key_strong(&c.organizer_key),
        "generated keys pass"
    );
    assert_eq!((c.key_failures_per_minute, c.max_events), (10, 10_000));
    assert_eq!(c.joins_per_minute, 30);
    for (key, ok) in [
        ("0123456789abcdef0123456789abcdef", true),
        ("AbC-_0123456789xyzXYZ0", true),
        ("AbC-_0123456789xyzXYZ", false),
        ("0123456789abcdef 0123456789abcdef", false),
        ("0123456789abcdef+0123456789abcdef", false),
    ] {
        assert_eq!(organizer_key_strong(key), ok, "{key}");
        let args = ServeArgs {
            organizer_key: Some(key.into()),
            ..ServeArgs::default()
        };
        let err = Config::resolve(args).err();
        assert_eq!(err.is_none(), ok, "{key}: {err:?}");
    }
    let zero = ServeArgs {
        max_events: Some(0),
        ..ServeArgs::default()
    };
    assert!(Config::resolve(zero).is_err());
}

#[test]
fn durations_parse() {
    assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
    assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
    assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
    assert!(parse_duration("ten").is_err());
    assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86_400)));
    assert!(parse_duration("5w").is_err());
}

#[test]
fn the_reconnect_grace_defaults_to_30s_and_comes_from_a_flag_or_the_file() {
    let c = Config::resolve(ServeArgs::default()).unwrap();
    assert_eq!(c.reconnect_grace, Duration::from_secs(30));
    let args = ServeArgs {
        reconnect_grace: Some(Duration::ZERO),
        ..ServeArgs::default()
    };
    assert_eq!(
        Config::resolve(args).unwrap().reconnect_grace,
        Duration::ZERO,
        "0s leaves at once"
    );
    let dir = std::env::temp_dir().join(format!("cg-config-{}", random_hex(6)));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("c.toml");
    std::fs::write(&path, "reconnect_grace = \"5s\"\n").unwrap();
    let args = ServeArgs {
        config: Some(path.clone()),
        ..ServeArgs::default()
    };
    assert_eq!(
        Config::resolve(args).unwrap().reconnect_grace,
        Duration::from_secs(5)
    );
    std::fs::write(&path, "reconnect_grace = \"soon\"\n").unwrap();
    let args = ServeArgs {
        config: Some(path),
        ..ServeArgs::default()
    };
    match Config::resolve(args) {
        Err(e) => assert!(e.to_string().contains("reconnect_grace"), "{e}"),
        Ok(_) => panic!("a bad grace was accepted"),
    }
    let _ = std::fs::remove_dir_all(dir);
}
