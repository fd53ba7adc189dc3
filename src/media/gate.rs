//! Who may be heard in a room, derived from the engine's events alone.
//!
//! The gate is the media layer's copy of the floor: it applies engine events
//! ([`RoomGate::apply`]) and answers, per inbound audio packet, whether that member's
//! voice may go to the room's listeners ([`RoomGate::may_forward`]). It is pure: no clock,
//! no I/O; the caller passes the packet's arrival time on the same timeline the engine uses.
//!
//! Why it keeps deadlines itself: the room actor's timer notices an expired turn a little
//! after the deadline (scheduling, a busy inbox). The gate compares every packet's time with
//! the deadline the engine announced, so a turn is cut at its deadline, within one packet
//! time (20 ms), not when the actor gets round to it.
//!
//! Overtime: protocols whose turns run into overtime (`on_timeout = "overtime"`) keep the
//! floor with the speaker after the deadline until a moderator moves on. The gate cannot
//! tell from `floor_granted` which kind of turn it is, so it cuts at the deadline in every
//! case, and reopens the speaker's voice when the engine's `turn_overtime` event arrives
//! (the overtime turn then has no deadline). An overtime speaker may lose the few
//! milliseconds between the deadline and the actor's timer; an expiring turn never runs over.
//! That trade keeps the rule "nobody is heard past an announced deadline unless the engine
//! said so afterwards".
//!
//! Three deadlines bound the floor, because the engine ends a turn at whichever comes first:
//! the turn's own (`floor_granted.deadline`), the phase's (`phase_started.deadline`, which is
//! how a presentation, a curiosity budget or a timed queue ends), and in a fishbowl the inner
//! side's stint (`side_changed.until`, when the engine releases the floor with
//! `side_swapped`). The phase deadline follows the same overtime rule as a turn's: cut, then
//! reopened by `phase_overtime`. Staff interjections are bounded by none of them.
//!
//! Every kind of turn reaches the gate the same way, as `floor_granted` for one member: an
//! own view, the presentation speaker, the reflect-back summariser and the clarifying
//! speaker, the curiosity asker and then the answerer it passes to, the Q&A answerer. The
//! gate needs no per-kind rule because the engine never has two holders; `gate_turns.rs`
//! runs the real engine through each phase kind to keep it that way.

use std::collections::HashSet;

use crate::engine::event::{Event, EventKind};
use crate::engine::member::MemberId;
use crate::time::Millis;

/// Which listener track a forwarded packet belongs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Voice {
    /// The floor: the one member whose turn it is.
    Floor,
    /// A staff interjection, heard alongside the floor.
    Staff,
}

/// Why an inbound packet was not forwarded. Each reason is a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// The member has not joined audio with a sending track (consent).
    NoConsent,
    /// A moderator muted the member.
    Muted,
    /// The session is paused: only staff interjections are heard.
    Paused,
    /// The member's turn reached its announced deadline.
    Expired,
    /// The member neither holds the floor nor interjects.
    NotOnFloor,
}

impl DropReason {
    /// The stable label used in `/metrics`.
    pub fn label(self) -> &'static str {
        match self {
            DropReason::NoConsent => "no_consent",
            DropReason::Muted => "muted",
            DropReason::Paused => "paused",
            DropReason::Expired => "expired",
            DropReason::NotOnFloor => "not_on_floor",
        }
    }

    pub const ALL: [DropReason; 5] = [
        DropReason::NoConsent,
        DropReason::Muted,
        DropReason::Paused,
        DropReason::Expired,
        DropReason::NotOnFloor,
    ];
}

/// The current floor as the media layer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Floor {
    member: MemberId,
    /// `None` for untimed turns and for a turn in overtime.
    deadline: Option<Millis>,
}

/// One room's gate.
#[derive(Debug, Default)]
pub struct RoomGate {
    floor: Option<Floor>,
    paused: bool,
    muted: HashSet<MemberId>,
    interjecting: HashSet<MemberId>,
    /// The running phase's deadline; `None` for an untimed phase or one in overtime.
    phase_deadline: Option<Millis>,
    /// A fishbowl's current stint: the floor is released when the sides swap.
    side_until: Option<Millis>,
    /// Members who joined audio with a sending track (their own offer said so).
    sending: HashSet<MemberId>,
}

impl RoomGate {
    pub fn new() -> RoomGate {
        RoomGate::default()
    }

