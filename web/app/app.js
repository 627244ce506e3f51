// The lobby page: wires the SDK (../sdk/p2plobby.js) to the DOM. State lives in window.p2plobby, which is
// also what the end-to-end tests read.
import { Lobby } from '../sdk/p2plobby.js';
import { Conversation, LOG_LIMITS, actionButtons, stateLabel } from './conversation.js';
import { formatBytes, h, hue, initials } from './dom.js';
import { forcedLang, formatList, has, netcheckReason, t, tNodes, translatePage } from './i18n.js';
import { qrSvg } from './qr.js';
import * as attention from './attention.js';
import { installApp } from './install.js';

const ROOM_RE = /^[A-Za-z0-9._-]{1,64}$/;
/** The room that asks the server for the group of everyone on this network (docs/protocol.md). */
const NETWORK = '@network';
/** A private room: `p-` and at least 96 random bits in base64url (newPrivateRoom makes 128). */
const PRIVATE_RE = /^p-[A-Za-z0-9_-]{16,62}$/;
const NAME_KEY = 'p2plobby.name';
const RELAY_KEY = 'p2plobby.relayOnly';
const TOKEN_KEY = 'p2plobby.token';
/** What a join token must look like to travel as a WebSocket subprotocol (a JWT always does). */
const TOKEN_RE = /^[A-Za-z0-9._-]+$/;

/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

/**
 * What the page's address asks for: a room (no room at all means the network's group), or an error when the
 * room of a link is not a valid name — shown with its reason, never replaced by another room.
 * @returns {{room: string, raw?: undefined, error?: undefined} | {room?: undefined, raw: string, error: string}}
 */
function roomFromUrl() {
  const raw = new URLSearchParams(location.search).get('room');
  if (raw === null || raw === '' || raw === NETWORK) return { room: NETWORK };
  if (ROOM_RE.test(raw)) return { room: raw };
  return { raw, error: roomProblem(raw) };
}

/**
 * @param {string} raw an invalid room name
 * @returns {string} why it is not valid, for people
 */
function roomProblem(raw) {
  const rule = t('roomError.rule');
  if (raw.length > 64) return t('roomError.tooLong', { count: raw.length, rule });
  const bad = [...new Set([...raw].filter((c) => !/[A-Za-z0-9._-]/.test(c)))].slice(0, 5).map((c) =>
    c === ' ' ? t('roomError.space') : /[\s\p{C}]/u.test(c) ? `U+${(c.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}` : `“${c}”`);
  const shown = raw.length > 80 ? `${raw.slice(0, 80)}…` : raw;
  return t('roomError.contains', { room: shown, chars: formatList(bad), rule });
}

/**
 * @param {string} raw
 * @returns {string} the nearest valid room name ('' if none), e.g. "Team Photos" → "Team-Photos"
 */
function fixRoom(raw) {
  return raw.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^-+|-+$/g, '').slice(0, 64);
}

/**
 * @param {string} room
 * @returns {string} the page address of a room (the network's group has none: it is the default)
 */
function roomHref(room) {
  return room === NETWORK ? location.pathname : `${location.pathname}?room=${encodeURIComponent(room)}`;
}

/**
 * @param {string} room
 * @returns {string} roomHref, keeping a language the address forced (?lang=), so a reload keeps it too
 */
function pageHref(room) {
  const href = roomHref(room);
  return forcedLang ? `${href}${href.includes('?') ? '&' : '?'}lang=${forcedLang}` : href;
}

// The page's static text in the chosen language (English stays in index.html for reading it).
translatePage();
$('placeholder-text').replaceChildren(...tNodes('placeholder.text', { request: h('b', {}, t('action.request')) }));
$('self').replaceChildren(...tNodes('self', { name: $('self-name') }));

