// Notices that tell the person concerned what happened, and clear themselves, in real headless
// Chromium against the real server (#19): a turn that runs out says "Your time is up" to its
// speaker and keeps what they had typed for their next turn, where it is back in the box; an
// invited member who says yes while someone else speaks sees the card go at once, is next in
// line, and a double click sends no second "yes" (no error); a moderator taking the floor back
// tells the speaker so and keeps their draft; a new broadcast supersedes the previous one; and
// the muted member and staff see who muted. Every assertion is on what a page shows.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, api, launch, person, see, notSee, shot, PHONE, DESKTOP, WAIT } from './lib.mjs';

const DAYTON = 'Dayton, OH';
const BOULDER = 'Boulder, CO';

describe('notices for the person concerned, and drafts kept', () => {
  let server;
  let browser;
  const p = {};

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

  it('ran without script errors', () => {
    for (const [who, x] of Object.entries(p)) {
      const real = x.errors.filter((e) => !/WebSocket|ERR_INTERNET_DISCONNECTED|net::/.test(e));
      assert.deepEqual(real, [], `${who} had page errors`);
    }
  });
});
