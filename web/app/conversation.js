// One conversation pane per person: header with state and verification code, the log (chat and file
// cards), and the composer with file picking and drag and drop. It outlives Peer objects, so the history
// stays when someone hangs up and connects again.
import { formatTime, h, hue, initials } from './dom.js';
import { describePath } from '../sdk/path.js';
import { releaseLinks, transferCard } from './transferview.js';

/** @typedef {import('../sdk/peer.js').Peer} Peer */

/** Text shown for each peer state. */
export const STATE_LABEL = {
  idle: '',
  requesting: 'Requesting…',
  incoming: 'Wants to connect',
  connecting: 'Connecting…',
  connected: 'Connected',
  declined: 'Declined',
  failed: 'Failed',
  left: 'Left',
  closed: 'Closed',
};

/**
 * How much a conversation keeps on the page: its log holds at most this many items (messages, notes, transfer
 * cards; the oldest go first, except cards of transfers still running or waiting for an answer). A peer may send
 * chat for hours; every message is a DOM node. Exposed as window.p2plobby.limits.
 */
export const LOG_LIMITS = { logItems: 500 };

/** @type {WeakMap<Element, () => boolean>} log items that must stay while this says so (live transfer cards) */
const pinned = new WeakMap();

export class Conversation {
  /**
   * @param {string} key the member id it is filed under
   * @param {string} name
   * @param {{onChange: () => void, onBack: () => void, onRequest: (c: Conversation) => void,
   *   isOnline: (key: string) => boolean, relayOnly?: () => boolean}} hooks
   */
  constructor(key, name, hooks) {
    this.key = key;
    this.name = name;
    this.hooks = hooks;
    /** @type {Peer | null} */
    this.peer = null;
    this.unread = 0;
    /** How many old items the log dropped (LOG_LIMITS). */
    this.trimmed = 0;
    /** @type {HTMLElement | null} the note that says older items were removed */
    this.trimNote = null;
    /** @type {(() => void)[]} */
    this.unsub = [];

    this.avatar = h('span', { class: 'avatar', 'aria-hidden': 'true' });
    this.title = h('h2', { class: 'cname' });
    this.stateEl = h('span', { class: 'badge', 'data-testid': 'conversation-state' });
    this.pathEl = h('span', { class: 'path', 'data-testid': 'path', hidden: true });
    this.reasonEl = h('p', { class: 'reason', 'data-testid': 'conversation-reason' });
    this.codeEl = h('strong', { class: 'code', 'data-testid': 'verify-code' });
    this.verify = h('details', { class: 'verify', hidden: true },
      h('summary', {}, 'Verification code ', this.codeEl),
      h('p', {}, 'You and the other person both see a six-digit code derived from the encryption keys of ',
        'this very connection. Compare it by voice or in person: if the codes match, nobody — not even the ',
        'lobby server — is sitting in the middle of your connection.'));
    this.buttons = h('div', { class: 'actions' });
    this.log = h('ol', { class: 'log', 'data-testid': 'chat-log', 'aria-live': 'polite' });
    this.fileInput = h('input', { type: 'file', multiple: true, hidden: true, 'data-testid': 'file-input',
      onchange: () => {
        const input = /** @type {HTMLInputElement} */ (this.fileInput);
        if (input.files?.length) this.sendFiles(input.files);
        input.value = '';
      } });
    this.attach = h('button', { type: 'button', class: 'ghost attach', 'data-testid': 'attach', title: 'Send files',
      'aria-label': 'Send files', onclick: () => this.fileInput.click() }, paperclip());
    this.input = /** @type {HTMLInputElement} */ (h('input', { class: 'chat-input', 'data-testid': 'chat-input',
      placeholder: 'Message', autocomplete: 'off', 'aria-label': 'Message', maxlength: 4000 }));
    this.sendBtn = h('button', { type: 'submit', class: 'primary', 'data-testid': 'chat-send' }, 'Send');
    this.composer = h('form', { class: 'composer', onsubmit: (/** @type {Event} */ e) => {
      e.preventDefault();
      this.sendChat();
    } }, this.attach, this.fileInput, this.input, this.sendBtn);
    this.drop = h('div', { class: 'drop', hidden: true }, 'Drop files to send them');

    this.el = h('section', { class: 'conversation', 'data-testid': 'conversation', hidden: true },
      h('header', { class: 'chead' },
        h('button', { class: 'ghost back', 'aria-label': 'Back to the room', onclick: () => hooks.onBack() }, '←'),
        this.avatar,
        h('div', { class: 'who' }, this.title, this.stateEl, this.pathEl),
        this.buttons),
      this.reasonEl, this.verify, this.log, this.composer, this.drop);
    this.#dragAndDrop();
    this.setName(name);
    this.render();
  }

  /** @param {string} name */
  setName(name) {
    this.name = name;
    this.el.dataset.peerName = name;
    this.el.dataset.peerId = this.key;
    this.title.textContent = name || 'Anonymous';
    this.avatar.textContent = initials(name || '?');
    this.avatar.style.setProperty('--h', String(hue(name)));
  }

