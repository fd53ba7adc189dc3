// The WebSocket connection: hello and resume, request ids with ack/error promises, the clock
// offset measured from `welcome` and ping/pong round trips, a heartbeat that notices a dead
// socket, and reconnecting with backoff (1, 2, 4, 8, 16 s plus jitter) as the close code says.
//
// Close codes (docs/wire-protocol.md): 4001 bad link and 4010 removed and 4004 unknown room
// stop for good; 4009 (too many bad frames) stops too, since retrying would repeat it; 1000
// after the session ended stops; everything else (1001 shutdown, 4002, 4008 slow, 4011 idle,
// a dropped network) reconnects and resumes.
//
// The backoff only starts over once a socket is in sync (its `snapshot`, or a `resumed` that
// recovered), not at `welcome`: a socket that closes between the two (a resume reply the
// network could not carry) backs off further, and its next hello asks for a fresh snapshot
// instead of repeating the same resume forever.

const BACKOFF_S = [1, 2, 4, 8, 16];
const PING_EVERY_MS = 15000;
const PONG_WAIT_MS = 10000;
const FIRST_PINGS = 3;

/** Why the client stopped for good, in plain words, by close code. */
const STOP_CODES = {
  4001: { reason: 'bad_link', text: 'This invite link is not valid any more (it may have expired, or it belongs to another event). Please ask the organizers for a new link.' },
  4004: { reason: 'unknown_room', text: 'This event is closed: it has ended or does not exist.' },
  4009: { reason: 'bad_frames', text: 'The connection was closed because this page sent messages the server could not read. Please reload the page.' },
  4010: { reason: 'removed', text: 'A moderator removed you from this event. You cannot rejoin with this link.' },
};

export class Connection {
  /**
   * @param {object} o
   * @param {string} o.url WebSocket URL.
   * @param {string} o.token Invite token.
   * @param {(msg: object, meta?: {first: boolean}) => void} o.onMessage Every server message
   *   except ack/error/pong; for `welcome`, `meta.first` says whether it is the socket's first
   *   (the hall's) or a group room's.
   * @param {(status: object) => void} o.onStatus Connection status changes.
   * @param {() => ({room: string, last_seq: number} | null)} o.resumePoint Where to resume.
   * @param {() => boolean} o.sessionEnded Whether a normal close means the end.
   */
  constructor(o) {
    this.url = o.url;
    this.token = o.token;
    this.onMessage = o.onMessage;
    this.onStatus = o.onStatus;
    this.resumePoint = o.resumePoint;
    this.sessionEnded = o.sessionEnded;
    this.ws = null;
    this.nextId = 1;
    this.pending = new Map();
    this.attempt = 0;
    this.retryTimer = null;
    this.retryAt = 0;
    this.pingTimer = null;
    this.pongTimer = null;
    this.pings = new Map();
    this.offset = 0;
    this.bestRtt = Infinity;
    this.stopped = false;
    this.welcomed = false;
    this.synced = false;
    this.resumeSent = false;
    this.skipResume = false;
  }

  /** Server time now, in Unix ms, from the measured offset. */
  now() {
    return Date.now() + this.offset;
  }

  start() {
    this.stopped = false;
    this.open();
  }

  /** Reconnects now instead of waiting for the backoff timer. */
  retryNow() {
    if (this.stopped || (this.ws && this.ws.readyState <= 1)) return;
    clearTimeout(this.retryTimer);
    this.open();
  }

  open() {
    this.welcomed = false;
    this.synced = false;
    this.resumeSent = false;
    this.status({ state: this.attempt === 0 ? 'connecting' : 'reconnecting' });
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (e) {
      this.scheduleRetry(null);
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      const hello = { type: 'hello', token: this.token };
      const resume = this.skipResume ? null : this.resumePoint();
      this.skipResume = false;
      if (resume) hello.resume = resume;
      this.resumeSent = !!resume;
      ws.send(JSON.stringify(hello));
    };
    ws.onmessage = (e) => {
      if (ws !== this.ws) return;
      let msg;
      try {
        msg = JSON.parse(e.data);
      } catch {
        return;
      }
      this.receive(msg);
    };
    ws.onclose = (e) => {
      if (ws !== this.ws) return;
      this.ws = null;
      this.stopHeartbeat();
      this.failPending();
      this.closed(e.code, e.reason);
    };
    ws.onerror = () => {};
  }

