// File transfers over a `file:<tid>` data channel (docs/datachannel.md, "File channel"): what both
// directions share. outgoing.js sends, incoming.js receives.
import { Emitter } from './emitter.js';

/** Sender keeps writing while bufferedAmount is below this (far from Chrome's 16 MiB send-buffer limit). */
export const HIGH_WATER = 4 << 20;
/** …and otherwise waits for `bufferedamountlow` at this threshold. */
export const LOW_WATER = 1 << 20;
/**
 * Chunk size: the protocol's upper bound, and the default (further bounded by the peer's SCTP
 * max-message-size). Larger messages cost less per byte in the SCTP stack: 256 KiB chunks measured
 * markedly faster than 64 KiB ones between two Chromiums.
 */
export const MAX_CHUNK = 256 << 10;
export const DEFAULT_CHUNK = MAX_CHUNK;
/** How often `progress` is emitted while a transfer runs. */
const PROGRESS_MS = 250;

/**
 * What one peer may make this page hold or do (docs/sdk.md, "Limits"): the other side is a stranger, and each
 * chat message or offer costs memory and, in an app, DOM nodes. Exported so an app can show them; changing
 * them affects new peers and transfers.
 */
export const LIMITS = {
  /** Chat messages taken per second, sustained; more are dropped (and `limited` is emitted). */
  chatRate: 20,
  /** …after a burst of this many. */
  chatBurst: 50,
  /** Transfer offers taken per second, sustained, and the burst; more are declined automatically. */
  offerRate: 2,
  offerBurst: 10,
  /** Offers waiting for an answer at once; more are declined automatically. */
  pendingOffers: 4,
  /** Files in one offer; an offer with more is declined as a whole. */
  filesPerOffer: 1000,
  /**
   * Where received files cannot go to disk (no OPFS: plain HTTP on a LAN address is not a secure context),
   * they are assembled in memory: at most this many bytes across the transfers in progress, so an offer
   * larger than what is left is declined automatically.
   */
  memoryBudget: 512 << 20,
  /** Ended incoming transfers a Peer keeps in `incoming` (the oldest are forgotten). */
  keepEnded: 50,
  /** A chat timestamp further than this from the receiver's clock is replaced by the time of arrival. */
  chatClockSkewMs: 24 * 3600 * 1000,
};

/** A token bucket: `take()` is true at most `rate` times a second, after a burst of `burst`. */
export class RateLimit {
  /**
   * @param {number} rate
   * @param {number} burst
   */
  constructor(rate, burst) {
    this.rate = rate;
    this.burst = burst;
    this.tokens = burst;
    this.at = Date.now();
    /** How many take() refused, in all. */
    this.dropped = 0;
    this.noticed = -Infinity;
  }

  /** @returns {boolean} whether one more is allowed now */
  take() {
    const now = Date.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) * this.rate) / 1000);
    this.at = now;
    if (this.tokens >= 1) {
      this.tokens--;
      return true;
    }
    this.dropped++;
    return false;
  }

  /**
   * After a refusal: whether to tell the person, at most once every `everyMs`.
   * @param {number} [everyMs]
   * @returns {boolean}
   */
  notice(everyMs = 10000) {
    const now = Date.now();
    if (now - this.noticed < everyMs) return false;
    this.noticed = now;
    return true;
  }
}

/** @type {WeakMap<object, Map<string, RateLimit>>} */
const limiters = new WeakMap();

/**
 * The rate limit of one kind of message from one peer, created on first use.
 * @param {object} owner the Peer
 * @param {'chat'|'offer'} kind
 * @returns {RateLimit}
 */
export function rateLimit(owner, kind) {
  let m = limiters.get(owner);
  if (!m) limiters.set(owner, (m = new Map()));
  let r = m.get(kind);
  if (!r) {
    r = kind === 'chat' ? new RateLimit(LIMITS.chatRate, LIMITS.chatBurst) : new RateLimit(LIMITS.offerRate, LIMITS.offerBurst);
    m.set(kind, r);
  }
  return r;
}

/**
 * A received chat timestamp, or the time of arrival when it is not a usable time near the receiver's clock
 * (a stranger's `ts` may be anything: `Date` throws on values beyond ±8.64e15).
 * @param {any} ts
 * @returns {number}
 */
export function chatTime(ts) {
  const now = Date.now();
  return Number.isSafeInteger(ts) && Math.abs(ts - now) <= LIMITS.chatClockSkewMs ? ts : now;
}

/**
 * @typedef {{name: string, size: number, type: string, path?: string}} FileMeta path: the file's directory
 *   inside the folder it was sent from ("photos/2024"; "" or absent for the top level), see docs/datachannel.md
 * @typedef {{index: number, name: string, size: number, type: string, path?: string, sha256: string,
 *   file?: File | Blob, storage?: 'opfs'|'memory'}} FileResult
 * @typedef {'offered'|'sending'|'verifying'|'receiving'|'done'|'declined'|'cancelled'|'failed'} TransferState
 */

