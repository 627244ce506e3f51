// A file transfer as a card in the conversation: names and sizes, accept/decline, progress, result.
import { safeName } from '../sdk/p2plobby.js';
import { formatBytes, formatEta, formatRate, h } from './dom.js';
import { preview, previewKind as previewKindOf } from './preview.js';
import { canPickDirectory, downloadAll, forgetWithin, markSaved, pickDirectory, saveInto, track, unsaved, within } from './saving.js';

/** @typedef {import('../sdk/transfer.js').Transfer} Transfer */

const STATE_TEXT = {
  offered: { send: 'Waiting for them to accept…', receive: 'Wants to send you' },
  sending: { send: 'Sending', receive: '' },
  verifying: { send: 'Waiting for the receiver to verify…', receive: '' },
  receiving: { send: '', receive: 'Receiving' },
  done: { send: 'Delivered · SHA-256 verified', receive: 'Received · SHA-256 verified' },
  declined: { send: 'Declined', receive: 'Declined' },
  cancelled: { send: 'Cancelled', receive: 'Cancelled' },
  failed: { send: 'Failed', receive: 'Failed' },
};

/** How many file names a card lists before summarising the rest. */
const LIST_MAX = 5;

/** How many files of one card are previewed at once; the others get a Preview button. */
const PREVIEW_MAX = 4;

/**
 * Download links and previews on the page and the files behind them. Each holds an object URL (a link's href, a
 * preview's src), which keeps the file alive until revoked: revoked when it leaves the page (releaseLinks) and on
 * pagehide; made again if the page comes back from the back-forward cache.
 * @type {Map<HTMLElement, Blob>}
 */
const links = new Map();

/**
 * @param {HTMLElement} el
 * @returns {'href'|'src'} the attribute that holds its object URL
 */
const urlAttr = (el) => (el.tagName === 'A' ? 'href' : 'src');

/**
 * Gives el an object URL of blob, revoked with the others.
 * @param {HTMLElement} el
 * @param {Blob} blob
 */
function attachUrl(el, blob) {
  el.setAttribute(urlAttr(el), URL.createObjectURL(blob));
  links.set(el, blob);
}

/**
 * A link that saves a received file: `download` with a cleaned name, and a Blob of type
 * application/octet-stream (the SDK stores received files so), never opened as a page of the sender's type.
 * @param {Blob} file
 * @param {string} name
 * @param {Record<string, string>} attrs
 * @param {string} text
 * @returns {HTMLAnchorElement}
 */
function downloadLink(file, name, attrs, text) {
  const blob = file.type === 'application/octet-stream' ? file : file.slice(0, file.size, 'application/octet-stream');
  const a = /** @type {HTMLAnchorElement} */ (h('a', { ...attrs, download: safeName(name), rel: 'noopener' }, text));
  attachUrl(a, blob);
  return a;
}

/**
 * Revokes the object URLs of the download links and previews inside root, which is leaving the page; its
 * received files no longer count as waiting to be saved (they cannot be saved from here any more).
 * @param {Element} root
 */
export function releaseLinks(root) {
  for (const a of links.keys()) {
    if (!root.contains(a)) continue;
    URL.revokeObjectURL(/** @type {string} */ (a.getAttribute(urlAttr(a))));
    a.removeAttribute(urlAttr(a));
    links.delete(a);
  }
  forgetWithin(root);
}

window.addEventListener('pagehide', () => {
  for (const a of links.keys()) {
    URL.revokeObjectURL(/** @type {string} */ (a.getAttribute(urlAttr(a))));
    a.removeAttribute(urlAttr(a));
  }
});
window.addEventListener('pageshow', (e) => {
  if (e.persisted) for (const [a, blob] of links) a.setAttribute(urlAttr(a), URL.createObjectURL(blob));
});

/**
 * Builds the card and keeps it up to date from the transfer's events.
 * @param {Transfer} t
 * @returns {HTMLElement}
 */
