// Unit tests of the client's connection (web/js/conn.js), run in node with a fake WebSocket
// and fake timers: a socket that closes after `welcome` but before it is in sync (a resume
// reply the network could not carry, finding 2 of issue #20) backs off further each time and
// its next hello asks for a fresh snapshot instead of the same resume; a synced socket starts
// the backoff over.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Connection } from '../js/conn.js';

class FakeSocket {
  static all = [];
  constructor(url) {
    this.url = url;
    this.readyState = 1;
    this.sent = [];
    FakeSocket.all.push(this);
    queueMicrotask(() => this.onopen && this.onopen());
  }
  send(t) { this.sent.push(JSON.parse(t)); }
  close() { this.readyState = 3; }
  serve(msg) { this.onmessage({ data: JSON.stringify(msg) }); }
  drop(code = 1006) { this.readyState = 3; this.onclose({ code, reason: '' }); }
}

test('a resume that never arrives backs off and falls back to a fresh snapshot', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  globalThis.WebSocket = FakeSocket;
  FakeSocket.all = [];
  const statuses = [];
  const conn = new Connection({
    url: 'ws://x/ws',
    token: 'tok',
    onMessage: () => {},
    onStatus: (s) => statuses.push(s),
    resumePoint: () => ({ room: 'e/hall', last_seq: 7 }),
    sessionEnded: () => false,
  });
  conn.start();
  const delays = [];
  for (let i = 0; i < 3; i++) {
    const ws = FakeSocket.all[i];
    await new Promise((r) => setImmediate(r));
    const hello = ws.sent.find((m) => m.type === 'hello');
    assert.equal(hello.type, 'hello');
    // Every other attempt resumes: after a failed resume the next hello asks for a snapshot.
    assert.equal(!!hello.resume, i % 2 === 0, `attempt ${i}: ${JSON.stringify(hello)}`);
    ws.serve({ type: 'welcome', server_time: 0 });
    ws.drop();
    const waiting = statuses.filter((s) => s.state === 'waiting').at(-1);
    delays.push(waiting.retryAt - Date.now());
    t.mock.timers.tick(20000);
  }
  assert.ok(delays[0] < delays[1] && delays[1] < delays[2], `backs off: ${delays}`);
  // A socket in sync starts the backoff over.
  await new Promise((r) => setImmediate(r));
  const ws = FakeSocket.all[3];
  ws.serve({ type: 'welcome', server_time: 0 });
  ws.serve({ type: 'snapshot', room: 'e/hall', seq: 9, state: {} });
  ws.drop();
  const waiting = statuses.filter((s) => s.state === 'waiting').at(-1);
  assert.ok(waiting.retryAt - Date.now() < 1600, 'a synced socket retries soon');
  conn.stop();
});
