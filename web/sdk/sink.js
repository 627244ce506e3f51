// Where received files go: the origin-private file system (OPFS) when the browser has it, so a 1 GiB file
// never sits in JS memory, else Blob parts in memory.

/** OPFS folder that holds received files. */
const DIR = 'p2plobby-received';
/** Received files older than this are removed the first time OPFS is used in a page. */
const MAX_AGE_MS = 24 * 3600 * 1000;
/** Writes to OPFS are batched to this size: each write is a round trip to the browser process. */
const BATCH = 4 << 20;
/**
 * The type of every received file, whatever the sender claimed: a blob of the sender's type (text/html, say)
 * opened from the page would be a same-origin document; as application/octet-stream it can only be saved.
 */
export const STORED_TYPE = 'application/octet-stream';

/** Bytes reserved by transfers being assembled in memory (see LIMITS.memoryBudget). */
let memoryReserved = 0;

/**
 * Reserves room in the in-memory budget for a transfer that cannot go to disk.
 * @param {number} bytes
 * @param {number} budget
 * @returns {boolean} false when that would go over the budget (nothing is reserved then)
 */
export function reserveMemory(bytes, budget) {
  if (memoryReserved + bytes > budget) return false;
  memoryReserved += bytes;
  return true;
}

/** @param {number} bytes what reserveMemory reserved */
export function releaseMemory(bytes) {
  memoryReserved = Math.max(0, memoryReserved - bytes);
}

/** @returns {number} bytes reserved in memory right now */
export function memoryInUse() {
  return memoryReserved;
}

/**
 * Whether received files can go to disk (OPFS) here, as far as can be told without asking: OPFS needs a
 * secure context (HTTPS or localhost), so a page over plain HTTP on a LAN address keeps files in memory.
 * @returns {boolean}
 */
export function diskStorage() {
  const nav = /** @type {any} */ (globalThis.navigator);
  return globalThis.isSecureContext !== false && typeof nav?.storage?.getDirectory === 'function' &&
    typeof globalThis.FileSystemFileHandle?.prototype?.createWritable === 'function';
}

/**
 * @typedef {object} FileSink
 * @property {'opfs'|'memory'} kind
 * @property {(bytes: Uint8Array) => Promise<void>} write appends bytes; callers await writes in order
 * @property {() => Promise<File|Blob>} close finishes and returns the stored file
 * @property {() => Promise<void>} abort drops whatever was written
 */

