//! Fairness figures computed from the ledger: who spoke how long, per person and per community,
//! and the Gini coefficient of speaking time.
//!
//! The Gini is taken over the whole roster of participants, silent ones included as zero (a
//! known pitfall is to leave them out). It uses the pairwise form
//! `G = sum_i sum_j |x_i - x_j| / (2 n^2 mean)` and splits the sum exactly into pairs within
//! one community and pairs across communities, so `within + between == gini`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::engine::ledger::Ledger;
use crate::engine::member::{MemberId, Roster};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersonFigures {
    pub member: MemberId,
    pub name: String,
    pub community: Option<String>,
    pub speaking_ms: u64,
    pub reflect_ms: u64,
    pub turns: u32,
    pub passes: u32,
    pub queue_wait_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommunityFigures {
    pub community: String,
    pub members: u32,
    pub speaking_ms: u64,
    pub reflect_ms: u64,
    pub turns: u32,
    /// Share of all own-view speaking time, 0..=1.
    pub share: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Equity {
    pub people: Vec<PersonFigures>,
    pub communities: Vec<CommunityFigures>,
    pub total_speaking_ms: u64,
    pub total_reflect_ms: u64,
    pub gini: f64,
    pub gini_within: f64,
    pub gini_between: f64,
    /// Participants who have not had an own-view turn yet.
    pub not_spoken: Vec<MemberId>,
}

/// Label used for participants without a community.
pub const NO_COMMUNITY: &str = "(none)";

/// Equity figures for the roster's participants.
pub fn compute(roster: &Roster, ledger: &Ledger) -> Equity {
    let people: Vec<PersonFigures> = roster
        .participants()
        .into_iter()
        .map(|m| {
            let s = ledger.get(&m.id).cloned().unwrap_or_default();
            PersonFigures {
                member: m.id.clone(),
                name: m.name.clone(),
                community: m.community.clone(),
                speaking_ms: s.speaking_ms,
                reflect_ms: s.reflect_ms,
                turns: s.turns,
                passes: s.passes,
                queue_wait_ms: s.queue_wait_ms,
            }
        })
        .collect();
    let total_speaking_ms: u64 = people.iter().map(|p| p.speaking_ms).sum();
    let total_reflect_ms: u64 = people.iter().map(|p| p.reflect_ms).sum();

    let mut by_comm: BTreeMap<String, CommunityFigures> = BTreeMap::new();
    for p in &people {
        let name = p
            .community
            .clone()
            .unwrap_or_else(|| NO_COMMUNITY.to_string());
        let c = by_comm.entry(name.clone()).or_insert(CommunityFigures {
            community: name,
            members: 0,
            speaking_ms: 0,
            reflect_ms: 0,
            turns: 0,
            share: 0.0,
        });
        c.members += 1;
        c.speaking_ms += p.speaking_ms;
        c.reflect_ms += p.reflect_ms;
        c.turns += p.turns;
    }
    let mut communities: Vec<CommunityFigures> = by_comm.into_values().collect();
    for c in &mut communities {
        c.share = if total_speaking_ms == 0 {
            0.0
        } else {
            c.speaking_ms as f64 / total_speaking_ms as f64
        };
    }

    let values: Vec<(u64, Option<&str>)> = people
        .iter()
        .map(|p| (p.speaking_ms, p.community.as_deref()))
        .collect();
    let (gini, gini_within, gini_between) = gini_split(&values);
    let not_spoken = people
        .iter()
        .filter(|p| p.turns == 0)
        .map(|p| p.member.clone())
        .collect();
    Equity {
        people,
        communities,
        total_speaking_ms,
        total_reflect_ms,
        gini,
        gini_within,
        gini_between,
        not_spoken,
    }
}

/// Gini of `values`, 0 when everyone is equal (or nobody spoke), up to `(n-1)/n` when one
/// person did all the talking.
pub fn gini(values: &[u64]) -> f64 {
    let tagged: Vec<(u64, Option<&str>)> = values.iter().map(|v| (*v, None)).collect();
    gini_split(&tagged).0
}

/// `(total, within-group part, between-group part)` of the Gini over grouped values.
pub fn gini_split(values: &[(u64, Option<&str>)]) -> (f64, f64, f64) {
    let n = values.len();
    let sum: u64 = values.iter().map(|v| v.0).sum();
    if n == 0 || sum == 0 {
        return (0.0, 0.0, 0.0);
    }
    let mean = sum as f64 / n as f64;
    let denom = 2.0 * (n as f64) * (n as f64) * mean;
    let (mut within, mut between) = (0.0, 0.0);
    for (i, a) in values.iter().enumerate() {
        for b in &values[i + 1..] {
            // Each unordered pair appears twice in the double sum.
            let d = 2.0 * a.0.abs_diff(b.0) as f64;
            if a.1 == b.1 {
                within += d;
            } else {
                between += d;
            }
        }
    }
    ((within + between) / denom, within / denom, between / denom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_time_is_zero() {
        assert_eq!(gini(&[10, 10, 10, 10]), 0.0);
        assert_eq!(gini(&[]), 0.0);
        assert_eq!(gini(&[0, 0, 0]), 0.0);
    }

    #[test]
    fn one_speaker_reaches_the_maximum() {
        let g = gini(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 100]);
        assert!((g - 0.9).abs() < 1e-12, "{g}");
        assert!((gini(&[0, 7]) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn known_value() {
        // |1-2|+|1-3|+|2-3| = 4, doubled = 8; 2 * 9 * 2 = 36.
        assert!((gini(&[1, 2, 3]) - 8.0 / 36.0).abs() < 1e-12);
    }

    #[test]
    fn split_adds_up() {
        let v = [
            (5, Some("a")),
            (1, Some("a")),
            (9, Some("b")),
            (0, Some("b")),
            (3, None),
        ];
        let (g, w, b) = gini_split(&v);
        assert!((g - (w + b)).abs() < 1e-12);
        assert!(w > 0.0 && b > 0.0);
        // Two groups with equal members inside each: all inequality is between groups.
        let (_, w, b) = gini_split(&[
            (1, Some("a")),
            (1, Some("a")),
            (4, Some("b")),
            (4, Some("b")),
        ]);
        assert_eq!(w, 0.0);
        assert!(b > 0.0);
    }
}
