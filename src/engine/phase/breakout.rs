//! The `breakout` phase, hall side: the room splits into small groups mixed across
//! communities, each running the sub-protocol the phase names, until the phase's time runs
//! out or the facilitator recalls them with a short closing countdown.
//!
//! The engine decides *who is in which group* (deterministically, from the room's seed) and
//! announces it; the shell runs one room per group and moves members' connections. Observers
//! and staff are not assigned. People who join late go to the group that best keeps the mix.

use serde::{Deserialize, Serialize};

use crate::engine::command::{Assignment, Command};
use crate::engine::core::Core;
use crate::engine::event::EventKind;
use crate::engine::groups;
use crate::engine::member::{MemberId, Role};
use crate::engine::phase::{Flow, Rules};
use crate::engine::reject::{reject, RejectCode, Rejection};
use crate::protocol::BreakoutSpec;
use crate::time::Millis;

/// Largest group size a facilitator may ask for.
pub const MAX_GROUP_SIZE: u32 = 50;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Breakout {
    pub spec: BreakoutSpec,
    pub group_size: u32,
    pub groups: Vec<Vec<MemberId>>,
    /// Set when the facilitator recalls the groups early: the moment they close.
    pub closing_at: Option<Millis>,
    /// The groups of the breakout before this one, which `reuse` and `reshuffle` refer to.
    pub previous: Option<Vec<Vec<MemberId>>>,
}

fn assignable(core: &Core) -> Vec<(MemberId, Option<String>)> {
    core.roster
        .present_participants()
        .map(|m| (m.id.clone(), m.community.clone()))
        .collect()
}

impl Breakout {
    pub fn start(spec: &BreakoutSpec, core: &mut Core, at: Millis) -> Breakout {
        let mut b = Breakout {
            spec: spec.clone(),
            group_size: spec.group_size,
            groups: Vec::new(),
            closing_at: None,
            previous: core.last_groups.clone(),
        };
        b.open(core, at, Assignment::New);
        b
    }

    /// (Re)assigns groups and announces them.
    fn open(&mut self, core: &mut Core, at: Millis, how: Assignment) {
        let members = assignable(core);
        let (size, min) = (self.group_size as usize, self.spec.min_group_size as usize);
        let previous = self.previous.clone().or_else(|| core.last_groups.clone());
        self.groups = match (how, previous) {
            (Assignment::Reuse, Some(prev)) => reuse(&prev, &members, size, core),
            (Assignment::Reshuffle, Some(prev)) => {
                groups::reshuffle(&members, size, min, &prev, &mut core.rng)
            }
            _ => groups::assign(&members, size, min, &mut core.rng),
        };
        core.last_groups = Some(self.groups.clone());
        let until = core.phase_timer.map(|t| t.deadline);
        core.emit(
            at,
            EventKind::BreakoutOpened {
                protocol: self.spec.protocol.clone(),
                groups: self.groups.clone(),
                until,
            },
        );
    }

    pub fn group_of(&self, member: &MemberId) -> Option<usize> {
        self.groups.iter().position(|g| g.contains(member))
    }

    fn move_to(
        &mut self,
        core: &mut Core,
        at: Millis,
        member: &MemberId,
        group: u32,
    ) -> Result<Flow, Rejection> {
        let group = group as usize;
        if group >= self.groups.len() {
            return reject(
                RejectCode::Invalid,
                format!("there are {} groups, numbered from 0", self.groups.len()),
            );
        }
        let Some(m) = core.roster.get(member) else {
            return reject(
                RejectCode::UnknownMember,
                format!("there is no member {member}"),
            );
        };
        if m.role != Role::Participant || !m.present {
            return reject(
                RejectCode::Invalid,
                "only present participants are placed in groups",
            );
        }
        if self.group_of(member) == Some(group) {
            return reject(
                RejectCode::Duplicate,
                "that member is already in that group",
            );
        }
        for g in &mut self.groups {
            g.retain(|x| x != member);
        }
        self.groups[group].push(member.clone());
        core.last_groups = Some(self.groups.clone());
        core.emit(
            at,
            EventKind::BreakoutMoved {
                member: member.clone(),
                group: group as u32,
            },
        );
        Ok(Flow::Continue)
    }
}

