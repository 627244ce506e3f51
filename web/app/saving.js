// Never lose a received file: which received files are saved (downloaded, or written to a directory the person
// chose), a warning before leaving the page while some are not, saving several at once, saving automatically,
// and a visible note when files an earlier visit left in the browser's storage are removed.
import { cleanStale, safeName, saveToDirectory } from '../sdk/sink.js';
import { formatBytes, h } from './dom.js';
import { t } from './i18n.js';

/**
 * One received file on the page.
 * @typedef {object} Received
 * @property {Blob} file
 * @property {string} name cleaned
 * @property {string} path cleaned folder path, '' for none
 * @property {boolean} saved downloaded, or written to a directory the person chose
 * @property {string} where how it was saved, in words ("downloaded", "saved to photos/a.jpg"), '' while it is not
 * @property {HTMLElement} el its line in the transfer card
 */

/** @type {Set<Received>} every received file still on the page */
const received = new Set();
/** @type {WeakMap<object, Received>} by the SDK's FileResult */
const byResult = new WeakMap();
/** @type {Set<() => void>} */
const watchers = new Set();

/**
 * Calls fn whenever a file is received, saved or forgotten.
 * @param {() => void} fn
 * @returns {() => void} stops watching
 */
export function watchSaved(fn) {
  watchers.add(fn);
  return () => watchers.delete(fn);
}

function changed() {
  for (const fn of watchers) fn();
}

/**
 * Starts tracking a received file until it is saved.
 * @param {import('../sdk/transfer.js').FileResult} r with r.file
 * @param {HTMLElement} el its line in the card, updated with data-saved
 * @returns {Received}
 */
export function track(r, el) {
  const entry = { file: /** @type {Blob} */ (r.file), name: safeName(r.name), path: r.path ?? '', saved: false, where: '', el };
  received.add(entry);
  byResult.set(r, entry);
  el.dataset.saved = 'false';
  queueMicrotask(changed); // once el is on the page
  return entry;
}

/**
 * @param {object} r a FileResult given to track
 * @returns {Received | undefined}
 */
export function entryOf(r) {
  return byResult.get(r);
}

/**
 * @param {Received} entry
 * @param {string} where
 */
export function markSaved(entry, where) {
  entry.where = where;
  entry.el.dataset.saved = 'true';
  const mark = entry.el.querySelector('.saved');
  if (mark) mark.textContent = t('saved.mark', { where });
  if (entry.saved) return;
  entry.saved = true;
  changed();
}

/**
 * Forgets the files whose lines are inside root, which leaves the page (their object URLs are revoked: they
 * cannot be saved from here any more, so they must not hold the page with a warning).
 * @param {Element} root
 */
export function forgetWithin(root) {
  let any = false;
  for (const e of received) {
    if (root.contains(e.el)) {
      received.delete(e);
      any = true;
    }
  }
  if (any) changed();
}

/**
 * @param {Element} [root] only files whose lines are inside root
 * @returns {Received[]} received files not saved yet
 */
export function unsaved(root) {
  return [...received].filter((e) => !e.saved && (!root || root.contains(e.el)));
}

/**
 * @param {Element} root
 * @returns {Received[]} every received file inside root
 */
export function within(root) {
  return [...received].filter((e) => root.contains(e.el));
}

/**
 * Saves a file as a download (named by its cleaned name; a download cannot keep the folder path) and counts it
 * as saved. The Blob is application/octet-stream, so the browser saves it and never opens it.
 * @param {Received} entry
 */
export function download(entry) {
  const blob = entry.file.type === 'application/octet-stream' ? entry.file : entry.file.slice(0, entry.file.size, 'application/octet-stream');
  const a = /** @type {HTMLAnchorElement} */ (h('a', { download: entry.name, rel: 'noopener', hidden: true }));
  a.href = URL.createObjectURL(blob);
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 60_000); // the download has its own reference by then
  markSaved(entry, t('saved.downloaded'));
}

/**
 * Downloads the files one after another (browsers may ask once whether the page may download several files).
 * @param {Received[]} entries
 */
export async function downloadAll(entries) {
  for (const [i, e] of entries.entries()) {
    if (i) await new Promise((r) => setTimeout(r, 150)); // a burst of clicks can be dropped
    download(e);
  }
}

/** @returns {boolean} whether this browser lets the page write into a directory the person picks */
export function canPickDirectory() {
  return typeof (/** @type {any} */ (window).showDirectoryPicker) === 'function';
}

/**
 * Asks the person for a directory to save into (needs a click or key press to call).
 * @returns {Promise<FileSystemDirectoryHandle | null>} null when they cancelled
 */
export async function pickDirectory() {
  try {
    return await /** @type {any} */ (window).showDirectoryPicker({ id: 'p2plobby-save', mode: 'readwrite' });
  } catch (err) {
    if (/** @type {any} */ (err)?.name === 'AbortError') return null;
    throw err;
  }
}

/**
 * Writes a file into dir under its folder path (never overwriting; see saveToDirectory) and counts it as saved.
 * @param {FileSystemDirectoryHandle} dir
 * @param {Received} entry
 * @returns {Promise<string>} where it went, relative to dir
 */
export async function saveInto(dir, entry) {
  const rel = await saveToDirectory(dir, entry.file, entry.name, entry.path);
  markSaved(entry, t('saved.into', { path: `${dir.name}/${rel}` }));
  return rel;
}

// Leaving the page loses every received file that was not saved: ask first.
window.addEventListener('beforeunload', (e) => {
  const n = unsaved().length;
  if (!n) return;
  e.preventDefault();
  e.returnValue = t('saved.unsavedLeave', { count: n }); // older browsers
});

// Files that earlier visits left in the browser's storage (a page closed with files not saved) are removed once,
// and the person is told.
cleanStale().then((r) => {
  if (!r.files) return;
  const text = t('saved.stale', { count: r.files, size: formatBytes(r.bytes) });
  const note = h('div', { class: 'toast info stale-note', role: 'status', 'data-testid': 'stale-note' },
    h('span', {}, text),
    h('button', { type: 'button', class: 'ghost', 'aria-label': t('dismiss'), onclick: () => note.remove() }, '×'));
  const box = document.getElementById('toasts') ?? document.body;
  box.append(note);
  setTimeout(() => note.remove(), 20_000);
}, () => {});
