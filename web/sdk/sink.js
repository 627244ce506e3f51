// Where received files go: the origin-private file system (OPFS) when the browser has it, so a 1 GiB file
// never sits in JS memory, else Blob parts in memory.

/** OPFS folder that holds received files. */
const DIR = 'p2plobby-received';
/** Received files older than this are removed the first time OPFS is used in a page. */
const MAX_AGE_MS = 24 * 3600 * 1000;
/** Writes to OPFS are batched to this size: each write is a round trip to the browser process. */
const BATCH = 4 << 20;

/**
 * @typedef {object} FileSink
 * @property {'opfs'|'memory'} kind
 * @property {(bytes: Uint8Array) => Promise<void>} write appends bytes; callers await writes in order
 * @property {() => Promise<File|Blob>} close finishes and returns the stored file
 * @property {() => Promise<void>} abort drops whatever was written
 */

/**
 * A file name safe to store and offer for download: no path, no control characters, not empty.
 * @param {string} name
 * @returns {string}
 */
export function safeName(name) {
  const base = String(name ?? '').split(/[/\\]/).pop() || '';
  // eslint-disable-next-line no-control-regex
  const clean = base.replace(/[\u0000-\u001f\u007f<>:"|?*]/g, '_').replace(/^\.+/, '').trim().slice(0, 180);
  return clean || 'file';
}

/** @type {Promise<FileSystemDirectoryHandle | null> | null} */
let dirPromise = null;

/** @returns {Promise<FileSystemDirectoryHandle | null>} the OPFS folder, or null when unavailable */
function opfsDir() {
  dirPromise ??= (async () => {
    try {
      const nav = /** @type {any} */ (globalThis.navigator);
      if (!nav?.storage?.getDirectory) return null;
      if (typeof globalThis.FileSystemFileHandle?.prototype?.createWritable !== 'function') return null;
      const root = await nav.storage.getDirectory();
      const dir = await root.getDirectoryHandle(DIR, { create: true });
      cleanup(dir); // in the background; a failure only leaves old files
      return dir;
    } catch {
      return null;
    }
  })();
  return dirPromise;
}

/**
 * Removes files left by earlier visits.
 * @param {FileSystemDirectoryHandle} dir
 */
async function cleanup(dir) {
  try {
    for await (const [name, handle] of /** @type {any} */ (dir).entries()) {
      if (handle.kind !== 'file') continue;
      const f = await handle.getFile();
      if (Date.now() - f.lastModified > MAX_AGE_MS) await dir.removeEntry(name).catch(() => {});
    }
  } catch {
    // best effort
  }
}

/**
 * Opens a sink for one incoming file.
 * @param {string} key unique storage name (e.g. transfer id + index + name)
 * @param {string} type MIME type for the resulting Blob
 * @param {'auto'|'opfs'|'memory'} [storage] 'auto' (default) uses OPFS when available
 * @returns {Promise<FileSink>}
 */
export async function openSink(key, type, storage = 'auto') {
  if (storage !== 'memory') {
    const dir = await opfsDir();
    if (dir) {
      try {
        return await opfsSink(dir, safeName(key));
      } catch (err) {
        if (storage === 'opfs') throw err;
      }
    } else if (storage === 'opfs') {
      throw new Error('OPFS is not available in this browser');
    }
  }
  return memorySink(type);
}

/**
 * @param {FileSystemDirectoryHandle} dir
 * @param {string} name
 * @returns {Promise<FileSink>}
 */
async function opfsSink(dir, name) {
  const handle = await dir.getFileHandle(name, { create: true });
  const w = await /** @type {any} */ (handle).createWritable();
  /** @type {Uint8Array[]} */
  let parts = [];
  let pending = 0;
  const flush = async () => {
    if (!pending) return;
    const buf = new Uint8Array(pending);
    let o = 0;
    for (const p of parts) {
      buf.set(p, o);
      o += p.length;
    }
    parts = [];
    pending = 0;
    await w.write(buf);
  };
  return {
    kind: 'opfs',
    async write(bytes) {
      parts.push(bytes);
      pending += bytes.length;
      if (pending >= BATCH) await flush();
    },
    async close() {
      await flush();
      await w.close();
      return handle.getFile(); // disk-backed: reading it does not load it into memory
    },
    async abort() {
      parts = [];
      await w.abort().catch(() => {});
      await dir.removeEntry(name).catch(() => {});
    },
  };
}

/**
 * @param {string} type
 * @returns {FileSink}
 */
function memorySink(type) {
  /** @type {Uint8Array[]} */
  let parts = [];
  return {
    kind: 'memory',
    async write(bytes) {
      parts.push(bytes);
    },
    async close() {
      const b = new Blob(/** @type {BlobPart[]} */ (parts), { type });
      parts = [];
      return b;
    },
    async abort() {
      parts = [];
    },
  };
}