const token = takeToken();
const initial = roomFromUrl();
let startRoom = initial.room ?? NETWORK;
if (token && startRoom === NETWORK && !new URLSearchParams(location.search).has('room')) {
  // A join link without ?room=: the token's own room, when it does not admit the network's group.
  const rooms = tokenRooms(token);
  if (rooms.length && !rooms.includes('*') && !rooms.includes(NETWORK) && ROOM_RE.test(rooms[0])) {
    startRoom = rooms[0];
    history.replaceState(history.state, '', pageHref(rooms[0]) + location.hash);
  }
}
const wsUrl = new URL('/ws', location.href);
wsUrl.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
const lobby = new Lobby({
  url: wsUrl, room: startRoom, relayOnly: load(RELAY_KEY) === '1',
  // With a token the server names us after it; a malformed one is sent as a placeholder, so the server
  // refuses it like any bad token and the page says so.
  ...(token ? { token: TOKEN_RE.test(token) ? token : 'malformed' } : { name: loadName() }),
});

/** Page state; exposed for debugging and tests. */
const state = {
  /** @type {Map<string, Conversation>} by member id */
  convos: new Map(),
  /** @type {string | null} */
  selected: null,
  /** @type {{raw: string, error: string} | null} the invalid room of the address, until the person chooses */
  roomError: initial.error !== undefined ? { raw: initial.raw, error: initial.error } : null,
  /** @type {boolean | null} whether the server groups people by network (known once `@network` was joined) */
  networkRooms: /** @type {boolean | null} */ (null),
  /** @type {Map<Conversation, number>} chat messages that arrived while their conversation was not in view */
  unseen: new Map(),
  /** The name the server gave us last (told once when it differs from the one asked for). */
  lastSelfName: '',
};
/** @type {any} */ (window).p2plobby = { lobby, state, select, joinRoom, group, limits: LOG_LIMITS };

/**
 * The join token of a link (`#token=…`, docs/protocol.md "Join tokens"): taken out of the address at once, so
 * that a copied, shared or bookmarked address never carries it, and kept for this tab only (a reload joins
 * again; another tab or a later visit needs the link again).
 * @returns {string} the token, '' if none
 */
function takeToken() {
  const params = new URLSearchParams(location.hash.slice(1));
  const fromLink = params.get('token');
  if (fromLink === null) {
    try {
      return sessionStorage.getItem(TOKEN_KEY) ?? '';
    } catch {
      return '';
    }
  }
  params.delete('token');
  const rest = params.toString();
  history.replaceState(history.state, '', location.pathname + location.search + (rest ? `#${rest}` : ''));
  try {
    sessionStorage.setItem(TOKEN_KEY, fromLink);
  } catch {
    // storage blocked: a reload needs the link again
  }
  return fromLink;
}

/**
 * The rooms a join token names, read without checking it (the server does): only to pick the room to open.
 * @param {string} tok
 * @returns {string[]}
 */
function tokenRooms(tok) {
  try {
    const part = tok.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const rooms = JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), '='))).rooms;
    return typeof rooms === 'string' ? [rooms] : Array.isArray(rooms) ? rooms.filter((r) => typeof r === 'string') : [];
  } catch {
    return [];
  }
}

/** @returns {string} the remembered name, or a new guest name */
function loadName() {
  let name = load(NAME_KEY);
  if (!name) {
    name = t('name.guest', { n: String(1 + Math.floor(Math.random() * 999)) });
    saveName(name);
  }
  return name;
}

/** @param {string} name */
function saveName(name) {
  save(NAME_KEY, name);
}

/**
 * @param {string} key
 * @returns {string} the stored value, '' if none (or storage is blocked)
 */
function load(key) {
  try {
    return localStorage.getItem(key) ?? '';
  } catch {
    return '';
  }
}

/**
 * @param {string} key
 * @param {string} value
 */
function save(key, value) {
  try {
    localStorage.setItem(key, value);
  } catch {
    // storage blocked: forgotten at the next visit
  }
}

/**
 * The conversation with a member, created on first use.
 * @param {string} id
 * @param {string} name
 * @returns {Conversation}
 */
