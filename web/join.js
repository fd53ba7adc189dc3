// Commonground join page (`/join/{code}`, served by src/api/links.rs). A resident opens the
// organizer's join link, enters a display name (and a community when the link leaves the
// choice to them), and gets a member token of their own from `POST /api/join/{code}`. The
// token is kept in localStorage per event, so opening the link again in this browser goes
// straight back in as the same member instead of making a new one; the town hall page
// (`/?token=`) keeps it for reloads in its own tab.

const $ = (id) => document.getElementById(id);
const MAX_NAME = 60;
// Control characters and bidirectional overrides, as the server refuses them.
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/u;

const code = decodeURIComponent(window.location.pathname.replace(/^\/join\//, '').split('/')[0] || '');

/** localStorage key of the member token this browser holds for `event`. */
function memberKey(event) {
  return `commonground.member.${event}`;
}

/** The event id a code names: its first 16 bytes, base64url (`token/link.rs`). */
function eventOfCode(c) {
  if (!/^[A-Za-z0-9_-]{64}$/.test(c)) return null;
  const b64 = c.slice(0, 22).replace(/-/g, '+').replace(/_/g, '/') + '==';
  let bytes;
  try { bytes = atob(b64); } catch { return null; }
  let hex = '';
  for (let i = 0; i < 16; i++) hex += bytes.charCodeAt(i).toString(16).padStart(2, '0');
  return `evt-${hex}`;
}

/** The stored member for `event`, unless its token has expired. */
function storedMember(event) {
  let m;
  try { m = JSON.parse(localStorage.getItem(memberKey(event)) || 'null'); } catch { m = null; }
  if (!m || typeof m.token !== 'string') return null;
  if (typeof m.expires_at === 'number' && m.expires_at <= Date.now()) {
    try { localStorage.removeItem(memberKey(event)); } catch { /* storage unavailable */ }
    return null;
  }
  return m;
}

function enter(token) {
  // The town hall page takes the token from the query, keeps it for reloads and strips it.
  window.location.replace(`/?token=${encodeURIComponent(token)}`);
}

const REFUSED = {
  unknown_link: 'This join link is not valid. Check that you copied all of it, or ask the organizers for a new one.',
  link_expired: 'This join link has expired. Please ask the organizers for a new one.',
  link_full: 'This join link has been used as often as the organizers allowed. Please ask them for a new one.',
  link_revoked: 'The organizers have withdrawn this join link. Please ask them for a new one.',
  ended: 'This town hall has ended.',
  rate_limited: 'Many people just joined from this network. Please wait a minute and try again.',
  unavailable: 'The server is busy right now. Please try again in a moment.',
};

function status(text) {
  $('join-status').textContent = text;
}

function nameProblem(raw) {
  const name = raw.trim();
  if (!name) return 'Please enter the name others will see.';
  if ([...name].length > MAX_NAME) return `A display name has at most ${MAX_NAME} characters.`;
  if (UNPRINTABLE.test(name)) return 'A display name cannot contain control characters (tabs, line breaks and the like).';
  return '';
}

function showForm(info) {
  const form = $('join-form');
  $('join-event').textContent = info.title;
  const role = info.role === 'participant' ? '' : ` as ${info.role === 'observer' ? 'an observer' : `a ${info.role}`}`;
  $('join-as').textContent = info.community
    ? `You join${role} with ${info.community}.`
    : (info.community_required ? 'Choose the community you belong to.' : `You join${role}.`);
  if (!info.community && info.communities.length) {
    const box = $('join-community-choices');
    box.textContent = '';
    info.communities.forEach((c, i) => {
      const label = document.createElement('label');
      label.className = 'inline';
      const input = document.createElement('input');
      input.type = 'radio';
      input.name = 'community';
      input.value = c;
      input.id = `join-community-${i}`;
      label.append(input, document.createTextNode(c));
      const row = document.createElement('div');
      row.append(label);
      box.append(row);
    });
    if (!info.community_required) $('join-community').querySelector('legend').textContent = 'Your community (optional)';
    $('join-community').hidden = false;
  }
  status('');
  form.hidden = false;
  $('join-name').focus();

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    for (const id of ['join-name-err', 'join-community-err', 'join-err']) $(id).textContent = '';
    $('join-name').removeAttribute('aria-invalid');
    const raw = $('join-name').value;
    const problem = nameProblem(raw);
    if (problem) {
      $('join-name-err').textContent = problem;
      $('join-name').setAttribute('aria-invalid', 'true');
      $('join-name').focus();
      return;
    }
    const picked = form.querySelector('input[name="community"]:checked');
    if (info.community_required && !picked) {
      $('join-community-err').textContent = 'Please choose your community.';
      form.querySelector('input[name="community"]').focus();
      return;
    }
    const body = { name: raw.trim() };
    if (picked) body.community = picked.value;
    $('join-submit').disabled = true;
    status('Joining…');
    try {
      const res = await fetch(`/api/join/${encodeURIComponent(code)}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
      const data = await res.json().catch(() => ({}));
      if (res.status === 201 && data.token) {
        try {
          localStorage.setItem(memberKey(data.event), JSON.stringify({
            token: data.token, member: data.member, name: data.name, expires_at: data.expires_at,
          }));
        } catch { /* storage unavailable (a private window): the town hall tab still keeps it */ }
        status('Opening the town hall…');
        enter(data.token);
        return;
      }
      const err = data.error || {};
      status('');
      const text = REFUSED[err.code] || err.message || 'Something went wrong. Please try again.';
      if (err.code === 'invalid' && /name/i.test(err.message || '')) {
        $('join-name-err').textContent = err.message;
        $('join-name').setAttribute('aria-invalid', 'true');
        $('join-name').focus();
      } else {
        $('join-err').textContent = text;
      }
    } catch {
      status('');
      $('join-err').textContent = 'Cannot reach the server. Check your connection and try again.';
    } finally {
      $('join-submit').disabled = false;
    }
  });
}

async function start() {
  const event = eventOfCode(code);
  // Back in the same browser: the same member, even when the link has filled up since.
  const mine = event && storedMember(event);
  if (mine) {
    status(`Welcome back${mine.name ? `, ${mine.name}` : ''}. Opening the town hall…`);
    enter(mine.token);
    return;
  }
  try {
    const res = await fetch(`/api/join/${encodeURIComponent(code)}`);
    const data = await res.json().catch(() => ({}));
    if (!res.ok) {
      const err = data.error || {};
      status(REFUSED[err.code] || err.message || 'This join link cannot be used.');
      return;
    }
    showForm(data);
  } catch {
    status('Cannot reach the server. Check your connection and reload the page.');
  }
}

start();
