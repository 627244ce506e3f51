// The installed app (manifest.webmanifest): registers the service worker (sw.js), which keeps the app shell so
// that a reload without the server still shows the app, and offers what was shared with the app (its Android
// share target: the worker keeps the files in Cache Storage) to the people connected.
import { formatBytes, h } from './dom.js';
import { formatList, t } from './i18n.js';

/** Where sw.js keeps what was shared, until it is sent or discarded. */
const SHARED = 'p2plobby-shared';

/** @typedef {import('../sdk/peer.js').Peer} Peer */

/**
 * What the app gives: its lobby, and a way to open the conversation with a member (the one the person sees
 * from then on), with the two ways it sends things.
 * @typedef {object} App
 * @property {import('../sdk/p2plobby.js').Lobby} lobby
 * @property {(id: string) => {sendFiles(files: File[]): void, sendPasted(text: string): void} | null} open
 */

/**
 * Registers the service worker, and shows what was shared with the app, if anything (a banner with a button per
 * person connected).
 * @param {App} app
 */
export function installApp(app) {
  register();
  readShared().then((s) => {
    if (s.files.length || s.text) new SharedBanner(app, s);
  }, (err) => console.warn('p2plobby: could not read what was shared:', err));
}

async function register() {
  // Absent outside secure contexts (a plain-HTTP LAN address): then the app simply does not work offline.
  if (!('serviceWorker' in navigator)) return;
  const controlled = !!navigator.serviceWorker.controller;
  try {
    await navigator.serviceWorker.register('/sw.js', { scope: '/', updateViaCache: 'none' });
  } catch (err) {
    console.warn('p2plobby: the app will not work offline:', err);
    return;
  }
  if (controlled) return; // the worker saw (and kept) everything this page loaded
  // The first visit loaded the page before the worker controlled it: the worker keeps the same files now.
  const reg = await navigator.serviceWorker.ready;
  const urls = [location.pathname, ...performance.getEntriesByType('resource').map((e) => e.name)]
    .filter((u) => new URL(u, location.href).origin === location.origin);
  reg.active?.postMessage({ cache: urls });
}

/**
 * What the service worker kept of the last share: files, and text (a shared link or note), in order.
 * @returns {Promise<{files: File[], text: string}>}
 */
async function readShared() {
  /** @type {{files: File[], text: string}} */
  const out = { files: [], text: '' };
  if (!('caches' in window) || !(await caches.has(SHARED))) return out;
  const cache = await caches.open(SHARED);
  for (const req of await cache.keys()) {
    const res = await cache.match(req);
    if (!res) continue;
    if (res.headers.get('x-kind') === 'text') {
      out.text = await res.text();
      continue;
    }
    const blob = await res.blob();
    let name = t('shared.unnamed');
    try {
      name = decodeURIComponent(res.headers.get('x-name') ?? '') || name;
    } catch {
      // kept unnamed
    }
    out.files.push(new File([blob], name, { type: blob.type, lastModified: Number(res.headers.get('x-modified')) || Date.now() }));
  }
  return out;
}

/** Forgets what was shared: it is not offered again at the next visit. */
function forgetShared() {
  return caches.delete(SHARED).catch(() => false);
}

/** The banner that offers what was shared: "N shared files — choose a person to send them to". */
class SharedBanner {
  /**
   * @param {App} app
   * @param {{files: File[], text: string}} shared
   */
  constructor(app, shared) {
    this.app = app;
    this.files = shared.files;
    this.text = shared.text;
    /** @type {Map<string, string>} who it was sent to: member id → name */
    this.sent = new Map();
    /** @type {(() => void)[]} */
    this.unsub = [];
    this.el = h('div', { class: 'banner shared', 'data-testid': 'shared-banner', role: 'status',
      style: { background: 'var(--accent-soft)', 'border-color': 'color-mix(in srgb, var(--accent) 35%, transparent)' } });
    const render = () => this.render();
    const watch = (/** @type {Peer} */ p) => this.unsub.push(p.on('state', render));
    for (const p of app.lobby.peers.values()) watch(p);
    this.unsub.push(app.lobby.on('peer', (/** @type {Peer} */ p) => {
      watch(p);
      render();
    }), app.lobby.on('members', render));
    const anchor = document.getElementById('offline');
    if (anchor) anchor.after(this.el);
    else document.body.prepend(this.el);
    this.render();
  }

  /** @returns {string} e.g. "2 shared files", "Shared text", "1 shared file and text" */
  what() {
    const count = this.files.length;
    if (!this.text) return t('shared.files', { count });
    return count ? t('shared.filesAndText', { count }) : t('shared.text');
  }

  render() {
    const total = this.files.reduce((a, f) => a + f.size, 0);
    const shown = formatList(this.files.slice(0, 3).map((f) => t('shared.fileName', { name: f.name })));
    const names = !this.files.length ? ''
      : `${this.files.length > 3 ? t('shared.more', { names: shown, count: this.files.length - 3 }) : shown} (${formatBytes(total)})`;
    const connected = [...this.app.lobby.peers.values()].filter((p) => p.state === 'connected' && !this.sent.has(p.id));
    const sent = [...this.sent.values()];
    const headline = sent.length ? t('shared.sent', { what: this.what(), names: formatList(sent) })
      : t('shared.choose', { what: this.what(), count: this.files.length + (this.text ? 1 : 0) });
    this.el.replaceChildren(
      h('div', { class: 'text' },
        h('strong', { 'data-testid': 'shared-what' }, headline),
        names && h('span', { 'data-testid': 'shared-files' }, names),
        this.text && h('span', { 'data-testid': 'shared-text', dir: 'auto' }, this.text.length > 120 ? `${this.text.slice(0, 120)}…` : this.text),
        !connected.length && !sent.length && h('span', {}, t('shared.nobody'))),
      h('span', { class: 'actions' },
        connected.map((p) => h('button', { type: 'button', class: 'primary', 'data-testid': 'send-shared', 'data-peer-name': p.name,
          onclick: () => this.send(p) }, t('shared.send', { name: p.name || t('them') }))),
        h('button', { type: 'button', 'data-testid': 'shared-dismiss', onclick: () => this.close() }, t(sent.length ? 'shared.done' : 'shared.discard'))));
  }

  /** @param {Peer} peer */
  send(peer) {
    const c = this.app.open(peer.id);
    if (!c || peer.state !== 'connected') return;
    if (this.files.length) c.sendFiles(this.files);
    if (this.text) c.sendPasted(this.text);
    this.sent.set(peer.id, peer.name || t('them'));
    // Handed over: a reload must not offer them again (the page keeps them, for sending to others too).
    forgetShared();
    this.render();
  }

  close() {
    this.unsub.forEach((u) => u());
    this.el.remove();
    forgetShared();
  }
}
