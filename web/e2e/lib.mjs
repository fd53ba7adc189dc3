// Helpers for the browser tests: a real `commonground serve` on a free port with a short test
// protocol library, the organizer HTTP API, and headless Chromium pages, one context per person.
//
// Waits are bounded by generous timeouts so a hung page fails the test instead of hanging it;
// no assertion depends on how fast anything happens.

import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, mkdirSync, existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const WAIT = 20000;
export const ORG_KEY = 'web-e2e-organizer-key-0123456789';
const here = dirname(fileURLToPath(import.meta.url));
export const ROOT = resolve(here, '..', '..');
export const SHOTS = join(here, 'screenshots');

/** The protocol the tests run: open floor with reflect-back, small groups, a poll, closing. */
const TEST_HALL = `name = "web-test-hall"
title = "Web test hall"
description = "Open floor with reflect-back, small groups, a poll and a closing reflection, for the browser tests."

[[phase]]
id = "open"
kind = "queue"
title = "Open floor"
prompt = "What do you want the other city to understand?"
ordering = "fifo"
turn = "10m"
reflect_back = { turn = "5m", clarify = "5m", attempts = 1, confirm = "5m" }

[[phase]]
id = "groups"
kind = "breakout"
title = "Small groups"
prompt = "Groups of two, mixed across the two cities."
duration = "10m"
group_size = 2
min_group_size = 2
protocol = "web-test-group"
closing_countdown = "1s"

[[phase]]
id = "pulse"
kind = "poll"
title = "Quick poll"
question = "How hopeful are you?"
choices = ["Hopeful", "Not sure"]
duration = "10m"
reveal = "live"

[[phase]]
id = "closing"
kind = "reflection"
title = "Closing reflection"
prompt = "One thing you heard."
duration = "10m"
notes = "shared_anonymous"
`;

const TEST_GROUP = `name = "web-test-group"
title = "Web test group"
description = "A small group's open conversation."

[[phase]]
id = "talk"
kind = "queue"
title = "Talk"
prompt = "What did you hear?"
ordering = "fifo"
turn = "5m"
`;

const TEST_FORUM = `name = "web-test-forum"
title = "Web test forum"
description = "A go-round with passing, an open floor with stances, and audience questions, for the browser tests."

[[phase]]
id = "round"
kind = "round"
title = "Go-round"
prompt = "What brings you here tonight?"
order = "join"
turn = "10m"
pass = true
pass_for_now = true

[[phase]]
id = "floor"
kind = "queue"
title = "Open floor"
prompt = "Should the library budget grow?"
ordering = "alternate_stance"
stances = ["pro", "con", "question"]
turn = "10m"
move_on = { threshold = 100, offer_after_silence = "1s" }

[[phase]]
id = "qa"
kind = "qa"
title = "Questions"
prompt = "Ask the panel."
duration = "10m"
answer_turn = "10m"
max_question_chars = 280

[[phase]]
id = "askmod"
kind = "qa"
title = "Moderated questions"
prompt = "Ask the panel; a moderator reads each question first."
duration = "10m"
answer_turn = "10m"
moderated = true
`;

const TEST_CURIOSITY = `name = "web-test-curiosity"
title = "Web test curiosity"
description = "Questions of genuine curiosity, member to member, for the browser tests."

[[phase]]
id = "curiosity"
kind = "curiosity"
title = "Questions of curiosity"
prompt = "Ask someone a question you are genuinely curious about."
duration = "10m"
question_turn = "5m"
answer_turn = "5m"
`;

/** Breakouts from the start: groups of two, each its own room running an open floor. */
const TEST_BREAKOUT = `name = "web-test-breakout"
title = "Web test breakout"
description = "Small groups first, then back together, for the browser tests of group rooms."

[[phase]]
id = "groups"
kind = "breakout"
title = "Small groups"
prompt = "Groups of two, mixed across the two cities."
duration = "10m"
group_size = 2
min_group_size = 2
protocol = "web-test-breakout-group"
closing_countdown = "5s"

[[phase]]
id = "together"
kind = "reflection"
title = "Back together"
prompt = "What did your group find?"
duration = "10m"
notes = "shared_anonymous"
`;

const TEST_BREAKOUT_GROUP = `name = "web-test-breakout-group"
title = "Web test breakout group"
description = "A group of two talks in an open floor."

[[phase]]
id = "talk"
kind = "queue"
title = "Talk in your group"
prompt = "What matters most to you about the river?"
ordering = "fifo"
turn = "5m"
`;

/**
 * A short-turn open floor (turns run out in seconds), then a long one: notices and drafts; an
 * `at_close` poll whose results hold the agenda for ten minutes (the facilitator moves on), one
 * whose results hold for two seconds (the next part starts by itself), and private notes (the
 * record budget).
 */
