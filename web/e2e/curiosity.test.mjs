// Questions of curiosity in the browser: the member who holds the floor with a question picks,
// from a list that puts the other community first, whom it is for, and that person gets the
// floor to answer. Assertions are on what each page shows.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, api, launch, person, see, shot, PHONE, DESKTOP } from './lib.mjs';

const DAYTON = 'Dayton, OH';
const BOULDER = 'Boulder, CO';

describe('questions of curiosity', () => {
  let server;
  let browser;
  const p = {};

  before(async () => {
    server = await startServer();
    browser = await launch();
    const event = await api(server.base, 'POST', '/api/events', {
      title: 'Getting to Know Each Other',
      protocol: 'web-test-curiosity',
      communities: [DAYTON, BOULDER],
    });
    const people = [
      ['fac', 'facilitator', 'Fran', null, DESKTOP],
      ['ana', 'participant', 'Ana', DAYTON, PHONE],
      ['dee', 'participant', 'Dee', DAYTON, PHONE],
      ['ben', 'participant', 'Ben', BOULDER, PHONE],
    ];
    for (const [who, role, name, community, device] of people) {
      const inv = await api(server.base, 'POST', `/api/events/${event.id}/invites`, { role, name, community });
      p[who] = await person(browser, inv.url, device);
      await see(p[who].page, `You are ${name}`);
    }
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
  });

  it('lets the asker pass the floor to the person the question is for', async () => {
    await p.fac.page.getByRole('button', { name: 'Start the session' }).click();
    await p.ana.page.getByRole('button', { name: 'Raise my hand' }).click();
    await see(p.ana.page, 'You have the floor to ask your question.');
    await see(p.ben.page, 'Ana is asking a question.');
    const picker = p.ana.page.getByLabel('Ask your question to');
    // The other community comes first; the asker is not on the list.
    const options = await picker.locator('option').allTextContents();
    assert.deepEqual(options, [`Ben (${BOULDER})`, `Dee (${DAYTON})`]);
    await p.ana.page.getByLabel('Your question', { exact: true }).fill('What do you love most about Boulder?');
    await p.ana.page.getByRole('button', { name: 'Send' }).click();
    await see(p.ben.page, 'What do you love most about Boulder?');
    await shot(p.ana.page, 'curiosity-asker-phone');
    await picker.selectOption({ label: `Ben (${BOULDER})` });
    await p.ana.page.getByRole('button', { name: 'Pass my question to them' }).click();
    await see(p.ben.page, "You have the floor to answer Ana's question.");
    await see(p.ana.page, 'Ben is answering your question.');
    await see(p.dee.page, "Ben is answering Ana's question.");
    await p.ben.page.getByLabel('Your answer', { exact: true }).fill('The trails, and the library.');
    await p.ben.page.getByRole('button', { name: 'Send' }).click();
    await see(p.dee.page, 'The trails, and the library.');
    await shot(p.ben.page, 'curiosity-answer-phone');
  });
});
