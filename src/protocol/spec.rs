//! The typed, validated form of a protocol file.
//!
//! The engine consumes only these types, never raw TOML. A `Protocol` is built by the loader
//! (`load.rs`) after every check has passed, so the engine may rely on the invariants written
//! on each field (durations are positive, warnings are shorter than what they warn about,
//! reflect-back only sits on phases with turns, phase ids are unique). Durations are in
//! milliseconds.

use serde::{Deserialize, Serialize};

/// One dialogue protocol: an ordered agenda of phases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Protocol {
    /// Short machine name, unique among loaded protocols (for example `living-room`).
    pub name: String,
    pub title: String,
    pub description: String,
    /// The group size the format is designed for, if it names one.
    pub group_size: Option<GroupSize>,
    /// Never empty.
    pub phases: Vec<PhaseSpec>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupSize {
    pub min: u32,
    pub max: u32,
}

/// One agenda item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseSpec {
    /// Unique within the protocol.
    pub id: String,
    pub title: String,
    /// The question or instruction shown to people during the phase.
    pub prompt: Option<String>,
    /// How long before a deadline the warning fires; zero means no warning. Always shorter than
    /// every turn and phase duration it applies to.
    pub warn_before_ms: u64,
    /// What happens when the phase's own time runs out.
    pub on_timeout: OnTimeout,
    pub kind: PhaseKind,
}

/// What a running timer does when it reaches its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnTimeout {
    /// Move on automatically (next turn, next phase).
    Advance,
    /// Keep going, flagged as overtime, until the facilitator (or a moderator, for a turn)
    /// moves on.
    Overtime,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PhaseKind {
    Presentation(PresentationSpec),
    Round(RoundSpec),
    Queue(QueueSpec),
    Fishbowl(FishbowlSpec),
    Curiosity(CuriositySpec),
    Reflection(ReflectionSpec),
    Breakout(BreakoutSpec),
    Qa(QaSpec),
    Poll(PollSpec),
}

impl PhaseKind {
    /// The name used for this kind in protocol files and on the wire.
    pub fn name(&self) -> &'static str {
        match self {
            PhaseKind::Presentation(_) => "presentation",
            PhaseKind::Round(_) => "round",
            PhaseKind::Queue(_) => "queue",
            PhaseKind::Fishbowl(_) => "fishbowl",
            PhaseKind::Curiosity(_) => "curiosity",
            PhaseKind::Reflection(_) => "reflection",
            PhaseKind::Breakout(_) => "breakout",
            PhaseKind::Qa(_) => "qa",
            PhaseKind::Poll(_) => "poll",
        }
    }
}

/// One designated speaker holds the floor for a set time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresentationSpec {
    pub duration_ms: u64,
    pub speaker: Presenter,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Presenter {
    /// The first facilitator present takes the floor when the phase starts.
    Facilitator,
    /// A panelist: a facilitator or moderator invites a member with `grant_floor`, and the
    /// member accepts.
    Invited,
}

/// A go-round: every present participant gets one turn in a fixed order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundSpec {
    pub order: RoundOrder,
    pub turn_ms: u64,
    /// Silent think time before the first turn (0 = none).
    pub think_ms: u64,
    /// Pause between two speakers (0 = none).
    pub pause_between_ms: u64,
    /// `pass` skips the turn.
    pub allow_pass: bool,
    /// `pass {for_now: true}` moves the member to the end of the round.
    pub allow_pass_for_now: bool,
    /// People who passed get one more chance at the end of the round.
    pub second_chance: bool,
    pub reflect_back: Option<ReflectBackSpec>,
    /// What an expiring turn does.
    pub on_turn_timeout: OnTimeout,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoundOrder {
    /// The order in which members joined the room.
    Join,
    /// A shuffle seeded from the room's seed.
    Random,
    /// Join order, interleaving communities.
    AlternateCommunities,
}

/// An open floor: raise a hand, join the queue, take turns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueSpec {
    pub ordering: QueueOrdering,
    /// Per-turn cap; `None` means a turn lasts until the speaker yields.
    pub turn_ms: Option<u64>,
    /// Phase length; `None` means until the facilitator moves on.
    pub duration_ms: Option<u64>,
    /// Nobody speaks a second time while someone who has not spoken is waiting.
    pub first_timers_first: bool,
    /// Lanes for `alternate_stance` (for example pro, con, question). Empty otherwise.
    pub stances: Vec<String>,
    pub reflect_back: Option<ReflectBackSpec>,
    pub on_turn_timeout: OnTimeout,
    /// After this long in the phase, a participant who has not spoken while others have gets a
    /// private, kind invitation to raise a hand (staff see who was nudged).
    pub nudge_after_ms: Option<u64>,
    /// The group may vote to move on to the next agenda item.
    pub move_on: Option<MoveOnSpec>,
}

/// "Move on together": participants vote to end the phase early.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoveOnSpec {
    /// Share of present participants whose votes end the phase, in percent (1..=100).
    pub threshold_pct: u32,
    /// Offer the vote to everyone when the floor has been empty, with no hands, this long.
    pub offer_after_silence_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueOrdering {
    /// First raised, first heard.
    Fifo,
    /// The floor alternates between communities when hands from several are waiting.
    AlternateCommunities,
    /// Hands carry a stance; the floor alternates between lanes, falling back to a lane that
    /// has hands when the next one is empty.
    AlternateStance,
    /// Least speaking time so far goes first.
    Progressive,
    /// Raise order, but only a moderator grants the floor.
    Moderator,
}