/// The previous groups, minus people who are gone; newcomers placed where the mix needs them.
fn reuse(
    prev: &[Vec<MemberId>],
    members: &[(MemberId, Option<String>)],
    size: usize,
    core: &Core,
) -> Vec<Vec<MemberId>> {
    let present: Vec<&MemberId> = members.iter().map(|m| &m.0).collect();
    let mut out: Vec<Vec<MemberId>> = prev
        .iter()
        .map(|g| g.iter().filter(|m| present.contains(m)).cloned().collect())
        .filter(|g: &Vec<MemberId>| !g.is_empty())
        .collect();
    if out.is_empty() {
        return Vec::new();
    }
    for (id, community) in members {
        if out.iter().any(|g| g.contains(id)) {
            continue;
        }
        let comm_of = |m: &MemberId| core.roster.get(m).and_then(|m| m.community.clone());
        if let Some(i) = groups::place_late(&out, comm_of, community.as_deref(), size) {
            out[i].push(id.clone());
        }
    }
    out
}

impl Rules for Breakout {
    fn command(
        &mut self,
        core: &mut Core,
        at: Millis,
        _from: &MemberId,
        cmd: &Command,
    ) -> Option<Result<Flow, Rejection>> {
        Some(match cmd {
            Command::OpenBreakouts {
                group_size,
                assignment,
            } => {
                if let Some(size) = group_size {
                    if !(2..=MAX_GROUP_SIZE).contains(size) {
                        return Some(reject(
                            RejectCode::Invalid,
                            format!("groups of 2 to {MAX_GROUP_SIZE}"),
                        ));
                    }
                }
                if self.closing_at.is_some() {
                    return Some(reject(
                        RejectCode::NotAllowed,
                        "the groups are being recalled",
                    ));
                }
                if let Some(size) = group_size {
                    self.group_size = *size;
                }
                self.open(core, at, assignment.unwrap_or(Assignment::New));
                Ok(Flow::Continue)
            }
            Command::CloseBreakouts => {
                if self.closing_at.is_some() {
                    return Some(reject(
                        RejectCode::Duplicate,
                        "the groups are already being recalled",
                    ));
                }
                let until = at + self.spec.closing_countdown_ms;
                self.closing_at = Some(until);
                core.emit(at, EventKind::BreakoutClosing { until });
                Ok(if self.spec.closing_countdown_ms == 0 {
                    Flow::Done
                } else {
                    Flow::Continue
                })
            }
            Command::MoveToGroup { member, group } => self.move_to(core, at, member, *group),
            _ => return None,
        })
    }

    fn next_deadline(&self) -> Option<Millis> {
        self.closing_at
    }

    fn fire(&mut self, _core: &mut Core, at: Millis) -> Flow {
        if self.closing_at.is_some_and(|c| c <= at) {
            return Flow::Done;
        }
        Flow::Continue
    }

    fn member_joined(&mut self, core: &mut Core, at: Millis, member: &MemberId) -> Flow {
        let Some(m) = core.roster.get(member) else {
            return Flow::Continue;
        };
        if m.role != Role::Participant
            || self.group_of(member).is_some()
            || self.closing_at.is_some()
        {
            return Flow::Continue;
        }
        let community = m.community.clone();
        let comm_of = |x: &MemberId| core.roster.get(x).and_then(|m| m.community.clone());
        let target = if self.groups.is_empty() {
            None
        } else {
            groups::place_late(
                &self.groups,
                comm_of,
                community.as_deref(),
                self.group_size as usize,
            )
        };
        match target {
            Some(i) => {
                self.groups[i].push(member.clone());
                core.last_groups = Some(self.groups.clone());
                core.emit(
                    at,
                    EventKind::BreakoutMoved {
                        member: member.clone(),
                        group: i as u32,
                    },
                );
            }
            None => {
                self.groups.push(vec![member.clone()]);
                core.last_groups = Some(self.groups.clone());
                let group = (self.groups.len() - 1) as u32;
                core.emit(
                    at,
                    EventKind::BreakoutMoved {
                        member: member.clone(),
                        group,
                    },
                );
            }
        }
        Flow::Continue
    }

    fn close(&mut self, core: &mut Core, at: Millis) {
        core.emit(at, EventKind::BreakoutClosed);
    }

    fn shift(&mut self, ms: u64) {
        if let Some(c) = self.closing_at.as_mut() {
            *c = *c + ms;
        }
    }
}
