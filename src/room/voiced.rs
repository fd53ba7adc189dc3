//! Voiced time, from the SFU into the room's journal.
//!
//! The SFU counts 20 ms of voiced floor time for each forwarded floor frame flagged as voice
//! (`media::Gates`). The figure belongs in the engine's ledger, journaled like any input, so
//! the live equity view shows it and a restart does not lose it; the engine still never hears
//! audio (`Input::Voiced` only adds numbers). The room journals what accumulated as one input:
//!
//! - before another input, when the last report is [`VOICED_BATCH`] old, so a release's
//!   equity update includes the turn's voice without doubling the journal's writes in a busy
//!   hall (at most a few extra inputs a second, and only while someone is heard);
//! - within [`VOICED_WAKE`] of the first unreported frame, on the actor's one timer, so a
//!   room where only the speaker is active still reports;
//! - before a report is built and before the room parks.
//!
//! A refused write (the store is away) puts the figure back for the next try.

use std::time::Duration;

use tokio::time::Instant;

use crate::engine::Input;
use crate::room::actor::RoomActor;

/// Least time between two reports that ride on another input.
pub(super) const VOICED_BATCH: Duration = Duration::from_millis(250);
/// Longest a measured frame waits to be journaled when nothing else happens in the room.
pub(super) const VOICED_WAKE: Duration = Duration::from_secs(1);

impl RoomActor {
    /// When the actor's timer must wake to report voiced time, if any is waiting.
    pub(super) fn voiced_wake(&mut self) -> Option<Instant> {
        if self.voiced_due.is_none() && self.ctx.media.has_voiced(&self.id) {
            self.voiced_due = Some(self.ctx.clock.instant() + VOICED_WAKE);
        }
        self.voiced_due
    }

    /// Reports voiced time ahead of another input, unless the last report is very recent.
    pub(super) async fn flush_voiced_before_input(&mut self) {
        let recent = self
            .voiced_flushed
            .is_some_and(|t| self.ctx.clock.instant() < t + VOICED_BATCH);
        if !recent {
            self.flush_voiced().await;
        }
    }

    /// Journals all voiced time measured so far in this room as one `Input::Voiced`.
    pub(super) async fn flush_voiced(&mut self) {
        self.voiced_due = None;
        let voiced = self.ctx.media.take_voiced(&self.id);
        if voiced.is_empty() {
            return;
        }
        self.voiced_flushed = Some(self.ctx.clock.instant());
        let res = self
            .apply_input(Input::Voiced {
                voiced: voiced.clone(),
            })
            .await;
        if self.unavailable && res.is_err() {
            // Not stored: measured again next time rather than lost.
            self.ctx.media.restore_voiced(&self.id, voiced);
        }
    }
}
