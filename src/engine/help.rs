//! Help requests: a resident asks staff for help (at most one open request each), and staff
//! resolve it, which clears it for every staff member and tells the resident.

use crate::engine::event::{Audience, EventKind};
use crate::engine::member::MemberId;
use crate::engine::reject::{reject, RejectCode, Rejection};
use crate::engine::Engine;
use crate::time::Millis;

impl Engine {
    pub(super) fn ask_help(&mut self, at: Millis, from: &MemberId) -> Result<(), Rejection> {
        if self.core.help.contains(from) {
            return reject(
                RejectCode::Duplicate,
                "you already asked for help; a facilitator will come",
            );
        }
        self.core.help.push(from.clone());
        self.core.emit_to(
            at,
            Audience::Staff,
            EventKind::HelpRequested {
                member: from.clone(),
            },
        );
        Ok(())
    }

    pub(super) fn resolve_help(
        &mut self,
        at: Millis,
        by: &MemberId,
        member: &MemberId,
    ) -> Result<(), Rejection> {
        let Some(i) = self.core.help.iter().position(|m| m == member) else {
            return reject(
                RejectCode::UnknownItem,
                "that member has no open help request",
            );
        };
        self.core.help.remove(i);
        self.core.emit_to(
            at,
            Audience::MemberAndStaff(member.clone()),
            EventKind::HelpResolved {
                member: member.clone(),
                by: by.clone(),
            },
        );
        Ok(())
    }
}
