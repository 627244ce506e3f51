// The WebSocket to the lobby server: JSON in and out, reconnect with exponential backoff, and an
// application-level ping, because browsers neither expose WebSocket pings nor notice a silently dead socket.
import { Emitter } from './emitter.js';

/** Close codes after which reconnecting cannot help (docs/protocol.md, "Close codes"). */
const FATAL_CLOSE = new Set([1002, 1007, 1009, 4002, 4004]);

/**
 * @typedef {object} SignalingOptions
 * @property {string | URL} url full WebSocket URL, including ?room=&name=
 * @property {typeof WebSocket} [WebSocket] constructor to use; default globalThis.WebSocket
 * @property {string[]} [protocols] WebSocket subprotocols to offer (a join token travels as one); default none
 * @property {number} [pingInterval] ms between {"kind":"ping"}; default 15000. The socket is declared dead
 *   when nothing at all arrived for two intervals.
 * @property {number} [minBackoff] first reconnect delay in ms; default 500
 * @property {number} [maxBackoff] longest reconnect delay in ms; default 30000
 */

/**
 * Signaling connection. Events:
 * - `status` {status: 'connecting'|'open'|'reconnecting'|'closed', attempt?, delay?, code?, reason?}
 * - `message` the parsed JSON object of each text frame
 */
export class Signaling extends Emitter {
  /** @param {SignalingOptions} opts */
  constructor(opts) {
    super();
    this.opts = opts;
    // Defaults apply to absent and undefined options alike.
    this.pingInterval = opts.pingInterval ?? 15000;
    this.minBackoff = opts.minBackoff ?? 500;
    this.maxBackoff = opts.maxBackoff ?? 30000;
    /** @type {'connecting'|'open'|'reconnecting'|'closed'} */
    this.status = 'closed';
    /** @type {WebSocket | null} */
    this.ws = null;
    this.attempt = 0;
    this.lastRecv = 0;
    this.stopped = true;
    /** @type {any} */ this.retryTimer = null;
    /** @type {any} */ this.pingTimer = null;
  }

  /** Opens the socket (again); also used to apply a changed URL. */
  connect() {
    this.stopped = false;
    clearTimeout(this.retryTimer);
    this.#drop();
    this.#setStatus(this.attempt ? 'reconnecting' : 'connecting');
    const WS = this.opts.WebSocket || globalThis.WebSocket;
    const protocols = this.opts.protocols;
    const ws = protocols?.length ? new WS(String(this.opts.url), protocols) : new WS(String(this.opts.url));
    this.ws = ws;
    ws.onopen = () => {
      this.lastRecv = Date.now();
      this.#setStatus('open');
      this.pingTimer = setInterval(() => this.#tick(), this.pingInterval);
    };
    ws.onmessage = (ev) => {
      this.lastRecv = Date.now();
      if (typeof ev.data !== 'string') return;
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (msg && typeof msg === 'object') {
        if (msg.kind === 'self-connected') this.attempt = 0; // a real join resets the backoff
        this.emit('message', msg);
      }
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.#lost(ev.code, ev.reason);
    };
    ws.onerror = () => {}; // onclose follows and carries the code
  }

  /**
   * Sends one message; returns false when the socket is not open (the message is dropped, not queued:
   * signaling is only meaningful for the current member id).
   * @param {object} msg
   * @returns {boolean}
   */
  send(msg) {
    if (!this.ws || this.ws.readyState !== 1) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  /** Closes for good (no reconnect). */
  close() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.#drop(1000);
    this.#setStatus('closed');
  }

  /** Sends a ping, or gives up on a socket that has been silent for two intervals. */
  #tick() {
    if (Date.now() - this.lastRecv > 2 * this.pingInterval) {
      this.#drop();
      this.#lost(4900, 'no answer from the server');
      return;
    }
    this.send({ kind: 'ping' });
  }

  /**
   * @param {number} code
   * @param {string} reason
   */
  #lost(code, reason) {
    this.#drop();
    if (this.stopped) return;
    if (FATAL_CLOSE.has(code)) {
      this.stopped = true;
      this.#setStatus('closed', { code, reason });
      return;
    }
    // Exponential backoff with full jitter so a restarted server is not hit by everyone at once.
    const cap = Math.min(this.maxBackoff, this.minBackoff * 2 ** this.attempt);
    const pause = code === 4001 ? 10000 : 0; // flooding: the server asks for a pause
    const delay = Math.round(pause + cap / 2 + (Math.random() * cap) / 2);
    this.attempt++;
    this.#setStatus('reconnecting', { attempt: this.attempt, delay, code, reason });
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  /** @param {number} [code] */
  #drop(code) {
    clearInterval(this.pingTimer);
    const ws = this.ws;
    this.ws = null;
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onclose = null;
    try {
      ws.close(code);
    } catch {
      // already closed
    }
  }

  /**
   * @param {'connecting'|'open'|'reconnecting'|'closed'} status
   * @param {object} [extra]
   */
  #setStatus(status, extra) {
    this.status = status;
    this.emit('status', { status, ...extra });
  }
}
