//! Everything a member can ask the engine to do, as one closed enum.
//!
//! The wire format of commands *is* this enum's serde form (`{"type": "raise_hand", ...}`):
//! the gateway parses a frame straight into a `Command`, so an unknown type or field is a
//! parse error there and never reaches a room. Which role may send which command is decided
//! by [`Command::capability`], in one place, so the role matrix is easy to read and to test.

use serde::{Deserialize, Serialize};

use crate::engine::member::{MemberId, Role};

/// A member's request. Fields are validated by the engine, not trusted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    // Participation.
    /// Join the speaker queue; `stance` names a lane where the phase has lanes.
    RaiseHand {
        #[serde(default)]
        stance: Option<String>,
    },
    LowerHand,
    /// Say something in text while holding the floor.
    Speak {
        text: String,
    },
    /// Skip one's turn in a go-round; `for_now` moves one to the end of the round instead.
    Pass {
        #[serde(default)]
        for_now: bool,
    },
    /// End one's turn early. In a curiosity phase the asker names whom the question is for.
    YieldFloor {
        #[serde(default)]
        to: Option<MemberId>,
    },
    /// The previous speaker says the reflect-back got it right.
    ConfirmReflection,
    /// The previous speaker says the reflect-back missed and asks for a short clarification.
    RequestClarification,
    /// Accept a moderator's invitation to speak.
    AcceptFloor,
    /// Decline a moderator's invitation to speak.
    DeclineFloor,
    /// Write a reflection note.
    Note {
        text: String,
    },
    /// Submit an audience question.
    Ask {
        text: String,
    },
    Upvote {
        question: u64,
    },
    Vote {
        choice: String,
    },
    /// Vote to move on to the next agenda item (`agree: false` takes the vote back).
    MoveOn {
        #[serde(default = "yes")]
        agree: bool,
    },

    // Agenda (facilitators).
    Start,
    Pause,
    Resume,
    NextPhase,
    /// Add time to the current turn, or to the phase.
    Extend {
        seconds: u32,
        #[serde(default)]
        target: ExtendTarget,
    },
    End,
    Broadcast {
        text: String,
    },
    /// Split into breakout groups now (again), optionally with another size, reusing the
    /// previous groups or reshuffling so people meet someone new.
    OpenBreakouts {
        #[serde(default)]
        group_size: Option<u32>,
        #[serde(default)]
        assignment: Option<Assignment>,
    },
    /// Recall the groups early, after the protocol's closing countdown.
    CloseBreakouts,

    // Floor and moderation (moderators and facilitators).
    /// Invite a member to speak; they take the floor only when they accept.
    GrantFloor {
        member: MemberId,
    },
    RevokeFloor,
    Mute {
        member: MemberId,
    },
    Unmute {
        member: MemberId,
    },
    MoveInQueue {
        member: MemberId,
        position: u32,
    },
    Remove {
        member: MemberId,
    },
    Hide {
        message: u64,
    },
    Approve {
        question: u64,
    },
    /// Fold a duplicate question into another (votes are combined, the duplicate is hidden).
    MergeQuestions {
        question: u64,
        into: u64,
    },
    /// Place an approved question at a position in the answer order.
    OrderQuestion {
        question: u64,
        position: u32,
    },
    /// Move a participant to another breakout group.
    MoveToGroup {
        member: MemberId,
        group: u32,
    },
    /// Staff speak over the floor (`on: true`) or stop (`on: false`). The media layer
    /// forwards an interjecting staff member's voice beside the floor holder's.
    Interject {
        on: bool,
    },

    // Participants.
    /// Ask the facilitators for help (from a breakout group, for example).
    AskHelp,

    // Reports (any member) and their handling (moderators).
    /// Point staff at a message (by its item id, as `hide` takes it) or at a member, with a
    /// reason. Exactly one of `message` and `member`.
    Report {
        #[serde(default)]
        message: Option<u64>,
        #[serde(default)]
        member: Option<MemberId>,
        reason: String,
    },
    /// Close a report without acting on it. Hiding, muting or removing what a report points
    /// at closes it too.
    DismissReport {
        report: u64,
    },
    /// Staff mark a member's help request as dealt with; it leaves every staff member's list.
    ResolveHelp {
        member: MemberId,
    },
}

fn yes() -> bool {
    true
}

