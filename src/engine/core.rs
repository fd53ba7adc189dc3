//! The state every phase shares: roster, session, floor, ledger and the events of the input
//! being handled.
//!
//! Phases own their own rules but go through `Core` to grant and release the floor, so
//! accounting and the floor invariants (one holder at most, present and not muted) live in one
//! place.
//!
//! `Core` also keeps the last [`RECENT_MESSAGES`] messages (`said`, shared `noted`), taken
//! from the events as they are emitted, so a snapshot can show someone who joins late or
//! reloads the conversation so far. It lives in the engine state rather than the shell so a
//! node that rebuilds a room from Redis (snapshot + input log) has the same history.

use std::collections::VecDeque;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::engine::event::{Audience, Event, EventKind, ReleaseReason, TurnKind};
use crate::engine::ledger::Ledger;
use crate::engine::member::{MemberId, Roster};
use crate::engine::moderation::{Report, WordList};
use crate::engine::rng::Rng;
use crate::engine::timer::Timer;
use crate::protocol::{OnTimeout, PhaseSpec, Protocol};
use crate::time::Millis;

/// Most messages a room keeps for snapshots. Each text is already capped by
/// `max_text_chars`, so this bounds the memory and the snapshot size too.
pub const RECENT_MESSAGES: usize = 100;

/// Which event carried a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    Said,
    Noted,
}

/// A message as a snapshot may replay it, with the audience of the event that carried it so a
/// viewer only gets what they would have received live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecentMessage {
    pub message: u64,
    pub kind: MessageKind,
    /// Absent for notes shared without names.
    pub member: Option<MemberId>,
    /// Shared, because every input clones the engine in cluster mode (for the rollback).
    pub text: Arc<str>,
    /// The `at` of the event that carried it.
    pub at: Millis,
    pub audience: Audience,
}

/// Where the session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Session {
    NotStarted,
    Running,
    Paused { since: Millis },
    Ended,
}

/// Who holds the floor and since when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Floor {
    pub member: MemberId,
    pub turn: TurnKind,
    pub granted_at: Millis,
    /// Start of the current unpaused stretch; `None` while paused.
    pub segment_start: Option<Millis>,
    /// Time held before the current stretch.
    pub held_before_ms: u64,
    /// The turn's cap; `None` when uncapped or in overtime.
    pub timer: Option<Timer>,
    pub overtime: bool,
    pub responding_to: Option<MemberId>,
    /// What an expiring turn does.
    pub on_timeout: OnTimeout,
}

impl Floor {
    /// Time held up to `at`, pauses excluded.
    pub fn held_ms(&self, at: Millis) -> u64 {
        self.held_before_ms + self.segment_start.map_or(0, |s| at.since(s))
    }
}

/// What a release handed back to the phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Released {
    pub member: MemberId,
    pub turn: TurnKind,
    pub reason: ReleaseReason,
    pub responding_to: Option<MemberId>,
}

/// Engine-wide settings that are not part of the protocol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineConfig {
    /// Seeds every random choice (go-round order, breakout groups).
    pub seed: u64,
    /// Longest text accepted in `speak`, `note`, `broadcast` (characters).
    pub max_text_chars: usize,
    /// Words and phrases that flag a message for moderators (`message_flagged`). Shared, since
    /// every room of a server uses the same list.
    #[serde(default)]
    pub word_list: Arc<WordList>,
    /// Small-group privacy in polls: a community with fewer voters than this gets no
    /// breakdown of its own (see `phase::poll`).
    #[serde(default = "default_poll_min_voters")]
    pub poll_min_voters: u32,
    /// How long a member whose last connection dropped keeps their place in line and the
    /// floor (`--reconnect-grace`). Zero leaves at once, as a snapshot from before the grace
    /// existed did, so its replay is unchanged.
    #[serde(default)]
    pub reconnect_grace_ms: u64,
}

