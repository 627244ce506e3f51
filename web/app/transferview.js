// A file transfer as a card in the conversation: names and sizes, accept/decline, progress, result.
import { safeName } from '../sdk/p2plobby.js';
import { formatBytes, formatEta, formatRate, h } from './dom.js';
import { formatNumber, has, sdkText, t } from './i18n.js';
import { preview, previewKind as previewKindOf } from './preview.js';
import { canPickDirectory, downloadAll, forgetWithin, markSaved, pickDirectory, saveInto, track, unsaved, within } from './saving.js';

/** @typedef {import('../sdk/transfer.js').Transfer} Transfer */

/**
 * @param {string} state a transfer's state
 * @param {'send'|'receive'} direction
 * @returns {string} the words for it on the card ('' where none fit)
 */
function stateText(state, direction) {
  for (const key of [`transfer.${state}.${direction}`, `transfer.${state}`]) if (has(key)) return t(key);
  return '';
}

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
 * @param {Transfer} tr
 * @returns {HTMLElement}
 */
export function transferCard(tr) {
  const send = tr.direction === 'send';
  const title = tr.files.length === 1 ? fullName(tr.files[0])
    : folderOf(tr.files) ? t('transfer.folder', { folder: folderOf(tr.files), count: tr.files.length }) : t('transfer.files', { count: tr.files.length });
  const status = h('span', { class: 'tstate', 'data-testid': 'transfer-status' });
  const fill = h('div', { class: 'fill' });
  const bar = h('div', { class: 'bar', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100',
    'aria-label': t(send ? 'transfer.sendingTitle' : 'transfer.receivingTitle', { title }) }, fill);
  const stats = h('div', { class: 'stats', 'data-testid': 'transfer-progress', 'aria-live': 'off' }); // not read out 4×/s
  const error = h('p', { class: 'error', 'data-testid': 'transfer-error', hidden: true });
  const actions = h('div', { class: 'actions' });
  const results = h('ul', { class: 'results' });
  const files = h('ul', { class: 'tfiles' },
    tr.files.slice(0, LIST_MAX).map((f) => h('li', {}, h('span', { class: 'fname', title: fullName(f) }, fullName(f)),
      h('span', { class: 'fsize' }, formatBytes(f.size)))),
    tr.files.length > LIST_MAX && h('li', { class: 'more' }, t('transfer.more', { count: tr.files.length - LIST_MAX })));
  const card = h('div', { class: `transfer ${send ? 'out' : 'in'}`, 'data-testid': 'transfer', 'data-tid': tr.tid,
    'data-direction': tr.direction },
  h('div', { class: 'thead' },
    h('span', { class: 'ticon', 'aria-hidden': 'true' }, send ? '↑' : '↓'),
    h('span', { class: 'ttitle' }, title),
    h('span', { class: 'ttotal' }, formatBytes(tr.total))),
  files, status, bar, stats, error, results, actions);
  let previews = 0;
  // Saving the received files of the card at once: as downloads, or into a folder the person picks (which keeps
  // the folders they were sent in).
  const saveAll = h('button', { 'data-testid': 'save-all', hidden: true, onclick: () => {
    const list = unsaved(card);
    downloadAll(list.length ? list : within(card));
  } }, t('transfer.saveAll'));
  const saveFolder = h('button', { 'data-testid': 'save-to-folder', hidden: true, title: t('transfer.saveFolderTitle'),
    onclick: async () => {
      try {
        const dir = await pickDirectory();
        if (dir) for (const e of within(card)) await saveInto(dir, e);
      } catch (err) {
        error.hidden = false;
        error.textContent = t('transfer.saveFolderFailed', { error: /** @type {Error} */ (err).message });
      }
    } }, t('transfer.saveFolder'));
  const saveBar = h('div', { class: 'actions savebar' }, saveAll, saveFolder);
  card.append(saveBar);

  const update = () => {
    card.dataset.state = tr.state;
    status.textContent = stateText(tr.state, tr.direction);
    const active = tr.state === 'sending' || tr.state === 'receiving' || tr.state === 'verifying';
    bar.hidden = !(active || tr.state === 'done');
    stats.hidden = !tr.startedAt; // nothing to report before the first byte
    error.hidden = !tr.error || (tr.state === 'declined' && !tr.autoDeclined); // a person's decline needs no text
    error.textContent = sdkText(tr.error);
    actions.replaceChildren();
    if (tr.state === 'offered' && !send) {
      actions.append(
        h('button', { class: 'primary', 'data-testid': 'transfer-accept', onclick: () => /** @type {any} */ (tr).accept() }, t('action.accept')),
        h('button', { 'data-testid': 'transfer-decline', onclick: () => /** @type {any} */ (tr).decline() }, t('action.decline')));
    } else if (!tr.ended) {
      actions.append(h('button', { class: 'danger', 'data-testid': 'transfer-cancel', onclick: () => tr.cancel() },
        tr.state === 'offered' ? t('action.withdraw') : t('action.cancel')));
    }
  };
  /** @param {{bytes: number, total: number, rate: number, eta: number | null, percent: number}} p */
  const progress = (p) => {
    const pct = Math.min(100, p.percent);
    fill.style.transform = `scaleX(${(pct / 100).toFixed(4)})`;
    bar.setAttribute('aria-valuenow', pct.toFixed(0));
    card.dataset.bytes = String(p.bytes);
    const parts = [formatNumber(Math.floor(pct) / 100, { style: 'percent' }), t('transfer.of', { bytes: formatBytes(p.bytes), total: formatBytes(p.total) })];
    if (p.rate > 0) parts.push(tr.ended ? t('transfer.avg', { rate: formatRate(p.rate) }) : formatRate(p.rate));
    if (!tr.ended && p.eta != null) parts.push(formatEta(p.eta));
    stats.textContent = parts.join(' · ');
  };
  tr.on('state', update);
  tr.on('progress', progress);
  tr.on('file', (/** @type {import('../sdk/transfer.js').FileResult} */ r) => {
    const sum = h('code', { class: 'sha', title: t('transfer.sha', { sum: r.sha256 }) }, r.sha256.slice(0, 16) + '…');
    if (r.file && !send) {
      const li = h('li', { class: 'result', 'data-testid': 'transfer-file', 'data-name': r.name, 'data-path': r.path ?? '' });
      const entry = track(r, li);
      const link = downloadLink(r.file, r.name,
        { 'data-testid': 'transfer-download', 'data-sha256': r.sha256, 'data-storage': r.storage ?? '' }, t('transfer.save', { name: fullName(r) }));
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
        } }, t('transfer.preview'));
        li.append(btn);
      }
      results.append(li);
      saveAll.hidden = results.childElementCount < 2;
      saveFolder.hidden = !canPickDirectory();
    } else if (r.file) {
      results.append(h('li', {}, downloadLink(r.file, r.name,
        { 'data-testid': 'transfer-download', 'data-sha256': r.sha256, 'data-storage': r.storage ?? '' }, t('transfer.save', { name: safeName(r.name) })),
      ' ', sum));
    } else {
      results.append(h('li', {}, h('span', { class: 'ok' }, '✓ '), fullName(r), ' ', sum));
    }
  });
  update();
  progress({ bytes: 0, total: tr.total, rate: 0, eta: null, percent: 0 });
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
