// File transfers over a `file:<tid>` data channel (docs/datachannel.md, "File channel").
import { Emitter } from './emitter.js';
import { Sha256 } from './sha256.js';
import { openSink } from './sink.js';

/** Sender keeps writing while bufferedAmount is below this (far from Chrome's 16 MiB send-buffer limit). */
export const HIGH_WATER = 4 << 20;
/** …and otherwise waits for `bufferedamountlow` at this threshold. */
export const LOW_WATER = 1 << 20;
/** Default chunk size, and the protocol's upper bound. */
export const DEFAULT_CHUNK = 64 << 10;
export const MAX_CHUNK = 256 << 10;
/** The sender reads the file in pieces of this size, keeping READ_AHEAD reads in flight. */
const READ_SIZE = 1 << 20;
const READ_AHEAD = 3;
/** How often `progress` is emitted while a transfer runs. */
const PROGRESS_MS = 250;
/** Limits on what a peer may propose, so a hostile offer cannot make the page allocate absurdly. */
const MAX_FILES = 10000;

/**
 * @typedef {{name: string, size: number, type: string}} FileMeta
 * @typedef {{index: number, name: string, size: number, type: string, sha256: string,
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
    /** Human-readable reason when failed or cancelled. */
    this.error = '';
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

/** Sends files: proposes them, waits for accept, then streams them over `file:<tid>`. */
export class OutgoingTransfer extends Transfer {
  /**
   * @param {TransferLink} link
   * @param {(File|Blob & {name?: string})[]} files
   */
  constructor(link, files) {
    super('send', randomId(), files.map((f, i) => ({
      name: /** @type {any} */ (f).name || `file-${i + 1}`, size: f.size, type: f.type || '',
    })), link);
    this.blobs = files;
    this.sent = 0;
    /** Files the receiver confirmed. */
    this.confirmed = 0;
    /** @type {string[]} SHA-256 of each file, known once it was sent */
    this.hashes = [];
  }

  /** Proposes the files to the peer. */
  start() {
    if (!this.link.sendControl({ t: 'files', tid: this.tid, files: this.files })) {
      this.end('failed', 'Not connected.');
    }
  }

  /** @param {any} msg */
  onControl(msg) {
    super.onControl(msg);
    if (this.ended) return;
    if (msg.t === 'accept' && this.state === 'offered') this.#open();
    else if (msg.t === 'decline' && this.state === 'offered') this.end('declined', 'The other side declined.');
    else if (msg.t === 'received' && Number.isInteger(msg.index) && this.files[msg.index]) {
      this.results[msg.index] = { index: msg.index, ...this.files[msg.index], sha256: this.hashes[msg.index] };
      this.emit('file', this.results[msg.index]);
      if (++this.confirmed === this.files.length) this.end('done');
    } else if (msg.t === 'failed') {
      const name = this.files[msg.index]?.name ?? 'a file';
      const text = msg.code === 'integrity'
        ? `"${name}" arrived corrupted: its SHA-256 did not match, so the receiver discarded it.`
        : `The receiver could not take "${name}" (${String(msg.code)}: ${String(msg.message ?? '').slice(0, 200)}).`;
      this.end('failed', text);
    }
  }

  currentBytes() {
    const buffered = this.dc && this.dc.readyState === 'open' ? this.dc.bufferedAmount : 0;
    return Math.max(0, this.sent - buffered);
  }

