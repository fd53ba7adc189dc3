// Join links in real headless Chromium against the real server (#18): a resident opens the
// organizer's join link on a 360 px phone, is told plainly what is wrong with an empty name,
// enters a name with the keyboard and lands in the town hall as that member of the link's
// community; a reload, and opening the link again later in the same browser, resume the same
// member (no second seat is taken); a stored token the server refuses is forgotten. A link that leaves the community open offers the choice
// as a labelled radio group; a used-up link says so. The page passes axe-core and does not
// scroll sideways at 360 px. Every assertion is on what a page shows or on the server's
// counts.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { startServer, api, launch, person, see, shot, PHONE, WAIT } from './lib.mjs';

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const DAYTON = 'Dayton, OH';
const BOULDER = 'Boulder, CO';

describe('join links', () => {
  let server;
  let browser;
  let event;
  const links = {};

  const uses = async (id) => (await api(server.base, 'GET', `/api/events/${event.id}/links`)).links.find((l) => l.id === id).uses;
  const token = (page) => page.evaluate(() => sessionStorage.getItem('commonground.token'));

  before(async () => {
    server = await startServer();
    browser = await launch();
    event = await api(server.base, 'POST', '/api/events', {
      title: 'Join Link Town Hall',
      protocol: 'web-test-hall',
      communities: [DAYTON, BOULDER],
    });
    const link = (body) => api(server.base, 'POST', `/api/events/${event.id}/links`, body);
    links.dayton = await link({ community: DAYTON, label: 'Dayton residents' });
    links.open = await link({});
    links.one = await link({ community: BOULDER, max_uses: 1 });
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
  });

  it('takes a name, opens the town hall as that member, and a reload or a second visit is the same member', async () => {
    const { context, page, errors } = await person(browser, links.dayton.url, PHONE);
    await page.getByRole('heading', { name: 'Join the town hall' }).waitFor();
    await see(page, 'Join Link Town Hall');
    await see(page, `You join with ${DAYTON}.`);
    const name = page.getByLabel('Your name, as others will see it');
    // The page puts the cursor in the name field; Enter on an empty one explains what is missing.
    await page.waitForFunction(() => document.activeElement?.id === 'join-name');
    await page.keyboard.press('Enter');
    await see(page, 'Please enter the name others will see.');
    assert.equal(await name.getAttribute('aria-invalid'), 'true');
    assert.equal(await uses(links.dayton.id), 0, 'a refused form takes no seat');
    const wide = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(wide <= 360, `no sideways scrolling at 360 px (${wide})`);
    await shot(page, 'join-form-phone');

    await page.keyboard.type('  Ana Join  ');
    await page.keyboard.press('Enter');
    await page.getByRole('status').filter({ hasText: 'Connected' }).waitFor();
    await see(page.locator('.whoami'), 'Ana Join');
    await see(page.locator('.whoami'), DAYTON);
    assert.equal(new URL(page.url()).search, '', 'the token is not left in the address bar');
    const first = await token(page);
    assert.ok(first, 'the town hall page holds the token');
    const stored = await page.evaluate((e) => JSON.parse(localStorage.getItem(`commonground.member.${e}`)), event.id);
    assert.equal(stored.token, first);
    assert.equal(stored.name, 'Ana Join');
    assert.equal(await uses(links.dayton.id), 1);
    await shot(page, 'join-landed-phone');

    // Reload: the same member.
    await page.reload();
    await page.getByRole('status').filter({ hasText: 'Connected' }).waitFor();
    await see(page.locator('.whoami'), 'Ana Join');
    assert.equal(await token(page), first);

    // Later, the link again in a new tab of the same browser: straight back in, no new member.
    const again = await context.newPage();
    again.setDefaultTimeout(WAIT);
    await again.goto(links.dayton.url);
    await again.getByRole('status').filter({ hasText: 'Connected' }).waitFor();
    await see(again.locator('.whoami'), 'Ana Join');
    assert.equal(await token(again), first);
    assert.equal(await uses(links.dayton.id), 1, 'no second seat');
    assert.deepEqual(errors, []);
    await context.close();
  });

  it('forgets a stored token the server refuses, so the link makes a new member next time', async () => {
    const invite = await api(server.base, 'POST', `/api/events/${event.id}/invites`, { role: 'participant', name: 'Old', community: DAYTON });
    const t = invite.token;
    const forged = t.slice(0, -2) + (t.endsWith('AA') ? 'BB' : 'AA');
    const { context, page } = await person(browser, links.dayton.url, PHONE);
    await page.getByLabel('Your name, as others will see it').waitFor();
    await page.evaluate(([e, tok]) => localStorage.setItem(`commonground.member.${e}`, JSON.stringify({ token: tok, name: 'Old' })), [event.id, forged]);
    await page.goto(links.dayton.url);
    await see(page, 'This invite link is not valid any more');
    assert.equal(await page.evaluate((e) => localStorage.getItem(`commonground.member.${e}`), event.id), null);
    await page.goto(links.dayton.url);
    await page.getByLabel('Your name, as others will see it').waitFor();
    await context.close();
  });

  it('lets a resident choose their community from a labelled radio group, with the keyboard', async () => {
    const { context, page, errors } = await person(browser, links.open.url, PHONE);
    const group = page.getByRole('group', { name: 'Your community' });
    await group.waitFor();
    await page.getByLabel('Your name, as others will see it').fill('Bo Open');
    await page.keyboard.press('Enter');
    await see(page, 'Please choose your community.');
    assert.equal(await uses(links.open.id), 0);
    await page.getByRole('radio', { name: BOULDER }).check();
    await page.getByRole('button', { name: 'Join' }).click();
    await page.getByRole('status').filter({ hasText: 'Connected' }).waitFor();
    await see(page.locator('.whoami'), 'Bo Open');
    await see(page.locator('.whoami'), BOULDER);
    assert.equal(await uses(links.open.id), 1);
    assert.deepEqual(errors, []);
    await context.close();
  });

  it('says plainly when a link is used up, and the page passes axe-core', async () => {
    const first = await person(browser, links.one.url, PHONE);
    await first.page.getByLabel('Your name, as others will see it').fill('Cy One');
    await first.page.getByRole('button', { name: 'Join' }).click();
    await first.page.getByRole('status').filter({ hasText: 'Connected' }).waitFor();
    await first.context.close();

    const context = await browser.newContext({ ...PHONE, bypassCSP: true, reducedMotion: 'reduce' });
    const page = await context.newPage();
    page.setDefaultTimeout(WAIT);
    await page.goto(links.one.url);
    await see(page, 'used as often as the organizers allowed');
    assert.equal(await page.locator('#join-form').isHidden(), true);

    // The form itself, checked by axe-core (the strict CSP is bypassed only to inject it).
    await page.goto(links.open.url);
    await page.getByRole('group', { name: 'Your community' }).waitFor();
    await page.keyboard.press('Enter');
    await see(page, 'Please enter the name others will see.');
    await page.addScriptTag({ content: AXE });
    const result = await page.evaluate(async () => {
      // eslint-disable-next-line no-undef
      const r = await axe.run(document, { resultTypes: ['violations'] });
      return r.violations.map((v) => ({ id: v.id, help: v.help, nodes: v.nodes.map((n) => n.html).slice(0, 3) }));
    });
    assert.deepEqual(result, [], `axe-core violations:\n${JSON.stringify(result, null, 2)}`);
    await context.close();
  });
});
