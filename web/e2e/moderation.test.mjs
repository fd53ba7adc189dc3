// Reports, word-list flags, the message history and moving people between groups, in real
// headless Chromium against the real server (started with a word list): a participant reports a
// message and the moderator, told live, hides it (it disappears for everyone); another report,
// about a person and sent by keyboard, is dismissed; a flagged message reaches only the staff,
// who clear one flag and hide another message; a reloaded page and a late joiner see what was
// said before; in small groups a facilitator moves a participant to another group, and a
// moderator listens in to a group by its room id, without visiting the others; a report filed in
// a group nobody listens to reaches the moderator anyway, who listens in with one click and
// hides the message. Every assertion
// is on what a page shows (or its live regions announce). Screenshots go to web/e2e/screenshots/.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, api, launch, person, see, notSee, shot, shotOf, recordLive, heard, PHONE, DESKTOP } from './lib.mjs';

const DAYTON = 'Dayton, OH';
const BOULDER = 'Boulder, CO';
const PEOPLE = { ana: ['Ana', DAYTON], ben: ['Ben', BOULDER], dan: ['Dan', DAYTON], bea: ['Bea', BOULDER] };

const M1 = 'Boulder never listens to anyone.';
const M2 = 'I am tired of waiting for the bridge.';
const M3 = 'Some folks told us to go home, and that hurt.';
const M4 = 'Honestly that was an idiot plan.';

/** The feed entry of a message on a page. */
const entry = (page, text) => page.locator('#feed li', { hasText: text });

/** Records whether `text` ever appears in `#now` (a staff member passing through a group). */
async function watchNow(page, text) {
  await page.evaluate((t) => {
    window.__sawInNow = false;
    const check = () => {
      if (document.getElementById('now')?.textContent.includes(t)) window.__sawInNow = true;
    };
    new MutationObserver(check).observe(document.getElementById('now'), { childList: true, subtree: true, characterData: true });
    check();
  }, text);
}

