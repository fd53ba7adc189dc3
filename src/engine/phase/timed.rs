//! Timed phases with no floor: `reflection` (silent writing, notes private or shared without
//! names).

use serde::{Deserialize, Serialize};

use crate::engine::command::Command;
use crate::engine::core::Core;
use crate::engine::event::{Audience, EventKind};
use crate::engine::member::MemberId;
use crate::engine::phase::{Flow, Rules};
use crate::engine::reject::{reject, RejectCode, Rejection};
use crate::protocol::NoteVisibility;
use crate::time::Millis;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timed {
    pub notes: NoteVisibility,
    /// How many notes each member wrote (shown to staff, never the text of private notes).
    pub n_notes: u32,
}

impl Timed {
    pub fn reflection(notes: NoteVisibility) -> Timed {
        Timed { notes, n_notes: 0 }
    }

    pub fn breakout() -> Timed {
        Timed {
            notes: NoteVisibility::None,
            n_notes: 0,
        }
    }

    fn note(
        &mut self,
        core: &mut Core,
        at: Millis,
        from: &MemberId,
        text: &str,
    ) -> Result<Flow, Rejection> {
        let text = crate::engine::moderation::clean_text(text);
        let text = text.trim();
        if text.is_empty() {
            return reject(RejectCode::Invalid, "a note needs some text");
        }
        if text.chars().count() > core.config.max_text_chars {
            return reject(
                RejectCode::TooLong,
                format!(
                    "notes are limited to {} characters",
                    core.config.max_text_chars
                ),
            );
        }
        if self.notes == NoteVisibility::None {
            return reject(RejectCode::NotAllowed, "this phase is silent: no notes");
        }
        let message = core.new_item();
        let text = text.to_string();
        match self.notes {
            NoteVisibility::None => {}
            NoteVisibility::Private => core.emit_to(
                at,
                Audience::Member(from.clone()),
                EventKind::Noted {
                    message,
                    member: Some(from.clone()),
                    text,
                },
            ),
            NoteVisibility::SharedAnonymous => {
                core.emit(
                    at,
                    EventKind::Noted {
                        message,
                        member: None,
                        text,
                    },
                );
            }
        }
        self.n_notes += 1;
        Ok(Flow::Continue)
    }
}

impl Rules for Timed {
    fn command(
        &mut self,
        core: &mut Core,
        at: Millis,
        from: &MemberId,
        cmd: &Command,
    ) -> Option<Result<Flow, Rejection>> {
        match cmd {
            Command::Note { text } => Some(self.note(core, at, from, text)),
            _ => None,
        }
    }
}
