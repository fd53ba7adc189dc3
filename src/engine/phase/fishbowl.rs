//! The `fishbowl` phase: one side (a community, or a stance) takes turns in the inner circle
//! while everyone else listens; the sides swap on a timer, each side a set number of times.

use serde::{Deserialize, Serialize};

use crate::engine::command::Command;
use crate::engine::core::{Core, Released};
use crate::engine::event::{EventKind, ReleaseReason};
use crate::engine::member::MemberId;
use crate::engine::phase::turn_queue::TurnQueue;
use crate::engine::phase::{Flow, Rules};
use crate::engine::reject::{reject, RejectCode, Rejection};
use crate::protocol::{FishbowlSides, FishbowlSpec};
use crate::time::Millis;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fishbowl {
    pub spec: FishbowlSpec,
    /// The sides in the order they take the inner circle.
    pub sides: Vec<String>,
    /// How many inner-circle stints have started (the current one included).
    pub stint: u32,
    pub until: Millis,
    pub queue: TurnQueue,
}

impl Fishbowl {
    pub fn start(spec: &FishbowlSpec, core: &mut Core, at: Millis) -> (Fishbowl, Flow) {
        let sides: Vec<String> = match spec.sides {
            FishbowlSides::Stance => spec.stances.clone(),
            FishbowlSides::Community => {
                let mut sides: Vec<String> = Vec::new();
                for m in core.roster.present_participants() {
                    if let Some(c) = &m.community {
                        if !sides.contains(c) {
                            sides.push(c.clone());
                        }
                    }
                }
                sides
            }
        };
        let until = at + spec.swap_after_ms;
        let fb = Fishbowl {
            spec: spec.clone(),
            sides,
            stint: 1,
            until,
            queue: TurnQueue::fifo(spec.turn_ms, Vec::new()),
        };
        if fb.sides.is_empty() {
            return (fb, Flow::Done);
        }
        core.emit(
            at,
            EventKind::SideChanged {
                side: fb.side().to_string(),
                until,
            },
        );
        (fb, Flow::Continue)
    }

    pub fn side(&self) -> &str {
        let idx = (self.stint.saturating_sub(1) as usize) % self.sides.len().max(1);
        self.sides.get(idx).map_or("", String::as_str)
    }

    fn total_stints(&self) -> u32 {
        self.spec.rounds * self.sides.len() as u32
    }

    fn on_side(&self, core: &Core, member: &MemberId, stance: Option<&str>) -> bool {
        match self.spec.sides {
            FishbowlSides::Community => {
                core.roster.get(member).and_then(|m| m.community.as_deref()) == Some(self.side())
            }
            FishbowlSides::Stance => stance == Some(self.side()),
        }
    }
}

impl Rules for Fishbowl {
    fn command(
        &mut self,
        core: &mut Core,
        at: Millis,
        from: &MemberId,
        cmd: &Command,
    ) -> Option<Result<Flow, Rejection>> {
        if let Command::RaiseHand { stance } = cmd {
            if !self.on_side(core, from, stance.as_deref()) {
                return Some(reject(
                    RejectCode::NotAllowed,
                    format!(
                        "the inner circle is {} now; please listen until the sides swap",
                        self.side()
                    ),
                ));
            }
        }
        self.queue.command(core, at, from, cmd)
    }

    fn released(&mut self, core: &mut Core, at: Millis, r: Released) -> Flow {
        self.queue.released(core, at, r)
    }

    fn settle(&mut self, core: &mut Core, at: Millis) -> Flow {
        self.queue.settle(core, at)
    }

    fn next_deadline(&self) -> Option<Millis> {
        Some(self.until)
    }

    fn fire(&mut self, core: &mut Core, at: Millis) -> Flow {
        if self.until > at {
            return Flow::Continue;
        }
        let swap_at = self.until;
        core.release(swap_at, ReleaseReason::SideSwapped);
        self.queue.reset_turns();
        self.queue.open.clear(core, swap_at);
        if self.stint >= self.total_stints() {
            return Flow::Done;
        }
        self.stint += 1;
        // The new side's stint starts when people can hear it (after an outage).
        let starts = core.start_at(swap_at);
        self.until = starts + self.spec.swap_after_ms;
        core.emit(
            starts,
            EventKind::SideChanged {
                side: self.side().to_string(),
                until: self.until,
            },
        );
        Flow::Continue
    }

    fn member_gone(&mut self, core: &mut Core, at: Millis, member: &MemberId) -> Flow {
        self.queue.member_gone(core, at, member)
    }

    fn takes_invitations(&self) -> bool {
        true
    }

    fn grant_raised_hand(&mut self, core: &mut Core, at: Millis, member: &MemberId) -> bool {
        self.queue.grant_raised_hand(core, at, member)
    }

    fn accept(
        &mut self,
        core: &mut Core,
        at: Millis,
        member: &MemberId,
    ) -> Result<Flow, Rejection> {
        self.queue.accept(core, at, member)
    }

    fn shift(&mut self, ms: u64) {
        self.until = self.until + ms;
        self.queue.shift(ms);
    }
}