export function transferCard(t) {
  const send = t.direction === 'send';
  const title = t.files.length === 1 ? fullName(t.files[0]) : folderOf(t.files) ? `${folderOf(t.files)} · ${t.files.length} files` : `${t.files.length} files`;
  const status = h('span', { class: 'tstate', 'data-testid': 'transfer-status' });
  const fill = h('div', { class: 'fill' });
  const bar = h('div', { class: 'bar', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100',
    'aria-label': `${send ? 'Sending' : 'Receiving'} ${title}` }, fill);
  const stats = h('div', { class: 'stats', 'data-testid': 'transfer-progress', 'aria-live': 'off' }); // not read out 4×/s
  const error = h('p', { class: 'error', 'data-testid': 'transfer-error', hidden: true });
  const actions = h('div', { class: 'actions' });
  const results = h('ul', { class: 'results' });
  const files = h('ul', { class: 'tfiles' },
    t.files.slice(0, LIST_MAX).map((f) => h('li', {}, h('span', { class: 'fname', title: fullName(f) }, fullName(f)),
      h('span', { class: 'fsize' }, formatBytes(f.size)))),
    t.files.length > LIST_MAX && h('li', { class: 'more' }, `and ${t.files.length - LIST_MAX} more`));
  const card = h('div', { class: `transfer ${send ? 'out' : 'in'}`, 'data-testid': 'transfer', 'data-tid': t.tid,
    'data-direction': t.direction },
  h('div', { class: 'thead' },
    h('span', { class: 'ticon', 'aria-hidden': 'true' }, send ? '↑' : '↓'),
    h('span', { class: 'ttitle' }, title),
    h('span', { class: 'ttotal' }, formatBytes(t.total))),
  files, status, bar, stats, error, results, actions);
  let previews = 0;
  // Saving the received files of the card at once: as downloads, or into a folder the person picks (which keeps
  // the folders they were sent in).
  const saveAll = h('button', { 'data-testid': 'save-all', hidden: true, onclick: () => {
    const list = unsaved(card);
    downloadAll(list.length ? list : within(card));
  } }, 'Save all');
  const saveFolder = h('button', { 'data-testid': 'save-to-folder', hidden: true, title: 'Save these files into a folder you choose, with their folders',
    onclick: async () => {
      try {
        const dir = await pickDirectory();
        if (dir) for (const e of within(card)) await saveInto(dir, e);
      } catch (err) {
        error.hidden = false;
        error.textContent = `Could not save into that folder: ${/** @type {Error} */ (err).message}`;
      }
    } }, 'Save to folder…');
  const saveBar = h('div', { class: 'actions savebar' }, saveAll, saveFolder);
  card.append(saveBar);

  const update = () => {
    card.dataset.state = t.state;
    status.textContent = STATE_TEXT[t.state]?.[t.direction] ?? t.state;
    const active = t.state === 'sending' || t.state === 'receiving' || t.state === 'verifying';
    bar.hidden = !(active || t.state === 'done');
    stats.hidden = !t.startedAt; // nothing to report before the first byte
    error.hidden = !t.error || (t.state === 'declined' && !t.autoDeclined); // a person's decline needs no text
    error.textContent = t.error;
    actions.replaceChildren();
    if (t.state === 'offered' && !send) {
      actions.append(
        h('button', { class: 'primary', 'data-testid': 'transfer-accept', onclick: () => /** @type {any} */ (t).accept() }, 'Accept'),
        h('button', { 'data-testid': 'transfer-decline', onclick: () => /** @type {any} */ (t).decline() }, 'Decline'));
    } else if (!t.ended) {
      actions.append(h('button', { class: 'danger', 'data-testid': 'transfer-cancel', onclick: () => t.cancel() },
        t.state === 'offered' ? 'Withdraw' : 'Cancel'));
    }
  };
  /** @param {{bytes: number, total: number, rate: number, eta: number | null, percent: number}} p */
  const progress = (p) => {
    const pct = Math.min(100, p.percent);
    fill.style.transform = `scaleX(${(pct / 100).toFixed(4)})`;
    bar.setAttribute('aria-valuenow', pct.toFixed(0));
    card.dataset.bytes = String(p.bytes);
    const parts = [`${Math.floor(pct)}%`, `${formatBytes(p.bytes)} of ${formatBytes(p.total)}`];
    if (p.rate > 0) parts.push(t.ended ? `avg ${formatRate(p.rate)}` : formatRate(p.rate));
    if (!t.ended && p.eta != null) parts.push(formatEta(p.eta));
    stats.textContent = parts.join(' · ');
  };
  t.on('state', update);
  t.on('progress', progress);
  t.on('file', (/** @type {import('../sdk/transfer.js').FileResult} */ r) => {
    const sum = h('code', { class: 'sha', title: `SHA-256 ${r.sha256}` }, r.sha256.slice(0, 16) + '…');
    if (r.file && !send) {
      const li = h('li', { class: 'result', 'data-testid': 'transfer-file', 'data-name': r.name, 'data-path': r.path ?? '' });
      const entry = track(r, li);
      const link = downloadLink(r.file, r.name,
        { 'data-testid': 'transfer-download', 'data-sha256': r.sha256, 'data-storage': r.storage ?? '' }, `Save ${fullName(r)}`);
      link.addEventListener('click', () => markSaved(entry, 'downloaded'));
      li.append(link, ' ', sum, ' ', h('span', { class: 'saved', 'data-testid': 'saved-mark' }));
      const file = r.file;
      const show = () => preview(file, r, attachUrl);
      if (previews < PREVIEW_MAX) {
        const el = show();
        if (el) {
          previews++;
          li.append(el);
        }
      } else if (previewKindOf(r)) {
        const btn = h('button', { class: 'ghost', 'data-testid': 'preview-button', onclick: () => {
          const el = show();
          if (el) btn.replaceWith(el);
        } }, 'Preview');
        li.append(btn);
      }
      results.append(li);
      saveAll.hidden = results.childElementCount < 2;
      saveFolder.hidden = !canPickDirectory();
    } else if (r.file) {
      results.append(h('li', {}, downloadLink(r.file, r.name,
        { 'data-testid': 'transfer-download', 'data-sha256': r.sha256, 'data-storage': r.storage ?? '' }, `Save ${safeName(r.name)}`),
      ' ', sum));
    } else {
      results.append(h('li', {}, h('span', { class: 'ok' }, '✓ '), fullName(r), ' ', sum));
    }
  });
  update();
  progress({ bytes: 0, total: t.total, rate: 0, eta: null, percent: 0 });
  return card;
}

/**
 * @param {{name: string, path?: string}} f
 * @returns {string} "photos/2024/a.jpg" for a file sent from a folder, else its name
 */
function fullName(f) {
  return f.path ? `${f.path}/${f.name}` : f.name;
}

/**
 * @param {{name: string, path?: string}[]} files
 * @returns {string} the folder all the files were sent from ("photos"), or ''
 */
function folderOf(files) {
  const top = files[0]?.path?.split('/')[0] ?? '';
  return top && files.every((f) => f.path?.split('/')[0] === top) ? top : '';
}

// The card's own styles (previews, save buttons): a stylesheet of the app's origin, as the CSP wants.
document.head.append(h('link', { rel: 'stylesheet', href: new URL('./files.css', import.meta.url).href }));
