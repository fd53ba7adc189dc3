//! Loader tests: whole files in, diagnostics (line, column, message) or protocols out.
//!
//! Duration syntax has its own unit tests in `duration.rs`.

use std::path::Path;

use super::{default_dir, parse, Library};
use crate::protocol::{PhaseKind, ReflectBackSpec};

/// Diagnostics as `line:column: message`.
fn errs(text: &str) -> Vec<String> {
    match parse(Path::new("p.toml"), text) {
        Ok(p) => panic!("expected diagnostics, parsed {}", p.name),
        Err(d) => d
            .iter()
            .map(|d| format!("{}:{}: {}", d.line, d.column, d.message))
            .collect(),
    }
}

/// Positions only, for tests where the wording is checked elsewhere.
fn positions(text: &str) -> Vec<(usize, usize)> {
    parse(Path::new("p.toml"), text)
        .unwrap_err()
        .iter()
        .map(|d| (d.line, d.column))
        .collect()
}

const HEAD: &str = "title = \"T\"\n";

fn round(extra: &str) -> String {
    format!(
        "{HEAD}[[phase]]\nid = \"r\"\nkind = \"round\"\nprompt = \"Why?\"\nturn = \"2m\"\n{extra}"
    )
}

#[test]
fn parses_a_full_round() {
    let p = parse(
        Path::new("dir/my-proto.toml"),
        &round("think = 60\npause_between = \"5s\"\npass_for_now = true\nreflect_back = { turn = \"1m\" }\n"),
    )
    .unwrap();
    assert_eq!(p.name, "my-proto");
    assert_eq!(p.phases[0].title, "Go-round");
    let PhaseKind::Round(r) = &p.phases[0].kind else {
        panic!("not a round")
    };
    assert_eq!(
        (r.turn_ms, r.think_ms, r.pause_between_ms),
        (120_000, 60_000, 5_000)
    );
    assert!(r.allow_pass && r.allow_pass_for_now && !r.second_chance);
    assert_eq!(
        r.reflect_back,
        Some(ReflectBackSpec {
            reflect_ms: 60_000,
            clarify_ms: 30_000,
            max_attempts: 2,
            confirm_ms: 20_000
        })
    );
}

#[test]
fn unknown_phase_kind() {
    assert_eq!(
        errs(&format!("{HEAD}[[phase]]\nid = \"x\"\nkind = \"debate\"\n")),
        ["4:8: unknown phase kind `debate`; expected one of presentation, round, queue, fishbowl, curiosity, reflection, breakout, qa, poll"]
    );
}

#[test]
fn zero_negative_and_garbage_durations() {
    let text = format!(
        "{HEAD}[[phase]]\nid = \"a\"\nkind = \"presentation\"\nduration = 0\n\
         [[phase]]\nid = \"b\"\nkind = \"presentation\"\nduration = -30\n\
         [[phase]]\nid = \"c\"\nkind = \"presentation\"\nduration = \"soon\"\n\
         [[phase]]\nid = \"d\"\nkind = \"presentation\"\nduration = \"0m\"\n"
    );
    assert_eq!(
        errs(&text),
        [
            "5:12: `duration` must be longer than zero",
            "9:12: `duration` is negative (-30); durations must be positive",
            "13:12: `duration`: \"soon\" is not a duration; write e.g. \"90s\", \"2m\", \"1m30s\" or \"1h15m\"",
            "17:12: `duration` must be longer than zero",
        ]
    );
}

#[test]
fn warning_longer_than_its_turn() {
    assert_eq!(
        errs(&round("warn_before = \"2m\"\n")),
        ["6:8: warn_before is 2m but `turn` is only 2m; the warning must come before the end, so shorten warn_before for this phase (0 turns it off)"]
    );
    // A warning from [defaults] names its source and points at the shorter duration.
    let text = round("reflect_back = { turn = \"20s\" }\n").replacen(
        HEAD,
        &format!("{HEAD}[defaults]\nwarn_before = \"30s\"\n"),
        1,
    );
    let e = errs(&text);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with(
            "9:25: warn_before (from [defaults]) is 30s but `reflect_back.turn` is only 20s"
        ),
        "{e:?}"
    );
}

#[test]
fn reflect_back_on_a_phase_without_turns() {
    assert_eq!(
        errs(&format!(
            "{HEAD}[[phase]]\nid = \"t\"\nkind = \"reflection\"\nduration = \"2m\"\nnotes = \"none\"\nreflect_back = {{ turn = \"1m\" }}\n"
        )),
        ["7:16: `reflect_back` only applies to round and queue phases, not to a reflection phase"]
    );
}

