//! The scenarios, and what they share: the run context, joining a room on each target, and
//! collecting failures by kind.

pub mod breakouts;
pub mod cluster;
pub mod join_storm;
pub mod soak;
pub mod townhall;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt as _;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::api::{Api, Invite};
use crate::client::{self, Connector, Ws};
use crate::progress::Progress;
use crate::target::{self, Incoming, Target};

/// The two partner communities every scenario's members come from.
pub const COMMUNITIES: [&str; 2] = ["Dayton, OH", "Boulder, CO"];

/// What every scenario gets from the command line.
#[derive(Debug)]
pub struct Ctx {
    pub target: Target,
    pub addr: SocketAddr,
    pub organizer_key: Option<String>,
    pub connector: Arc<Connector>,
    pub progress: Arc<Progress>,
    /// How long a connection may take to join after its TCP connect.
    pub join_timeout: Duration,
    /// The whole connect phase must end by then.
    pub connect_deadline: Duration,
}

impl Ctx {
    pub fn api(&self) -> anyhow::Result<Api> {
        let key = self.organizer_key.as_deref().ok_or_else(|| {
            anyhow::anyhow!(
                "--organizer-key (or COMMONGROUND_ORGANIZER_KEY) is needed to create events on Commonground"
            )
        })?;
        Ok(Api::new(self.addr, key))
    }
}

/// Failure counts by kind ("http_429_rate_limited", "error:rate_limited", "close:4008", ...).
#[derive(Debug, Default)]
pub struct Failures(Mutex<BTreeMap<String, u64>>);

impl Failures {
    pub fn add(&self, kind: impl Into<String>) {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *m.entry(kind.into()).or_default() += 1;
    }

    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// A joined connection and the member id the server gave it (Commonground only).
#[derive(Debug)]
pub struct Joined {
    pub ws: Ws,
    pub member: String,
}

/// Connects and joins `room` (bare, Socket.IO) or says hello with `token` (Commonground),
/// waiting for `snapshot`/`joined`. The error is the failure bucket.
pub async fn connect_and_join(ctx: &Ctx, room: &str, token: &str) -> Result<Joined, String> {
    connect_and_join_via(ctx, &ctx.connector, room, token).await
}

/// [`connect_and_join`] through another connector (another node of a cluster).
pub async fn connect_and_join_via(
    ctx: &Ctx,
    connector: &Connector,
    room: &str,
    token: &str,
) -> Result<Joined, String> {
    let mut ws = connector.connect().await.map_err(|e| e.bucket())?;
    match tokio::time::timeout(ctx.join_timeout, join(&mut ws, ctx.target, room, token)).await {
        Ok(Ok(member)) => Ok(Joined { ws, member }),
        Ok(Err(e)) => Err(e),
        Err(_) => Err("join_timeout".into()),
    }
}

async fn join(ws: &mut Ws, target: Target, room: &str, token: &str) -> Result<String, String> {
    let ws_err = |e: tokio_tungstenite::tungstenite::Error| format!("ws: {e}");
    if target != Target::Socketio {
        client::send_text(ws, target::join_frame(target, room, token))
            .await
            .map_err(ws_err)?;
    }
    let mut member = String::new();
    loop {
        let frame = match ws.next().await {
            None => return Err("closed_while_joining".into()),
            Some(Err(e)) => return Err(ws_err(e)),
            Some(Ok(Message::Close(c))) => {
                return Err(format!("close:{}", c.map_or(1005, |c| u16::from(c.code))))
            }
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(_)) => continue,
        };
        match target::decode(target, &frame, false) {
            Incoming::Welcome { member: m } => member = m,
            Incoming::Joined => return Ok(member),
            Incoming::Error { code, .. } => return Err(format!("error:{code}")),
            Incoming::EioOpen => client::send_text(ws, "40".into()).await.map_err(ws_err)?,
            Incoming::EioConnected => {
                client::send_text(ws, target::join_frame(target, room, token))
                    .await
                    .map_err(ws_err)?;
            }
            Incoming::EioPing => client::send_text(ws, "3".into()).await.map_err(ws_err)?,
            _ => {}
        }
    }
}

/// Creates Commonground invites in parallel over a few API connections: `roles[i]` for
/// member i of `event`, communities alternating.
pub async fn invite_all(
    ctx: &Ctx,
    event: &str,
    roles: &[&'static str],
    name_prefix: &str,
) -> anyhow::Result<Vec<Invite>> {
    const PARALLEL: usize = 4;
    let mut tasks = Vec::new();
    for lane in 0..PARALLEL {
        let mut api = ctx.api()?;
        let event = event.to_owned();
        let mine: Vec<(usize, &'static str)> = roles
            .iter()
            .copied()
            .enumerate()
            .filter(|(i, _)| i % PARALLEL == lane)
            .collect();
        let prefix = name_prefix.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::with_capacity(mine.len());
            for (i, role) in mine {
                let inv = api
                    .invite(&event, role, &format!("{prefix}{i}"), COMMUNITIES[i % 2])
                    .await?;
                out.push((i, inv));
            }
            anyhow::Ok(out)
        }));
    }
    let mut all = Vec::with_capacity(roles.len());
    for t in tasks {
        all.extend(t.await??);
    }
    all.sort_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, inv)| inv).collect())
}

/// Waits until every wanted connection has joined or failed, or the connect deadline.
/// Returns false on the deadline.
pub async fn wait_connected(ctx: &Ctx, started: Instant) -> bool {
    let p = &ctx.progress;
    loop {
        let done = Progress::get(&p.joined) + Progress::get(&p.failed);
        if done >= Progress::get(&p.wanted) {
            return true;
        }
        if started.elapsed() > ctx.connect_deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The close code of a close frame, for failure buckets.
pub fn close_bucket(
    frame: Option<&tokio_tungstenite::tungstenite::protocol::CloseFrame>,
) -> String {
    format!("close:{}", frame.map_or(1005, |c| u16::from(c.code)))
}
