// The lobby page: wires the SDK (../sdk/p2plobby.js) to the DOM. State lives in window.p2plobby, which is
// also what the end-to-end tests read.
import { Lobby } from '../sdk/p2plobby.js';
import { Conversation, LOG_LIMITS, STATE_LABEL, actionButtons } from './conversation.js';
import { h, hue, initials } from './dom.js';

const ROOM_RE = /^[A-Za-z0-9._-]{1,64}$/;
const NAME_KEY = 'p2plobby.name';
const RELAY_KEY = 'p2plobby.relayOnly';

/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

const params = new URLSearchParams(location.search);
const room = ROOM_RE.test(params.get('room') ?? '') ? /** @type {string} */ (params.get('room')) : 'lobby';
if (params.get('room') !== room) {
  params.set('room', room); // keep the address bar shareable
  history.replaceState(null, '', `?${params}`);
}

const wsUrl = new URL('/ws', location.href);
wsUrl.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
const lobby = new Lobby({ url: wsUrl, room, name: loadName(), relayOnly: load(RELAY_KEY) === '1' });

/** Page state; exposed for debugging and tests. */
const state = {
  room,
  /** @type {Map<string, Conversation>} by member id */
  convos: new Map(),
  /** @type {string | null} */
  selected: null,
};
/** @type {any} */ (window).p2plobby = { lobby, state, select, limits: LOG_LIMITS };

/** @returns {string} the remembered name, or a new guest name */
function loadName() {
  let name = load(NAME_KEY);
  if (!name) {
    name = `Guest ${1 + Math.floor(Math.random() * 999)}`;
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
    toast(`Could not request: ${/** @type {Error} */ (err).message}`, 'error');
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
  const unread = [...state.convos.values()].reduce((n, c) => n + c.unread, 0);
  document.title = `${unread ? `(${unread}) ` : ''}${room} · p2plobby`;
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
    const label = STATE_LABEL[/** @type {keyof STATE_LABEL} */ (st)];
    return h('li', { class: `member${state.selected === id ? ' selected' : ''}${online ? '' : ' away'}`,
      'data-testid': 'member', 'data-member-id': id, 'data-name': name, 'data-state': st },
    h('button', { class: 'open', 'data-testid': 'open', 'data-key': `open:${id}`, 'aria-current': state.selected === id ? 'true' : null,
      title: `Open the conversation with ${name || 'this person'}`, onclick: () => select(id) },
    h('span', { class: 'avatar', style: { '--h': hue(name) }, 'aria-hidden': 'true' }, initials(name)),
    h('span', { class: 'meta' },
      h('span', { class: 'mname' }, name || 'Anonymous'),
      label && h('span', { class: 'badge', 'data-testid': 'peer-state', 'data-state': st }, label)),
    conv?.unread ? h('span', { class: 'unread', 'aria-label': `${conv.unread} unread` }, String(conv.unread)) : null),
    h('div', { class: 'actions' }, actionButtons(peer, `row:${id}`, { online, onRequest: () => request(id) })));
  });
  $('member-list').replaceChildren(...rows);
  $('member-count').textContent = String(lobby.members.size);
  $('members-empty').hidden = rows.length > 0;
}

function renderRequests() {
  const banners = [...lobby.peers.values()].filter((p) => p.state === 'incoming').map((p) =>
    h('div', { class: 'request-banner', 'data-testid': 'request-banner', 'data-name': p.name },
      h('span', { class: 'avatar', style: { '--h': hue(p.name) }, 'aria-hidden': 'true' }, initials(p.name)),
      h('span', { class: 'text' }, h('b', {}, p.name || 'Someone'), ' wants to connect with you.'),
      h('span', { class: 'actions' },
        h('button', { class: 'primary', 'data-key': `banner:${p.id}:accept`, onclick: () => {
          p.accept();
          select(p.id);
        } }, 'Accept'),
        h('button', { 'data-key': `banner:${p.id}:decline`, onclick: () => p.decline() }, 'Decline'))));
  $('requests').replaceChildren(...banners);
}

