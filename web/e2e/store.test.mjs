// Unit tests of the client's room model (web/js/store.js) and helpers (web/js/util.js), run in
// node without a browser: events applied in order, resume overlap ignored, deadlines shifted
// on resume, stances kept across reorders, breakout groups found, plain-language wording; and
// the rooms of one connection: a breakout group's welcome, snapshot and events kept apart from
// the hall's, `left_room`, and a reconnect that brings the group back (or not).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  emptyRoom, applySnapshot, applyEvent, floorSentence, emptyClient, applyWelcome, applyRoomSnapshot,
  routeEvent, applyLeftRoom, dropStale, myGroupRoom, listenedGroups, applyGroups, roomOfIndex, messageText,
  applyGroupEvent, groupReviewItems, activeNotices, NOTICE_TTL, pollHold, awaitsModerator, moderatedQa,
  budgetWarningWords,
} from '../js/store.js';
import { clock, ordinal, errorWords, reportErrorWords, spokenDuration, countdownWords } from '../js/util.js';

function room() {
  const r = emptyRoom();
  r.me = { member: 'm-ana', name: 'Ana', role: 'participant', community: 'Dayton, OH' };
  applySnapshot(r, {
    room: 'e/hall',
    seq: 10,
    state: {
      protocol: 'p', title: 'T', session: { state: 'running' }, agenda: [{ id: 'open', kind: 'queue', title: 'Open floor' }],
      phase: { index: 0, id: 'open', kind: 'queue', title: 'Open floor', prompt: null, deadline: 100000, overtime: false },
      floor: null, queue: [], invitation: null, interlude_until: null, reflection: null, side: null,
      questions: [], current_question: null, poll: null, hidden: [], equity: null,
      members: [
        { id: 'm-ana', name: 'Ana', role: 'participant', community: 'Dayton, OH', present: true, muted: false },
        { id: 'm-ben', name: 'Ben', role: 'participant', community: 'Boulder, CO', present: true, muted: false },
      ],
    },
  });
  return r;
}

const ev = (seq, event, at = 1000) => ({ type: 'event', room: 'e/hall', seq, at, event });

test('events at or below the snapshot sequence are ignored (resume overlap)', () => {
  const r = room();
  applyEvent(r, ev(10, { type: 'hand_raised', member: 'm-ben', stance: null }));
  assert.equal(r.queue.length, 0);
  applyEvent(r, ev(11, { type: 'hand_raised', member: 'm-ben', stance: null }));
  assert.equal(r.queue.length, 1);
  assert.equal(r.seq, 11);
});

test('queue_changed keeps each hand\'s stance', () => {
  const r = room();
  applyEvent(r, ev(11, { type: 'hand_raised', member: 'm-ana', stance: 'pro' }));
  applyEvent(r, ev(12, { type: 'hand_raised', member: 'm-ben', stance: 'con' }));
  applyEvent(r, ev(13, { type: 'queue_changed', order: ['m-ben', 'm-ana'] }));
  assert.deepEqual(r.queue, [{ member: 'm-ben', stance: 'con' }, { member: 'm-ana', stance: 'pro' }]);
});

test('hand_raised inserts the hand at its position; hand_lowered keeps the others in order', () => {
  const r = room();
  applyEvent(r, ev(11, { type: 'hand_raised', member: 'm-ana', stance: null, position: 0 }));
  applyEvent(r, ev(12, { type: 'hand_raised', member: 'm-cai', stance: null, position: 1 }));
  applyEvent(r, ev(13, { type: 'hand_raised', member: 'm-ben', stance: null, position: 1 }));
  assert.deepEqual(r.queue.map((h) => h.member), ['m-ana', 'm-ben', 'm-cai']);
  applyEvent(r, ev(14, { type: 'hand_lowered', member: 'm-ben' }));
  assert.deepEqual(r.queue.map((h) => h.member), ['m-ana', 'm-cai']);
});

test('a snapshot taken during a breakout restores the groups', () => {
  const r = room();
  applySnapshot(r, {
    room: 'e/hall', seq: 20,
    state: {
      protocol: 'p', title: 'T', session: { state: 'running' }, agenda: [],
      phase: { index: 1, id: 'groups', kind: 'breakout', title: 'Small groups', prompt: null, deadline: 90000, overtime: false },
      members: [], hidden: [],
      breakout: { protocol: 'small-group-round', groups: [[], ['m-ana', 'm-ben']], my_group: 1, closing_until: 80000 },
    },
  });
  assert.equal(r.breakout.myGroup, 1);
  assert.deepEqual(r.breakout.groups[1], ['m-ana', 'm-ben']);
  assert.equal(r.breakout.until, 90000);
  assert.equal(r.breakout.closingUntil, 80000);
});

