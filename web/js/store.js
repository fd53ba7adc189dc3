// The room as this member knows it: built from the `snapshot` state (src/engine/view.rs) and
// kept current by applying each `event` payload (src/engine/event.rs) in sequence order.
// `apply` returns what is worth announcing to screen-reader users (floor changes, time
// warnings, invitations), so the announcing policy lives in one place.
//
// One connection can be in several rooms (docs/wire-protocol.md, "Breakout groups"): the hall,
// always, and while breakouts run a participant's group room, or the group rooms a staff member
// listens to. `emptyClient` holds them: the hall as one room object, each group room as another,
// keyed by room id; frames are routed by their `room` so a group's welcome, snapshot and events
// never touch the hall's.

import { spokenDuration } from './util.js';

export function emptyRoom(kind = 'hall') {
  return {
    kind,
    me: null,
    room: null,
    seq: 0,
    loaded: false,
    protocol: '',
    title: '',
    session: { state: 'not_started' },
    agenda: [],
    phase: null,
    floor: null,
    queue: [],
    members: [],
    invitation: null,
    interlude_until: null,
    reflection: null,
    side: null,
    questions: [],
    current_question: null,
    question_order: [],
    poll: null,
    hidden: [],
    equity: null,
    feed: [],
    broadcasts: [],
    breakout: null,
    help: [],
    nudges: [],
    nudgedMe: false,
    moveOn: null,
    lastWarning: null,
    pausedAt: null,
    eventInfo: null,
    notice: null,
    /** When the member's own turn ended by time or by a moderator: `{reason, at}` (a notice). */
    turnEnded: null,
    /** When "You are back in the main hall" was first shown (page clock); see `activeNotices`. */
    backAt: null,
    spec: null,
    /** Staff: open reports (snapshot `reports`, then `report_filed` / `report_closed`). */
    reports: [],
    /** Staff: the latest report closures, newest last, shown for a moment after they close. */
    closedReports: [],
    /** Staff: messages the word list flagged (`message_flagged`), until hidden or cleared here. */
    flags: [],
    /**
     * Staff: record budget warnings (`budget_warning`), one per member (`member` null: the
     * room's own budget), latest last: `{member, used, limit, at}`. Not in snapshots.
     */
    budgetWarnings: [],
  };
}

/** Replaces the room with a snapshot, keeping what a snapshot does not carry. */
export function applySnapshot(room, msg) {
  const s = msg.state || {};
  room.room = msg.room;
  room.seq = msg.seq;
  room.loaded = true;
  room.protocol = s.protocol || '';
  room.title = s.title || '';
  room.session = s.session || { state: 'not_started' };
  room.agenda = s.agenda || [];
  room.phase = s.phase || null;
  room.floor = s.floor ? { ...s.floor, since: null } : null;
  room.queue = s.queue || [];
  // Who muted is only in the `muted` event: keep it across a snapshot (a reload starts without).
  const mutedBy = new Map(room.members.filter((m) => m.muted && m.mutedBy).map((m) => [m.id, m.mutedBy]));
  room.members = (s.members || []).map((m) => (m.muted && mutedBy.has(m.id) ? { ...m, mutedBy: mutedBy.get(m.id) } : m));
  room.invitation = s.invitation || null;
  room.interlude_until = s.interlude_until || null;
  room.reflection = s.reflection || null;
  room.side = s.side || null;
  room.questions = (s.questions || []).map((q) => ({ ...q }));
  room.current_question = s.current_question ?? null;
  room.question_order = Array.isArray(s.answer_order) ? s.answer_order.slice() : [];
  if (Array.isArray(s.help)) room.help = s.help.map((m) => ({ member: m, at: null }));
  room.poll = s.poll || null;
  room.hidden = s.hidden || [];
  room.equity = s.equity || null;
  room.reports = Array.isArray(s.reports) ? s.reports.filter((r) => !r.status || r.status === 'open') : [];
  room.flags = room.flags.filter((f) => !room.hidden.includes(f.message));
  if (Array.isArray(s.messages)) room.feed = mergeFeed(room.feed, s.messages.map(fromSnapshotMessage));
  if (s.breakout) {
    const b = s.breakout;
    room.breakout = {
      protocol: b.protocol, groups: b.groups, until: room.phase?.deadline ?? null,
      closingUntil: b.closing_until ?? null, myGroup: b.my_group ?? null,
    };
  } else if (room.phase?.kind !== 'breakout') room.breakout = null;
  if (room.phase?.kind !== 'queue') room.moveOn = null;
}

/** A snapshot's `messages` entry as a feed item. */
function fromSnapshotMessage(m) {
  return { kind: m.kind === 'noted' ? 'note' : 'said', message: m.message, member: m.member ?? null, text: m.text, at: m.at };
}

/**
 * The conversation after a snapshot: its history (the last messages the viewer may see), plus
 * what this page already had that the history does not (older ones), once each, in id order.
 */
function mergeFeed(had, history) {
  const byId = new Map();
  for (const it of had) byId.set(it.message, it);
  for (const it of history) byId.set(it.message, it);
  const out = [...byId.values()].sort((a, b) => a.message - b.message);
  return out.length > 200 ? out.slice(out.length - 200) : out;
}

/** Adds a live message unless the history already brought it. */
function pushFeed(room, item) {
  if (room.feed.some((x) => x.message === item.message)) return;
  room.feed.push(item);
  trimFeed(room);
}

