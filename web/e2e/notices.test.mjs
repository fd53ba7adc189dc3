// Notices that tell the person concerned what happened, and clear themselves, in real headless
// Chromium against the real server (#19): a turn that runs out says "Your time is up" to its
// speaker and keeps what they had typed for their next turn, where it is back in the box; an
// invited member who says yes while someone else speaks sees the card go at once, is next in
// line, and a double click sends no second "yes" (no error); a moderator taking the floor back
// tells the speaker so and keeps their draft; a new broadcast supersedes the previous one; and
// the muted member and staff see who muted. Then an `at_close` poll (#19): its closed results,
// overall and by community, are shown to everyone with "Next part in …" until the facilitator
// moves on (also after a reload), the choices stay disabled, and a vote sent as the poll closed
// (the page heard of the close late) is refused in plain words; a poll with a two-second hold
// moves on by itself. Last, the record budget (#20): a resident who wrote their share is told
// so kindly, and staff get a quiet note. Every assertion is on what a page shows.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, api, launch, person, see, notSee, shot, shotOf, holdEvents, PHONE, DESKTOP, WAIT } from './lib.mjs';

const DAYTON = 'Dayton, OH';
const BOULDER = 'Boulder, CO';

describe('notices for the person concerned, and drafts kept', () => {
  let server;
  let browser;
  const p = {};
  /** Eve's page hears the server's events through a relay that can hold them back. */
  let eveLink;

  before(async () => {
    server = await startServer();
    browser = await launch();
    const event = await api(server.base, 'POST', '/api/events', {
      title: 'Notices Town Hall',
      protocol: 'web-test-notices',
      communities: [DAYTON, BOULDER],
    });
    const invite = async (role, name, community) =>
      (await api(server.base, 'POST', `/api/events/${event.id}/invites`, { role, name, community })).url;
    p.fac = await person(browser, await invite('facilitator', 'Fran', null), DESKTOP);
    p.mod = await person(browser, await invite('moderator', 'Mo', null), DESKTOP);
    p.ana = await person(browser, await invite('participant', 'Ana', DAYTON), PHONE);
    p.ben = await person(browser, await invite('participant', 'Ben', BOULDER), PHONE);
    p.dan = await person(browser, await invite('participant', 'Dan', DAYTON), PHONE);
    p.eve = await person(browser, await invite('participant', 'Eve', DAYTON), PHONE, {
      beforeGoto: async (context) => { eveLink = await holdEvents(context); },
    });
    for (const x of Object.values(p)) await x.page.getByRole('status').filter({ hasText: 'Connected' }).waitFor();
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
  });

  it('says "Your time is up" to the speaker whose turn ran out, and keeps their draft for the next turn', async () => {
    const ana = p.ana.page;
    await p.fac.page.getByRole('button', { name: 'Start the session' }).click();
    await ana.getByRole('button', { name: 'Raise my hand' }).click();
    await see(ana, 'You have the floor.');
    await ana.getByLabel('What you want to say').fill('Half a thought about the bridge');
    // The five-second turn runs out on the server.
    await see(ana.locator('#notices'), 'Your time is up. Thank you.');
    await see(ana.locator('#notices'), 'What you had not sent yet is kept for your next turn.');
    await see(ana.locator('#mine'), 'Your unsent text is kept');
    await see(ana.locator('#mine .draft-text'), 'Half a thought about the bridge');
    // Others are not told.
    await see(p.ben.page, 'Nobody has the floor');
    assert.equal(await p.ben.page.locator('#notices .notice-turn').count(), 0);
    await shot(ana, 'notices-time-up-phone');
    // The next turn puts the draft back in the box, and the notice goes.
    await ana.getByRole('button', { name: 'Raise my hand' }).click();
    await see(ana, 'You have the floor.');
    assert.equal(await ana.getByLabel('What you want to say').inputValue(), 'Half a thought about the bridge');
    assert.equal(await ana.locator('#notices .notice-turn').count(), 0);
    await p.fac.page.getByRole('button', { name: /^Next: Open floor/ }).click();
    await see(ana.locator('#now'), 'Take your time.');
  });

  it('takes an invited member\'s "yes" once: the card goes, they are next, a second click is no error', async () => {
    const ana = p.ana.page;
    const ben = p.ben.page;
    await ana.getByRole('button', { name: 'Raise my hand' }).click();
    await see(ana, 'You have the floor.');
    await p.mod.page.getByRole('button', { name: 'Invite Ben to speak' }).click();
    await see(ben, 'You are invited to speak.');
    await see(p.mod.page.locator('#moderation'), 'Invitation waiting for Ben');
    await ben.getByRole('button', { name: 'Yes, I will speak' }).dblclick();
    await notSee(ben, 'You are invited to speak.');
    await see(ben, 'Your hand is raised — you are next');
    await notSee(p.mod.page.locator('#moderation'), 'Invitation waiting for Ben');
    // No refusal anywhere on Ben's page.
    assert.equal((await ben.locator('#mine-err').textContent()).trim(), '');
    assert.equal(await ben.locator('#notices .notice-error').count(), 0);
  });

  it('tells the speaker "A moderator ended your turn" and keeps what they were typing', async () => {
    const ana = p.ana.page;
    await ana.getByLabel('What you want to say').fill('And one more thing');
    await p.mod.page.getByRole('button', { name: 'Take the floor back' }).click();
    await see(ana.locator('#notices'), 'A moderator ended your turn.');
    await see(ana.locator('#mine .draft-text'), 'And one more thing');
    await see(p.ben.page, 'You have the floor.');
    assert.equal(await p.ben.page.locator('#notices .notice-turn').count(), 0);
    await shot(ana, 'notices-revoked-phone');
    // Discarding the draft removes it.
    await ana.getByRole('button', { name: 'Discard it' }).click();
    await notSee(ana.locator('#mine'), 'Your unsent text is kept');
  });

  it('shows only the latest broadcast: a new one supersedes the old', async () => {
    const fac = p.fac.page;
    await fac.getByLabel(/Message to everyone/).fill('Ten minutes left tonight.');
    await fac.getByLabel(/Message to everyone/).press('Enter');
    await see(p.dan.page.locator('#notices'), 'Ten minutes left tonight.');
    await fac.getByLabel(/Message to everyone/).fill('Five minutes left tonight.');
    await fac.getByLabel(/Message to everyone/).press('Enter');
    await see(p.dan.page.locator('#notices'), 'Five minutes left tonight.');
    await notSee(p.dan.page.locator('#notices'), 'Ten minutes left tonight.');
    assert.equal(await p.dan.page.locator('#notices .notice-broadcast').count(), 1);
  });

  it('tells the muted member and staff who muted', async () => {
    await p.mod.page.getByRole('button', { name: 'Mute Dan' }).click();
    await see(p.dan.page.locator('#mine'), 'Mo (moderator) has muted you for now');
    await see(p.fac.page.locator('#moderation'), 'muted by Mo');
    await shot(p.dan.page, 'notices-muted-by-phone');
  });

  it('shows a closed poll\'s results to everyone with a countdown to the next part; a late vote is refused kindly', async () => {
    const fac = p.fac.page;
    const voteButtons = (who) => p[who].page.locator('#extra button[data-action="vote"]');
    await fac.getByRole('button', { name: /^Next: Quick poll/ }).click();
    for (const who of ['ana', 'dan', 'eve']) await see(p[who].page.locator('#extra'), 'Did tonight help?');
    await see(p.ana.page.locator('#extra'), 'Results are shown when the poll closes.');
    await see(fac.locator('#console'), 'Next closes the poll: everyone sees its results for 10 minutes');
    // Three voters from Dayton, so Dayton gets a breakdown of its own.
    await p.ana.page.getByRole('button', { name: 'Yes', exact: true }).click();
    await see(p.ana.page.locator('#extra'), 'Your vote: Yes');
    await p.dan.page.getByRole('button', { name: 'Yes', exact: true }).click();
    await see(p.dan.page.locator('#extra'), 'Your vote: Yes');
    await p.eve.page.getByRole('button', { name: 'Not yet', exact: true }).click();
    await see(p.eve.page.locator('#extra'), 'Your vote: Not yet');
    await see(fac.locator('#extra'), 'Results so far (3 votes)');
    // Eve's page will hear of the close late, as on a slow link.
    eveLink.hold();
    await fac.getByRole('button', { name: /^Next: Second poll/ }).click();
    for (const who of ['ana', 'ben', 'dan', 'mod', 'fac']) {
      const extra = p[who].page.locator('#extra');
      await see(extra, 'The poll has closed.');
      await see(extra, 'Results (3 votes)');
      await see(extra, 'Next part in');
      await see(extra.locator('.poll-results h4'), DAYTON);
    }
    // `until` is ten minutes after the close; the countdown says it in words.
    const left = await p.ana.page.locator('#extra .poll-closed [role="timer"]').textContent();
    assert.match(left, /^\d+ min( \d+ s)?$/);
    assert.equal(await p.ana.page.locator('#now').getByText('Time left for this part').count(), 0, 'the hold has no phase deadline');
    // The choices stay, disabled, for voters and non-voters alike.
    for (const who of ['ana', 'ben']) {
      assert.equal(await voteButtons(who).count(), 2);
      assert.equal(await p[who].page.locator('#extra button[data-action="vote"]:not([disabled])').count(), 0, `${who}'s choices are disabled`);
    }
    await see(p.ana.page.locator('#extra'), 'Voting has closed. Your vote: Yes');
    await see(fac.locator('#console'), "The poll's results are showing to everyone.");
    assert.equal(await fac.getByRole('button', { name: '+1 min to this part' }).isDisabled(), true);
    await shotOf(p.ana.page.locator('#extra'), 'notices-poll-closed-phone');
    // Eve, who has not heard yet, changes her vote: the server refuses it (`poll_closed`), and
    // she reads why in plain words.
    await p.eve.page.getByRole('button', { name: 'Yes', exact: true }).click();
    await see(p.eve.page.locator('#extra-err'), 'The poll has just closed, so that vote was not counted.');
    assert.ok(!(await p.eve.page.locator('#extra-err').textContent()).includes('poll_closed'));
    eveLink.release();
    await see(p.eve.page.locator('#extra'), 'The poll has closed.');
    await see(p.eve.page.locator('#extra'), 'Voting has closed. Your vote: Not yet');
    assert.equal(await p.eve.page.locator('#extra button[data-action="vote"]:not([disabled])').count(), 0);
    await shotOf(p.eve.page.locator('#extra'), 'notices-poll-late-vote-phone');
    // A reload during the hold: the snapshot carries the closed results and when they end.
    await p.ben.page.reload();
    await see(p.ben.page.locator('#extra'), 'Results (3 votes)');
    await see(p.ben.page.locator('#extra'), 'Next part in');
    await see(p.ben.page.locator('#extra .poll-results h4'), DAYTON);
    assert.equal(await p.ben.page.locator('#extra button[data-action="vote"]:not([disabled])').count(), 0);
    // The facilitator moves on before the ten minutes are up.
    await fac.getByRole('button', { name: /^Next: Second poll/ }).click();
    for (const who of ['ana', 'ben', 'eve']) await see(p[who].page.locator('#extra'), 'Would you come again?');
    await notSee(p.ana.page.locator('#extra'), 'Next part in');
  });

  it('moves on by itself when a poll\'s short hold is over', async () => {
    await p.ana.page.getByRole('button', { name: 'Yes', exact: true }).click();
    await see(p.ana.page.locator('#extra'), 'Your vote: Yes');
    // Closing this poll shows its results for two seconds; nobody presses Next again.
    await p.fac.page.getByRole('button', { name: /^Next: Private notes/ }).click();
    for (const who of ['ana', 'ben', 'fac']) await see(p[who].page.locator('#now'), 'Write down what you want to remember.');
  });

  it('tells a resident who wrote their share of the record, and gives staff a quiet note', async () => {
    const ben = p.ben.page;
    // 2,000 characters of three UTF-8 bytes each: a share of 256 KiB takes about 42 notes.
    const text = '€'.repeat(2000);
    const box = ben.getByLabel(/Your reflection/);
    let error = '';
    for (let i = 0; i < 80 && !error; i++) {
      await box.fill(text);
      await ben.getByRole('button', { name: 'Save note' }).click();
      // Saved (the box empties) or refused (the reason shows, the text stays).
      await ben.waitForFunction(() => document.getElementById('note-text')?.value === '' || document.getElementById('mine-err')?.textContent !== '');
      error = (await ben.locator('#mine-err').textContent()).trim();
    }
    assert.equal(error, "You have written your share of this room's record; a moderator has been told.");
    assert.equal(await box.inputValue(), text, 'the refused note is still in the box');
    await shotOf(ben.locator('#mine'), 'notices-over-budget-phone');
    // Staff were told when Ben passed 90 % of his share: a quiet note, with how full it is.
    for (const who of ['mod', 'fac']) {
      await see(p[who].page.locator('#moderation .budget-note'), /Ben has written 9\d% of their share of this room's record \(2\d\d of 256 KiB\)/);
    }
    await shotOf(p.mod.page.locator('#moderation .budget-notes'), 'notices-budget-note-desktop');
    await p.mod.page.locator('#moderation .budget-note').getByRole('button', { name: 'Dismiss this note' }).click();
    await notSee(p.mod.page.locator('#moderation'), 'Ben has written');
    // Residents see nothing of it.
    assert.equal(await p.ana.page.getByText('share of this room').count(), 0);
  });

  it('ran without script errors', () => {
    for (const [who, x] of Object.entries(p)) {
      const real = x.errors.filter((e) => !/WebSocket|ERR_INTERNET_DISCONNECTED|net::/.test(e));
      assert.deepEqual(real, [], `${who} had page errors`);
    }
  });
});