  receive(msg) {
    const recvAt = Date.now();
    switch (msg.type) {
      case 'welcome':
        // A later welcome on the same socket is a breakout group room's (docs/wire-protocol.md,
        // "Breakout groups"): the connection, its clock and its heartbeat carry on.
        if (this.welcomed) {
          this.onMessage(msg, { first: false });
          return;
        }
        this.welcomed = true;
        // A first, rough offset; pings refine it.
        this.offset = msg.server_time - recvAt;
        this.bestRtt = Infinity;
        this.status({ state: 'online' });
        this.startHeartbeat();
        this.onMessage(msg, { first: true });
        return;
      case 'pong':
        this.pong(msg, recvAt);
        return;
      case 'ack':
      case 'error': {
        const p = msg.id != null ? this.pending.get(String(msg.id)) : null;
        if (p) {
          this.pending.delete(String(msg.id));
          if (msg.type === 'ack') p.resolve(msg);
          else p.reject(msg);
        } else if (msg.type === 'error') {
          this.onMessage(msg);
        }
        return;
      }
      case 'snapshot':
      case 'resumed':
        if (msg.type === 'snapshot' || msg.recovered) this.synced = true;
        if (this.synced) this.attempt = 0;
        this.onMessage(msg);
        return;
      default:
        this.onMessage(msg);
    }
  }

  /** Sends a command; resolves on `ack`, rejects with the `error` (or a local one). */
  send(command) {
    if (!this.ws || this.ws.readyState !== 1 || !this.welcomed) {
      return Promise.reject({ code: 'offline', message: 'You are offline right now. We are reconnecting; please try again in a moment.' });
    }
    const id = `c${this.nextId++}`;
    const frame = { ...command, id };
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify(frame));
    });
  }

  failPending() {
    for (const p of this.pending.values()) {
      p.reject({ code: 'offline', message: 'The connection dropped before the server answered. Please check and try again.' });
    }
    this.pending.clear();
  }

  startHeartbeat() {
    this.stopHeartbeat();
    // A few quick pings at the start measure the clock offset; then one every 15 s.
    for (let i = 0; i < FIRST_PINGS; i++) setTimeout(() => this.ping(), 200 + i * 700);
    this.pingTimer = setInterval(() => this.ping(), PING_EVERY_MS);
  }

  stopHeartbeat() {
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
    this.pingTimer = null;
    this.pongTimer = null;
    this.pings.clear();
  }

  ping() {
    const ws = this.ws;
    if (!ws || ws.readyState !== 1) return;
    const id = `p${this.nextId++}`;
    this.pings.set(id, Date.now());
    ws.send(JSON.stringify({ type: 'ping', id }));
    if (!this.pongTimer) {
      // No answer in time: the socket is dead even if the browser has not noticed.
      this.pongTimer = setTimeout(() => {
        if (this.ws === ws) ws.close(4000, 'no pong');
        if (this.ws === ws) {
          this.ws = null;
          this.stopHeartbeat();
          this.failPending();
          this.closed(1006, 'no pong');
        }
      }, PONG_WAIT_MS);
    }
  }

  pong(msg, recvAt) {
    clearTimeout(this.pongTimer);
    this.pongTimer = null;
    const sentAt = this.pings.get(String(msg.id));
    if (sentAt == null) return;
    this.pings.delete(String(msg.id));
    const rtt = recvAt - sentAt;
    // Keep the sample with the shortest round trip: its midpoint is the best estimate.
    if (rtt <= this.bestRtt) {
      this.bestRtt = rtt;
      this.offset = msg.server_time + rtt / 2 - recvAt;
      this.status({ state: 'online', rtt });
    }
  }

  closed(code, reason) {
    const stop = STOP_CODES[code];
    if (stop) {
      this.stopped = true;
      this.status({ state: 'stopped', reason: stop.reason, text: stop.text, code });
      return;
    }
    if (code === 1000 && this.sessionEnded()) {
      this.stopped = true;
      this.status({ state: 'stopped', reason: 'ended', text: 'The town hall has ended. Thank you for taking part.', code });
      return;
    }
    if (this.stopped) return;
    // Closed before it was in sync after asking to resume: ask for a snapshot next time.
    if (!this.synced && this.resumeSent) this.skipResume = true;
    this.scheduleRetry(code, reason);
  }

  scheduleRetry(code, reason) {
    const base = BACKOFF_S[Math.min(this.attempt, BACKOFF_S.length - 1)] * 1000;
    const delay = base + Math.floor(Math.random() * 500);
    this.attempt += 1;
    this.retryAt = Date.now() + delay;
    const why = code === 1001 ? 'The server is restarting.' : code === 4008 ? 'Your connection fell behind.' : 'The connection dropped.';
    this.status({ state: 'waiting', retryAt: this.retryAt, why, code, reason });
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.open(), delay);
  }

  /** Closes on purpose (used by tests and when the page goes away). */
  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.stopHeartbeat();
    if (this.ws) this.ws.close(1000, 'bye');
  }

  status(s) {
    this.onStatus(s);
  }
}

export { STOP_CODES };