/** The text of a message, note or question this page has seen, or null. */
export function messageText(room, id) {
  const it = room.feed.find((x) => x.message === id);
  if (it) return it.text;
  return room.questions.find((q) => q.id === id)?.text ?? null;
}

/** Who wrote a message, note or question (null: unknown, or a note shared without a name). */
export function messageAuthor(room, id) {
  const it = room.feed.find((x) => x.message === id);
  if (it) return it.member ?? null;
  return room.questions.find((q) => q.id === id)?.asker ?? null;
}

/** "a message by Ana" / "Ana" (a member report), for announcements and the moderator's list. */
export function reportTarget(room, r) {
  if (r.message != null) {
    const author = messageAuthor(room, r.message);
    return author ? `a message by ${nameOf(room, author)}` : 'a message';
  }
  return nameOf(room, r.member);
}

const CLOSED_WORDS = { dismissed: 'dismissed', hidden: 'the message was hidden', muted: 'the person was muted', removed: 'the person was removed' };

export function member(room, id) {
  return room.members.find((m) => m.id === id) || null;
}

/** What the member concerned is told when their turn is cut short (`floor_released.reason`). */
export const TURN_ENDED_WORDS = {
  expired: 'Your time is up. Thank you.',
  revoked: 'A moderator ended your turn.',
};

/** How long notices stay before they clear themselves (ms on the server clock). */
export const NOTICE_TTL = { broadcast: 120000, back: 20000, turnEnded: 30000 };

/** "Mo (moderator)" or "A moderator": who muted, from `muted.by`. */
export function mutedByWords(room, by) {
  const m = by ? member(room, by) : null;
  if (!m || (room.me && by === room.me.member)) return 'A moderator';
  return `${m.name} (${m.role === 'facilitator' ? 'facilitator' : m.role === 'organizer' ? 'organizer' : 'moderator'})`;
}

/**
 * The notices still worth showing at `now` (server clock), each with when it clears itself
 * (`until`): the latest facilitator broadcast only (a new one supersedes the older ones), for
 * two minutes; "You are back in the main hall" for 20 s after it first showed (stamped in
 * `backAt`) and never inside a group; "Your time is up" / "A moderator ended your turn" to the
 * member concerned for 30 s, or until they have the floor again. `group` is the participant's
 * group room while placed (its own turn notices count).
 */
export function activeNotices(hall, group, now) {
  const out = [];
  const last = hall.broadcasts[hall.broadcasts.length - 1];
  if (last && !last.dismissed && now - last.at < NOTICE_TTL.broadcast) {
    out.push({ kind: 'broadcast', at: last.at, text: last.text, by: last.by, until: last.at + NOTICE_TTL.broadcast });
  }
  if (hall.backFromGroup && !group && (hall.backAt == null || now - hall.backAt < NOTICE_TTL.back)) {
    out.push({ kind: 'back', until: hall.backAt == null ? null : hall.backAt + NOTICE_TTL.back });
  }
  for (const r of group ? [group, hall] : [hall]) {
    const t = r.turnEnded;
    if (t && now - t.at < NOTICE_TTL.turnEnded) {
      out.push({ kind: 'turn_ended', reason: t.reason, text: TURN_ENDED_WORDS[t.reason], until: t.at + NOTICE_TTL.turnEnded });
      break;
    }
  }
  return out;
}

export function nameOf(room, id) {
  if (!id) return 'Someone';
  if (room.me && id === room.me.member) return 'You';
  return member(room, id)?.name || 'Someone';
}

/** "Ana (Dayton, OH)" */
export function labelOf(room, id) {
  const m = member(room, id);
  if (!m) return nameOf(room, id);
  if (room.me && id === room.me.member) return m.community ? `You (${m.community})` : 'You';
  return m.community ? `${m.name} (${m.community})` : m.name;
}

function shiftDeadlines(room, ms) {
  const add = (t) => (t == null ? t : t + ms);
  if (room.phase) room.phase.deadline = add(room.phase.deadline);
  if (room.floor) room.floor.deadline = add(room.floor.deadline);
  if (room.reflection) room.reflection.until = add(room.reflection.until);
  room.interlude_until = add(room.interlude_until);
  if (room.side) room.side = [room.side[0], add(room.side[1])];
  if (room.breakout) {
    room.breakout.until = add(room.breakout.until);
    room.breakout.closingUntil = add(room.breakout.closingUntil);
  }
  // A pause moves the closed poll's hold later too ("Polls: results at close").
  if (room.poll?.results?.until != null) room.poll.results = { ...room.poll.results, until: add(room.poll.results.until) };
}

/**
 * While a closed poll's results hold the agenda: when the next part starts (`until` of the
 * closed `poll_results`, from the event or the snapshot's `poll.results`), else null. The
 * next `phase_started` (the facilitator moved on sooner, or `until` came) ends it.
 */
export function pollHold(room) {
  if (room.phase?.kind !== 'poll') return null;
  const r = room.poll?.results;
  return r && r.closed && r.until != null ? r.until : null;
}

/** Whether the current Q&A phase is moderated (`moderated = true`), from the protocol file. */
export function moderatedQa(room) {
  const k = phaseSpec(room);
  return room.phase?.kind === 'qa' && k?.kind === 'qa' && k.moderated === true;
}

/**
 * A question not yet approved in a moderated Q&A phase: only its asker and staff see it until
 * a moderator approves it (`question_approved` then shows it to everyone).
 */
