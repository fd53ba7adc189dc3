//! Synthetic participants for rehearsals: behaviour models as data, and the crowd to simulate.
//!
//! A model is a handful of probabilities and fractions, written in TOML so organizers can
//! describe their own crowd. Every draw comes from the engine's seeded RNG type, so a seed
//! gives the same rehearsal every time.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// How one kind of participant behaves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Model {
    /// Chance of raising a hand at each opportunity (phase start, every decision tick).
    pub raise: f64,
    /// Chance of raising again right after one's own turn ends.
    pub requeue: f64,
    /// Share of a capped turn actually used, drawn uniformly between the two values.
    pub turn_use: (f64, f64),
    /// Seconds spoken when a turn has no cap.
    pub uncapped_seconds: (f64, f64),
    /// Chance of passing when a go-round reaches them.
    pub pass: f64,
    /// Chance of confirming a reflect-back of one's words on the first attempt.
    pub confirm: f64,
    /// Chance of raising a hand after a nudge (on queue phases with `nudge_after`).
    pub nudge_response: f64,
    /// Chance of asking a question in a Q&A phase, and of voting in a poll.
    pub ask: f64,
}

impl Model {
    pub fn talkative() -> Model {
        Model {
            raise: 1.0,
            requeue: 1.0,
            turn_use: (0.95, 1.0),
            uncapped_seconds: (180.0, 300.0),
            pass: 0.0,
            confirm: 0.6,
            nudge_response: 1.0,
            ask: 0.9,
        }
    }

    pub fn average() -> Model {
        Model {
            raise: 0.35,
            requeue: 0.2,
            turn_use: (0.5, 0.9),
            uncapped_seconds: (60.0, 120.0),
            pass: 0.1,
            confirm: 0.8,
            nudge_response: 0.5,
            ask: 0.4,
        }
    }

    pub fn quiet() -> Model {
        Model {
            raise: 0.08,
            requeue: 0.0,
            turn_use: (0.2, 0.5),
            uncapped_seconds: (20.0, 45.0),
            pass: 0.35,
            confirm: 0.9,
            nudge_response: 0.2,
            ask: 0.1,
        }
    }

    /// Quiet until invited: rarely raises a hand, but answers a nudge.
    pub fn nudgeable() -> Model {
        Model {
            nudge_response: 0.9,
            ..Model::quiet()
        }
    }
}

/// The named models a crowd draws from; `talkative`, `average`, `quiet`, `nudgeable` by
/// default, overridable from a TOML file of tables with the same keys.
#[derive(Debug, Clone, PartialEq)]
pub struct Models(pub BTreeMap<String, Model>);

impl Default for Models {
    fn default() -> Models {
        let mut m = BTreeMap::new();
        m.insert("talkative".to_string(), Model::talkative());
        m.insert("average".to_string(), Model::average());
        m.insert("quiet".to_string(), Model::quiet());
        m.insert("nudgeable".to_string(), Model::nudgeable());
        Models(m)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CrowdError {
    #[error("models file: {0}")]
    Models(String),
    #[error("--communities: {0}")]
    Communities(String),
    #[error("{0}")]
    Invalid(String),
    /// The caller gave up (an HTTP client went away); checked between runs.
    #[error("the rehearsal was cancelled")]
    Cancelled,
}

/// The most people a rehearsal simulates (one room).
pub const MAX_CROWD: usize = 500;

impl Models {
    /// Defaults, overridden or extended by the tables in `text`.
    pub fn with_overrides(text: &str) -> Result<Models, CrowdError> {
        let parsed: BTreeMap<String, Model> =
            toml::from_str(text).map_err(|e| CrowdError::Models(e.to_string()))?;
        let mut models = Models::default();
        for (name, m) in parsed {
            for (label, p) in [
                ("raise", m.raise),
                ("requeue", m.requeue),
                ("pass", m.pass),
                ("confirm", m.confirm),
                ("ask", m.ask),
            ] {
                if !(0.0..=1.0).contains(&p) {
                    return Err(CrowdError::Models(format!(
                        "{name}.{label} must be between 0 and 1"
                    )));
                }
            }
            if m.turn_use.0 > m.turn_use.1 || m.turn_use.0 < 0.0 || m.turn_use.1 > 1.0 {
                return Err(CrowdError::Models(format!(
                    "{name}.turn_use must be [low, high] within 0..1"
                )));
            }
            models.0.insert(name, m);
        }
        Ok(models)
    }
}

/// One synthetic participant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Persona {
    pub name: String,
    pub community: String,
    pub model: String,
}

/// Who takes part in a rehearsal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crowd {
    pub people: Vec<Persona>,
}

impl fmt::Display for Crowd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut by_model: BTreeMap<&str, usize> = BTreeMap::new();
        let mut by_comm: BTreeMap<&str, usize> = BTreeMap::new();
        for p in &self.people {
            *by_model.entry(&p.model).or_default() += 1;
            *by_comm.entry(&p.community).or_default() += 1;
        }
        let models: Vec<String> = by_model.iter().map(|(k, v)| format!("{v} {k}")).collect();
        let comms: Vec<String> = by_comm.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        write!(
            f,
            "{} participants ({}), {}",
            self.people.len(),
            comms.join(", "),
            models.join(", ")
        )
    }
}