test('a floor grant is announced kindly, and urgently to the new speaker', () => {
  const r = room();
  const said = applyEvent(r, ev(11, { type: 'floor_granted', member: 'm-ana', turn: 'own', deadline: 5000 }));
  assert.deepEqual(said, [{ text: 'You have the floor.', urgent: true }]);
  const f = { member: 'm-ben', turn: 'reflect', responding_to: 'm-ana' };
  assert.equal(floorSentence(r, f), 'Ben is summing up what you said.');
});

test('resume moves every deadline later by the paused time', () => {
  const r = room();
  applyEvent(r, ev(11, { type: 'floor_granted', member: 'm-ben', turn: 'own', deadline: 5000 }));
  applyEvent(r, ev(12, { type: 'session_paused' }));
  assert.equal(r.session.state, 'paused');
  applyEvent(r, ev(13, { type: 'session_resumed', shifted_ms: 2500 }));
  assert.equal(r.floor.deadline, 7500);
  assert.equal(r.phase.deadline, 102500);
});

test('breakout events tell a member their group', () => {
  const r = room();
  applyEvent(r, ev(11, { type: 'breakout_opened', protocol: 'g', groups: [['m-ben'], ['m-ana']], until: 9000 }));
  assert.equal(r.breakout.myGroup, 1);
  applyEvent(r, ev(12, { type: 'breakout_moved', member: 'm-ana', group: 0 }));
  assert.equal(r.breakout.myGroup, 0);
  assert.deepEqual(r.breakout.groups, [['m-ben', 'm-ana'], []]);
  applyEvent(r, ev(13, { type: 'breakout_closed' }));
  assert.equal(r.breakout.closed, true);
});

// ---------------------------------------------------------------- group rooms

const welcome = (room, role = 'participant', member = 'm-ana') =>
  ({ type: 'welcome', v: 1, member, name: 'Ana', role, community: 'Dayton, OH', event: 'e', room, server_time: 1 });

function groupState(phaseTitle = 'Talk') {
  return {
    protocol: 'g', title: 'G', session: { state: 'running' }, agenda: [{ id: 'talk', kind: 'queue', title: phaseTitle }],
    phase: { index: 0, id: 'talk', kind: 'queue', title: phaseTitle, prompt: 'What did you hear?', deadline: 50000, overtime: false },
    floor: null, queue: [], invitation: null, interlude_until: null, reflection: null, side: null,
    questions: [], current_question: null, poll: null, hidden: [], equity: null,
    members: [
      { id: 'm-ana', name: 'Ana', role: 'participant', community: 'Dayton, OH', present: true, muted: false },
      { id: 'm-ben', name: 'Ben', role: 'participant', community: 'Boulder, CO', present: true, muted: false },
    ],
  };
}

test('a group room\'s welcome, snapshot and events never touch the hall', () => {
  const c = emptyClient();
  applyWelcome(c, welcome('e/hall'), true);
  const hallState = { ...groupState('Open floor'), protocol: 'hall' };
  applyRoomSnapshot(c, { type: 'snapshot', room: 'e/hall', seq: 10, state: hallState });
  routeEvent(c, ev(11, { type: 'breakout_opened', protocol: 'g', groups: [['m-cat'], ['m-ana', 'm-ben']], until: 9000 }));
  assert.equal(myGroupRoom(c), null);
  applyWelcome(c, welcome('e/group-3'), false);
  const said = applyRoomSnapshot(c, { type: 'snapshot', room: 'e/group-3', seq: 2, state: groupState() });
  assert.match(said[0].text, /You are now in your small group with Ben/);
  assert.equal(c.hall.room, 'e/hall');
  assert.equal(c.hall.seq, 11);
  assert.equal(c.hall.protocol, 'hall');
  const g = myGroupRoom(c);
  assert.equal(g.room, 'e/group-3');
  assert.equal(g.kind, 'group');
  // The room id's number is not the engine's index: the index comes from the members.
  assert.equal(g.index, 1);
  // A group event goes to the group only; a hall event to the hall only.
  routeEvent(c, { type: 'event', room: 'e/group-3', seq: 3, at: 1, event: { type: 'hand_raised', member: 'm-ben', stance: null } });
  assert.deepEqual(g.queue.map((h) => h.member), ['m-ben']);
  assert.equal(c.hall.queue.length, 0);
  assert.equal(g.seq, 3);
  assert.equal(c.hall.seq, 11);
  routeEvent(c, ev(12, { type: 'broadcast', by: 'm-fac', text: 'Two minutes' }));
  assert.equal(c.hall.broadcasts.length, 1);
  assert.equal(g.broadcasts.length, 0);
  // Group and hall sequence numbers are separate: a group seq below the hall's still applies.
  routeEvent(c, { type: 'event', room: 'e/group-3', seq: 4, at: 1, event: { type: 'floor_granted', member: 'm-ben', turn: 'own', deadline: 9 } });
  assert.equal(g.floor.member, 'm-ben');
  assert.equal(c.hall.floor, null);
  // The recall: back in the hall.
  const back = applyLeftRoom(c, { type: 'left_room', room: 'e/group-3', reason: 'closed', hall: 'e/hall' });
  assert.deepEqual(back, [{ text: 'You are back in the main hall.' }]);
  assert.equal(myGroupRoom(c), null);
  assert.equal(c.groups.size, 0);
  assert.equal(c.hall.backFromGroup, true);
  // A late event of the closed group is dropped, not applied to the hall.
  routeEvent(c, { type: 'event', room: 'e/group-3', seq: 5, at: 1, event: { type: 'hand_lowered', member: 'm-ben' } });
  assert.equal(c.hall.seq, 12);
});

