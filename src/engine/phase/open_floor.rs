//! The speaker queue: raised hands and the order the floor will go in.
//!
//! The displayed order *is* the order of service, computed by the phase's ordering policy on
//! every change, so every client sees the same queue and nobody has to guess. A moderator's
//! `move_in_queue` pins a hand at a position on top of the policy until that hand is served
//! or lowered. Used by the `queue`, `fishbowl` and `curiosity` phases.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::engine::core::Core;
use crate::engine::event::EventKind;
use crate::engine::member::MemberId;
use crate::engine::reject::{reject, RejectCode, Rejection};
use crate::protocol::QueueOrdering;
use crate::time::Millis;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hand {
    pub member: MemberId,
    pub stance: Option<String>,
    pub community: Option<String>,
    /// Raise order, for FIFO and ties.
    pub seq: u64,
    pub raised_at: Millis,
    /// A moderator placed this hand at this position.
    pub pin: Option<u32>,
    /// When the pin was set (from the same counter as `seq`): of two hands pinned at one
    /// position, the one the moderator placed last gets it.
    #[serde(default)]
    pub pin_seq: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenFloor {
    pub ordering: QueueOrdering,
    /// Lanes for `alternate_stance`; a raised hand must name one of them.
    pub stances: Vec<String>,
    pub first_timers_first: bool,
    /// In service order.
    pub hands: Vec<Hand>,
    next_seq: u64,
    last_community: Option<String>,
    last_stance: Option<String>,
    /// Own-view turns taken in this phase.
    turns: BTreeMap<MemberId, u32>,
    /// The order clients rebuild from the events sent so far (`hand_raised` inserts,
    /// `hand_lowered` removes, `queue_changed` replaces), so `queue_changed` goes out only
    /// when the order really changed: never twice for one change.
    #[serde(default)]
    announced: Vec<MemberId>,
}

impl OpenFloor {
    pub fn new(
        ordering: QueueOrdering,
        stances: Vec<String>,
        first_timers_first: bool,
    ) -> OpenFloor {
        OpenFloor {
            ordering,
            stances,
            first_timers_first,
            hands: Vec::new(),
            announced: Vec::new(),
            next_seq: 0,
            last_community: None,
            last_stance: None,
            turns: BTreeMap::new(),
        }
    }

    pub fn contains(&self, member: &MemberId) -> bool {
        self.hands.iter().any(|h| &h.member == member)
    }

    /// Own-view turns `member` took in this phase.
    pub fn turns_of(&self, member: &MemberId) -> u32 {
        self.turns.get(member).copied().unwrap_or(0)
    }

    pub fn anyone_spoke(&self) -> bool {
        !self.turns.is_empty()
    }

    pub fn order(&self) -> Vec<MemberId> {
        self.hands.iter().map(|h| h.member.clone()).collect()
    }

    /// Checks that a hand may be raised, without changing anything.
    pub fn check_raise(
        &self,
        core: &Core,
        member: &MemberId,
        stance: Option<&str>,
    ) -> Result<(), Rejection> {
        let Some(m) = core.roster.get(member) else {
            return reject(RejectCode::UnknownMember, "you are not in this room");
        };
        if m.muted {
            return reject(
                RejectCode::Muted,
                "a moderator has muted you; you cannot raise a hand now",
            );
        }
        if self.contains(member) {
            return reject(RejectCode::AlreadyQueued, "your hand is already raised");
        }
        if core.holds_floor(member) {
            return reject(RejectCode::AlreadyQueued, "you hold the floor now");
        }
        if self.ordering == QueueOrdering::AlternateStance {
            match stance {
                Some(s) if self.stances.iter().any(|l| l == s) => {}
                _ => {
                    return reject(
                        RejectCode::Invalid,
                        format!(
                            "raise your hand with one of these stances: {}",
                            self.stances.join(", ")
                        ),
                    )
                }
            }
        } else if let Some(s) = stance {
            if !self.stances.is_empty() && !self.stances.iter().any(|l| l == s) {
                return reject(RejectCode::Invalid, format!("unknown stance {s:?}"));
            }
        }
        Ok(())
    }

    /// Raises a hand (after `check_raise`).
    pub fn raise(
        &mut self,
        core: &mut Core,
        at: Millis,
        member: &MemberId,
        stance: Option<String>,
        pin: Option<u32>,
    ) {
        let (community, name) = core
            .roster
            .get(member)
            .map(|m| (m.community.clone(), m.name.clone()))
            .unwrap_or_default();
        self.hands.push(Hand {
            member: member.clone(),
            stance: stance.clone(),
            community,
            seq: self.next_seq,
            raised_at: at,
            pin,
            pin_seq: self.next_seq,
        });
        self.next_seq += 1;
        let mut before = self.order();
        before.pop();
        self.sort(core);
        let after = self.order();
        let position = after
            .iter()
            .position(|m| m == member)
            .unwrap_or(after.len());
        core.emit(
            at,
            EventKind::HandRaised {
                member: member.clone(),
                name,
                stance,
                position: position as u32,
            },
        );
        // Most raises only insert the new hand; `hand_raised` says where, so `queue_changed`
        // (the whole order, to everyone) is sent only when other hands moved too. Without
        // this a hall with thousands of hands sends quadratic traffic.
        before.insert(position, member.clone());
        self.announced = before;
        self.emit_order(core, at);
    }

    pub fn lower(
        &mut self,
        core: &mut Core,
        at: Millis,
        member: &MemberId,
    ) -> Result<(), Rejection> {
        if !self.contains(member) {
            return reject(RejectCode::NotQueued, "your hand is not raised");
        }
        self.drop_hand(core, at, member);
        Ok(())
    }

    /// Removes a member's hand if raised (left, muted, removed), announcing the change. The
    /// others keep their order, so `hand_lowered` alone says what changed.
    pub fn drop_hand(&mut self, core: &mut Core, at: Millis, member: &MemberId) -> bool {
        let before = self.hands.len();
        self.hands.retain(|h| &h.member != member);
        if self.hands.len() == before {
            return false;
        }
        self.announced.retain(|m| m != member);
        core.emit(
            at,
            EventKind::HandLowered {
                member: member.clone(),
            },
        );
        true
    }

    /// Clears every hand (a fishbowl swap).
    pub fn clear(&mut self, core: &mut Core, at: Millis) {
        self.announced.clear();
        for h in std::mem::take(&mut self.hands) {
            core.emit(at, EventKind::HandLowered { member: h.member });
        }
    }

    pub fn move_to(
        &mut self,
        core: &mut Core,
        at: Millis,
        member: &MemberId,
        position: u32,
    ) -> Result<(), Rejection> {
        let Some(h) = self.hands.iter_mut().find(|h| &h.member == member) else {
            return reject(RejectCode::NotQueued, "that member's hand is not raised");
        };
        h.pin = Some(position);
        h.pin_seq = self.next_seq;
        self.next_seq += 1;
        self.reorder(core, at);
        Ok(())
    }

    /// Takes the next hand to serve, if any.
    pub fn pop_next(&mut self, core: &mut Core, at: Millis) -> Option<Hand> {
        let idx = self.hands.iter().position(|h| core.can_speak(&h.member))?;
        Some(self.serve_hand(core, at, idx))
    }

    /// Takes a specific member's hand (a moderator grant to someone who raised a hand).
    pub fn take(&mut self, core: &mut Core, at: Millis, member: &MemberId) -> Option<Hand> {
        let idx = self.hands.iter().position(|h| &h.member == member)?;
        Some(self.serve_hand(core, at, idx))
    }

    /// Takes the hand at `idx` out to be served and announces the order the others are in
    /// once it has been: sorted as if its own turn were already noted (`note_turn`), so the
    /// re-sort when that turn starts changes nothing and one input never sends two
    /// `queue_changed` (say, a hand pinned at position 1 moves up to 0 as the hand ahead of
    /// it is served, then back to 1 when that turn is noted).
    fn serve_hand(&mut self, core: &mut Core, at: Millis, idx: usize) -> Hand {
        let hand = self.hands.remove(idx);
        core.ledger
            .count_wait(&hand.member, at.since(hand.raised_at));
        let noted = (self.last_community.clone(), self.last_stance.clone());
        self.last_community = core
            .roster
            .get(&hand.member)
            .and_then(|m| m.community.clone());
        if hand.stance.is_some() {
            self.last_stance = hand.stance.clone();
        }
        self.sort(core);
        // Alternation follows turns taken, which `note_turn` records when the turn starts.
        (self.last_community, self.last_stance) = noted;
        self.emit_order(core, at);
        hand
    }

    /// Records that `member` spoke (own view), for alternation and first-timers-first.
    pub fn note_turn(
        &mut self,
        core: &mut Core,
        at: Millis,
        member: &MemberId,
        stance: Option<String>,
    ) {
        *self.turns.entry(member.clone()).or_default() += 1;
        self.last_community = core.roster.get(member).and_then(|m| m.community.clone());
        if stance.is_some() {
            self.last_stance = stance;
        }
        self.reorder(core, at);
    }

    /// Recomputes the service order and announces it.
    pub fn reorder(&mut self, core: &mut Core, at: Millis) {
        self.sort(core);
        self.emit_order(core, at);
    }

    /// Recomputes the service order.
    fn sort(&mut self, core: &Core) {
        let spoken: BTreeMap<MemberId, u64> = self
            .hands
            .iter()
            .map(|h| (h.member.clone(), core.ledger.speaking_ms(&h.member)))
            .collect();
        self.hands = self.ordered(&spoken);
    }

    /// Announces the order when it differs from what clients already have.
    fn emit_order(&mut self, core: &mut Core, at: Millis) {
        let order = self.order();
        if order == self.announced {
            return;
        }
        self.announced = order.clone();
        core.emit(at, EventKind::QueueChanged { order, by: None });
    }

    fn ordered(&self, spoken: &BTreeMap<MemberId, u64>) -> Vec<Hand> {
        let mut free: Vec<Hand> = self
            .hands
            .iter()
            .filter(|h| h.pin.is_none())
            .cloned()
            .collect();
        free.sort_by_key(|h| h.seq);
        let groups: Vec<Vec<Hand>> = if self.first_timers_first {
            let (new, old): (Vec<Hand>, Vec<Hand>) = free
                .into_iter()
                .partition(|h| self.turns.get(&h.member).copied().unwrap_or(0) == 0);
            vec![new, old]
        } else {
            vec![free]
        };
        let mut last_comm = self.last_community.clone();
        let mut last_stance = self.last_stance.clone();
        let mut out = Vec::with_capacity(self.hands.len());
        for group in groups {
            out.extend(self.order_group(group, spoken, &mut last_comm, &mut last_stance));
        }
        let mut pinned: Vec<Hand> = self
            .hands
            .iter()
            .filter(|h| h.pin.is_some())
            .cloned()
            .collect();
        pinned.sort_by_key(|h| (h.pin, h.pin_seq));
        for h in pinned {
            let idx = (h.pin.unwrap_or(0) as usize).min(out.len());
            out.insert(idx, h);
        }
        out
    }

    fn order_group(
        &self,
        mut group: Vec<Hand>,
        spoken: &BTreeMap<MemberId, u64>,
        last_comm: &mut Option<String>,
        last_stance: &mut Option<String>,
    ) -> Vec<Hand> {
        match self.ordering {
            QueueOrdering::Fifo | QueueOrdering::Moderator => group,
            QueueOrdering::Progressive => {
                group.sort_by_key(|h| (spoken.get(&h.member).copied().unwrap_or(0), h.seq));
                group
            }
            QueueOrdering::AlternateCommunities => {
                let mut out = Vec::with_capacity(group.len());
                while !group.is_empty() {
                    let idx = group
                        .iter()
                        .position(|h| h.community != *last_comm)
                        .unwrap_or(0);
                    let h = group.remove(idx);
                    *last_comm = h.community.clone();
                    out.push(h);
                }
                out
            }
            QueueOrdering::AlternateStance => {
                let mut out = Vec::with_capacity(group.len());
                let n = self.stances.len();
                while !group.is_empty() {
                    let start = last_stance
                        .as_ref()
                        .and_then(|s| self.stances.iter().position(|l| l == s))
                        .map_or(0, |i| i + 1);
                    let lane = (0..n)
                        .map(|k| &self.stances[(start + k) % n])
                        .find(|lane| group.iter().any(|h| h.stance.as_ref() == Some(*lane)));
                    let idx = lane
                        .and_then(|lane| group.iter().position(|h| h.stance.as_ref() == Some(lane)))
                        .unwrap_or(0);
                    let h = group.remove(idx);
                    *last_stance = h.stance.clone();
                    out.push(h);
                }
                out
            }
        }
    }

    pub fn shift(&mut self, _ms: u64) {}
}