function conversation(id, name) {
  let c = state.convos.get(id);
  if (!c) {
    c = new Conversation(id, name, {
      onChange: schedule,
      onBack: () => select(null),
      onRequest: (conv) => request(conv.key),
      isOnline: (key) => lobby.members.has(key) && lobby.status === 'open',
      relayOnly: () => lobby.relayOnly,
    });
    state.convos.set(id, c);
    $('conversations').append(c.el);
  }
  return c;
}

/**
 * Shows one conversation (null: back to the member list on narrow screens).
 * @param {string | null} id
 */
function select(id) {
  state.selected = id;
  for (const [key, c] of state.convos) c.setSelected(key === id);
  if (id) {
    const c = conversation(id, lobby.members.get(id)?.name ?? lobby.peers.get(id)?.name ?? '');
    c.setSelected(true);
    if (document.visibilityState === 'visible') state.unseen.delete(c);
    if (c.state === 'connected') c.input.focus();
  }
  $('placeholder').hidden = !!id;
  $('app').dataset.view = id ? 'chat' : 'lobby';
  schedule();
}

/** @param {string} id */
function request(id) {
  try {
    lobby.request(id);
    select(id);
  } catch (err) {
    toast(t('request.failed', { error: /** @type {Error} */ (err).message }), 'error');
  }
}

/**
 * @param {string} text
 * @param {'info'|'error'} [kind]
 */
function toast(text, kind = 'info') {
  const el = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status', 'data-testid': 'toast' }, text);
  $('toasts').append(el);
  setTimeout(() => el.remove(), 5000);
}

// Rendering is batched: many SDK events can arrive in one task.
let pending = false;
function schedule() {
  if (pending) return;
  pending = true;
  queueMicrotask(() => {
    pending = false;
    render();
  });
}

function render() {
  // A peer that rejoined the lobby under a new id (the SDK follows it) moves its conversation along.
  for (const [key, c] of [...state.convos]) {
    const id = c.peer?.id;
    if (id && id !== key && !state.convos.has(id)) {
      state.convos.delete(key);
      c.key = id;
      state.convos.set(id, c);
      c.setName(c.name); // the avatar's colour follows the member id
      if (state.selected === key) state.selected = id;
    }
  }
  const focusKey = /** @type {HTMLElement | null} */ (document.activeElement)?.dataset?.key;
  renderMembers();
  renderRequests();
  for (const c of state.convos.values()) {
    const m = lobby.members.get(c.key);
    if (m && m.name !== c.name) c.setName(m.name);
    c.render();
  }
  if (focusKey) /** @type {HTMLElement | null} */ (document.querySelector(`[data-key="${CSS.escape(focusKey)}"]`))?.focus();
  renderGroup();
  // The tab's title counts what waits for this person: requests, file offers, and chat not seen yet.
  const peers = [...lobby.peers.values()];
  const requests = peers.filter((p) => p.state === 'incoming').length;
  const offers = peers.reduce((n, p) => n + [...p.incoming.values()].filter((t) => t.state === 'offered').length, 0);
  const unseen = [...state.unseen.values()].reduce((a, b) => a + b, 0);
  const count = requests + offers + unseen;
  document.title = count ? t('title.count', { count, label: group().label }) : t('title', { label: group().label });
}

/**
 * The group this page is in, in words.
 * @returns {{kind: 'network'|'lobby'|'private'|'room'|'none', label: string, heading: string, about: string, empty: string}}
 */