test('a reconnect keeps the group only if the server joins the new connection into it again', () => {
  const c = emptyClient();
  applyWelcome(c, welcome('e/hall'), true);
  applyRoomSnapshot(c, { type: 'snapshot', room: 'e/hall', seq: 10, state: groupState('Open floor') });
  applyWelcome(c, welcome('e/group-1'), false);
  applyRoomSnapshot(c, { type: 'snapshot', room: 'e/group-1', seq: 2, state: groupState() });
  // New socket: the hall's welcome first; the group is stale until its fresh welcome.
  applyWelcome(c, welcome('e/hall'), true);
  assert.ok(c.stale.has('e/group-1'));
  applyWelcome(c, welcome('e/group-1'), false);
  const said = applyRoomSnapshot(c, { type: 'snapshot', room: 'e/group-1', seq: 7, state: groupState() });
  assert.deepEqual(said, [], 'no "you are now in your group" again');
  assert.equal(c.stale.size, 0);
  assert.equal(myGroupRoom(c).seq, 7);
  assert.deepEqual(dropStale(c), []);
  // Again, but the breakout ended while offline: no group welcome comes.
  applyWelcome(c, welcome('e/hall'), true);
  assert.deepEqual(dropStale(c), [{ text: 'You are back in the main hall.' }]);
  assert.equal(myGroupRoom(c), null);
});

test('staff listening in: each group is its own room; a move is not "back in the hall"', () => {
  const c = emptyClient();
  applyWelcome(c, welcome('e/hall', 'moderator', 'm-mod'), true);
  applyRoomSnapshot(c, { type: 'snapshot', room: 'e/hall', seq: 10, state: groupState('Open floor') });
  routeEvent(c, ev(11, { type: 'breakout_opened', protocol: 'g', groups: [['m-ana', 'm-ben'], ['m-cat']], until: 9000 }));
  applyWelcome(c, welcome('e/group-2', 'moderator', 'm-mod'), false);
  const said = applyRoomSnapshot(c, { type: 'snapshot', room: 'e/group-2', seq: 1, state: groupState() });
  assert.match(said[0].text, /listening to group 1/);
  assert.equal(myGroupRoom(c), null, 'staff are never placed');
  assert.deepEqual(listenedGroups(c).map((g) => [g.room, g.index]), [['e/group-2', 0]]);
  // Group events are not announced to listeners.
  assert.deepEqual(routeEvent(c, { type: 'event', room: 'e/group-2', seq: 2, at: 1, event: { type: 'floor_granted', member: 'm-ben', turn: 'own', deadline: 9 } }), []);
  assert.equal(listenedGroups(c)[0].floor.member, 'm-ben');
  assert.deepEqual(applyLeftRoom(c, { type: 'left_room', room: 'e/group-2', reason: 'left', hall: 'e/hall' }), [{ text: 'You stopped listening to group 1.' }]);
  // A participant moved to another group is told so, not sent "back to the hall".
  const p = emptyClient();
  applyWelcome(p, welcome('e/hall'), true);
  applyWelcome(p, welcome('e/group-1'), false);
  assert.deepEqual(applyLeftRoom(p, { type: 'left_room', room: 'e/group-1', reason: 'moved', hall: 'e/hall' }), [{ text: 'You were moved to another small group.' }]);
  assert.notEqual(p.hall.backFromGroup, true);
});

