// Commonground browser client: the entry point. Reads the invite token, connects (js/conn.js),
// keeps the room current (js/store.js), renders each section (js/render.js) without losing
// focus or typed text, refreshes countdowns from the server clock, announces what matters
// through ARIA live regions, and turns buttons and forms into wire-protocol commands.
//
// Breakout groups (docs/wire-protocol.md, "Breakout groups") run as rooms of their own on the
// same socket. The hall is `client.hall`; a participant's group room, or a group a staff member
// listens to, is in `client.groups`. While a participant is in a group, the live sections (Now,
// What you can do, Up next, What people said) show the group, carry `data-room`, and every
// command sent from them carries that `room`; the hall strip above them stays the hall's.
// Staff learn each group's room id from the hall's `groups` frame and join it directly to
// listen in.
//
// Moderation: participants and observers report a message or its author from a small inline
// form under the message (`report`); staff see open reports and word-list flags in the
// moderation panel and act on them (hide, mute, remove, dismiss), and move people between
// breakout groups (`move_to_group`) from the Small groups card. Reports and flags from groups
// they do not listen to arrive as the hall's `group_event` frames, listed "in group N" with a
// "Listen in to group N" button; once listening, the same actions go to that group's room.

import { Connection } from './js/conn.js';
import {
  emptyClient, applyWelcome, applyRoomSnapshot, routeEvent, applyLeftRoom, dropStale, myGroupRoom,
  listenedGroups, pollFromSpec, nameOf, groupWord, applyGroups, roomOfIndex, member,
  applyGroupEvent, groupReviewItems, activeNotices, moderatedQa,
} from './js/store.js';
import * as R from './js/render.js';
import { esc, clock, countdownWords, errorWords, reportErrorWords, isStaff, canFacilitate } from './js/util.js';

const TOKEN_KEY = 'commonground.token';
const $ = (id) => document.getElementById(id);

let client = emptyClient();
let conn = null;
let renderQueued = false;
let connStatus = { state: 'connecting' };
let everOnline = false;
/** Protocol settings by protocol name (the hall's and the groups' sub-protocol). */
const specs = new Map();
/** Staff: the group index being joined to listen in, shown as "Joining…". */
let listenPending = null;
/**
 * Page-only state of the moderation controls: the open report form (`report`: its key
 * "room#message", the message, the chosen target, an error, whether it is being sent), what
 * this page already reported (`reported`: key to thank-you text), a refused group move
 * (`moveError`: {index, text}), and a control to focus after the next render (`focusKey`).
 */
const ui = { report: null, reported: new Map(), moveError: null, focusKey: null };
/** Waiters for a group room's snapshot, by room id. */
const snapshotWaiters = new Map();
let staleTimer = null;
/**
 * What the member typed in "What you want to say" and has not sent, by room id: kept when the
 * floor is taken back or the turn runs out, and put back in the box at their next turn.
 */
const drafts = new Map();
/** When the earliest notice on screen clears itself (server clock), so `tick` re-renders then. */
let noticeUntil = null;
/** An `accept_floor` on its way: the invitation card is gone and a second "yes" is not sent. */
let accepting = false;

// ---------------------------------------------------------------- token and start