export function awaitsModerator(room, q) {
  return !q.approved && moderatedQa(room);
}

/** One `budget_warning` in words, for staff: whose share, how full. */
export function budgetWarningWords(room, w) {
  const pct = w.limit ? Math.floor((w.used / w.limit) * 100) : 100;
  if (w.member == null) {
    const mib = (n) => (n / (1024 * 1024)).toFixed(1);
    return `This room's record is ${pct}% full (${mib(w.used)} of ${mib(w.limit)} MiB); once it is full, new texts are refused.`;
  }
  const kib = (n) => Math.round(n / 1024);
  return `${nameOf(room, w.member)} has written ${pct}% of their share of this room's record (${kib(w.used)} of ${kib(w.limit)} KiB); past it, what they write is refused.`;
}

function person(room, id) {
  const eq = room.equity;
  if (!eq) return null;
  let p = eq.people.find((x) => x.member === id);
  if (!p) {
    const m = member(room, id);
    if (!m || m.role !== 'participant') return null;
    p = { member: id, name: m.name, community: m.community, speaking_ms: 0, reflect_ms: 0, turns: 0, passes: 0, queue_wait_ms: 0 };
    eq.people.push(p);
    if (!eq.not_spoken.includes(id)) eq.not_spoken.push(id);
  }
  return p;
}

/**
 * Applies one event frame. Returns announcements: `{text, urgent?}`.
 * Frames at or below the last sequence number are ignored (a resume may overlap).
 */
