//! Breakout group assignment: small groups mixed across communities, deterministic per seed.
//!
//! Members are dealt round-robin from per-community piles (largest community first, each
//! pile shuffled), so every group gets as even a mix as the numbers allow; with groups of two
//! and two equal communities, every pair is cross-community. The number of groups is chosen so
//! no group is smaller than the minimum (fewer people than one group make one group). A
//! reshuffle tries several seeded deals and keeps the one that repeats the fewest pairs from
//! the previous assignment, so people meet someone new.

use std::collections::{BTreeMap, BTreeSet};

use crate::engine::member::MemberId;
use crate::engine::rng::Rng;

/// Deals tried when looking for new pairings.
const RESHUFFLE_TRIES: usize = 32;

/// How many groups `n` people make with a target size and a minimum size.
pub fn group_count(n: usize, size: usize, min: usize) -> usize {
    if n == 0 {
        return 0;
    }
    let size = size.max(1);
    let min = min.clamp(1, size);
    let mut g = n.div_ceil(size);
    while g > 1 && n / g < min {
        g -= 1;
    }
    g
}

/// Assigns `members` (id, community) to groups.
pub fn assign(
    members: &[(MemberId, Option<String>)],
    size: usize,
    min: usize,
    rng: &mut Rng,
) -> Vec<Vec<MemberId>> {
    let g = group_count(members.len(), size, min);
    if g == 0 {
        return Vec::new();
    }
    let mut piles: BTreeMap<Option<String>, Vec<MemberId>> = BTreeMap::new();
    for (id, c) in members {
        piles.entry(c.clone()).or_default().push(id.clone());
    }
    let mut piles: Vec<Vec<MemberId>> = piles.into_values().collect();
    for pile in &mut piles {
        rng.shuffle(pile);
    }
    // Largest community first; ties keep the (sorted) community order.
    piles.sort_by_key(|p| std::cmp::Reverse(p.len()));
    let mut groups: Vec<Vec<MemberId>> = vec![Vec::new(); g];
    for (i, id) in piles.into_iter().flatten().enumerate() {
        groups[i % g].push(id);
    }
    groups
}

/// Pairs of members who share a group.
fn pairs(groups: &[Vec<MemberId>]) -> BTreeSet<(MemberId, MemberId)> {
    let mut out = BTreeSet::new();
    for g in groups {
        for (i, a) in g.iter().enumerate() {
            for b in &g[i + 1..] {
                out.insert(if a < b {
                    (a.clone(), b.clone())
                } else {
                    (b.clone(), a.clone())
                });
            }
        }
    }
    out
}

/// A new assignment that repeats as few pairs from `previous` as it can find.
pub fn reshuffle(
    members: &[(MemberId, Option<String>)],
    size: usize,
    min: usize,
    previous: &[Vec<MemberId>],
    rng: &mut Rng,
) -> Vec<Vec<MemberId>> {
    let old = pairs(previous);
    let mut best: Option<(usize, Vec<Vec<MemberId>>)> = None;
    for _ in 0..RESHUFFLE_TRIES {
        let cand = assign(members, size, min, rng);
        let repeats = pairs(&cand).intersection(&old).count();
        if best.as_ref().is_none_or(|(r, _)| repeats < *r) {
            let done = repeats == 0;
            best = Some((repeats, cand));
            if done {
                break;
            }
        }
    }
    best.map(|b| b.1).unwrap_or_default()
}

/// The group a late joiner should go to: among groups below the target size (or all groups,
/// when every one is full), the one with the fewest members of the joiner's community, then
/// the smallest.
pub fn place_late(
    groups: &[Vec<MemberId>],
    community_of: impl Fn(&MemberId) -> Option<String>,
    community: Option<&str>,
    size: usize,
) -> Option<usize> {
    let open: Vec<usize> = (0..groups.len())
        .filter(|&i| groups[i].len() < size)
        .collect();
    let candidates = if open.is_empty() {
        (0..groups.len()).collect()
    } else {
        open
    };
    candidates.into_iter().min_by_key(|&i| {
        let same = groups[i]
            .iter()
            .filter(|m| community_of(m).as_deref() == community)
            .count();
        (same, groups[i].len(), i)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn people(a: usize, b: usize) -> Vec<(MemberId, Option<String>)> {
        let mut v = Vec::new();
        for i in 0..a {
            v.push((MemberId::new(format!("a{i}")), Some("Dayton".to_string())));
        }
        for i in 0..b {
            v.push((MemberId::new(format!("b{i}")), Some("Boulder".to_string())));
        }
        v
    }

    fn mix(groups: &[Vec<MemberId>]) -> Vec<(usize, usize)> {
        groups
            .iter()
            .map(|g| {
                let a = g.iter().filter(|m| m.0.starts_with('a')).count();
                (a, g.len() - a)
            })
            .collect()
    }

    #[test]
    fn counts_respect_the_minimum() {
        assert_eq!(group_count(12, 4, 3), 3);
        assert_eq!(group_count(13, 4, 3), 4);
        assert_eq!(
            group_count(5, 4, 3),
            1,
            "fewer people than two groups make one group"
        );
        assert_eq!(group_count(2, 4, 3), 1);
        assert_eq!(group_count(0, 4, 3), 0);
        assert_eq!(group_count(7, 2, 2), 3);
    }

    #[test]
    fn groups_are_mixed_and_deterministic() {
        let m = people(6, 6);
        let g1 = assign(&m, 4, 3, &mut Rng::new(9));
        assert_eq!(g1, assign(&m, 4, 3, &mut Rng::new(9)));
        assert_eq!(mix(&g1), vec![(2, 2), (2, 2), (2, 2)]);
        let uneven = assign(&people(7, 3), 4, 3, &mut Rng::new(1));
        for (a, b) in mix(&uneven) {
            assert!(
                b >= 1 && a >= 1,
                "every group has both communities: {a}/{b}"
            );
        }
    }

    #[test]
    fn pairs_cross_communities() {
        let g = assign(&people(5, 5), 2, 2, &mut Rng::new(3));
        assert_eq!(g.len(), 5);
        assert!(mix(&g).iter().all(|&(a, b)| a == 1 && b == 1));
    }

    #[test]
    fn one_community_only_still_splits() {
        let g = assign(&people(8, 0), 4, 3, &mut Rng::new(3));
        assert_eq!(g.iter().map(Vec::len).collect::<Vec<_>>(), [4, 4]);
    }

    #[test]
    fn reshuffle_meets_new_people() {
        let m = people(6, 6);
        let mut rng = Rng::new(5);
        let first = assign(&m, 4, 3, &mut rng);
        let second = reshuffle(&m, 4, 3, &first, &mut rng);
        let repeated = pairs(&second).intersection(&pairs(&first)).count();
        assert!(
            repeated < pairs(&first).len() / 2,
            "{repeated} repeated pairs"
        );
    }

    #[test]
    fn late_joiner_goes_where_the_mix_needs_them() {
        let groups = vec![
            vec![
                MemberId::new("a0"),
                MemberId::new("b0"),
                MemberId::new("a1"),
            ],
            vec![
                MemberId::new("a2"),
                MemberId::new("a3"),
                MemberId::new("b1"),
            ],
            vec![
                MemberId::new("b2"),
                MemberId::new("b3"),
                MemberId::new("a4"),
            ],
        ];
        let comm = |m: &MemberId| Some(if m.0.starts_with('a') { "A" } else { "B" }.to_string());
        assert_eq!(place_late(&groups, comm, Some("B"), 4), Some(0));
        assert_eq!(place_late(&groups, comm, Some("A"), 4), Some(2));
    }
}