/** A name is cut to this many bytes of UTF-8, keeping an extension of at most MAX_EXT_BYTES. */
const MAX_NAME_BYTES = 180;
const MAX_EXT_BYTES = 20;
/** Removed from names: C0/C1 controls, DEL, bidi controls, line/paragraph separators, invisible characters. */
// eslint-disable-next-line no-control-regex, no-misleading-character-class
const REMOVED = /[\u0000-\u001f\u007f-\u009f\u061c\u200b\u200e\u200f\u2028\u2029\u202a-\u202e\u2060\u2066-\u2069\ufeff]/g;
/** Space separators (Unicode Zs), spelled out so that the Go peer's rule is the same character for character. */
const SPACE = /[\u0020\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const RESERVED = /^(CON|PRN|AUX|NUL|CONIN\$|CONOUT\$|COM[0-9\u00b9\u00b2\u00b3]|LPT[0-9\u00b9\u00b2\u00b3])$/;

/**
 * A file name safe to store and offer for download, by the rules of docs/datachannel.md ("File names"), which
 * the Go peer's sanitizeName applies too (both are tested with peer/testdata/hostile-names.json): no path, no
 * control, bidi or invisible characters, nothing hidden or reserved, at most 180 bytes of UTF-8, not empty.
 * @param {string} name
 * @returns {string}
 */
export function safeName(name) {
  let s = String(name ?? '').replace(LONE_SURROGATE, '\ufffd');
  s = s.slice(Math.max(s.lastIndexOf('/'), s.lastIndexOf('\\')) + 1);
  s = trim(s.replace(REMOVED, '').replace(/[<>:"|?*\ufffd]/g, '_'), (c) => c === '.' || SPACE.test(c), true);
  if (reserved(s)) s = `_${s}`;
  if (utf8Length(s) > MAX_NAME_BYTES) {
    let [base, ext] = splitExt(s);
    if (utf8Length(ext) > MAX_EXT_BYTES) [base, ext] = [s, ''];
    s = trim(truncateUtf8(base, MAX_NAME_BYTES - utf8Length(ext)), (c) => c === '.' || SPACE.test(c), false) + ext;
    if (reserved(s)) s = `_${s}`; // "CON      x" shortened to "CON"
  }
  return s || 'file';
}

/**
 * Windows device names (CON, NUL, COM1, CONIN$…), refused there even with an extension and spaces before it.
 * @param {string} name
 * @returns {boolean}
 */
function reserved(name) {
  const dot = name.indexOf('.');
  const base = trim(dot >= 0 ? name.slice(0, dot) : name, (c) => SPACE.test(c), false);
  return RESERVED.test(base.replace(/[a-z]+/g, (c) => c.toUpperCase()));
}

/**
 * Removes the characters that match from the end of s (and from its start too when both): a loop, where a
 * regular expression like /[. ]+$/ can take quadratic time on a hostile name.
 * @param {string} s
 * @param {(c: string) => boolean} match takes one UTF-16 unit (every trimmed character is in the BMP)
 * @param {boolean} both
 * @returns {string}
 */
function trim(s, match, both) {
  let a = 0;
  let b = s.length;
  while (both && a < b && match(s[a])) a++;
  while (b > a && match(s[b - 1])) b--;
  return s.slice(a, b);
}

/**
 * "a.tar.gz" → ["a", ".tar.gz"], "a.txt" → ["a", ".txt"], ".x" → [".x", ""].
 * @param {string} name
 * @returns {[string, string]}
 */
function splitExt(name) {
  const dot = name.lastIndexOf('.');
  let ext = dot >= 0 ? name.slice(dot) : '';
  let base = name.slice(0, name.length - ext.length);
  const dot2 = base.lastIndexOf('.');
  if (dot2 >= 0 && base.slice(dot2).toLowerCase() === '.tar') [base, ext] = [base.slice(0, dot2), base.slice(dot2) + ext];
  return base ? [base, ext] : [name, ''];
}

/**
 * @param {string} s
 * @returns {number} its length in UTF-8
 */
function utf8Length(s) {
  return new TextEncoder().encode(s).length;
}

/**
 * The longest prefix of s, whole code points, of at most n bytes of UTF-8.
 * @param {string} s
 * @param {number} n
 * @returns {string}
 */
function truncateUtf8(s, n) {
  let bytes = 0;
  let end = 0;
  for (const c of s) {
    const cp = /** @type {number} */ (c.codePointAt(0));
    bytes += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (bytes > n) break;
    end += c.length;
  }
  return s.slice(0, end);
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
 * Opens a sink for one incoming file; what it stores is of type STORED_TYPE.
 * @param {string} key unique storage name (e.g. transfer id + index + name)
 * @param {'auto'|'opfs'|'memory'} [storage] 'auto' (default) uses OPFS when available
 * @returns {Promise<FileSink>}
 */
export async function openSink(key, storage = 'auto') {
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
  return memorySink();
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
      // Disk-backed (reading it does not load it into memory); its own type would follow the name's extension.
      return new Blob([await handle.getFile()], { type: STORED_TYPE });
    },
    async abort() {
      parts = [];
      await w.abort().catch(() => {});
      await dir.removeEntry(name).catch(() => {});
    },
  };
}

/** @returns {FileSink} */
function memorySink() {
  /** @type {Uint8Array[]} */
  let parts = [];
  return {
    kind: 'memory',
    async write(bytes) {
      parts.push(bytes);
    },
    async close() {
      const b = new Blob(/** @type {BlobPart[]} */ (parts), { type: STORED_TYPE });
      parts = [];
      return b;
    },
    async abort() {
      parts = [];
    },
  };
}
