// Receiving a transfer: validate the proposal, then store and hash each file as it streams in.
import { Sha256 } from './sha256.js';
import { openSink } from './sink.js';
import { Transfer } from './transfer.js';

/**
 * @typedef {import('./transfer.js').FileMeta} FileMeta
 * @typedef {import('./transfer.js').FileResult} FileResult
 * @typedef {import('./transfer.js').TransferLink} TransferLink
 * @typedef {import('./transfer.js').TransferState} TransferState
 */

/** Limits on what a peer may propose, so a hostile offer cannot make the page allocate absurdly. */
const MAX_FILES = 10000;

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