  /**
   * Follows a (new) Peer for this person.
   * @param {Peer} peer
   */
  setPeer(peer) {
    if (this.peer === peer) return;
    this.unsub.forEach((u) => u());
    this.peer = peer;
    const first = !this.log.childElementCount;
    if (!first) this.note('New session');
    let relayNoted = false;
    let directNoted = false;
    this.unsub = [
      peer.on('state', (s) => {
        if (s === 'connected') this.note('Connected — chat and files are end-to-end encrypted between you two.');
        else if (s !== 'connecting' && s !== 'incoming' && peer.reason) this.note(peer.reason);
        this.render();
        this.hooks.onChange();
      }),
      peer.on('verify', () => this.render()),
      peer.on('path', (path) => {
        if (path.relayed && !relayNoted) {
          relayNoted = true;
          this.note(path.localType === 'relay' && this.hooks.relayOnly?.()
            ? 'Relayed by the server, as you asked: they do not see your IP address. The relay cannot read anything.'
            : 'Your networks allow no direct path, so the server relays the encrypted data. It cannot read anything.');
        } else if (!path.relayed && !directNoted) {
          directNoted = true;
          this.note('Direct connection: nothing goes through the server.');
        }
        this.render();
      }),
      peer.on('online', () => this.render()),
      peer.on('chat', (m) => {
        this.addChat(m);
        this.hooks.onChange();
      }),
      peer.on('transfer', (t) => {
        const li = h('li', { class: 'item' }, transferCard(t));
        pinned.set(li, () => !t.ended);
        this.#append(li, t.direction === 'receive');
        this.hooks.onChange();
      }),
      peer.on('limited', (/** @type {{kind: string, reason: string}} */ l) => this.note(`${this.name || 'They'}: ${l.reason}`)),
    ];
    this.render();
  }

  /** @param {boolean} selected */
  setSelected(selected) {
    this.el.hidden = !selected;
    if (selected) {
      this.unread = 0;
      this.log.scrollTop = this.log.scrollHeight;
    }
  }

  /** @returns {string} */
  get state() {
    return this.peer?.state ?? 'idle';
  }

  /** Updates header, buttons and composer from the peer's state. */
  render() {
    const p = this.peer;
    const state = this.state;
    this.el.dataset.state = state;
    this.stateEl.textContent = STATE_LABEL[/** @type {keyof STATE_LABEL} */ (state)] +
      (state === 'connected' && p && !p.online ? ' · not in the lobby' : '');
    this.stateEl.dataset.state = state;
    this.reasonEl.textContent = p?.ended ? p.reason : '';
    this.reasonEl.hidden = !p?.ended;
    const path = state === 'connected' ? p?.path : null;
    this.pathEl.hidden = !path;
    if (path) {
      this.pathEl.textContent = describePath(path);
      this.pathEl.dataset.relayed = String(path.relayed);
      this.pathEl.dataset.local = path.localType;
      this.pathEl.dataset.remote = path.remoteType;
      this.pathEl.title = `${path.relayed ? 'Through the server\'s relay (TURN): the other person does not see your IP address.'
        : 'Directly between your two devices.'} Candidates: ${path.localType} ↔ ${path.remoteType}, ${path.protocol.toUpperCase()}.`;
    }
    const code = p?.verificationCode;
    this.verify.hidden = !code || state !== 'connected';
    this.codeEl.textContent = code ?? '';
    const connected = state === 'connected';
    for (const el of [this.input, this.sendBtn, this.attach]) /** @type {any} */ (el).disabled = !connected;
    this.input.placeholder = connected ? `Message ${this.name || 'them'}` : 'Connect to chat';
    this.buttons.replaceChildren(...actionButtons(p, `conv:${this.key}`, {
      online: this.hooks.isOnline(this.key), onRequest: () => this.hooks.onRequest(this), hangup: true,
    }));
  }

