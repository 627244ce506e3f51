// Receiving a transfer: validate the proposal, then store and hash each file as it streams in.
import { Sha256 } from './sha256.js';
import { diskStorage, memoryInUse, openSink, releaseMemory, reserveMemory, safeName, safePath } from './sink.js';
import { LIMITS, Transfer, rateLimit } from './transfer.js';

/**
 * @typedef {import('./transfer.js').FileMeta} FileMeta
 * @typedef {import('./transfer.js').FileResult} FileResult
 * @typedef {import('./transfer.js').TransferLink} TransferLink
 * @typedef {import('./transfer.js').TransferState} TransferState
 */

const TID_RE = /^[A-Za-z0-9_-]{1,64}$/;
/** A MIME type is kept as information only (received files are stored as application/octet-stream). */
const TYPE_RE = /^[\x21-\x7e]{1,100}$/;

/**
 * Validates a `files` proposal. Names come back cleaned by safeName (docs/datachannel.md, "File names") and
 * folder paths by safePath ("Folders"; a path that is not a string counts as none): what the page shows is what
 * it saves.
 * @param {any} msg
 * @returns {FileMeta[] | null}
 */
export function parseOffer(msg) {
  if (typeof msg.tid !== 'string' || !TID_RE.test(msg.tid)) return null;
  if (!Array.isArray(msg.files) || msg.files.length === 0 || msg.files.length > LIMITS.filesPerOffer) return null;
  /** @type {FileMeta[]} */
  const files = [];
  for (const f of msg.files) {
    if (!f || typeof f.name !== 'string' || !Number.isSafeInteger(f.size) || f.size < 0) return null;
    files.push({ name: safeName(f.name), size: f.size, type: typeof f.type === 'string' && TYPE_RE.test(f.type) ? f.type : '',
      path: typeof f.path === 'string' ? safePath(f.path) : '' });
  }
  return files;
}

/**
 * @param {number} n bytes
 * @returns {string} e.g. "512 MiB"
 */
const mib = (n) => `${Math.round(n / 2 ** 20)} MiB`;

/**
 * Takes a `files` proposal from a peer, within LIMITS: a new IncomingTransfer (already declined when it is too
 * large to hold in memory here), or an automatic decline that tells the sender why (`reason`).
 * @param {TransferLink} link
 * @param {any} msg
 * @param {Map<string, IncomingTransfer>} incoming the peer's incoming transfers; ended ones beyond
 *   LIMITS.keepEnded are forgotten here
 * @param {object} owner the Peer, whose offer rate is limited
 * @returns {{transfer: IncomingTransfer | null, limited: string}} limited: a note for the person when offers
 *   were declined automatically (at most one every 10 s)
 */
export function receiveOffer(link, msg, incoming, owner) {
  /** @type {{transfer: IncomingTransfer | null, limited: string}} */
  const out = { transfer: null, limited: '' };
  if (typeof msg.tid !== 'string' || !TID_RE.test(msg.tid) || incoming.has(msg.tid)) return out;
  /** @param {string} reason */
  const decline = (reason) => link.sendControl({ t: 'decline', tid: msg.tid, reason });
  const rate = rateLimit(owner, 'offer');
  const pending = [...incoming.values()].filter((t) => t.state === 'offered').length;
  if (pending >= LIMITS.pendingOffers || !rate.take()) {
    decline(pending >= LIMITS.pendingOffers
      ? `too many offers waiting for an answer (at most ${LIMITS.pendingOffers})` : 'too many offers at once');
    if (rate.notice()) out.limited = 'Too many file offers at once: some were declined automatically.';
    return out;
  }
  if (Array.isArray(msg.files) && msg.files.length > LIMITS.filesPerOffer) {
    decline(`too many files in one offer (at most ${LIMITS.filesPerOffer})`);
    out.limited = `An offer of ${msg.files.length} files was declined automatically (at most ${LIMITS.filesPerOffer} at once).`;
    return out;
  }
  const files = parseOffer(msg);
  if (!files) {
    decline('malformed offer');
    return out;
  }
  let ended = 0;
  for (const t of incoming.values()) if (t.ended) ended++;
  for (const [tid, t] of incoming) {
    if (ended <= LIMITS.keepEnded) break;
    if (t.ended) {
      incoming.delete(tid);
      ended--;
    }
  }
  const t = new IncomingTransfer(link, msg.tid, files);
  const room = LIMITS.memoryBudget - memoryInUse();
  if (!diskStorage() && t.total > room) t.refuseMemory();
  out.transfer = t;
  return out;
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
    /** Bytes reserved in the in-memory budget (when the files cannot go to disk). */
    this.reserved = 0;
  }

  /**
   * Accepts every proposed file; the sender then opens the file channel.
   * @param {{storage?: 'auto'|'opfs'|'memory'}} [opts] where to store (default: OPFS when available)
   */
  accept(opts = {}) {
    if (this.state !== 'offered') return;
    this.storage = opts.storage || 'auto';
    if (this.storage === 'memory' || (this.storage === 'auto' && !diskStorage())) {
      if (!reserveMemory(this.total, LIMITS.memoryBudget)) {
        this.refuseMemory();
        return;
      }
      this.reserved = this.total;
    }
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

  /** Declines automatically: too large to hold in memory, where files cannot go to disk. */
  refuseMemory() {
    if (this.state !== 'offered') return;
    const room = Math.max(0, LIMITS.memoryBudget - memoryInUse());
    const budget = mib(LIMITS.memoryBudget);
    this.link.sendControl({ t: 'decline', tid: this.tid,
      reason: `too large for the receiver's browser: it cannot store files on disk, and holds at most ${budget} in memory` });
    this.autoDeclined = true;
    this.end('declined', `Declined automatically: ${mib(this.total)} is more than this page can hold in memory ` +
      `(${budget} in all, ${mib(room)} free). It cannot store files on disk here: open it over HTTPS or on localhost ` +
      'to receive large files.');
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
    releaseMemory(this.reserved); // a completed file's Blob is the app's from now on
    this.reserved = 0;
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
        if (this.ended) return;
        const sink = await openSink(key, this.storage, { dir: this.tid, path: meta.path ?? '', name: meta.name });
        if (this.ended) {
          await sink.abort();
          return;
        }
        if (sink.kind === 'memory' && !this.reserved) { // disk storage failed after all
          if (!reserveMemory(this.total, LIMITS.memoryBudget)) {
            throw new Error(`no disk storage here, and it does not fit in memory (${mib(LIMITS.memoryBudget)} at most)`);
          }
          this.reserved = this.total;
        }
        this.sink = sink;
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