/**
 * What a transfer needs from its peer; implemented by Peer.
 * @typedef {object} TransferLink
 * @property {(msg: object) => boolean} sendControl send on the `p2plobby` channel
 * @property {(label: string) => RTCDataChannel} openChannel create a data channel
 * @property {() => number} chunkSize the chunk size to use with this peer
 */

/** @returns {string} a random transfer id (12 chars, [A-Za-z0-9_-]) */
export function randomId() {
  const b = crypto.getRandomValues(new Uint8Array(9));
  return btoa(String.fromCharCode(...b)).replace(/\+/g, '-').replace(/\//g, '_');
}

/** Throughput over the last few seconds. */
class Meter {
  constructor() {
    /** @type {{t: number, b: number}[]} */
    this.samples = [];
  }

  /**
   * @param {number} bytes total so far
   * @returns {number} bytes per second
   */
  add(bytes) {
    const t = Date.now();
    this.samples.push({ t, b: bytes });
    while (this.samples.length > 2 && t - this.samples[0].t > 3000) this.samples.shift();
    const first = this.samples[0];
    return t > first.t ? ((bytes - first.b) * 1000) / (t - first.t) : 0;
  }
}

/**
 * Common state of both directions. Events:
 * - `state` the new TransferState (see `error` when failed/cancelled)
 * - `progress` {bytes, total, rate (bytes/s), eta (s or null), percent}
 * - `file` FileResult of one file that arrived and matched its SHA-256
 */
export class Transfer extends Emitter {
  /**
   * @param {'send'|'receive'} direction
   * @param {string} tid
   * @param {FileMeta[]} files
   * @param {TransferLink} link
   */
  constructor(direction, tid, files, link) {
    super();
    this.direction = direction;
    this.tid = tid;
    this.files = files;
    this.link = link;
    this.total = files.reduce((n, f) => n + f.size, 0);
    /** Bytes that reached the other side (sender: sent minus still buffered). */
    this.bytes = 0;
    this.rate = 0;
    /** @type {number | null} */
    this.eta = null;
    /** @type {TransferState} */
    this.state = 'offered';
    /** Human-readable reason when failed or cancelled, or declined automatically. */
    this.error = '';
    /** Declined by a limit, not by a person (`error` says why). */
    this.autoDeclined = false;
    /** @type {FileResult[]} */
    this.results = [];
    this.startedAt = 0;
    this.endedAt = 0;
    /** @type {RTCDataChannel | null} */
    this.dc = null;
    this.meter = new Meter();
    /** @type {any} */
    this.timer = null;
  }

  /** @returns {boolean} whether the transfer reached a final state */
  get ended() {
    return ['done', 'declined', 'cancelled', 'failed'].includes(this.state);
  }

  /**
   * Aborts the transfer from this side and tells the peer.
   * @param {string} [reason]
   */
  cancel(reason = 'cancelled') {
    if (this.ended) return;
    this.link.sendControl({ t: 'cancel', tid: this.tid, reason });
    this.end('cancelled', 'You cancelled the transfer.');
  }

  /**
   * Handles a control message with this transfer's tid.
   * @param {any} msg
   */
  onControl(msg) {
    if (msg.t === 'cancel' && !this.ended) {
      const why = typeof msg.reason === 'string' && msg.reason !== 'cancelled' ? ` (${msg.reason.slice(0, 200)})` : '';
      this.end('cancelled', `The other side cancelled the transfer${why}.`);
    }
  }

  /**
   * @param {TransferState} state
   * @param {string} [error]
   */
  setState(state, error = '') {
    if (this.state === state) return;
    this.state = state;
    if (error) this.error = error;
    if (state === 'sending' || state === 'receiving') {
      this.startedAt = Date.now();
      this.timer = setInterval(() => this.progress(), PROGRESS_MS);
    }
    if (this.ended) {
      clearInterval(this.timer);
      this.endedAt = Date.now();
      this.progress();
    }
    this.emit('state', state);
  }

  /**
   * Moves to a final state and releases the channel. Subclasses add their own cleanup.
   * @param {TransferState} state
   * @param {string} [error]
   */
  end(state, error) {
    if (this.ended) return;
    if (this.dc && state !== 'done') this.dc.close();
    this.setState(state, error);
  }

  /** Recomputes rate and eta and emits `progress`. */
  progress() {
    this.bytes = this.currentBytes();
    if (this.ended) {
      const secs = (this.endedAt - this.startedAt) / 1000;
      this.rate = this.startedAt && secs > 0 ? this.bytes / secs : 0; // average over the whole transfer
      this.eta = null;
    } else {
      this.rate = this.meter.add(this.bytes);
      this.eta = this.rate > 0 ? (this.total - this.bytes) / this.rate : null;
    }
    const percent = this.total ? (100 * this.bytes) / this.total : this.state === 'done' ? 100 : 0;
    this.emit('progress', { bytes: this.bytes, total: this.total, rate: this.rate, eta: this.eta, percent });
  }

  /** @returns {number} */
  currentBytes() {
    return this.bytes;
  }
}
