//! Creating an event: the organizer's title, protocol, partner communities and retention,
//! checked against the bounds, entered in the registry and (cluster mode) shared.

use super::*;

impl Hub {
    /// Creates an event from a protocol of the library, with the default retention.
    pub fn create_event(
        &self,
        title: &str,
        protocol: &str,
        communities: &[String],
        seed: Option<u64>,
    ) -> Result<EventInfo, HubError> {
        self.create_event_with(title, protocol, communities, seed, None)
    }

    /// Creates an event; `retention_secs` (checked against the bounds) or the server's
    /// default says how long its data outlives the session.
    pub fn create_event_with(
        &self,
        title: &str,
        protocol: &str,
        communities: &[String],
        seed: Option<u64>,
        retention_secs: Option<u64>,
    ) -> Result<EventInfo, HubError> {
        let retention_secs = retention_secs.unwrap_or_else(|| self.default_retention());
        if !(MIN_RETENTION_SECS..=MAX_RETENTION_SECS).contains(&retention_secs) {
            return Err(HubError::InvalidRetention(retention_secs));
        }
        let title = title.trim();
        if title.is_empty() || title.chars().count() > MAX_TITLE_CHARS {
            return Err(HubError::Invalid(format!(
                "a title needs 1 to {MAX_TITLE_CHARS} characters"
            )));
        }
        let p = self
            .library
            .get(protocol)
            .ok_or_else(|| HubError::UnknownProtocol(protocol.to_string()))?;
        let communities: Vec<String> = communities.iter().map(|c| c.trim().to_string()).collect();
        if communities.len() < 2 || communities.len() > MAX_COMMUNITIES {
            return Err(HubError::Invalid(format!(
                "an event needs 2 to {MAX_COMMUNITIES} partner communities"
            )));
        }
        for (i, c) in communities.iter().enumerate() {
            if c.is_empty() || c.chars().count() > MAX_COMMUNITY_CHARS {
                return Err(HubError::Invalid(format!(
                    "a community name needs 1 to {MAX_COMMUNITY_CHARS} characters"
                )));
            }
            if communities[..i].contains(c) {
                return Err(HubError::Invalid(format!(
                    "community `{c}` is listed twice"
                )));
            }
        }
        // 128 random bits: an event id seen in one public URL says nothing about another.
        let id = format!("evt-{}", uuid::Uuid::new_v4().simple());
        let seed = seed
            .unwrap_or_else(|| u64::from_str_radix(&crate::config::random_hex(8), 16).unwrap_or(0));
        let info = EventInfo {
            room: RoomId::hall(&id).to_string(),
            id: id.clone(),
            title: title.to_string(),
            protocol: p.name.clone(),
            communities,
            created_at: self.ctx.clock.now(),
            ended: false,
            retention_secs,
            ended_at: None,
            purge_at: None,
            links: Vec::new(),
        };
        let mut map = self.lock();
        let max = self.max_events();
        if map.len() >= max {
            return Err(HubError::TooManyEvents(max));
        }
        map.insert(
            id.clone(),
            Entry {
                info: info.clone(),
                protocol: p,
                seed,
                slot: Slot::Empty,
                groups: BTreeMap::new(),
                next_group: 1,
                shared: false,
            },
        );
        drop(map);
        // Cluster mode: shared with every node, so an invite works wherever it is opened.
        self.share_meta(&id);
        Ok(info)
    }
}
