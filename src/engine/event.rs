//! What happened in a room, as the engine reports it.
//!
//! Every state change is an event, so the event log is the source of truth for reconnecting
//! clients, the transcript and the equity report. Events carry an audience: most go to
//! everyone, a few are private (a private note, a nudge, an invitation). The room actor
//! numbers all of them in one sequence, so a member may see gaps in the numbers where an
//! event was for someone else.

use serde::{Deserialize, Serialize};

use crate::engine::member::{MemberId, Role};
use crate::engine::moderation::ReportStatus;
use crate::time::Millis;

/// Who may see an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "to", content = "member", rename_all = "snake_case")]
pub enum Audience {
    Everyone,
    /// Facilitators, moderators and organizers.
    Staff,
    /// One member, and staff.
    MemberAndStaff(MemberId),
    /// One member only (a private note).
    Member(MemberId),
}

impl Audience {
    /// Whether a member with this id and role may see the event.
    pub fn includes(&self, member: &MemberId, role: Role) -> bool {
        match self {
            Audience::Everyone => true,
            Audience::Staff => role.is_staff(),
            Audience::MemberAndStaff(m) => m == member || role.is_staff(),
            Audience::Member(m) => m == member,
        }
    }
}

/// An event with its time and audience.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// When it happened on the room's timeline. For timer-driven events this is the deadline,
    /// not the moment the timer was noticed, so accounting does not drift.
    pub at: Millis,
    pub audience: Audience,
    pub kind: EventKind,
}

/// Why a floor holder stopped holding the floor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseReason {
    Yielded,
    Expired,
    Revoked,
    Muted,
    Left,
    Passed,
    PhaseEnded,
    SideSwapped,
    /// A moderator's invited speaker took over a presentation.
    HandedOver,
}

/// What kind of turn holds the floor. Reflect-back time is accounted apart from own-view time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TurnKind {
    /// The speaker's own view.
    Own,
    /// Summing up the previous speaker.
    Reflect,
    /// The previous speaker clarifying after a reflect-back that missed.
    Clarify,
    /// A question of curiosity, or an audience question being put.
    Question,
    /// An answer to a question.
    Answer,
    /// A presentation.
    Presentation,
}

