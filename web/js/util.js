// Small helpers shared by the client modules: HTML escaping, time and ordinal formatting,
// and plain-language wording for the server's error codes.

/** Escapes text for use inside HTML element content and attribute values. */
export function esc(value) {
  return String(value ?? '')
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

/**
 * "1:05" for 65 000 ms; "0:00" for anything below zero. Countdowns round up (a turn with 0.4 s
 * left still shows 0:01); elapsed times (`up`) round down.
 */
export function clock(ms, up = false) {
  const total = Math.max(0, up ? Math.floor(ms / 1000) : Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const ss = String(s).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** Spoken form of a duration: "2 minutes", "45 seconds", "1 minute 30 seconds". */
export function spokenDuration(ms) {
  const total = Math.max(0, Math.round(ms / 1000));
  const m = Math.floor(total / 60);
  const s = total % 60;
  const parts = [];
  if (m) parts.push(`${m} minute${m === 1 ? '' : 's'}`);
  if (s || !m) parts.push(`${s} second${s === 1 ? '' : 's'}`);
  return parts.join(' ');
}

/**
 * A short countdown in words, for "Next part in 25 s": "25 s" under a minute, "2 min 5 s"
 * above (rounded up, as `clock`; never below "0 s").
 */
export function countdownWords(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  if (total < 60) return `${total} s`;
  const m = Math.floor(total / 60);
  const s = total % 60;
  return s ? `${m} min ${s} s` : `${m} min`;
}

/** "1st", "2nd", "3rd", "4th", "11th", "22nd". */
export function ordinal(n) {
  const mod100 = n % 100;
  if (mod100 >= 11 && mod100 <= 13) return `${n}th`;
  switch (n % 10) {
    case 1: return `${n}st`;
    case 2: return `${n}nd`;
    case 3: return `${n}rd`;
    default: return `${n}th`;
  }
}

/** "42%" from a 0..1 share. */
export function percent(share) {
  return `${Math.round((share || 0) * 100)}%`;
}

const ERROR_WORDS = {
  forbidden: 'Your role cannot do that.',
  not_your_turn: 'You can do that when you hold the floor.',
  wrong_phase: 'That is not part of this part of the agenda.',
  not_started: 'The session has not started yet.',
  paused: 'The session is paused for a moment.',
  ended: 'The session has ended.',
  already_started: 'The session has already started.',
  too_long: 'That text is too long. Please shorten it.',
  too_large: 'That message is too large.',
  rate_limited: 'That was a lot at once. Please wait a moment and try again.',
  muted: 'A moderator has muted you for now.',
  removed: 'You were removed from this event.',
  already_queued: 'Your hand is already raised.',
  not_queued: 'Your hand is not raised.',
  no_floor: 'Nobody holds the floor right now.',
  no_invitation: 'There is no invitation to answer.',
  duplicate: 'That was already done.',
  unknown_member: 'That person is not in the room.',
  unknown_item: 'That item is no longer there.',
  unknown_room: 'This room is closed.',
  unavailable: 'The room is busy. Please try again in a moment.',
  not_allowed: 'That is not allowed right now.',
  invalid: 'The server could not read that request.',
  unauthorized: 'This invite link is not valid.',
  too_many_reports: 'You already have 5 reports waiting for the moderators. Please wait until they have looked at one.',
  not_in_room: 'You are not listening to that group.',
  poll_closed: 'The poll has just closed, so that vote was not counted. The results are shown now.',
  over_budget: "You have written your share of this room's record; a moderator has been told.",
  too_many_questions: 'No more questions can be asked in this part of the agenda.',
};

/** Refusals of a `report`, where the general wording would not say what went wrong. */
const REPORT_WORDS = {
  duplicate: 'You already reported this; the moderators have it.',
  not_allowed: 'That has already been dealt with by a moderator.',
  invalid: 'You cannot report yourself or your own message.',
  unknown_item: 'That message is no longer there.',
  unknown_member: 'That person is no longer in the room.',
  ended: 'The town hall has ended; reports are closed.',
};

/** A plain sentence for a refused `report`. */
export function reportErrorWords(code, message) {
  return REPORT_WORDS[code] || errorWords(code, message);
}

/** A plain sentence for an error code, with the server's own words when they add detail. */
export function errorWords(code, message) {
  const base = ERROR_WORDS[code];
  if (!base) return message || 'Something went wrong. Please try again.';
  if (message && (code === 'not_allowed' || code === 'invalid' || code === 'too_long')) {
    return `${base} (${message})`;
  }
  return base;
}

/** Role names as people say them. */
export function roleWord(role) {
  return {
    participant: 'Participant',
    facilitator: 'Facilitator',
    moderator: 'Moderator',
    observer: 'Observer',
    organizer: 'Organizer',
  }[role] || role;
}

export function isStaff(role) {
  return role === 'facilitator' || role === 'moderator' || role === 'organizer';
}

export function canFacilitate(role) {
  return role === 'facilitator' || role === 'organizer';
}
