// A second session in the browser, on a forum-style protocol: a go-round with passing, an
// open floor whose hands carry a stance, and audience questions with up-votes and moderator
// approval, then moderated questions (#19: a question is seen by its asker, marked "waiting for
// a moderator", and by staff until a moderator approves it; other residents first see it then,
// from `question_approved`). Also: the facilitator pauses, resumes and broadcasts, and a
// moderator removes a participant, whose page says so and stops. Assertions are on what each
// page shows.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, api, launch, person, see, notSee, shot, PHONE, DESKTOP } from './lib.mjs';

const DAYTON = 'Dayton, OH';
const BOULDER = 'Boulder, CO';

describe('a forum with a go-round, stances and questions', () => {
  let server;
  let browser;
  const p = {};

  before(async () => {
    server = await startServer();
    browser = await launch();
    const event = await api(server.base, 'POST', '/api/events', {
      title: 'Library Budget Forum',
      protocol: 'web-test-forum',
      communities: [DAYTON, BOULDER],
    });
    const invite = (role, name, community) =>
      api(server.base, 'POST', `/api/events/${event.id}/invites`, { role, name, community });
    // Join order decides the go-round: Ana, then Ben.
    const order = [
      ['fac', 'facilitator', 'Fran', null, DESKTOP],
      ['mod', 'moderator', 'Mo', null, DESKTOP],
      ['ana', 'participant', 'Ana', DAYTON, PHONE],
      ['ben', 'participant', 'Ben', BOULDER, PHONE],
    ];
    for (const [who, role, name, community, device] of order) {
      const inv = await invite(role, name, community);
      p[who] = await person(browser, inv.url, device);
      await see(p[who].page, `You are ${name}`);
    }
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
  });

  it('runs a go-round where a speaker may pass for now', async () => {
    await p.fac.page.getByRole('button', { name: 'Start the session' }).click();
    await see(p.ana.page, 'You have the floor.');
    await see(p.ben.page, 'Ana has the floor.');
    await see(p.ben.page, 'Everyone gets a turn in order.');
    await shot(p.ana.page, 'forum-round-phone');
    await p.ana.page.getByRole('button', { name: 'Pass for now' }).click();
    await see(p.ben.page, 'You have the floor.');
    await p.ben.page.getByRole('button', { name: 'I am done (yield the floor)' }).click();
    // Ana's deferred turn comes back at the end of the round.
    await see(p.ana.page, 'You have the floor.');
    await p.ana.page.getByRole('button', { name: 'Pass', exact: true }).click();
    await notSee(p.ana.page, 'You have the floor.');
    // Everyone has had a turn: the round ends by itself and the open floor begins.
    await see(p.ana.page.locator('#now'), 'Should the library budget grow?');
  });

  it('lets the facilitator pause, resume and broadcast', async () => {
    await p.fac.page.getByRole('button', { name: 'Pause' }).click();
    await see(p.ana.page, 'Paused: the facilitator has stopped the clock');
    await p.fac.page.getByRole('button', { name: 'Resume' }).click();
    await notSee(p.ana.page, 'Paused: the facilitator has stopped the clock');
    await p.fac.page.getByLabel('Message to everyone').fill('Thank you all. Next, the open floor.');
    await p.fac.page.getByLabel('Message to everyone').press('Enter');
    await see(p.ben.page, 'From the facilitator: Thank you all. Next, the open floor.');
  });

  it('offers a vote to move on together when the floor is quiet', async () => {
    await see(p.ana.page, 'Move on together?');
    await p.ana.page.getByRole('button', { name: 'Yes, let us move on' }).click();
    await p.ana.page.getByRole('button', { name: 'Take my vote back' }).waitFor();
    // The running tally is for staff.
    await see(p.mod.page.locator('#moderation'), 'Move-on vote: 1 of 2 agree (100% needed)');
    await see(p.ben.page, 'Move on together?');
    await shot(p.ben.page, 'forum-move-on-phone');
  });

  it('offers a stance choice where the open floor has lanes', async () => {
    await see(p.ana.page, 'Raise your hand as:');
    await shot(p.ana.page, 'forum-stances-phone');
    await p.ana.page.getByRole('button', { name: 'Raise hand: pro' }).click();
    await see(p.ana.page, 'You have the floor.');
    await p.ben.page.getByRole('button', { name: 'Raise hand: con' }).click();
    await see(p.ben.page, 'Your hand is raised (con) — you are next');
    await see(p.mod.page.locator('#queue'), 'con');
  });

  it('takes audience questions: ask, up-vote, approve, answer', async () => {
    await p.fac.page.getByRole('button', { name: /^Next: Questions/ }).click();
    await p.ana.page.getByLabel('Your question for the panel').fill('Will the branch stay open on Sundays?');
    await p.ana.page.getByRole('button', { name: 'Send question' }).click();
    await see(p.ben.page.locator('#extra'), 'Will the branch stay open on Sundays?');
    await see(p.ana.page.locator('#extra'), 'your question');
    await p.ben.page.getByRole('button', { name: 'Up-vote: Will the branch stay open on Sundays?' }).click();
    await see(p.ben.page.locator('#extra'), 'You up-voted this.');
    await see(p.mod.page.locator('#extra'), '1 up-vote');
    await shot(p.ben.page, 'forum-qa-phone');
    await shot(p.mod.page, 'forum-qa-moderator-desktop');
    await p.mod.page.getByRole('button', { name: 'Approve: Will the branch stay open on Sundays?' }).click();
    // The approved question takes the floor, answered by the facilitator.
    await see(p.ana.page.locator('#extra'), 'Now answering: Will the branch stay open on Sundays?');
    await see(p.fac.page, "You have the floor to answer Ana's question.");
    await p.fac.page.getByLabel('Your answer').fill('Yes, on a trial basis this summer.');
    await p.fac.page.locator('#mine').getByRole('button', { name: 'Send', exact: true }).click();
    await see(p.ana.page.locator('#feed'), 'Yes, on a trial basis this summer.');
    await shot(p.fac.page, 'forum-qa-facilitator-desktop');
  });

  it('holds moderated questions for a moderator: the asker sees "waiting", others see them once approved', async () => {
    const ana = p.ana.page;
    const ben = p.ben.page;
    const mod = p.mod.page;
    const qa = 'What will the new hours cost?';
    const qb = 'Can teenagers volunteer at the desk?';
    await p.fac.page.getByRole('button', { name: /^Next: Moderated questions/ }).click();
    await see(ana.locator('#now'), 'a moderator reads each question first');
    await see(ana.locator('#extra'), 'A moderator reads each question before everyone sees it.');
    await ana.getByLabel('Your question for the panel').fill(qa);
    await ana.getByRole('button', { name: 'Send question' }).click();
    await ben.getByLabel('Your question for the panel').fill(qb);
    await ben.getByRole('button', { name: 'Send question' }).click();
    // Sent: the box is empty again (the Questions card re-renders as the question comes back).
    await ben.waitForFunction(() => document.getElementById('ask-text')?.value === '');
    await ana.waitForFunction(() => document.getElementById('ask-text')?.value === '');
    // Each asker sees their own question, waiting; staff see both; neither resident sees the other's.
    const mine = (page, text) => page.locator('#extra .questions li', { hasText: text });
    await see(mine(ana, qa), 'waiting for a moderator');
    await see(mine(ben, qb), 'waiting for a moderator');
    await see(mine(mod, qa), 'residents do not see it yet');
    await see(mine(mod, qb), 'residents do not see it yet');
    assert.equal(await ana.locator('#extra').getByText(qb).count(), 0, 'Ana does not see Ben\'s question before approval');
    assert.equal(await ben.locator('#extra').getByText(qa).count(), 0, 'Ben does not see Ana\'s question before approval');
    await shot(ana, 'forum-moderated-waiting-phone');
    // Approved: Ana's question is answered first (Ben hears of it from `question_approved`).
    await mod.getByRole('button', { name: `Approve: ${qa}` }).click();
    await see(ben.locator('#extra'), `Now answering: ${qa}`);
    await notSee(ana.locator('#extra'), 'waiting for a moderator');
    // Ben's, approved while the first is answered, joins Ana's list with its votes.
    await mod.getByRole('button', { name: `Approve: ${qb}` }).click();
    await see(mine(ana, qb), 'approved');
    await see(mine(ana, qb), '0 up-votes');
    await notSee(mine(ben, qb), 'waiting for a moderator');
    await see(mine(ben, qb), 'approved');
    await ana.getByRole('button', { name: `Up-vote: ${qb}` }).click();
    await see(mine(mod, qb), '1 up-vote');
    await shot(ben, 'forum-moderated-approved-phone');
  });

  it('lets the moderator hide a message from everyone', async () => {
    await p.mod.page.locator('#feed').getByRole('button', { name: /^Hide this message/ }).first().click();
    await notSee(p.ana.page.locator('#feed'), 'Yes, on a trial basis this summer.');
    await see(p.ana.page.locator('#feed'), 'Nothing has been written yet.');
  });

  it('removes a participant, whose page says so and stops', async () => {
    p.mod.page.once('dialog', (d) => d.accept());
    await p.mod.page.getByRole('button', { name: 'Remove Ben from the event' }).click();
    await see(p.ben.page, 'A moderator removed you from this event.');
    await p.ben.page.getByRole('status').filter({ hasText: 'Disconnected' }).waitFor();
    await shot(p.ben.page, 'forum-removed-phone');
    await notSee(p.mod.page.locator('#moderation'), 'Ben');
    assert.equal(await p.ben.page.getByRole('button', { name: 'Reconnect now' }).isVisible(), false);
  });
});