function group() {
  const want = lobby.wantRoom;
  const link = t('group.link');
  if (state.roomError) {
    return { kind: 'none', label: t('group.none.label'), heading: t('group.none.heading'), about: t('group.none.about'), empty: '' };
  }
  if ((want === NETWORK && state.networkRooms === false) || want === 'lobby') {
    return { kind: 'lobby', label: t('group.lobby.label'), heading: t('group.lobby.heading'),
      about: want === NETWORK ? t('group.lobby.aboutNetwork') : t('group.lobby.about'), empty: t('group.lobby.empty') };
  }
  if (want === NETWORK) {
    return { kind: 'network', label: t('group.network.label'), heading: t('group.network.heading'),
      about: t('group.network.about'), empty: t('group.network.empty') };
  }
  if (PRIVATE_RE.test(want)) {
    return { kind: 'private', label: t('group.private.label'), heading: t('group.private.heading'),
      about: t('group.private.about'), empty: link };
  }
  return { kind: 'room', label: t('group.room.label', { room: want }), heading: t('group.room.heading'),
    about: t('group.room.about', { room: want }), empty: link };
}

function renderGroup() {
  const g = group();
  const pill = $('group');
  pill.dataset.kind = g.kind;
  pill.dataset.room = state.roomError ? '' : lobby.room;
  pill.textContent = g.label;
  $('members-heading').textContent = g.heading;
  $('group-about').textContent = g.about;
  $('members-empty-hint').textContent = g.empty;
  $('invite').hidden = g.kind === 'network' || g.kind === 'none';
  const back = $('go-network');
  back.hidden = lobby.wantRoom === NETWORK && !state.roomError;
  back.textContent = state.networkRooms === false ? t('group.goLobby') : t('group.goNetwork');
  back.title = state.networkRooms === false ? t('group.goLobbyTitle') : t('group.goNetworkTitle');
  const input = /** @type {HTMLInputElement} */ ($('room-input'));
  const value = g.kind === 'room' || g.kind === 'private' || (g.kind === 'lobby' && lobby.wantRoom !== NETWORK) ? lobby.wantRoom : '';
  if (document.activeElement !== input && input.dataset.shown !== value) input.value = input.dataset.shown = value;
  const self = $('self');
  const selfName = $('self-name');
  selfName.textContent = lobby.selfName || t('anonymous');
  self.title = lobby.name && lobby.selfName !== lobby.name && lobby.status === 'open'
    ? t('self.renamed', { asked: lobby.name, name: lobby.selfName }) : t('self.title');
  $('notify-ask').hidden = attention.permission() !== 'default' || g.kind === 'none';
}

/**
 * Moves to another room, or to the network's group, without a reload: connections stay open.
 * @param {string} next a room name or NETWORK
 * @param {boolean} [push] add it to the history (false when following the history)
 */
function joinRoom(next, push = true) {
  const wasError = !!state.roomError;
  state.roomError = null;
  $('room-error').hidden = true;
  if (push && pageHref(next) !== location.pathname + location.search) history.pushState(null, '', pageHref(next));
  if (next !== lobby.wantRoom || wasError || lobby.status === 'closed') {
    lobby.setRoom(next);
    if (lobby.status === 'closed') lobby.connect();
  }
  schedule();
}

/** Makes a private room (128 random bits in its name), joins it and shows its link and QR code. */
function newPrivateRoom() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  const id = btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  joinRoom(`p-${id}`);
  openShare();
}

/** @returns {string} the link to the room this page is in */
function roomLink() {
  return new URL(roomHref(lobby.wantRoom), location.href).href;
}

/** Shows the link of this room as text and as a QR code, with copy and (where the browser has one) share. */
function openShare() {
  const link = roomLink();
  const g = group();
  $('share-title').textContent = g.kind === 'private' ? t('share.titlePrivate')
    : g.kind === 'room' ? t('share.titleRoom', { room: lobby.wantRoom }) : g.kind === 'lobby' ? t('share.titleLobby') : t('share.title');
  $('share-about').textContent = g.kind === 'private' ? t('share.aboutPrivate') : t('share.about');
  /** @type {HTMLInputElement} */ ($('share-link')).value = link;
  $('share-qr').replaceChildren(qrSvg(link, { size: 232, label: t('share.qr', { link }) }));
  $('share-qr').dataset.link = link;
  $('share-native').hidden = typeof navigator.share !== 'function';
  const dialog = /** @type {HTMLDialogElement} */ ($('share'));
  if (!dialog.open) dialog.showModal();
}