#[test]
fn unknown_ordering_and_order() {
    let text = format!(
        "{HEAD}[[phase]]\nid = \"q\"\nkind = \"queue\"\nprompt = \"Go\"\nordering = \"loudest\"\n{}",
        round("order = \"alphabetical\"\n").trim_start_matches(HEAD)
    );
    assert_eq!(
        errs(&text),
        [
            "6:12: unknown ordering `loudest`; expected one of fifo, alternate_communities, alternate_stance, progressive, moderator",
            "12:9: unknown order `alphabetical`; expected one of join, random, alternate_communities",
        ]
    );
}

#[test]
fn duplicate_phase_id() {
    let text = format!("{}{}", round(""), round("").trim_start_matches(HEAD));
    assert_eq!(
        errs(&text),
        ["8:6: phase id `r` is already used by phase 1"]
    );
}

#[test]
fn missing_prompt_where_required() {
    let text = format!(
        "{HEAD}[[phase]]\nid = \"r\"\nkind = \"round\"\nturn = \"2m\"\n\
         [[phase]]\nid = \"q\"\nkind = \"queue\"\n\
         [[phase]]\nid = \"c\"\nkind = \"curiosity\"\nduration = \"10m\"\nquestion_turn = \"30s\"\nanswer_turn = \"1m\"\n\
         [[phase]]\nid = \"f\"\nkind = \"fishbowl\"\nswap_after = \"10m\"\nturn = \"2m\"\n\
         [[phase]]\nid = \"n\"\nkind = \"reflection\"\nduration = \"2m\"\n\
         [[phase]]\nid = \"p\"\nkind = \"poll\"\nchoices = [\"yes\", \"no\"]\n\
         [[phase]]\nid = \"s\"\nkind = \"reflection\"\nduration = \"2m\"\nnotes = \"none\"\n\
         [[phase]]\nid = \"talk\"\nkind = \"presentation\"\nduration = \"2m\"\n\
         [[phase]]\nid = \"ask\"\nkind = \"qa\"\nanswer_turn = \"2m\"\n"
    );
    let e = errs(&text);
    assert_eq!(
        e,
        [
            "4:8: the round phase `r` needs `prompt` (the question or instruction people answer)",
            "8:8: the queue phase `q` needs `prompt` (the question or instruction people answer)",
            "11:8: the curiosity phase `c` needs `prompt` (the question or instruction people answer)",
            "17:8: the fishbowl phase `f` needs `prompt` (the question or instruction people answer)",
            "22:8: the reflection phase `n` needs `prompt` (what people write about; or set notes = \"none\" for a silent think timer)",
            "26:8: the poll phase `p` needs `question` (the question people vote on)",
        ]
    );
}

#[test]
fn unknown_keys_at_top_level_and_in_a_phase() {
    assert_eq!(
        errs("title = \"T\"\ncolour = \"blue\"\n"),
        ["2:1: unknown key `colour`, expected one of `name`, `title`, `description`, `group_size`, `defaults`, `phase`"]
    );
    assert_eq!(
        errs(&round("turn_length = \"2m\"\n")),
        ["7:1: unknown key `turn_length`; see docs/protocol-files.md for the keys each phase kind accepts"]
    );
    // A known key on the wrong kind is a semantic error, reported with the others.
    assert_eq!(
        errs(&round("duration = \"5m\"\n")),
        ["7:12: `duration` does not apply to a round phase"]
    );
    assert_eq!(
        errs(&round(
            "reflect_back = { turn = \"1m\", listen = \"1m\" }\n"
        )),
        ["7:31: unknown key `listen`, expected one of `turn`, `clarify`, `attempts`, `confirm`"]
    );
}

#[test]
fn empty_phase_list() {
    assert_eq!(
        errs(HEAD),
        ["1:1: the protocol has no phases; add at least one [[phase]] table"]
    );
}

#[test]
fn alternate_stance_without_stances() {
    let q = |extra: &str| {
        format!("{HEAD}[[phase]]\nid = \"q\"\nkind = \"queue\"\nprompt = \"Go\"\nordering = \"alternate_stance\"\n{extra}")
    };
    assert_eq!(
        errs(&q("")),
        ["4:8: the queue phase `q` needs `stances` (at least two lanes, e.g. [\"pro\", \"con\", \"question\"], for ordering = \"alternate_stance\")"]
    );
    assert_eq!(
        errs(&q("stances = [\"pro\"]\n")),
        ["7:11: `stances` needs at least 2 entries, found 1"]
    );
    assert_eq!(
        errs(&q("stances = [\"pro\", \"Pro\"]\n")),
        ["7:19: `stances` lists \"Pro\" twice"]
    );
}

