//! Rehearsal: simulate a session before it happens, to show how long it will take and how
//! fair it will be.
//!
//! Because the engine is pure and time is injected, a whole session runs in milliseconds with
//! synthetic participants (`crowd`), driven by `sim`. `summarize` folds many seeded runs into
//! the figures an organizer asks for; `report` prints them as a table or a small HTML page.

pub mod crowd;
pub mod report;
pub mod sim;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde::Serialize;

use crate::protocol::Protocol;
use crate::rehearse::crowd::{Crowd, CrowdError, Models};
use crate::rehearse::sim::{simulate, RunResult};

/// Most runs one rehearsal may ask for.
pub const MAX_RUNS: u32 = 1_000;
/// Crowd size when neither `participants` nor `communities` is given and the protocol names
/// no group size.
pub const DEFAULT_PARTICIPANTS: usize = 8;

/// What an organizer asks a rehearsal for (the CLI flags and the API query).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Crowd size, split evenly over two communities when `communities` is not given.
    pub participants: Option<usize>,
    /// `A:n,B:m`.
    pub communities: Option<String>,
    pub talkative: usize,
    pub quiet: usize,
    pub runs: u32,
    pub seed: u64,
}

impl Default for Request {
    fn default() -> Request {
        Request {
            participants: None,
            communities: None,
            talkative: 0,
            quiet: 0,
            runs: 20,
            seed: 1,
        }
    }
}

impl Request {
    /// The crowd this request describes, for `protocol`.
    pub fn crowd(&self, protocol: &Protocol) -> Result<Crowd, CrowdError> {
        let communities = match (&self.communities, self.participants) {
            (Some(spec), n) => {
                let c = crowd::parse_communities(spec)?;
                let total = c
                    .iter()
                    .try_fold(0usize, |t, x| t.checked_add(x.1))
                    .unwrap_or(usize::MAX);
                if n.is_some_and(|n| n != total) {
                    return Err(CrowdError::Invalid(format!(
                        "--participants {} does not match the {total} people in --communities",
                        n.unwrap_or(0)
                    )));
                }
                c
            }
            (None, n) => {
                let n = n
                    .or(protocol.group_size.map(|g| g.max as usize))
                    .unwrap_or(DEFAULT_PARTICIPANTS);
                vec![
                    ("City A".to_string(), n.div_ceil(2)),
                    ("City B".to_string(), n / 2),
                ]
            }
        };
        Crowd::build(&communities, self.talkative, self.quiet)
    }

    /// What this request costs on `protocol`: people x runs x phases, the unit the HTTP
    /// preview budgets (a run's work grows with each). The crowd is checked first, so an
    /// invalid or overflowing one is refused rather than costed.
    pub fn cost(&self, protocol: &Protocol) -> Result<u64, CrowdError> {
        let people = self.crowd(protocol)?.people.len() as u64;
        let phases = protocol.phases.len().max(1) as u64;
        Ok(people
            .saturating_mul(u64::from(self.runs))
            .saturating_mul(phases))
    }

    /// Runs the rehearsal for each protocol on the same crowd (built for the first).
    pub fn run(
        &self,
        protocols: &[Arc<Protocol>],
        models: &Models,
    ) -> Result<Vec<Summary>, CrowdError> {
        self.run_until(protocols, models, &AtomicBool::new(false))
    }

    /// [`Request::run`] that stops between runs once `cancel` is set.
    pub fn run_until(
        &self,
        protocols: &[Arc<Protocol>],
        models: &Models,
        cancel: &AtomicBool,
    ) -> Result<Vec<Summary>, CrowdError> {
        if self.runs == 0 || self.runs > MAX_RUNS {
            return Err(CrowdError::Invalid(format!("runs must be 1 to {MAX_RUNS}")));
        }
        let Some(first) = protocols.first() else {
            return Err(CrowdError::Invalid("name at least one protocol".into()));
        };
        let crowd = self.crowd(first)?;
        protocols
            .iter()
            .map(|p| {
                let runs = rehearse_until(p, &crowd, models, self.runs, self.seed, cancel)
                    .ok_or(CrowdError::Cancelled)?;
                Ok(summarize(p, &crowd, &runs, self.seed))
            })
            .collect()
    }
}

/// min / median / max of a figure over runs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spread {
    pub min: f64,
    pub median: f64,
    pub max: f64,
}

