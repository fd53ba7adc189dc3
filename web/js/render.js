// Renders the room into HTML strings, one function per page section. Pure: they read the
// room and return markup; app.js puts it in place (keeping focus and typed text) and wires
// the `data-action` buttons and `data-form` forms to commands.
//
// Countdowns are `<span data-deadline=...>` elements that app.js refreshes from the server
// clock; these functions never count time themselves.

import { esc, clock, ordinal, percent, roleWord, isStaff, canFacilitate, spokenDuration } from './util.js';
import {
  member, nameOf, labelOf, floorSentence, phaseSpec, groupPeople, groupOfMember, groupWord, messageText, messageAuthor,
  reportTarget, mutedByWords, pollHold, awaitsModerator, moderatedQa, budgetWarningWords,
} from './store.js';

const KIND_WORDS = {
  presentation: 'Presentation',
  round: 'Go-round',
  queue: 'Open floor',
  fishbowl: 'Fishbowl',
  curiosity: 'Curiosity questions',
  reflection: 'Quiet reflection',
  breakout: 'Small groups',
  qa: 'Questions',
  poll: 'Poll',
};

function timer(deadline, label) {
  if (deadline == null) return '';
  return `<span class="timer" data-deadline="${deadline}" role="timer" aria-label="${esc(label)}">–:––</span>`;
}

/** A countdown in words ("25 s", "2 min 5 s"), for "Next part in …". */
function countdown(deadline, label) {
  if (deadline == null) return '';
  return `<span class="timer" data-deadline="${deadline}" data-format="words" role="timer" aria-label="${esc(label)}">…</span>`;
}

function btn(action, text, attrs = {}, cls = '') {
  const extra = Object.entries(attrs)
    .filter(([k]) => k !== 'data-key')
    .map(([k, v]) => ` ${k}="${esc(v)}"`)
    .join('');
  return `<button type="button" class="${cls}" data-action="${action}" data-key="${esc(attrs['data-key'] || action + (attrs['data-member'] || attrs['data-question'] || attrs['data-choice'] || ''))}"${extra}>${text}</button>`;
}