test('the snapshot\'s message history fills the feed once, oldest first, with live messages after it', () => {
  const r = room();
  applyEvent(r, ev(11, { type: 'said', message: 7, member: 'm-ben', text: 'live before the snapshot' }));
  applySnapshot(r, {
    room: 'e/hall', seq: 20, state: {
      session: { state: 'running' }, hidden: [],
      messages: [
        { message: 5, kind: 'said', member: 'm-ana', text: 'first', at: 1 },
        { message: 7, kind: 'said', member: 'm-ben', text: 'live before the snapshot', at: 2 },
        { message: 9, kind: 'noted', member: null, text: 'a shared note', at: 3 },
      ],
    },
  });
  assert.deepEqual(r.feed.map((x) => [x.message, x.kind]), [[5, 'said'], [7, 'said'], [9, 'note']]);
  // A live `said` the history already brought (a resume overlap) is not shown twice.
  applyEvent(r, ev(21, { type: 'said', message: 9, member: null, text: 'a shared note' }));
  applyEvent(r, ev(22, { type: 'said', message: 11, member: 'm-ana', text: 'after' }));
  assert.deepEqual(r.feed.map((x) => x.message), [5, 7, 9, 11]);
  assert.equal(messageText(r, 11), 'after');
});

test('reports and flags: staff see them filed and closed, with announcements; hiding clears a flag', () => {
  const r = room();
  r.me = { member: 'm-mod', name: 'Mo', role: 'moderator' };
  applySnapshot(r, {
    room: 'e/hall', seq: 20, state: {
      session: { state: 'running' }, hidden: [],
      members: [{ id: 'm-ana', name: 'Ana', role: 'participant', community: 'Dayton, OH', present: true, muted: false },
        { id: 'm-ben', name: 'Ben', role: 'participant', community: 'Boulder, CO', present: true, muted: false }],
      messages: [{ message: 5, kind: 'said', member: 'm-ana', text: 'go home', at: 1 }],
      reports: [{ id: 1, by: 'm-ben', member: 'm-ana', reason: 'loud', at: 1, status: 'open' }],
    },
  });
  assert.equal(r.reports.length, 1);
  const filed = applyEvent(r, ev(21, { type: 'report_filed', report: 2, by: 'm-ben', message: 5, reason: 'rude' }));
  assert.deepEqual(filed, [{ text: 'New report from Ben about a message by Ana: rude', staff: true }]);
  const flagged = applyEvent(r, ev(22, { type: 'message_flagged', message: 5, member: 'm-ana', words: ['go home'] }));
  assert.equal(flagged[0].text, 'A message by Ana was flagged for review (go home).');
  assert.equal(r.flags.length, 1);
  applyEvent(r, ev(23, { type: 'hidden', message: 5, by: 'm-mod' }));
  assert.equal(r.flags.length, 0);
  const closed = applyEvent(r, ev(24, { type: 'report_closed', report: 2, by: 'm-mod', status: 'hidden' }));
  assert.deepEqual(closed, [{ text: 'You closed the report about a message by Ana: the message was hidden.', staff: true }]);
  assert.deepEqual(r.reports.map((x) => x.id), [1]);
  assert.equal(r.closedReports.length, 1);
  assert.equal(reportErrorWords('duplicate'), 'You already reported this; the moderators have it.');
  assert.equal(reportErrorWords('too_many_reports').slice(0, 24), 'You already have 5 repor');
});

test('the hall\'s groups frame names each group\'s room; a listened group takes its index from it', () => {
  const c = emptyClient();
  applyWelcome(c, welcome('e/hall', 'moderator', 'm-mod'), true);
  applyRoomSnapshot(c, { type: 'snapshot', room: 'e/hall', seq: 10, state: groupState('Open floor') });
  applyGroups(c, { type: 'groups', room: 'e/hall', groups: [{ index: 0, room: 'e/group-7' }, { index: 1, room: 'e/group-8' }] });
  assert.equal(roomOfIndex(c, 1), 'e/group-8');
  // No breakout_opened seen (a page opened mid-breakout): the index still comes from the frame.
  applyWelcome(c, welcome('e/group-8', 'moderator', 'm-mod'), false);
  const said = applyRoomSnapshot(c, { type: 'snapshot', room: 'e/group-8', seq: 1, state: groupState() });
  assert.match(said[0].text, /listening to group 2/);
  assert.deepEqual(listenedGroups(c).map((g) => g.index), [1]);
  applyGroups(c, { type: 'groups', room: 'e/hall', groups: [] });
  assert.equal(roomOfIndex(c, 1), null);
});

test('time and words', () => {
  assert.equal(clock(65000), '1:05');
  assert.equal(clock(400), '0:01');
  assert.equal(clock(1999, true), '0:01');
  assert.equal(clock(-5), '0:00');
  assert.equal(clock(3723000), '1:02:03');
  assert.equal(spokenDuration(90000), '1 minute 30 seconds');
  assert.deepEqual([1, 2, 3, 4, 11, 12, 22].map(ordinal), ['1st', '2nd', '3rd', '4th', '11th', '12th', '22nd']);
  assert.equal(errorWords('muted', 'x'), 'A moderator has muted you for now.');
  assert.equal(errorWords('brand_new', 'the server says so'), 'the server says so');
});

