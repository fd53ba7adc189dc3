// Unit tests of the client's room model (web/js/store.js) and helpers (web/js/util.js), run in
// node without a browser: events applied in order, resume overlap ignored, deadlines shifted
// on resume, stances kept across reorders, breakout groups found, plain-language wording.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { emptyRoom, applySnapshot, applyEvent, floorSentence } from '../js/store.js';
import { clock, ordinal, errorWords, spokenDuration } from '../js/util.js';

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
