//! The demo event (`--demo`, on by default): a town hall with an invite per role, made once
//! and found again after a restart, so the printed links always reach the same room.

use serde::Serialize;

use crate::api::events::{mint_invite, CreateInvite, Invite};
use crate::engine::member::Role;
use crate::hub::EventInfo;
use crate::server::{ServerError, DEMO_COMMUNITIES, DEMO_PROTOCOL, DEMO_TITLE};
use crate::state::AppState;

/// The demo event and its invites.
#[derive(Debug, Clone, Serialize)]
pub struct Demo {
    pub event: EventInfo,
    pub invites: Vec<Invite>,
}

/// Creates the demo event with an invite for each role (a participant from each community).
pub fn create_demo(state: &AppState) -> Result<Demo, ServerError> {
    let communities: Vec<String> = DEMO_COMMUNITIES.iter().map(|c| c.to_string()).collect();
    // After a restart the stored demo event comes back; its (new) links reach the same room.
    let stored = state
        .hub
        .events()
        .into_iter()
        .find(|e| e.title == DEMO_TITLE && !e.ended);
    let event = match stored {
        Some(e) => e,
        None => {
            let e = state
                .hub
                .create_event(DEMO_TITLE, DEMO_PROTOCOL, &communities, None)
                .map_err(|e| ServerError::Demo(e.to_string()))?;
            drop(state.hub.queue_meta(&e.id));
            e
        }
    };
    let people = [
        (Role::Facilitator, "Facilitator", None),
        (Role::Moderator, "Moderator", None),
        (Role::Participant, "Ana (Dayton)", Some(DEMO_COMMUNITIES[0])),
        (
            Role::Participant,
            "Ben (Boulder)",
            Some(DEMO_COMMUNITIES[1]),
        ),
        (Role::Observer, "Observer", None),
    ];
    let mut invites = Vec::new();
    for (role, name, community) in people {
        let req = CreateInvite {
            role,
            name: name.to_string(),
            community: community.map(str::to_string),
            ttl_seconds: None,
        };
        let invite =
            mint_invite(state, &event.id, req).map_err(|e| ServerError::Demo(e.message))?;
        invites.push(invite);
    }
    Ok(Demo { event, invites })
}