#[test]
fn qa_moderated_flag() {
    let qa = |extra: &str| {
        let text =
            format!("{HEAD}[[phase]]\nid = \"q\"\nkind = \"qa\"\nanswer_turn = \"2m\"\n{extra}");
        match parse(Path::new("p.toml"), &text).map(|p| p.phases[0].kind.clone()) {
            Ok(PhaseKind::Qa(s)) => s.moderated,
            other => panic!("{other:?}"),
        }
    };
    assert!(!qa(""));
    assert!(qa("moderated = true\n"));
}

/// `show_results`: 30 s by default on an `at_close` poll, `0s` allowed (no hold), nothing on a
/// live poll, where setting it is an error.
#[test]
fn poll_show_results() {
    let poll = |extra: &str| {
        format!("{HEAD}[[phase]]\nid = \"p\"\nkind = \"poll\"\nquestion = \"Q?\"\nchoices = [\"yes\", \"no\"]\n{extra}")
    };
    let held = |extra: &str| match parse(Path::new("p.toml"), &poll(extra)) {
        Ok(p) => match &p.phases[0].kind {
            PhaseKind::Poll(s) => (s.show_results_ms, s.held_ms()),
            k => panic!("not a poll: {k:?}"),
        },
        Err(d) => panic!("{d:?}"),
    };
    assert_eq!(held(""), (30_000, 30_000));
    assert_eq!(held("show_results = \"1m\"\n"), (60_000, 60_000));
    assert_eq!(held("show_results = \"0s\"\n"), (0, 0));
    assert_eq!(held("reveal = \"live\"\n").1, 0);
    assert_eq!(
        errs(&poll("reveal = \"live\"\nshow_results = \"10s\"\n")),
        ["8:16: `show_results` applies to `reveal = \"at_close\"` only: a live poll shows its results all along and moves on when it closes"]
    );
}

#[test]
fn bad_poll_pairing() {
    let poll = |id: &str, choices: &str, extra: &str| {
        format!("[[phase]]\nid = \"{id}\"\nkind = \"poll\"\nquestion = \"Q?\"\nchoices = {choices}\n{extra}")
    };
    let text = format!(
        "{HEAD}{}{}{}",
        poll("before", "[\"yes\", \"no\"]", "pairs_with = \"after\"\n"),
        poll("after", "[\"no\", \"yes\"]", "pairs_with = \"before\"\n"),
        poll("again", "[\"yes\", \"yes\"]", "")
    );
    assert_eq!(
        errs(&text),
        [
            "7:14: `pairs_with` must name an earlier poll phase; `after` is not one",
            "13:14: poll `before` has different choices (yes, no); a paired poll repeats the same choices in the same order",
            "18:19: `choices` lists \"yes\" twice",
        ]
    );
}

#[test]
fn group_sizes_and_breakouts_are_sane() {
    let text = "title = \"T\"\ngroup_size = { min = 8, max = 4 }\n[[phase]]\nid = \"b\"\nkind = \"breakout\"\n\
         duration = \"10m\"\ngroup_size = 4\nmin_group_size = 5\nprotocol = \"Small Group\"\nclosing_countdown = \"10m\"\n";
    assert_eq!(
        errs(text),
        [
            "2:14: group_size.min (8) is larger than group_size.max (4)",
            "8:18: `min_group_size` (5) is larger than `group_size` (4)",
            "9:12: breakout protocol name `Small Group` must use lowercase letters, digits and dashes (e.g. `living-room`)",
            "10:21: `closing_countdown` (10m) must be shorter than `duration` (10m)",
        ]
    );
}

#[test]
fn fishbowl_needs_a_round() {
    let text = format!(
        "{HEAD}[[phase]]\nid = \"f\"\nkind = \"fishbowl\"\nprompt = \"Why?\"\nswap_after = \"10m\"\nturn = \"2m\"\nrounds = 0\n"
    );
    assert_eq!(
        errs(&text),
        ["8:10: `rounds` must be between 1 and 10000, not 0"]
    );
}

#[test]
fn several_problems_are_all_reported() {
    let text = "name = \"Bad Name\"\ntitle = \"\"\n\
                [[phase]]\nid = \"r\"\nkind = \"round\"\nturn = \"0s\"\norder = \"loud\"\n\
                [[phase]]\nid = \"r\"\nkind = \"chat\"\n\
                [[phase]]\nkind = \"presentation\"\n";
    assert_eq!(
        positions(text),
        [
            (1, 8),
            (2, 9),
            (5, 8),
            (6, 8),
            (7, 9),
            (9, 6),
            (10, 8),
            (11, 1),
            (12, 8)
        ]
    );
    assert_eq!(errs(text).len(), 9);
}

#[test]
fn toml_syntax_errors_have_one_located_diagnostic() {
    assert_eq!(errs("title = \"T\"\n[[phase]\n").len(), 1);
    assert_eq!(positions("title = \"T\"\nx = [1,\n")[0].0, 2);
    assert_eq!(
        errs("title = 5\n"),
        ["1:9: invalid type: integer `5`, expected a string"]
    );
}