export function applyEvent(room, frame) {
  if (frame.room && room.room && frame.room !== room.room) return [];
  if (frame.seq <= room.seq) return [];
  room.seq = frame.seq;
  const e = frame.event;
  const at = frame.at;
  const me = room.me?.member;
  const out = [];
  const say = (text, urgent = false) => out.push({ text, urgent });
  switch (e.type) {
    case 'member_joined': {
      const existing = member(room, e.member);
      if (existing) {
        existing.present = true;
      } else {
        room.members.push({ id: e.member, name: e.name, role: e.role, community: e.community, present: true, muted: false });
      }
      if (room.equity && e.role === 'participant') person(room, e.member);
      break;
    }
    case 'member_left': {
      const m = member(room, e.member);
      if (m) m.present = false;
      room.queue = room.queue.filter((h) => h.member !== e.member);
      break;
    }
    case 'member_removed':
      room.members = room.members.filter((m) => m.id !== e.member);
      room.queue = room.queue.filter((h) => h.member !== e.member);
      break;
    case 'session_started':
      room.session = { state: 'running' };
      say(room.kind === 'group' ? 'Your group has started.' : 'The session has started.');
      break;
    case 'session_paused':
      room.session = { state: 'paused' };
      room.pausedAt = at;
      say('The session is paused. Timers are stopped.');
      break;
    case 'session_resumed':
      room.session = { state: 'running' };
      shiftDeadlines(room, e.shifted_ms || 0);
      say('The session has resumed.');
      break;
    case 'session_ended':
      room.session = { state: 'ended' };
      room.floor = null;
      room.queue = [];
      say(room.kind === 'group' ? 'Your group has finished its conversation. Please wait for the main hall.' : 'The town hall has ended. Thank you for taking part.');
      break;
    case 'phase_started':
      room.phase = { index: e.index, id: e.id, kind: e.kind, title: e.title, prompt: e.prompt, deadline: e.deadline, overtime: false };
      room.floor = null;
      room.queue = [];
      room.reflection = null;
      room.interlude_until = null;
      room.side = null;
      room.questions = [];
      room.current_question = null;
      room.question_order = [];
      room.moveOn = null;
      room.nudgedMe = false;
      room.invitation = null;
      room.poll = pollFromSpec(room, e.id);
      if (e.kind !== 'breakout') room.breakout = null;
      say(`Now: ${e.title}.`);
      break;
    case 'phase_ended':
      if (room.phase && room.phase.index === e.index) room.phase.deadline = null;
      break;
    case 'phase_overtime':
      if (room.phase) room.phase.overtime = true;
      say('The time for this part is up; the facilitator will move on.');
      break;
    case 'interlude':
      room.interlude_until = e.until;
      if (e.think) say('Take a moment to think before the first turn.');
      break;
    case 'floor_granted': {
      room.floor = { member: e.member, turn: e.turn, deadline: e.deadline, held_ms: 0, overtime: false, responding_to: e.responding_to || null, since: at };
      room.interlude_until = null;
      room.reflection = null;
      // The server withdraws a move-on offer as soon as the floor is taken (no event says so).
      room.moveOn = null;
      if (room.invitation === e.member) room.invitation = null;
      if (e.member === me) room.turnEnded = null;
      room.queue = room.queue.filter((h) => h.member !== e.member);
      say(floorSentence(room, room.floor), e.member === me);
      break;
    }
    case 'floor_released': {
      if (room.floor && room.floor.member === e.member) room.floor = null;
      const p = person(room, e.member);
      if (p) {
        if (e.turn === 'reflect') p.reflect_ms += e.held_ms;
        else p.speaking_ms += e.held_ms;
        if (e.turn === 'own' && e.reason !== 'passed') {
          p.turns += 1;
          room.equity.not_spoken = room.equity.not_spoken.filter((x) => x !== e.member);
        }
      }
      if (e.member === me && (e.reason === 'expired' || e.reason === 'revoked')) {
        room.turnEnded = { reason: e.reason, at };
        say(TURN_ENDED_WORDS[e.reason]);
      }
      break;
    }
    case 'floor_revoked':
      break;
    case 'turn_overtime':
      if (room.floor && room.floor.member === e.member) room.floor.overtime = true;
      break;
    case 'warning': {
      room.lastWarning = { deadline: e.deadline, phase: e.phase, at };
      const left = spokenDuration(e.deadline - at);
      if (e.phase) say(`About ${left} left in this part of the agenda.`);
      else if (room.floor && room.floor.member === me) say(`About ${left} left in your turn.`, true);
      else say(`About ${left} left in this turn.`);
      break;
    }
    case 'deadline_extended':
      if (e.phase) {
        if (room.phase) {
          room.phase.deadline = e.deadline;
          room.phase.overtime = false;
        }
        say('More time was added to this part of the agenda.');
      } else if (room.floor) {
        room.floor.deadline = e.deadline;
        room.floor.overtime = false;
        say('More time was added to this turn.');
      }
      break;
    case 'hand_raised':
      room.moveOn = null;
      // An invited member who said yes while someone else speaks goes to the front of the
      // queue: the invitation is answered (no event of its own says so).
      if (room.invitation === e.member) room.invitation = null;
      room.queue = room.queue.filter((h) => h.member !== e.member);
      // `position` says where the hand went; `queue_changed` follows only if others moved.
      room.queue.splice(Math.min(e.position ?? room.queue.length, room.queue.length), 0, { member: e.member, stance: e.stance });
      break;
    case 'hand_lowered':
      room.queue = room.queue.filter((h) => h.member !== e.member);
      break;
    case 'queue_changed': {
      // An accepted invitation moves a hand that was already up to the front, with no `by`.
      if (room.invitation && !e.by && e.order[0] === room.invitation) room.invitation = null;
      const stance = new Map(room.queue.map((h) => [h.member, h.stance]));
      room.queue = e.order.map((m) => ({ member: m, stance: stance.get(m) ?? null }));
      break;
    }
    case 'passed':
      if (e.member !== me) say(`${nameOf(room, e.member)} passed${e.for_now ? ' for now' : ''}.`);
      {
        const p = person(room, e.member);
        if (p) p.passes += 1;
      }
      break;
    case 'reflection_pending':
      room.reflection = { speaker: e.speaker, listener: e.listener, until: e.until, attempt: e.attempt };
      if (e.speaker === me) say(`${nameOf(room, e.listener)} summed up what you said. Did they get it right?`, true);
      break;
    case 'reflection_confirmed':
      room.reflection = null;
      if (e.listener === me) say(`${nameOf(room, e.speaker)} confirmed your summary.`);
      break;
    case 'clarification_requested':
      room.reflection = null;
      if (e.listener === me) say(`${nameOf(room, e.speaker)} asked to clarify.`);
      break;
    case 'invited':
      room.invitation = e.member;
      if (e.member === me) say('You are invited to speak. Accept or decline.', true);
      break;
    case 'invitation_declined':
      if (room.invitation === e.member) room.invitation = null;
      break;
    case 'muted': {
      const m = member(room, e.member);
      if (m) {
        m.muted = true;
        m.mutedBy = e.by || null;
      }
      room.queue = room.queue.filter((h) => h.member !== e.member);
      if (e.member === me) say(`${mutedByWords(room, e.by)} has muted you for now.`, true);
      break;
    }
    case 'unmuted': {
      const m = member(room, e.member);
      if (m) {
        m.muted = false;
        m.mutedBy = null;
      }
      if (e.member === me) say('You are no longer muted.');
      break;
    }
    case 'said':
      pushFeed(room, { kind: 'said', message: e.message, member: e.member, text: e.text, at });
      break;
    case 'noted':
      pushFeed(room, { kind: 'note', message: e.message, member: e.member, text: e.text, at });
      break;
    case 'hidden':
      if (!room.hidden.includes(e.message)) room.hidden.push(e.message);
      room.questions = room.questions.filter((q) => q.id !== e.message);
      room.flags = room.flags.filter((f) => f.message !== e.message);
      break;
    case 'report_filed': {
      const r = { id: e.report, by: e.by, message: e.message ?? null, member: e.member ?? null, reason: e.reason, at, status: 'open' };
      if (!room.reports.some((x) => x.id === r.id)) room.reports.push(r);
      out.push({ text: `New report from ${nameOf(room, e.by)} about ${reportTarget(room, r)}: ${e.reason}`, staff: true });
      break;
    }
    case 'report_closed': {
      const r = room.reports.find((x) => x.id === e.report);
      room.reports = room.reports.filter((x) => x.id !== e.report);
      const what = r ? ` about ${reportTarget(room, r)}` : '';
      const text = `${nameOf(room, e.by)} closed the report${what}: ${CLOSED_WORDS[e.status] || e.status}.`;
      room.closedReports.push({ id: e.report, text, at });
      if (room.closedReports.length > 3) room.closedReports.shift();
      out.push({ text, staff: true });
      break;
    }
    case 'message_flagged': {
      if (!room.flags.some((f) => f.message === e.message) && !room.hidden.includes(e.message)) {
        room.flags.push({ message: e.message, member: e.member ?? null, words: e.words || [], at });
      }
      const who = e.member ? `by ${nameOf(room, e.member)} ` : '';
      out.push({ text: `A message ${who}was flagged for review (${(e.words || []).join(', ')}).`, staff: true });
      break;
    }
    case 'broadcast':
      // A new broadcast supersedes the older ones (see `activeNotices`).
      room.broadcasts.push({ by: e.by, text: e.text, at });
      if (room.broadcasts.length > 5) room.broadcasts.shift();
      say(`Message from the facilitator: ${e.text}`);
      break;
    case 'side_changed':
      room.side = [e.side, e.until];
      say(`Now speaking: ${e.side}.`);
      break;
    case 'question_asked':
      if (!room.questions.some((q) => q.id === e.question)) {
        room.questions.push({ id: e.question, asker: e.member, text: e.text, votes: 0, voted: false, approved: false, answered: false });
      }
      break;
    case 'question_upvoted': {
      const q = room.questions.find((x) => x.id === e.question);
      if (q) q.votes = e.votes;
      break;
    }
    case 'question_approved': {
      // In a moderated phase this is the first others hear of the question: it carries the
      // asker, the text and the votes so far.
      let q = room.questions.find((x) => x.id === e.question);
      if (!q && e.text != null && !room.hidden.includes(e.question)) {
        q = { id: e.question, asker: e.member ?? null, text: e.text, votes: e.votes ?? 0, voted: false, approved: true, answered: false };
        room.questions.push(q);
      }
      if (q) {
        const wasWaiting = awaitsModerator(room, q);
        q.approved = true;
        if (e.votes != null) q.votes = e.votes;
        if (wasWaiting && q.asker === me) say('A moderator approved your question. Everyone can see it now.');
      }
      if (!room.question_order.includes(e.question)) room.question_order.push(e.question);
      break;
    }
    case 'question_on_floor': {
      if (!room.questions.some((x) => x.id === e.question)) {
        room.questions.push({ id: e.question, asker: e.asker ?? null, text: e.text, votes: 0, voted: false, approved: true, answered: false });
      }
      if (room.current_question != null) {
        const prev = room.questions.find((x) => x.id === room.current_question);
        if (prev) prev.answered = true;
      }
      room.current_question = e.question;
      room.question_order = room.question_order.filter((x) => x !== e.question);
      say(`Question on the floor: ${e.text}`);
      break;
    }
    case 'questions_merged': {
      room.questions = room.questions.filter((q) => q.id !== e.question);
      const into = room.questions.find((x) => x.id === e.into);
      if (into) into.votes = e.votes;
      break;
    }
    case 'question_order':
      room.question_order = e.order.slice();
      break;
    case 'voted':
      if (e.member === me && room.poll) room.poll.my_vote = e.choice;
      break;
    case 'poll_results':
      if (room.poll) room.poll.results = e;
      else room.poll = { question: '', choices: e.totals.map((t) => t[0]), my_vote: null, results: e };
      if (e.closed && e.until != null && room.phase) {
        // The results hold the agenda: the poll stays the current phase, without a deadline.
        room.phase.deadline = null;
        room.phase.overtime = false;
      }
      if (e.closed) {
        say(e.until != null
          ? `The poll has closed. Results are shown; the next part starts in ${spokenDuration(e.until - at)}.`
          : 'The poll has closed. Results are shown.');
      }
      break;
    case 'breakout_opened': {
      const group = e.groups.findIndex((g) => g.includes(me));
      room.breakout = { protocol: e.protocol, groups: e.groups, until: e.until, closingUntil: null, myGroup: group >= 0 ? group : null };
      if (group >= 0) say(`Breakout groups are open. You are in group ${group + 1}.`, true);
      else say('Breakout groups are open.');
      break;
    }
    case 'breakout_moved': {
      if (!room.breakout) break;
      room.breakout.groups = room.breakout.groups.map((g) => g.filter((m) => m !== e.member));
      while (room.breakout.groups.length <= e.group) room.breakout.groups.push([]);
      room.breakout.groups[e.group].push(e.member);
      if (e.member === me) {
        room.breakout.myGroup = e.group;
        say(`You are now in group ${e.group + 1}.`, true);
      }
      break;
    }
    case 'breakout_closing':
      if (room.breakout) room.breakout.closingUntil = e.until;
      say(`Breakout groups close in ${spokenDuration(e.until - at)}. Please wrap up.`);
      break;
    case 'breakout_closed':
      if (room.breakout) room.breakout.closed = true;
      say('Breakout groups are closed. Welcome back to the hall.');
      break;
    case 'help_requested':
      room.help = room.help.filter((h) => h.member !== e.member);
      room.help.push({ member: e.member, at });
      if (e.member === me) say('The facilitators know you asked for help.');
      break;
    case 'help_resolved':
      // Gone for every staff member; the resident may ask again.
      room.help = room.help.filter((h) => h.member !== e.member);
      if (e.member === me) say('A facilitator has dealt with your request for help.');
      break;
    case 'nudged':
      room.nudges.push({ member: e.member, at });
      if (e.member === me) {
        room.nudgedMe = true;
        say('We would love to hear from you. Raise your hand whenever you are ready.');
      }
      break;
    case 'move_on_offered':
      room.moveOn = { offered: true, votes: 0, eligible: 0, threshold_pct: 0, mine: false };
      say('The floor is quiet. You can vote to move on together.');
      break;
    case 'move_on_tally':
      room.moveOn = { ...(room.moveOn || { offered: true, mine: false }), votes: e.votes, eligible: e.eligible, threshold_pct: e.threshold_pct };
      break;
    case 'move_on_carried':
      room.moveOn = null;
      say('The group agreed to move on.');
      break;
    case 'budget_warning': {
      const w = { member: e.member ?? null, used: e.used_bytes, limit: e.limit_bytes, at };
      room.budgetWarnings = room.budgetWarnings.filter((x) => x.member !== w.member);
      room.budgetWarnings.push(w);
      if (room.budgetWarnings.length > 20) room.budgetWarnings.shift();
      out.push({ text: budgetWarningWords(room, w), staff: true });
      break;
    }
    case 'equity_updated':
      if (room.equity) {
        room.equity.gini = e.gini;
        room.equity.gini_within = e.gini_within;
        room.equity.gini_between = e.gini_between;
        room.equity.gini_overlap = Math.max(0, e.gini - e.gini_within - e.gini_between);
        room.equity.total_speaking_ms = e.total_speaking_ms;
        const total = e.total_speaking_ms || 0;
        for (const [name, ms] of e.by_community) {
          let c = room.equity.communities.find((x) => x.community === name);
          if (!c) {
            c = { community: name, members: 0, speaking_ms: 0, reflect_ms: 0, turns: 0, share: 0 };
            room.equity.communities.push(c);
          }
          c.speaking_ms = ms;
          c.share = total ? ms / total : 0;
        }
        room.equity.not_spoken_count = e.not_spoken;
      }
      break;
    default:
      break;
  }
  return out;
}

