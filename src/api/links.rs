//! Join links: the organizer makes one multi-use link per community (or staff role) and
//! shares it; each resident who opens it picks a display name and gets a member token of
//! their own, minted exactly as `POST /api/events/{id}/invites` mints one.
//!
//! - Organizer (Bearer key): `POST /api/events/{id}/links` creates one, `GET` lists them with
//!   their use counts, `POST /api/events/{id}/links/{link}/revoke` withdraws one.
//! - Public: `GET /join/{code}` serves the join page (`web/join.html`), `GET /api/join/{code}`
//!   says what the link is for, `POST /api/join/{code}` redeems it.
//!
//! Every change, a redemption's use count included, goes through `link_store::with_links`:
//! atomic against every other change (the hub's lock on one node, compare-and-set in Redis
//! in cluster mode), so a cap holds however many redemptions race, and durable before the
//! answer (in the event's metadata on one node, so it is recovered with it). Redemptions are
//! rate limited per address (`joins_per_minute`). The code format and the pure rules are in
//! `token/link.rs`.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::api::events::{hub_error, mint_invite, CreateInvite, Invite, MAX_TTL_SECONDS};
use crate::api::link_store::with_links;
use crate::api::{ApiError, ApiJson, Organizer};
use crate::engine::member::Role;
use crate::hub::{EventInfo, HubError};
use crate::state::AppState;
use crate::time::Millis;
use crate::token::link::{
    new_link_id, JoinLink, LinkRefusal, MAX_LABEL_CHARS, MAX_LINKS_PER_EVENT, MAX_USES,
};
use crate::wire::ErrorCode;

/// Longest display name a resident may choose (after trimming).
pub const MAX_JOIN_NAME_CHARS: usize = 60;
/// Lifetime of a token minted through a link: the longest an invite may have, so a resident
/// who signs up a week ahead still gets in on the day.
pub const LINK_TOKEN_TTL_SECONDS: u64 = MAX_TTL_SECONDS;
/// Longest a link may stay open.
pub const MAX_LINK_SECONDS: u64 = MAX_TTL_SECONDS;
/// Most members one staff link admits: a staff role goes to a few named people, so its
/// link must carry a cap, and a small one.
pub const MAX_STAFF_USES: u32 = 20;

/// The routes of this module; the server merges them into its router.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/events/{id}/links", post(create_link).get(list_links))
        .route("/api/events/{id}/links/{link}/revoke", post(revoke_link))
        .route("/api/join/{code}", get(join_info).post(redeem))
        .route("/join/{code}", get(join_page))
        .route("/join.js", get(join_script))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateLink {
    /// The community of everyone who joins through it; absent: each picks one.
    #[serde(default)]
    pub community: Option<String>,
    /// Participant unless given; a staff role needs `max_uses`.
    #[serde(default)]
    pub role: Option<Role>,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub expires_in_secs: Option<u64>,
    #[serde(default)]
    pub max_uses: Option<u32>,
}

/// A link as the organizer sees it.
#[derive(Debug, Clone, Serialize)]
pub struct LinkView {
    pub id: String,
    /// The link to share: `{public_url}/join/{code}`.
    pub url: String,
    pub code: String,
    pub community: Option<String>,
    pub role: Role,
    pub label: Option<String>,
    pub created_at: Millis,
    pub expires_at: Option<Millis>,
    pub max_uses: Option<u32>,
    pub uses: u32,
    pub revoked_at: Option<Millis>,
    /// `open`, or why it is refused now: `revoked`, `expired`, `full`.
    pub state: &'static str,
}

#[derive(Debug, Serialize)]
pub struct LinkList {
    pub links: Vec<LinkView>,
}