#[test]
fn columns_count_characters_not_bytes() {
    let text = "title = \"Café\"\n[[phase]]\nid = \"ü\"\nkind = \"poll\"\n";
    assert_eq!(positions(text)[0], (3, 6));
}

#[test]
fn truncations_of_a_valid_file_never_panic() {
    let full = std::fs::read_to_string(default_dir().join("joint-town-hall.toml")).unwrap();
    assert!(parse(Path::new("joint-town-hall.toml"), &full).is_ok());
    for cut in (0..=full.len()).filter(|i| full.is_char_boundary(*i)) {
        let res = parse(Path::new("joint-town-hall.toml"), &full[..cut]);
        if let Err(d) = res {
            assert!(!d.is_empty());
            assert!(d.iter().all(|d| d.line >= 1 && d.column >= 1));
        }
    }
    // Byte soup built from the file's own lines, shuffled.
    let lines: Vec<&str> = full.lines().collect();
    for step in 1..lines.len() {
        let mixed: String = (0..lines.len())
            .map(|i| lines[(i * step) % lines.len()])
            .collect::<Vec<_>>()
            .join("\n");
        let _ = parse(Path::new("x.toml"), &mixed);
    }
}

#[test]
fn library_checks_names_and_breakout_references() {
    let main = "title = \"Main\"\n[[phase]]\nid = \"groups\"\nkind = \"breakout\"\nduration = \"10m\"\ngroup_size = 4\nprotocol = \"sub\"\n";
    let sub_ok =
        "title = \"Sub\"\n[[phase]]\nid = \"t\"\nkind = \"presentation\"\nduration = \"1m\"\n";
    let lib = Library::from_texts([
        (Path::new("main.toml"), main),
        (Path::new("sub.toml"), sub_ok),
    ])
    .unwrap();
    assert_eq!(lib.names(), ["main", "sub"]);
    assert_eq!(lib.len(), 2);
    assert!(lib.get("sub").is_some());

    let missing = Library::from_texts([(Path::new("main.toml"), main)])
        .unwrap_err()
        .to_string();
    assert_eq!(
        missing,
        "main.toml:7:12: breakout protocol `sub` is not in the library (known: main)"
    );

    let nested = main.replace("protocol = \"sub\"", "protocol = \"main\"");
    let e = Library::from_texts([(Path::new("main.toml"), nested.as_str())])
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("main.toml:7:12: breakout protocol `main` has a breakout phase itself"),
        "{e}"
    );

    let dup = format!("name = \"sub\"\n{sub_ok}");
    let e = Library::from_texts([
        (Path::new("a.toml"), dup.as_str()),
        (Path::new("sub.toml"), sub_ok),
    ])
    .unwrap_err()
    .to_string();
    assert_eq!(
        e,
        "sub.toml:1:1: protocol name `sub` is already used by a.toml"
    );
}

#[test]
fn shipped_protocols_load() {
    let lib = Library::load_dir(&default_dir()).unwrap();
    assert!(lib.len() >= 8);
    assert!(lib.get("joint-town-hall").is_some());
}

fn queue(extra: &str) -> String {
    format!("{HEAD}[[phase]]\nid = \"q\"\nkind = \"queue\"\nprompt = \"Why?\"\n{extra}")
}

#[test]
fn nudges_and_move_on_votes_on_a_queue() {
    let p = parse(
        Path::new("p.toml"),
        &queue(
            "nudge_after = \"5m\"\nmove_on = { threshold = 60, offer_after_silence = \"1m\" }\n",
        ),
    )
    .unwrap();
    let PhaseKind::Queue(q) = &p.phases[0].kind else {
        panic!("not a queue")
    };
    assert_eq!(q.nudge_after_ms, Some(300_000));
    assert_eq!(
        q.move_on,
        Some(crate::protocol::MoveOnSpec {
            threshold_pct: 60,
            offer_after_silence_ms: Some(60_000)
        })
    );
    assert_eq!(
        errs(&queue("move_on = { threshold = 120 }\n")),
        ["6:25: `move_on.threshold` is a percentage from 1 to 100, not 120"]
    );
    assert_eq!(
        errs(&queue("move_on = { offer_after_silence = \"1m\" }\n")),
        ["6:11: `move_on` needs `threshold`, the percentage of participants whose votes end the phase (e.g. 60)"]
    );
    assert_eq!(positions(&queue("nudge_after = 0\n")), [(6, 15)]);
    assert_eq!(
        positions(&round("nudge_after = \"1m\"\n")),
        [(7, 15)],
        "only queues nudge"
    );
}