function trimFeed(room) {
  if (room.feed.length > 200) room.feed.splice(0, room.feed.length - 200);
}

/** The poll of a phase from the protocol file, so choices show before any results. */
export function pollFromSpec(room, phaseId) {
  const p = room.spec?.phases?.find((x) => x.id === phaseId);
  const k = p?.kind;
  if (!k || k.kind !== 'poll') return null;
  return { question: k.question, choices: k.choices.slice(), my_vote: null, results: null };
}

/** The protocol's settings for the current phase (stances, pass), when known. */
export function phaseSpec(room) {
  if (!room.phase || !room.spec) return null;
  return room.spec.phases?.find((x) => x.id === room.phase.id)?.kind || null;
}

/** "Ana (Dayton, OH) has the floor" and its variants by turn kind. */
export function floorSentence(room, floor) {
  const me = room.me?.member;
  const mine = floor.member === me;
  const other = floor.responding_to ? nameOf(room, floor.responding_to) : 'the previous speaker';
  switch (floor.turn) {
    case 'reflect':
      return mine ? `You have the floor to sum up what ${other} said.` : `${nameOf(room, floor.member)} is summing up what ${floor.responding_to === me ? 'you' : other} said.`;
    case 'clarify':
      return mine ? 'You have the floor to clarify what you meant.' : `${nameOf(room, floor.member)} is clarifying.`;
    case 'question':
      return mine ? 'You have the floor to ask your question.' : `${nameOf(room, floor.member)} is asking a question.`;
    case 'answer':
      if (!floor.responding_to) return mine ? 'You have the floor to answer.' : `${nameOf(room, floor.member)} is answering.`;
      return mine
        ? `You have the floor to answer ${other}'s question.`
        : `${nameOf(room, floor.member)} is answering ${floor.responding_to === me ? 'your' : `${other}'s`} question.`;
    case 'presentation':
      return mine ? 'You have the floor to present.' : `${nameOf(room, floor.member)} is presenting.`;
    default:
      return mine ? 'You have the floor.' : `${nameOf(room, floor.member)} has the floor.`;
  }
}