/// Three voters: with one or two, a community's counts reveal how each of them voted.
pub const DEFAULT_POLL_MIN_VOTERS: u32 = 3;

fn default_poll_min_voters() -> u32 {
    DEFAULT_POLL_MIN_VOTERS
}

impl EngineConfig {
    pub fn with_seed(seed: u64) -> EngineConfig {
        EngineConfig {
            seed,
            max_text_chars: 2_000,
            word_list: Arc::default(),
            poll_min_voters: DEFAULT_POLL_MIN_VOTERS,
            reconnect_grace_ms: 0,
        }
    }

    /// The same settings with a reconnect grace (the server passes `--reconnect-grace`).
    pub fn with_reconnect_grace(self, reconnect_grace_ms: u64) -> EngineConfig {
        EngineConfig {
            reconnect_grace_ms,
            ..self
        }
    }

    /// The same settings with a word list (the server passes the one from its config).
    pub fn with_word_list(self, word_list: Arc<WordList>) -> EngineConfig {
        EngineConfig { word_list, ..self }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Core {
    pub protocol: Arc<Protocol>,
    pub config: EngineConfig,
    pub rng: Rng,
    pub roster: Roster,
    pub session: Session,
    /// Index of the running phase.
    pub phase_idx: Option<usize>,
    /// The phase's own time limit, if it has one.
    pub phase_timer: Option<Timer>,
    pub phase_overtime: bool,
    pub floor: Option<Floor>,
    /// A member invited to speak who has not answered yet.
    pub invitation: Option<MemberId>,
    /// Who said yes to the last invitation, until the next one: their repeated yes (a
    /// double click, a second tab) is answered `ack` with no effect, not an error.
    #[serde(default)]
    pub accepted: Option<MemberId>,
    pub ledger: Ledger,
    /// Ids for messages, notes and questions (one counter, so `hide` works on all of them).
    pub next_item: u64,
    pub hidden: Vec<u64>,
    /// Open reports, oldest first; closed ones are dropped (the event log keeps them).
    #[serde(default)]
    pub reports: Vec<Report>,
    /// Members with an open help request, oldest first: at most one each.
    #[serde(default)]
    pub help: Vec<MemberId>,
    /// The id the next report gets (report ids are their own sequence, from 1).
    #[serde(default = "first_id")]
    pub next_report: u64,
    /// The most recent breakout groups, for `open_breakouts` with reuse or reshuffle.
    pub last_groups: Option<Vec<Vec<crate::engine::member::MemberId>>>,
    /// The last [`RECENT_MESSAGES`] messages, oldest first (hidden ones included: staff still
    /// see them; the view filters).
    #[serde(default)]
    pub recent: VecDeque<RecentMessage>,
    /// Staff interjecting now, with when each started (`interject`).
    #[serde(default)]
    pub interjecting: Vec<(MemberId, Millis)>,
    /// Bytes members' texts added to the room's record (`engine::budget`).
    #[serde(default)]
    pub record_bytes: u64,
    /// Members whose last connection dropped, with the end of their reconnect grace, in the
    /// order they dropped (`admission.rs`). Still present until then.
    #[serde(default)]
    pub reconnecting: Vec<(MemberId, Millis)>,
    /// Events produced by the input being handled, drained by the engine.
    #[serde(skip)]
    pub out: Vec<Event>,
    /// Set only while an [`Input::Outage`](crate::engine::Input::Outage) fires what fell due
    /// while the room was down: the instant it runs again. Whatever starts before it (a turn,
    /// a phase, a pause between speakers) starts at it instead, see [`Core::start_at`]. Never
    /// stored: it is set and cleared inside one `handle`.
    #[serde(skip)]
    pub resumed_at: Option<Millis>,
}

fn first_id() -> u64 {
    1
}

impl Core {
    pub fn new(protocol: Arc<Protocol>, config: EngineConfig) -> Core {
        Core {
            rng: Rng::new(config.seed),
            protocol,
            config,
            roster: Roster::default(),
            session: Session::NotStarted,
            phase_idx: None,
            phase_timer: None,
            phase_overtime: false,
            floor: None,
            invitation: None,
            accepted: None,
            ledger: Ledger::default(),
            next_item: 1,
            hidden: Vec::new(),
            help: Vec::new(),
            reports: Vec::new(),
            next_report: 1,
            last_groups: None,
            recent: VecDeque::new(),
            interjecting: Vec::new(),
            record_bytes: 0,
            reconnecting: Vec::new(),
            out: Vec::new(),
            resumed_at: None,
        }
    }

    /// The instant something that would start at `at` starts: `at` itself, except while an
    /// outage is handled, when nothing starts before the room runs again. A turn that would
    /// have started (and maybe ended) while no node ran the room was never heard by anyone,
    /// so it starts when clients can hear it and gets its full length from there. Endings
    /// never go through here: an expired turn ends at its own deadline.
    pub fn start_at(&self, at: Millis) -> Millis {
        self.resumed_at.map_or(at, |r| r.max(at))
    }

    pub fn emit(&mut self, at: Millis, kind: EventKind) {
        self.emit_to(at, Audience::Everyone, kind);
    }

    pub fn emit_to(&mut self, at: Millis, audience: Audience, kind: EventKind) {
        let ev = Event { at, audience, kind };
        self.remember(&ev);
        self.out.push(ev);
    }

    /// Keeps a message for later snapshots. A private note (one member's audience) is left
    /// out: only its author ever had it, and a reflection phase full of them would push every
    /// shared message out of the ring.
    fn remember(&mut self, ev: &Event) {
        if matches!(ev.audience, Audience::Member(_)) {
            return;
        }
        let (message, kind, member, text) = match &ev.kind {
            EventKind::Said {
                message,
                member,
                text,
            } => (*message, MessageKind::Said, Some(member.clone()), text),
            EventKind::Noted {
                message,
                member,
                text,
            } => (*message, MessageKind::Noted, member.clone(), text),
            _ => return,
        };
        if self.recent.len() >= RECENT_MESSAGES {
            self.recent.pop_front();
        }
        self.recent.push_back(RecentMessage {
            message,
            kind,
            member,
            text: Arc::from(text.as_str()),
            at: ev.at,
            audience: ev.audience.clone(),
        });
    }

    pub fn phase_spec(&self) -> Option<&PhaseSpec> {
        self.phase_idx.and_then(|i| self.protocol.phases.get(i))
    }

    pub fn warn_ms(&self) -> u64 {
        self.phase_spec().map_or(0, |p| p.warn_before_ms)
    }

    pub fn is_paused(&self) -> bool {
        matches!(self.session, Session::Paused { .. })
    }

    pub fn holder(&self) -> Option<&MemberId> {
        self.floor.as_ref().map(|f| &f.member)
    }

    pub fn holds_floor(&self, member: &MemberId) -> bool {
        self.holder() == Some(member)
    }

    /// A new id for a message, note or question.
    pub fn new_item(&mut self) -> u64 {
        let id = self.next_item;
        self.next_item += 1;
        id
    }

    /// Gives the floor to `member`. The caller has checked that the floor is free and that the
    /// member is present and not muted; a debug assertion guards it.
    pub fn grant(
        &mut self,
        at: Millis,
        member: MemberId,
        turn: TurnKind,
        cap_ms: Option<u64>,
        responding_to: Option<MemberId>,
        on_timeout: OnTimeout,
    ) {
        debug_assert!(self.floor.is_none(), "grant while the floor is held");
        let at = self.start_at(at);
        debug_assert!(
            self.roster
                .get(&member)
                .is_some_and(|m| m.present && !m.muted),
            "grant to an absent or muted member"
        );
        let warn = self.warn_ms();
        let timer = cap_ms.map(|ms| Timer::new(at, ms, warn));
        let paused = self.is_paused();
        let name = self
            .roster
            .get(&member)
            .map(|m| m.name.clone())
            .unwrap_or_default();
        self.emit(
            at,
            EventKind::FloorGranted {
                member: member.clone(),
                name,
                turn,
                deadline: timer.map(|t| t.deadline),
                responding_to: responding_to.clone(),
                by: None,
            },
        );
        if self.invitation.as_ref() == Some(&member) {
            self.invitation = None;
        }
        self.floor = Some(Floor {
            member,
            turn,
            granted_at: at,
            segment_start: (!paused).then_some(at),
            held_before_ms: 0,
            timer,
            overtime: false,
            responding_to,
            on_timeout,
        });
    }

    /// Takes the floor back, credits the time held and reports who had it.
    pub fn release(&mut self, at: Millis, reason: ReleaseReason) -> Option<Released> {
        let floor = self.floor.take()?;
        if self.resumed_at == Some(at) && floor.granted_at == at {
            // A turn an outage started at `at` and a deadline that was due in the same
            // outage ends at once (the phase ran out too): nobody heard of it, so it never
            // happened. Its grant is taken back out of this input's events; nothing is
            // credited or counted.
            self.out.retain(|e| {
                !(e.at == at
                    && matches!(&e.kind, EventKind::FloorGranted { member, .. } if *member == floor.member))
            });
            return None;
        }
        let held_ms = floor.held_ms(at);
        // A pass is not speaking: the time held before passing is credited to nobody, so
        // time and turns agree (docs/fairness.md). `held_ms` still reports what happened.
        if reason == ReleaseReason::Passed {
            self.ledger.count_pass(&floor.member);
        } else {
            self.ledger.credit(&floor.member, floor.turn, held_ms);
            self.ledger.count_turn(&floor.member, floor.turn);
        }
        self.emit(
            at,
            EventKind::FloorReleased {
                member: floor.member.clone(),
                turn: floor.turn,
                reason,
                held_ms,
            },
        );
        self.emit_equity(at);
        Some(Released {
            member: floor.member,
            turn: floor.turn,
            reason,
            responding_to: floor.responding_to,
        })
    }

    /// A compact equity summary for staff, after each turn.
    pub fn emit_equity(&mut self, at: Millis) {
        let e = crate::engine::equity::compute(&self.roster, &self.ledger);
        self.emit_to(
            at,
            Audience::Staff,
            EventKind::EquityUpdated {
                gini: e.gini,
                gini_within: e.gini_within,
                gini_between: e.gini_between,
                total_speaking_ms: e.total_speaking_ms,
                total_voiced_ms: e.total_voiced_ms,
                by_community: e
                    .communities
                    .iter()
                    .map(|c| (c.community.clone(), c.speaking_ms))
                    .collect(),
                not_spoken: e.not_spoken.len() as u32,
            },
        );
    }

    /// Freezes the floor's running time (pause).
    pub fn freeze_floor(&mut self, at: Millis) {
        if let Some(f) = self.floor.as_mut() {
            if let Some(s) = f.segment_start.take() {
                f.held_before_ms += at.since(s);
            }
        }
    }

    /// Restarts the floor's running time and moves every core timer later (resume).
    pub fn thaw(&mut self, at: Millis, shift_ms: u64) {
        if let Some(f) = self.floor.as_mut() {
            f.segment_start = Some(at);
            if let Some(t) = f.timer.as_mut() {
                t.shift(shift_ms);
            }
        }
        if let Some(t) = self.phase_timer.as_mut() {
            t.shift(shift_ms);
        }
        for (_, until) in &mut self.reconnecting {
            *until = *until + shift_ms;
        }
    }

    /// Whether `member` may take the floor now: present, not muted.
    pub fn can_speak(&self, member: &MemberId) -> bool {
        self.roster
            .get(member)
            .is_some_and(|m| m.present && !m.muted)
    }
}
