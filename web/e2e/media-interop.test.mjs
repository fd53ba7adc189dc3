// Interop of the audio SFU with an independent WebRTC stack: headless Chromium's own
// RTCPeerConnection joins the server's str0m SFU with nothing but the documented messages
// (`hello`, `media_offer` → `media_answer`, docs/wire-protocol.md "Voice"), reaches ICE and
// DTLS connected, and its microphone (Chromium's fake device) is forwarded to a second
// listener page only while the engine gives it the floor. No client code of ours runs: the
// pages are blank same-origin pages driving the browser's WebRTC API directly.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { startServer, api, chromiumPath, CHROMIUM_ARGS, WAIT } from './lib.mjs';

// Fake microphone, granted without a prompt; loopback candidates allowed (server and
// browser are on 127.0.0.1).
const MEDIA_ARGS = ['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
  '--allow-loopback-in-peer-connection'];

async function metric(base, name) {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.slice(name.length + 1)) : 0;
}

/** A blank page on the server's origin with a signed-in WebSocket and a peer connection. */
async function member(browser, base, token, { sends }) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  await page.goto(`${base}/healthz`);
  await page.evaluate(async ({ token, sends }) => {
    const ws = new WebSocket(`${location.origin.replace('http', 'ws')}/ws`);
    window.msgs = [];
    window.ws = ws;
    ws.onmessage = (e) => window.msgs.push(JSON.parse(e.data));
    await new Promise((res, rej) => { ws.onopen = res; ws.onerror = rej; });
    ws.send(JSON.stringify({ type: 'hello', token }));
    const pc = new RTCPeerConnection();
    window.pc = pc;
    if (sends) {
      const mic = await navigator.mediaDevices.getUserMedia({ audio: true });
      // One sendrecv m-line: the mic up, the floor track down; then the staff track.
      pc.addTransceiver(mic.getAudioTracks()[0], { direction: 'sendrecv' });
    } else {
      pc.addTransceiver('audio', { direction: 'recvonly' });
    }
    pc.addTransceiver('audio', { direction: 'recvonly' });
    await pc.setLocalDescription(await pc.createOffer());
  }, { token, sends });
  await page.waitForFunction(() => window.msgs.some((m) => m.type === 'snapshot'));
  // The server is ICE-lite and learns the browser's address from its checks: the offer goes
  // as soon as it exists, without waiting for candidates.
  const answer = await page.evaluate(async () => {
    window.ws.send(JSON.stringify({ type: 'media_offer', id: 'audio', sdp: window.pc.localDescription.sdp }));
    for (let i = 0; i < 400; i++) {
      const m = window.msgs.find((x) => x.id === 'audio');
      if (m) {
        if (m.type === 'media_answer') await window.pc.setRemoteDescription({ type: 'answer', sdp: m.sdp });
        return m;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    return null;
  });
  assert.equal(answer?.type, 'media_answer', JSON.stringify(answer));
  await page.waitForFunction(() => window.pc.connectionState === 'connected', null, { timeout: WAIT });
  return { context, page };
}

/** Audio packets this page has received on all its tracks (RTCStats inbound-rtp). */
async function packetsReceived(page) {
  return page.evaluate(async () => {
    let n = 0;
    (await window.pc.getStats()).forEach((s) => { if (s.type === 'inbound-rtp') n += s.packetsReceived; });
    return n;
  });
}

async function command(page, msg) {
  await page.evaluate((m) => window.ws.send(JSON.stringify(m)), msg);
}

describe('WebRTC interop with Chromium', () => {
  let server;
  let browser;

  before(async () => {
    server = await startServer();
    browser = await chromium.launch({
      executablePath: chromiumPath(),
      args: [...CHROMIUM_ARGS, ...MEDIA_ARGS],
      timeout: 60000,
    });
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
  });

  it("connects with only media_offer and media_answer, and forwards the floor holder's voice", async () => {
    const event = await api(server.base, 'POST', '/api/events', {
      title: 'Interop', protocol: 'web-test-hall', communities: ['Dayton, OH', 'Boulder, CO'],
    });
    const invite = (role, name, community) => api(server.base, 'POST', `/api/events/${event.id}/invites`, { role, name, community });
    const fac = await invite('facilitator', 'Fran', null);
    const ana = await invite('participant', 'Ana', 'Dayton, OH');
    const obs = await invite('observer', 'Obi', null);

    const speaker = await member(browser, server.base, ana.token, { sends: true });
    const listener = await member(browser, server.base, obs.token, { sends: false });
    const facilitator = await member(browser, server.base, fac.token, { sends: false });
    assert.equal(await metric(server.base, 'commonground_media_listeners'), 3, 'three peers connected');

    // Before Ana has the floor her microphone reaches nobody: the server drops it.
    const waitFor = async (what, cond) => {
      for (let i = 0; i < 200; i++) {
        if (await cond()) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.fail(`gave up waiting for ${what}`);
    };
    const notOnFloor = 'commonground_media_dropped_packets_total{reason="not_on_floor"}';
    await waitFor('Ana\'s packets dropped', async () => (await metric(server.base, notOnFloor)) >= 10);
    assert.equal(await packetsReceived(listener.page), 0, 'nothing reached the listener');
    assert.equal(await metric(server.base, 'commonground_media_forwarded_packets_total'), 0);

    await command(facilitator.page, { type: 'start', id: 's' });
    await command(speaker.page, { type: 'raise_hand', id: 'h' });
    await speaker.page.waitForFunction(() => window.msgs.some((m) => m.type === 'event' && m.event.type === 'floor_granted'));
    await waitFor('the listener receiving Ana', async () => (await packetsReceived(listener.page)) >= 20);
    const forwarded = await metric(server.base, 'commonground_media_forwarded_packets_total');
    assert.ok(forwarded >= 20, `forwarded ${forwarded}`);
    await waitFor('the facilitator receiving Ana too', async () => (await packetsReceived(facilitator.page)) >= 20);

    // Ana yields: forwarding stops (the counter holds still while her mic keeps sending).
    await command(speaker.page, { type: 'yield_floor', id: 'y' });
    await speaker.page.waitForFunction(() => window.msgs.some((m) => m.type === 'event' && m.event.type === 'floor_released'));
    // Packets already in flight when the floor was released may still arrive; after that
    // the count must stand still while Ana's microphone keeps sending (dropped rising).
    await new Promise((r) => setTimeout(r, 300));
    const after = await metric(server.base, 'commonground_media_forwarded_packets_total');
    const droppedBefore = await metric(server.base, notOnFloor);
    await waitFor('Ana dropped again', async () => (await metric(server.base, notOnFloor)) >= droppedBefore + 10);
    assert.equal(await metric(server.base, 'commonground_media_forwarded_packets_total'), after);
    for (const p of [speaker, listener, facilitator]) await p.context.close();
  });
});
