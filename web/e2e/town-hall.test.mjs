// A town hall in real headless Chromium against the real server: a facilitator, a moderator,
// participants from Dayton and Boulder and an observer, each in their own browser context.
// Hands go up, the floor is granted, a reflect-back turn runs, the moderator reorders (drag and
// drop and keyboard) and mutes, small groups open and return, a poll is answered, the
// connection drops and resumes, and the facilitator ends the session. Every assertion is on
// what a page shows. Screenshots of each role go to web/e2e/screenshots/.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, api, launch, person, see, notSee, shot, PHONE, DESKTOP, WAIT } from './lib.mjs';

const DAYTON = 'Dayton, OH';
const BOULDER = 'Boulder, CO';

describe('a town hall in the browser', () => {
  let server;
  let browser;
  let event;
  const p = {};

  before(async () => {
    server = await startServer();
    browser = await launch();
    event = await api(server.base, 'POST', '/api/events', {
      title: 'Sister Cities Town Hall',
      protocol: 'web-test-hall',
      communities: [DAYTON, BOULDER],
    });
    const invite = (role, name, community) =>
      api(server.base, 'POST', `/api/events/${event.id}/invites`, { role, name, community });
    const links = {
      fac: await invite('facilitator', 'Fran', null),
      mod: await invite('moderator', 'Mo', null),
      ana: await invite('participant', 'Ana', DAYTON),
      ben: await invite('participant', 'Ben', BOULDER),
      bea: await invite('participant', 'Bea', BOULDER),
      obs: await invite('observer', 'Olive', null),
    };
    for (const [who, inv] of Object.entries(links)) {
      // Invite links name the server's base URL; the page is on the same origin.
      assert.match(inv.url, /\/\?token=/);
      const device = who === 'fac' || who === 'mod' ? DESKTOP : PHONE;
      p[who] = await person(browser, inv.url, device);
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

  it('shows each person the event, their role and community, and the agenda', async () => {
    await see(p.ana.page, 'You are Ana · Participant · Dayton, OH');
    await see(p.ben.page, 'You are Ben · Participant · Boulder, CO');
    await see(p.fac.page, 'You are Fran · Facilitator');
    await see(p.mod.page, 'You are Mo · Moderator');
    await see(p.obs.page, 'You are Olive · Observer');
    await p.ana.page.getByRole('heading', { name: 'Sister Cities Town Hall' }).waitFor();
    const agenda = p.ana.page.locator('#agenda');
    for (const title of ['Open floor', 'Small groups', 'Quick poll', 'Closing reflection']) await see(agenda, title);
    await see(p.ana.page, 'The town hall will begin soon');
    await p.ana.page.getByRole('status').filter({ hasText: 'Connected' }).waitFor();
    // The token is kept out of the address bar.
    assert.ok(!p.ana.page.url().includes('token='), p.ana.page.url());
    // Staff see the console and the dashboard; residents do not.
    await p.fac.page.getByRole('heading', { name: 'Facilitator console' }).waitFor();
    await p.fac.page.getByRole('heading', { name: 'Fairness dashboard' }).waitFor();
    await p.mod.page.getByRole('heading', { name: 'Moderation' }).waitFor();
    assert.equal(await p.mod.page.getByRole('heading', { name: 'Facilitator console' }).count(), 0);
    assert.equal(await p.ana.page.getByRole('heading', { name: 'Fairness dashboard' }).count(), 0);
    await shot(p.ana.page, 'participant-waiting-phone');
  });

  it('starts the session and shows the phase prompt to everyone', async () => {
    await p.fac.page.getByRole('button', { name: 'Start the session' }).click();
    for (const who of ['ana', 'ben', 'bea', 'obs', 'mod']) {
      await see(p[who].page.locator('#now'), 'What do you want the other city to understand?');
    }
    await see(p.ana.page.locator('#agenda [aria-current="step"]'), 'Open floor');
  });

  it('gives the floor to the first raised hand and queues the others', async () => {
    await p.ana.page.getByRole('button', { name: 'Raise my hand' }).click();
    await see(p.ana.page, 'You have the floor.');
    await see(p.ben.page, 'Ana has the floor.');
    await see(p.obs.page, 'Ana has the floor.');
    await p.ben.page.getByRole('button', { name: 'Raise my hand' }).click();
    await see(p.ben.page, 'Your hand is raised — you are next');
    await p.bea.page.getByRole('button', { name: 'Raise my hand' }).click();
    await see(p.bea.page, 'Your hand is raised — 2nd in line');
    // The floor change was announced in a live region.
    const live = await p.ben.page.locator('#live-polite, #live-assertive').allTextContents();
    assert.ok(live.join(' ').length > 0, 'a live region announced something');
  });

  it('lets the floor holder speak in text, seen by everyone', async () => {
    await p.ana.page.getByLabel('What you want to say').fill('Our town worries about the plant closing.');
    await p.ana.page.getByRole('button', { name: 'Send', exact: true }).click();
    for (const who of ['ben', 'bea', 'obs', 'fac']) {
      await see(p[who].page.locator('#feed'), 'Our town worries about the plant closing.');
    }
    await shot(p.ana.page, 'participant-floor-phone');
    await shot(p.bea.page, 'participant-queued-phone');
  });

  it('lets the moderator reorder the queue by drag and drop and by keyboard', async () => {
    const queue = p.mod.page.locator('#queue');
    await see(queue, 'Ben');
    await see(queue, 'Bea');
    // Drag Bea onto Ben: Bea goes first.
    await queue.locator('li', { hasText: 'Bea' }).dragTo(queue.locator('li', { hasText: 'Ben' }), {
      sourcePosition: { x: 12, y: 12 },
      targetPosition: { x: 12, y: 12 },
    });
    await see(p.bea.page, 'Your hand is raised — you are next');
    await see(p.ben.page, 'Your hand is raised — 2nd in line');
    await see(queue.locator('li').first(), 'Bea');
    // By keyboard: focus "Move Ben up" and press Enter; Ben goes first again.
    await p.mod.page.getByRole('button', { name: 'Move Ben up' }).focus();
    await p.mod.page.keyboard.press('Enter');
    await see(p.ben.page, 'Your hand is raised — you are next');
    await see(queue.locator('li').first(), 'Ben');
    // Then Bea back to the front with the keyboard as well.
    await p.mod.page.getByRole('button', { name: 'Move Bea up' }).focus();
    await p.mod.page.keyboard.press('Enter');
    await see(p.bea.page, 'Your hand is raised — you are next');
    await shot(p.mod.page, 'moderator-desktop');
  });

  it('runs a reflect-back turn: Bea sums up Ana, Ana confirms', async () => {
    await p.ana.page.getByRole('button', { name: 'I am done (yield the floor)' }).click();
    await see(p.bea.page, 'You have the floor to sum up what Ana said.');
    await see(p.ana.page, 'Bea is summing up what you said.');
    await see(p.ben.page, 'Bea is summing up what Ana said.');
    await shot(p.bea.page, 'participant-reflect-phone');
    await p.bea.page.getByLabel('Your summary').fill('You are worried about jobs if the plant closes.');
    await p.bea.page.getByRole('button', { name: 'Send', exact: true }).click();
    await see(p.ana.page.locator('#feed'), 'You are worried about jobs');
    await p.bea.page.getByRole('button', { name: 'Done summing up' }).click();
    await see(p.ana.page, 'Bea summed up what you said.');
    await see(p.ana.page, 'Did they get it right?');
    await shot(p.ana.page, 'participant-confirm-phone');
    await p.ana.page.getByRole('button', { name: 'Yes, that is right' }).click();
    await see(p.bea.page, 'You have the floor.');
    await see(p.ana.page, 'Bea has the floor.');
  });

  it('lets the moderator mute and unmute, and the participant sees it kindly', async () => {
    await p.mod.page.getByRole('button', { name: 'Mute Ben' }).click();
    await see(p.ben.page, 'Mo (moderator) has muted you for now');
    await see(p.mod.page.locator('#moderation'), 'muted');
    // Staff see who muted (#19).
    await see(p.fac.page.locator('#moderation'), 'muted by Mo');
    // Ben's hand is gone from the queue and he cannot raise it while muted.
    await notSee(p.ben.page, 'Your hand is raised');
    assert.equal(await p.ben.page.getByRole('button', { name: 'Raise my hand' }).count(), 0);
    await shot(p.ben.page, 'participant-muted-phone');
    await p.mod.page.getByRole('button', { name: 'Unmute Ben' }).click();
    await notSee(p.ben.page, 'has muted you for now');
    await p.ben.page.getByRole('button', { name: 'Raise my hand' }).waitFor();
  });

  it('works by keyboard alone: Tab to "Raise my hand", press Enter', async () => {
    const page = p.ana.page;
    await page.locator('body').focus();
    let reached = false;
    for (let i = 0; i < 40 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate(() => document.activeElement?.textContent?.trim() === 'Raise my hand');
    }
    assert.ok(reached, 'Tab reaches the "Raise my hand" button');
    // The focused control has a visible focus ring.
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    assert.notEqual(outline, 'none');
    await page.keyboard.press('Enter');
    await see(page, 'Your hand is raised');
  });

  it('asks before putting anyone on the floor: an invitation to accept or decline', async () => {
    await p.ana.page.getByRole('button', { name: 'Lower my hand' }).click();
    await notSee(p.ana.page, 'Your hand is raised');
    await p.mod.page.getByRole('button', { name: 'Invite Ben to speak' }).click();
    await see(p.ben.page, 'You are invited to speak.');
    await shot(p.ben.page, 'participant-invited-phone');
    await p.ben.page.getByRole('button', { name: 'No, thank you' }).click();
    await notSee(p.ben.page, 'You are invited to speak.');
  });

  it('shows the facilitator a live fairness dashboard', async () => {
    const eq = p.fac.page.locator('#equity');
    await see(eq, 'Speaking time by community');
    await see(eq, DAYTON);
    await see(eq, BOULDER);
    await see(eq, 'Speaking time by person');
    await see(eq, 'Balance (Gini)');
    const notSpoken = eq.locator('h3', { hasText: 'Not spoken yet' });
    await notSpoken.waitFor();
    // Ana had an own turn; Ben has not spoken.
    await see(eq.locator('ul.plain'), 'Ben');
    await shot(p.fac.page, 'facilitator-console-desktop');
  });

  it('opens small groups, shows each person their group, and brings them back', async () => {
    await p.fac.page.getByRole('button', { name: /^Next: Small groups/ }).click();
    for (const who of ['ana', 'ben', 'bea']) await see(p[who].page, /You are in group \d+/);
    // Each group is a room of its own: the page shows the group's conversation, the hall's strip above it.
    await p.ana.page.getByRole('heading', { name: 'Your group', exact: true }).waitFor();
    await see(p.ana.page.locator('#now'), 'What did you hear?');
    await see(p.fac.page, 'Group 1:');
    await shot(p.ana.page, 'participant-breakout-phone');
    await shot(p.fac.page, 'facilitator-breakout-desktop');
    await p.fac.page.getByRole('button', { name: 'Recall groups' }).click();
    // The one-second closing countdown runs out and the hall moves on to the poll.
    await see(p.ana.page.locator('#now'), 'Quick poll', WAIT);
    await notSee(p.ana.page, /You are in group \d+/);
    await see(p.ana.page.locator('#notices'), 'You are back in the main hall.');
  });

  it('takes a poll vote and shows it', async () => {
    await p.ben.page.getByRole('button', { name: 'Hopeful', exact: true }).click();
    await see(p.ben.page, 'Your vote: Hopeful');
    await see(p.fac.page.locator('#extra'), 'Results so far (1 vote)');
    await shot(p.ben.page, 'participant-poll-phone');
  });

  it('says when the connection drops, reconnects and resumes', async () => {
    const page = p.bea.page;
    await p.bea.context.setOffline(true);
    await page.getByRole('status').filter({ hasText: /dropped|Reconnecting|Trying again/ }).waitFor({ timeout: 40000 });
    // An action while offline is answered next to it, in plain words.
    await page.getByRole('button', { name: 'Not sure', exact: true }).click();
    await see(page.locator('#extra [role="alert"]'), 'You are offline right now');
    await shot(page, 'participant-offline-phone');
    // While Bea is away the facilitator moves on; she catches up on resume.
    await p.fac.page.getByRole('button', { name: /^Next: Closing reflection/ }).click();
    await see(p.ana.page.locator('#now'), 'One thing you heard.');
    await p.bea.context.setOffline(false);
    await page.getByRole('status').filter({ hasText: 'Connected' }).waitFor({ timeout: 40000 });
    await see(page.locator('#now'), 'One thing you heard.');
  });

  it('keeps the observer read-only', async () => {
    const page = p.obs.page;
    await see(page.locator('#now'), 'Closing reflection');
    // Reporting a message to the moderators is open to everyone, observers included
    // (docs/wire-protocol.md, "Reports"); nothing else is.
    assert.equal(await page.locator('#app button[data-action]:visible:not([data-action="report_open"])').count(), 0, 'an observer has no action buttons but Report');
    assert.equal(await page.locator('#app textarea').count(), 0);
    await shot(page, 'observer-phone');
  });

  it('shares a reflection note without a name', async () => {
    await p.ben.page.getByLabel(/Your reflection/).fill('I heard how much the plant matters.');
    await p.ben.page.getByRole('button', { name: 'Save note' }).click();
    await see(p.ana.page.locator('#feed'), 'I heard how much the plant matters.');
    await see(p.ana.page.locator('#feed'), 'A shared note');
  });

  it('ends the town hall for everyone', async () => {
    p.fac.page.once('dialog', (d) => d.accept());
    await p.fac.page.getByRole('button', { name: 'End the town hall' }).click();
    for (const who of ['ana', 'ben', 'obs', 'fac']) await see(p[who].page, 'The town hall has ended');
    await shot(p.ana.page, 'participant-ended-phone');
  });

  it('explains a bad invite link and does not retry', async () => {
    const bad = await person(browser, `${server.base}/?token=not-a-real-token`, PHONE);
    await see(bad.page, 'This invite link is not valid');
    await shot(bad.page, 'bad-link-phone');
    const none = await person(browser, `${server.base}/`, PHONE);
    await see(none.page, 'open the invite link you received');
    await bad.context.close();
    await none.context.close();
  });

  it('ran without script errors', () => {
    for (const [who, x] of Object.entries(p)) {
      const real = x.errors.filter((e) => !/WebSocket|ERR_INTERNET_DISCONNECTED|net::/.test(e));
      assert.deepEqual(real, [], `${who} had page errors`);
    }
  });
});