/** @param {{raw: string, error: string}} e */
function showRoomError(e) {
  state.roomError = e;
  $('room-error-reason').textContent = e.error;
  const fix = fixRoom(e.raw);
  const btn = $('room-error-fix');
  btn.hidden = !fix;
  btn.textContent = t('roomError.fix', { room: fix });
  btn.dataset.room = fix;
  $('room-error').hidden = false;
  schedule();
}

function renderMembers() {
  /** @type {Map<string, string>} id → name: members, plus people we have a connection or history with */
  const people = new Map();
  for (const m of lobby.members.values()) people.set(m.id, m.name);
  for (const [id, p] of lobby.peers) if (!people.has(id)) people.set(id, p.name);
  const sorted = [...people].sort((a, b) => a[1].localeCompare(b[1]) || a[0].localeCompare(b[0]));
  const rows = sorted.map(([id, name]) => {
    const peer = lobby.peers.get(id) ?? null;
    const online = lobby.members.has(id) && lobby.status === 'open'; // requests need the server
    const st = peer?.state ?? 'idle';
    const conv = state.convos.get(id);
    const label = stateLabel(st);
    return h('li', { class: `member${state.selected === id ? ' selected' : ''}${online ? '' : ' away'}`,
      'data-testid': 'member', 'data-member-id': id, 'data-name': name, 'data-state': st },
    h('button', { class: 'open', 'data-testid': 'open', 'data-key': `open:${id}`, 'aria-current': state.selected === id ? 'true' : null,
      title: t('members.open', { name: name || t('thisPerson') }), onclick: () => select(id) },
    h('span', { class: 'avatar', style: { '--h': hue(id) }, 'aria-hidden': 'true' }, initials(name)),
    h('span', { class: 'meta' },
      h('span', { class: 'mname' }, name || t('anonymous')),
      label && h('span', { class: 'badge', 'data-testid': 'peer-state', 'data-state': st }, label)),
    conv?.unread ? h('span', { class: 'unread' }, h('span', { 'aria-hidden': 'true' }, String(conv.unread)),
      h('span', { class: 'visually-hidden' }, t('members.unread', { count: conv.unread }))) : null),
    h('div', { class: 'actions' }, actionButtons(peer, `row:${id}`, { online, onRequest: () => request(id) })));
  });
  $('member-list').replaceChildren(...rows);
  $('member-count').textContent = String(lobby.members.size);
  $('members-empty').hidden = rows.length > 0;
}

function renderRequests() {
  const banners = [...lobby.peers.values()].filter((p) => p.state === 'incoming').map((p) =>
    h('div', { class: 'request-banner', 'data-testid': 'request-banner', 'data-name': p.name },
      h('span', { class: 'avatar', style: { '--h': hue(p.id) }, 'aria-hidden': 'true' }, initials(p.name)),
      h('span', { class: 'text' }, tNodes('request.banner', { name: h('b', {}, p.name || t('someone')) })),
      h('span', { class: 'actions' },
        h('button', { class: 'primary', 'data-key': `banner:${p.id}:accept`, onclick: () => {
          p.accept();
          select(p.id);
        } }, t('action.accept')),
        h('button', { 'data-key': `banner:${p.id}:decline`, onclick: () => p.decline() }, t('action.decline')))));
  $('requests').replaceChildren(...banners);
}

/** @param {{status: string, delay?: number, code?: number, reason?: string}} s */
function renderStatus(s) {
  const el = $('status');
  el.dataset.status = s.status;
  const reason = closeReason(s);
  el.textContent = s.status === 'open' ? t('status.online')
    : s.status === 'connecting' ? t('status.connecting')
      : s.status === 'reconnecting' ? t('status.reconnecting') // the banner says more
        : reason ? t('status.offlineReason', { reason }) : t('status.offline');
  el.title = s.status === 'reconnecting' ? t('status.reconnectingTitle') : '';
  renderOffline(s);
}

