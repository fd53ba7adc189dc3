//! The memory budget of a room's record (issue #20, finding 6).
//!
//! Everything members write (spoken texts, notes, private or shared, questions, broadcasts,
//! report reasons) stays in the room's record for the report and the transcript until the
//! event is purged, so one member with a script could grow a room's memory without bound
//! (3,000 notes of 2,000 characters cost ~17 MiB and kept going). Each room therefore has a
//! budget of recorded bytes, [`ROOM_BUDGET_BYTES`], and each participant or observer a share
//! of it, [`MEMBER_SHARE_BYTES`]; an item costs its text's bytes plus
//! [`ITEM_OVERHEAD_BYTES`] for the event around it.
//!
//! - A command whose text would take a non-staff member past their share, or the room past
//!   its budget, is refused `over_budget` and changes nothing. Staff (moderators,
//!   facilitators, organizers) have no share of their own and are never refused: they must
//!   be able to run the room, and the organizer is trusted (SECURITY.md, "Out of scope").
//! - Staff are told before anything is refused: a `budget_warning` event (staff only) when a
//!   member, or the room, passes [`WARN_PERCENT`] of its share.
//!
//! The counts live in the engine state (`Member::record_bytes`, `Core::record_bytes`) and
//! are charged from the events the command emitted, so a room rebuilt by replaying its
//! inputs (restart, cluster takeover) refuses exactly the same commands.

use crate::engine::command::Command;
use crate::engine::event::{Audience, EventKind};
use crate::engine::member::MemberId;
use crate::engine::reject::{reject, RejectCode, Rejection};
use crate::engine::Engine;
use crate::time::Millis;

/// The most recorded bytes a room holds (texts plus per-item overhead): 2,000 participants
/// could each write 32 KiB (a dozen long notes, twenty questions, a few statements), far
/// beyond what a town hall's participants write in an evening.
pub const ROOM_BUDGET_BYTES: u64 = 64 * 1024 * 1024;
/// Each participant's or observer's share: about 115 notes of the longest kind (2,000
/// characters) or a thousand short messages. The most engaged participant of a three-hour
/// hall writes a few dozen.
pub const MEMBER_SHARE_BYTES: u64 = 256 * 1024;
/// What one recorded item costs beyond its text (the event, ids, the log entry).
pub const ITEM_OVERHEAD_BYTES: u64 = 256;
/// Staff are told when a share passes this percentage.
pub const WARN_PERCENT: u64 = 90;

/// The most a command can add to the record: its text's bytes plus the overhead. `None` for
/// commands that record no text.
pub fn upper_cost(cmd: &Command) -> Option<u64> {
    let text = match cmd {
        Command::Speak { text }
        | Command::Note { text }
        | Command::Ask { text }
        | Command::Broadcast { text } => text,
        Command::Report { reason, .. } => reason,
        _ => return None,
    };
    Some(text.len() as u64 + ITEM_OVERHEAD_BYTES)
}

/// What the events of one command add to the record.
fn recorded(kind: &EventKind) -> u64 {
    match kind {
        EventKind::Said { text, .. }
        | EventKind::Noted { text, .. }
        | EventKind::QuestionAsked { text, .. }
        | EventKind::Broadcast { text, .. }
        | EventKind::ReportFiled { reason: text, .. } => text.len() as u64 + ITEM_OVERHEAD_BYTES,
        _ => 0,
    }
}

fn crossed(before: u64, after: u64, limit: u64) -> bool {
    let warn = limit / 100 * WARN_PERCENT;
    before < warn && after >= warn
}

impl Engine {
    /// Applies a member's command within the record budget: refused `over_budget` before
    /// anything happens when its text does not fit, charged from its events when it did.
    pub(super) fn budgeted(
        &mut self,
        at: Millis,
        from: &MemberId,
        cmd: &Command,
    ) -> Result<(), Rejection> {
        let Some(cost) = upper_cost(cmd) else {
            return self.apply_command(at, from, cmd);
        };
        let (staff, mine) = self
            .core
            .roster
            .get(from)
            .map_or((false, 0), |m| (m.role.is_staff(), m.record_bytes));
        if !staff {
            if mine.saturating_add(cost) > MEMBER_SHARE_BYTES {
                return reject(
                    RejectCode::OverBudget,
                    format!(
                        "you have written as much as one member may in this room ({} KiB); \
                         staff have been told",
                        MEMBER_SHARE_BYTES / 1024
                    ),
                );
            }
            if self.core.record_bytes.saturating_add(cost) > ROOM_BUDGET_BYTES {
                return reject(
                    RejectCode::OverBudget,
                    "this room's record is full; only staff may still write; staff have been told",
                );
            }
        }
        let mark = self.core.out.len();
        self.apply_command(at, from, cmd)?;
        let added: u64 = self.core.out[mark..]
            .iter()
            .map(|e| recorded(&e.kind))
            .sum();
        self.charge(at, from, added);
        Ok(())
    }