impl Spread {
    pub fn of(mut v: Vec<f64>) -> Spread {
        if v.is_empty() {
            return Spread {
                min: 0.0,
                median: 0.0,
                max: 0.0,
            };
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Spread {
            min: v[0],
            median,
            max: v[n - 1],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhaseSummary {
    pub id: String,
    pub kind: String,
    pub minutes: Spread,
    /// Runs in which the simulated facilitator had to end this open-ended phase.
    pub cut_runs: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PersonSummary {
    pub name: String,
    pub community: String,
    pub model: String,
    /// Mean over runs.
    pub speaking_s: f64,
    pub reflect_s: f64,
    pub turns: f64,
    pub passes: f64,
    pub queue_wait_s: f64,
    /// Runs in which this person never had an own-view turn.
    pub silent_runs: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommunitySummary {
    pub community: String,
    pub members: u32,
    pub speaking_s: f64,
    pub share: f64,
}

/// Everything a rehearsal reports for one protocol and one crowd.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub protocol: String,
    pub title: String,
    pub crowd: String,
    pub runs: u32,
    pub seed: u64,
    pub minutes: Spread,
    pub phases: Vec<PhaseSummary>,
    pub people: Vec<PersonSummary>,
    pub communities: Vec<CommunitySummary>,
    pub gini: Spread,
    pub gini_within: f64,
    pub gini_between: f64,
    pub gini_overlap: f64,
    /// Mean number of participants who never spoke in a run.
    pub never_spoke: f64,
    /// Runs that hit the simulation's safety cap instead of ending.
    pub unfinished_runs: u32,
}

/// Runs `runs` rehearsals of `protocol` with seeds `seed, seed+1, ...`.
pub fn rehearse(
    protocol: &Arc<Protocol>,
    crowd: &Crowd,
    models: &Models,
    runs: u32,
    seed: u64,
) -> Vec<RunResult> {
    rehearse_until(protocol, crowd, models, runs, seed, &AtomicBool::new(false)).unwrap_or_default()
}

/// [`rehearse`], or `None` once `cancel` is set (checked before each run).
pub fn rehearse_until(
    protocol: &Arc<Protocol>,
    crowd: &Crowd,
    models: &Models,
    runs: u32,
    seed: u64,
    cancel: &AtomicBool,
) -> Option<Vec<RunResult>> {
    (0..u64::from(runs.clamp(1, MAX_RUNS)))
        .map(|i| {
            (!cancel.load(Ordering::Relaxed))
                .then(|| simulate(Arc::clone(protocol), crowd, models, seed.wrapping_add(i)))
        })
        .collect()
}

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = v.fold((0.0, 0u32), |(s, n), x| (s + x, n + 1));
    if n == 0 {
        0.0
    } else {
        sum / f64::from(n)
    }
}

/// Folds runs into the reported figures.
pub fn summarize(protocol: &Protocol, crowd: &Crowd, results: &[RunResult], seed: u64) -> Summary {
    let n_runs = results.len() as u32;
    let minutes = Spread::of(
        results
            .iter()
            .map(|r| r.duration_ms as f64 / 60_000.0)
            .collect(),
    );
    let phases = protocol
        .phases
        .iter()
        .map(|p| {
            let timings: Vec<_> = results
                .iter()
                .flat_map(|r| r.phases.iter().filter(|t| t.id == p.id))
                .collect();
            PhaseSummary {
                id: p.id.clone(),
                kind: p.kind.name().to_string(),
                minutes: Spread::of(timings.iter().map(|t| t.ms as f64 / 60_000.0).collect()),
                cut_runs: timings.iter().filter(|t| t.cut_by_facilitator).count() as u32,
            }
        })
        .collect();
    let people = crowd
        .people
        .iter()
        .map(|p| {
            let figs: Vec<_> = results
                .iter()
                .filter_map(|r| r.equity.people.iter().find(|f| f.member.0 == p.name))
                .collect();
            PersonSummary {
                name: p.name.clone(),
                community: p.community.clone(),
                model: p.model.clone(),
                speaking_s: mean(figs.iter().map(|f| f.speaking_ms as f64 / 1000.0)),
                reflect_s: mean(figs.iter().map(|f| f.reflect_ms as f64 / 1000.0)),
                turns: mean(figs.iter().map(|f| f64::from(f.turns))),
                passes: mean(figs.iter().map(|f| f64::from(f.passes))),
                queue_wait_s: mean(figs.iter().map(|f| f.queue_wait_ms as f64 / 1000.0)),
                silent_runs: figs.iter().filter(|f| f.turns == 0).count() as u32,
            }
        })
        .collect();
    let mut comms: BTreeMap<String, (u32, Vec<f64>, Vec<f64>)> = BTreeMap::new();
    for r in results {
        for c in &r.equity.communities {
            let e = comms
                .entry(c.community.clone())
                .or_insert((c.members, Vec::new(), Vec::new()));
            e.1.push(c.speaking_ms as f64 / 1000.0);
            e.2.push(c.share);
        }
    }
    let communities = comms
        .into_iter()
        .map(|(community, (members, speaking, share))| CommunitySummary {
            community,
            members,
            speaking_s: mean(speaking.into_iter()),
            share: mean(share.into_iter()),
        })
        .collect();
    Summary {
        protocol: protocol.name.clone(),
        title: protocol.title.clone(),
        crowd: crowd.to_string(),
        runs: n_runs,
        seed,
        minutes,
        phases,
        people,
        communities,
        gini: Spread::of(results.iter().map(|r| r.equity.gini).collect()),
        gini_within: mean(results.iter().map(|r| r.equity.gini_within)),
        gini_between: mean(results.iter().map(|r| r.equity.gini_between)),
        gini_overlap: mean(results.iter().map(|r| r.equity.gini_overlap)),
        never_spoke: mean(results.iter().map(|r| r.equity.not_spoken.len() as f64)),
        unfinished_runs: results.iter().filter(|r| !r.ended).count() as u32,
    }
}

#[cfg(test)]
mod tests;
