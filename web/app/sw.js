// The service worker of the installed app, served at /sw.js so that its scope is the whole origin. Two jobs:
//
// The app shell offline. Every same-origin GET goes to the network first and, when it answers, its answer is
// kept in the shell cache; only when the network fails (the server is down, the device offline) does the
// cached copy answer. So a page that is online never runs stale code, whatever the version of the server (no
// list of files or version to keep in step with the build, which has no build step), and opening or reloading
// the app while the server is unreachable shows the app, saying that the lobby is unreachable, rather than the
// browser's error page. The cache holds what the last online visit loaded; the page tells the worker
// what it loaded before the worker controlled it (its first visit), see install.js. The WebSocket never passes
// through a service worker, and /healthz is never cached.
//
// The share target (manifest.webmanifest): Android posts what is shared with the app to /share, as a form. The
// server takes no uploads, so the worker answers: it keeps the files (and any shared text) in the shared cache
// and redirects to the app, which offers to send them (install.js).
//
// tsc checks this file with the DOM library (web/tsconfig.json), which lacks the worker's types: the few used
// here are declared below (as globals of the type check: this is a classic script, so Sw-prefixed).

/**
 * @typedef {Event & {waitUntil(p: Promise<unknown>): void}} SwEvent
 * @typedef {SwEvent & {request: Request, respondWith(r: Response | Promise<Response>): void}} SwFetchEvent
 * @typedef {SwEvent & {data: any}} SwMessageEvent
 * @typedef {{
 *   skipWaiting(): Promise<void>,
 *   clients: {claim(): Promise<void>},
 *   addEventListener(type: 'install' | 'activate' | 'fetch' | 'message', fn: (e: any) => void): void,
 * }} SwScope
 */

const worker = /** @type {SwScope} */ (/** @type {unknown} */ (self));

/** The app shell; a new name (when what is kept changes shape) drops the old caches at activation. */
const SHELL = 'p2plobby-shell-v1';
/** What was shared with the app, until it is sent or discarded; read by install.js. */
const SHARED = 'p2plobby-shared';
/** Kept at installation, before any page asks: the app's own page, manifest and icons. */
const PRECACHE = ['/', '/app/manifest.webmanifest', '/app/icons/icon.svg', '/app/icons/icon-192.png',
  '/app/icons/icon-512.png', '/app/icons/maskable-512.png', '/app/icons/apple-touch-icon.png'];
/** Same-origin paths that are never cached. */
const NEVER = new Set(['/healthz', '/ws', '/sw.js']);

worker.addEventListener('install', (/** @type {SwEvent} */ e) => {
  e.waitUntil(keep(PRECACHE).then(() => worker.skipWaiting()));
});

worker.addEventListener('activate', (/** @type {SwEvent} */ e) => {
  // Serving is network-first, so a new worker may take over pages at once: it never makes them run old code.
  e.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith('p2plobby-shell-') && name !== SHELL) await caches.delete(name);
    }
    await worker.clients.claim();
  })());
});

worker.addEventListener('message', (/** @type {SwMessageEvent} */ e) => {
  // {cache: [urls]}: what a page loaded before this worker controlled it.
  const urls = e.data?.cache;
  if (Array.isArray(urls)) e.waitUntil(keep(urls.filter((u) => typeof u === 'string')));
});

worker.addEventListener('fetch', (/** @type {SwFetchEvent} */ e) => {
  const req = e.request;
  const url = new URL(req.url);
  if (url.origin !== location.origin) return;
  if (req.method === 'POST' && url.pathname === '/share') {
    e.respondWith(takeShared(req));
    return;
  }
  if (req.method !== 'GET' || NEVER.has(url.pathname) || req.headers.has('range')) return;
  e.respondWith(networkFirst(req, url));
});

/**
 * @param {Request} req
 * @param {URL} url
 * @returns {Promise<Response>}
 */
async function networkFirst(req, url) {
  // Every address of the app's page (/?room=…) is one entry: the page reads its room from the address.
  const key = isPage(url) ? '/' : url.pathname;
  try {
    const res = await fetch(req);
    if (res.ok && res.type === 'basic') {
      const copy = res.clone();
      caches.open(SHELL).then((c) => c.put(key, copy)).catch(() => {});
    }
    return res;
  } catch (err) {
    const cached = await (await caches.open(SHELL)).match(key);
    if (cached) return cached;
    throw err;
  }
}

/**
 * @param {URL} url
 * @returns {boolean} whether it is an address of the app's page
 */
function isPage(url) {
  return url.pathname === '/' || url.pathname === '/index.html';
}

/**
 * Fetches and keeps same-origin URLs in the shell cache; those that fail are skipped.
 * @param {string[]} urls
 */
async function keep(urls) {
  const cache = await caches.open(SHELL);
  await Promise.all(urls.map(async (u) => {
    const url = new URL(u, location.origin);
    if (url.origin !== location.origin || NEVER.has(url.pathname)) return;
    try {
      const res = await fetch(url, { cache: 'no-cache' });
      if (res.ok) await cache.put(isPage(url) ? '/' : url.pathname, res);
    } catch {
      // offline now: kept at the next visit
    }
  }));
}

/**
 * Keeps what was shared (it replaces what an earlier share left) and sends the app there to offer it.
 * @param {Request} req a multipart form: files, title, text, url (manifest.webmanifest share_target)
 * @returns {Promise<Response>}
 */
async function takeShared(req) {
  try {
    const form = await req.formData();
    await caches.delete(SHARED);
    const cache = await caches.open(SHARED);
    let n = 0;
    for (const f of form.getAll('files')) {
      if (!(f instanceof File)) continue;
      await cache.put(`/shared/${n++}`, new Response(f, { headers: {
        'content-type': f.type || 'application/octet-stream',
        'x-kind': 'file',
        'x-name': encodeURIComponent(f.name),
        'x-modified': String(f.lastModified),
      } }));
    }
    // A shared link or text: title, text and url, as a message.
    const text = [...new Set(['title', 'text', 'url'].map((k) => String(form.get(k) ?? '').trim()).filter(Boolean))].join('\n');
    if (text) await cache.put(`/shared/${n++}`, new Response(text, { headers: { 'content-type': 'text/plain; charset=utf-8', 'x-kind': 'text' } }));
  } catch (err) {
    console.error('p2plobby: could not keep what was shared', err);
  }
  return Response.redirect('/', 303);
}