/// The event payloads. The serde form is the `event` object of the wire protocol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    MemberJoined {
        member: MemberId,
        name: String,
        role: Role,
        community: Option<String>,
    },
    MemberLeft {
        member: MemberId,
    },
    /// Staff only: `member`'s last connection dropped. They keep their place in line (and the
    /// floor, whose own timer keeps running) until `until`, the end of the reconnect grace;
    /// `member_left` follows then unless they come back first.
    MemberReconnecting {
        member: MemberId,
        until: Millis,
    },
    /// Staff only: a reconnecting member came back within the grace, with their place.
    MemberReconnected {
        member: MemberId,
    },
    MemberRemoved {
        member: MemberId,
        by: MemberId,
    },
    SessionStarted,
    SessionPaused,
    /// All deadlines moved later by `shifted_ms`.
    SessionResumed {
        shifted_ms: u64,
    },
    SessionEnded,
    PhaseStarted {
        index: usize,
        id: String,
        kind: String,
        title: String,
        prompt: Option<String>,
        deadline: Option<Millis>,
    },
    PhaseEnded {
        index: usize,
        id: String,
    },
    /// The phase's time ran out and the protocol leaves the next step to the facilitator.
    PhaseOvertime {
        index: usize,
    },
    /// Think time before the first turn, or the pause between speakers.
    Interlude {
        until: Millis,
        think: bool,
    },
    FloorGranted {
        member: MemberId,
        /// The member's display name, so clients of large rooms need no roster to show it.
        name: String,
        turn: TurnKind,
        deadline: Option<Millis>,
        /// For a reflect-back or an answer: whom it responds to.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        responding_to: Option<MemberId>,
        /// The moderator whose `grant_floor` served a raised hand; absent when the phase's
        /// own rules gave the floor.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        by: Option<MemberId>,
    },
    FloorReleased {
        member: MemberId,
        turn: TurnKind,
        reason: ReleaseReason,
        /// Time held on this turn, pauses excluded.
        held_ms: u64,
    },
    /// A moderator took the floor back (the release follows).
    FloorRevoked {
        member: MemberId,
        by: MemberId,
    },
    TurnOvertime {
        member: MemberId,
    },
    /// A staff member started (`on`) or stopped speaking over the floor. `held_ms` is the
    /// interjection's length on the `on: false` event (zero on `on: true`); it is accounted
    /// apart from residents' speaking time and never enters the equity figures.
    Interjected {
        member: MemberId,
        on: bool,
        held_ms: u64,
    },
    /// A deadline is close (turn or phase).
    Warning {
        deadline: Millis,
        phase: bool,
    },
    DeadlineExtended {
        deadline: Millis,
        phase: bool,
    },
    HandRaised {
        member: MemberId,
        name: String,
        stance: Option<String>,
        /// Where the hand went in the service order (0 = next). A `queue_changed` follows only
        /// when other hands moved as well.
        position: u32,
    },
    HandLowered {
        member: MemberId,
    },
    /// The queue in the order the floor will go, after any change to it.
    QueueChanged {
        order: Vec<MemberId>,
        /// The moderator whose command (`move_in_queue`, `grant_floor`, `mute`, ...) changed
        /// the queue; absent when members or the phase's rules changed it.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        by: Option<MemberId>,
    },
    Passed {
        member: MemberId,
        for_now: bool,
    },
    /// The previous speaker is asked to confirm the reflect-back.
    ReflectionPending {
        speaker: MemberId,
        listener: MemberId,
        until: Millis,
        attempt: u32,
    },
    ReflectionConfirmed {
        speaker: MemberId,
        listener: MemberId,
        /// True when the speaker let the confirmation window pass.
        by_timeout: bool,
    },
    ClarificationRequested {
        speaker: MemberId,
        listener: MemberId,
    },
    Invited {
        member: MemberId,
        by: MemberId,
    },
    InvitationDeclined {
        member: MemberId,
    },
    Muted {
        member: MemberId,
        by: MemberId,
    },
    Unmuted {
        member: MemberId,
        by: MemberId,
    },
    Said {
        message: u64,
        member: MemberId,
        text: String,
    },
    /// A reflection note. `member` is absent for notes shared without names.
    Noted {
        message: u64,
        member: Option<MemberId>,
        text: String,
    },
    Hidden {
        message: u64,
        by: MemberId,
    },
    Broadcast {
        by: MemberId,
        text: String,
    },
    /// Fishbowl: the side that may speak now.
    SideChanged {
        side: String,
        until: Millis,
    },
    QuestionAsked {
        question: u64,
        member: MemberId,
        text: String,
    },
    QuestionUpvoted {
        question: u64,
        votes: u32,
    },
    /// Carries the question itself (asker, text, up-votes so far), so that in a moderated
    /// phase, where only its asker and staff got `question_asked`, everyone can now show it.
    QuestionApproved {
        question: u64,
        by: MemberId,
        member: MemberId,
        text: String,
        votes: u32,
    },
    /// The approved question now being answered.
    QuestionOnFloor {
        question: u64,
        asker: MemberId,
        text: String,
    },
    Voted {
        member: MemberId,
        choice: String,
    },
    QuestionsMerged {
        question: u64,
        into: u64,
        votes: u32,
        /// The moderator who merged them.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        by: Option<MemberId>,
    },
    /// The approved questions in the order they will be answered.
    QuestionOrder {
        order: Vec<u64>,
        /// The moderator who placed a question (`order_question`).
        #[serde(skip_serializing_if = "Option::is_none", default)]
        by: Option<MemberId>,
    },
    /// The hall split into groups (group index = position), each running `protocol`.
    BreakoutOpened {
        protocol: String,
        groups: Vec<Vec<MemberId>>,
        until: Option<Millis>,
    },
    /// A member was placed in (or moved to) a group.
    BreakoutMoved {
        member: MemberId,
        group: u32,
    },
    /// The facilitator recalled the groups; they close at `until`.
    BreakoutClosing {
        until: Millis,
    },
    BreakoutClosed,
    HelpRequested {
        member: MemberId,
    },
    /// A staff member dealt with `member`'s help request (`resolve_help`).
    HelpResolved {
        member: MemberId,
        by: MemberId,
    },
    /// A private invitation to raise a hand, for a participant who has not spoken yet.
    Nudged {
        member: MemberId,
    },
    /// The floor has been quiet: anyone may vote to move on.
    MoveOnOffered,
    MoveOnTally {
        votes: u32,
        eligible: u32,
        threshold_pct: u32,
    },
    /// Enough participants voted to move on; the phase ends.
    MoveOnCarried {
        votes: u32,
        eligible: u32,
    },
    /// Fairness figures after a turn, for staff.
    EquityUpdated {
        gini: f64,
        gini_within: f64,
        gini_between: f64,
        total_speaking_ms: u64,
        /// Voiced floor time of the participants (audio; see `docs/media.md`).
        #[serde(default)]
        total_voiced_ms: u64,
        /// Own-view speaking time per community.
        by_community: Vec<(String, u64)>,
        not_spoken: u32,
    },
    /// A member reported a message or a member (staff only). Exactly one of `message` and
    /// `member` is present.
    ReportFiled {
        report: u64,
        by: MemberId,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        message: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        member: Option<MemberId>,
        reason: String,
    },
    /// A report was closed (staff only): dismissed, or settled by hiding, muting or removing
    /// what it pointed at. `by` is the moderator who acted.
    ReportClosed {
        report: u64,
        by: MemberId,
        status: ReportStatus,
    },
    /// A message matched the word list (staff only). The message was delivered as usual;
    /// this only asks a moderator to look. `member` is absent for notes shared without names.
    MessageFlagged {
        message: u64,
        member: Option<MemberId>,
        words: Vec<String>,
    },
    /// Staff only: a member (`None`: the room) has used `WARN_PERCENT` of its share of the
    /// room's record (`engine::budget`); past the share their texts are refused
    /// `over_budget`.
    BudgetWarning {
        member: Option<MemberId>,
        used_bytes: u64,
        limit_bytes: u64,
    },
    /// Poll counts per choice, overall and by community.
    PollResults {
        phase: String,
        totals: Vec<(String, u32)>,
        by_community: Vec<(String, Vec<(String, u32)>)>,
        closed: bool,
        /// With `reveal = at_close`: the results stay up until then (or until the facilitator
        /// moves on), and the next phase starts after them.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        until: Option<Millis>,
    },
}