// ---------------------------------------------------------------- rooms of one connection

/** The hall and the group rooms this connection is in. */
export function emptyClient() {
  return {
    hall: emptyRoom('hall'),
    /** Group rooms by id: the participant's own group, or the groups staff listen to. */
    groups: new Map(),
    /** The participant's own group room id while placed in one. */
    myGroup: null,
    /** Group rooms left while offline may be gone: dropped unless a fresh welcome replaces them. */
    stale: new Set(),
    /** Staff: the live groups' room ids by the engine's group index (the hall's `groups` frame). */
    groupRooms: [],
    /**
     * Staff: open reports raised in breakout groups (`group_event`), keyed by `room#report`:
     * `{ room, index, report, text }`, `report` shaped like the hall's (`id`, `by`, `message`
     * or `member`, `reason`, `at`). Kept whether or not this connection listens in.
     */
    groupReports: new Map(),
    /** Staff: word-list flags from breakout groups, keyed by `room#message`: `{ room, index, flag, text }`. */
    groupFlags: new Map(),
  };
}

const groupKey = (room, id) => `${room}#${id}`;

/**
 * A `group_event` (staff only): a report, closure, flag or hide in a breakout group, relayed
 * by the hall so moderators see it without listening in. Deduped by (group room, report id)
 * and (group room, message id): staff listening in also get the group's own event, and a
 * replay after a snapshot may repeat what we have. Returns announcements (new items only).
 */
