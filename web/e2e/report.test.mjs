// The report a facilitator hands on, from a real session run in headless Chromium against the
// real server: an open-floor turn, two small groups, a poll and a closing note. The HTML report
// is then opened in the browser as the organizer and checked as a reader would meet it: axe-core
// finds no accessibility violation, the page has its landmarks, people are named (never by an
// internal member id), groups are numbered as the pages showed them (group 1, not group 0), the
// date, duration, attendance and the phases' planned against actual time are there, and no chart
// label is clipped or runs into its bar. The Markdown transcript carries the same. (#19)

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { startServer, api, launch, person, see, shot, ORG_KEY, PHONE, DESKTOP, WAIT } from './lib.mjs';

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const DAYTON = 'Dayton, OH';
const BOULDER = 'Boulder, CO';
// A long name, so a clipped chart label would show.
const LONG = 'Anastasia Papadopoulou-Richardson';
const PEOPLE = { ana: [LONG, DAYTON], dan: ['Dan', DAYTON], ben: ['Ben', BOULDER], bea: ['Bea', BOULDER] };

describe('the report of a real session', () => {
  let server;
  let browser;
  let event;
  const p = {};

  before(async () => {
    server = await startServer();
    browser = await launch();
    event = await api(server.base, 'POST', '/api/events', {
      title: 'River Towns Town Hall',
      protocol: 'web-test-hall',
      communities: [DAYTON, BOULDER],
    });
    const invite = (role, name, community) =>
      api(server.base, 'POST', `/api/events/${event.id}/invites`, { role, name, community });
    p.fac = await person(browser, (await invite('facilitator', 'Fran', null)).url, DESKTOP);
    for (const [who, [name, community]] of Object.entries(PEOPLE)) {
      p[who] = await person(browser, (await invite('participant', name, community)).url, PHONE);
    }
    for (const x of Object.values(p)) await x.page.getByRole('status').filter({ hasText: 'Connected' }).waitFor();
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
  });

  it('runs a short session: a turn, two small groups, a poll, a note, the end', async () => {
    await p.fac.page.getByRole('button', { name: 'Start the session' }).click();
    await p.ana.page.getByRole('button', { name: 'Raise my hand' }).click();
    await see(p.ana.page, 'You have the floor.');
    await p.ana.page.getByLabel('What you want to say').fill('The river floods us every spring.');
    await p.ana.page.getByRole('button', { name: 'Send', exact: true }).click();
    await see(p.ben.page.locator('#feed'), 'The river floods us every spring.');
    await p.ana.page.getByRole('button', { name: 'I am done (yield the floor)' }).click();
    await see(p.ben.page, 'Nobody has the floor');

    await p.fac.page.getByRole('button', { name: /^Next: Small groups/ }).click();
    for (const who of Object.keys(PEOPLE)) await see(p[who].page.locator('#hall-strip'), /You are in group \d+/);
    await see(p.fac.page, 'Group 2:');
    await p.fac.page.getByRole('button', { name: 'Recall groups' }).click();
    await see(p.ben.page.locator('#now'), 'Quick poll', WAIT);
    await p.ben.page.getByRole('button', { name: 'Hopeful', exact: true }).click();
    await p.bea.page.getByRole('button', { name: 'Not sure', exact: true }).click();
    await see(p.fac.page.locator('#extra'), 'Results so far (2 votes)');
    await p.fac.page.getByRole('button', { name: /^Next: Closing reflection/ }).click();
    await p.dan.page.getByLabel(/Your reflection/).fill('I heard how much the floods cost.');
    await p.dan.page.getByRole('button', { name: 'Save note' }).click();
    await see(p.ana.page.locator('#feed'), 'I heard how much the floods cost.');
    p.fac.page.once('dialog', (d) => d.accept());
    await p.fac.page.getByRole('button', { name: 'End the town hall' }).click();
    await see(p.ana.page, 'The town hall has ended');
  });

  it('hands on an HTML report that passes axe-core, with names, groups from 1, attendance and phases', async () => {
    const json = await api(server.base, 'GET', `/api/events/${event.id}/report`);
    const ids = json.attendance.map((a) => a.member);
    assert.equal(ids.length, 5, JSON.stringify(json.attendance));
    assert.deepEqual(json.groups.map((g) => g.number), [1, 2]);

    // The organizer's browser: the key in a header; the page's strict CSP is bypassed only so
    // the test can inject axe-core.
    const context = await browser.newContext({ ...DESKTOP, bypassCSP: true, extraHTTPHeaders: { Authorization: `Bearer ${ORG_KEY}` } });
    const page = await context.newPage();
    page.setDefaultTimeout(WAIT);
    const res = await page.goto(`${server.base}/api/events/${event.id}/report?format=html`);
    assert.equal(res.status(), 200);
    await shot(page, 'report-desktop');

    await page.addScriptTag({ content: AXE });
    const result = await page.evaluate(async () => {
      // eslint-disable-next-line no-undef
      const r = await axe.run(document, { resultTypes: ['violations'] });
      return r.violations.map((v) => ({ id: v.id, help: v.help, nodes: v.nodes.map((n) => n.html).slice(0, 3) }));
    });
    assert.deepEqual(result, [], `axe-core violations:\n${JSON.stringify(result, null, 2)}`);

    assert.equal(await page.getAttribute('html', 'lang'), 'en');
    for (const role of ['banner', 'navigation', 'main']) assert.equal(await page.getByRole(role).count(), 1, role);
    await page.getByRole('heading', { level: 1, name: 'Report: River Towns Town Hall' }).waitFor();
    for (const h of ['Attendance', 'Speaking time', 'Phases', 'Polls', 'Breakout groups']) {
      await page.getByRole('heading', { level: 2, name: h }).waitFor();
    }
    const text = await page.locator('body').innerText();
    for (const id of ids) assert.ok(!text.includes(id), `member id ${id} in the report`);
    assert.ok(!/group-\d|group 0/i.test(text), 'groups are numbered from 1, not by room id');
    // The date and how long it lasted.
    const d = new Date(json.started_at);
    assert.match(text, new RegExp(`${d.getUTCDate()} \\w+ ${d.getUTCFullYear()}, \\d\\d:\\d\\d UTC; lasted`));
    // Attendance: every person by name with their community, and the counts by community.
    const attendance = page.getByRole('table', { name: /Who joined/ });
    for (const [name, community] of Object.values(PEOPLE)) {
      await see(attendance.getByRole('row', { name: new RegExp(name) }), community);
    }
    const byCommunity = page.getByRole('table', { name: 'Participants by community' });
    await see(byCommunity.getByRole('row', { name: /Dayton/ }), '2');
    // Phases planned against actual.
    const phases = page.getByRole('table', { name: /planned and actual/ });
    for (const col of ['Planned', 'Actual']) await phases.getByRole('columnheader', { name: col }).waitFor();
    await see(phases.getByRole('row', { name: /Small groups/ }), '10 min');
    await see(phases.getByRole('row', { name: /Open floor/ }), 'no set length');
    // Breakout groups as people saw them, with their members' names.
    const groups = page.getByRole('table', { name: /Breakout groups/ });
    await groups.getByRole('rowheader', { name: 'Group 1' }).waitFor();
    await groups.getByRole('rowheader', { name: 'Group 2' }).waitFor();
    await see(groups, LONG);
    // Polls by their question.
    await page.getByRole('table', { name: /How hopeful are you\?/ }).waitFor();

    // No chart label is clipped: labels end before their bar, values inside the picture.
    const overflow = await page.evaluate(() => {
      const bad = [];
      for (const svg of document.querySelectorAll('svg')) {
        const width = svg.viewBox.baseVal.width;
        const rects = [...svg.querySelectorAll('rect')];
        const labels = [...svg.querySelectorAll('text.label')];
        const values = [...svg.querySelectorAll('text.value')];
        labels.forEach((t, i) => {
          const b = t.getBBox();
          if (b.x < 0 || b.x + b.width > rects[i].x.baseVal.value) bad.push(`label "${t.textContent}" runs into its bar`);
        });
        for (const t of values) {
          const b = t.getBBox();
          if (b.x + b.width > width) bad.push(`value "${t.textContent}" is clipped (${b.x + b.width} > ${width})`);
        }
      }
      return bad;
    });
    assert.deepEqual(overflow, []);
    await see(page.locator('svg').last(), LONG);
    await context.close();
  });

  it('hands on a Markdown transcript with the same: names, group 1, attendance, phases', async () => {
    const res = await fetch(`${server.base}/api/events/${event.id}/transcript?format=md`, { headers: { Authorization: `Bearer ${ORG_KEY}` } });
    const md = await res.text();
    assert.equal(res.status, 200, md);
    const json = await api(server.base, 'GET', `/api/events/${event.id}/report`);
    for (const a of json.attendance) assert.ok(!md.includes(a.member), `member id ${a.member} in:\n${md}`);
    assert.match(md, /\n# Breakout group 1: /);
    assert.match(md, /\n# Breakout group 2: /);
    assert.ok(!/group-\d|group 0/i.test(md), md);
    assert.match(md, /## Attendance/);
    assert.match(md, /\| Small groups \| \d\d:\d\d \| 10 min \| /);
    assert.match(md, /lasted /);
    assert.ok(md.includes('The river floods us every spring.'), md);
  });
});