/// Only one side may take turns while the others listen; sides swap on a timer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FishbowlSpec {
    pub sides: FishbowlSides,
    /// Stances that form the sides when `sides = stance`. Empty otherwise.
    pub stances: Vec<String>,
    /// How long each side is in the inner circle.
    pub swap_after_ms: u64,
    pub turn_ms: u64,
    /// How many times every side takes the inner circle (at least 1).
    pub rounds: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FishbowlSides {
    Community,
    Stance,
}

/// Questions of genuine curiosity, member to member, within a total budget.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CuriositySpec {
    pub budget_ms: u64,
    pub question_ms: u64,
    pub answer_ms: u64,
}

/// A silent, timed pause for writing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReflectionSpec {
    pub duration_ms: u64,
    pub notes: NoteVisibility,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoteVisibility {
    /// Only the author sees a note.
    Private,
    /// Notes are shown to the room without the author's name.
    SharedAnonymous,
    /// No notes: a silent think timer.
    None,
}

/// Reflect-back ("looping"): before their own turn, the next speaker sums up the previous one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReflectBackSpec {
    /// Cap on one reflect-back attempt.
    pub reflect_ms: u64,
    /// Cap on the previous speaker's clarification after an attempt that missed.
    pub clarify_ms: u64,
    /// Attempts before the floor moves on regardless (at least 1).
    pub max_attempts: u32,
    /// How long the previous speaker has to confirm or ask to clarify; silence counts as
    /// confirmed, so an absent speaker cannot stall the room.
    pub confirm_ms: u64,
}

/// The room splits into small mixed groups running a sub-protocol (implemented with the
/// town-hall issue; the engine treats it as a timed phase until then).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakoutSpec {
    pub duration_ms: u64,
    pub group_size: u32,
    pub min_group_size: u32,
    /// Name of the protocol each group runs.
    pub protocol: String,
    /// Countdown before groups are recalled so nobody is cut off mid-sentence.
    pub closing_countdown_ms: u64,
}

/// Audience questions, up-votes, moderator approval; the approved question takes the floor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QaSpec {
    pub duration_ms: Option<u64>,
    pub answer_ms: u64,
    pub max_question_chars: u32,
    /// Moderated questions: a question is seen by its asker and staff only until a moderator
    /// approves it; then everyone sees it (`question_approved` carries it).
    #[serde(default)]
    pub moderated: bool,
}

/// A short question with fixed choices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollSpec {
    pub question: String,
    /// At least two, unique.
    pub choices: Vec<String>,
    pub duration_ms: Option<u64>,
    pub reveal: Reveal,
    /// With `reveal = at_close`: how long the results stay up before the next phase starts,
    /// unless the facilitator moves on sooner. Default [`DEFAULT_SHOW_RESULTS_MS`].
    #[serde(default = "default_show_results_ms")]
    pub show_results_ms: u64,
    /// Id of an earlier poll phase this one repeats (before/after), whose choices are the same.
    pub pairs_with: Option<String>,
}

/// How long a poll's results stay up at close when the protocol does not say: long enough
/// to read them aloud and for a screen reader to get through them.
pub const DEFAULT_SHOW_RESULTS_MS: u64 = 30_000;

fn default_show_results_ms() -> u64 {
    DEFAULT_SHOW_RESULTS_MS
}

impl PollSpec {
    /// How long the closed results hold the agenda: `show_results` for an `at_close` poll,
    /// nothing for a live one.
    pub fn held_ms(&self) -> u64 {
        match self.reveal {
            Reveal::AtClose => self.show_results_ms,
            Reveal::Live => 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reveal {
    Live,
    AtClose,
}

impl Protocol {
    /// Sum of the phases' planned durations for `n` participants: fixed phase lengths plus,
    /// for go-rounds, think time and `n` full turns with their pauses. Queue phases without a
    /// set length count as zero, which `describe` says out loud.
    pub fn planned_ms(&self, n: u64) -> u64 {
        self.phases
            .iter()
            .fold(0u64, |acc, p| acc.saturating_add(p.planned_ms(n)))
    }
}

impl PhaseSpec {
    /// Planned length of this phase for `n` participants (see [`Protocol::planned_ms`]).
    pub fn planned_ms(&self, n: u64) -> u64 {
        match &self.kind {
            PhaseKind::Presentation(p) => p.duration_ms,
            PhaseKind::Round(r) => {
                let reflect = r.reflect_back.map_or(0, |rb| rb.reflect_ms);
                r.think_ms + n * r.turn_ms + n.saturating_sub(1) * (r.pause_between_ms + reflect)
            }
            PhaseKind::Queue(q) => q.duration_ms.unwrap_or(0),
            PhaseKind::Fishbowl(f) => f.swap_after_ms * u64::from(f.rounds) * 2,
            PhaseKind::Curiosity(c) => c.budget_ms,
            PhaseKind::Reflection(r) => r.duration_ms,
            PhaseKind::Breakout(b) => b.duration_ms,
            PhaseKind::Qa(q) => q.duration_ms.unwrap_or(0),
            PhaseKind::Poll(p) => p.duration_ms.unwrap_or(0).saturating_add(p.held_ms()),
        }
    }
}
