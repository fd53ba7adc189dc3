// Commonground browser client: the entry point. Reads the invite token, connects (js/conn.js),
// keeps the room current (js/store.js), renders each section (js/render.js) without losing
// focus or typed text, refreshes countdowns from the server clock, announces what matters
// through ARIA live regions, and turns buttons and forms into wire-protocol commands.

import { Connection } from './js/conn.js';
import { emptyRoom, applySnapshot, applyEvent, pollFromSpec, nameOf } from './js/store.js';
import * as R from './js/render.js';
import { esc, clock, errorWords, isStaff, canFacilitate } from './js/util.js';

const TOKEN_KEY = 'commonground.token';
const $ = (id) => document.getElementById(id);

let room = emptyRoom();
let conn = null;
let renderQueued = false;
let connStatus = { state: 'connecting' };
let everOnline = false;
let specFor = null;

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

function showGate(html) {
  $('gate-body').innerHTML = html;
  $('gate').hidden = false;
  $('app').hidden = !room.loaded;
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
    resumePoint: () => (room.loaded && room.room ? { room: room.room, last_seq: room.seq } : null),
    sessionEnded: () => room.session.state === 'ended',
  });
  conn.start();
  setInterval(tick, 250);
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && conn) conn.retryNow();
  });
  window.addEventListener('online', () => conn && conn.retryNow());
}

// ---------------------------------------------------------------- messages

function onMessage(msg) {
  switch (msg.type) {
    case 'welcome': {
      if (room.me && room.me.member !== msg.member) room = emptyRoom();
      room.me = { member: msg.member, name: msg.name, role: msg.role, community: msg.community, event: msg.event, room: msg.room };
      document.body.dataset.role = msg.role;
      loadEvent(msg.event);
      break;
    }
    case 'snapshot':
      applySnapshot(room, msg);
      if (room.floor) room.floor.since = conn.now() - (room.floor.held_ms || 0);
      if (room.session.state === 'paused') room.pausedAt = conn.now();
      loadSpec();
      $('gate').hidden = true;
      $('app').hidden = false;
      break;
    case 'resumed':
      if (msg.recovered) {
        for (const ev of msg.events || []) onEvent(ev);
      }
      break;
    case 'event':
      onEvent(msg);
      break;
    case 'error':
      // An error without a request id (or for a request we no longer track).
      room.notice = errorWords(msg.code, msg.message);
      announce(room.notice, true);
      break;
    case 'status':
      announce(msg.message);
      break;
    default:
      break;
  }
  scheduleRender();
}

function onEvent(frame) {
  const said = applyEvent(room, frame);
  for (const a of said) announce(a.text, a.urgent);
}

/** Fetches the event's title and communities (the room state names only the protocol). */
async function loadEvent(id) {
  if (!id || room.eventInfo?.id === id) return;
  try {
    const res = await fetch(`/api/events/${encodeURIComponent(id)}`, { headers: { Accept: 'application/json' } });
    if (!res.ok) return;
    const body = await res.json();
    room.eventInfo = { id, title: body.title, communities: body.communities || [] };
    scheduleRender();
  } catch {
    // The protocol's title stands in.
  }
}

