// Sending a transfer: propose, wait for accept, then stream the files over `file:<tid>`.
import { Sha256 } from './sha256.js';
import { safePath } from './sink.js';
import { HIGH_WATER, LOW_WATER, Transfer, randomId } from './transfer.js';

/**
 * @typedef {import('./transfer.js').TransferLink} TransferLink
 * @typedef {import('./transfer.js').FileMeta} FileMeta
 */

/**
 * What can be sent: a File (one picked from a folder, with `webkitRelativePath`, keeps its folder path), a Blob
 * with a name, or a Blob with the name and the folder path to announce (`{file, name?, path?}`; path like
 * "photos/2024", as from a dropped folder).
 * @typedef {File | Blob & {name?: string} | {file: Blob, name?: string, path?: string}} SendItem
 */

/**
 * The blob and announced metadata of one item: its folder path comes cleaned (safePath), so what the receiver
 * is told is what it keeps.
 * @param {SendItem} item
 * @param {number} i
 * @returns {{blob: Blob, meta: FileMeta}}
 */
export function describeItem(item, i) {
  const wrapped = !(item instanceof Blob) && item && typeof item === 'object' && /** @type {any} */ (item).file instanceof Blob;
  const blob = wrapped ? /** @type {{file: Blob}} */ (item).file : /** @type {Blob} */ (item);
  const any = /** @type {any} */ (item);
  const name = String((wrapped ? any.name : '') || /** @type {any} */ (blob).name || `file-${i + 1}`);
  let path = wrapped ? String(any.path ?? '') : '';
  const rel = /** @type {any} */ (blob).webkitRelativePath;
  if (!wrapped && typeof rel === 'string' && rel.includes('/')) path = rel.slice(0, rel.lastIndexOf('/'));
  /** @type {FileMeta} */
  const meta = { name, size: blob.size, type: blob.type || '' };
  path = safePath(path);
  if (path) meta.path = path; // announced only for files from a folder: other messages stay as they were
  return { blob, meta };
}

/**
 * The sender reads the file in pieces of this size, keeping READ_AHEAD reads in flight. Each read is a round
 * trip to the browser process; 4 MiB pieces halved its CPU use compared with 1 MiB ones.
 */
const READ_SIZE = 4 << 20;
const READ_AHEAD = 3;

/** Sends files: proposes them, waits for accept, then streams them over `file:<tid>`. */
export class OutgoingTransfer extends Transfer {
  /**
   * @param {TransferLink} link
   * @param {SendItem[]} files
   */
  constructor(link, files) {
    const items = files.map(describeItem);
    super('send', randomId(), items.map((x) => x.meta), link);
    this.blobs = items.map((x) => x.blob);
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
    else if (msg.t === 'decline' && this.state === 'offered') {
      // A reason comes with an automatic decline (a limit of the receiver's), not with a person's.
      const why = typeof msg.reason === 'string' && msg.reason ? msg.reason.slice(0, 200) : '';
      this.autoDeclined = !!why;
      this.end('declined', why ? `Declined automatically by the other side: ${why}.` : 'The other side declined.');
    } else if (msg.t === 'received') {
      // Each file once, in order, and only once it was sent (its hash and eof are out): a duplicate or early
      // `received` must not make this side report a delivery that did not happen.
      const i = msg.index;
      if (i !== this.confirmed || this.hashes[i] === undefined) return;
      this.results[i] = { index: i, ...this.files[i], sha256: this.hashes[i] };
      this.emit('file', this.results[i]);
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