  async #open() {
    let dc;
    try {
      dc = this.link.openChannel(`file:${this.tid}`);
    } catch (err) {
      this.end('failed', `Could not open the file channel: ${/** @type {Error} */ (err).message}`);
      return;
    }
    this.dc = dc;
    dc.binaryType = 'arraybuffer';
    dc.bufferedAmountLowThreshold = LOW_WATER;
    dc.onclose = () => {
      if (this.state === 'sending') this.end('failed', 'The file channel closed before the end.');
    };
    dc.onopen = () => {
      this.setState('sending');
      this.#pump(dc).catch((err) => this.end('failed', `Sending failed: ${err?.message || err}`));
    };
  }

  /**
   * Streams every file: reads ahead from disk, hashes, and writes chunks while the buffer has room.
   * @param {RTCDataChannel} dc
   */
  async #pump(dc) {
    const chunk = this.link.chunkSize();
    for (let i = 0; i < this.blobs.length; i++) {
      const blob = this.blobs[i];
      const hash = new Sha256();
      /** @type {Promise<ArrayBuffer>[]} */
      const reads = [];
      let next = 0;
      const refill = () => {
        while (reads.length < READ_AHEAD && next < blob.size) {
          reads.push(blob.slice(next, next + READ_SIZE).arrayBuffer());
          next += READ_SIZE;
        }
      };
      refill();
      while (reads.length) {
        const buf = new Uint8Array(await /** @type {Promise<ArrayBuffer>} */ (reads.shift()));
        refill();
        if (this.ended) return;
        hash.update(buf);
        for (let p = 0; p < buf.length; p += chunk) {
          if (dc.bufferedAmount + chunk > HIGH_WATER) await drained(dc);
          if (this.ended || dc.readyState !== 'open') return;
          const part = buf.subarray(p, p + chunk);
          dc.send(part);
          this.sent += part.length;
        }
      }
      this.hashes[i] = hash.hex();
      dc.send(JSON.stringify({ t: 'eof', index: i, sha256: this.hashes[i] }));
    }
    this.setState('verifying'); // all bytes handed over; waiting for the receiver's `received`
  }
}

/**
 * Resolves when the channel's buffer fell to its low threshold, or the channel closed.
 * @param {RTCDataChannel} dc
 * @returns {Promise<void>}
 */
function drained(dc) {
  return new Promise((resolve) => {
    const done = () => {
      dc.removeEventListener('bufferedamountlow', done);
      dc.removeEventListener('close', done);
      resolve();
    };
    dc.addEventListener('bufferedamountlow', done);
    dc.addEventListener('close', done);
  });
}

/**
 * Validates a `files` proposal.
 * @param {any} msg
 * @returns {FileMeta[] | null}
 */
export function parseOffer(msg) {
  if (typeof msg.tid !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(msg.tid)) return null;
  if (!Array.isArray(msg.files) || msg.files.length === 0 || msg.files.length > MAX_FILES) return null;
  /** @type {FileMeta[]} */
  const files = [];
  for (const f of msg.files) {
    if (!f || typeof f.name !== 'string' || !Number.isSafeInteger(f.size) || f.size < 0) return null;
    files.push({ name: f.name.slice(0, 255), size: f.size, type: typeof f.type === 'string' ? f.type.slice(0, 100) : '' });
  }
  return files;
}

/** Receives a proposed transfer once accepted: hashes while it stores each file, then checks the hash. */
export class IncomingTransfer extends Transfer {
  /**
   * @param {TransferLink} link
   * @param {string} tid
   * @param {FileMeta[]} files
   */
  constructor(link, tid, files) {
    super('receive', tid, files, link);
    /** @type {'auto'|'opfs'|'memory'} */
    this.storage = 'auto';
    /** @type {{index: number, hash: Sha256, got: number} | null} */
    this.cur = null;
    /** @type {import('./sink.js').FileSink | null} */
    this.sink = null;
    /** Serialises storage work, which is async while data channel messages are not. */
    this.io = Promise.resolve();
    this.nextIndex = 0;
  }

  /**
   * Accepts every proposed file; the sender then opens the file channel.
   * @param {{storage?: 'auto'|'opfs'|'memory'}} [opts] where to store (default: OPFS when available)
   */
  accept(opts = {}) {
    if (this.state !== 'offered') return;
    this.storage = opts.storage || 'auto';
    if (!this.link.sendControl({ t: 'accept', tid: this.tid })) {
      this.end('failed', 'Not connected.');
      return;
    }
    this.setState('receiving');
  }

  /** Declines the whole transfer. */
  decline() {
    if (this.state !== 'offered') return;
    this.link.sendControl({ t: 'decline', tid: this.tid });
    this.end('declined', 'You declined.');
  }