describe('reports, flags, history and moving people in the browser', () => {
  let server;
  let browser;
  let event;
  const p = {};
  let invite;

  before(async () => {
    server = await startServer({ wordList: ['go home', 'idiot'] });
    browser = await launch();
    event = await api(server.base, 'POST', '/api/events', {
      title: 'Two Rivers Town Hall',
      protocol: 'web-test-hall',
      communities: [DAYTON, BOULDER],
    });
    invite = (role, name, community) =>
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

  async function say(text) {
    await p.ana.page.getByLabel('What you want to say').fill(text);
    await p.ana.page.getByRole('button', { name: 'Send', exact: true }).click();
    await see(p.ben.page.locator('#feed'), text);
  }

  it('lets a participant report a message; the moderator is told live and hides it for everyone', async () => {
    await p.fac.page.getByRole('button', { name: 'Start the session' }).click();
    await p.ana.page.getByRole('button', { name: 'Raise my hand' }).click();
    await see(p.ana.page.locator('#now'), 'You have the floor.');
    await say(M1);
    await see(p.mod.page.locator('#moderation'), 'No open reports.');

    // Ben reports it: a small form opens under the message, its reason field focused.
    const ben = p.ben.page;
    await entry(ben, M1).getByRole('button', { name: 'Report this message from Ana' }).click();
    const reason = entry(ben, M1).getByLabel('Why? (only moderators see this)');
    await reason.waitFor();
    assert.ok(await reason.evaluate((el) => el === document.activeElement), 'the reason field has focus');
    // An empty reason is refused in the form itself.
    await entry(ben, M1).getByRole('button', { name: 'Send report' }).click();
    await see(entry(ben, M1), 'Please say in a few words what is wrong.');
    await reason.fill('mocks the other city');
    await shot(ben, 'moderation-participant-report-form-phone');
    const wide = await ben.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(wide <= 360, `the participant's page is ${wide} px wide at 360`);
    await entry(ben, M1).getByRole('button', { name: 'Send report' }).click();
    await see(entry(ben, M1), 'Thank you. The moderators will look at this message.');
    // Participants never see reports.
    assert.equal(await p.ana.page.getByText('mocks the other city').count(), 0);

    const mod = p.mod.page;
    const box = mod.locator('#moderation');
    await see(box, 'Reports (1 open)');
    const item = box.locator('.reports li', { hasText: 'Ben' });
    await see(item, 'Ben reported a message by Ana');
    await see(item, `“${M1}”`);
    await see(item, 'mocks the other city');
    await heard(mod, 'New report from Ben about a message by Ana: mocks the other city');

    await item.getByRole('button', { name: 'Hide message' }).click();
    for (const who of ['ana', 'ben', 'dan', 'bea']) await notSee(p[who].page.locator('#feed'), M1);
    await see(box, 'Reports (0 open)');
    await see(box, 'the message was hidden');
    await heard(mod, 'You closed the report about a message by Ana: the message was hidden');
    await heard(p.fac.page, 'Mo closed the report about a message by Ana: the message was hidden');
  });

  it('takes a report about a person by keyboard; a flagged message reaches only the staff; the moderator dismisses the report', async () => {
    await say(M2);
    // Escape closes an open form and gives focus back to its Report button.
    const dan = p.dan.page;
    await entry(dan, M2).getByRole('button', { name: 'Report this message from Ana' }).click();
    await entry(dan, M2).getByLabel('Why? (only moderators see this)').waitFor();
    await dan.keyboard.press('Escape');
    await entry(dan, M2).locator('form').waitFor({ state: 'detached' });
    assert.equal(await dan.evaluate(() => document.activeElement?.textContent), 'Report');

    const bea = p.bea.page;
    await entry(bea, M2).getByRole('button', { name: 'Report this message from Ana' }).focus();
    await bea.keyboard.press('Enter');
    const reason = entry(bea, M2).getByLabel('Why? (only moderators see this)');
    await reason.waitFor();
    // Back to the choice of what to report, then the arrow key picks "How Ana is behaving".
    await bea.keyboard.press('Shift+Tab');
    await bea.keyboard.press('ArrowDown');
    assert.ok(await entry(bea, M2).getByLabel('How Ana is behaving').isChecked());
    await bea.keyboard.press('Tab');
    await bea.keyboard.type('keeps talking over people');
    await bea.keyboard.press('Enter');
    await see(entry(bea, M2), 'Thank you. The moderators will look at how Ana is behaving.');

    const mod = p.mod.page;
    const box = mod.locator('#moderation');
    await see(box, 'Bea reported Ana (Dayton, OH).');
    await heard(mod, 'New report from Bea about Ana: keeps talking over people');

    // A message with a word from the list: delivered as usual, flagged for staff only.
    await say(M3);
    await see(box, 'Flagged for review (1)');
    const flag = box.locator('.flags li', { hasText: M3 });
    await see(flag, 'go home');
    await heard(mod, 'was flagged for review (go home)');
    await see(p.fac.page.locator('#moderation'), 'Flagged for review (1)');
    for (const who of ['ben', 'dan', 'bea']) {
      await see(p[who].page.locator('#feed'), M3);
      assert.equal(await p[who].page.getByText('Flagged').count(), 0, `${who} sees no flag`);
    }
    await shot(mod, 'moderation-moderator-reports-desktop');
    await mod.setViewportSize({ width: 360, height: 780 });
    const wide = await mod.evaluate(() => document.documentElement.scrollWidth);
    await shot(mod, 'moderation-moderator-reports-phone');
    await shotOf(box, 'moderation-moderator-reports-card-phone');
    await mod.setViewportSize(DESKTOP.viewport);
    assert.ok(wide <= 360, `the moderator's page is ${wide} px wide at 360`);

    await box.locator('.reports li', { hasText: 'Bea' }).getByRole('button', { name: 'Dismiss the report from Bea' }).click();
    await see(box, 'Reports (0 open)');
    await heard(mod, 'You closed the report about Ana: dismissed');
    // Ana is not muted: a dismissed report changes nothing.
    await see(p.ana.page.locator('#now'), 'You have the floor.');
  });

  it('lets the moderator clear a flag, or hide the flagged message', async () => {
    const mod = p.mod.page;
    const box = mod.locator('#moderation');
    await box.getByRole('button', { name: 'Clear the flag on the message from Ana (Dayton, OH)' }).click();
    await see(box, 'No messages flagged by the word list.');
    // Clearing a flag is the moderator's own note: the message stays.
    await see(p.ben.page.locator('#feed'), M3);

    await say(M4);
    const flag = box.locator('.flags li', { hasText: M4 });
    await see(flag, 'idiot');
    await flag.getByRole('button', { name: 'Hide message' }).click();
    for (const who of ['ana', 'ben', 'dan', 'bea']) await notSee(p[who].page.locator('#feed'), M4);
    await see(box, 'No messages flagged by the word list.');
  });

  it('shows earlier messages to a reloaded page and to a late joiner, without hidden ones', async () => {
    const dan = p.dan.page;
    await dan.reload();
    await dan.getByRole('status').filter({ hasText: 'Connected' }).waitFor();
    await see(dan.locator('#feed'), M2);
    await see(dan.locator('#feed'), M3);
    assert.equal(await dan.getByText(M1).count(), 0);
    assert.equal(await dan.getByText(M4).count(), 0);
    // Oldest first.
    const texts = await dan.locator('#feed .feed-text').allTextContents();
    assert.deepEqual(texts, [M2, M3]);
    // A live message after the history is shown once.
    await say('One more thought before the groups.');
    await see(dan.locator('#feed'), 'One more thought before the groups.');
    assert.equal(await dan.locator('#feed li', { hasText: 'One more thought' }).count(), 1);
    await recordLive(dan);

    p.olive = await person(browser, (await invite('observer', 'Olive', null)).url, PHONE);
    const olive = p.olive.page;
    await olive.getByRole('status').filter({ hasText: 'Connected' }).waitFor();
    await see(olive.locator('#feed'), M2);
    await see(olive.locator('#feed'), M3);
    assert.equal(await olive.getByText(M1).count(), 0);
    // Observers can report too.
    await entry(olive, M3).getByRole('button', { name: 'Report this message from Ana' }).waitFor();
    await shot(olive, 'moderation-observer-history-phone');
    await shot(dan, 'moderation-participant-history-phone');
  });

  let groupOf;
  it('lets the facilitator move a participant to another group; the move shows on their page', async () => {
    const fac = p.fac.page;
    await p.ana.page.getByRole('button', { name: 'I am done (yield the floor)' }).click();
    await fac.getByRole('button', { name: 'Next: Small groups' }).click();
    groupOf = {};
    for (const who of Object.keys(PEOPLE)) {
      const page = p[who].page;
      await see(page.locator('#hall-strip'), /You are in group \d+ with/);
      await page.getByRole('heading', { name: 'Your group', exact: true }).waitFor();
      groupOf[who] = Number((await page.locator('#hall-strip .group-line').textContent()).match(/group (\d+)/)[1]);
    }
    const from = groupOf.ana;
    const to = from === 1 ? 2 : 1;
    const card = fac.locator('#groups');
    const mine = card.locator('li.group', { hasText: `Group ${from}:` });
    // Without a choice, the error shows in that group.
    await mine.getByRole('button', { name: 'Move Ana to the chosen group' }).click();
    await see(mine, 'Choose the group to move Ana to first.');
    await shot(fac, 'moderation-facilitator-groups-desktop');
    await mine.getByRole('combobox', { name: 'Move Ana to' }).selectOption(String(to - 1));
    await mine.getByRole('button', { name: 'Move Ana to the chosen group' }).click();
    await see(p.ana.page.locator('#hall-strip'), `You are in group ${to} with`);
    await heard(p.ana.page, `You are now in group ${to}`);
    const mates = Object.keys(PEOPLE).filter((w) => w !== 'ana' && groupOf[w] === to);
    for (const w of mates) {
      await see(p.ana.page.locator('#now'), PEOPLE[w][0]);
      await see(p[w].page.locator('#now'), 'Ana');
    }
    await see(card.locator('li.group', { hasText: `Group ${to}:` }), 'Ana (Dayton, OH)');
    await notSee(card.locator('li.group', { hasText: `Group ${from}:` }).locator('p').first(), 'Ana');
    groupOf.ana = to;
    await fac.setViewportSize({ width: 360, height: 780 });
    const wide = await fac.evaluate(() => document.documentElement.scrollWidth);
    await shot(fac, 'moderation-facilitator-groups-phone');
    await shotOf(card, 'moderation-facilitator-groups-card-phone');
    await fac.setViewportSize(DESKTOP.viewport);
    assert.ok(wide <= 360, `the facilitator's page is ${wide} px wide at 360`);
    await shot(p.ana.page, 'moderation-participant-moved-phone');
  });

  it('lets a moderator listen in to a group directly: the other group never sees staff pass through', async () => {
    const n = groupOf.ana;
    const others = Object.keys(PEOPLE).filter((w) => groupOf[w] !== n);
    assert.ok(others.length > 0, JSON.stringify(groupOf));
    for (const w of others) await watchNow(p[w].page, 'is listening in');
    const mod = p.mod.page;
    await mod.getByRole('button', { name: `Listen in to group ${n}` }).click();
    await see(mod.locator('#groups'), 'Listening');
    await heard(mod, `You are listening to group ${n}`);
    await see(p.ana.page.locator('#now'), 'Mo (moderator) is listening in.');
    // A report in a group reaches the moderator listening to it, marked with the group.
    const ana = p.ana.page;
    await ana.getByRole('button', { name: 'Raise my hand' }).click();
    await see(ana.locator('#now'), 'You have the floor.');
    await ana.getByLabel('What you want to say').fill('Our group is wasting time.');
    await ana.getByRole('button', { name: 'Send', exact: true }).click();
    const mate = Object.keys(PEOPLE).find((w) => w !== 'ana' && groupOf[w] === n);
    const page = p[mate].page;
    await entry(page, 'Our group is wasting time.').getByRole('button', { name: 'Report this message from Ana' }).click();
    await entry(page, 'Our group is wasting time.').getByLabel('Why? (only moderators see this)').fill('dismissive of the group');
    await entry(page, 'Our group is wasting time.').getByRole('button', { name: 'Send report' }).click();
    await see(entry(page, 'Our group is wasting time.'), 'Thank you.');
    const item = mod.locator('#moderation .reports li', { hasText: 'dismissive of the group' });
    await see(item, `in group ${n}`);
    await see(item, '“Our group is wasting time.”');
    await item.getByRole('button', { name: 'Hide message' }).click();
    await notSee(page.locator('#feed'), 'Our group is wasting time.');
    await see(mod.locator('#moderation'), 'Reports (0 open)');
    await mod.getByRole('button', { name: `Stop listening to group ${n}` }).click();
    await notSee(p.ana.page.locator('#now'), 'is listening in');
    for (const w of others) {
      assert.equal(await p[w].page.evaluate(() => window.__sawInNow), false, `${w} saw a staff member pass through`);
    }
    // After a reload the moderator still finds the group by its number, from the hall's list.
    await mod.reload();
    await mod.getByRole('status').filter({ hasText: 'Connected' }).waitFor();
    await mod.getByRole('button', { name: `Listen in to group ${n}` }).click();
    await see(mod.locator('#groups'), 'Listening');
    await see(mod.locator(`#groups li.group`, { hasText: `Group ${n}:` }), 'Ana (Dayton, OH)');
    for (const w of others) {
      assert.equal(await p[w].page.evaluate(() => window.__sawInNow), false, `${w} saw a staff member pass through`);
    }
    await shot(mod, 'moderation-moderator-listening-desktop');
  });

  it('shows a report filed in a group nobody listens to; one click listens in and Hide closes it', async () => {
    const n = groupOf.ana;
    const mod = p.mod.page;
    await recordLive(mod);
    await mod.getByRole('button', { name: `Stop listening to group ${n}` }).click();
    await notSee(mod.locator('#groups'), 'Listening');
    const ana = p.ana.page;
    await see(ana.locator('#now'), 'You have the floor.');
    const M5 = 'Nobody in this group has a clue.';
    await ana.getByLabel('What you want to say').fill(M5);
    await ana.getByRole('button', { name: 'Send', exact: true }).click();
    const mate = Object.keys(PEOPLE).find((w) => w !== 'ana' && groupOf[w] === n);
    const page = p[mate].page;
    await entry(page, M5).getByRole('button', { name: 'Report this message from Ana' }).click();
    await entry(page, M5).getByLabel('Why? (only moderators see this)').fill('insults the whole group');
    await entry(page, M5).getByRole('button', { name: 'Send report' }).click();
    await see(entry(page, M5), 'Thank you.');

    // The moderator, in the hall only, is told live, with the group and the message.
    const box = mod.locator('#moderation');
    const item = box.locator('.reports li', { hasText: 'insults the whole group' });
    await see(item, `in group ${n}`);
    await see(item, `“${M5}”`);
    await see(item, `${PEOPLE[mate][0]} reported a message`);
    await heard(mod, `New report in group ${n} from ${PEOPLE[mate][0]} about a message: insults the whole group`);
    assert.equal(await item.getByRole('button', { name: 'Hide message' }).count(), 0, 'acting needs listening in');
    // So is the facilitator, who listens to no group either; participants are not.
    await see(p.fac.page.locator('#moderation .reports li', { hasText: 'insults the whole group' }), `in group ${n}`);
    for (const who of Object.keys(PEOPLE)) assert.equal(await p[who].page.getByText('insults the whole group').count(), 0, who);
    await shot(mod, 'moderation-moderator-group-report-desktop');
    await shotOf(box, 'moderation-moderator-group-report-card-desktop');

    // One click listens in; the report then carries the usual actions, in that group.
    await item.getByRole('button', { name: `Listen in to group ${n}` }).click();
    await see(mod.locator('#groups'), 'Listening');
    const acting = box.locator('.reports li', { hasText: 'insults the whole group' });
    await see(acting, `in group ${n}`);
    await see(acting, `“${M5}”`);
    await acting.getByRole('button', { name: 'Hide message' }).click();
    await notSee(page.locator('#feed'), M5);
    await notSee(ana.locator('#feed'), M5);
    await see(box, 'Reports (0 open)');
    await see(p.fac.page.locator('#moderation'), 'Reports (0 open)');
    await heard(p.fac.page, `closed the report in group ${n}: the message was hidden`);
    await shot(mod, 'moderation-moderator-group-report-closed-desktop');
  });

  it('ran without script errors', () => {
    for (const [who, x] of Object.entries(p)) {
      const real = x.errors.filter((e) => !/WebSocket|ERR_INTERNET_DISCONNECTED|net::/.test(e));
      assert.deepEqual(real, [], `${who} had page errors`);
    }
  });
});