test('group_event: reports and flags from groups reach staff, deduped, closed, dropped with the group', () => {
  const c = emptyClient();
  applyWelcome(c, { type: 'welcome', member: 'm-mo', name: 'Mo', role: 'moderator', event: 'e', room: 'e/hall' }, true);
  c.hall = room();
  c.hall.me = { member: 'm-mo', name: 'Mo', role: 'moderator', room: 'e/hall' };
  applyGroups(c, { type: 'groups', room: 'e/hall', groups: [{ index: 0, room: 'e/group-4' }, { index: 2, room: 'e/group-6' }] });
  const group = { index: 2, room: 'e/group-6' };
  const filed = { type: 'group_event', room: 'e/hall', group, at: 5000, event: { type: 'report_filed', report: 1, by: 'm-ana', message: 3, reason: 'rude' }, text: 'You fool.', replay: false };
  const said = applyGroupEvent(c, filed);
  assert.equal(said.length, 1);
  assert.match(said[0].text, /New report in group 3 from Ana about a message: rude/);
  // The same report again (a replay after a reconnect, say): kept once, not announced again.
  assert.deepEqual(applyGroupEvent(c, { ...filed, replay: true }), []);
  let items = groupReviewItems(c);
  assert.equal(items.reports.length, 1);
  assert.deepEqual(items.reports[0], { room: 'e/group-6', index: 2, report: { id: 1, by: 'm-ana', message: 3, member: null, reason: 'rude', at: 5000, status: 'open' }, text: 'You fool.' });
  // Report ids are per group room: report 1 of another group is another report.
  applyGroupEvent(c, { ...filed, group: { index: 0, room: 'e/group-4' }, replay: true });
  assert.equal(groupReviewItems(c).reports.length, 2);
  // A replayed open report is listed but not announced.
  assert.deepEqual(applyGroupEvent(c, { ...filed, event: { ...filed.event, report: 2, message: undefined, member: 'm-ben' }, text: undefined, replay: true }), []);
  assert.equal(groupReviewItems(c).reports.length, 3);

  const flag = { type: 'group_event', room: 'e/hall', group, at: 5100, event: { type: 'message_flagged', message: 3, member: 'm-ben', words: ['fool'] }, text: 'You fool.', replay: false };
  const f = applyGroupEvent(c, flag);
  assert.match(f[0].text, /A message by Ben in group 3 was flagged for review \(fool\)/);
  assert.deepEqual(applyGroupEvent(c, flag), []);
  items = groupReviewItems(c);
  assert.equal(items.flags.length, 1);
  assert.equal(items.flags[0].text, 'You fool.');
  assert.ok(items.all.some((x) => x.room === 'e/group-6' && x.message === 3 && x.text === 'You fool.'));

  // Closed by a moderator in the group (hidden): the report and the flag leave the list.
  const closed = applyGroupEvent(c, { type: 'group_event', room: 'e/hall', group, at: 6000, event: { type: 'report_closed', report: 1, by: 'm-ben', status: 'hidden' } });
  assert.match(closed[0].text, /Ben closed the report in group 3: the message was hidden/);
  applyGroupEvent(c, { type: 'group_event', room: 'e/hall', group, at: 6000, event: { type: 'hidden', message: 3, by: 'm-ben' } });
  items = groupReviewItems(c);
  assert.deepEqual(items.reports.map((x) => [x.room, x.report.id]), [['e/group-4', 1], ['e/group-6', 2]]);
  assert.equal(items.flags.length, 0);
  assert.match(c.hall.closedReports.at(-1).text, /closed the report in group 3/);

  // A frame for another hall is ignored.
  assert.deepEqual(applyGroupEvent(c, { ...filed, room: 'x/hall', event: { ...filed.event, report: 9 } }), []);
  assert.equal(groupReviewItems(c).reports.length, 2);
  // The groups close: their open reports can no longer be acted on and are dropped.
  applyGroups(c, { type: 'groups', room: 'e/hall', groups: [] });
  assert.equal(groupReviewItems(c).reports.length, 0);
});