/// What the join page shows before the resident submits.
#[derive(Debug, Serialize)]
pub struct JoinInfo {
    pub event: String,
    pub title: String,
    pub role: Role,
    /// The link's community; `None`: the resident picks one of `communities`.
    pub community: Option<String>,
    pub communities: Vec<String>,
    /// Whether the resident must pick a community (unbound link, participant role).
    pub community_required: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Redeem {
    pub name: String,
    #[serde(default)]
    pub community: Option<String>,
}

/// A redeemed link: the invite, and the event it is for (the page keeps the token per event).
#[derive(Debug, Serialize)]
pub struct Joined {
    pub event: String,
    #[serde(flatten)]
    pub invite: Invite,
}

fn invalid(m: impl Into<String>) -> ApiError {
    ApiError {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        code: ErrorCode::Invalid.as_str(),
        message: m.into(),
    }
}

fn refusal(r: LinkRefusal) -> ApiError {
    let (status, code) = match r {
        LinkRefusal::Unknown => (StatusCode::NOT_FOUND, ErrorCode::UnknownLink),
        LinkRefusal::Expired => (StatusCode::GONE, ErrorCode::LinkExpired),
        LinkRefusal::Full => (StatusCode::GONE, ErrorCode::LinkFull),
        LinkRefusal::Revoked => (StatusCode::GONE, ErrorCode::LinkRevoked),
    };
    ApiError::new(status, code, &r.to_string())
}

fn view(app: &AppState, event: &str, l: &JoinLink, now: Millis) -> LinkView {
    let code = app.tokens.link_code(event, &l.id).unwrap_or_default();
    let state = match l.check(now) {
        Ok(()) => "open",
        Err(LinkRefusal::Revoked) => "revoked",
        Err(LinkRefusal::Expired) => "expired",
        Err(LinkRefusal::Full) => "full",
        Err(LinkRefusal::Unknown) => "unknown",
    };
    LinkView {
        id: l.id.clone(),
        url: format!("{}/join/{code}", app.base_url),
        code,
        community: l.community.clone(),
        role: l.role,
        label: l.label.clone(),
        created_at: l.created_at,
        expires_at: l.expires_at,
        max_uses: l.max_uses,
        uses: l.uses,
        revoked_at: l.revoked_at,
        state,
    }
}

/// Text without control characters (nor the bidirectional overrides that make a name read
/// differently from how it sorts).
fn printable(s: &str) -> bool {
    !s.chars()
        .any(|c| c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'))
}

/// A resident's display name: trimmed, 1 to [`MAX_JOIN_NAME_CHARS`] characters, printable.
pub fn display_name(raw: &str) -> Result<String, ApiError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(invalid("please enter the name others will see"));
    }
    if name.chars().count() > MAX_JOIN_NAME_CHARS {
        return Err(invalid(format!(
            "a display name has at most {MAX_JOIN_NAME_CHARS} characters"
        )));
    }
    if !printable(name) {
        return Err(invalid(
            "a display name cannot contain control characters (tabs, line breaks and the like)",
        ));
    }
    Ok(name.to_string())
}

fn check_new_link(info: &EventInfo, req: &CreateLink) -> Result<(), ApiError> {
    let role = req.role.unwrap_or(Role::Participant);
    if role == Role::Organizer {
        return Err(invalid(
            "a join link cannot make organizers; the organizer uses the organizer key",
        ));
    }
    if let Some(c) = &req.community {
        if !info.communities.contains(c) {
            return Err(invalid(format!(
                "`{c}` is not one of the event's communities: {}",
                info.communities.join(", ")
            )));
        }
    }
    match req.max_uses {
        Some(0) => return Err(invalid(format!("max_uses must be 1 to {MAX_USES}"))),
        Some(n) if n > MAX_USES => {
            return Err(invalid(format!("max_uses must be 1 to {MAX_USES}")))
        }
        _ => {}
    }
    if matches!(role, Role::Facilitator | Role::Moderator)
        && req.max_uses.is_none_or(|n| n > MAX_STAFF_USES)
    {
        return Err(invalid(format!(
            "a link for a staff role needs max_uses, at most {MAX_STAFF_USES}: whoever holds it runs the room"
        )));
    }
    if let Some(s) = req.expires_in_secs {
        if s == 0 || s > MAX_LINK_SECONDS {
            return Err(invalid(format!(
                "expires_in_secs must be 1 to {MAX_LINK_SECONDS}"
            )));
        }
    }
    if let Some(l) = &req.label {
        if l.trim().chars().count() > MAX_LABEL_CHARS || !printable(l) {
            return Err(invalid(format!(
                "a label has at most {MAX_LABEL_CHARS} printable characters"
            )));
        }
    }
    Ok(())
}