/** Fetches the protocol's settings (poll choices, stances, passing) once per protocol. */
async function loadSpec() {
  if (!room.protocol || specFor === room.protocol) return;
  specFor = room.protocol;
  try {
    const res = await fetch(`/api/protocols/${encodeURIComponent(room.protocol)}`, { headers: { Accept: 'application/json' } });
    if (!res.ok) return;
    const body = await res.json();
    room.spec = body.protocol || null;
    if (room.phase && !room.poll) room.poll = pollFromSpec(room, room.phase.id);
    scheduleRender();
  } catch {
    // Without the protocol's details the page still works; it just offers fewer hints.
  }
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
    if (s.reason === 'bad_link' || s.reason === 'removed') sessionStorage.removeItem(TOKEN_KEY);
    showGate(`<p class="big" role="alert">${esc(s.text)}</p>`);
    // Stale controls would only mislead: the room is gone for this person.
    if (s.reason !== 'bad_frames') $('app').hidden = true;
    $('main').focus();
  }
  if (s.state === 'stopped' && s.reason === 'ended') {
    room.session = { state: 'ended' };
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

function render() {
  if (!room.me) return;
  const role = room.me.role;
  document.title = `${room.floor && room.floor.member === room.me.member ? '(Your turn) ' : ''}${room.eventInfo?.title || room.title || 'Town hall'} — Commonground`;
  setHTML($('who'), R.renderWho(room));
  setHTML($('notices'), R.renderNotices(room));
  setHTML($('now-body'), R.renderNow(room));
  const mine = R.renderMine(room);
  $('mine').hidden = !mine;
  const myTurn = room.floor && room.floor.member === room.me.member;
  const asked = room.invitation === room.me.member || room.reflection?.speaker === room.me.member;
  $('mine').classList.toggle('urgent', Boolean(myTurn || asked));
  const mineTitle = myTurn ? 'Your turn' : 'What you can do';
  if ($('mine-h').textContent !== mineTitle) $('mine-h').textContent = mineTitle;
  $('queue').hidden = !(room.phase && ['queue', 'fishbowl', 'curiosity'].includes(room.phase.kind));
  setHTML($('mine-body'), mine);
  const extra = R.renderExtra(room);
  $('extra').hidden = !extra;
  setHTML($('extra-body'), extra);
  setHTML($('queue-body'), R.renderQueue(room));
  setHTML($('feed-body'), R.renderFeed(room));
  setHTML($('agenda-body'), R.renderAgenda(room));
  const staff = isStaff(role);
  $('staff').hidden = !staff;
  document.body.classList.toggle('is-staff', staff);
  if (staff) {
    $('console').hidden = !canFacilitate(role);
    setHTML($('console-body'), R.renderConsole(room));
    setHTML($('moderation-body'), R.renderModeration(room));
    setHTML($('equity-body'), R.renderEquity(room));
  }
}

// ---------------------------------------------------------------- timers

function tick() {
  updateTimers();
  if (connStatus.state === 'waiting') updateConnText();
}

function updateTimers() {
  if (!conn) return;
  const now = room.session.state === 'paused' && room.pausedAt ? room.pausedAt : conn.now();
  for (const el of document.querySelectorAll('[data-deadline]')) {
    const left = Number(el.dataset.deadline) - now;
    const text = clock(left);
    if (el.textContent !== text) el.textContent = text;
    el.classList.toggle('low', left < 15000);
  }
  for (const el of document.querySelectorAll('[data-since]')) {
    if (!el.dataset.since) continue;
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

/** Sends a command; shows a refusal next to where it came from. */
async function send(cmd, fromEl) {
  const section = sectionOf(fromEl);
  clearError(section);
  try {
    await conn.send(cmd);
    return true;
  } catch (err) {
    if (!showError(section, err)) announce(errorWords(err.code, err.message), true);
    return false;
  }
}

/**
 * Moves a raised hand to `to`. The server keeps every moderator placement as a pin and breaks
 * ties between equal pins by raise order, so a lone `move_in_queue` can be outranked by an
 * earlier placement. Pinning every hand between the old and the new place to its new index
 * makes the result exactly the order the moderator sees.
 */
async function reorder(memberId, to, fromEl) {
  const order = room.queue.map((h) => h.member);
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
      if (how && (room.breakout || how !== 'new')) cmd.assignment = how;
      return cmd;
    }
    case 'grant_floor':
    case 'mute':
    case 'unmute':
    case 'remove': return { type: action, member: d.member };
    case 'queue_up':
    case 'queue_down': {
      const i = room.queue.findIndex((h) => h.member === d.member);
      if (i < 0) return null;
      return { reorder: d.member, to: action === 'queue_up' ? Math.max(0, i - 1) : Math.min(room.queue.length - 1, i + 1) };
    }
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
  if (action === 'dismiss_broadcast') {
    for (const b of room.broadcasts) if (String(b.at) === d.at) b.dismissed = true;
    scheduleRender();
    return;
  }
  if (action === 'dismiss_notice') {
    room.notice = null;
    scheduleRender();
    return;
  }
  if (action === 'dismiss_nudge') {
    room.nudgedMe = false;
    scheduleRender();
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
    const q = room.questions.find((x) => x.id === Number(d.question));
    if (q) q.voted = true;
  }
  if (action === 'move_on_yes' || action === 'move_on_no') {
    if (room.moveOn) room.moveOn.mine = action === 'move_on_yes';
  }
  if (action === 'vote' && room.poll) room.poll.my_vote = d.choice;
  if (action === 'ask_help') announce('The facilitators have been told you need help.');
  scheduleRender();
});

document.addEventListener('submit', async (e) => {
  const form = e.target.closest('[data-form]');
  if (!form) return;
  e.preventDefault();
  const field = form.querySelector('textarea, input');
  const text = field.value.trim();
  if (!text) return;
  const type = { speak: 'speak', note: 'note', ask: 'ask', broadcast: 'broadcast' }[form.dataset.form];
  const ok = await send({ type, text }, form);
  if (ok) {
    field.value = '';
    if (type === 'note') announce('Your note is saved.');
    if (type === 'ask') announce('Your question was sent.');
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
  const position = room.queue.findIndex((h) => h.member === li.dataset.member);
  if (position < 0 || li.dataset.member === member) return;
  if (await reorder(member, position, li)) announce(`${nameOf(room, member)} moved to place ${position + 1}.`);
});
document.addEventListener('dragend', () => {
  dragged = null;
  for (const el of document.querySelectorAll('.dragging')) el.classList.remove('dragging');
});

$('conn-retry').addEventListener('click', () => conn && conn.retryNow());

start();