test('group_event: a report the listened group already lists is shown once, with the group room', () => {
  const c = emptyClient();
  applyWelcome(c, { type: 'welcome', member: 'm-mo', name: 'Mo', role: 'moderator', event: 'e', room: 'e/hall' }, true);
  applyGroups(c, { type: 'groups', room: 'e/hall', groups: [{ index: 0, room: 'e/group-1' }] });
  applyWelcome(c, { type: 'welcome', member: 'm-mo', name: 'Mo', role: 'moderator', event: 'e', room: 'e/group-1' }, false);
  applyRoomSnapshot(c, { type: 'snapshot', room: 'e/group-1', seq: 4, state: {
    protocol: 'p', title: 'T', session: { state: 'running' }, agenda: [], phase: null, floor: null, queue: [], invitation: null,
    interlude_until: null, questions: [], hidden: [], members: [], messages: [],
    reports: [{ id: 1, by: 'm-ana', message: 3, reason: 'rude', at: 5000, status: 'open' }],
  } });
  // The group's own copy came first (listening): the relayed one is not announced again.
  const said = applyGroupEvent(c, { type: 'group_event', room: 'e/hall', group: { index: 0, room: 'e/group-1' }, at: 5000,
    event: { type: 'report_filed', report: 1, by: 'm-ana', message: 3, reason: 'rude' }, text: 'You fool.', replay: false });
  assert.deepEqual(said, []);
  assert.equal(groupReviewItems(c).reports.length, 0, 'the listened group lists it itself');
  // Closed in the group room: gone from both.
  routeEvent(c, { type: 'event', room: 'e/group-1', seq: 5, at: 6000, event: { type: 'report_closed', report: 1, by: 'm-mo', status: 'dismissed' } });
  assert.equal(c.groupReports.size, 0);
  assert.equal(c.groups.get('e/group-1').reports.length, 0);
});

test('notices clear themselves: the latest broadcast for a while, back in the hall, a turn cut short (#19)', () => {
  const r = room();
  r.members.push({ id: 'm-mo', name: 'Mo', role: 'moderator', community: null, present: true, muted: false });
  applyEvent(r, ev(11, { type: 'broadcast', by: 'm-mo', text: 'First' }, 1000));
  applyEvent(r, ev(12, { type: 'broadcast', by: 'm-mo', text: 'Second' }, 2000));
  let n = activeNotices(r, null, 2500);
  assert.deepEqual(n.map((x) => x.text), ['Second'], 'a new broadcast supersedes the old');
  assert.equal(n[0].until, 2000 + NOTICE_TTL.broadcast);
  assert.deepEqual(activeNotices(r, null, 2000 + NOTICE_TTL.broadcast), [], 'and goes after a while');
  r.broadcasts = [];
  // Back in the hall: shown from when it first showed, for a while.
  r.backFromGroup = true;
  r.backAt = 5000;
  assert.deepEqual(activeNotices(r, null, 5000 + NOTICE_TTL.back - 1).map((x) => x.kind), ['back']);
  assert.deepEqual(activeNotices(r, null, 5000 + NOTICE_TTL.back), []);
  r.backFromGroup = false;
  // A turn that ran out, or was taken back, is told to the speaker only, until the next turn.
  applyEvent(r, ev(13, { type: 'floor_granted', member: 'm-ana', name: 'Ana', turn: 'own', deadline: 9000 }, 3000));
  applyEvent(r, ev(14, { type: 'floor_released', member: 'm-ana', turn: 'own', reason: 'expired', held_ms: 6000 }, 9000));
  n = activeNotices(r, null, 9100);
  assert.deepEqual(n.map((x) => [x.kind, x.text]), [['turn_ended', 'Your time is up. Thank you.']]);
  assert.deepEqual(activeNotices(r, null, 9000 + NOTICE_TTL.turnEnded), []);
  applyEvent(r, ev(15, { type: 'floor_granted', member: 'm-ana', name: 'Ana', turn: 'own', deadline: 20000 }, 9500));
  assert.deepEqual(activeNotices(r, null, 9600), [], 'the next turn clears it');
  applyEvent(r, ev(16, { type: 'floor_released', member: 'm-ana', turn: 'own', reason: 'revoked', held_ms: 100 }, 9600));
  assert.equal(activeNotices(r, null, 9700)[0].text, 'A moderator ended your turn.');
  applyEvent(r, ev(17, { type: 'floor_granted', member: 'm-ben', name: 'Ben', turn: 'own', deadline: 20000 }, 9800));
  applyEvent(r, ev(18, { type: 'floor_released', member: 'm-ben', turn: 'own', reason: 'expired', held_ms: 100 }, 9900));
  assert.equal(activeNotices(r, null, 9950)[0].text, 'A moderator ended your turn.', "someone else's turn tells me nothing");
});

test('an accepted invitation is answered: the hand goes to the front and the card goes (#19)', () => {
  const r = room();
  applyEvent(r, ev(11, { type: 'floor_granted', member: 'm-ben', name: 'Ben', turn: 'own', deadline: 9000 }));
  applyEvent(r, ev(12, { type: 'invited', member: 'm-ana', by: 'm-mo' }));
  assert.equal(r.invitation, 'm-ana');
  applyEvent(r, ev(13, { type: 'hand_raised', member: 'm-ana', stance: null, position: 0 }));
  assert.equal(r.invitation, null);
  // A hand already up moves to the front (no `by`): answered too; a moderator's move is not.
  applyEvent(r, ev(14, { type: 'invited', member: 'm-cai', by: 'm-mo' }));
  applyEvent(r, ev(15, { type: 'queue_changed', order: ['m-cai', 'm-ana'], by: 'm-mo' }));
  assert.equal(r.invitation, 'm-cai');
  applyEvent(r, ev(16, { type: 'queue_changed', order: ['m-cai', 'm-ana'] }));
  assert.equal(r.invitation, null);
});