export function applyGroupEvent(client, msg) {
  if (client.hall.room && msg.room && msg.room !== client.hall.room) return [];
  const e = msg.event || {};
  const room = msg.group?.room;
  if (!room) return [];
  const index = msg.group.index ?? null;
  const word = index != null ? groupWord(client.hall, index) : 'a small group';
  const listened = client.groups.get(room);
  const out = [];
  switch (e.type) {
    case 'report_filed': {
      const key = groupKey(room, e.report);
      const known = client.groupReports.has(key) || listened?.reports.some((r) => r.id === e.report);
      const report = { id: e.report, by: e.by, message: e.message ?? null, member: e.member ?? null, reason: e.reason, at: msg.at, status: 'open' };
      client.groupReports.set(key, { room, index, report, text: msg.text ?? null });
      if (!known && !msg.replay) {
        const about = report.message != null ? 'a message' : nameOf(client.hall, report.member);
        out.push({ text: `New report in ${word} from ${nameOf(client.hall, e.by)} about ${about}: ${e.reason}`, staff: true });
      }
      break;
    }
    case 'report_closed': {
      const key = groupKey(room, e.report);
      const had = client.groupReports.get(key);
      client.groupReports.delete(key);
      if (!client.hall.closedReports.some((c) => c.key === key)) {
        const text = `${nameOf(client.hall, e.by)} closed the report in ${word}: ${CLOSED_WORDS[e.status] || e.status}.`;
        client.hall.closedReports.push({ id: e.report, key, text, at: msg.at });
        if (client.hall.closedReports.length > 3) client.hall.closedReports.shift();
        // Listening staff already heard the group's own closure; an unknown report is news to nobody.
        if (had && !listened) out.push({ text, staff: true });
      }
      break;
    }
    case 'message_flagged': {
      const key = groupKey(room, e.message);
      if (listened?.hidden.includes(e.message)) break;
      const known = client.groupFlags.has(key) || listened?.flags.some((f) => f.message === e.message);
      client.groupFlags.set(key, { room, index, flag: { message: e.message, member: e.member ?? null, words: e.words || [], at: msg.at }, text: msg.text ?? null });
      if (!known) {
        const who = e.member ? `by ${nameOf(client.hall, e.member)} ` : '';
        out.push({ text: `A message ${who}in ${word} was flagged for review (${(e.words || []).join(', ')}).`, staff: true });
      }
      break;
    }
    case 'hidden':
      client.groupFlags.delete(groupKey(room, e.message));
      break;
    default:
      break;
  }
  return out;
}

/** Staff: a group's report or flag was settled or cleared in its own room. */
function settleGroupItems(client, room, e) {
  if (e.type === 'report_closed') client.groupReports.delete(groupKey(room, e.report));
  if (e.type === 'hidden') client.groupFlags.delete(groupKey(room, e.message));
}

/**
 * Staff: open group reports and flags, for the moderator panel, skipping what a listened
 * group's own room already lists (that copy carries the actions); `all` has every known
 * message text by group room, for quoting.
 */
export function groupReviewItems(client) {
  const reports = [];
  // Every known text, so a listened group's own copy can quote a message its page never saw.
  const all = [];
  for (const it of client.groupReports.values()) if (it.report.message != null) all.push({ room: it.room, message: it.report.message, text: it.text });
  for (const it of client.groupFlags.values()) all.push({ room: it.room, message: it.flag.message, text: it.text });
  for (const it of client.groupReports.values()) {
    const g = client.groups.get(it.room);
    if (g && g.loaded && g.reports.some((r) => r.id === it.report.id)) continue;
    reports.push(it);
  }
  const flags = [];
  for (const it of client.groupFlags.values()) {
    const g = client.groups.get(it.room);
    if (g && g.loaded && g.flags.some((f) => f.message === it.flag.message)) continue;
    flags.push(it);
  }
  return { reports, flags, all };
}

/**
 * The hall's `groups` frame (staff only): which room each live group is. Sent after the staff
 * hall snapshot and whenever groups change; `[]` when none are meeting.
 */
export function applyGroups(client, msg) {
  if (client.hall.room && msg.room && msg.room !== client.hall.room) return;
  client.groupRooms = (msg.groups || []).map((g) => ({ index: g.index, room: g.room }));
  // A closed group's reports and flags can no longer be acted on.
  const live = new Set(client.groupRooms.map((g) => g.room));
  for (const [k, it] of client.groupReports) if (!live.has(it.room)) client.groupReports.delete(k);
  for (const [k, it] of client.groupFlags) if (!live.has(it.room)) client.groupFlags.delete(k);
  for (const [id, g] of client.groups) {
    const i = indexOfRoom(client, id);
    if (i != null) g.index = i;
  }
}

/** The engine's group index of a group room id, from the `groups` frame, or null. */
export function indexOfRoom(client, id) {
  return client.groupRooms.find((g) => g.room === id)?.index ?? null;
}

/** The room id of the group at engine index `index`, from the `groups` frame, or null. */
export function roomOfIndex(client, index) {
  return client.groupRooms.find((g) => g.index === index)?.room ?? null;
}

/** True when a welcome is for a group room rather than the hall. */
function isGroupWelcome(client, msg, first) {
  if (first) return false;
  if (client.hall.me && msg.room === client.hall.me.room) return false;
  return true;
}

/**
 * A `welcome`. The first one on a socket is the hall's (a hello always joins the hall); any
 * later one is a group room's (a participant's placement, or a staff drop-in), and never
 * replaces the hall. Returns announcements.
 */
