//! Durations as organizers write them: a string such as `"1m30s"`, or whole seconds.
//!
//! `RawDur` is what the file holds; `parse_duration_text` reads the string form. Range
//! checks (zero, the 24-hour cap) and the key-specific messages live in `validate`.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// A duration as written: a string such as `"1m30s"`, or whole seconds.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum RawDur {
    Text(String),
    Seconds(i64),
    Float(f64),
}

impl<'de> Deserialize<'de> for RawDur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<RawDur, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = RawDur;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"90s\", \"2m\" or \"1m30s\", or whole seconds")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawDur, E> {
                Ok(RawDur::Text(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawDur, E> {
                Ok(RawDur::Seconds(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawDur, E> {
                Ok(RawDur::Seconds(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawDur, E> {
                Ok(RawDur::Float(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// Parses `"1h15m"`, `"90s"`, `"1m30s"`, `"500ms"` into milliseconds. Units go from largest
/// to smallest, each at most once; spaces between parts are allowed.
pub(super) fn parse_duration_text(s: &str) -> Result<u64, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("a duration cannot be empty; write e.g. \"90s\", \"2m\" or \"1m30s\"".into());
    }
    if let Some(rest) = t.strip_prefix('-') {
        if rest.chars().next().is_some_and(|c| c.is_ascii_digit()) {
            return Err(format!(
                "duration \"{s}\" is negative; durations must be positive"
            ));
        }
    }
    let garbage =
        || format!("\"{s}\" is not a duration; write e.g. \"90s\", \"2m\", \"1m30s\" or \"1h15m\"");
    const UNITS: [(&str, u64); 4] = [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)];
    let mut total: u64 = 0;
    let mut last_unit = None;
    let mut rest = t;
    while !rest.is_empty() {
        rest = rest.trim_start();
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if digits == 0 {
            return Err(garbage());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| garbage())?;
        rest = &rest[digits..];
        let unit_len = rest.chars().take_while(char::is_ascii_alphabetic).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let Some(pos) = UNITS.iter().position(|(u, _)| *u == unit) else {
            return Err(if unit.is_empty() {
                format!("\"{s}\" needs a unit after each number (h, m, s or ms), e.g. \"90s\"")
            } else {
                format!("\"{s}\" has an unknown unit `{unit}`; use h, m, s or ms")
            });
        };
        if last_unit.is_some_and(|l| pos <= l) {
            return Err(format!(
                "\"{s}\" repeats a unit or puts a smaller unit first; write e.g. \"1h15m\""
            ));
        }
        last_unit = Some(pos);
        total = n
            .checked_mul(UNITS[pos].1)
            .and_then(|ms| total.checked_add(ms))
            .ok_or_else(|| format!("duration \"{s}\" is too long"))?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_organizer_forms() {
        for (s, ms) in [
            ("90s", 90_000),
            ("2m", 120_000),
            ("1m30s", 90_000),
            ("1h", 3_600_000),
            ("1h15m", 4_500_000),
            ("1m 30s", 90_000),
            ("500ms", 500),
        ] {
            assert_eq!(parse_duration_text(s), Ok(ms), "{s}");
        }
        for s in [
            "",
            "2",
            "m",
            "2x",
            "30s1m",
            "1m1m",
            "-5s",
            "1.5m",
            "two minutes",
        ] {
            assert!(parse_duration_text(s).is_err(), "{s}");
        }
    }
}