const TEST_NOTICES = `name = "web-test-notices"
title = "Web test notices"
description = "A short-turn open floor, then a long one, for the browser tests of notices."

[[phase]]
id = "short"
kind = "queue"
title = "Quick turns"
prompt = "Say it in a few seconds."
ordering = "fifo"
turn = "5s"
warn_before = "0s"

[[phase]]
id = "open"
kind = "queue"
title = "Open floor"
prompt = "Take your time."
ordering = "fifo"
turn = "10m"

[[phase]]
id = "pulse"
kind = "poll"
title = "Quick poll"
question = "Did tonight help?"
choices = ["Yes", "Not yet"]
duration = "10m"
reveal = "at_close"
show_results = "10m"

[[phase]]
id = "again"
kind = "poll"
title = "Second poll"
question = "Would you come again?"
choices = ["Yes", "No"]
duration = "10m"
reveal = "at_close"
show_results = "2s"

[[phase]]
id = "notes"
kind = "reflection"
title = "Private notes"
prompt = "Write down what you want to remember."
duration = "10m"
notes = "private"
`;

export function protocolDir() {
  const dir = mkdtempSync(join(tmpdir(), 'commonground-web-e2e-'));
  writeFileSync(join(dir, 'web-test-hall.toml'), TEST_HALL);
  writeFileSync(join(dir, 'web-test-group.toml'), TEST_GROUP);
  writeFileSync(join(dir, 'web-test-forum.toml'), TEST_FORUM);
  writeFileSync(join(dir, 'web-test-curiosity.toml'), TEST_CURIOSITY);
  writeFileSync(join(dir, 'web-test-breakout.toml'), TEST_BREAKOUT);
  writeFileSync(join(dir, 'web-test-breakout-group.toml'), TEST_BREAKOUT_GROUP);
  writeFileSync(join(dir, 'web-test-notices.toml'), TEST_NOTICES);
  return dir;
}

function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts the server binary; resolves when /healthz answers. `wordList`: words and phrases for
 * the server's `--word-list` file (docs/moderation.md), written to a temporary file.
 */
export async function startServer({ wordList } = {}) {
  const bin = process.env.COMMONGROUND_BIN || join(ROOT, 'target', 'debug', 'commonground');
  if (!existsSync(bin)) throw new Error(`server binary not found at ${bin}: run \`cargo build\` first or set COMMONGROUND_BIN`);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const args = ['serve', '--bind', `127.0.0.1:${port}`, '--organizer-key', ORG_KEY,
    '--token-secret', 'web-e2e-token-secret-0123456789', '--protocols', protocolDir(), '--demo', 'false',
    // Each server keeps its own durable journal (a real SQLite file) in a fresh directory.
    '--data-dir', join(mkdtempSync(join(tmpdir(), 'commonground-web-e2e-data-')), 'data')];
  if (wordList) {
    const file = join(mkdtempSync(join(tmpdir(), 'commonground-web-e2e-words-')), 'words.txt');
    writeFileSync(file, `# Words the browser tests flag\n${wordList.join('\n')}\n`);
    args.push('--word-list', file);
  }
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn' } });
  let log = '';
  child.stdout.on('data', (d) => { log += d; });
  child.stderr.on('data', (d) => { log += d; });
  let exited = null;
  child.on('exit', (code) => { exited = code; });
  const deadline = Date.now() + 60000;
  for (;;) {
    if (exited !== null) throw new Error(`the server exited with ${exited}:\n${log}`);
    try {
      const r = await fetch(`${base}/healthz`);
      if (r.ok) break;
    } catch { /* not up yet */ }
    if (Date.now() > deadline) throw new Error(`the server did not answer /healthz within 60 s:\n${log}`);
    await sleep(100);
  }
  return {
    base,
    log: () => log,
    stop: async () => {
      if (exited !== null) return;
      child.kill('SIGTERM');
      for (let i = 0; i < 100 && exited === null; i++) await sleep(100);
      if (exited === null) child.kill('SIGKILL');
    },
  };
}

export async function api(base, method, path, body) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { Authorization: `Bearer ${ORG_KEY}`, 'Content-Type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return JSON.parse(text);
}

export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run',
  // Several people share one browser; none of their pages may be throttled as "hidden".
  '--disable-background-timer-throttling', '--disable-renderer-backgrounding', '--disable-backgrounding-occluded-windows'];

export function chromiumPath() {
  const p = process.env.CHROMIUM || '/usr/bin/chromium';
  if (!existsSync(p)) throw new Error(`Chromium not found at ${p}: install it with \`apt-get install -y chromium\` (or set CHROMIUM)`);
  return p;
}