test('the muted member is told who muted, and it survives a snapshot (#19)', () => {
  const r = room();
  r.members.push({ id: 'm-mo', name: 'Mo', role: 'moderator', community: null, present: true, muted: false });
  const said = applyEvent(r, ev(11, { type: 'muted', member: 'm-ana', by: 'm-mo' }));
  assert.deepEqual(said, [{ text: 'Mo (moderator) has muted you for now.', urgent: true }]);
  assert.equal(r.members.find((m) => m.id === 'm-ana').mutedBy, 'm-mo');
  applySnapshot(r, { room: 'e/hall', seq: 20, state: { members: r.members.map(({ mutedBy, ...m }) => m) } });
  assert.equal(r.members.find((m) => m.id === 'm-ana').mutedBy, 'm-mo');
});

// ---------------------------------------------------------------- polls, moderated Q&A, record budget

const POLL_SPEC = {
  phases: [
    { id: 'pulse', title: 'Quick poll', kind: { kind: 'poll', question: 'Did tonight help?', choices: ['Yes', 'Not yet'], reveal: 'at_close', show_results_ms: 30000 } },
    { id: 'ask', title: 'Questions', kind: { kind: 'qa', moderated: true, answer_ms: 60000, max_question_chars: 280 } },
    { id: 'open-qa', title: 'Open questions', kind: { kind: 'qa', moderated: false, answer_ms: 60000, max_question_chars: 280 } },
  ],
};

function pollRoom() {
  const r = room();
  r.spec = POLL_SPEC;
  applyEvent(r, ev(11, { type: 'phase_started', index: 1, id: 'pulse', kind: 'poll', title: 'Quick poll', prompt: null, deadline: 60000 }));
  return r;
}

const closedResults = (until) => ({
  type: 'poll_results', phase: 'pulse', totals: [['Yes', 3], ['Not yet', 1]],
  by_community: [['Dayton, OH', [['Yes', 2], ['Not yet', 1]]]], closed: true, ...(until != null ? { until } : {}),
});

test('closed poll results hold the agenda until `until`: no phase deadline, announced, shifted by a pause (#19)', () => {
  const r = pollRoom();
  assert.deepEqual(r.poll.choices, ['Yes', 'Not yet']);
  applyEvent(r, ev(12, { type: 'poll_results', phase: 'pulse', totals: [['Yes', 1], ['Not yet', 0]], by_community: [], closed: false }));
  assert.equal(pollHold(r), null, 'open results hold nothing');
  const said = applyEvent(r, ev(13, closedResults(35000), 5000));
  assert.equal(pollHold(r), 35000);
  assert.equal(r.phase.deadline, null, 'the hold has no phase deadline');
  assert.deepEqual(r.poll.results.by_community, [['Dayton, OH', [['Yes', 2], ['Not yet', 1]]]], 'by community, as sent');
  assert.deepEqual(said, [{ text: 'The poll has closed. Results are shown; the next part starts in 30 seconds.', urgent: false }]);
  // A pause moves `until` later, as it does every deadline.
  applyEvent(r, ev(14, { type: 'session_paused' }, 6000));
  applyEvent(r, ev(15, { type: 'session_resumed', shifted_ms: 4000 }, 10000));
  assert.equal(pollHold(r), 39000);
  // The next phase ends the hold (the facilitator moved on, or `until` came).
  applyEvent(r, ev(16, { type: 'phase_ended', index: 1, id: 'pulse' }, 39000));
  applyEvent(r, ev(17, { type: 'phase_started', index: 2, id: 'ask', kind: 'qa', title: 'Questions', prompt: null, deadline: null }, 39000));
  assert.equal(pollHold(r), null);
});

test('closed results without a hold (live poll, `show_results = "0s"`, `end`) are shown without a countdown', () => {
  const r = pollRoom();
  const said = applyEvent(r, ev(12, closedResults(null)));
  assert.equal(r.poll.results.closed, true);
  assert.equal(pollHold(r), null);
  assert.deepEqual(said, [{ text: 'The poll has closed. Results are shown.', urgent: false }]);
});

test('a snapshot during the hold carries the closed results and when they end (#19)', () => {
  const r = room();
  applySnapshot(r, {
    room: 'e/hall', seq: 30,
    state: {
      protocol: 'p', session: { state: 'running' }, agenda: [],
      phase: { index: 1, id: 'pulse', kind: 'poll', title: 'Quick poll', prompt: null, deadline: null, overtime: false },
      members: [], hidden: [],
      poll: { question: 'Did tonight help?', choices: ['Yes', 'Not yet'], my_vote: 'Yes', results: closedResults(45000) },
    },
  });
  assert.equal(pollHold(r), 45000);
  assert.equal(r.poll.my_vote, 'Yes');
  assert.equal(r.poll.results.totals[0][1], 3);
});