export function applyWelcome(client, msg, first) {
  const me = { member: msg.member, name: msg.name, role: msg.role, community: msg.community, event: msg.event, room: msg.room };
  if (!isGroupWelcome(client, msg, first)) {
    if (client.hall.me && client.hall.me.member !== msg.member) {
      const fresh = emptyClient();
      Object.assign(client, fresh);
    }
    client.hall.me = me;
    // A new socket: group rooms are not resumed; the server joins the member into its live
    // group again with a fresh welcome. Until then, what we had is stale.
    for (const id of client.groups.keys()) client.stale.add(id);
    return [];
  }
  const g = emptyRoom('group');
  g.me = me;
  g.eventInfo = client.hall.eventInfo;
  const old = client.groups.get(msg.room);
  if (old) g.feed = old.feed;
  client.groups.set(msg.room, g);
  client.stale.delete(msg.room);
  if (msg.role === 'participant') {
    const wasIn = client.myGroup === msg.room;
    client.myGroup = msg.room;
    g.mine = true;
    g.entering = !wasIn;
  }
  return [];
}

/** A `snapshot`, for the hall or a group room. Returns announcements. */
export function applyRoomSnapshot(client, msg) {
  const g = client.groups.get(msg.room);
  if (!g) {
    if (client.hall.me && msg.room !== client.hall.me.room) return [];
    applySnapshot(client.hall, msg);
    return [];
  }
  applySnapshot(g, msg);
  g.index = indexOfRoom(client, msg.room) ?? groupIndexOf(client.hall, g);
  const out = [];
  if (g.mine && g.entering) {
    g.entering = false;
    const others = groupPeople(g).filter((m) => m.id !== g.me.member).map((m) => m.name);
    out.push({ text: `You are now in your small group${others.length ? ` with ${andWords(others)}` : ''}. The group's conversation is shown first on the page.` });
  } else if (!g.mine && !g.announced) {
    g.announced = true;
    out.push({ text: `You are listening to ${groupLabel(g, client.hall)}. Its floor and queue are shown under Small groups.` });
  }
  return out;
}

/** A live `event` frame, routed to its room. Returns announcements. */
export function routeEvent(client, frame) {
  const g = frame.room ? client.groups.get(frame.room) : null;
  if (g) {
    const out = applyEvent(g, frame);
    if (frame.event) settleGroupItems(client, frame.room, frame.event);
    // The group's own announcements are for its members; listening staff are only told about
    // reports and flags.
    return g.mine ? out : out.filter((a) => a.staff);
  }
  const out = applyEvent(client.hall, frame);
  if (frame.event?.type === 'breakout_opened') {
    client.hall.backFromGroup = false;
    client.hall.backAt = null;
    client.hall.helpAsked = false;
  }
  if (frame.event?.type === 'breakout_opened' || frame.event?.type === 'breakout_moved') {
    for (const [id, x] of client.groups) x.index = indexOfRoom(client, id) ?? groupIndexOf(client.hall, x);
  }
  return out;
}

/** `left_room`: the connection is out of a group room and back in the hall only. */
export function applyLeftRoom(client, msg) {
  const g = client.groups.get(msg.room);
  client.groups.delete(msg.room);
  client.stale.delete(msg.room);
  const out = [];
  if (client.myGroup === msg.room) {
    client.myGroup = null;
    // A move: the new group's welcome follows, and says so itself.
    if (msg.reason === 'moved') out.push({ text: 'You were moved to another small group.' });
    else {
      client.hall.backFromGroup = true;
      client.hall.backAt = null;
      client.hall.helpAsked = false;
      out.push({ text: 'You are back in the main hall.' });
    }
  } else if (g) {
    out.push({ text: msg.reason === 'left' ? `You stopped listening to ${groupLabel(g, client.hall)}.` : `${capital(groupLabel(g, client.hall))} has closed.` });
  }
  return out;
}

/** Drops group rooms that no fresh welcome replaced after a reconnect. */
export function dropStale(client) {
  const out = [];
  for (const id of client.stale) {
    if (client.myGroup === id) {
      client.myGroup = null;
      client.hall.backFromGroup = true;
      client.hall.backAt = null;
      out.push({ text: 'You are back in the main hall.' });
    }
    client.groups.delete(id);
  }
  client.stale.clear();
  return out;
}

/** The participant's own group room, once its snapshot is in. */
export function myGroupRoom(client) {
  const g = client.myGroup ? client.groups.get(client.myGroup) : null;
  return g && g.loaded ? g : null;
}

/** The group rooms a staff member listens to, by the engine's group index when known. */
export function listenedGroups(client) {
  return [...client.groups.values()].filter((g) => !g.mine && g.loaded);
}

/** The people of a group room (not staff who dropped in). */
export function groupPeople(g) {
  return g.members.filter((m) => m.role === 'participant');
}

/**
 * The engine's group index (the position in the hall's `breakout_opened`) of a group room,
 * found by its members: the room id's number is not that index. Null when unknown.
 */
export function groupIndexOf(hall, g) {
  const groups = hall.breakout?.groups;
  if (!groups) return null;
  const ids = groupPeople(g).map((m) => m.id);
  const i = groups.findIndex((members) => members.some((m) => ids.includes(m)));
  return i >= 0 ? i : null;
}

/** How a group is called: "group 2" for the engine's index 1, as participants see it too. */
export function groupWord(_hall, index) {
  return `group ${index + 1}`;
}

/** "group 2" (see `groupWord`), or "a small group". */
export function groupLabel(g, hall) {
  return g.index != null ? groupWord(hall, g.index) : 'a small group';
}

/** The engine group index a member is in, from the hall's breakout, or null. */
export function groupOfMember(hall, id) {
  const groups = hall.breakout?.groups;
  if (!groups || hall.breakout.closed) return null;
  const i = groups.findIndex((g) => g.includes(id));
  return i >= 0 ? i : null;
}

function capital(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function andWords(items) {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}