/// How `open_breakouts` forms groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Assignment {
    /// A fresh mixed assignment.
    New,
    /// The previous breakout's groups, with newcomers placed where the mix needs them.
    Reuse,
    /// A fresh assignment that repeats as few earlier pairs as it can.
    Reshuffle,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExtendTarget {
    /// The current turn, or the phase when nobody holds the floor.
    #[default]
    Turn,
    Phase,
}

/// The kind of authority a command needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// Residents taking part (participants).
    Participate,
    /// Running the agenda (facilitators, organizers).
    Facilitate,
    /// Keeping the floor fair (moderators, facilitators, organizers).
    Moderate,
    /// Telling staff about a problem: everyone in the room, observers included, because
    /// anyone who can see abuse should be able to point at it.
    Report,
}

impl Command {
    /// The wire name of the command, used in logs, metrics and error messages.
    pub fn name(&self) -> &'static str {
        match self {
            Command::RaiseHand { .. } => "raise_hand",
            Command::LowerHand => "lower_hand",
            Command::Speak { .. } => "speak",
            Command::Pass { .. } => "pass",
            Command::YieldFloor { .. } => "yield_floor",
            Command::ConfirmReflection => "confirm_reflection",
            Command::RequestClarification => "request_clarification",
            Command::AcceptFloor => "accept_floor",
            Command::DeclineFloor => "decline_floor",
            Command::Note { .. } => "note",
            Command::Ask { .. } => "ask",
            Command::Upvote { .. } => "upvote",
            Command::Vote { .. } => "vote",
            Command::Start => "start",
            Command::Pause => "pause",
            Command::Resume => "resume",
            Command::NextPhase => "next_phase",
            Command::Extend { .. } => "extend",
            Command::End => "end",
            Command::Broadcast { .. } => "broadcast",
            Command::GrantFloor { .. } => "grant_floor",
            Command::RevokeFloor => "revoke_floor",
            Command::Mute { .. } => "mute",
            Command::Unmute { .. } => "unmute",
            Command::MoveInQueue { .. } => "move_in_queue",
            Command::Remove { .. } => "remove",
            Command::Hide { .. } => "hide",
            Command::Approve { .. } => "approve",
            Command::OpenBreakouts { .. } => "open_breakouts",
            Command::CloseBreakouts => "close_breakouts",
            Command::MergeQuestions { .. } => "merge_questions",
            Command::OrderQuestion { .. } => "order_question",
            Command::MoveToGroup { .. } => "move_to_group",
            Command::Interject { .. } => "interject",
            Command::AskHelp => "ask_help",
            Command::MoveOn { .. } => "move_on",
            Command::Report { .. } => "report",
            Command::DismissReport { .. } => "dismiss_report",
            Command::ResolveHelp { .. } => "resolve_help",
        }
    }

    /// What authority the command needs.
    ///
    /// Commands that only make sense for whoever holds the floor (`speak`, `yield_floor`) or
    /// was invited (`accept_floor`) are `Participate`, and [`Role::may`] lets a facilitator
    /// use them too, because a facilitator presents and answers questions.
    pub fn capability(&self) -> Capability {
        match self {
            Command::RaiseHand { .. }
            | Command::LowerHand
            | Command::Speak { .. }
            | Command::Pass { .. }
            | Command::YieldFloor { .. }
            | Command::ConfirmReflection
            | Command::RequestClarification
            | Command::AcceptFloor
            | Command::DeclineFloor
            | Command::Note { .. }
            | Command::Ask { .. }
            | Command::Upvote { .. }
            | Command::Vote { .. }
            | Command::AskHelp
            | Command::MoveOn { .. } => Capability::Participate,
            Command::Start
            | Command::Pause
            | Command::Resume
            | Command::NextPhase
            | Command::Extend { .. }
            | Command::End
            | Command::Broadcast { .. }
            | Command::OpenBreakouts { .. }
            | Command::CloseBreakouts => Capability::Facilitate,
            Command::GrantFloor { .. }
            | Command::RevokeFloor
            | Command::Mute { .. }
            | Command::Unmute { .. }
            | Command::MoveInQueue { .. }
            | Command::Remove { .. }
            | Command::Hide { .. }
            | Command::Approve { .. }
            | Command::MergeQuestions { .. }
            | Command::OrderQuestion { .. }
            | Command::MoveToGroup { .. }
            | Command::Interject { .. }
            | Command::DismissReport { .. }
            | Command::ResolveHelp { .. } => Capability::Moderate,
            Command::Report { .. } => Capability::Report,
        }
    }

    /// Commands a floor holder may send whatever their role (a facilitator presenting, a
    /// panelist answering).
    pub fn is_floor_holder_command(&self) -> bool {
        matches!(
            self,
            Command::Speak { .. }
                | Command::YieldFloor { .. }
                | Command::AcceptFloor
                | Command::DeclineFloor
        )
    }
}

