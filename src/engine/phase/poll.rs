//! The `poll` phase: a short question with fixed choices, one vote per member (changeable
//! until the poll closes), results by community, shown live or at close. A community with
//! fewer than `EngineConfig::poll_min_voters` voters (default 3) gets no breakdown, in every
//! `poll_results` and so in snapshots, the report and the API.
//!
//! With `reveal = at_close`, the agenda does not move straight on when the poll closes (its
//! time is up or the facilitator moves on): the poll stops taking votes, everyone gets the
//! closed results with `until`, and the next phase starts at `until` (`show_results` in the
//! protocol) or when the facilitator moves on again, whichever comes first.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::engine::command::Command;
use crate::engine::core::Core;
use crate::engine::equity::NO_COMMUNITY;
use crate::engine::event::{Audience, EventKind};
use crate::engine::member::MemberId;
use crate::engine::phase::{Flow, Rules};
use crate::engine::reject::{reject, RejectCode, Rejection};
use crate::protocol::{PollSpec, Reveal};
use crate::time::Millis;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Poll {
    pub phase_id: String,
    pub spec: PollSpec,
    pub votes: BTreeMap<MemberId, String>,
    /// Set while the closed results are shown: when the next phase starts.
    #[serde(default)]
    pub shown_until: Option<Millis>,
}

impl Poll {
    pub fn start(phase_id: String, spec: &PollSpec) -> Poll {
        Poll {
            phase_id,
            spec: spec.clone(),
            votes: BTreeMap::new(),
            shown_until: None,
        }
    }

    /// Counts per choice, overall and by community, in the protocol's choice order.
    pub fn results(&self, core: &Core, closed: bool) -> EventKind {
        let count = |filter: &dyn Fn(&MemberId) -> bool| -> Vec<(String, u32)> {
            self.spec
                .choices
                .iter()
                .map(|c| {
                    let n = self
                        .votes
                        .iter()
                        .filter(|(m, v)| *v == c && filter(m))
                        .count() as u32;
                    (c.clone(), n)
                })
                .collect()
        };
        let community_of = |m: &MemberId| -> String {
            core.roster
                .get(m)
                .and_then(|m| m.community.clone())
                .unwrap_or_else(|| NO_COMMUNITY.to_string())
        };
        let mut voters: BTreeMap<String, u32> = BTreeMap::new();
        for m in self.votes.keys() {
            *voters.entry(community_of(m)).or_default() += 1;
        }
        // Small-group privacy: a community with fewer than `min` voters gets no breakdown.
        // When those left out add up to fewer than `min` too, the overall totals minus the
        // shown communities would give their votes away, so no breakdown is shown at all.
        let min = core.config.poll_min_voters;
        let hidden: u32 = voters.values().filter(|n| **n < min).sum();
        let by_community = if hidden > 0 && hidden < min {
            Vec::new()
        } else {
            voters
                .into_iter()
                .filter(|(_, n)| *n >= min)
                .map(|(c, _)| {
                    let counts = count(&|m: &MemberId| community_of(m) == c);
                    (c, counts)
                })
                .collect()
        };
        EventKind::PollResults {
            phase: self.phase_id.clone(),
            totals: count(&|_| true),
            by_community,
            closed,
            until: if closed { self.shown_until } else { None },
        }
    }

    /// Whether the results are showing after the poll closed.
    pub fn showing(&self) -> bool {
        self.shown_until.is_some()
    }

    fn vote(
        &mut self,
        core: &mut Core,
        at: Millis,
        from: &MemberId,
        choice: &str,
    ) -> Result<Flow, Rejection> {
        if self.showing() {
            return reject(
                RejectCode::PollClosed,
                "the poll has closed; its results are being shown",
            );
        }
        if !self.spec.choices.iter().any(|c| c == choice) {
            return reject(
                RejectCode::Invalid,
                format!("choose one of: {}", self.spec.choices.join(", ")),
            );
        }
        self.votes.insert(from.clone(), choice.to_string());
        core.emit_to(
            at,
            Audience::MemberAndStaff(from.clone()),
            EventKind::Voted {
                member: from.clone(),
                choice: choice.to_string(),
            },
        );
        let audience = match self.spec.reveal {
            Reveal::Live => Audience::Everyone,
            Reveal::AtClose => Audience::Staff,
        };
        let results = self.results(core, false);
        core.emit_to(at, audience, results);
        Ok(Flow::Continue)
    }
}

impl Rules for Poll {
    fn command(
        &mut self,
        core: &mut Core,
        at: Millis,
        from: &MemberId,
        cmd: &Command,
    ) -> Option<Result<Flow, Rejection>> {
        match cmd {
            Command::Vote { choice } => Some(self.vote(core, at, from, choice)),
            _ => None,
        }
    }

    fn hold_open(&mut self, core: &mut Core, at: Millis) -> bool {
        if self.spec.held_ms() == 0 || self.showing() {
            return false;
        }
        // Shown for its full time from when people can see it (after an outage).
        let at = core.start_at(at);
        self.shown_until = Some(at + self.spec.held_ms());
        let results = self.results(core, true);
        core.emit(at, results);
        true
    }

    fn next_deadline(&self) -> Option<Millis> {
        self.shown_until
    }

    fn fire(&mut self, _core: &mut Core, at: Millis) -> Flow {
        match self.shown_until {
            Some(until) if until <= at => Flow::Done,
            _ => Flow::Continue,
        }
    }

    fn shift(&mut self, ms: u64) {
        if let Some(u) = self.shown_until.as_mut() {
            *u = *u + ms;
        }
    }

    /// Results already shown at close are not sent again.
    fn close(&mut self, core: &mut Core, at: Millis) {
        if self.showing() {
            return;
        }
        let results = self.results(core, true);
        core.emit(at, results);
    }
}