    /// Follows one engine event. Events that do not change who is heard are ignored.
    pub fn apply(&mut self, event: &Event) {
        match &event.kind {
            EventKind::FloorGranted {
                member, deadline, ..
            } => {
                self.floor = Some(Floor {
                    member: member.clone(),
                    deadline: *deadline,
                });
            }
            EventKind::FloorReleased { member, .. }
                if self.floor.as_ref().is_some_and(|f| &f.member == member) =>
            {
                self.floor = None;
            }
            EventKind::TurnOvertime { member } => {
                if let Some(f) = self.floor.as_mut().filter(|f| &f.member == member) {
                    f.deadline = None;
                }
            }
            EventKind::DeadlineExtended {
                deadline,
                phase: false,
            } => {
                if let Some(f) = self.floor.as_mut() {
                    f.deadline = Some(*deadline);
                }
            }
            EventKind::DeadlineExtended {
                deadline,
                phase: true,
            } => self.phase_deadline = Some(*deadline),
            EventKind::PhaseStarted { deadline, .. } => {
                self.phase_deadline = *deadline;
                self.side_until = None;
            }
            EventKind::PhaseOvertime { .. } => self.phase_deadline = None,
            EventKind::SideChanged { until, .. } => self.side_until = Some(*until),
            EventKind::SessionPaused => self.paused = true,
            EventKind::SessionResumed { shifted_ms } => {
                self.paused = false;
                let turn = self.floor.as_mut().and_then(|f| f.deadline.as_mut());
                for d in [turn, self.phase_deadline.as_mut(), self.side_until.as_mut()]
                    .into_iter()
                    .flatten()
                {
                    *d = *d + *shifted_ms;
                }
            }
            EventKind::PhaseEnded { .. } | EventKind::SessionEnded => {
                self.floor = None;
                self.phase_deadline = None;
                self.side_until = None;
            }
            EventKind::Muted { member, .. } => {
                self.muted.insert(member.clone());
            }
            EventKind::Unmuted { member, .. } => {
                self.muted.remove(member);
            }
            EventKind::MemberLeft { member } | EventKind::MemberRemoved { member, .. } => {
                self.forget(member);
            }
            EventKind::Interjected { member, on, .. } => {
                if *on {
                    self.interjecting.insert(member.clone());
                } else {
                    self.interjecting.remove(member);
                }
            }
            _ => {}
        }
    }

    /// Records whether a member's own audio session has a sending track. Without it nothing
    /// of theirs is forwarded, whatever the floor says.
    pub fn set_sending(&mut self, member: &MemberId, sending: bool) {
        if sending {
            self.sending.insert(member.clone());
        } else {
            self.sending.remove(member);
        }
    }

    /// Whether a packet from `member` arriving at `now` may reach the listeners, and on
    /// which track. A staff interjection wins over a pause; nothing wins over a mute.
    pub fn may_forward(&self, member: &MemberId, now: Millis) -> Result<Voice, DropReason> {
        if !self.sending.contains(member) {
            return Err(DropReason::NoConsent);
        }
        if self.muted.contains(member) {
            return Err(DropReason::Muted);
        }
        if self.interjecting.contains(member) {
            return Ok(Voice::Staff);
        }
        let Some(floor) = self.floor.as_ref().filter(|f| &f.member == member) else {
            return Err(DropReason::NotOnFloor);
        };
        if self.paused {
            return Err(DropReason::Paused);
        }
        let cut = [floor.deadline, self.phase_deadline, self.side_until]
            .into_iter()
            .flatten()
            .min();
        match cut {
            Some(deadline) if now >= deadline => Err(DropReason::Expired),
            _ => Ok(Voice::Floor),
        }
    }

    /// The member who holds the floor, if any (for the listener track's source switch).
    pub fn floor_holder(&self) -> Option<&MemberId> {
        self.floor.as_ref().map(|f| &f.member)
    }

    fn forget(&mut self, member: &MemberId) {
        if self.floor.as_ref().is_some_and(|f| &f.member == member) {
            self.floor = None;
        }
        self.interjecting.remove(member);
        self.sending.remove(member);
        // A mute outlives a departure: a muted member who rejoins stays muted until unmuted,
        // as the engine's own roster does.
    }
}