    fn charge(&mut self, at: Millis, from: &MemberId, added: u64) {
        if added == 0 {
            return;
        }
        let room_before = self.core.record_bytes;
        self.core.record_bytes = room_before.saturating_add(added);
        let mut warn_member = None;
        if let Some(m) = self.core.roster.get_mut(from) {
            let before = m.record_bytes;
            m.record_bytes = before.saturating_add(added);
            if !m.role.is_staff() && crossed(before, m.record_bytes, MEMBER_SHARE_BYTES) {
                warn_member = Some(m.record_bytes);
            }
        }
        if let Some(used) = warn_member {
            self.core.emit_to(
                at,
                Audience::Staff,
                EventKind::BudgetWarning {
                    member: Some(from.clone()),
                    used_bytes: used,
                    limit_bytes: MEMBER_SHARE_BYTES,
                },
            );
        }
        if crossed(room_before, self.core.record_bytes, ROOM_BUDGET_BYTES) {
            self.core.emit_to(
                at,
                Audience::Staff,
                EventKind::BudgetWarning {
                    member: None,
                    used_bytes: self.core.record_bytes,
                    limit_bytes: ROOM_BUDGET_BYTES,
                },
            );
        }
    }

    /// Bytes the room's record holds, as the budget counts them.
    pub fn record_bytes(&self) -> u64 {
        self.core.record_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::event::Event;
    use crate::engine::harness::{id, phase, reflection, Harness};
    use crate::engine::member::Role;
    use crate::engine::Input;
    use crate::protocol::NoteVisibility;

    fn hall() -> Harness {
        let mut h = Harness::new(vec![phase(
            "reflect",
            reflection(36_000, NoteVisibility::SharedAnonymous),
        )]);
        h.join("f", Role::Facilitator, None);
        h.join("ana", Role::Participant, Some("Dayton"));
        h.join("ben", Role::Participant, Some("Boulder"));
        h.start();
        h
    }

    fn note(text: &str) -> Command {
        Command::Note { text: text.into() }
    }

    fn warned(events: &[Event], who: Option<&str>) -> usize {
        events
            .iter()
            .filter(|ev| {
                ev.audience == Audience::Staff
                    && matches!(&ev.kind, EventKind::BudgetWarning { member, .. }
                        if member.as_ref().map(MemberId::as_str) == who)
            })
            .count()
    }

    #[test]
    fn a_member_over_their_share_is_refused_staff_are_told_and_replay_agrees() {
        let mut h = hall();
        let long = "x".repeat(2_000);
        let mut accepted = 0u64;
        let inputs: Vec<Input> = (0..200)
            .map(|_| Input::Command {
                from: id("ana"),
                command: note(&long),
            })
            .collect();
        let mut replayed = h.engine.clone();
        for input in inputs.clone() {
            let out = h.engine.handle(h.now, input);
            h.log.extend(out.events.iter().cloned());
            match out.result {
                Ok(()) => accepted += 1,
                Err(r) => {
                    assert_eq!(r.code, RejectCode::OverBudget, "{r}");
                    assert!(out.events.is_empty(), "a refusal changes nothing");
                }
            }
        }
        let per = 2_000 + ITEM_OVERHEAD_BYTES;
        assert_eq!(
            accepted,
            MEMBER_SHARE_BYTES / per,
            "the notes that fit the share"
        );
        assert_eq!(warned(&h.log, Some("ana")), 1, "staff are told once");
        let used = h.engine.roster().get(&id("ana")).unwrap().record_bytes;
        assert!(used <= MEMBER_SHARE_BYTES && used > MEMBER_SHARE_BYTES - per);
        // Others are not punished for one member's writing, and staff write on.
        h.ok("ben", note("mine"));
        h.ok("f", Command::Broadcast { text: long.clone() });

        // Replaying the same inputs gives the same state, so the same refusals.
        for input in inputs {
            let _ = replayed.handle(h.now, input);
        }
        let _ = replayed.handle(
            h.now,
            Input::Command {
                from: id("ben"),
                command: note("mine"),
            },
        );
        let _ = replayed.handle(
            h.now,
            Input::Command {
                from: id("f"),
                command: Command::Broadcast { text: long },
            },
        );
        assert_eq!(replayed.record_bytes(), h.engine.record_bytes());
        assert_eq!(replayed, h.engine);
    }

    #[test]
    fn the_rooms_budget_bounds_everyone_but_staff() {
        let mut h = hall();
        // As if many members had filled the room.
        h.engine.core.record_bytes = ROOM_BUDGET_BYTES - 100;
        h.refused("ana", note("a note of a few words"), RejectCode::OverBudget);
        h.engine.core.record_bytes = ROOM_BUDGET_BYTES / 100 * WARN_PERCENT - 10;
        let mark = h.log.len();
        h.ok("ana", note("just fits"));
        assert_eq!(
            warned(&h.log[mark..], None),
            1,
            "staff are told about the room"
        );
        h.engine.core.record_bytes = ROOM_BUDGET_BYTES;
        h.ok(
            "f",
            Command::Broadcast {
                text: "still on".into(),
            },
        );
    }
}