function readToken() {
  const url = new URL(window.location.href);
  const fromUrl = url.searchParams.get('token');
  if (fromUrl) {
    sessionStorage.setItem(TOKEN_KEY, fromUrl);
    url.searchParams.delete('token');
    // Keep the token out of the address bar, history and screenshots.
    window.history.replaceState(null, '', url.pathname + (url.search || '') + url.hash);
    return fromUrl;
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

/**
 * A token the server refused for good (expired, or signed with another secret) is forgotten
 * by the join page too (web/join.js keeps one per event in localStorage), so opening the join
 * link again makes a new member instead of coming back here. Not for a removed member: the
 * link would only bring them back as someone new.
 */
function forgetJoined(token) {
  if (!token) return;
  let event = null;
  try {
    // The claims are readable (only the signature is secret): `{"event": ...}`.
    event = JSON.parse(atob(token.split('.')[0].replace(/-/g, '+').replace(/_/g, '/'))).event;
  } catch { return; }
  const key = `commonground.member.${event}`;
  try {
    if (JSON.parse(localStorage.getItem(key) || 'null')?.token === token) localStorage.removeItem(key);
  } catch { /* storage unavailable: nothing kept */ }
}

function showGate(html) {
  $('gate-body').innerHTML = html;
  $('gate').hidden = false;
  $('app').hidden = !client.hall.loaded;
}

function wsUrl() {
  const proto = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${window.location.host}/ws`;
}

function start() {
  const token = readToken();
  if (!token) {
    setConn({ state: 'stopped', text: 'Not connected' });
    showGate(`<p class="big">To join a town hall, open the invite link you received.</p>
      <p>Your link looks like <code>${esc(window.location.origin)}/?token=…</code>. If you do not have one, please ask the organizers.</p>`);
    return;
  }
  conn = new Connection({
    url: wsUrl(),
    token,
    onMessage,
    onStatus: setConn,
    // Always the hall: group rooms are not resumed; the server re-joins a member into its group.
    resumePoint: () => (client.hall.loaded && client.hall.room ? { room: client.hall.room, last_seq: client.hall.seq } : null),
    sessionEnded: () => client.hall.session.state === 'ended',
  });
  conn.start();
  setInterval(tick, 250);
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && conn) conn.retryNow();
  });
  window.addEventListener('online', () => conn && conn.retryNow());
}

// ---------------------------------------------------------------- messages

function onMessage(msg, meta = {}) {
  switch (msg.type) {
    case 'welcome': {
      applyWelcome(client, msg, meta.first !== false);
      if (meta.first !== false) {
        document.body.dataset.role = msg.role;
        loadEvent(msg.event);
        clearTimeout(staleTimer);
      }
      break;
    }
    case 'snapshot': {
      const said = applyRoomSnapshot(client, msg);
      const r = roomById(msg.room);
      if (!r) break;
      if (r.floor) r.floor.since = conn.now() - (r.floor.held_ms || 0);
      if (r.session.state === 'paused') r.pausedAt = conn.now();
      loadSpec(r);
      if (r === client.hall) {
        $('gate').hidden = true;
        $('app').hidden = false;
        armStaleDrop();
      } else {
        for (const a of said) announce(a.text, a.urgent);
        const w = snapshotWaiters.get(msg.room);
        if (w) w();
      }
      break;
    }
    case 'resumed':
      if (msg.recovered) {
        for (const ev of msg.events || []) onEvent(ev);
      }
      armStaleDrop();
      break;
    case 'event':
      onEvent(msg);
      break;
    case 'left_room': {
      const said = applyLeftRoom(client, msg);
      for (const a of said) announce(a.text, a.urgent);
      if (ui.report && ui.report.room === msg.room) ui.report = null;
      break;
    }
    case 'groups':
      applyGroups(client, msg);
      break;
    case 'group_event':
      for (const a of applyGroupEvent(client, msg)) announce(a.text, a.urgent);
      break;
    case 'error':
      // An error without a request id (or for a request we no longer track).
      client.hall.notice = errorWords(msg.code, msg.message);
      announce(client.hall.notice, true);
      break;
    case 'status':
      announce(msg.message);
      break;
    default:
      break;
  }
  scheduleRender();
}

function roomById(id) {
  if (id && client.groups.has(id)) return client.groups.get(id);
  if (!id || id === client.hall.room || id === client.hall.me?.room) return client.hall;
  return null;
}

/**
 * After a reconnect the server sends the member's group again right after the hall's snapshot;
 * a group that did not come back (the breakout ended while we were away) is dropped.
 */
function armStaleDrop() {
  if (!client.stale.size) return;
  clearTimeout(staleTimer);
  staleTimer = setTimeout(() => {
    for (const a of dropStale(client)) announce(a.text, a.urgent);
    scheduleRender();
  }, 3000);
}

function onEvent(frame) {
  const said = routeEvent(client, frame);
  // The resident may ask again once a facilitator dealt with the request.
  if (frame.event?.type === 'help_resolved' && frame.event.member === client.hall.me?.member) client.hall.helpAsked = false;
  if (frame.event?.type === 'help_requested' && isStaff(client.hall.me?.role) && frame.room === client.hall.room) {
    said.push({ text: `${nameOf(client.hall, frame.event.member)} asked for help.` });
  }
  for (const a of said) announce(a.text, a.urgent);
}

/** Fetches the event's title and communities (the room state names only the protocol). */
async function loadEvent(id) {
  if (!id || client.hall.eventInfo?.id === id) return;
  try {
    const res = await fetch(`/api/events/${encodeURIComponent(id)}`, { headers: { Accept: 'application/json' } });
    if (!res.ok) return;
    const body = await res.json();
    client.hall.eventInfo = { id, title: body.title, communities: body.communities || [] };
    for (const g of client.groups.values()) g.eventInfo = client.hall.eventInfo;
    scheduleRender();
  } catch {
    // The protocol's title stands in.
  }
}

/** Fetches the protocol's settings (poll choices, stances, passing) once per protocol. */
async function loadSpec(r) {
  const name = r.protocol;
  if (!name) return;
  if (specs.has(name)) {
    const spec = await specs.get(name);
    if (spec && !r.spec) {
      r.spec = spec;
      if (r.phase && !r.poll) r.poll = pollFromSpec(r, r.phase.id);
      scheduleRender();
    }
    return;
  }
  const load = (async () => {
    try {
      const res = await fetch(`/api/protocols/${encodeURIComponent(name)}`, { headers: { Accept: 'application/json' } });
      if (!res.ok) return null;
      const body = await res.json();
      return body.protocol || null;
    } catch {
      // Without the protocol's details the page still works; it just offers fewer hints.
      return null;
    }
  })();
  specs.set(name, load);
  const spec = await load;
  for (const x of [client.hall, ...client.groups.values()]) {
    if (x.protocol === name && spec) {
      x.spec = spec;
      if (x.phase && !x.poll) x.poll = pollFromSpec(x, x.phase.id);
    }
  }
  scheduleRender();
}

// ---------------------------------------------------------------- live regions

let politeQueue = [];
let politeTimer = null;

/** Announces to screen readers; polite messages are batched so they do not pile up. */
function announce(text, urgent = false) {
  if (!text) return;
  if (urgent) {
    const el = $('live-assertive');
    el.textContent = '';
    setTimeout(() => { el.textContent = text; }, 30);
    return;
  }
  politeQueue.push(text);
  clearTimeout(politeTimer);
  politeTimer = setTimeout(() => {
    const el = $('live-polite');
    el.textContent = '';
    const joined = politeQueue.slice(-3).join(' ');
    politeQueue = [];
    setTimeout(() => { el.textContent = joined; }, 30);
  }, 120);
}

// ---------------------------------------------------------------- connection status

function setConn(s) {
  const prev = connStatus;
  connStatus = s;
  const box = $('conn');
  box.dataset.state = s.state;
  document.body.classList.toggle('offline', s.state !== 'online');
  $('conn-retry').hidden = s.state !== 'waiting';
  if (s.state === 'online' && prev.state !== 'online') {
    if (everOnline) announce('Reconnected. You are back in the room.');
    everOnline = true;
  }
  if (s.state === 'stopped' && s.reason && s.reason !== 'ended') {
    if (s.reason === 'bad_link') forgetJoined(sessionStorage.getItem(TOKEN_KEY));
    if (s.reason === 'bad_link' || s.reason === 'removed') sessionStorage.removeItem(TOKEN_KEY);
    showGate(`<p class="big" role="alert">${esc(s.text)}</p>`);
    // Stale controls would only mislead: the room is gone for this person.
    if (s.reason !== 'bad_frames') $('app').hidden = true;
    $('main').focus();
  }
  if (s.state === 'stopped' && s.reason === 'ended') {
    client.hall.session = { state: 'ended' };
    scheduleRender();
  }
  updateConnText();
}

function updateConnText() {
  const s = connStatus;
  let text;
  switch (s.state) {
    case 'connecting': text = 'Connecting…'; break;
    case 'reconnecting': text = 'Reconnecting…'; break;
    case 'online': text = 'Connected'; break;
    case 'waiting':
      text = `${s.why} Reconnecting…`;
      break;
    case 'stopped': text = s.reason === 'ended' ? 'Town hall ended' : s.reason ? 'Disconnected' : s.text || 'Disconnected'; break;
    default: text = '';
  }
  const el = $('conn-text');
  if (el.textContent !== text) el.textContent = text;
  const when = s.state === 'waiting' ? `Next try in ${Math.max(0, Math.ceil((s.retryAt - Date.now()) / 1000))} s.` : '';
  if ($('conn-when').textContent !== when) $('conn-when').textContent = when;
}

// ---------------------------------------------------------------- rendering

function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  setTimeout(() => {
    renderQueued = false;
    render();
  }, 0);
}

/** Replaces a container's markup only when it changed, keeping focus and typed text. */
function setHTML(el, html) {
  if (el._html === html) return;
  const active = document.activeElement;
  const focusKey = active && el.contains(active) ? active.dataset.key : null;
  const values = {};
  for (const input of el.querySelectorAll('[data-key]')) {
    if (input.matches('textarea, input, select')) values[input.dataset.key] = input.value;
  }
  let sel = null;
  if (focusKey && active.matches('textarea, input')) sel = [active.selectionStart, active.selectionEnd];
  el.innerHTML = html;
  el._html = html;
  for (const [key, v] of Object.entries(values)) {
    const input = el.querySelector(`[data-key="${CSS.escape(key)}"]`);
    if (input && v) input.value = v;
  }
  if (focusKey) {
    let again = el.querySelector(`[data-key="${CSS.escape(focusKey)}"]`);
    // A "Move up" that became disabled at the top: stay in the same row.
    if (again && again.disabled) again = again.closest('li')?.querySelector('button:not([disabled])') || null;
    if (again) {
      again.focus();
      if (sel && again.setSelectionRange) {
        try { again.setSelectionRange(sel[0], sel[1]); } catch { /* not a text field */ }
      }
    } else {
      // The control went away (say, the turn ended): keep focus inside the section.
      const section = el.closest('section');
      const heading = section?.querySelector('.section-h');
      if (heading) {
        heading.tabIndex = -1;
        heading.focus();
      }
    }
  }
  updateTimers();
}

/** The room the live sections show: the participant's group while in one, else the hall. */
function viewRoom() {
  return myGroupRoom(client) || client.hall;
}

/** Marks a section as showing a group room (commands from it carry `room`) or the hall. */
function setRoomOf(section, r) {
  const el = $(section);
  const id = r.kind === 'group' ? r.room : '';
  if ((el.dataset.room || '') !== id) {
    if (id) el.dataset.room = id;
    else delete el.dataset.room;
  }
  setPausedAt(el, r, r.kind === 'group');
}

/**
 * Clocks of a paused room stand still: `data-paused-at` on the element that shows it. The hall's
 * is on #app; a group's section sets its own, even when running (""), to shadow the hall's.
 */
function setPausedAt(el, r, always) {
  const paused = r.session.state === 'paused' && r.pausedAt ? String(r.pausedAt) : '';
  if (el.dataset.pausedAt === paused && (paused || always)) return;
  if (paused || always) el.dataset.pausedAt = paused;
  else delete el.dataset.pausedAt;
}

function setText(id, text) {
  if ($(id).textContent !== text) $(id).textContent = text;
}

function render() {
  const hall = client.hall;
  if (!hall.me) return;
  const role = hall.me.role;
  const v = viewRoom();
  const inGroup = v !== hall;
  document.body.classList.toggle('in-group', inGroup);
  document.title = `${v.floor && v.floor.member === hall.me.member ? '(Your turn) ' : ''}${hall.eventInfo?.title || hall.title || 'Town hall'} — Commonground`;
  setHTML($('who'), R.renderWho(hall));
  const now = conn.now();
  if (hall.backFromGroup && hall.backAt == null) hall.backAt = now;
  const notices = activeNotices(hall, inGroup ? v : null, now);
  for (const n of notices) if (n.kind === 'turn_ended') n.draft = Boolean(drafts.get(v.room));
  const untils = notices.map((n) => n.until).filter((u) => u != null);
  noticeUntil = untils.length ? Math.min(...untils) : null;
  setHTML($('notices'), R.renderNotices(hall, inGroup ? v : null, notices));
  const strip = R.renderHallStrip(hall, inGroup ? v : null);
  $('hall-strip').hidden = !strip;
  setRoomOf('hall-strip', hall);
  setHTML($('hall-strip-body'), strip);
  setPausedAt($('app'), hall, false);
  for (const id of ['now', 'mine', 'extra', 'queue', 'feed']) setRoomOf(id, v);
  setText('now-h', inGroup ? 'Your group' : 'Now');
  setText('feed-h', inGroup ? 'What your group said' : 'What people said');
  setHTML($('now-body'), R.renderNow(v));
  const mine = R.renderMine(v, { draft: drafts.get(v.room) || '' });
  $('mine').hidden = !mine;
  const myTurn = v.floor && v.floor.member === hall.me.member;
  const asked = v.invitation === hall.me.member || v.reflection?.speaker === hall.me.member;
  $('mine').classList.toggle('urgent', Boolean(myTurn || asked));
  setText('mine-h', myTurn ? 'Your turn' : inGroup ? 'What you can do in your group' : 'What you can do');
  $('queue').hidden = !(v.phase && ['queue', 'fishbowl', 'curiosity'].includes(v.phase.kind));
  setHTML($('mine-body'), mine);
  const speakBox = $('speak-text');
  if (speakBox && !speakBox.value && drafts.get(v.room)) speakBox.value = drafts.get(v.room);
  const extra = R.renderExtra(v);
  $('extra').hidden = !extra;
  setHTML($('extra-body'), extra);
  setHTML($('queue-body'), R.renderQueue(v));
  setHTML($('feed-body'), R.renderFeed(v, ui));
  setHTML($('agenda-body'), R.renderAgenda(hall));
  const staff = isStaff(role);
  $('staff').hidden = !staff;
  document.body.classList.toggle('is-staff', staff);
  if (staff) {
    $('console').hidden = !canFacilitate(role);
    setHTML($('console-body'), R.renderConsole(hall));
    const groups = R.renderGroups(hall, listenedGroups(client), { pending: listenPending, moveError: ui.moveError }, client.groupRooms);
    $('groups').hidden = !groups;
    setHTML($('groups-body'), groups);
    setHTML($('moderation-body'), R.renderModeration(hall, listenedGroups(client), groupReviewItems(client), listenPending));
    setHTML($('equity-body'), R.renderEquity(hall));
  }
  if (ui.focusKey) {
    const el = document.querySelector(`[data-key="${CSS.escape(ui.focusKey)}"]`);
    ui.focusKey = null;
    if (el) el.focus();
  }
}

// ---------------------------------------------------------------- timers

function tick() {
  updateTimers();
  if (noticeUntil != null && conn && conn.now() >= noticeUntil) {
    noticeUntil = null;
    scheduleRender();
  }
  if (connStatus.state === 'waiting') updateConnText();
}

function updateTimers() {
  if (!conn) return;
  const live = conn.now();
  // A paused room's clocks stand still at the moment it paused (per room: hall or group).
  const nowFor = (el) => {
    const paused = el.closest('[data-paused-at]')?.dataset.pausedAt;
    return paused ? Number(paused) : live;
  };
  for (const el of document.querySelectorAll('[data-deadline]')) {
    const now = nowFor(el);
    const left = Number(el.dataset.deadline) - now;
    const text = el.dataset.format === 'words' ? countdownWords(left) : clock(left);
    if (el.textContent !== text) el.textContent = text;
    el.classList.toggle('low', left < 15000);
  }
  for (const el of document.querySelectorAll('[data-since]')) {
    if (!el.dataset.since) continue;
    const now = nowFor(el);
    const text = clock(now - Number(el.dataset.since), true);
    if (el.textContent !== text) el.textContent = text;
  }
}

// ---------------------------------------------------------------- actions

function sectionOf(el) {
  return el.closest('section')?.id || 'mine';
}

function showError(section, err) {
  const el = $(`${section}-err`);
  if (!el || el.closest('[hidden]')) return false;
  el.textContent = errorWords(err.code, err.message);
  return true;
}

function clearError(section) {
  const el = $(`${section}-err`);
  if (el) el.textContent = '';
}

/** The room a control belongs to: the group its section shows, or the hall. */
function roomOf(el) {
  const id = el.closest?.('[data-room]')?.dataset.room;
  return id ? client.groups.get(id) || client.hall : client.hall;
}

/**
 * Sends a command; shows a refusal next to where it came from. A control in a section that
 * shows a group room sends the command to that room (`room` on the command).
 */
async function send(cmd, fromEl) {
  const section = sectionOf(fromEl);
  clearError(section);
  const target = fromEl.closest?.('[data-room]')?.dataset.room;
  if (target && !cmd.room) cmd = { ...cmd, room: target };
  try {
    await conn.send(cmd);
    return true;
  } catch (err) {
    if (!showError(section, err)) announce(errorWords(err.code, err.message), true);
    return false;
  }
}

/**
 * Moves a raised hand to `to`. The server keeps every moderator placement as a pin (the latest
 * placement wins a contested position) and lays the unpinned hands around the pins by the
 * phase's policy, so earlier pins elsewhere can shift where the others land. Pinning every
 * hand between the old and the new place to its new index makes the result exactly the order
 * the moderator sees.
 */
async function reorder(memberId, to, fromEl) {
  const order = roomOf(fromEl).queue.map((h) => h.member);
  const from = order.indexOf(memberId);
  if (from < 0 || from === to) return false;
  order.splice(from, 1);
  order.splice(to, 0, memberId);
  const lo = Math.min(from, to);
  const hi = Math.max(from, to);
  // The moved hand first, so the queue never shows it in a surprising place for long.
  const steps = [to, ...Array.from({ length: hi - lo + 1 }, (_, k) => lo + k).filter((k) => k !== to)];
  for (const k of steps) {
    if (!(await send({ type: 'move_in_queue', member: order[k], position: k }, fromEl))) return false;
  }
  return true;
}

// ---------------------------------------------------------------- listening in (staff)

const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

/** Sends `join_room` and waits for the group's snapshot; resolves `{ok}` or `{code, message}`. */
async function joinGroupRoom(id) {
  const arrived = new Promise((res) => snapshotWaiters.set(id, res));
  try {
    await conn.send({ type: 'join_room', room: id });
  } catch (err) {
    snapshotWaiters.delete(id);
    return { code: err.code, message: err.message };
  }
  const ok = await Promise.race([arrived.then(() => true), sleep(8000).then(() => false)]);
  snapshotWaiters.delete(id);
  return ok ? { ok: true } : { code: 'unavailable', message: 'the group did not answer' };
}

/** Listens in on the group at engine index `index`: joins the room the hall's `groups` frame names. */
async function listenIn(index, el) {
  if (listenPending != null) return;
  const section = sectionOf(el);
  clearError(section);
  for (const g of listenedGroups(client)) if (g.index === index) return;
  const fail = (err) => {
    if (!showError(section, err)) announce(errorWords(err.code, err.message), true);
  };
  const id = roomOfIndex(client, index);
  if (!id) {
    fail({ code: 'unavailable', message: '' });
    return;
  }
  listenPending = index;
  scheduleRender();
  try {
    const r = await joinGroupRoom(id);
    if (!r.ok) fail(r);
  } finally {
    listenPending = null;
    scheduleRender();
  }
}

/** Sends `move_to_group` for the person whose "Move" button was pressed; refusals show in that group. */
async function moveToGroup(el) {
  const d = el.dataset;
  const index = Number(d.group);
  const select = el.parentElement.querySelector(`select[data-move-member="${CSS.escape(d.member)}"]`);
  const name = member(client.hall, d.member)?.name || nameOf(roomOf(el), d.member);
  if (!select || select.value === '') {
    ui.moveError = { index, text: `Choose the group to move ${name} to first.` };
    scheduleRender();
    return;
  }
  const group = Number(select.value);
  ui.moveError = null;
  try {
    await conn.send({ type: 'move_to_group', member: d.member, group });
    announce(`${name} moved to ${groupWord(client.hall, group)}.`);
  } catch (err) {
    ui.moveError = { index, text: errorWords(err.code, err.message) };
    announce(ui.moveError.text, true);
  }
  scheduleRender();
}

/** Opens the inline report form under a message (one at a time) and focuses its reason field. */
function openReport(el) {
  const rid = el.closest('[data-room]')?.dataset.room || roomOf(el).room || '';
  const message = Number(el.dataset.message);
  ui.report = { key: `${rid}#${message}`, room: rid, message, target: 'message', error: '', sending: false };
  ui.focusKey = `report-${message}-reason`;
  scheduleRender();
}

function closeReport(focusBack = true) {
  if (!ui.report) return;
  if (focusBack) ui.focusKey = `report-${ui.report.message}`;
  ui.report = null;
  scheduleRender();
}

/** Sends the open report form: the message, or its author, with the reason given. */
async function sendReport(form) {
  const rep = ui.report;
  if (!rep || rep.sending) return;
  const reason = form.querySelector('input[id$="-reason"]').value.trim();
  if (!reason) {
    rep.error = 'Please say in a few words what is wrong.';
    ui.focusKey = `report-${rep.message}-reason`;
    scheduleRender();
    return;
  }
  const what = form.querySelector('input[type="radio"]:checked');
  const aboutMember = what?.value === 'member';
  const cmd = aboutMember ? { type: 'report', member: what.dataset.member, reason } : { type: 'report', message: rep.message, reason };
  if (rep.room && rep.room !== client.hall.room) cmd.room = rep.room;
  rep.sending = true;
  rep.error = '';
  scheduleRender();
  try {
    await conn.send(cmd);
    const name = aboutMember ? nameOf(roomOf(form), what.dataset.member) : '';
    const thanks = aboutMember
      ? `Thank you. The moderators will look at how ${name} is behaving.`
      : 'Thank you. The moderators will look at this message.';
    ui.reported.set(rep.key, thanks);
    if (ui.report === rep) ui.report = null;
    announce(thanks);
  } catch (err) {
    rep.sending = false;
    rep.error = reportErrorWords(err.code, err.message);
    ui.focusKey = `report-${rep.message}-reason`;
  }
  scheduleRender();
}

function commandFor(action, d, el) {
  switch (action) {
    case 'raise_hand': return d.stance ? { type: 'raise_hand', stance: d.stance } : { type: 'raise_hand' };
    case 'pass_for_now': return { type: 'pass', for_now: true };
    case 'move_on_yes': return { type: 'move_on', agree: true };
    case 'move_on_no': return { type: 'move_on', agree: false };
    case 'vote': return { type: 'vote', choice: d.choice };
    case 'upvote': return { type: 'upvote', question: Number(d.question) };
    case 'approve': return { type: 'approve', question: Number(d.question) };
    case 'hide': return { type: 'hide', message: Number(d.message) };
    case 'dismiss_report': return { type: 'dismiss_report', report: Number(d.report) };
    case 'resolve_help': return { type: 'resolve_help', member: d.member };
    case 'merge': {
      const select = el.parentElement.querySelector(`select[data-merge-from="${d.question}"]`);
      if (!select || !select.value) return { local: 'Choose the question to merge into first.' };
      return { type: 'merge_questions', question: Number(d.question), into: Number(select.value) };
    }
    case 'order_up':
    case 'order_down': return { type: 'order_question', question: Number(d.question), position: Number(d.position) };
    case 'extend_turn': return { type: 'extend', seconds: 30, target: 'turn' };
    case 'extend_phase': return { type: 'extend', seconds: 60, target: 'phase' };
    case 'open_breakouts': {
      const cmd = { type: 'open_breakouts' };
      const size = Number($('group-size')?.value);
      if (size) cmd.group_size = size;
      const how = $('group-assign')?.value;
      if (how && (client.hall.breakout || how !== 'new')) cmd.assignment = how;
      return cmd;
    }
    case 'grant_floor':
    case 'mute':
    case 'unmute':
    case 'remove': return { type: action, member: d.member };
    case 'queue_up':
    case 'queue_down': {
      const queue = roomOf(el).queue;
      const i = queue.findIndex((h) => h.member === d.member);
      if (i < 0) return null;
      return { reorder: d.member, to: action === 'queue_up' ? Math.max(0, i - 1) : Math.min(queue.length - 1, i + 1) };
    }
    case 'stop_listening': return { type: 'leave_room', room: d.groupRoom };
    case 'yield_to': {
      const to = $('yield-to')?.value;
      return to ? { type: 'yield_floor', to } : null;
    }
    case 'lower_hand':
    case 'accept_floor':
    case 'decline_floor':
    case 'confirm_reflection':
    case 'request_clarification':
    case 'yield_floor':
    case 'pass':
    case 'ask_help':
    case 'start':
    case 'pause':
    case 'resume':
    case 'next_phase':
    case 'end':
    case 'close_breakouts':
    case 'revoke_floor':
      return { type: action };
    default:
      return null;
  }
}

document.addEventListener('click', async (e) => {
  const el = e.target.closest('[data-action]');
  if (!el || el.disabled) return;
  const action = el.dataset.action;
  const d = el.dataset;
  const r = roomOf(el);
  if (action === 'dismiss_broadcast') {
    for (const b of client.hall.broadcasts) if (String(b.at) === d.at) b.dismissed = true;
    scheduleRender();
    return;
  }
  if (action === 'dismiss_back') {
    client.hall.backFromGroup = false;
    scheduleRender();
    return;
  }
  if (action === 'dismiss_turn_ended') {
    client.hall.turnEnded = null;
    for (const g of client.groups.values()) g.turnEnded = null;
    scheduleRender();
    return;
  }
  if (action === 'discard_draft') {
    drafts.delete(r.room);
    scheduleRender();
    return;
  }
  if (action === 'accept_floor') {
    // Once is enough: the card goes at once, and a second click never sends another "yes"
    // (the server answers `no_invitation` to it).
    if (accepting || r.invitation !== client.hall.me?.member) return;
    accepting = true;
    r.invitation = null;
    scheduleRender();
    // A refusal (muted, say) shows in the section it came from.
    await send({ type: 'accept_floor' }, el);
    accepting = false;
    scheduleRender();
    return;
  }
  if (action === 'dismiss_budget') {
    const who = d.member === 'room' ? null : d.member;
    r.budgetWarnings = r.budgetWarnings.filter((w) => w.member !== who);
    scheduleRender();
    return;
  }
  if (action === 'dismiss_notice') {
    client.hall.notice = null;
    scheduleRender();
    return;
  }
  if (action === 'dismiss_nudge') {
    client.hall.nudgedMe = false;
    for (const g of client.groups.values()) g.nudgedMe = false;
    scheduleRender();
    return;
  }
  if (action === 'report_open') {
    openReport(el);
    return;
  }
  if (action === 'report_cancel') {
    closeReport();
    return;
  }
  if (action === 'clear_group_flag') {
    client.groupFlags.delete(`${d.groupRoom}#${Number(d.message)}`);
    announce('Flag cleared.');
    scheduleRender();
    return;
  }
  if (action === 'clear_flag') {
    r.flags = r.flags.filter((f) => f.message !== Number(d.message));
    announce('Flag cleared.');
    scheduleRender();
    return;
  }
  if (action === 'move_to_group') {
    await moveToGroup(el);
    return;
  }
  if (action === 'listen') {
    await listenIn(Number(d.group), el);
    return;
  }
  if (action === 'end' && !window.confirm('End the town hall for everyone? This cannot be undone.')) return;
  if (action === 'remove' && !window.confirm(`Remove ${d.name || 'this person'} from the event? They will not be able to rejoin.`)) return;
  const cmd = commandFor(action, d, el);
  if (!cmd) return;
  if (cmd.local) {
    $(`${sectionOf(el)}-err`).textContent = cmd.local;
    return;
  }
  const ok = cmd.reorder ? await reorder(cmd.reorder, cmd.to, el) : await send(cmd, el);
  if (!ok) return;
  if (action === 'upvote') {
    const q = r.questions.find((x) => x.id === Number(d.question));
    if (q) q.voted = true;
  }
  if (action === 'move_on_yes' || action === 'move_on_no') {
    if (r.moveOn) r.moveOn.mine = action === 'move_on_yes';
  }
  if (action === 'vote' && r.poll) r.poll.my_vote = d.choice;
  if (action === 'ask_help') {
    client.hall.helpAsked = true;
    announce('The facilitators have been told you need help.');
  }
  scheduleRender();
});

document.addEventListener('submit', async (e) => {
  const form = e.target.closest('[data-form]');
  if (!form) return;
  e.preventDefault();
  if (form.dataset.form === 'report') {
    await sendReport(form);
    return;
  }
  const field = form.querySelector('textarea, input');
  const text = field.value.trim();
  if (!text) return;
  const type = { speak: 'speak', note: 'note', ask: 'ask', broadcast: 'broadcast' }[form.dataset.form];
  const ok = await send({ type, text }, form);
  if (ok) {
    // The event the command caused comes before its ack and may have re-rendered the form
    // (a new question re-renders the Questions card): empty the box that is on the page now.
    const box = field.isConnected ? field : document.querySelector(`[data-key="${CSS.escape(field.dataset.key)}"]`);
    if (box) box.value = '';
    if (type === 'speak') drafts.delete(roomOf(form).room);
    if (type === 'note') announce('Your note is saved.');
    if (type === 'ask') {
      announce(moderatedQa(roomOf(form)) ? 'Your question was sent. A moderator will read it before everyone sees it.' : 'Your question was sent.');
    }
  }
});

// Drag and drop in the moderator's queue (the Move up / Move down buttons do the same by keyboard).
let dragged = null;
document.addEventListener('dragstart', (e) => {
  const li = e.target.closest?.('.queue-staff .q-item');
  if (!li) return;
  dragged = li.dataset.member;
  e.dataTransfer.effectAllowed = 'move';
  e.dataTransfer.setData('text/plain', dragged);
  li.classList.add('dragging');
});
document.addEventListener('dragover', (e) => {
  const li = e.target.closest?.('.queue-staff .q-item');
  if (li && dragged) {
    e.preventDefault();
    e.dataTransfer.dropEffect = 'move';
  }
});
document.addEventListener('drop', async (e) => {
  const li = e.target.closest?.('.queue-staff .q-item');
  if (!li || !dragged) return;
  e.preventDefault();
  const member = dragged;
  dragged = null;
  const r = roomOf(li);
  const position = r.queue.findIndex((h) => h.member === li.dataset.member);
  if (position < 0 || li.dataset.member === member) return;
  if (await reorder(member, position, li)) announce(`${nameOf(r, member)} moved to place ${position + 1}.`);
});
document.addEventListener('dragend', () => {
  dragged = null;
  for (const el of document.querySelectorAll('.dragging')) el.classList.remove('dragging');
});

// The report form: which target is chosen survives re-renders; Escape closes it.
document.addEventListener('change', (e) => {
  const radio = e.target.closest?.('.report-form input[type="radio"]');
  if (radio && ui.report) ui.report.target = radio.value;
});
document.addEventListener('input', (e) => {
  if (e.target.id === 'speak-text') {
    const room = roomOf(e.target).room;
    if (e.target.value) drafts.set(room, e.target.value);
    else drafts.delete(room);
  }
  if (ui.report?.error && e.target.closest?.('.report-form')) {
    ui.report.error = '';
    scheduleRender();
  }
});
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && e.target.closest?.('.report-form')) {
    e.preventDefault();
    closeReport();
  }
});

$('conn-retry').addEventListener('click', () => conn && conn.retryNow());

start();