#[cfg(test)]
#[path = "gate_turns.rs"]
mod turns;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::event::{Audience, ReleaseReason, TurnKind};

    fn id(s: &str) -> MemberId {
        MemberId::new(s)
    }

    fn ev(at: u64, kind: EventKind) -> Event {
        Event {
            at: Millis(at),
            audience: Audience::Everyone,
            kind,
        }
    }

    fn granted(member: &str, deadline: Option<u64>) -> EventKind {
        EventKind::FloorGranted {
            member: id(member),
            name: member.into(),
            turn: TurnKind::Own,
            deadline: deadline.map(Millis),
            responding_to: None,
            by: None,
        }
    }

    fn released(member: &str) -> EventKind {
        EventKind::FloorReleased {
            member: id(member),
            turn: TurnKind::Own,
            reason: ReleaseReason::Expired,
            held_ms: 0,
        }
    }

    /// A gate where a, b, c and staff f all joined audio with a sending track.
    fn gate() -> RoomGate {
        let mut g = RoomGate::new();
        for m in ["a", "b", "c", "f"] {
            g.set_sending(&id(m), true);
        }
        g
    }

    #[test]
    fn only_the_floor_holder_is_heard() {
        let mut g = gate();
        assert_eq!(
            g.may_forward(&id("a"), Millis(0)),
            Err(DropReason::NotOnFloor)
        );
        g.apply(&ev(0, granted("a", Some(60_000))));
        assert_eq!(g.may_forward(&id("a"), Millis(10)), Ok(Voice::Floor));
        assert_eq!(
            g.may_forward(&id("b"), Millis(10)),
            Err(DropReason::NotOnFloor)
        );
        assert_eq!(
            g.may_forward(&id("c"), Millis(10)),
            Err(DropReason::NotOnFloor)
        );
    }

    #[test]
    fn the_cut_is_at_the_announced_deadline_not_at_the_release() {
        let mut g = gate();
        g.apply(&ev(0, granted("a", Some(60_000))));
        // The last 20 ms packet before the deadline passes; the one at it does not, even
        // though the actor has not released the floor yet.
        assert_eq!(g.may_forward(&id("a"), Millis(59_980)), Ok(Voice::Floor));
        assert_eq!(g.may_forward(&id("a"), Millis(59_999)), Ok(Voice::Floor));
        assert_eq!(
            g.may_forward(&id("a"), Millis(60_000)),
            Err(DropReason::Expired)
        );
        g.apply(&ev(60_000, released("a")));
        assert_eq!(
            g.may_forward(&id("a"), Millis(60_020)),
            Err(DropReason::NotOnFloor)
        );
        g.apply(&ev(60_000, granted("b", Some(120_000))));
        assert_eq!(g.may_forward(&id("b"), Millis(60_020)), Ok(Voice::Floor));
    }

    #[test]
    fn overtime_reopens_the_voice_without_a_deadline() {
        let mut g = gate();
        g.apply(&ev(0, granted("a", Some(1_000))));
        assert_eq!(
            g.may_forward(&id("a"), Millis(1_000)),
            Err(DropReason::Expired)
        );
        g.apply(&ev(1_000, EventKind::TurnOvertime { member: id("a") }));
        assert_eq!(g.may_forward(&id("a"), Millis(5_000)), Ok(Voice::Floor));
        // Overtime for someone else changes nothing.
        g.apply(&ev(1_000, EventKind::TurnOvertime { member: id("b") }));
        assert_eq!(
            g.may_forward(&id("b"), Millis(5_000)),
            Err(DropReason::NotOnFloor)
        );
    }

    #[test]
    fn extension_moves_the_cut() {
        let mut g = gate();
        g.apply(&ev(0, granted("a", Some(1_000))));
        g.apply(&ev(
            900,
            EventKind::DeadlineExtended {
                deadline: Millis(31_000),
                phase: false,
            },
        ));
        assert_eq!(g.may_forward(&id("a"), Millis(30_000)), Ok(Voice::Floor));
        // A phase extension is not a turn extension.
        g.apply(&ev(
            900,
            EventKind::DeadlineExtended {
                deadline: Millis(99_000),
                phase: true,
            },
        ));
        assert_eq!(
            g.may_forward(&id("a"), Millis(31_000)),
            Err(DropReason::Expired)
        );
    }

    #[test]
    fn pause_silences_the_floor_and_resume_shifts_the_deadline() {
        let mut g = gate();
        g.apply(&ev(0, granted("a", Some(1_000))));
        g.apply(&ev(500, EventKind::SessionPaused));
        assert_eq!(
            g.may_forward(&id("a"), Millis(600)),
            Err(DropReason::Paused)
        );
        g.apply(&ev(
            10_500,
            EventKind::Interjected {
                member: id("f"),
                on: true,
                held_ms: 0,
            },
        ));
        assert_eq!(g.may_forward(&id("f"), Millis(10_600)), Ok(Voice::Staff));
        g.apply(&ev(
            20_500,
            EventKind::SessionResumed { shifted_ms: 20_000 },
        ));
        // 500 ms of the turn were left: it now ends at 21_000.
        assert_eq!(g.may_forward(&id("a"), Millis(20_990)), Ok(Voice::Floor));
        assert_eq!(
            g.may_forward(&id("a"), Millis(21_000)),
            Err(DropReason::Expired)
        );
    }

    #[test]
    fn mute_cuts_at_once_and_wins_over_everything() {
        let mut g = gate();
        g.apply(&ev(0, granted("a", None)));
        g.apply(&ev(
            5,
            EventKind::Muted {
                member: id("a"),
                by: id("m"),
            },
        ));
        assert_eq!(g.may_forward(&id("a"), Millis(6)), Err(DropReason::Muted));
        g.apply(&ev(
            7,
            EventKind::Unmuted {
                member: id("a"),
                by: id("m"),
            },
        ));
        assert_eq!(g.may_forward(&id("a"), Millis(8)), Ok(Voice::Floor));
    }

    #[test]
    fn no_consent_no_forwarding_even_on_the_floor() {
        let mut g = RoomGate::new();
        g.apply(&ev(0, granted("a", None)));
        assert_eq!(
            g.may_forward(&id("a"), Millis(1)),
            Err(DropReason::NoConsent)
        );
        g.set_sending(&id("a"), true);
        assert_eq!(g.may_forward(&id("a"), Millis(1)), Ok(Voice::Floor));
        g.set_sending(&id("a"), false);
        assert_eq!(
            g.may_forward(&id("a"), Millis(1)),
            Err(DropReason::NoConsent)
        );
    }

    #[test]
    fn staff_interjection_is_heard_beside_the_floor_until_turned_off() {
        let mut g = gate();
        g.apply(&ev(0, granted("a", None)));
        g.apply(&ev(
            1,
            EventKind::Interjected {
                member: id("f"),
                on: true,
                held_ms: 0,
            },
        ));
        assert_eq!(g.may_forward(&id("a"), Millis(2)), Ok(Voice::Floor));
        assert_eq!(g.may_forward(&id("f"), Millis(2)), Ok(Voice::Staff));
        g.apply(&ev(
            3,
            EventKind::Interjected {
                member: id("f"),
                on: false,
                held_ms: 2,
            },
        ));
        assert_eq!(
            g.may_forward(&id("f"), Millis(4)),
            Err(DropReason::NotOnFloor)
        );
    }

    #[test]
    fn reflect_back_hands_the_voice_over_and_back() {
        let mut g = gate();
        g.apply(&ev(0, granted("a", Some(10_000))));
        g.apply(&ev(4_000, released("a")));
        g.apply(&ev(
            4_000,
            EventKind::FloorGranted {
                member: id("b"),
                name: "b".into(),
                turn: TurnKind::Reflect,
                deadline: Some(Millis(6_000)),
                responding_to: Some(id("a")),
                by: None,
            },
        ));
        assert_eq!(
            g.may_forward(&id("a"), Millis(4_100)),
            Err(DropReason::NotOnFloor)
        );
        assert_eq!(g.may_forward(&id("b"), Millis(4_100)), Ok(Voice::Floor));
        g.apply(&ev(5_000, released("b")));
        g.apply(&ev(
            5_000,
            EventKind::FloorGranted {
                member: id("a"),
                name: "a".into(),
                turn: TurnKind::Clarify,
                deadline: Some(Millis(7_000)),
                responding_to: Some(id("b")),
                by: None,
            },
        ));
        assert_eq!(g.may_forward(&id("a"), Millis(5_100)), Ok(Voice::Floor));
        assert_eq!(
            g.may_forward(&id("b"), Millis(5_100)),
            Err(DropReason::NotOnFloor)
        );
    }

    #[test]
    fn leaving_ends_the_floor_and_consent_but_not_a_mute() {
        let mut g = gate();
        g.apply(&ev(0, granted("a", None)));
        g.apply(&ev(
            1,
            EventKind::Muted {
                member: id("b"),
                by: id("m"),
            },
        ));
        g.apply(&ev(2, EventKind::MemberLeft { member: id("a") }));
        g.apply(&ev(2, EventKind::MemberLeft { member: id("b") }));
        assert_eq!(g.floor_holder(), None);
        assert_eq!(
            g.may_forward(&id("a"), Millis(3)),
            Err(DropReason::NoConsent)
        );
        g.set_sending(&id("b"), true);
        assert_eq!(g.may_forward(&id("b"), Millis(3)), Err(DropReason::Muted));
    }

    #[test]
    fn a_stale_release_does_not_end_the_next_turn() {
        let mut g = gate();
        g.apply(&ev(0, granted("b", None)));
        g.apply(&ev(0, released("a")));
        assert_eq!(g.may_forward(&id("b"), Millis(1)), Ok(Voice::Floor));
    }
}