  /** @param {import('../sdk/peer.js').ChatMessage} m */
  addChat(m) {
    // The SDK checks timestamps; still, an invalid Date (toISOString throws) must not make a message vanish.
    const at = new Date(m.ts);
    const ts = Number.isNaN(at.getTime()) ? Date.now() : m.ts;
    this.#append(h('li', { class: `item msg ${m.self ? 'me' : 'them'}`, 'data-testid': 'chat-message',
      'data-from': m.self ? 'me' : 'peer' },
    h('p', { class: 'text', dir: 'auto' }, m.text),
    h('time', { datetime: new Date(ts).toISOString() }, formatTime(ts))), !m.self);
  }

  /** @param {string} text */
  note(text) {
    this.#append(h('li', { class: 'item note' }, text), false);
  }

  sendChat() {
    const text = this.input.value.trim();
    if (!text || !this.peer) return;
    try {
      this.addChat(this.peer.sendChat(text));
      this.input.value = '';
    } catch (err) {
      this.note(`Not sent: ${/** @type {Error} */ (err).message}`);
    }
  }

  /** @param {FileList | File[]} files */
  sendFiles(files) {
    if (this.peer?.state !== 'connected') return;
    try {
      this.peer.sendFiles(files);
    } catch (err) {
      this.note(`Could not send: ${/** @type {Error} */ (err).message}`);
    }
  }

  /**
   * @param {HTMLElement} li
   * @param {boolean} incoming counts as unread when the pane is hidden
   */
  #append(li, incoming) {
    const atEnd = this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight < 40;
    this.log.append(li);
    this.#trim();
    if (atEnd || !incoming) this.log.scrollTop = this.log.scrollHeight;
    if (incoming && this.el.hidden) this.unread++;
  }

  /** Keeps the log within LOG_LIMITS: removes the oldest items (and revokes their download links). */
  #trim() {
    let extra = this.log.childElementCount - (this.trimNote ? 1 : 0) - Math.max(1, LOG_LIMITS.logItems);
    for (let el = this.log.firstElementChild; el && extra > 0;) {
      const next = el.nextElementSibling;
      if (el !== this.trimNote && !pinned.get(el)?.()) {
        releaseLinks(el);
        el.remove();
        this.trimmed++;
        extra--;
      }
      el = next;
    }
    if (!this.trimmed) return;
    this.trimNote ??= h('li', { class: 'item note', 'data-testid': 'log-trimmed' });
    this.trimNote.textContent = `${this.trimmed} older ${this.trimmed === 1 ? 'item was' : 'items were'} removed from this conversation.`;
    if (this.log.firstElementChild !== this.trimNote) this.log.prepend(this.trimNote);
  }

  #dragAndDrop() {
    let depth = 0; // dragenter/leave fire for every child; count them
    const show = (/** @type {boolean} */ on) => {
      this.drop.hidden = !on;
    };
    this.el.addEventListener('dragenter', (e) => {
      if (!e.dataTransfer?.types.includes('Files') || this.state !== 'connected') return;
      e.preventDefault();
      depth++;
      show(true);
    });
    this.el.addEventListener('dragover', (e) => {
      if (this.state === 'connected' && e.dataTransfer?.types.includes('Files')) e.preventDefault();
    });
    this.el.addEventListener('dragleave', () => {
      if (--depth <= 0) {
        depth = 0;
        show(false);
      }
    });
    this.el.addEventListener('drop', (e) => {
      e.preventDefault();
      depth = 0;
      show(false);
      const files = e.dataTransfer?.files;
      if (files?.length) this.sendFiles(files);
    });
  }
}

/** @returns {SVGElement} a paperclip icon (inline: no external assets, and emoji fonts may be missing) */
function paperclip() {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('width', '20');
  svg.setAttribute('height', '20');
  svg.setAttribute('aria-hidden', 'true');
  const path = document.createElementNS(ns, 'path');
  path.setAttribute('d', 'M21 11.5l-8.6 8.6a5.5 5.5 0 01-7.8-7.8l9.2-9.2a3.7 3.7 0 015.2 5.2l-9.2 9.2a1.8 1.8 0 01-2.6-2.6l8.5-8.5');
  path.setAttribute('fill', 'none');
  path.setAttribute('stroke', 'currentColor');
  path.setAttribute('stroke-width', '2');
  path.setAttribute('stroke-linecap', 'round');
  path.setAttribute('stroke-linejoin', 'round');
  svg.append(path);
  return svg;
}

/**
 * The buttons that fit a peer's state; used in the conversation header and in the member list.
 * @param {Peer | null} p the current Peer of that person, if any
 * @param {string} key unique prefix, so focus can be restored after re-rendering
 * @param {{online: boolean, onRequest: () => void, hangup?: boolean}} opts
 * @returns {HTMLElement[]}
 */
export function actionButtons(p, key, opts) {
  const state = p?.state ?? 'idle';
  /** @type {HTMLElement[]} */
  const out = [];
  if (state === 'incoming' && p) {
    out.push(h('button', { class: 'primary', 'data-testid': 'accept', 'data-key': `${key}:accept`, onclick: () => p.accept() }, 'Accept'));
    out.push(h('button', { 'data-testid': 'decline', 'data-key': `${key}:decline`, onclick: () => p.decline() }, 'Decline'));
  } else if (state === 'requesting' && p) {
    out.push(h('button', { 'data-testid': 'cancel', 'data-key': `${key}:cancel`, onclick: () => p.hangup() }, 'Cancel'));
  } else if (state === 'connecting' || state === 'connected') {
    if (opts.hangup && p) {
      out.push(h('button', { class: 'danger', 'data-testid': 'hangup', 'data-key': `${key}:hangup`, onclick: () => p.hangup() }, 'Hang up'));
    }
  } else if (opts.online) {
    out.push(h('button', { class: 'primary', 'data-testid': 'request', 'data-key': `${key}:request`, onclick: opts.onRequest },
      state === 'idle' ? 'Request' : 'Request again'));
  }
  return out;
}