export async function launch() {
  // Playwright gives every launch a fresh, temporary user data dir (it refuses
  // --user-data-dir for a plain launch), and each person below gets an isolated context.
  return chromium.launch({
    executablePath: chromiumPath(),
    args: CHROMIUM_ARGS,
    timeout: 60000,
  });
}

export const PHONE = { viewport: { width: 360, height: 780 }, deviceScaleFactor: 1, isMobile: true, hasTouch: true };
export const DESKTOP = { viewport: { width: 1366, height: 900 }, deviceScaleFactor: 1 };

/**
 * For working on the client: with WEB_FROM_DISK=1 the pages load app.js, style.css and js/*.js
 * from web/ on disk instead of the copies embedded in the binary, so a change needs no rebuild.
 * The tests are only meaningful without it (CI never sets it).
 */
async function serveFromDisk(context) {
  await context.route(/\/(app\.js|style\.css|js\/[a-z]+\.js)(\?.*)?$/, (route) => {
    const path = new URL(route.request().url()).pathname;
    const type = path.endsWith('.css') ? 'text/css' : 'text/javascript';
    route.fulfill({ status: 200, contentType: type, body: readFileSync(join(ROOT, 'web', path)) });
  });
}

/**
 * Opens a person's invite link in a fresh browser context; collects page errors.
 * `beforeGoto(context)` runs before the page loads (say, `holdEvents`).
 */
export async function person(browser, url, device, { beforeGoto } = {}) {
  const context = await browser.newContext({ ...device, reducedMotion: 'reduce' });
  if (process.env.WEB_FROM_DISK) await serveFromDisk(context);
  if (beforeGoto) await beforeGoto(context);
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(url);
  return { context, page, errors };
}

/** A page means its visible content: `main` and the header, not the screen-reader-only live regions. */
function area(scope) {
  return typeof scope.goto === 'function' ? scope.locator('main, header') : scope;
}

/** Waits until `text` is visible somewhere in `scope` (a page or a locator). */
export async function see(scope, text, timeout = WAIT) {
  await area(scope).getByText(text, { exact: false }).first().waitFor({ state: 'visible', timeout });
}

/** Waits until `text` is nowhere visible in `scope`. */
export async function notSee(scope, text, timeout = WAIT) {
  await area(scope).getByText(text, { exact: false }).first().waitFor({ state: 'hidden', timeout });
}

export async function shot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** A screenshot of one part of a page (a card), readable where a full phone page is too long. */
export async function shotOf(locator, name) {
  mkdirSync(SHOTS, { recursive: true });
  await locator.screenshot({ path: join(SHOTS, `${name}.png`) });
}

/**
 * Records what the page's ARIA live regions announce (they are rewritten often, so a test
 * could miss a message by reading them later). Read it back with `heard`.
 */
export async function recordLive(page) {
  await page.evaluate(() => {
    window.__heard = [];
    const obs = new MutationObserver(() => {
      for (const id of ['live-polite', 'live-assertive']) {
        const t = document.getElementById(id)?.textContent;
        if (t && window.__heard[window.__heard.length - 1] !== t) window.__heard.push(t);
      }
    });
    for (const id of ['live-polite', 'live-assertive']) {
      obs.observe(document.getElementById(id), { childList: true, characterData: true, subtree: true });
    }
  });
}

/** Waits until a live region of the page has announced `text`. */
export async function heard(page, text, timeout = WAIT) {
  await page.waitForFunction((t) => (window.__heard || []).some((x) => x.includes(t)), text, { timeout });
}

/**
 * Puts the context's WebSocket through a relay that can hold back the server's `event` frames
 * to this page (`hold()`) and deliver them later, in order (`release()`); replies (`ack`,
 * `error`), pongs and everything the page sends go through at once. The real server decides
 * everything; the page just hears of some events late, as on a slow link: a vote sent as the
 * poll closes. Install before the page connects (`person(..., { beforeGoto })`).
 */
export async function holdEvents(context) {
  const state = { on: false, held: [] };
  await context.routeWebSocket(/\/ws(\?.*)?$/, (ws) => {
    const server = ws.connectToServer();
    server.onMessage((m) => {
      let type = null;
      try { type = JSON.parse(m).type; } catch { /* not JSON: pass it on */ }
      if (state.on && type === 'event') state.held.push([ws, m]);
      else ws.send(m);
    });
    ws.onMessage((m) => server.send(m));
  });
  return {
    hold() { state.on = true; },
    held: () => state.held.length,
    release() {
      state.on = false;
      for (const [ws, m] of state.held.splice(0)) ws.send(m);
    },
  };
}
