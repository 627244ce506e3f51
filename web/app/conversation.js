// One conversation pane per person: header with state and verification code, the log (chat and file
// cards), and the composer with file picking and drag and drop. It outlives Peer objects, so the history
// stays when someone hangs up and connects again.
import { formatTime, h, hue, initials } from './dom.js';
import { has, sdkText, t } from './i18n.js';
import { releaseLinks, transferCard } from './transferview.js';
import { LIMITS } from '../sdk/transfer.js';
import { canPickDirectory, download, downloadAll, entryOf, pickDirectory, saveInto, unsaved, watchSaved } from './saving.js';

/** @typedef {import('../sdk/peer.js').Peer} Peer */

/**
 * @param {string} state a peer's state
 * @returns {string} the words for it ('' for idle)
 */
export function stateLabel(state) {
  const key = `state.${state}`;
  return has(key) ? t(key) : '';
}

/**
 * A few words for a connection's path, e.g. "direct · UDP" or "relayed · TURN over TCP".
 * @param {import('../sdk/path.js').PeerPath} p
 * @returns {string}
 */
function describePath(p) {
  if (p.localType === 'relay' && p.relayProtocol) return t('path.relayedOwn', { protocol: p.relayProtocol.toUpperCase() });
  if (p.relayed) return t('path.relayedTheirs');
  return t('path.direct', { protocol: p.protocol.toUpperCase() });
}

/**
 * How much a conversation keeps on the page: its log holds at most this many items (messages, notes, transfer
 * cards; the oldest go first, except cards of transfers still running or waiting for an answer). A peer may send
 * chat for hours; every message is a DOM node. Exposed as window.p2plobby.limits.
 */
export const LOG_LIMITS = { logItems: 500 };

/** @type {WeakMap<Element, () => boolean>} log items that must stay while this says so (live transfer cards) */
const pinned = new WeakMap();