/// Why a command object could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

impl Command {
    /// Reads a command from the fields of a JSON object (`type` plus the command's fields).
    ///
    /// Serde's internally tagged enums ignore extra keys on unit variants even with
    /// `deny_unknown_fields`, so this checks those by hand: an unknown field is always an error.
    pub fn from_fields(
        fields: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Command, ParseError> {
        let extra = fields.keys().find(|k| k.as_str() != "type").cloned();
        let cmd: Command = serde_json::from_value(serde_json::Value::Object(fields))
            .map_err(|e| ParseError(e.to_string()))?;
        match extra {
            Some(key) if cmd.is_unit() => Err(ParseError(format!(
                "unknown field `{key}` for {}",
                cmd.name()
            ))),
            _ => Ok(cmd),
        }
    }

    fn is_unit(&self) -> bool {
        matches!(
            self,
            Command::LowerHand
                | Command::ConfirmReflection
                | Command::RequestClarification
                | Command::AcceptFloor
                | Command::DeclineFloor
                | Command::Start
                | Command::Pause
                | Command::Resume
                | Command::NextPhase
                | Command::End
                | Command::RevokeFloor
                | Command::CloseBreakouts
                | Command::AskHelp
        )
    }
}

impl Role {
    /// Whether this role holds the capability. Observers hold none but `Report`.
    pub fn may(self, cap: Capability) -> bool {
        match cap {
            Capability::Participate => matches!(self, Role::Participant),
            Capability::Facilitate => matches!(self, Role::Organizer | Role::Facilitator),
            Capability::Moderate => {
                matches!(self, Role::Organizer | Role::Facilitator | Role::Moderator)
            }
            Capability::Report => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse_from_their_wire_form() {
        let c: Command = serde_json::from_str(r#"{"type":"raise_hand","stance":"pro"}"#).unwrap();
        assert_eq!(
            c,
            Command::RaiseHand {
                stance: Some("pro".into())
            }
        );
        let c: Command = serde_json::from_str(r#"{"type":"pass"}"#).unwrap();
        assert_eq!(c, Command::Pass { for_now: false });
        let c: Command = serde_json::from_str(r#"{"type":"extend","seconds":30}"#).unwrap();
        assert_eq!(
            c,
            Command::Extend {
                seconds: 30,
                target: ExtendTarget::Turn
            }
        );
    }

    #[test]
    fn unknown_fields_and_types_are_refused() {
        let fields = |s: &str| {
            serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(s).unwrap()
        };
        assert!(Command::from_fields(fields(r#"{"type":"lower_hand","x":1}"#)).is_err());
        assert!(Command::from_fields(fields(r#"{"type":"raise_hand","x":1}"#)).is_err());
        assert_eq!(
            Command::from_fields(fields(r#"{"type":"lower_hand"}"#)),
            Ok(Command::LowerHand)
        );
        assert!(serde_json::from_str::<Command>(r#"{"type":"shout"}"#).is_err());
        assert!(serde_json::from_str::<Command>(r#"{"type":"mute"}"#).is_err());
        assert!(serde_json::from_str::<Command>(r#"{"type":"report","message":1}"#).is_err());
        assert_eq!(
            Command::from_fields(fields(r#"{"type":"report","member":"m-1","reason":"x"}"#)),
            Ok(Command::Report {
                message: None,
                member: Some(MemberId::new("m-1")),
                reason: "x".into()
            })
        );
    }

    #[test]
    fn observers_may_only_report() {
        for cap in [
            Capability::Participate,
            Capability::Facilitate,
            Capability::Moderate,
        ] {
            assert!(!Role::Observer.may(cap));
        }
        for role in Role::ALL {
            assert!(role.may(Capability::Report), "{role} may report");
        }
        let report = Command::Report {
            message: Some(3),
            member: None,
            reason: "insult".into(),
        };
        assert_eq!(report.capability(), Capability::Report);
        assert_eq!(
            Command::DismissReport { report: 1 }.capability(),
            Capability::Moderate
        );
        assert!(Role::Moderator.may(Capability::Moderate));
        assert!(!Role::Moderator.may(Capability::Facilitate));
        assert!(Role::Facilitator.may(Capability::Moderate));
        assert!(!Role::Participant.may(Capability::Moderate));
    }
}