/**
 * @param {{code?: number, reason?: string}} s
 * @returns {string} why the server closed the connection, in words ('' when it gave no reason)
 */
function closeReason(s) {
  const key = `close.${s.code}`;
  return s.reason && has(key) ? t(key) : s.reason ?? '';
}

/** @type {any} */
let offlineTimer = null;

/**
 * The banner that says the lobby server is unreachable (and that open conversations still work), with a
 * countdown to the next attempt and "Retry now".
 * @param {{status: string, delay?: number, code?: number, reason?: string}} s
 */
function renderOffline(s) {
  const down = s.status === 'reconnecting' || (s.status === 'closed' && s.code !== undefined);
  const banner = $('offline');
  banner.hidden = !down;
  banner.dataset.status = s.status;
  clearInterval(offlineTimer);
  if (!down) return;
  const retryAt = s.delay ? Date.now() + s.delay : 0;
  const still = t('offline.still');
  const reason = closeReason(s);
  const text = () => {
    const left = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
    $('offline-text').textContent = s.status === 'closed'
      ? (reason ? t('offline.refusedReason', { reason, still }) : t('offline.refused', { still }))
      : retryAt ? t('offline.retryIn', { still, count: left }) : t('offline.reconnecting', { still });
  };
  text();
  if (retryAt) offlineTimer = setInterval(text, 1000);
}

lobby.on('status', (s) => {
  if (s.status !== 'open') console.info('p2plobby: signaling', s.status, s.code ?? '', s.reason ?? '');
  renderStatus(s);
  schedule();
});
lobby.on('self', (/** @type {{name: string, network: boolean}} */ s) => {
  const input = /** @type {HTMLInputElement} */ ($('name-input'));
  if (token) input.value = s.name; // the token's name: shown, not editable
  else if (document.activeElement !== input && lobby.name) input.value = lobby.name;
  if (lobby.wantRoom === NETWORK) state.networkRooms = s.network;
  if (lobby.name && s.name !== lobby.name && s.name !== state.lastSelfName) {
    toast(t('self.renamedToast', { asked: lobby.name, name: s.name }));
  }
  state.lastSelfName = s.name;
  schedule();
});
lobby.on('rename', (/** @type {{id: string, name: string, previous: string, self: boolean}} */ r) => {
  if (r.self) {
    if (r.name !== lobby.name) toast(t('self.renamedToast', { asked: lobby.name, name: r.name }));
    state.lastSelfName = r.name;
  } else {
    // The same person under another name: a note where you talk with them, not a leave and a join.
    const c = state.convos.get(r.id);
    if (c) {
      c.note(t('note.renamed', { old: r.previous || t('anonymous'), name: r.name || t('anonymous') }), 'rename-note');
      c.setName(r.name);
    }
  }
  schedule();
});
lobby.on('members', schedule);
lobby.on('peer', (/** @type {import('../sdk/peer.js').Peer} */ peer) => {
  const c = conversation(peer.id, peer.name);
  c.setPeer(peer);
  const requestTag = `request:${peer.id}:${peer.sid ?? ''}`;
  if (peer.state === 'incoming') {
    attention.notify(requestTag, t('notify.request', { name: peer.name || t('someone') }), t('notify.requestBody'), () => select(c.key));
  }
  peer.on('state', (/** @type {string} */ s) => {
    if (s !== 'incoming') attention.dismiss(requestTag);
    if (s === 'connected' && !state.selected) select(peer.id);
    schedule();
  });
  peer.on('chat', () => {
    if (state.selected !== c.key || document.visibilityState !== 'visible') state.unseen.set(c, (state.unseen.get(c) ?? 0) + 1);
    schedule();
  });
  peer.on('transfer', (/** @type {import('../sdk/transfer.js').Transfer} */ tr) => {
    if (tr.direction !== 'receive') return;
    const tag = `offer:${tr.tid}`;
    tr.on('state', () => {
      if (tr.state !== 'offered') attention.dismiss(tag);
      schedule();
    });
    queueMicrotask(() => { // after anything that answers it at once (automatic accepts and declines)
      if (tr.state !== 'offered') return;
      const name = peer.name || t('someone');
      attention.notify(tag, tr.files.length === 1 ? t('notify.offerFile', { name, file: tr.files[0].name })
        : t('notify.offerFiles', { name, count: tr.files.length }),
      t('notify.offerBody', { size: formatBytes(tr.total) }), () => select(c.key));
      schedule();
    });
  });
  schedule();
});
lobby.on('error', (/** @type {{code: string, message: string}} */ e) => {
  const key = `server.${e.code}`;
  if (e.code !== 'unknown-target') toast(t('server.error', { message: has(key) ? t(key) : e.message || e.code }), 'error');
});

