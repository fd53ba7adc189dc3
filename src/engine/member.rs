//! Who is in a room: identities, roles, communities, presence and moderation flags.
//!
//! The roster keeps members who left (their speaking time still counts in the equity report),
//! so "present" is a flag, not membership. Join order is kept because go-rounds and FIFO ties
//! use it.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A member's stable id (minted with their invite token).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MemberId(pub String);

impl MemberId {
    pub fn new(id: impl Into<String>) -> MemberId {
        MemberId(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Organizer,
    Facilitator,
    Moderator,
    Participant,
    Observer,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Organizer,
        Role::Facilitator,
        Role::Moderator,
        Role::Participant,
        Role::Observer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Organizer => "organizer",
            Role::Facilitator => "facilitator",
            Role::Moderator => "moderator",
            Role::Participant => "participant",
            Role::Observer => "observer",
        }
    }

    /// Facilitators, moderators and organizers see the staff view (equity figures, private
    /// notices such as nudges and invitations).
    pub fn is_staff(self) -> bool {
        matches!(self, Role::Organizer | Role::Facilitator | Role::Moderator)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One member of a room as the engine knows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub id: MemberId,
    pub name: String,
    pub role: Role,
    /// The partner community the member belongs to (for example "Dayton, OH"). Staff and
    /// observers may have none.
    pub community: Option<String>,
    pub present: bool,
    pub muted: bool,
    /// Position in join order (first join only; a reconnect keeps it).
    pub joined_idx: u64,
    /// Bytes this member added to the room's record (`engine::budget`).
    #[serde(default)]
    pub record_bytes: u64,
}

/// All members a room has seen, in join order.
///
/// Kept as a vector in join order plus an index, so the common walks (present participants,
/// the snapshot) need no sorting: a hall of thousands is walked often.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Roster {
    members: Vec<Member>,
    index: BTreeMap<MemberId, usize>,
    removed: Vec<MemberId>,
    n_present: usize,
}

impl Roster {
    pub fn get(&self, id: &MemberId) -> Option<&Member> {
        self.index.get(id).map(|&i| &self.members[i])
    }

    pub(crate) fn get_mut(&mut self, id: &MemberId) -> Option<&mut Member> {
        self.index.get(id).map(|&i| &mut self.members[i])
    }

    pub fn is_removed(&self, id: &MemberId) -> bool {
        self.removed.contains(id)
    }

    pub fn is_present(&self, id: &MemberId) -> bool {
        self.get(id).is_some_and(|m| m.present)
    }

    /// Members present now.
    pub fn present_count(&self) -> usize {
        self.n_present
    }

    /// Adds a member, or marks a returning one present again. Returns true when this is the
    /// member's first join.
    pub(crate) fn join(
        &mut self,
        id: MemberId,
        name: String,
        role: Role,
        community: Option<String>,
    ) -> bool {
        if let Some(m) = self.get_mut(&id) {
            if !m.present {
                m.present = true;
                self.n_present += 1;
            }
            if let Some(m) = self.get_mut(&id) {
                m.name = name;
            }
            return false;
        }
        let joined_idx = self.members.len() as u64;
        self.index.insert(id.clone(), self.members.len());
        self.members.push(Member {
            id,
            name,
            role,
            community,
            present: true,
            muted: false,
            joined_idx,
            record_bytes: 0,
        });
        self.n_present += 1;
        true
    }

    pub(crate) fn leave(&mut self, id: &MemberId) {
        if let Some(m) = self.get_mut(id) {
            if m.present {
                m.present = false;
                self.n_present -= 1;
            }
        }
    }

    pub(crate) fn remove(&mut self, id: &MemberId) {
        self.leave(id);
        if !self.removed.contains(id) {
            self.removed.push(id.clone());
        }
    }

    /// Every member ever seen, in join order.
    pub fn all(&self) -> impl Iterator<Item = &Member> {
        self.members.iter()
    }

    /// Present participants in join order: the people who take turns.
    pub fn present_participants(&self) -> impl Iterator<Item = &Member> {
        self.members
            .iter()
            .filter(|m| m.present && m.role == Role::Participant)
    }

    /// Every participant ever seen, in join order: the roster the equity figures are over,
    /// so that silent members count as zero.
    pub fn participants(&self) -> impl Iterator<Item = &Member> {
        self.members.iter().filter(|m| m.role == Role::Participant)
    }

    /// The first present facilitator (or organizer) in join order.
    pub fn first_facilitator(&self) -> Option<&Member> {
        self.members
            .iter()
            .find(|m| m.present && matches!(m.role, Role::Facilitator | Role::Organizer))
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }
}
