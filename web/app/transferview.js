// A file transfer as a card in the conversation: names and sizes, accept/decline, progress, result.
import { safeName } from '../sdk/p2plobby.js';
import { formatBytes, formatEta, formatRate, h } from './dom.js';

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

/**
 * Download links on the page and the files behind them. Each holds an object URL, which keeps the file alive
 * until revoked: revoked when the link leaves the page (releaseLinks) and on pagehide; made again if the page
 * comes back from the back-forward cache.
 * @type {Map<HTMLAnchorElement, Blob>}
 */
const links = new Map();

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
  a.href = URL.createObjectURL(blob);
  links.set(a, blob);
  return a;
}

/**
 * Revokes the object URLs of the download links inside root, which is leaving the page.
 * @param {Element} root
 */
export function releaseLinks(root) {
  for (const a of links.keys()) {
    if (!root.contains(a)) continue;
    URL.revokeObjectURL(a.href);
    a.removeAttribute('href');
    links.delete(a);
  }
}

window.addEventListener('pagehide', () => {
  for (const a of links.keys()) {
    URL.revokeObjectURL(a.href);
    a.removeAttribute('href');
  }
});
window.addEventListener('pageshow', (e) => {
  if (e.persisted) for (const [a, blob] of links) a.href = URL.createObjectURL(blob);
});

/**
 * Builds the card and keeps it up to date from the transfer's events.
 * @param {Transfer} t
 * @returns {HTMLElement}
 */
export function transferCard(t) {
  const send = t.direction === 'send';
  const title = t.files.length === 1 ? t.files[0].name : `${t.files.length} files`;
  const status = h('span', { class: 'tstate', 'data-testid': 'transfer-status' });
  const fill = h('div', { class: 'fill' });
  const bar = h('div', { class: 'bar', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100',
    'aria-label': `${send ? 'Sending' : 'Receiving'} ${title}` }, fill);
  const stats = h('div', { class: 'stats', 'data-testid': 'transfer-progress', 'aria-live': 'off' }); // not read out 4×/s
  const error = h('p', { class: 'error', 'data-testid': 'transfer-error', hidden: true });
  const actions = h('div', { class: 'actions' });
  const results = h('ul', { class: 'results' });
  const files = h('ul', { class: 'tfiles' },
    t.files.slice(0, LIST_MAX).map((f) => h('li', {}, h('span', { class: 'fname' }, f.name),
      h('span', { class: 'fsize' }, formatBytes(f.size)))),
    t.files.length > LIST_MAX && h('li', { class: 'more' }, `and ${t.files.length - LIST_MAX} more`));
  const card = h('div', { class: `transfer ${send ? 'out' : 'in'}`, 'data-testid': 'transfer', 'data-tid': t.tid,
    'data-direction': t.direction },
  h('div', { class: 'thead' },
    h('span', { class: 'ticon', 'aria-hidden': 'true' }, send ? '↑' : '↓'),
    h('span', { class: 'ttitle' }, title),
    h('span', { class: 'ttotal' }, formatBytes(t.total))),
  files, status, bar, stats, error, results, actions);

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
    if (r.file) {
      results.append(h('li', {}, downloadLink(r.file, r.name,
        { 'data-testid': 'transfer-download', 'data-sha256': r.sha256, 'data-storage': r.storage ?? '' }, `Save ${safeName(r.name)}`),
      ' ', sum));
    } else {
      results.append(h('li', {}, h('span', { class: 'ok' }, '✓ '), r.name, ' ', sum));
    }
  });
  update();
  progress({ bytes: 0, total: t.total, rate: 0, eta: null, percent: 0 });
  return card;
}
