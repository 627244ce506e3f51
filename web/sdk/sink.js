// Where received files go: the origin-private file system (OPFS) when the browser has it, so a 1 GiB file
// never sits in JS memory, else Blob parts in memory. Also: the cleaning rules of names and folder paths, the
// cleanup of files earlier pages left in OPFS, and saving into a directory the person chose.
import { randomId } from './transfer.js';

/** OPFS folder that holds received files. */
const DIR = 'p2plobby-received';
/** Where the browser has no Web Locks, stored files older than this count as left over (see cleanStale). */
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
 * @property {(bytes: Uint8Array) => Promise<void>} write appends bytes; callers await writes in order. The sink
 *   may take the bytes' ArrayBuffer (transfer it to a worker), so the caller must not use them afterwards
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
  return cleanName(s) || 'file';
}

/** A file's path has at most this many directories (docs/datachannel.md, "Folders"); deeper ones are dropped. */
export const MAX_PATH_COMPONENTS = 8;

/**
 * A folder path safe to store under, by the rules of docs/datachannel.md ("Folders"), which the Go peer's
 * sanitizePath applies too (both are tested with peer/testdata/hostile-paths.json): "/" and "\\" separate
 * components; each is cleaned like a file name and dropped when nothing is left ("", ".", "..", "..."); at most
 * MAX_PATH_COMPONENTS are kept. The result is "" (the top level) or components joined by "/", never absolute and
 * never with "." or "..", so it cannot lead out of the directory it is put under.
 * @param {string} path
 * @returns {string}
 */
export function safePath(path) {
  /** @type {string[]} */
  const out = [];
  for (const part of String(path ?? '').replace(LONE_SURROGATE, '\ufffd').split(/[/\\]/)) {
    const c = cleanName(part);
    if (c) out.push(c);
    if (out.length === MAX_PATH_COMPONENTS) break;
  }
  return out.join('/');
}

/**
 * The rules of a file name (3 to 7 of "File names") applied to a string without separators; may return ''.
 * @param {string} name
 * @returns {string}
 */
