//! Fairness figures computed from the ledger: who spoke how long, per person and per community,
//! and the Gini coefficient of speaking time.
//!
//! The Gini is taken over the whole roster of participants, silent ones included as zero (a
//! known pitfall is to leave them out), in the pairwise form
//! `G = sum_i sum_j |x_i - x_j| / (2 n^2 mean)`. It is split by community the standard way
//! (Lambert and Aronson; Dagum): `within` is the communities' own Ginis weighted by their share
//! of people times their share of speaking time; `between` is the Gini of everyone's time
//! replaced by their community's mean, so it is zero when the communities spoke equally per
//! head; `overlap` is the rest (a quiet member of a loud community next to a loud member of a
//! quiet one). `within + between + overlap == gini`.

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
    /// Voiced time on the floor as the audio SFU measured it (RFC 6464 voice activity), so
    /// talking can be told from holding the floor in silence. The engine never hears audio:
    /// the room reports it as `Input::Voiced`, which the ledger accounts.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub voiced_ms: u64,
}

fn is_zero(ms: &u64) -> bool {
    *ms == 0
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
    /// Voiced floor time of the participants listed (see `PersonFigures::voiced_ms`).
    #[serde(default)]
    pub total_voiced_ms: u64,
    pub gini: f64,
    pub gini_within: f64,
    pub gini_between: f64,
    pub gini_overlap: f64,
    /// Participants who have not had an own-view turn yet.
    pub not_spoken: Vec<MemberId>,
}

/// Label used for participants without a community.
pub const NO_COMMUNITY: &str = "(none)";

/// Equity figures for the roster's participants.
pub fn compute(roster: &Roster, ledger: &Ledger) -> Equity {
    let people: Vec<PersonFigures> = roster
        .participants()
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
                voiced_ms: s.voiced_ms,
            }
        })
        .collect();
    let total_speaking_ms: u64 = people.iter().map(|p| p.speaking_ms).sum();
    let total_reflect_ms: u64 = people.iter().map(|p| p.reflect_ms).sum();
    let total_voiced_ms: u64 = people.iter().map(|p| p.voiced_ms).sum();

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
    let Split {
        gini,
        within: gini_within,
        between: gini_between,
        overlap: gini_overlap,
    } = gini_split(&values);
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
        total_voiced_ms,
        gini,
        gini_within,
        gini_between,
        gini_overlap,
        not_spoken,
    }
}

/// Gini of `values`, 0 when everyone is equal (or nobody spoke), up to `(n-1)/n` when one
/// person did all the talking.
pub fn gini(values: &[u64]) -> f64 {
    gini_f(&values.iter().map(|v| *v as f64).collect::<Vec<_>>())
}

/// The Gini and its decomposition by group.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Split {
    pub gini: f64,
    pub within: f64,
    pub between: f64,
    pub overlap: f64,
}

/// The pairwise Gini in its sorted form, `sum_i (2i - n - 1) x_(i) / (n sum x)`, which is the
/// same number in O(n log n): a hall of thousands is computed live.
fn gini_f(values: &[f64]) -> f64 {
    let n = values.len();
    let sum: f64 = values.iter().sum();
    if n == 0 || sum <= 0.0 {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let nf = n as f64;
    let weighted: f64 = sorted
        .iter()
        .enumerate()
        .map(|(i, x)| (2.0 * (i as f64 + 1.0) - nf - 1.0) * x)
        .sum();
    (weighted / (nf * sum)).max(0.0)
}

/// Splits the Gini of grouped values into within, between and overlap parts.
pub fn gini_split(values: &[(u64, Option<&str>)]) -> Split {
    let total = gini(&values.iter().map(|v| v.0).collect::<Vec<_>>());
    let n = values.len() as f64;
    let sum: f64 = values.iter().map(|v| v.0 as f64).sum();
    if total == 0.0 || sum == 0.0 {
        return Split {
            gini: total,
            within: 0.0,
            between: 0.0,
            overlap: 0.0,
        };
    }
    let mut groups: BTreeMap<Option<&str>, Vec<f64>> = BTreeMap::new();
    for (v, g) in values {
        groups.entry(*g).or_default().push(*v as f64);
    }
    let mut within = 0.0;
    for members in groups.values() {
        let s_g: f64 = members.iter().sum();
        within += (members.len() as f64 / n) * (s_g / sum) * gini_f(members);
    }
    let means: Vec<f64> = values
        .iter()
        .map(|(_, g)| {
            let m = &groups[g];
            m.iter().sum::<f64>() / m.len() as f64
        })
        .collect();
    let between = gini_f(&means);
    let overlap = (total - within - between).max(0.0);
    Split {
        gini: total,
        within,
        between,
        overlap,
    }
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
    fn sorted_form_equals_the_pairwise_definition() {
        let v = [3u64, 0, 17, 5, 5, 9, 0, 1];
        let n = v.len() as f64;
        let sum: u64 = v.iter().sum();
        let pairwise: f64 = v
            .iter()
            .flat_map(|a| v.iter().map(move |b| a.abs_diff(*b) as f64))
            .sum();
        let expected = pairwise / (2.0 * n * n * (sum as f64 / n));
        assert!((gini(&v) - expected).abs() < 1e-12);
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
        let s = gini_split(&v);
        assert!(
            (s.gini - (s.within + s.between + s.overlap)).abs() < 1e-9,
            "{s:?}"
        );
        assert!(s.within > 0.0 && s.between > 0.0);
    }

    #[test]
    fn split_attributes_group_gaps_to_between_and_equal_groups_to_within() {
        // Equal inside each community, unequal across: all of it is between.
        let s = gini_split(&[
            (1, Some("a")),
            (1, Some("a")),
            (4, Some("b")),
            (4, Some("b")),
        ]);
        assert!(s.within.abs() < 1e-12 && s.overlap.abs() < 1e-9);
        assert!((s.between - s.gini).abs() < 1e-9);
        // Communities equal on average, people unequal: nothing between.
        let s = gini_split(&[
            (1, Some("a")),
            (5, Some("a")),
            (1, Some("b")),
            (5, Some("b")),
        ]);
        assert!(s.between.abs() < 1e-12);
        assert!(s.within > 0.0);
    }
}