test('moderated Q&A: others first hear of a question from question_approved; the asker\'s waits (#19)', () => {
  const r = pollRoom();
  applyEvent(r, ev(12, { type: 'phase_started', index: 2, id: 'ask', kind: 'qa', title: 'Questions', prompt: null, deadline: null }));
  assert.equal(moderatedQa(r), true);
  // My own question (`question_asked` goes to me and staff): waiting for a moderator.
  applyEvent(r, ev(13, { type: 'question_asked', question: 40, member: 'm-ana', text: 'Mine?' }));
  const mine = r.questions.find((q) => q.id === 40);
  assert.equal(awaitsModerator(r, mine), true);
  // Ben's question, never seen here, arrives approved with its text, asker and votes.
  applyEvent(r, ev(14, { type: 'question_approved', question: 41, by: 'm-mo', member: 'm-ben', text: 'Sundays?', votes: 2 }));
  const bens = r.questions.find((q) => q.id === 41);
  assert.deepEqual(bens, { id: 41, asker: 'm-ben', text: 'Sundays?', votes: 2, voted: false, approved: true, answered: false });
  assert.deepEqual(r.question_order, [41]);
  // A second approval frame updates the votes and adds nothing twice.
  applyEvent(r, ev(15, { type: 'question_approved', question: 41, by: 'm-mo', member: 'm-ben', text: 'Sundays?', votes: 3 }));
  assert.equal(r.questions.filter((q) => q.id === 41).length, 1);
  assert.equal(bens.votes, 3);
  // Mine approved: no longer waiting, and I am told.
  const said = applyEvent(r, ev(16, { type: 'question_approved', question: 40, by: 'm-mo', member: 'm-ana', text: 'Mine?', votes: 0 }));
  assert.equal(awaitsModerator(r, mine), false);
  assert.deepEqual(said, [{ text: 'A moderator approved your question. Everyone can see it now.', urgent: false }]);
  // A question put on the floor that this page never saw is shown too.
  applyEvent(r, ev(17, { type: 'question_on_floor', question: 42, asker: 'm-ben', text: 'Parking?' }));
  assert.equal(r.questions.find((q) => q.id === 42)?.text, 'Parking?');
  assert.equal(r.current_question, 42);
  // An unmoderated phase: nothing waits for a moderator.
  applyEvent(r, ev(18, { type: 'phase_started', index: 3, id: 'open-qa', kind: 'qa', title: 'Open questions', prompt: null, deadline: null }));
  applyEvent(r, ev(19, { type: 'question_asked', question: 50, member: 'm-ana', text: 'Open?' }));
  assert.equal(moderatedQa(r), false);
  assert.equal(awaitsModerator(r, r.questions.find((q) => q.id === 50)), false);
});

test('budget_warning: staff get one quiet note per member, in words (#20)', () => {
  const r = room();
  const said = applyEvent(r, ev(11, { type: 'budget_warning', member: 'm-ben', used_bytes: 236160, limit_bytes: 262144 }));
  assert.deepEqual(said, [{ text: "Ben has written 90% of their share of this room's record (231 of 256 KiB); past it, what they write is refused.", staff: true }]);
  applyEvent(r, ev(12, { type: 'budget_warning', member: 'm-ben', used_bytes: 250000, limit_bytes: 262144 }));
  assert.equal(r.budgetWarnings.length, 1, 'one note per member, the latest');
  applyEvent(r, ev(13, { type: 'budget_warning', member: null, used_bytes: 60397978, limit_bytes: 67108864 }));
  assert.equal(budgetWarningWords(r, r.budgetWarnings[1]), "This room's record is 90% full (57.6 of 64.0 MiB); once it is full, new texts are refused.");
});

test('poll_closed, over_budget and the hold countdown in plain words', () => {
  assert.equal(errorWords('poll_closed', 'the poll has closed; its results are being shown'), 'The poll has just closed, so that vote was not counted. The results are shown now.');
  assert.equal(errorWords('over_budget', 'you have written your share'), "You have written your share of this room's record; a moderator has been told.");
  assert.equal(reportErrorWords('over_budget', ''), "You have written your share of this room's record; a moderator has been told.");
  assert.equal(countdownWords(25000), '25 s');
  assert.equal(countdownWords(24001), '25 s');
  assert.equal(countdownWords(-5), '0 s');
  assert.equal(countdownWords(125000), '2 min 5 s');
  assert.equal(countdownWords(600000), '10 min');
});