/// `POST /api/events/{id}/links`: a new join link (201), stored before the answer.
pub async fn create_link(
    State(app): State<AppState>,
    _key: Organizer,
    Path(event): Path<String>,
    body: Result<ApiJson<CreateLink>, ApiError>,
) -> Result<Response, ApiError> {
    let ApiJson(req) = body?;
    app.hub.verify_shared(&event).await;
    let now = app.clock.now();
    let link = JoinLink {
        id: new_link_id(),
        community: req.community.clone(),
        role: req.role.unwrap_or(Role::Participant),
        label: req
            .label
            .as_deref()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string),
        created_at: now,
        expires_at: req.expires_in_secs.map(|s| now + s * 1000),
        max_uses: req.max_uses,
        uses: 0,
        revoked_at: None,
    };
    if app.tokens.link_code(&event, &link.id).is_none() {
        // An event id the server did not generate (none exist today); no code can name it.
        return Err(hub_error(HubError::UnknownEvent(event)));
    }
    let removed = link.id.clone();
    with_links(
        &app,
        &event,
        |info, links| {
            if info.ended {
                return Err(hub_error(HubError::Ended));
            }
            check_new_link(info, &req)?;
            if links.len() >= MAX_LINKS_PER_EVENT {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    ErrorCode::Invalid,
                    &format!("an event holds at most {MAX_LINKS_PER_EVENT} join links"),
                ));
            }
            links.push(link.clone());
            Ok(((), true))
        },
        // Not stored: not created either (a link that vanishes on restart is worse).
        |links| links.retain(|l| l.id != removed),
    )
    .await?;
    tracing::info!(event, link = %link.id, role = %link.role.as_str(), "join link created");
    let v = view(&app, &event, &link, now);
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

/// `GET /api/events/{id}/links`: every link of the event, revoked ones too, oldest first.
pub async fn list_links(
    State(app): State<AppState>,
    _key: Organizer,
    Path(event): Path<String>,
) -> Result<Json<LinkList>, ApiError> {
    app.hub.verify_shared(&event).await;
    let links = with_links(&app, &event, |_, links| Ok((links.clone(), false)), |_| {}).await?;
    let now = app.clock.now();
    let links = links.iter().map(|l| view(&app, &event, l, now)).collect();
    Ok(Json(LinkList { links }))
}

/// `POST /api/events/{id}/links/{link}/revoke`: nobody joins through it any more (members
/// who joined keep their tokens). Revoking twice is fine; the first time stays.
pub async fn revoke_link(
    State(app): State<AppState>,
    _key: Organizer,
    Path((event, id)): Path<(String, String)>,
) -> Result<Json<LinkView>, ApiError> {
    app.hub.verify_shared(&event).await;
    let now = app.clock.now();
    let link = with_links(
        &app,
        &event,
        |_, links| {
            let l = links
                .iter_mut()
                .find(|l| l.id == id)
                .ok_or_else(|| refusal(LinkRefusal::Unknown))?;
            let changed = l.revoked_at.is_none();
            if changed {
                l.revoked_at = Some(now);
            }
            Ok((l.clone(), changed))
        },
        // Not stored: the link stays open, as the organizer is told (`unavailable`).
        |links| {
            if let Some(l) = links
                .iter_mut()
                .find(|l| l.id == id && l.revoked_at == Some(now))
            {
                l.revoked_at = None;
            }
        },
    )
    .await?;
    tracing::info!(event, link = %link.id, "join link revoked");
    Ok(Json(view(&app, &event, &link, now)))
}

/// The event and link a code names, in cluster mode after reading the shared registry.
async fn resolve(app: &AppState, code: &str) -> Result<(String, String), ApiError> {
    let r = app
        .tokens
        .read_link_code(code)
        .ok_or_else(|| refusal(LinkRefusal::Unknown))?;
    if let Some(node) = &app.cluster {
        let _ = node.ensure_event(&*app.hub, &r.event).await;
    }
    if !app.hub.verify_shared(&r.event).await {
        // A deleted event's links are gone with it.
        return Err(refusal(LinkRefusal::Unknown));
    }
    Ok((r.event, r.link))
}

/// `GET /api/join/{code}`: what the link is for (the join page asks before it shows the
/// form), or why it cannot be used.
pub async fn join_info(
    State(app): State<AppState>,
    Path(code): Path<String>,
) -> Result<Json<JoinInfo>, ApiError> {
    let (event, id) = resolve(&app, &code).await?;
    let now = app.clock.now();
    let info = with_links(
        &app,
        &event,
        |info, links| {
            if info.ended {
                return Err(hub_error(HubError::Ended));
            }
            let l = links
                .iter()
                .find(|l| l.id == id)
                .ok_or_else(|| refusal(LinkRefusal::Unknown))?;
            l.check(now).map_err(refusal)?;
            let out = JoinInfo {
                event: info.id.clone(),
                title: info.title.clone(),
                role: l.role,
                community: l.community.clone(),
                communities: info.communities.clone(),
                community_required: l.community.is_none() && l.role == Role::Participant,
            };
            Ok((out, false))
        },
        |_| {},
    )
    .await?;
    Ok(Json(info))
}