function cleanName(name) {
  let s = trim(name.replace(REMOVED, '').replace(/[<>:"|?*\ufffd]/g, '_'), (c) => c === '.' || SPACE.test(c), true);
  if (reserved(s)) s = `_${s}`;
  if (utf8Length(s) > MAX_NAME_BYTES) {
    let [base, ext] = splitExt(s);
    if (utf8Length(ext) > MAX_EXT_BYTES) [base, ext] = [s, ''];
    s = trim(truncateUtf8(base, MAX_NAME_BYTES - utf8Length(ext)), (c) => c === '.' || SPACE.test(c), false) + ext;
    if (reserved(s)) s = `_${s}`; // "CON      x" shortened to "CON"
  }
  return s;
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
 * The longest prefix of s, whole code points, of at most n bytes of UTF-8 (names here; chat text in peer.js).
 * @param {string} s
 * @param {number} n
 * @returns {string}
 */
export function truncateUtf8(s, n) {
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

/**
 * This page's storage session. Whatever the page stores in OPFS is named `<session>.…`, and the page holds the
 * Web Lock `p2plobby-received.<session>` for as long as it lives: anything in OPFS whose session holds no lock
 * was left by a page that is gone (closed, reloaded, crashed), and cleanStale() removes it.
 */
const SESSION = randomId();
const LOCK_PREFIX = `${DIR}.`;

/** @type {Promise<boolean> | null} */
let held = null;

/** @returns {Promise<boolean>} whether this page now holds its session's lock (false: no Web Locks here) */
function holdSession() {
  held ??= new Promise((resolve) => {
    const locks = /** @type {any} */ (globalThis.navigator)?.locks;
    if (typeof locks?.request !== 'function') return resolve(false);
    locks.request(LOCK_PREFIX + SESSION, () => {
      resolve(true);
      return new Promise(() => {}); // held until the page goes away
    }).catch(() => resolve(false));
  });
  return held;
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
      await holdSession(); // before the first file: another page's cleanStale must see this one alive
      cleanStale(); // in the background (its report stays available); a failure only leaves old files
      return dir;
    } catch {
      return null;
    }
  })();
  return dirPromise;
}

/**
 * What cleanStale removed.
 * @typedef {{files: number, bytes: number}} CleanupReport
 */

/** @type {Promise<CleanupReport> | null} */
let stalePromise = null;

/**
 * Removes received files that earlier pages left in OPFS: those of every page that is gone (see SESSION), or,
 * where the browser has no Web Locks, those older than a day. Runs once per page (on the first call, or on the
 * first file stored); every call returns the same report, so an app can say what was removed ("Removed 3 files
 * left from an earlier visit") instead of doing it silently.
 * @returns {Promise<CleanupReport>}
 */
export function cleanStale() {
  stalePromise ??= (async () => {
    /** @type {CleanupReport} */
    const report = { files: 0, bytes: 0 };
    if (!diskStorage()) return report;
    try {
      const nav = /** @type {any} */ (globalThis.navigator);
      const root = await nav.storage.getDirectory();
      let dir;
      try {
        dir = await root.getDirectoryHandle(DIR);
      } catch {
        return report; // nothing was ever stored here
      }
      const locking = await holdSession();
      const live = new Set([SESSION]);
      if (locking) {
        for (const l of (await nav.locks.query()).held ?? []) {
          if (typeof l.name === 'string' && l.name.startsWith(LOCK_PREFIX)) live.add(l.name.slice(LOCK_PREFIX.length));
        }
      }
      /** @type {[string, any][]} */
      const entries = [];
      for await (const entry of /** @type {any} */ (dir).entries()) entries.push(entry);
      for (const [name, handle] of entries) {
        if (live.has(name.slice(0, name.indexOf('.')))) continue;
        const sum = await measure(handle);
        if (!locking && Date.now() - sum.newest <= MAX_AGE_MS) continue; // without locks, only what is old
        try {
          await dir.removeEntry(name, { recursive: true });
          report.files += sum.files;
          report.bytes += sum.bytes;
        } catch {
          // in use, or gone already
        }
      }
    } catch {
      // best effort
    }
    return report;
  })();
  return stalePromise;
}

/**
 * @param {any} handle a file or directory handle
 * @returns {Promise<{files: number, bytes: number, newest: number}>} what it holds
 */
async function measure(handle) {
  const sum = { files: 0, bytes: 0, newest: 0 };
  try {
    if (handle.kind === 'file') {
      const f = await handle.getFile();
      return { files: 1, bytes: f.size, newest: f.lastModified };
    }
    for await (const child of handle.values()) {
      const s = await measure(child);
      sum.files += s.files;
      sum.bytes += s.bytes;
      sum.newest = Math.max(sum.newest, s.newest);
    }
  } catch {
    // unreadable: counted as what was seen
  }
  return sum;
}

/**
 * A file sent from a folder (docs/datachannel.md, "Folders").
 * @typedef {object} SinkFolder
 * @property {string} dir a directory for the transfer (e.g. its id), so that transfers do not mix
 * @property {string} path the file's cleaned path (safePath), "" for the top level
 * @property {string} name the file's cleaned name (safeName)
 */

/**
 * Opens a sink for one incoming file; what it stores is of type STORED_TYPE.
 * @param {string} key unique storage name (e.g. transfer id + index + name)
 * @param {'auto'|'opfs'|'memory'} [storage] 'auto' (default) uses OPFS when available
 * @param {SinkFolder} [folder] for a file with a path: stored in OPFS as dir/path/name, keeping the folder's layout
 * @returns {Promise<FileSink>}
 */
export async function openSink(key, storage = 'auto', folder) {
  if (storage !== 'memory') {
    const dir = await opfsDir();
    if (dir) {
      try {
        const path = safePath(folder?.path ?? '');
        if (!folder || !path) return await opfsSink([dir], `${SESSION}.${safeName(key)}`);
        const chain = await directories(dir, [`${SESSION}.${safeName(folder.dir)}`, ...path.split('/')]);
        return await opfsSink(chain, await freeName(chain[chain.length - 1], safeName(folder.name)));
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
 * Opens (creating them) the directories of a cleaned path under dir. A component whose name a file already has
 * becomes "name (1)", "name (2)"…, as in the Go peer.
 * @param {FileSystemDirectoryHandle} dir
 * @param {string[]} parts cleaned components
 * @returns {Promise<FileSystemDirectoryHandle[]>} dir, then each directory of the path
 */
async function directories(dir, parts) {
  const chain = [dir];
  for (const part of parts) {
    const parent = chain[chain.length - 1];
    for (let n = 0; ; n++) {
      if (n > 1000) throw new Error(`no free directory name for ${part}`);
      try {
        chain.push(await parent.getDirectoryHandle(n ? `${part} (${n})` : part, { create: true }));
        break;
      } catch (err) {
        if (/** @type {any} */ (err)?.name !== 'TypeMismatchError') throw err; // a file has that name: next one
      }
    }
  }
  return chain;
}

/**
 * The first of name, "base (1).ext", "base (2).ext"… that nothing in dir has: files are never overwritten.
 * @param {FileSystemDirectoryHandle} dir
 * @param {string} name
 * @returns {Promise<string>}
 */
async function freeName(dir, name) {
  const [base, ext] = splitExt(name);
  for (let n = 0; n <= 10000; n++) {
    const candidate = n ? `${base} (${n})${ext}` : name;
    try {
      await dir.getFileHandle(candidate);
    } catch (err) {
      const why = /** @type {any} */ (err)?.name;
      if (why === 'NotFoundError') return candidate;
      if (why !== 'TypeMismatchError') throw err; // TypeMismatchError: a directory has that name
    }
  }
  throw new Error(`no free name for ${name}`);
}

/**
 * Saves a file into a directory the person chose (File System Access API, e.g. from showDirectoryPicker, with
 * write permission), under its cleaned folder path: directories are created as needed, an existing file is
 * never overwritten (the new one becomes "name (1).ext"), and nothing can land outside dir.
 * @param {FileSystemDirectoryHandle} dir
 * @param {Blob} file
 * @param {string} name cleaned again here
 * @param {string} [path] folder path, cleaned again here
 * @returns {Promise<string>} where it went, relative to dir ("photos/2024/a (1).jpg")
 */
export async function saveToDirectory(dir, file, name, path = '') {
  const parts = safePath(path).split('/').filter(Boolean);
  const chain = await directories(dir, parts);
  const target = chain[chain.length - 1];
  const free = await freeName(target, safeName(name));
  const handle = await target.getFileHandle(free, { create: true });
  const w = await /** @type {any} */ (handle).createWritable();
  try {
    await file.stream().pipeTo(w); // closes w when done
  } catch (err) {
    await w.abort?.().catch(() => {});
    await target.removeEntry(free).catch(() => {});
    throw err;
  }
  return [...chain.slice(1).map((d) => d.name), free].join('/');
}

/**
 * @param {FileSystemDirectoryHandle[]} chain the directories down to where the file goes (the last one)
 * @param {string} name
 * @returns {Promise<FileSink>}
 */
async function opfsSink(chain, name) {
  const dir = chain[chain.length - 1];
  const handle = await dir.getFileHandle(name, { create: true });
  /** Removes the file, and the folder's directories while they are empty (removeEntry refuses one that is not). */
  const remove = async () => {
    await dir.removeEntry(name).catch(() => {});
    for (let i = chain.length - 1; i > 0; i--) {
      if (!(await chain[i - 1].removeEntry(chain[i].name).then(() => true, () => false))) break;
    }
  };
  // Disk-backed (reading it does not load it into memory); its own type would follow the name's extension.
  const stored = async () => new Blob([await handle.getFile()], { type: STORED_TYPE });
  const viaWorker = await workerSink(handle, stored, remove);
  if (viaWorker) return viaWorker;
  const w = await /** @type {any} */ (handle).createWritable();
  // One batch buffer for the whole file, filled as chunks arrive: a fresh one per batch cost more CPU than the
  // copy itself (new memory is page-faulted in), and w.write is done with it once its promise resolves.
  /** @type {Uint8Array | null} */
  let batch = null;
  let pending = 0;
  const flush = async () => {
    if (!pending || !batch) return;
    const n = pending;
    pending = 0;
    await w.write(n === batch.length ? batch : batch.subarray(0, n));
  };
  return {
    kind: 'opfs',
    async write(bytes) {
      for (let o = 0; o < bytes.length;) {
        batch ??= new Uint8Array(BATCH);
        const n = Math.min(bytes.length - o, BATCH - pending);
        batch.set(bytes.subarray(o, o + n), pending);
        pending += n;
        o += n;
        if (pending === BATCH) await flush();
      }
    },
    async close() {
      await flush();
      batch = null;
      await w.close();
      return stored();
    },
    async abort() {
      batch = null;
      pending = 0;
      await w.abort().catch(() => {});
      await remove();
    },
  };
}

/**
 * @typedef {object} Writer the worker that writes files with sync access handles (opfsworker.js)
 * @property {Worker} worker
 * @property {Map<number, (answer: any) => void>} calls waiting for an answer, by request number
 * @property {number} n the last request number
 * @property {boolean} dead it failed to load or crashed
 */

/**
 * Started on first use; null where it cannot run or failed (then files go through createWritable).
 * @type {Writer | null | undefined}
 */
let writer;

/**
 * How long the worker may take to open a file (it loads on the first) before it is given up on: files then go
 * without it (a file it still had open fails with a write error).
 */
const WORKER_OPEN_MS = 15000;

/**
 * Asks the worker something and waits for the answer.
 * @param {Writer} wr
 * @param {any} msg without `n`
 * @param {number} [timeoutMs]
 * @returns {Promise<any>} the answer; {error, unsupported: true} when the worker failed or did not answer in time
 */
function ask(wr, msg, timeoutMs = 0) {
  if (wr.dead) return Promise.resolve({ error: 'the storage worker failed', unsupported: true });
  const n = ++wr.n;
  return new Promise((resolve) => {
    /** @type {any} */
    let timer;
    wr.calls.set(n, (answer) => {
      clearTimeout(timer);
      resolve(answer);
    });
    if (timeoutMs) timer = setTimeout(() => kill(wr), timeoutMs);
    wr.worker.postMessage({ ...msg, n });
  });
}

/**
 * Gives up on the worker: it failed to load, crashed or hangs. Waiting calls get an error.
 * @param {Writer} wr
 */
function kill(wr) {
  if (wr.dead) return;
  wr.dead = true;
  if (writer === wr) writer = null;
  wr.worker.terminate();
  for (const resolve of wr.calls.values()) resolve({ error: 'the storage worker failed', unsupported: true });
  wr.calls.clear();
}

/** @returns {Writer | null} the writer, started now when it was not yet */
function startWriter() {
  if (writer !== undefined) return writer;
  writer = null;
  try {
    const worker = new Worker(new URL('./opfsworker.js', import.meta.url));
    /** @type {Writer} */
    const wr = { worker, calls: new Map(), n: 0, dead: false };
    worker.onmessage = (e) => {
      const resolve = wr.calls.get(e.data?.n);
      wr.calls.delete(e.data?.n);
      resolve?.(e.data);
    };
    worker.onerror = (e) => {
      e.preventDefault();
      kill(wr);
    };
    writer = wr;
  } catch {
    // no workers here, or not from this URL
  }
  return writer;
}

/** Gives each file in the worker an id. */
let workerFiles = 0;

/**
 * A sink that hands the chunks to the storage worker (opfsworker.js), transferring their buffers, without
 * waiting for the writes: the worker writes in order and reports a failure when the file is closed.
 * @param {FileSystemFileHandle} handle
 * @param {() => Promise<Blob>} stored the stored file, once closed
 * @param {() => Promise<void>} remove
 * @returns {Promise<FileSink | null>} null where the worker cannot write files (then use createWritable)
 */
async function workerSink(handle, stored, remove) {
  const wr = startWriter();
  if (!wr) return null;
  const id = `f${++workerFiles}`;
  const opened = await ask(wr, { op: 'open', id, handle }, WORKER_OPEN_MS);
  if (opened.error) {
    if (opened.unsupported) kill(wr); // the same answer for every file: stop asking
    return null;
  }
  let open = true;
  // Chunks go to the worker in messages of about BATCH bytes: each message wakes the worker up.
  /** @type {ArrayBuffer[]} */
  let bufs = [];
  let pending = 0;
  const post = () => {
    if (!bufs.length) return;
    wr.worker.postMessage({ op: 'write', id, bufs }, bufs);
    bufs = [];
    pending = 0;
  };
  return {
    kind: 'opfs',
    async write(bytes) {
      if (!open) throw new Error('write after close');
      if (wr.dead) throw new Error('the storage worker failed');
      const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer;
      bufs.push(whole ? /** @type {ArrayBuffer} */ (bytes.buffer) : bytes.slice().buffer);
      pending += bytes.length;
      if (pending >= BATCH) post();
    },
    async close() {
      open = false;
      post();
      const res = await ask(wr, { op: 'close', id });
      if (res.error) throw new Error(res.error);
      return stored();
    },
    async abort() {
      bufs = [];
      if (open) await ask(wr, { op: 'abort', id });
      open = false;
      await remove();
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