/** @type {Set<Conversation>} every conversation, for pasting into the one on screen */
const conversations = new Set();

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
    this.codeEl = h('strong', { class: 'code', 'data-testid': 'verify-code' });
    this.verify = h('details', { class: 'verify', hidden: true },
      h('summary', {}, t('conv.verify'), ' ', this.codeEl),
      h('p', {}, t('conv.verifyAbout')));
    this.buttons = h('div', { class: 'actions' });
    // Focusable, so that people without a mouse can scroll it; labelled with whom it is (setName).
    this.log = h('ol', { class: 'log', 'data-testid': 'chat-log', 'aria-live': 'polite', tabindex: '0' });
    this.fileInput = h('input', { type: 'file', multiple: true, hidden: true, 'data-testid': 'file-input', 'aria-label': t('conv.chooseFiles'),
      onchange: () => {
        const input = /** @type {HTMLInputElement} */ (this.fileInput);
        if (input.files?.length) this.sendFiles(input.files);
        input.value = '';
      } });
    this.attach = h('button', { type: 'button', class: 'ghost attach', 'data-testid': 'attach', title: t('conv.sendFiles'),
      'aria-label': t('conv.sendFiles'), onclick: () => this.fileInput.click() }, paperclip());
    // A folder keeps its layout: each file is announced with its path inside it (webkitRelativePath).
    this.folderInput = h('input', { type: 'file', multiple: true, webkitdirectory: '', hidden: true, 'data-testid': 'folder-input',
      'aria-label': t('conv.chooseFolder'),
      onchange: () => {
        const input = /** @type {HTMLInputElement} */ (this.folderInput);
        if (input.files?.length) this.sendFiles(input.files);
        input.value = '';
      } });
    this.attachFolder = h('button', { type: 'button', class: 'ghost attach', 'data-testid': 'attach-folder', title: t('conv.sendFolder'),
      'aria-label': t('conv.sendFolder'), onclick: () => this.folderInput.click() }, folderIcon());
    /** @type {{dir: FileSystemDirectoryHandle | null} | null} where received files are saved automatically (null: they are not); kept for the page's session */
    this.autoSave = null;
    this.autoAcceptBox = /** @type {HTMLInputElement} */ (h('input', { type: 'checkbox', 'data-testid': 'auto-accept',
      onchange: () => this.#setAutoAccept(/** @type {HTMLInputElement} */ (this.autoAcceptBox).checked) }));
    this.autoSaveBox = /** @type {HTMLInputElement} */ (h('input', { type: 'checkbox', 'data-testid': 'auto-save',
      onchange: () => this.#setAutoSave(/** @type {HTMLInputElement} */ (this.autoSaveBox).checked) }));
    this.autoSaveText = h('span', {}, t('conv.autoSave'));
    this.unsavedText = h('span', { 'data-testid': 'unsaved-count' });
    this.unsavedEl = h('span', { class: 'unsaved', hidden: true }, this.unsavedText,
      h('button', { type: 'button', 'data-testid': 'save-all-conversation', onclick: () => downloadAll(unsaved(this.log)) }, t('conv.saveAll')));
    this.fileOptions = h('div', { class: 'file-options', 'data-testid': 'file-options' },
      h('label', { title: t('conv.autoAcceptTitle') },
        this.autoAcceptBox, h('span', {}, t('conv.autoAccept'))),
      h('label', { title: t('conv.autoSaveTitle') },
        this.autoSaveBox, this.autoSaveText),
      this.unsavedEl);
    this.input = /** @type {HTMLInputElement} */ (h('input', { class: 'chat-input', 'data-testid': 'chat-input',
      placeholder: t('conv.message'), autocomplete: 'off', 'aria-label': t('conv.message'), maxlength: 4000 }));
    this.sendBtn = h('button', { type: 'submit', class: 'primary', 'data-testid': 'chat-send' }, t('conv.send'));
    this.composer = h('form', { class: 'composer', onsubmit: (/** @type {Event} */ e) => {
      e.preventDefault();
      this.sendChat();
    } }, this.attach, this.attachFolder, this.fileInput, this.folderInput, this.input, this.sendBtn);
    this.drop = h('div', { class: 'drop', hidden: true }, t('conv.drop'));

    this.el = h('section', { class: 'conversation', 'data-testid': 'conversation', hidden: true },
      h('header', { class: 'chead' },
        h('button', { class: 'ghost back', 'aria-label': t('conv.back'), onclick: () => hooks.onBack() }, '←'),
        this.avatar,
        h('div', { class: 'who' }, this.title, this.stateEl, this.pathEl),
        this.buttons),
      this.verify, this.log, this.fileOptions, this.composer, this.drop);
    this.#dragAndDrop();
    conversations.add(this);
    watchSaved(() => this.#renderUnsaved());
    this.setName(name);
    this.render();
  }

  /** @param {string} name */
  setName(name) {
    this.name = name;
    this.el.dataset.peerName = name;
    this.el.dataset.peerId = this.key;
    this.title.textContent = name || t('anonymous');
    this.log.setAttribute('aria-label', t('conv.log', { name: name || t('anonymous') }));
    this.avatar.textContent = initials(name || '?');
    this.avatar.style.setProperty('--h', String(hue(this.key))); // from the member: two "Alice"s differ
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
    if (!first) this.note(t('note.newSession'));
    // Accepting files without asking was for the connection it was chosen in; a new one asks again.
    this.autoAcceptBox.checked = false;
    let relayNoted = false;
    let directNoted = false;
    this.unsub = [
      peer.on('state', (s) => {
        if (s === 'connected') this.note(t('note.connected'));
        else if (s !== 'connecting' && s !== 'incoming' && peer.reason) this.note(sdkText(peer.reason), peer.ended ? 'end-reason' : undefined);
        this.render();
        this.hooks.onChange();
      }),
      peer.on('verify', () => this.render()),
      peer.on('path', (path) => {
        if (path.relayed && !relayNoted) {
          relayNoted = true;
          this.note(path.localType === 'relay' && this.hooks.relayOnly?.()
            ? t('note.relayedAsked') : t('note.relayed'));
        } else if (!path.relayed && !directNoted) {
          directNoted = true;
          this.note(t('note.direct'));
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
        if (t.direction === 'receive') t.on('file', (/** @type {import('../sdk/transfer.js').FileResult} */ r) => this.#autoSaveFile(r)); // after the card's: it tracks the file
        this.hooks.onChange();
      }),
      peer.on('limited', (/** @type {{kind: string, reason: string}} */ l) => this.note(t('note.limited', { name: this.name || t('they'), reason: sdkText(l.reason) }))),
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
    this.stateEl.textContent = state === 'connected' && p && !p.online ? t('state.notInLobby', { state: stateLabel(state) }) : stateLabel(state);
    this.stateEl.dataset.state = state;
    const path = state === 'connected' ? p?.path : null;
    this.pathEl.hidden = !path;
    if (path) {
      this.pathEl.textContent = describePath(path);
      this.pathEl.dataset.relayed = String(path.relayed);
      this.pathEl.dataset.local = path.localType;
      this.pathEl.dataset.remote = path.remoteType;
      this.pathEl.title = t(path.relayed ? 'path.titleRelayed' : 'path.titleDirect',
        { local: path.localType, remote: path.remoteType, protocol: path.protocol.toUpperCase() });
    }
    const code = p?.verificationCode;
    this.verify.hidden = !code || state !== 'connected';
    this.codeEl.textContent = code ?? '';
    const connected = state === 'connected';
    for (const el of [this.input, this.sendBtn, this.attach, this.attachFolder, this.autoAcceptBox]) /** @type {any} */ (el).disabled = !connected;
    this.input.placeholder = connected ? t('conv.messageTo', { name: this.name || t('them') }) : t('conv.connectToChat');
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

  /**
   * @param {string} text
   * @param {string} [testid] what kind of note it is (data-testid), e.g. 'end-reason', 'rename-note'
   */
  note(text, testid) {
    this.#append(h('li', { class: 'item note', 'data-testid': testid }, text), false);
  }

  sendChat() {
    const text = this.input.value.trim();
    if (!text || !this.peer) return;
    try {
      this.addChat(this.peer.sendChat(text));
      this.input.value = '';
    } catch (err) {
      this.note(t('note.notSent', { error: /** @type {Error} */ (err).message }));
    }
  }

  /** @param {FileList | import('../sdk/outgoing.js').SendItem[]} files */
  sendFiles(files) {
    if (this.peer?.state !== 'connected') return;
    if (files.length > LIMITS.filesPerOffer) {
      this.note(t('note.tooManyFiles', { count: files.length, max: LIMITS.filesPerOffer }));
      return;
    }
    try {
      this.peer.sendFiles(files);
    } catch (err) {
      this.note(t('note.couldNotSend', { error: /** @type {Error} */ (err).message }));
    }
  }

  /**
   * Sends pasted text: as a chat message, or as a text file when it is longer than a message may be.
   * @param {string} text
   */
  sendPasted(text) {
    if (!this.peer || this.peer.state !== 'connected') return;
    if (new TextEncoder().encode(text).length <= 16 << 10) {
      try {
        this.addChat(this.peer.sendChat(text));
        return;
      } catch (err) {
        this.note(t('note.notSent', { error: /** @type {Error} */ (err).message }));
        return;
      }
    }
    this.note(t('note.pastedLong'));
    this.sendFiles([new File([text], t('note.pastedName'), { type: 'text/plain' })]);
  }

  /**
   * A file of this conversation arrived: saved at once when the person chose to save automatically.
   * @param {import('../sdk/transfer.js').FileResult} r
   */
  #autoSaveFile(r) {
    const entry = entryOf(r);
    if (!entry || entry.saved || !this.autoSave) return;
    const dir = this.autoSave.dir;
    if (!dir) {
      download(entry);
      return;
    }
    saveInto(dir, entry).catch((err) => this.note(
      t('note.autoSaveFailed', { file: entry.name, dir: dir.name, error: /** @type {Error} */ (err).message })));
  }

  /** @param {boolean} on */
  #setAutoAccept(on) {
    const p = this.peer;
    if (!p || p.state !== 'connected') {
      this.autoAcceptBox.checked = false;
      return;
    }
    p.autoAccept = on;
    const name = this.name || t('fromThem');
    this.note(on ? t('note.autoAcceptOn', { name }) : t('note.autoAcceptOff', { name }), 'auto-accept-note');
  }

  /** @param {boolean} on */
  async #setAutoSave(on) {
    if (!on) {
      this.autoSave = null;
      this.autoSaveText.textContent = t('conv.autoSave');
      this.note(t('note.autoSaveOff'), 'auto-save-note');
      return;
    }
    /** @type {FileSystemDirectoryHandle | null} */
    let dir = null;
    if (canPickDirectory()) {
      try {
        dir = await pickDirectory();
      } catch (err) {
        this.note(t('note.noFolder', { error: /** @type {Error} */ (err).message }));
      }
      if (!dir) {
        this.autoSaveBox.checked = false;
        return;
      }
    }
    this.autoSave = { dir };
    this.autoSaveText.textContent = dir ? t('conv.autoSaveInto', { dir: dir.name }) : t('conv.autoSaveDownloads');
    const name = this.name || t('fromThem');
    this.note(dir ? t('note.autoSaveInto', { name, dir: dir.name }) : t('note.autoSaveDownloads', { name }), 'auto-save-note');
    for (const e of unsaved(this.log)) { // and the ones waiting already
      if (dir) await saveInto(dir, e).catch(() => {});
      else download(e);
    }
  }

  /** Shows how many received files of this conversation are not saved yet. */
  #renderUnsaved() {
    const n = unsaved(this.log).length;
    this.unsavedEl.hidden = !n;
    this.unsavedText.textContent = t('conv.unsaved', { count: n });
  }

  /**
   * Sends what was dropped, folders with their layout: each file with its path inside the dropped folder.
   * @param {any[]} entries FileSystemEntry objects (from webkitGetAsEntry)
   */
  async #sendEntries(entries) {
    /** @type {{file: File, path: string}[]} */
    const out = [];
    const max = LIMITS.filesPerOffer + 1; // enough to tell that it is too many
    /** @param {any} entry */
    const walk = async (entry) => {
      if (out.length >= max) return;
      if (entry.isFile) {
        const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
        const full = String(entry.fullPath || '');
        out.push({ file, path: full.slice(1, Math.max(1, full.lastIndexOf('/'))) });
        return;
      }
      const reader = entry.createReader();
      for (;;) { // readEntries answers in batches, until an empty one
        const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
        if (!batch.length) break;
        for (const child of batch) await walk(child);
        if (out.length >= max) return;
      }
    };
    try {
      for (const e of entries) await walk(e);
    } catch (err) {
      this.note(t('note.dropFailed', { error: /** @type {Error} */ (err).message }));
      return;
    }
    if (!out.length) this.note(t('note.emptyFolder'));
    else this.sendFiles(out);
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
    this.trimNote.textContent = t('note.trimmed', { count: this.trimmed });
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
      // Entries must be taken during the event; a dropped folder is read afterwards.
      const entries = [...(e.dataTransfer?.items ?? [])].filter((i) => i.kind === 'file').map((i) => i.webkitGetAsEntry?.()).filter(Boolean);
      if (this.state === 'connected' && entries.some((x) => x?.isDirectory)) {
        this.#sendEntries(entries);
        return;
      }
      const files = e.dataTransfer?.files;
      if (files?.length) this.sendFiles(files);
    });
  }
}

/**
 * Paste into the conversation on screen: files (a copied image, say) are offered at once; text is sent as a
 * message, except where it goes into a text field (the message box keeps it until Enter, unless it is longer than
 * the box takes).
 */
document.addEventListener('paste', (e) => {
  const c = [...conversations].find((x) => !x.el.hidden);
  if (!c || c.state !== 'connected') return;
  const target = /** @type {any} */ (e.target);
  const field = target instanceof HTMLTextAreaElement || target?.isContentEditable ||
    (target instanceof HTMLInputElement && ['text', 'search', 'url', 'email', 'tel', 'password', 'number'].includes(target.type));
  if (field && target !== c.input) return; // another field's (name, room)
  const files = [...(e.clipboardData?.files ?? [])];
  if (files.length) {
    e.preventDefault();
    c.sendFiles(files);
    return;
  }
  const text = e.clipboardData?.getData('text/plain') ?? '';
  if (!text.trim()) return;
  if (field && c.input.value.length + text.length <= c.input.maxLength) return; // into the box, as usual
  e.preventDefault();
  c.sendPasted(text);
});

/** @returns {SVGElement} a folder icon */
function folderIcon() {
  const svg = paperclip();
  svg.firstElementChild?.setAttribute('d', 'M3 6.5A1.5 1.5 0 014.5 5h4l2 2.5h9A1.5 1.5 0 0121 9v9.5a1.5 1.5 0 01-1.5 1.5h-15A1.5 1.5 0 013 18.5z');
  return svg;
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
    out.push(h('button', { class: 'primary', 'data-testid': 'accept', 'data-key': `${key}:accept`, onclick: () => p.accept() }, t('action.accept')));
    out.push(h('button', { 'data-testid': 'decline', 'data-key': `${key}:decline`, onclick: () => p.decline() }, t('action.decline')));
  } else if (state === 'requesting' && p) {
    out.push(h('button', { 'data-testid': 'cancel', 'data-key': `${key}:cancel`, onclick: () => p.hangup() }, t('action.cancel')));
  } else if (state === 'connecting' || state === 'connected') {
    if (opts.hangup && p) {
      out.push(h('button', { class: 'danger', 'data-testid': 'hangup', 'data-key': `${key}:hangup`, onclick: () => p.hangup() }, t('action.hangup')));
    }
  } else if (opts.online) {
    out.push(h('button', { class: 'primary', 'data-testid': 'request', 'data-key': `${key}:request`, onclick: opts.onRequest },
      state === 'idle' ? t('action.request') : t('action.requestAgain')));
  }
  return out;
}