/** "A, B and C" */
function andList(items) {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

function communityTag(c) {
  return c ? `<span class="tag">${esc(c)}</span>` : '';
}

/** Event title, who I am, and the session state. */
export function renderWho(room) {
  const me = room.me;
  if (!me) return '';
  const parts = [`<strong>${esc(me.name)}</strong>`, esc(roleWord(me.role))];
  if (me.community) parts.push(esc(me.community));
  const state = {
    not_started: 'Not started yet',
    running: 'In session',
    paused: 'Paused',
    ended: 'Ended',
  }[room.session.state] || '';
  const title = room.eventInfo?.title || room.title || 'Town hall';
  const communities = room.eventInfo?.communities || [];
  const sub = [room.title && room.title !== title ? room.title : '', communities.join(' & ')].filter(Boolean).join(' · ');
  return `<h1 id="event-title">${esc(title)}</h1>
    ${sub ? `<p class="event-sub">${esc(sub)}</p>` : ''}
    <p class="whoami">You are ${parts.join(' · ')}</p>
    <p class="session session-${esc(room.session.state)}">${esc(state)}</p>`;
}

/** Broadcasts and the kind nudge (the hall's; and the group's nudge while in one). */
export function renderNotices(room, group = null, notices = []) {
  let html = '';
  for (const n of notices) {
    if (n.kind === 'broadcast') {
      html += `<div class="notice notice-broadcast"><p><strong>From the facilitator:</strong> ${esc(n.text)}</p>${btn('dismiss_broadcast', 'Dismiss', { 'data-at': n.at, 'data-key': `dismiss-${n.at}`, 'aria-label': 'Dismiss this message' }, 'small secondary')}</div>`;
    } else if (n.kind === 'back') {
      html += `<div class="notice notice-back"><p><strong>You are back in the main hall.</strong> Thank you for your small-group conversation.</p>${btn('dismiss_back', 'Dismiss', { 'aria-label': 'Dismiss this message' }, 'small secondary')}</div>`;
    } else if (n.kind === 'turn_ended') {
      html += `<div class="notice notice-turn" data-reason="${esc(n.reason)}"><p><strong>${esc(n.text)}</strong>${n.draft ? ' What you had not sent yet is kept for your next turn.' : ''}</p>${btn('dismiss_turn_ended', 'Dismiss', { 'aria-label': 'Dismiss this message' }, 'small secondary')}</div>`;
    }
  }
  if (room.notice) {
    html += `<div class="notice notice-error"><p>${esc(room.notice)}</p>${btn('dismiss_notice', 'Dismiss', {}, 'small secondary')}</div>`;
  }
  if (room.nudgedMe || group?.nudgedMe) {
    html += `<div class="notice notice-nudge"><p>We would love to hear from you, whenever you are ready. Raise your hand and you will be next in line among people who have not spoken yet.</p>${btn('dismiss_nudge', 'Thanks, got it', {}, 'secondary')}</div>`;
  }
  return html;
}

/** The current phase, its countdown and who holds the floor. */
export function renderNow(room) {
  const me = room.me?.member;
  const s = room.session.state;
  const group = room.kind === 'group';
  let html = group ? renderGroupLine(room) : '';
  if (s === 'ended') {
    return group
      ? `${html}<p class="big">Your group has finished its conversation.</p><p>Please stay on this page: you will be back in the main hall when the facilitator recalls the groups.</p>`
      : `<p class="big">The town hall has ended. Thank you for taking part.</p>`;
  }
  const p = room.phase;
  if (!p && group) {
    html += `<p>Your group is getting ready. The conversation starts in a moment.</p>`;
  } else if (!p) {
    html += s === 'not_started'
      ? `<p class="big">Welcome! The town hall will begin soon.</p><p>The facilitator will start the session. You can look at the agenda below while you wait.</p>`
      : `<p>Waiting for the next part of the agenda.</p>`;
  } else {
    html += `<p class="phase-kind">${esc(KIND_WORDS[p.kind] || p.kind)} · part ${p.index + 1} of ${room.agenda.length || '?'}</p>`;
    html += `<h2 class="phase-title">${esc(p.title)}</h2>`;
    if (p.prompt) html += `<p class="prompt">${esc(p.prompt)}</p>`;
    if (p.deadline != null) {
      html += `<p class="phase-time">Time left for this part: ${timer(p.deadline, 'Time left for this part')}${p.overtime ? ' <span class="badge warn">over time</span>' : ''}</p>`;
    } else if (p.overtime) {
      html += `<p class="phase-time"><span class="badge warn">Over time</span> The facilitator will move on.</p>`;
    }
  }
  if (s === 'paused') html += `<p class="banner paused" role="note">Paused: the facilitator has stopped the clock for a moment.</p>`;

  if (room.side) {
    html += `<p class="side">Inner circle: <strong>${esc(room.side[0])}</strong> until the swap in ${timer(room.side[1], 'Time until the sides swap')}</p>`;
  }

  const f = room.floor;
  if (f) {
    const mine = f.member === me;
    const aboutMe = f.responding_to === me;
    const cls = mine ? 'floor floor-mine' : 'floor';
    html += `<div class="${cls}" data-turn="${esc(f.turn)}">`;
    html += `<p class="floor-who">${esc(floorSentence(room, f))}</p>`;
    const m = member(room, f.member);
    if (!mine && m?.community) html += `<p class="floor-community">${esc(m.community)}</p>`;
    if (f.turn === 'reflect' && mine) {
      html += `<p class="hint">Sum up what ${esc(nameOf(room, f.responding_to))} said, in your own words, before you give your own view. They will be asked whether you got it right.</p>`;
    } else if (f.turn === 'reflect' && aboutMe) {
      html += `<p class="hint">Listen: ${esc(nameOf(room, f.member))} is summing up what you said. You will be asked to confirm or to clarify.</p>`;
    }
    html += '<p class="floor-time">';
    if (f.deadline != null) html += `Time left: ${timer(f.deadline, mine ? 'Time left in your turn' : 'Time left in this turn')}`;
    html += ` <span class="held">(speaking for <span data-count-up data-since="${f.since ?? ''}">0:00</span>)</span>`;
    if (f.overtime) html += ' <span class="badge warn">over time</span>';
    html += '</p></div>';
  } else if (p && s === 'running' && ['queue', 'round', 'fishbowl', 'curiosity', 'presentation', 'qa'].includes(p.kind)) {
    html += `<p class="floor floor-empty">Nobody has the floor right now.</p>`;
  }

  if (room.interlude_until) {
    html += `<p class="interlude">A short pause before the next speaker: ${timer(room.interlude_until, 'Pause')}</p>`;
  }

  const r = room.reflection;
  if (r && r.speaker !== me) {
    html += `<p class="reflect-wait">${esc(r.listener === me ? 'You' : nameOf(room, r.listener))} summed up ${esc(nameOf(room, r.speaker))}. Waiting for ${esc(nameOf(room, r.speaker))} to confirm or ask to clarify (${timer(r.until, 'Time left to confirm')}).</p>`;
  }

  if (!group) html += renderBreakout(room);
  return html;
}

/** At the top of a group's Now: who is in it, and which staff are listening in. */
function renderGroupLine(g) {
  const me = g.me?.member;
  const people = groupPeople(g).filter((m) => m.id !== me && m.present !== false).map((m) => labelOf(g, m.id));
  let html = `<p class="group-with">${people.length ? `In your group: <strong>${esc(andList(people))}</strong> and you.` : 'You are the first one in your group.'}</p>`;
  const staff = g.members.filter((m) => m.role !== 'participant' && m.role !== 'observer' && m.present !== false && m.id !== me);
  if (staff.length) {
    html += `<p class="listening-note">${esc(andList(staff.map((m) => `${m.name} (${roleWord(m.role).toLowerCase()})`)))} ${staff.length === 1 ? 'is' : 'are'} listening in.</p>`;
  }
  return html;
}

/**
 * The main hall while a participant is in (or about to join) a breakout group: their group,
 * the hall's countdown ("Groups close in 0:30"), and asking the facilitators for help.
 * Broadcasts are in the notices above. Empty when no breakout runs.
 */
export function renderHallStrip(hall, group) {
  if (hall.me?.role !== 'participant' || hall.session.state === 'ended') return '';
  const b = hall.breakout;
  const live = (b && !b.closed) || hall.phase?.kind === 'breakout';
  if (!live && !group) return '';
  const me = hall.me.member;
  let html = '';
  const index = b && !b.closed ? b.myGroup : null;
  let others = [];
  if (group) others = groupPeople(group).filter((m) => m.id !== me).map((m) => labelOf(group, m.id));
  else if (index != null) others = (b.groups[index] || []).filter((m) => m !== me).map((m) => labelOf(hall, m));
  if (index != null || group) {
    html += `<p class="group-line">You are in <strong>${index != null ? `group ${index + 1}` : 'a small group'}</strong>${others.length ? ` with ${esc(andList(others))}` : ''}.</p>`;
  } else {
    html += `<p class="group-line"><strong>Small groups are meeting.</strong> You are not in a group right now; you can follow the hall here.</p>`;
  }
  if (!group && index != null) html += `<p class="hint">Joining your group…</p>`;
  if (b?.closingUntil && !b.closed) {
    html += `<p class="closing" role="note"><strong>Groups close in ${timer(b.closingUntil, 'Time until groups close')}</strong>: please wrap up.</p>`;
  } else if (b?.until && !b.closed) {
    html += `<p>Time left in small groups: ${timer(b.until, 'Time left in small groups')}</p>`;
  } else if (hall.phase?.kind === 'breakout' && hall.phase.deadline != null) {
    html += `<p>Time left in small groups: ${timer(hall.phase.deadline, 'Time left in small groups')}</p>`;
  }
  html += hall.helpAsked
    ? `<p class="help-sent" role="note">The facilitators know you asked for help.</p>`
    : `<div class="row">${btn('ask_help', 'Ask a facilitator for help', {}, 'secondary')}<span class="hint">If something is wrong in your group, a facilitator will come.</span></div>`;
  return html;
}

/** Hall Now, for staff and observers: that groups are meeting and for how long. */
function renderBreakout(room) {
  const b = room.breakout;
  if (!b || room.me?.role === 'participant') return '';
  const me = room.me?.member;
  let html = '<div class="breakout">';
  if (b.closed) {
    html += '<p><strong>Small groups are closed.</strong> Welcome back to the hall.</p>';
  } else if (b.myGroup != null) {
    const others = (b.groups[b.myGroup] || []).filter((m) => m !== me).map((m) => labelOf(room, m));
    html += `<p class="group-line">You are in <strong>group ${b.myGroup + 1}</strong>${others.length ? ` with ${esc(andList(others))}` : ''}.</p>`;
  } else {
    html += `<p><strong>Small groups are meeting</strong> (${b.groups.length} group${b.groups.length === 1 ? '' : 's'}).</p>`;
  }
  if (!b.closed) {
    if (b.closingUntil) html += `<p>Groups close in ${timer(b.closingUntil, 'Time until groups close')}: please wrap up.</p>`;
    else if (b.until) html += `<p>Time left in small groups: ${timer(b.until, 'Time left in small groups')}</p>`;
    if (isStaff(room.me?.role)) html += '<p class="hint">The groups, and listening in, are under Small groups.</p>';
  }
  return html + '</div>';
}

/**
 * Who a curiosity question can go to: present, unmuted participants other than me, people
 * from another community first (the phase is about asking across the divide).
 */
function curiosityPicker(room, me) {
  const mine = member(room, me)?.community;
  const people = room.members
    .filter((m) => m.role === 'participant' && m.present && !m.muted && m.id !== me)
    .sort((a, b) => (a.community === mine) - (b.community === mine) || a.name.localeCompare(b.name));
  if (!people.length) return `<p class="hint">Nobody else is here to answer yet.</p>`;
  const options = people
    .map((m) => `<option value="${esc(m.id)}">${esc(m.name)}${m.community ? ` (${esc(m.community)})` : ''}</option>`)
    .join('');
  return `<div class="ask-to"><label for="yield-to">Ask your question to</label>
    <div class="row"><select id="yield-to" data-key="yield-to">${options}</select>
    ${btn('yield_to', 'Pass my question to them', {}, 'primary')}</div>
    <p class="hint">Say your question first; they answer when you pass the floor to them.</p></div>`;
}

/** What I can do now (participants, and anyone who holds or is invited to the floor). */
export function renderMine(room, opts = {}) {
  const me = room.me?.member;
  const role = room.me?.role;
  const f = room.floor;
  const mineFloor = f && f.member === me;
  const invited = room.invitation === me;
  const participant = role === 'participant';
  if (!participant && !mineFloor && !invited) return '';
  if (room.session.state === 'ended') return '';
  const self = member(room, me);
  const p = room.phase;
  const spec = phaseSpec(room);
  let html = '';

  if (self?.muted) html += `<p class="banner muted" role="note">${esc(mutedByWords(room, self.mutedBy))} has muted you for now, so you cannot take the floor. You can still follow along.</p>`;

  if (invited) {
    html += `<div class="invite"><p><strong>You are invited to speak.</strong> Would you like the floor?</p>
      <div class="row">${btn('accept_floor', 'Yes, I will speak', {}, 'primary')}${btn('decline_floor', 'No, thank you', {}, 'secondary')}</div></div>`;
  }

  const r = room.reflection;
  if (r && r.speaker === me) {
    html += `<div class="reflect-check"><p><strong>${esc(nameOf(room, r.listener))} summed up what you said.</strong> Did they get it right? (${timer(r.until, 'Time left to answer')}; if you do not answer, it counts as yes.)</p>
      <div class="row">${btn('confirm_reflection', 'Yes, that is right', {}, 'primary')}${btn('request_clarification', 'Let me clarify', {}, 'secondary')}</div></div>`;
  }

  if (mineFloor) {
    const what = { reflect: 'Your summary', clarify: 'Your clarification', question: 'Your question', answer: 'Your answer' }[f.turn] || 'What you want to say';
    html += `<form class="speak" data-form="speak">
      <label for="speak-text">${esc(what)}</label>
      <textarea id="speak-text" data-key="speak-text" rows="3" maxlength="2000" required></textarea>
      <div class="row"><button type="submit" class="primary" data-key="speak-submit">Send</button>
      ${btn('yield_floor', f.turn === 'reflect' ? 'Done summing up' : 'I am done (yield the floor)', {}, 'secondary')}
      ${p?.kind === 'round' && f.turn === 'own' && (spec?.allow_pass ?? true) ? btn('pass', 'Pass', {}, 'secondary') : ''}
      ${p?.kind === 'round' && f.turn === 'own' && spec?.allow_pass_for_now ? btn('pass_for_now', 'Pass for now', {}, 'secondary') : ''}
      </div></form>`;
    // Say the question first, then pass the floor to the person it is for.
    if (p?.kind === 'curiosity' && f.turn === 'question') html += curiosityPicker(room, me);
  } else if (opts.draft) {
    // The floor was taken back or the turn ran out before it was sent: nothing typed is lost.
    html += `<div class="draft-kept"><p><strong>Your unsent text is kept</strong> for your next turn:</p><blockquote class="draft-text">${esc(opts.draft)}</blockquote>${btn('discard_draft', 'Discard it', {}, 'small secondary')}</div>`;
  }

  if (participant && p && room.session.state !== 'not_started') {
    const handPhases = ['queue', 'fishbowl', 'curiosity'];
    if (handPhases.includes(p.kind) && !mineFloor) {
      const pos = room.queue.findIndex((h) => h.member === me);
      if (pos >= 0) {
        const stance = room.queue[pos].stance;
        html += `<p class="my-place">Your hand is raised${stance ? ` (${esc(stance)})` : ''} — <strong>${pos === 0 ? 'you are next' : `${ordinal(pos + 1)} in line`}</strong>.</p>`;
        html += `<div class="row">${btn('lower_hand', 'Lower my hand', {}, 'secondary')}</div>`;
      } else if (!self?.muted) {
        const stances = spec?.stances?.length ? spec.stances : [];
        if (stances.length) {
          html += `<fieldset class="stances"><legend>Raise your hand as:</legend><div class="row">`;
          for (const st of stances) html += btn('raise_hand', `Raise hand: ${esc(st)}`, { 'data-stance': st, 'data-key': `raise-${st}` }, 'primary');
          html += '</div></fieldset>';
        } else {
          html += `<div class="row">${btn('raise_hand', 'Raise my hand', {}, 'primary big-btn')}</div>`;
        }
      }
    }
    if (p.kind === 'round' && !mineFloor) {
      html += `<p class="hint">Everyone gets a turn in order. You will be told when it is yours.</p>`;
    }
    if (p.kind === 'reflection' && spec?.notes !== 'none') {
      const shared = spec?.notes === 'shared_anonymous';
      html += `<form class="note" data-form="note">
        <label for="note-text">Your reflection ${shared ? '(shared with the room without your name)' : '(private: only you see it)'}</label>
        <textarea id="note-text" data-key="note-text" rows="3" maxlength="2000" required></textarea>
        <div class="row"><button type="submit" class="primary" data-key="note-submit">Save note</button></div></form>`;
    }
    if (room.moveOn && room.moveOn.offered) {
      const mo = room.moveOn;
      html += `<div class="move-on"><p><strong>Move on together?</strong> The floor has been quiet.${mo.eligible ? ` ${mo.votes} of ${mo.eligible} agree (${mo.threshold_pct}% needed).` : ''}</p>
        <div class="row">${mo.mine ? btn('move_on_no', 'Take my vote back', {}, 'secondary') : btn('move_on_yes', 'Yes, let us move on', {}, 'secondary')}</div></div>`;
    }
    if (room.kind !== 'group') html += `<details class="help"><summary>Need help?</summary><p>If something is wrong (you cannot hear, your group is empty, you feel unsafe), tell the facilitators.</p>${btn('ask_help', 'Ask a facilitator for help', {}, 'secondary')}</details>`;
  }
  return html;
}

/** The speaker queue; staff get reordering (drag and drop, and move up/down buttons). */
export function renderQueue(room) {
  const me = room.me?.member;
  const staff = isStaff(room.me?.role);
  const p = room.phase;
  if (!p || !['queue', 'fishbowl', 'curiosity'].includes(p.kind)) {
    return `<p class="muted-text">No speaker queue in this part of the agenda.</p>`;
  }
  if (!room.queue.length) return `<p class="muted-text">No hands raised.</p>`;
  let html = `<ol class="queue${staff ? ' queue-staff' : ''}" aria-label="Speaker queue, in order">`;
  room.queue.forEach((h, i) => {
    const m = member(room, h.member);
    const name = h.member === me ? `You (${m?.name || ''})` : m?.name || 'Someone';
    html += `<li class="q-item${h.member === me ? ' q-me' : ''}" data-member="${esc(h.member)}"${staff ? ' draggable="true"' : ''}>`;
    html += `<span class="q-pos" aria-hidden="true">${i + 1}</span><span class="q-name">${esc(name)}</span>${communityTag(m?.community)}`;
    if (h.stance) html += `<span class="tag stance">${esc(h.stance)}</span>`;
    if (staff) {
      html += '<span class="q-actions">';
      html += btn('queue_up', 'Move up', { 'data-member': h.member, 'data-key': `up-${h.member}`, 'aria-label': `Move ${m?.name || 'this person'} up`, ...(i === 0 ? { disabled: 'disabled' } : {}) }, 'small');
      html += btn('queue_down', 'Move down', { 'data-member': h.member, 'data-key': `down-${h.member}`, 'aria-label': `Move ${m?.name || 'this person'} down`, ...(i === room.queue.length - 1 ? { disabled: 'disabled' } : {}) }, 'small');
      html += btn('grant_floor', 'Give floor', { 'data-member': h.member, 'data-key': `gq-${h.member}`, 'aria-label': `Give the floor to ${m?.name || 'this person'}` }, 'small');
      html += '</span>';
    }
    html += '</li>';
  });
  html += '</ol>';
  if (staff) html += `<p class="hint">Drag a name to reorder, or use the Move up and Move down buttons.</p>`;
  return html;
}

/** Poll, Q&A and shared notes for the current phase. */
export function renderExtra(room) {
  const p = room.phase;
  if (!p) return '';
  const me = room.me?.member;
  const role = room.me?.role;
  const participant = role === 'participant';
  const staff = isStaff(role);
  let html = '';
  if (p.kind === 'poll' && room.poll) {
    const poll = room.poll;
    html += `<h2>Poll</h2><p class="poll-q">${esc(poll.question)}</p>`;
    const closed = Boolean(poll.results?.closed);
    const hold = pollHold(room);
    if (closed) {
      html += `<p class="poll-closed" role="note"><strong>The poll has closed.</strong> ${hold != null
        ? `Next part in ${countdown(hold, 'Time until the next part')}.`
        : 'These are its results.'}</p>`;
    }
    if (participant) {
      // While the results are shown no vote is taken (`poll_closed`): the choices stay, disabled.
      html += `<div class="choices" role="group" aria-label="Choices"${closed ? ' aria-disabled="true"' : ''}>`;
      for (const c of poll.choices) {
        const chosen = poll.my_vote === c;
        const attrs = { 'data-choice': c, 'aria-pressed': chosen ? 'true' : 'false' };
        if (closed) attrs.disabled = 'disabled';
        html += btn('vote', `${chosen ? '✓ ' : ''}${esc(c)}`, attrs, chosen ? 'choice chosen' : 'choice');
      }
      let hint;
      if (closed) hint = poll.my_vote ? `Voting has closed. Your vote: <strong>${esc(poll.my_vote)}</strong>.` : 'Voting has closed.';
      else hint = poll.my_vote ? `Your vote: <strong>${esc(poll.my_vote)}</strong>. You can change it until the poll closes.` : 'Choose one. You can change your vote until the poll closes.';
      html += `</div><p class="hint">${hint}</p>`;
    }
    if (poll.results) html += renderPollResults(poll.results);
    else if (!staff) html += `<p class="hint">Results are shown when the poll closes.</p>`;
  }
  if (p.kind === 'qa') {
    html += `<h2>Questions</h2>`;
    const moderated = moderatedQa(room);
    if (participant) {
      html += `<form class="ask" data-form="ask"><label for="ask-text">Your question for the panel</label>
        <textarea id="ask-text" data-key="ask-text" rows="2" maxlength="280" required></textarea>
        <div class="row"><button type="submit" class="primary" data-key="ask-submit">Send question</button></div>
        ${moderated ? '<p class="hint">A moderator reads each question before everyone sees it.</p>' : ''}</form>`;
    }
    const current = room.questions.find((q) => q.id === room.current_question);
    if (current) html += `<p class="current-q"><strong>Now answering:</strong> ${esc(current.text)}</p>`;
    const list = room.questions.filter((q) => !q.answered && q.id !== room.current_question && !room.hidden.includes(q.id));
    const visible = list.slice();
    visible.sort((a, b) => b.votes - a.votes || a.id - b.id);
    if (!visible.length) html += `<p class="muted-text">No questions yet.</p>`;
    else {
      html += '<ul class="questions">';
      for (const q of visible) {
        const waiting = awaitsModerator(room, q);
        let state = q.approved ? ' · <span class="tag ok">approved</span>' : '';
        if (waiting && q.asker === me) state = ' · <span class="tag wait">waiting for a moderator</span>';
        else if (waiting && staff) state = ' · <span class="tag wait">waiting for approval: residents do not see it yet</span>';
        html += `<li data-question="${esc(q.id)}"><p>${esc(q.text)}</p><p class="q-meta">${q.votes} up-vote${q.votes === 1 ? '' : 's'}${state}${q.asker === me ? ' · your question' : ''}</p>`;
        if (participant && q.asker !== me) {
          html += q.voted
            ? `<p class="q-meta">You up-voted this.</p>`
            : btn('upvote', 'Up-vote', { 'data-question': q.id, 'aria-label': `Up-vote: ${q.text}` }, 'small');
        }
        if (staff) {
          html += '<div class="row">';
          if (!q.approved) html += btn('approve', 'Approve', { 'data-question': q.id, 'aria-label': `Approve: ${q.text}` }, 'small');
          html += btn('hide', 'Hide', { 'data-message': q.id, 'data-key': `hideq-${q.id}`, 'aria-label': `Hide: ${q.text}` }, 'small');
          const others = visible.filter((o) => o.id !== q.id);
          if (others.length) {
            html += `<label class="inline">Merge into <select data-key="merge-${q.id}" data-merge-from="${q.id}"><option value="">choose…</option>${others.map((o) => `<option value="${o.id}">${esc(o.text.slice(0, 40))}</option>`).join('')}</select></label>`;
            html += btn('merge', 'Merge', { 'data-question': q.id, 'data-key': `merge-btn-${q.id}` }, 'small');
          }
          html += '</div>';
        }
        html += '</li>';
      }
      html += '</ul>';
    }
    if (staff && room.question_order.length) {
      html += '<h3>Answer order</h3><ol class="q-order">';
      room.question_order.forEach((id, i) => {
        const q = room.questions.find((x) => x.id === id);
        html += `<li>${esc(q?.text || `Question ${id}`)} ${btn('order_up', 'Earlier', { 'data-question': id, 'data-position': Math.max(0, i - 1), 'data-key': `ordu-${id}`, ...(i === 0 ? { disabled: 'disabled' } : {}) }, 'small')}${btn('order_down', 'Later', { 'data-question': id, 'data-position': i + 1, 'data-key': `ordd-${id}`, ...(i === room.question_order.length - 1 ? { disabled: 'disabled' } : {}) }, 'small')}</li>`;
      });
      html += '</ol>';
    }
  }
  return html;
}

function renderPollResults(r) {
  const total = r.totals.reduce((a, [, n]) => a + n, 0);
  let html = `<div class="poll-results"><h3>${r.closed ? 'Results' : 'Results so far'} (${total} vote${total === 1 ? '' : 's'})</h3>`;
  html += bars(r.totals.map(([c, n]) => ({ label: c, value: n, text: `${n} (${percent(total ? n / total : 0)})` })));
  for (const [community, counts] of r.by_community || []) {
    const t = counts.reduce((a, [, n]) => a + n, 0);
    html += `<h4>${esc(community)}</h4>`;
    html += bars(counts.map(([c, n]) => ({ label: c, value: n, text: `${n} (${percent(t ? n / t : 0)})` })));
  }
  return html + '</div>';
}

/** A horizontal bar chart as a list: each row has its label and value in text. */
function bars(rows, cls = '') {
  const max = Math.max(1, ...rows.map((r) => r.value));
  let html = `<ul class="bars ${cls}">`;
  for (const r of rows) {
    const w = Math.round((r.value / max) * 100);
    html += `<li><span class="bar-label">${esc(r.label)}</span><span class="bar-track" aria-hidden="true"><span class="bar-fill${r.cls ? ' ' + r.cls : ''}" style="width:${w}%"></span></span><span class="bar-value">${esc(r.text)}</span></li>`;
  }
  return html + '</ul>';
}

/**
 * What was said and shared notes, oldest first (the snapshot's history, then live messages).
 * Moderators can hide a message; everyone else can report one, or its author, through a small
 * inline form (`ui.report`: the message whose form is open; `ui.reported`: keys already sent).
 */
export function renderFeed(room, ui = {}) {
  const staff = isStaff(room.me?.role);
  const me = room.me?.member;
  const items = room.feed.filter((x) => !room.hidden.includes(x.message));
  if (!items.length) return `<p class="muted-text">Nothing has been written yet.</p>`;
  const rid = room.room || '';
  let html = '<ol class="feed">';
  for (const it of items.slice(-50)) {
    const who = it.kind === 'note' ? (it.member ? `${nameOf(room, it.member)} (note)` : 'A shared note') : labelOf(room, it.member);
    html += `<li class="feed-${it.kind}" data-message="${esc(it.message)}"><p class="feed-who">${esc(who)}</p><p class="feed-text">${esc(it.text)}</p>`;
    if (staff) html += btn('hide', 'Hide', { 'data-message': it.message, 'data-key': `hide-${it.message}`, 'aria-label': `Hide this message from ${who}` }, 'small');
    else if (it.member !== me || it.member == null) html += reportControl(room, it, rid, ui);
    html += '</li>';
  }
  return html + '</ol>';
}

/** The "Report" button under a message, or its open form, or a thank-you once sent. */
function reportControl(room, it, rid, ui) {
  const key = `${rid}#${it.message}`;
  const done = ui.reported?.get(key);
  if (done) return `<p class="reported" role="note">${esc(done)}</p>`;
  const open = ui.report && ui.report.key === key;
  if (!open) {
    return btn('report_open', 'Report', { 'data-message': it.message, 'data-key': `report-${it.message}`, 'aria-label': `Report this message from ${it.member ? nameOf(room, it.member) : 'a shared note'}`, 'aria-expanded': 'false' }, 'small link');
  }
  const id = `report-${it.message}`;
  const author = it.member && it.member !== room.me?.member ? member(room, it.member) : null;
  let html = `<form class="report-form" data-form="report" data-message="${esc(it.message)}" aria-label="Report to the moderators">`;
  if (author) {
    const target = ui.report.target === 'member' ? 'member' : 'message';
    html += `<fieldset class="report-what"><legend>What would you like the moderators to look at?</legend>
      <label class="inline"><input type="radio" name="${id}-what" value="message" data-key="${id}-what-message"${target === 'message' ? ' checked' : ''}> This message</label>
      <label class="inline"><input type="radio" name="${id}-what" value="member" data-key="${id}-what-member" data-member="${esc(author.id)}"${target === 'member' ? ' checked' : ''}> How ${esc(author.name)} is behaving</label></fieldset>`;
  }
  html += `<label for="${id}-reason">Why? (only moderators see this)</label>
    <input id="${id}-reason" data-key="${id}-reason" maxlength="500" aria-required="true" autocomplete="off" placeholder="A few words are enough">
    <div class="row">${`<button type="submit" class="small primary" data-key="${id}-send"${ui.report.sending ? ' disabled' : ''}>Send report</button>`}${btn('report_cancel', 'Cancel', { 'data-key': `${id}-cancel` }, 'small secondary')}</div>
    <p class="err" role="alert">${esc(ui.report.error || '')}</p></form>`;
  return html;
}

export function renderAgenda(room) {
  if (!room.agenda.length) return '<p class="muted-text">The agenda is loading.</p>';
  const cur = room.phase?.index;
  let html = '<ol class="agenda">';
  room.agenda.forEach((a, i) => {
    const state = cur == null ? '' : i < cur ? 'done' : i === cur ? 'now' : '';
    html += `<li class="${state}"${i === cur ? ' aria-current="step"' : ''}><span class="a-title">${esc(a.title)}</span> <span class="a-kind">${esc(KIND_WORDS[a.kind] || a.kind)}</span>${state === 'now' ? ' <span class="badge">now</span>' : state === 'done' ? ' <span class="a-done">done</span>' : ''}</li>`;
  });
  return html + '</ol>';
}

/** Facilitator controls: the agenda, time, breakouts, broadcast. */
export function renderConsole(room) {
  if (!canFacilitate(room.me?.role)) return '';
  const s = room.session.state;
  let html = '<div class="row wrap">';
  if (s === 'not_started') html += btn('start', 'Start the session', {}, 'primary');
  if (s === 'running') html += btn('pause', 'Pause', {}, 'secondary');
  if (s === 'paused') html += btn('resume', 'Resume', {}, 'primary');
  if (s === 'running' || s === 'paused') {
    const next = room.phase ? room.agenda[room.phase.index + 1] : room.agenda[0];
    html += btn('next_phase', next ? `Next: ${esc(next.title)}` : 'Finish the last part', {}, 'secondary');
  }
  html += '</div>';
  const hold = pollHold(room);
  if (s === 'running' || s === 'paused') {
    html += '<div class="row wrap">';
    html += btn('extend_turn', '+30 s to this turn', {}, 'secondary');
    // The engine refuses to extend a poll whose closed results are showing (`not_allowed`).
    html += btn('extend_phase', '+1 min to this part', hold != null ? { disabled: 'disabled' } : {}, 'secondary');
    html += btn('end', 'End the town hall', {}, 'danger');
    html += '</div>';
    html += pollConsoleHint(room, hold);
  }
  if (room.phase?.kind === 'breakout' || room.breakout) {
    const b = room.breakout;
    html += '<h3>Small groups</h3><div class="row wrap">';
    const size = phaseSpec(room)?.group_size;
    html += `<label class="inline">Group size <input type="number" min="2" max="50" data-key="group-size" id="group-size" inputmode="numeric"${size ? ` placeholder="${esc(size)}"` : ''}></label>`;
    html += `<label class="inline">Groups <select id="group-assign" data-key="group-assign"><option value="new">new mix</option><option value="reuse">same as last time</option><option value="reshuffle">meet someone new</option></select></label>`;
    html += btn('open_breakouts', b && !b.closed ? 'Re-form groups' : 'Open groups', {}, 'secondary');
    if (b && !b.closed) html += btn('close_breakouts', 'Recall groups', {}, 'secondary');
    html += '</div>';
  }
  html += `<form data-form="broadcast" class="broadcast"><label for="broadcast-text">Message to everyone${room.breakout && !room.breakout.closed ? ' (all groups)' : ''}</label>
    <div class="row"><input id="broadcast-text" data-key="broadcast-text" maxlength="500" required autocomplete="off"><button type="submit" class="secondary" data-key="broadcast-submit">Send</button></div></form>`;
  return html;
}

/** What "Next" does during a poll that holds its results at close. */
function pollConsoleHint(room, hold) {
  if (room.phase?.kind !== 'poll') return '';
  if (hold != null) {
    return `<p class="hint poll-hold">The poll's results are showing to everyone. The next part starts in ${countdown(hold, 'Time until the next part')}, or now with Next.</p>`;
  }
  const k = phaseSpec(room);
  if (room.poll?.results?.closed || k?.kind !== 'poll' || k.reveal !== 'at_close' || !k.show_results_ms) return '';
  return `<p class="hint">Next closes the poll: everyone sees its results for ${esc(spokenDuration(k.show_results_ms))}, then the next part starts (or press Next again).</p>`;
}

function fmtMs(ms) {
  return clock(ms || 0);
}

/**
 * Per-community figures: every community of the event, with its people counted from the
 * roster and its time from the server's latest figures (or the people's sum before any).
 */
function communityFigures(room, eq) {
  const names = [];
  const add = (n) => { if (n && !names.includes(n)) names.push(n); };
  (room.eventInfo?.communities || []).forEach(add);
  eq.communities.forEach((c) => add(c.community));
  eq.people.forEach((p) => add(p.community));
  const rows = names.map((name) => {
    const people = eq.people.filter((p) => p.community === name);
    const server = eq.communities.find((c) => c.community === name);
    const ms = server ? server.speaking_ms : people.reduce((a, p) => a + p.speaking_ms, 0);
    return { community: name, members: people.length, speaking_ms: ms };
  });
  const total = rows.reduce((a, r) => a + r.speaking_ms, 0);
  for (const r of rows) r.share = total ? r.speaking_ms / total : 0;
  return rows;
}

/** The live equity dashboard: bars by community and by person, Gini, who has not spoken. */
export function renderEquity(room) {
  const eq = room.equity;
  if (!isStaff(room.me?.role)) return '';
  if (!eq) return '<p class="muted-text">Fairness figures appear once the room is loaded.</p>';
  let html = '<h3>Speaking time by community</h3>';
  const comms = communityFigures(room, eq);
  html += comms.length
    ? bars(comms.map((c, i) => ({ label: `${c.community} (${c.members})`, value: c.speaking_ms, text: `${fmtMs(c.speaking_ms)} · ${percent(c.share)}`, cls: `c${i % 4}` })), 'bars-comm')
    : '<p class="muted-text">No participants yet.</p>';
  html += '<h3>Speaking time by person</h3>';
  const people = eq.people.slice().sort((a, b) => b.speaking_ms - a.speaking_ms || a.name.localeCompare(b.name));
  const commIdx = new Map(comms.map((c, i) => [c.community, i]));
  html += people.length
    ? bars(people.map((p) => ({ label: p.name, value: p.speaking_ms, text: `${fmtMs(p.speaking_ms)}${p.reflect_ms ? ` + ${fmtMs(p.reflect_ms)} summing up` : ''} · ${p.turns} turn${p.turns === 1 ? '' : 's'}`, cls: `c${(commIdx.get(p.community) ?? 0) % 4}` })), 'bars-people')
    : '';
  const g = eq.gini || 0;
  html += `<h3>Balance (Gini)</h3><p class="gini"><strong>${g.toFixed(2)}</strong> <span class="hint">0 means everyone spoke equally; near 1 means one person did all the talking.</span></p>`;
  if (g > 0) {
    const within = eq.gini_within || 0;
    const between = eq.gini_between || 0;
    const overlap = Math.max(0, eq.gini_overlap ?? g - within - between);
    const w = (x) => `${Math.round((x / g) * 100)}%`;
    html += `<div class="split" aria-hidden="true"><span class="s-within" style="width:${w(within)}"></span><span class="s-between" style="width:${w(between)}"></span><span class="s-overlap" style="width:${w(overlap)}"></span></div>`;
    html += `<ul class="split-legend"><li><span class="key s-within"></span>Within communities: ${within.toFixed(2)}</li><li><span class="key s-between"></span>Between communities: ${between.toFixed(2)}</li><li><span class="key s-overlap"></span>Overlap: ${overlap.toFixed(2)}</li></ul>`;
  }
  const silent = eq.not_spoken.filter((id) => member(room, id));
  html += `<h3>Not spoken yet (${silent.length})</h3>`;
  html += silent.length
    ? `<ul class="plain">${silent.map((id) => `<li>${esc(labelOf(room, id))}${member(room, id)?.present === false ? ' <span class="muted-text">(away)</span>' : ''}</li>`).join('')}</ul>`
    : '<p class="muted-text">Everyone has spoken.</p>';
  return html;
}

/**
 * Staff: the live breakout groups, each with its people (from the hall's `breakout_opened` /
 * `breakout_moved`, or from the group's own room while listening in), a "Move to…" control per
 * participant (`move_to_group`), and "Listen in" / "Stop listening" (`join_room` / `leave_room`
 * on the room the hall's `groups` frame names). A group listened to shows its phase, floor,
 * queue and latest messages, read-only. `listened` are the group rooms this connection is in;
 * `rooms` the `groups` frame's `{index, room}` list; `ui.pending` the group being joined,
 * `ui.moveError` a refused move by group index.
 */
export function renderGroups(hall, listened, ui = {}, rooms = []) {
  if (!isStaff(hall.me?.role)) return '';
  const b = hall.breakout;
  const live = b && !b.closed;
  const meeting = hall.phase?.kind === 'breakout' && hall.session.state !== 'ended';
  let indices = [];
  if (live) indices = b.groups.map((_, i) => i);
  else if (meeting) indices = rooms.map((r) => r.index).sort((x, y) => x - y);
  if (!indices.length && !listened.length) {
    return meeting ? '<p><strong>Small groups are meeting.</strong></p><p class="muted-text">The list of groups is on its way.</p>' : '';
  }
  let html = '';
  if (indices.length) {
    html += `<p><strong>${indices.length} group${indices.length === 1 ? '' : 's'}</strong> meeting.`;
    if (live && b.closingUntil) html += ` Groups close in ${timer(b.closingUntil, 'Time until groups close')}.`;
    else if (live && b.until) html += ` Time left: ${timer(b.until, 'Time left in small groups')}.`;
    else if (!live && hall.phase?.deadline != null) html += ` Time left: ${timer(hall.phase.deadline, 'Time left in small groups')}.`;
    html += '</p>';
    if (!live) html += '<p class="hint">This page opened after the groups were formed: listen in to a group to see who is in it.</p>';
  }
  html += '<ol class="groups">';
  const shown = new Set();
  for (const i of indices) {
    const g = listened.find((x) => x.index === i);
    if (g) shown.add(g);
    const people = live ? b.groups[i] || [] : g ? groupPeople(g).map((m) => m.id) : null;
    const word = groupWord(hall, i);
    const title = word[0].toUpperCase() + word.slice(1);
    html += `<li class="group${g ? ' listening' : ''}" data-group="${i}">`;
    if (people == null) html += `<p><strong>${esc(title)}:</strong> <span class="muted-text">who is in it shows when you listen in</span></p>`;
    else {
      const names = people.map((m) => labelOf(live ? hall : g, m)).join(', ') || 'nobody yet';
      html += `<p><strong>${esc(title)}:</strong> ${esc(names)}</p>`;
      html += moveControls(live ? hall : g, people, i, indices, hall);
    }
    html += `<p class="err" role="alert">${esc(ui.moveError?.index === i ? ui.moveError.text : '')}</p>`;
    if (g) html += renderListened(g, word);
    else {
      const pending = ui.pending === i;
      html += `<div class="row">${btn('listen', pending ? 'Joining…' : 'Listen in', { 'data-group': i, 'data-key': `listen-${i}`, 'aria-label': `Listen in to ${word}`, ...(ui.pending != null ? { disabled: 'disabled' } : {}) }, 'small secondary')}</div>`;
    }
    html += '</li>';
  }
  html += '</ol>';
  // Groups listened to that the list does not name (a breakout that just ended, say).
  const rest = listened.filter((g) => !shown.has(g));
  if (rest.length) {
    html += '<ul class="groups plain">';
    for (const g of rest) {
      const names = groupPeople(g).map((m) => labelOf(g, m.id)).join(', ') || 'nobody yet';
      html += `<li class="group listening"><p><strong>A small group:</strong> ${esc(names)}</p>${renderListened(g, null)}</li>`;
    }
    html += '</ul>';
  }
  return html;
}

/** Each person of group `i` with a "Move to…" choice of the other groups and a Move button. */
function moveControls(r, people, i, indices, hall) {
  const others = indices.filter((x) => x !== i);
  if (!people.length || !others.length || !hall.phase || hall.phase.kind !== 'breakout') return '';
  let html = '<ul class="g-members">';
  for (const id of people) {
    const name = member(r, id)?.name || nameOf(r, id);
    const options = others.map((x) => `<option value="${x}">${esc(groupWord(hall, x).replace(/^g/, 'G'))}</option>`).join('');
    html += `<li><span class="p-name">${esc(name)}</span><span class="move">`
      + `<select data-key="move-to-${i}-${esc(id)}" data-move-member="${esc(id)}" aria-label="${esc(`Move ${name} to`)}"><option value="">Move to…</option>${options}</select>`
      + btn('move_to_group', 'Move', { 'data-member': id, 'data-group': i, 'data-key': `move-${i}-${id}`, 'aria-label': `Move ${name} to the chosen group` }, 'small secondary')
      + '</span></li>';
  }
  return html + '</ul>';
}

/** A group this staff member listens to, read-only: phase, floor, queue, latest messages. */
function renderListened(g, word) {
  const label = word || 'this group';
  const paused = g.session.state === 'paused' && g.pausedAt ? g.pausedAt : '';
  let html = `<div class="listened" role="group" aria-label="${esc(`Listening to ${label}`)}" data-paused-at="${esc(paused)}">`;
  html += `<p class="listen-badge"><span class="badge">Listening</span> ${esc(g.phase ? `${g.phase.title}` : 'Getting ready')}${g.session.state === 'ended' ? ' · finished' : ''}`;
  if (g.phase?.deadline != null) html += ` · ${timer(g.phase.deadline, `Time left in ${label}`)}`;
  html += '</p>';
  if (g.phase?.prompt) html += `<p class="prompt small">${esc(g.phase.prompt)}</p>`;
  const f = g.floor;
  if (f) {
    html += `<p class="g-floor"><strong>Floor:</strong> ${esc(floorSentence(g, f))}${f.deadline != null ? ` (${timer(f.deadline, `Time left in this turn in ${label}`)})` : ''}</p>`;
  } else {
    html += '<p class="g-floor muted-text">Nobody has the floor.</p>';
  }
  if (g.queue.length) {
    html += `<p class="g-queue-h">Up next:</p><ol class="g-queue">${g.queue.map((h) => `<li>${esc(labelOf(g, h.member))}${h.stance ? ` <span class="tag stance">${esc(h.stance)}</span>` : ''}</li>`).join('')}</ol>`;
  } else if (g.phase && ['queue', 'fishbowl', 'curiosity'].includes(g.phase.kind)) {
    html += '<p class="muted-text">No hands raised.</p>';
  }
  const said = g.feed.filter((x) => !g.hidden.includes(x.message)).slice(-3);
  if (said.length) {
    html += `<ul class="g-said">${said.map((x) => `<li><strong>${esc(x.member ? labelOf(g, x.member) : 'A shared note')}:</strong> ${esc(x.text)}</li>`).join('')}</ul>`;
  }
  html += `<div class="row">${btn('stop_listening', 'Stop listening', { 'data-group-room': g.room, 'data-key': `stop-${g.room}`, 'aria-label': `Stop listening to ${label}` }, 'small secondary')}</div>`;
  return html + '</div>';
}

/**
 * Reports and word-list flags, newest report last: the hall's, then each listened group's
 * (wrapped in `data-room` so the actions go to that group), then those from groups this page
 * does not listen to (`group_event`, `extra`: "in group 3" with "Listen in to group 3").
 * Empty lists say so.
 */
function renderReview(room, listened, extra = { reports: [], flags: [] }, listenPending = null) {
  const rooms = [{ r: room, label: '' }, ...listened.map((g) => ({ r: g, label: g.index != null ? groupWord(room, g.index) : 'a small group' }))];
  const texts = new Map();
  for (const it of extra.all || []) if (it.message != null && it.text != null) texts.set(`${it.room}#${it.message}`, it.text);
  const reports = rooms.reduce((n, x) => n + x.r.reports.length, 0) + extra.reports.length;
  const flags = rooms.reduce((n, x) => n + x.r.flags.length, 0) + extra.flags.length;
  let html = `<h3 id="reports-h">Reports (${reports} open)</h3>`;
  let list = '';
  for (const { r, label } of rooms) {
    for (const rep of r.reports) list += reportItem(r, rep, label, texts.get(`${r.room}#${rep.message}`));
  }
  for (const it of extra.reports) list += groupReportItem(room, listened, it, listenPending);
  html += list ? `<ul class="reports plain" aria-labelledby="reports-h">${list}</ul>` : '<p class="muted-text">No open reports.</p>';
  const closed = room.closedReports.slice(-1)[0];
  if (closed) html += `<p class="hint report-closed">${esc(closed.text)}</p>`;
  html += `<h3 id="flags-h">Flagged for review (${flags})</h3>`;
  let fl = '';
  for (const { r, label } of rooms) {
    for (const f of r.flags) fl += flagItem(r, f, label, texts.get(`${r.room}#${f.message}`));
  }
  for (const it of extra.flags) fl += groupFlagItem(room, listened, it, listenPending);
  html += fl
    ? `<ul class="flags plain" aria-labelledby="flags-h">${fl}</ul><p class="hint">The word list only points at messages: nobody else was told, and nothing was hidden. Read each in context.</p>`
    : '<p class="muted-text">No messages flagged by the word list.</p>';
  return html;
}

/** "Listen in to group 3" for a group item this page does not listen to (null index: none). */
function listenButton(index, key, listenPending) {
  if (index == null) return '';
  const word = groupWord(null, index);
  const pending = listenPending === index;
  return btn('listen', pending ? 'Joining…' : `Listen in to ${esc(word)}`, { 'data-group': index, 'data-key': key, ...(listenPending != null ? { disabled: 'disabled' } : {}) }, 'small secondary');
}

/**
 * A report raised in a group (`group_event`), named from the hall's roster. The moderator
 * acts on it once listening in (the group's own copy then carries the actions); until the
 * group's snapshot lists it, the actions that need no roster go to the group room.
 */
function groupReportItem(hall, listened, it, listenPending) {
  const rep = it.report;
  const word = it.index != null ? groupWord(hall, it.index) : 'a small group';
  const who = nameOf(hall, rep.by);
  const g = listened.find((x) => x.room === it.room);
  let html = `<li class="report group-item" data-report="${esc(rep.id)}" data-group-room="${esc(it.room)}"${g ? ` data-room="${esc(it.room)}"` : ''}>`;
  const k = `${it.room}-${rep.id}`;
  if (rep.message != null) {
    html += `<p><strong>${esc(who)}</strong> reported a message <span class="tag">in ${esc(word)}</span>:</p><p class="report-quote">${quote(it.text)}</p>`;
  } else {
    html += `<p><strong>${esc(who)}</strong> reported <strong>${esc(labelOf(hall, rep.member))}</strong> <span class="tag">in ${esc(word)}</span>.</p>`;
  }
  html += `<p class="report-reason"><span class="muted-text">Reason:</span> ${esc(rep.reason)}</p><div class="row wrap">`;
  if (g) {
    if (rep.message != null) html += btn('hide', 'Hide message', { 'data-message': rep.message, 'data-key': `grh-${k}` }, 'small');
    html += btn('dismiss_report', 'Dismiss', { 'data-report': rep.id, 'data-key': `grd-${k}`, 'aria-label': `Dismiss the report from ${who}` }, 'small secondary');
  } else {
    html += listenButton(it.index, `grl-${k}`, listenPending);
    html += `<span class="hint">Listen in to act on it.</span>`;
  }
  return html + '</div></li>';
}

/** A word-list flag raised in a group (`group_event`). */
function groupFlagItem(hall, listened, it, listenPending) {
  const f = it.flag;
  const word = it.index != null ? groupWord(hall, it.index) : 'a small group';
  const who = f.member ? labelOf(hall, f.member) : 'A shared note';
  const g = listened.find((x) => x.room === it.room);
  const k = `${it.room}-${f.message}`;
  let html = `<li class="flag group-item" data-flag="${esc(f.message)}" data-group-room="${esc(it.room)}"${g ? ` data-room="${esc(it.room)}"` : ''}>`;
  html += `<p><strong>${esc(who)}</strong> <span class="tag">in ${esc(word)}</span>: ${quote(it.text)}</p>`;
  html += `<p class="flag-words"><span class="muted-text">Matched:</span> ${f.words.map((w) => `<span class="tag word">${esc(w)}</span>`).join(' ')}</p><div class="row wrap">`;
  if (g) html += btn('hide', 'Hide message', { 'data-message': f.message, 'data-key': `gfh-${k}` }, 'small');
  else html += listenButton(it.index, `gfl-${k}`, listenPending);
  html += btn('clear_group_flag', 'Clear', { 'data-message': f.message, 'data-group-room': it.room, 'data-key': `gfc-${k}`, 'aria-label': `Clear the flag on the message from ${who}` }, 'small secondary');
  return html + '</div></li>';
}

function roomAttr(r) {
  return r.kind === 'group' && r.room ? ` data-room="${esc(r.room)}"` : '';
}

function quote(text) {
  return text == null ? '<span class="muted-text">(the message is not shown on this page)</span>' : `“${esc(text)}”`;
}

function reportItem(r, rep, label, fallbackText) {
  const who = nameOf(r, rep.by);
  const where = label ? ` <span class="tag">in ${esc(label)}</span>` : '';
  let html = `<li class="report" data-report="${esc(rep.id)}"${roomAttr(r)}>`;
  const k = `${r.room}-${rep.id}`;
  let target = null;
  if (rep.message != null) {
    target = messageAuthor(r, rep.message);
    html += `<p><strong>${esc(who)}</strong> reported ${esc(reportTarget(r, rep))}${where}:</p><p class="report-quote">${quote(messageText(r, rep.message) ?? fallbackText ?? null)}</p>`;
  } else {
    target = rep.member;
    html += `<p><strong>${esc(who)}</strong> reported <strong>${esc(labelOf(r, rep.member))}</strong>${where}.</p>`;
  }
  html += `<p class="report-reason"><span class="muted-text">Reason:</span> ${esc(rep.reason)}</p><div class="row wrap">`;
  if (rep.message != null) html += btn('hide', 'Hide message', { 'data-message': rep.message, 'data-key': `rh-${k}` }, 'small');
  const m = target ? member(r, target) : null;
  if (m && m.role === 'participant') {
    if (!m.muted) html += btn('mute', `Mute ${esc(m.name)}`, { 'data-member': m.id, 'data-key': `rm-${k}` }, 'small');
    html += btn('remove', `Remove ${esc(m.name)}`, { 'data-member': m.id, 'data-name': m.name, 'data-key': `rr-${k}` }, 'small danger');
  }
  html += btn('dismiss_report', 'Dismiss', { 'data-report': rep.id, 'data-key': `rd-${k}`, 'aria-label': `Dismiss the report from ${who}` }, 'small secondary');
  return html + '</div></li>';
}

function flagItem(r, f, label, fallbackText) {
  const who = f.member ? labelOf(r, f.member) : 'A shared note';
  const k = `${r.room}-${f.message}`;
  let html = `<li class="flag" data-flag="${esc(f.message)}"${roomAttr(r)}>`;
  html += `<p><strong>${esc(who)}</strong>${label ? ` <span class="tag">in ${esc(label)}</span>` : ''}: ${quote(messageText(r, f.message) ?? fallbackText ?? null)}</p>`;
  html += `<p class="flag-words"><span class="muted-text">Matched:</span> ${f.words.map((w) => `<span class="tag word">${esc(w)}</span>`).join(' ')}</p>`;
  html += `<div class="row wrap">${btn('hide', 'Hide message', { 'data-message': f.message, 'data-key': `fh-${k}` }, 'small')}${btn('clear_flag', 'Clear', { 'data-message': f.message, 'data-key': `fc-${k}`, 'aria-label': `Clear the flag on the message from ${who}` }, 'small secondary')}</div>`;
  return html + '</li>';
}

/**
 * Record budget warnings (`budget_warning`, staff only): a quiet note per member, or for the
 * room, with how full its share is; the hall's and those of the groups listened to.
 */
function renderBudget(room, listened) {
  const rows = [];
  for (const r of [room, ...listened]) {
    const label = r === room ? '' : r.index != null ? groupWord(room, r.index) : 'a small group';
    for (const w of r.budgetWarnings || []) rows.push({ r, w, label });
  }
  if (!rows.length) return '';
  let html = '<div class="budget-notes"><h3 id="budget-h">Record budget</h3><ul class="plain budget" aria-labelledby="budget-h">';
  for (const { r, w, label } of rows) {
    const who = w.member ?? 'room';
    html += `<li class="budget-note" data-member="${esc(who)}"${roomAttr(r)}><p>${esc(budgetWarningWords(r, w))}${label ? ` <span class="tag">in ${esc(label)}</span>` : ''}</p>`;
    html += btn('dismiss_budget', 'Dismiss', { 'data-member': who, 'data-key': `budget-${r.room}-${who}`, 'aria-label': 'Dismiss this note' }, 'small secondary');
    html += '</li>';
  }
  return html + '</ul></div>';
}

/**
 * Moderator panel: reports, flags, floor, people (invite, mute, remove), help requests and
 * nudges. `groupItems` are reports and flags from breakout groups (`groupReviewItems`);
 * `listenPending` the group index being joined.
 */
export function renderModeration(room, listened = [], groupItems = undefined, listenPending = null) {
  if (!isStaff(room.me?.role)) return '';
  let html = renderBudget(room, listened);
  html += renderReview(room, listened, groupItems, listenPending);
  const f = room.floor;
  html += '<h3>Floor</h3>';
  if (f) {
    html += `<p>${esc(floorSentence(room, f))}</p><div class="row">${btn('revoke_floor', 'Take the floor back', {}, 'secondary')}</div>`;
  } else {
    html += '<p class="muted-text">Nobody has the floor.</p>';
  }
  if (room.invitation) html += `<p>Invitation waiting for ${esc(labelOf(room, room.invitation))}.</p>`;
  if (room.moveOn?.offered) {
    const mo = room.moveOn;
    html += `<p class="move-on-tally"><strong>Move-on vote:</strong> ${mo.eligible ? `${mo.votes} of ${mo.eligible} agree (${mo.threshold_pct}% needed)` : 'offered, no votes yet'}.</p>`;
  }
  const people = room.members.filter((m) => m.role === 'participant');
  html += `<h3>People (${people.filter((m) => m.present).length} here)</h3>`;
  html += '<ul class="people">';
  for (const m of people) {
    html += `<li><span class="p-name">${esc(m.name)}</span>${communityTag(m.community)}${m.present ? '' : ' <span class="muted-text">(away)</span>'}${m.muted ? ` <span class="badge warn">${m.mutedBy ? `muted by ${esc(nameOf(room, m.mutedBy))}` : 'muted'}</span>` : ''}<span class="p-actions">`;
    html += btn('grant_floor', 'Invite to speak', { 'data-member': m.id, 'aria-label': `Invite ${m.name} to speak` }, 'small');
    html += m.muted
      ? btn('unmute', 'Unmute', { 'data-member': m.id, 'aria-label': `Unmute ${m.name}` }, 'small')
      : btn('mute', 'Mute', { 'data-member': m.id, 'aria-label': `Mute ${m.name}` }, 'small');
    html += btn('remove', 'Remove', { 'data-member': m.id, 'data-name': m.name, 'aria-label': `Remove ${m.name} from the event` }, 'small danger');
    html += '</span></li>';
  }
  html += '</ul>';
  if (room.help.length) {
    html += '<h3>Help requests</h3><ul class="plain">';
    for (const h of room.help.slice(-10).reverse()) {
      const gi = groupOfMember(room, h.member);
      const word = gi != null ? groupWord(room, gi) : '';
      html += `<li class="help-item"><span>${esc(labelOf(room, h.member))} asked for help${gi != null ? ` <strong>(in ${esc(word)})</strong>` : ''}</span>`;
      if (gi != null && !listened.some((g) => g.index === gi)) {
        html += btn('listen', `Listen in to ${esc(word)}`, { 'data-group': gi, 'data-key': `help-listen-${h.member}-${h.at}` }, 'small secondary');
      }
      html += btn('resolve_help', 'Resolved', { 'data-member': h.member, 'data-key': `help-resolve-${h.member}` }, 'small');
      html += '</li>';
    }
    html += '</ul>';
  }
  if (room.nudges.length) {
    html += '<h3>Nudged (invited kindly to speak)</h3><ul class="plain">';
    for (const n of room.nudges.slice(-10).reverse()) html += `<li>${esc(labelOf(room, n.member))}</li>`;
    html += '</ul>';
  }
  return html;
}
