// Breakout groups as rooms of their own, in real headless Chromium against the real server: four
// participants from two cities are split into groups of two. Each page shows its own group's
// room (its prompt, floor, queue and messages) while keeping a strip of the main hall; a hand
// raised in a group gets that group's floor, and what is said there stays there. The
// facilitator's broadcast reaches everyone, a moderator listens in to a group and sees its
// floor and queue, a call for help names the member and their group, and the recall brings
// everyone back to the hall. Every assertion is on what a page shows (or its live regions
// announce). Screenshots go to web/e2e/screenshots/.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, api, launch, person, see, notSee, shot, recordLive, heard, PHONE, DESKTOP } from './lib.mjs';

const DAYTON = 'Dayton, OH';
const BOULDER = 'Boulder, CO';
const PEOPLE = { ana: ['Ana', DAYTON], dan: ['Dan', DAYTON], ben: ['Ben', BOULDER], bea: ['Bea', BOULDER] };

describe('breakout group rooms in the browser', () => {
  let server;
  let browser;
  const p = {};
  /** Group number (as the pages show it) of each participant, and the groups' members. */
  const groupOf = {};
  let groups;
  let speaker;
  let partner;
  let other;

  before(async () => {
    server = await startServer();
    browser = await launch();
    const event = await api(server.base, 'POST', '/api/events', {
      title: 'River Towns Town Hall',
      protocol: 'web-test-breakout',
      communities: [DAYTON, BOULDER],
    });
    const invite = (role, name, community) =>
      api(server.base, 'POST', `/api/events/${event.id}/invites`, { role, name, community });
    p.fac = await person(browser, (await invite('facilitator', 'Fran', null)).url, DESKTOP);
    p.mod = await person(browser, (await invite('moderator', 'Mo', null)).url, DESKTOP);
    for (const [who, [name, community]] of Object.entries(PEOPLE)) {
      p[who] = await person(browser, (await invite('participant', name, community)).url, PHONE);
    }
    for (const x of Object.values(p)) {
      await x.page.getByRole('status').filter({ hasText: 'Connected' }).waitFor();
      await recordLive(x.page);
    }
  });

  after(async () => {
    if (browser) {
      for (const x of Object.values(p)) {
        if (x.errors.length) console.log(`page errors: ${x.errors.join('\n')}`);
      }
      await browser.close();
    }
    if (server) await server.stop();
  });

  it('opens the groups: each participant sees their own group room and the hall strip', async () => {
    for (const who of Object.keys(PEOPLE)) await see(p[who].page, 'The town hall will begin soon');
    await p.fac.page.getByRole('button', { name: 'Start the session' }).click();
    for (const who of Object.keys(PEOPLE)) {
      const page = p[who].page;
      await see(page.locator('#hall-strip'), /You are in group \d+ with/);
      await page.getByRole('heading', { name: 'Your group', exact: true }).waitFor();
      // The group room's own phase and prompt, not the hall's.
      await see(page.locator('#now'), 'Talk in your group');
      await see(page.locator('#now'), 'What matters most to you about the river?');
      await see(page.locator('#now'), 'Nobody has the floor right now.');
      await page.getByRole('button', { name: 'Raise my hand' }).waitFor();
      await heard(page, 'You are now in your small group');
      const line = await page.locator('#hall-strip .group-line').textContent();
      groupOf[who] = Number(line.match(/group (\d+)/)[1]);
    }
    groups = {};
    for (const [who, n] of Object.entries(groupOf)) (groups[n] ||= []).push(who);
    assert.equal(Object.keys(groups).length, 2, `two groups: ${JSON.stringify(groups)}`);
    for (const members of Object.values(groups)) assert.equal(members.length, 2, JSON.stringify(groups));
    // Each page names its partner, from the group room's members.
    for (const members of Object.values(groups)) {
      const [a, b] = members;
      await see(p[a].page.locator('#now'), `In your group: ${PEOPLE[b][0]}`);
      await see(p[b].page.locator('#now'), `In your group: ${PEOPLE[a][0]}`);
    }
    [speaker, partner] = groups[groupOf.ana];
    other = Object.keys(PEOPLE).find((w) => groupOf[w] !== groupOf.ana);
    // Staff see the groups listed with a way to listen in.
    await see(p.fac.page.locator('#groups'), 'Group 1:');
    await see(p.mod.page.locator('#groups'), 'Group 2:');
    // A phone screen does not scroll sideways.
    const wide = await p[speaker].page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(wide <= 360, `page is ${wide} px wide at 360`);
  });

  it('gives the group floor to a hand raised (by keyboard) in the group; only that group sees what is said', async () => {
    const page = p[speaker].page;
    await page.locator('body').focus();
    let reached = false;
    for (let i = 0; i < 40 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate(() => document.activeElement?.textContent?.trim() === 'Raise my hand');
    }
    assert.ok(reached, 'Tab reaches the "Raise my hand" button in the group');
    await page.keyboard.press('Enter');
    await see(page.locator('#now'), 'You have the floor.');
    const name = PEOPLE[speaker][0];
    await see(p[partner].page.locator('#now'), `${name} has the floor.`);
    await page.getByLabel('What you want to say').fill('The river floods our basements every spring.');
    await page.getByRole('button', { name: 'Send', exact: true }).click();
    await see(p[partner].page.locator('#feed'), 'The river floods our basements every spring.');
    await see(p[partner].page.locator('#feed'), 'What your group said');
    // The other group has its own, empty floor, and never hears it.
    await see(p[other].page.locator('#now'), 'Nobody has the floor right now.');
    assert.equal(await p[other].page.getByText('The river floods our basements').count(), 0);
    assert.equal(await p[other].page.getByText(`${name} has the floor`).count(), 0);
    // The hall's own floor (and its feed) are untouched.
    assert.equal(await p.fac.page.locator('#feed').getByText('The river floods').count(), 0);
  });

  it('delivers the facilitator\'s broadcast to everyone in every group', async () => {
    await p.fac.page.getByLabel(/Message to everyone/).fill('Five more minutes, then we come back together.');
    await p.fac.page.locator('#console').getByRole('button', { name: 'Send', exact: true }).click();
    for (const who of [...Object.keys(PEOPLE), 'mod']) {
      await see(p[who].page.locator('#notices'), 'Five more minutes, then we come back together.');
    }
    // Still in their groups.
    await p[other].page.getByRole('heading', { name: 'Your group', exact: true }).waitFor();
  });

  it('lets a moderator listen in to a group and see its floor and queue, read-only', async () => {
    const n = groupOf[speaker];
    const mod = p.mod.page;
    await mod.getByRole('button', { name: `Listen in to group ${n}` }).click();
    const box = mod.locator('#groups');
    await see(box, 'Listening');
    await see(box, `${PEOPLE[speaker][0]} has the floor.`);
    // The group's snapshot brings what was said before; what is said from now on shows up too.
    await see(box, 'The river floods our basements every spring.');
    await p[speaker].page.getByLabel('What you want to say').fill('We could share a flood warning system.');
    await p[speaker].page.getByRole('button', { name: 'Send', exact: true }).click();
    await see(box, 'We could share a flood warning system.');
    // The partner raises a hand in the group; the moderator sees the group's queue.
    await p[partner].page.getByRole('button', { name: 'Raise my hand' }).click();
    await see(p[partner].page, 'Your hand is raised — you are next');
    await see(box.locator('.g-queue'), PEOPLE[partner][0]);
    // The group can tell someone is listening.
    await see(p[speaker].page.locator('#now'), 'Mo (moderator) is listening in.');
    // Read-only: no floor or queue controls for the group.
    assert.equal(await box.locator('.listened button').count(), 1, 'only "Stop listening"');
    await heard(mod, `You are listening to group ${n}`);
    await shot(mod, 'breakout-moderator-listening-desktop');
    await shot(p[speaker].page, 'breakout-participant-floor-phone');
    await shot(p[partner].page, 'breakout-participant-queued-phone');
  });

  it('tells the facilitators who asked for help, and in which group', async () => {
    const page = p[other].page;
    await page.getByRole('button', { name: 'Ask a facilitator for help' }).click();
    await see(page.locator('#hall-strip'), 'The facilitators know you asked for help.');
    const [name, community] = PEOPLE[other];
    await see(p.fac.page.locator('#moderation'), `${name} (${community}) asked for help (in group ${groupOf[other]})`);
    await heard(p.fac.page, `${name} asked for help`);
    await p.fac.page.getByRole('button', { name: `Listen in to group ${groupOf[other]}` }).first().waitFor();
    await shot(page, 'breakout-participant-other-group-phone');
    await shot(p.fac.page, 'breakout-facilitator-desktop');
  });

  it('lets the moderator stop listening', async () => {
    const n = groupOf[speaker];
    await p.mod.page.getByRole('button', { name: `Stop listening to group ${n}` }).click();
    await p.mod.page.getByRole('button', { name: `Listen in to group ${n}` }).waitFor();
    await notSee(p[speaker].page.locator('#now'), 'is listening in');
  });

  it('lets staff whose page reloaded mid-breakout listen in to a group by its number', async () => {
    const mod = p.mod.page;
    await mod.reload();
    await mod.getByRole('status').filter({ hasText: 'Connected' }).waitFor();
    // The hall tells staff which room each live group is: the groups are listed by number.
    const n = groupOf[speaker];
    const box = mod.locator('#groups');
    await see(box, `Group ${n}:`);
    // The snapshot carries the groups, so who is in each shows before listening in.
    const before = box.locator('li.group', { hasText: `Group ${n}:` });
    for (const who of groups[n]) await see(before, PEOPLE[who][0]);
    await notSee(box, 'listen in to a group to see who is in it');
    await mod.getByRole('button', { name: `Listen in to group ${n}` }).click();
    await see(box, 'Listening');
    await see(box, `${PEOPLE[speaker][0]} has the floor.`);
    const group = box.locator('li.group', { hasText: `Group ${n}:` });
    for (const who of groups[n]) await see(group, PEOPLE[who][0]);
    await shot(mod, 'breakout-moderator-reloaded-desktop');
    await mod.getByRole('button', { name: `Stop listening to group ${n}` }).click();
    await mod.getByRole('button', { name: `Listen in to group ${n}` }).waitFor();
  });

  it('brings a participant whose connection dropped back into their group', async () => {
    const x = p[other];
    await x.context.setOffline(true);
    await x.page.getByRole('status').filter({ hasText: /dropped|Reconnecting/ }).waitFor({ timeout: 40000 });
    await x.context.setOffline(false);
    await x.page.getByRole('status').filter({ hasText: 'Connected' }).waitFor({ timeout: 40000 });
    // The server joins the new connection into the group again, with a fresh group snapshot.
    await x.page.getByRole('heading', { name: 'Your group', exact: true }).waitFor();
    await see(x.page.locator('#now'), 'What matters most to you about the river?');
    await see(x.page.locator('#hall-strip'), `You are in group ${groupOf[other]}`);
    // Commands go to the new connection's group room.
    await x.page.getByRole('button', { name: 'Raise my hand' }).click();
    await see(x.page.locator('#now'), 'You have the floor.');
    const mate = groups[groupOf[other]].find((w) => w !== other);
    await see(p[mate].page.locator('#now'), `${PEOPLE[other][0]} has the floor.`);
  });

  it('recalls the groups: a closing countdown in the hall strip, then everyone is back in the hall', async () => {
    await p.fac.page.getByRole('button', { name: 'Recall groups' }).click();
    for (const who of Object.keys(PEOPLE)) await see(p[who].page.locator('#hall-strip'), 'Groups close in');
    await shot(p[speaker].page, 'breakout-closing-phone');
    for (const who of Object.keys(PEOPLE)) {
      const page = p[who].page;
      await see(page.locator('#now'), 'What did your group find?');
      await page.getByRole('heading', { name: 'Now', exact: true }).waitFor();
      await heard(page, 'You are back in the main hall');
      await see(page.locator('#notices'), 'You are back in the main hall.');
      assert.equal(await page.locator('#hall-strip:visible').count(), 0);
    }
    // The hall's own feed did not collect the groups' messages.
    assert.equal(await p[speaker].page.getByText('The river floods our basements').count(), 0);
    await p.fac.page.locator('#groups').waitFor({ state: 'hidden' });
    await shot(p[speaker].page, 'breakout-back-in-hall-phone');
  });

  it('ran without script errors', () => {
    for (const [who, x] of Object.entries(p)) {
      const real = x.errors.filter((e) => !/WebSocket|ERR_INTERNET_DISCONNECTED|net::/.test(e));
      assert.deepEqual(real, [], `${who} had page errors`);
    }
  });
});