  /**
   * Called by Peer when the sender opened `file:<tid>`.
   * @param {RTCDataChannel} dc
   */
  attach(dc) {
    if (this.state !== 'receiving' || this.dc) {
      dc.close();
      return;
    }
    this.dc = dc;
    dc.binaryType = 'arraybuffer';
    dc.onmessage = (ev) => this.#onData(ev.data);
    dc.onclose = () => {
      if (!this.ended) this.fail(this.cur?.index ?? this.nextIndex, null, 'The file channel closed before the end.');
    };
  }

  /**
   * @param {TransferState} state
   * @param {string} [error]
   */
  end(state, error) {
    if (this.ended) return;
    const sink = this.sink;
    this.sink = null;
    if (state !== 'done' && sink) this.io = this.io.then(() => sink.abort()).catch(() => {});
    super.end(state, error);
  }

  /**
   * Fails the transfer, telling the sender which file and why (code null: tell nothing, e.g. channel gone).
   * @param {number} index
   * @param {'integrity'|'size'|'write'|null} code
   * @param {string} message
   */
  fail(index, code, message) {
    if (this.ended) return;
    if (code) this.link.sendControl({ t: 'failed', tid: this.tid, index, code, message });
    this.end('failed', message);
  }

  /** @param {ArrayBuffer | string} data */
  #onData(data) {
    if (this.ended) return;
    if (typeof data === 'string') {
      let msg;
      try {
        msg = JSON.parse(data);
      } catch {
        return;
      }
      if (msg?.t === 'eof') this.#eof(msg);
      return;
    }
    const bytes = new Uint8Array(data);
    const cur = this.cur ?? this.#begin();
    if (!cur) return;
    const meta = this.files[cur.index];
    if (cur.got + bytes.length > meta.size) {
      this.fail(cur.index, 'size', `"${meta.name}" is larger than announced (${meta.size} bytes).`);
      return;
    }
    cur.hash.update(bytes);
    cur.got += bytes.length;
    this.bytes += bytes.length;
    this.io = this.io.then(() => this.sink?.write(bytes)).catch((err) => this.#writeFailed(cur.index, err));
  }

  /** Starts the next file: hashing now, opening its sink in the io queue. */
  #begin() {
    const index = this.nextIndex;
    const meta = this.files[index];
    if (!meta) {
      this.fail(index, 'size', 'More data arrived than was announced.');
      return null;
    }
    this.nextIndex++;
    this.cur = { index, hash: new Sha256(), got: 0 };
    const key = `${this.tid}-${index}-${meta.name}`;
    this.io = this.io
      .then(async () => {
        if (!this.ended) this.sink = await openSink(key, meta.type, this.storage);
      })
      .catch((err) => this.#writeFailed(index, err));
    return this.cur;
  }

  /** @param {any} msg */
  #eof(msg) {
    const cur = this.cur ?? this.#begin(); // a 0-byte file has no data messages
    if (!cur) return;
    const meta = this.files[cur.index];
    if (msg.index !== cur.index || cur.got !== meta.size) {
      this.fail(cur.index, 'size', `"${meta.name}" ended after ${cur.got} of ${meta.size} bytes.`);
      return;
    }
    const sha256 = cur.hash.hex();
    this.cur = null;
    if (sha256 !== String(msg.sha256).toLowerCase()) {
      this.fail(cur.index, 'integrity',
        `"${meta.name}" is corrupted: its SHA-256 does not match the sender's, so it was discarded.`);
      return;
    }
    this.io = this.io
      .then(async () => {
        const sink = this.sink;
        this.sink = null;
        if (this.ended || !sink) return;
        const file = await sink.close();
        /** @type {FileResult} */
        const result = { index: cur.index, ...meta, sha256, file, storage: sink.kind };
        this.results[cur.index] = result;
        this.link.sendControl({ t: 'received', tid: this.tid, index: cur.index });
        this.emit('file', result);
        if (this.results.filter(Boolean).length === this.files.length) {
          this.dc?.close(); // every file acknowledged: now the receiver closes the channel
          this.end('done');
        }
      })
      .catch((err) => this.#writeFailed(cur.index, err));
  }

  /**
   * @param {number} index
   * @param {any} err
   */
  #writeFailed(index, err) {
    const name = this.files[index]?.name ?? 'a file';
    this.fail(index, 'write', `Could not store "${name}": ${err?.message || err}`);
  }
}