// Header controls.
const nameInput = /** @type {HTMLInputElement} */ ($('name-input'));
nameInput.value = lobby.name;
if (token) {
  nameInput.readOnly = true;
  nameInput.title = t('name.fixed');
}
nameInput.addEventListener('change', () => {
  const name = nameInput.value.trim().slice(0, 32);
  if (!name) {
    nameInput.value = lobby.name;
    return;
  }
  saveName(name);
  lobby.setName(name);
});
nameInput.addEventListener('keydown', (e) => {
  if (e.key === 'Enter') nameInput.blur();
});
const roomInput = /** @type {HTMLInputElement} */ ($('room-input'));
const top = /** @type {HTMLElement} */ (document.querySelector('.top'));
/** @param {boolean} open whether the room and name controls are unfolded (narrow screens fold them) */
function unfold(open) {
  top.dataset.open = String(open);
  $('controls-toggle').setAttribute('aria-expanded', String(open));
}
$('controls-toggle').addEventListener('click', () => unfold(top.dataset.open !== 'true'));
$('room-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const next = roomInput.value.trim();
  if (!next) return roomInput.focus();
  if (!ROOM_RE.test(next)) {
    toast(roomProblem(next), 'error');
    return;
  }
  roomInput.blur();
  unfold(false);
  joinRoom(next);
});
$('new-private').addEventListener('click', () => {
  unfold(false);
  newPrivateRoom();
});
$('invite').addEventListener('click', openShare);
$('go-network').addEventListener('click', () => joinRoom(NETWORK));
$('retry-now').addEventListener('click', () => lobby.retry());
$('room-error-network').addEventListener('click', () => joinRoom(NETWORK));
$('room-error-fix').addEventListener('click', (e) => joinRoom(/** @type {HTMLElement} */ (e.currentTarget).dataset.room ?? NETWORK));
window.addEventListener('popstate', () => {
  const r = roomFromUrl();
  if (r.room !== undefined) joinRoom(r.room, false);
  else showRoomError(r); // stays where it is until the person chooses
});
$('copy-link').addEventListener('click', async () => {
  const input = /** @type {HTMLInputElement} */ ($('share-link'));
  try {
    await navigator.clipboard.writeText(input.value);
    toast(t('share.copied'));
  } catch {
    input.select(); // the clipboard API needs a secure context: selected, for the person to copy
    toast(t('share.copyByHand'));
  }
});
$('share-native').addEventListener('click', async () => {
  try {
    await navigator.share({ title: 'p2plobby', text: t('share.text'), url: /** @type {HTMLInputElement} */ ($('share-link')).value });
  } catch {
    // cancelled, or not allowed here: the link and QR code are still on screen
  }
});
$('share-close').addEventListener('click', () => /** @type {HTMLDialogElement} */ ($('share')).close());
// Notification permission: asked when the person acts, never on load.
document.addEventListener('click', (e) => {
  const t = /** @type {HTMLElement} */ (e.target);
  if (t.closest?.('[data-testid=request], [data-testid=accept], [data-key$=":accept"], [data-testid=new-private]')) {
    attention.askPermission().then(schedule);
  }
}, true);
$('notify-on').addEventListener('click', () => attention.askPermission(true).then(schedule));
document.addEventListener('visibilitychange', () => {
  const c = state.selected ? state.convos.get(state.selected) : null;
  if (c && document.visibilityState === 'visible') state.unseen.delete(c);
  schedule();
});
const relayOnly = /** @type {HTMLInputElement} */ ($('relay-only'));
relayOnly.checked = lobby.relayOnly;
relayOnly.addEventListener('change', () => {
  lobby.setRelayOnly(relayOnly.checked);
  save(RELAY_KEY, relayOnly.checked ? '1' : '');
  toast(relayOnly.checked ? t('relay.on') : t('relay.off'));
});
$('netcheck').addEventListener('click', async () => {
  const btn = /** @type {HTMLButtonElement} */ ($('netcheck'));
  const out = $('netcheck-result');
  btn.disabled = true;
  out.hidden = false;
  out.dataset.state = 'running';
  out.replaceChildren(h('span', {}, t('netcheck.checking')));
  const r = await lobby.netcheck();
  btn.disabled = false;
  out.dataset.state = 'done';
  out.dataset.verdict = r.verdict;
  out.dataset.mapping = r.mapping;
  const mapping = `netcheck.mapping.${r.mapping}`;
  const verdict = `netcheck.verdict.${r.verdict}`;
  const items = [
    r.lobby.ok ? t('netcheck.lobbyOK', { ms: r.lobby.rttMs ?? 0 }) : t('netcheck.lobbyFailed', { error: r.lobby.error ?? '' }),
    ...r.stun.map((s) => {
      const server = s.url.replace(/^stun:/, '');
      return s.mapped ? t('netcheck.stunMapped', { server, address: s.mapped })
        : s.error ? t('netcheck.stunFailed', { server, error: s.error }) : t('netcheck.stunAnswered', { server });
    }),
    t('netcheck.mapping', { mapping: has(mapping) ? t(mapping) : r.mapping }),
    ...r.turn.map((x) => {
      const p = { transport: x.transport.toUpperCase(), server: x.url.replace(/^turns?:|\?.*$/g, '') };
      return x.error ? t('netcheck.turnFailed', { ...p, error: x.error }) : t('netcheck.turnOK', { ...p, ms: x.timeMs ?? 0 });
    }),
  ];
  out.replaceChildren(
    h('span', { class: 'verdict', 'data-testid': 'netcheck-verdict', 'data-verdict': r.verdict },
      has(verdict) ? t(verdict) : r.verdict[0].toUpperCase() + r.verdict.slice(1)),
    h('span', {}, netcheckReason(r.reason)),
    h('ul', {}, items.map((t) => h('li', {}, t))));
});
window.addEventListener('beforeunload', (e) => {
  const busy = [...lobby.peers.values()].some((p) => [...p.outgoing.values(), ...p.incoming.values()]
    .some((t) => t.state === 'sending' || t.state === 'receiving'));
  if (busy) e.preventDefault(); // a transfer is running: ask before leaving
});
window.addEventListener('pagehide', () => lobby.leave());
// Files dropped outside a conversation should not navigate away from the page.
window.addEventListener('dragover', (e) => e.preventDefault());
window.addEventListener('drop', (e) => e.preventDefault());
// The installed app: offline shell, and files shared into it, offered to the people connected (install.js).
installApp({ lobby, open: (id) => (select(id), state.convos.get(id) ?? null) });

select(null);
if (state.roomError) {
  showRoomError(state.roomError); // nothing is joined until the person chooses
  $('status').textContent = t('status.notConnected');
  $('status').dataset.status = 'closed';
} else {
  lobby.connect();
}