/// Parses `A:n,B:m`. Names may contain commas ("Dayton, OH:4,Boulder, CO:5"): a piece
/// belongs to the next count that follows it.
pub fn parse_communities(spec: &str) -> Result<Vec<(String, usize)>, CrowdError> {
    let ends_with_count = |s: &str| {
        s.rsplit_once(':').is_some_and(|(_, n)| {
            !n.trim().is_empty() && n.trim().chars().all(|c| c.is_ascii_digit())
        })
    };
    let mut parts: Vec<String> = Vec::new();
    let mut pending = String::new();
    for piece in spec.split(',') {
        if !pending.is_empty() {
            pending.push(',');
        }
        pending.push_str(piece);
        if ends_with_count(&pending) {
            parts.push(std::mem::take(&mut pending));
        }
    }
    if !pending.trim().is_empty() {
        parts.push(pending);
    }
    let mut out = Vec::new();
    for part in parts.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        let (name, n) = part
            .rsplit_once(':')
            .ok_or_else(|| CrowdError::Communities(format!("{part:?} is not NAME:COUNT")))?;
        let n: usize = n
            .trim()
            .parse()
            .map_err(|_| CrowdError::Communities(format!("{n:?} is not a count")))?;
        // Refused, never wrapped: a huge count must not sum around to a small crowd.
        if n > MAX_CROWD {
            return Err(CrowdError::Communities(format!(
                "{n} is more than the {MAX_CROWD} people a rehearsal simulates"
            )));
        }
        if name.trim().is_empty() {
            return Err(CrowdError::Communities("a community needs a name".into()));
        }
        out.push((name.trim().to_string(), n));
    }
    if out.is_empty() {
        return Err(CrowdError::Communities(
            "name at least one community".into(),
        ));
    }
    Ok(out)
}

impl Crowd {
    /// Builds a crowd of `communities` (name, size), with `talkative` talkative members and
    /// `quiet` quiet ones, spread across communities round-robin (talkative first from the
    /// first community), everyone else average.
    pub fn build(
        communities: &[(String, usize)],
        talkative: usize,
        quiet: usize,
    ) -> Result<Crowd, CrowdError> {
        let total = communities
            .iter()
            .try_fold(0usize, |t, c| t.checked_add(c.1))
            .unwrap_or(usize::MAX);
        if total == 0 {
            return Err(CrowdError::Invalid(
                "a rehearsal needs at least one participant".into(),
            ));
        }
        if total > MAX_CROWD {
            return Err(CrowdError::Invalid(format!(
                "rehearsals simulate one room of at most {MAX_CROWD} people"
            )));
        }
        if talkative.saturating_add(quiet) > total {
            return Err(CrowdError::Invalid(format!(
                "{talkative} talkative + {quiet} quiet is more than the {total} participants"
            )));
        }
        // Interleave communities so the special models spread across them.
        let mut slots: Vec<String> = Vec::with_capacity(total);
        let mut left: Vec<usize> = communities.iter().map(|c| c.1).collect();
        while slots.len() < total {
            for (i, c) in communities.iter().enumerate() {
                if left[i] > 0 {
                    left[i] -= 1;
                    slots.push(c.0.clone());
                }
            }
        }
        let people = slots
            .into_iter()
            .enumerate()
            .map(|(i, community)| {
                let model = if i < talkative {
                    "talkative"
                } else if i >= total - quiet {
                    "quiet"
                } else {
                    "average"
                };
                Persona {
                    name: format!("p{}", i + 1),
                    community,
                    model: model.to_string(),
                }
            })
            .collect();
        Ok(Crowd { people })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crowd_spreads_models_and_communities() {
        let comms = parse_communities("Dayton:4, Boulder:4").unwrap();
        let c = Crowd::build(&comms, 2, 2).unwrap();
        assert_eq!(c.people.len(), 8);
        let talk: Vec<&str> = c
            .people
            .iter()
            .filter(|p| p.model == "talkative")
            .map(|p| p.community.as_str())
            .collect();
        assert_eq!(talk, ["Dayton", "Boulder"]);
        assert_eq!(c.people.iter().filter(|p| p.model == "quiet").count(), 2);
        assert_eq!(
            c.to_string(),
            "8 participants (Boulder: 4, Dayton: 4), 4 average, 2 quiet, 2 talkative"
        );
    }

    #[test]
    fn community_names_may_contain_commas() {
        let c = parse_communities("Dayton, OH:4,Boulder, CO:5").unwrap();
        assert_eq!(
            c,
            vec![
                ("Dayton, OH".to_string(), 4),
                ("Boulder, CO".to_string(), 5)
            ]
        );
    }

    #[test]
    fn bad_specs_are_refused_clearly() {
        assert!(parse_communities("Dayton").is_err());
        assert!(parse_communities("Dayton:x").is_err());
        assert!(parse_communities("").is_err());
        let comms = parse_communities("A:2").unwrap();
        assert!(Crowd::build(&comms, 2, 1).is_err());
        assert!(Models::with_overrides("[loud]\nraise = 2.0\nrequeue = 0.0\nturn_use = [0.1, 0.2]\nuncapped_seconds = [1.0, 2.0]\npass = 0.0\nconfirm = 1.0\nnudge_response = 0.0\nask = 0.0\n").is_err());
        assert!(
            Models::with_overrides("[loud]\nraise = 0.5\n").is_err(),
            "every key is required"
        );
    }
}