/// The community a member joining through `link` gets, from what they asked for.
fn community_for(
    info: &EventInfo,
    link: &JoinLink,
    asked: Option<&str>,
) -> Result<Option<String>, ApiError> {
    let asked = asked.map(str::trim).filter(|c| !c.is_empty());
    match (&link.community, asked) {
        (Some(c), None) => Ok(Some(c.clone())),
        (Some(c), Some(a)) if a == c => Ok(Some(c.clone())),
        (Some(c), Some(_)) => Err(invalid(format!("this link is for `{c}` only"))),
        (None, Some(a)) if info.communities.iter().any(|c| c == a) => Ok(Some(a.to_string())),
        (None, Some(a)) => Err(invalid(format!(
            "`{a}` is not one of the event's communities: {}",
            info.communities.join(", ")
        ))),
        (None, None) if link.role == Role::Participant => Err(invalid(format!(
            "please choose your community: {}",
            info.communities.join(", ")
        ))),
        (None, None) => Ok(None),
    }
}

/// `POST /api/join/{code}` `{name, community?}`: a new member through the link (201 with the
/// invite), or why not. The link's checks and its use count are one step under the
/// registry's lock, and the count is stored before the answer.
pub async fn redeem(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(code): Path<String>,
    body: Result<ApiJson<Redeem>, ApiError>,
) -> Result<Response, ApiError> {
    // Before anything else: each success mints a member.
    if !app.limits.allow_join(peer.ip()) {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::RateLimited,
            "too many people joined from this address in the last minute; please try again in a minute",
        ));
    }
    let ApiJson(req) = body?;
    let name = display_name(&req.name)?;
    let (event, id) = resolve(&app, &code).await?;
    let now = app.clock.now();
    let (role, community) = with_links(
        &app,
        &event,
        |info, links| {
            if info.ended {
                return Err(hub_error(HubError::Ended));
            }
            let l = links
                .iter_mut()
                .find(|l| l.id == id)
                .ok_or_else(|| refusal(LinkRefusal::Unknown))?;
            // Checked before the use is taken: a wrong community costs no seat.
            l.check(now).map_err(refusal)?;
            let community = community_for(info, l, req.community.as_deref())?;
            l.take(now).map_err(refusal)?;
            Ok(((l.role, community), true))
        },
        // Not stored: the seat is given back (nobody got a token).
        |links| {
            if let Some(l) = links.iter_mut().find(|l| l.id == id) {
                l.give_back();
            }
        },
    )
    .await?;
    let invite = CreateInvite {
        role,
        name,
        community,
        ttl_seconds: Some(LINK_TOKEN_TTL_SECONDS),
    };
    // Cannot fail after the checks above (same event, community and role); were it to, the
    // seat stays taken, which errs on the side of fewer members.
    let invite = mint_invite(&app, &event, invite)?;
    tracing::info!(event, link = %id, member = %invite.member, "member joined through a link");
    let joined = Joined { event, invite };
    Ok((StatusCode::CREATED, Json(joined)).into_response())
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    res
}

/// The join page's Content-Security-Policy: the client page's (`web::CSP`, a module on the
/// same layer, hence the copy): only this origin's scripts, fetches only to this server.
pub const JOIN_CSP: &str =
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
    connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// `GET /join/{code}`: the join page, whatever the code (the page asks `/api/join/{code}`).
/// The code is in the address: no referrer leaves the page, and only its own script runs.
pub async fn join_page() -> Response {
    let mut res = asset(
        "text/html; charset=utf-8",
        include_str!("../../web/join.html"),
    );
    let h = res.headers_mut();
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(JOIN_CSP),
    );
    res
}

pub async fn join_script() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../../web/join.js"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_are_trimmed_bounded_and_printable() {
        assert_eq!(display_name("  Ana María  ").unwrap(), "Ana María");
        assert_eq!(display_name(&"é".repeat(60)).unwrap().chars().count(), 60);
        for bad in [
            "",
            "   ",
            "\t\n",
            &"x".repeat(61),
            "Ana\nBob",
            "Ana\u{7}",
            "Ana\u{202e}boB",
        ] {
            let e = display_name(bad).unwrap_err();
            assert_eq!(
                (e.status, e.code),
                (StatusCode::UNPROCESSABLE_ENTITY, "invalid")
            );
        }
    }
}
