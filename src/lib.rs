//! Commonground: a real-time facilitation server for civil-discourse town halls.
//!
//! Layout (functional core, imperative shell):
//! - `cluster`: cluster-mode groundwork: the Redis primitives (lease with fencing epoch,
//!   one atomic append-and-publish step, history gaps, fenced snapshots).
//! - `engine`: the pure dialogue engine. One state machine per room; inputs carry the time;
//!   it reports events and its next deadline. All protocol rules live here.
//! - `protocol`: protocol files (`protocols/*.toml`) loaded and validated into typed phase
//!   configurations the engine consumes.
//! - `record`: the transcript and the equity report, built from a room's event log.
//! - `rehearse`: simulated sessions on the real engine with synthetic participants, to
//!   show a protocol's length and fairness before the event.
//! - `time`: instants on the server's timeline (Unix milliseconds).
//! - `clock`: the shell's one clock (Unix base + tokio monotonic time); nothing else reads time.
//! - `config`: the typed server configuration (flags > env > TOML file > defaults), validated
//!   before binding.
//! - `token`: HMAC-signed invite tokens (event, member, role, community, expiry).
//! - `room`: one actor task per live room owning its engine, inbox, timer and event log.
//! - `bus`: the seam between rooms and connections (sequenced, once-encoded events into
//!   byte-bounded outbound queues); `local` is the in-process implementation.
//! - `html`: HTML escaping shared by the report pages.
//! - `hub`: the registry of events and their rooms on this node.
//! - `wire`: the WebSocket wire format (client frames, server frames and their encoding),
//!   close codes and room ids: what every layer above speaks, so nothing imports the gateway.
//! - `limits`: per-address admission limits (connection attempts, failed hellos).
//! - `gateway`: the WebSocket endpoint: admission, hello, commands, heartbeats.
//! - `api`: the HTTP API (organizer endpoints, public summaries, health, metrics).
//! - `media`: the audio SFU; forwards a member's voice only while the engine lets them be heard.
//! - `metrics`: Prometheus counters and the command latency histogram.
//! - `state`: `AppState`, what every handler and connection shares.
//! - `server`: wiring, `app() -> Router`, `run` and graceful shutdown, the demo event.

pub mod api;
pub mod bus;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod engine;
pub mod gateway;
pub mod html;
pub mod hub;
pub mod journal;
pub mod limits;
pub mod media;
pub mod metrics;
pub mod node;
pub mod protocol;
pub mod record;
pub mod rehearse;
pub mod room;
pub mod server;
pub mod state;
pub mod time;
pub mod token;
pub mod web;
pub mod wire;