/** @param {{status: string, delay?: number, code?: number, reason?: string}} s */
function renderStatus(s) {
  const el = $('status');
  el.dataset.status = s.status;
  el.textContent = s.status === 'open' ? 'Online'
    : s.status === 'connecting' ? 'Connecting…'
      : s.status === 'reconnecting' ? `Reconnecting${s.delay ? ` in ${Math.ceil(s.delay / 1000)} s` : ''}…`
        : `Offline${s.reason ? `: ${s.reason}` : ''}`;
  el.title = s.status === 'reconnecting'
    ? 'The lobby server is unreachable. Open connections keep working; requests need the server.' : '';
}

lobby.on('status', (s) => {
  if (s.status !== 'open') console.info('p2plobby: signaling', s.status, s.code ?? '', s.reason ?? '');
  renderStatus(s);
  schedule();
});
lobby.on('self', (/** @type {{name: string}} */ s) => {
  const input = /** @type {HTMLInputElement} */ ($('name-input'));
  if (document.activeElement !== input && s.name) input.value = s.name;
});
lobby.on('members', schedule);
lobby.on('peer', (/** @type {import('../sdk/peer.js').Peer} */ peer) => {
  const c = conversation(peer.id, peer.name);
  c.setPeer(peer);
  peer.on('state', (/** @type {string} */ s) => {
    if (s === 'connected' && !state.selected) select(peer.id);
    schedule();
  });
  schedule();
});
lobby.on('error', (/** @type {{code: string, message: string}} */ e) => {
  if (e.code !== 'unknown-target') toast(`Server: ${e.message || e.code}`, 'error');
});

// Header controls.
const nameInput = /** @type {HTMLInputElement} */ ($('name-input'));
nameInput.value = lobby.name;
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
roomInput.value = room;
$('room-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const next = roomInput.value.trim();
  if (next === room || !ROOM_RE.test(next)) return;
  const busy = [...lobby.peers.values()].some((p) => p.state === 'connected');
  if (busy && !confirm('Changing rooms closes your open connections. Continue?')) return;
  location.search = `?room=${encodeURIComponent(next)}`;
});
$('copy-link').addEventListener('click', async () => {
  const link = `${location.origin}${location.pathname}?room=${encodeURIComponent(room)}`;
  try {
    await navigator.clipboard.writeText(link);
    toast('Link copied. Anyone with it can join this room.');
  } catch {
    prompt('Copy this link:', link); // clipboard API needs a secure context
  }
});
const relayOnly = /** @type {HTMLInputElement} */ ($('relay-only'));
relayOnly.checked = lobby.relayOnly;
relayOnly.addEventListener('change', () => {
  lobby.setRelayOnly(relayOnly.checked);
  save(RELAY_KEY, relayOnly.checked ? '1' : '');
  toast(relayOnly.checked ? 'New connections go through the relay: the other side will not see your IP address.'
    : 'New connections go directly where your networks allow it.');
});
$('netcheck').addEventListener('click', async () => {
  const btn = /** @type {HTMLButtonElement} */ ($('netcheck'));
  const out = $('netcheck-result');
  btn.disabled = true;
  out.hidden = false;
  out.dataset.state = 'running';
  out.replaceChildren(h('span', {}, 'Checking…'));
  const r = await lobby.netcheck();
  btn.disabled = false;
  out.dataset.state = 'done';
  out.dataset.verdict = r.verdict;
  out.dataset.mapping = r.mapping;
  const items = [
    r.lobby.ok ? `Lobby: reachable, round trip ${r.lobby.rttMs} ms` : `Lobby: unreachable (${r.lobby.error})`,
    ...r.stun.map((s) => `STUN ${s.url.replace(/^stun:/, '')}: ${s.mapped ? `you are ${s.mapped}` : s.error ? `no answer (${s.error})` : 'answered'}`),
    `NAT mapping: ${r.mapping}`,
    ...r.turn.map((t) => `TURN over ${t.transport.toUpperCase()} ${t.url.replace(/^turns?:|\?.*$/g, '')}: ${t.error ? `failed (${t.error})` : `works (${t.timeMs} ms)`}`),
  ];
  out.replaceChildren(
    h('span', { class: 'verdict', 'data-testid': 'netcheck-verdict', 'data-verdict': r.verdict }, r.verdict[0].toUpperCase() + r.verdict.slice(1)),
    h('span', {}, r.reason),
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

select(null);
lobby.connect();
