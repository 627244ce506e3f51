// One WebRTC connection to one other member: the consent flow's state machine, the RTCPeerConnection with
// trickle ICE, the `p2plobby` control channel (chat, transfer control) and the file transfers.
import { Emitter } from './emitter.js';
import { IncomingTransfer, receiveOffer } from './incoming.js';
import { OutgoingTransfer } from './outgoing.js';
import { readPath } from './path.js';
import { truncateUtf8 } from './sink.js';
import { DEFAULT_CHUNK, MAX_CHUNK, chatTime, randomId, rateLimit } from './transfer.js';
import { dtlsFingerprints, sasCommitment, sasNonce, validSasHex, verificationCode } from './verify.js';

/** How long accepting may take to become a working connection before it counts as failed. */
const CONNECT_TIMEOUT_MS = 30000;
/** How long the verification code's exchange may take once the control channel is open. */
const SAS_TIMEOUT_MS = 15000;
/** How old a stats report a browser may answer getStats with: Chromium keeps one for 50 ms (and a margin). */
const STATS_CACHE_MS = 100;
/** Control messages held while a channel the other side opened may not be open at this end yet (#setupControl). */
const HELD_MAX = 64;
/** How long they are held at most when the other side says nothing. */
const HELD_WAIT_MS = 2000;
/** Chat text limit (docs/datachannel.md): 16 KiB of UTF-8. */
const MAX_CHAT_BYTES = 16 << 10;

/**
 * requesting: we asked, they have not answered · incoming: they asked, we have not answered ·
 * connecting: consent given, WebRTC handshake running · connected: control channel open ·
 * declined · failed · left: the other person went away · closed: hung up or request withdrawn.
 * @typedef {'requesting'|'incoming'|'connecting'|'connected'|'declined'|'failed'|'left'|'closed'} PeerState
 */

/**
 * @typedef {object} ChatMessage
 * @property {string} id unique per sender
 * @property {string} text
 * @property {number} ts sender's clock, ms since the epoch
 * @property {boolean} self true for messages this side sent
 */

/**
 * @typedef {object} PeerInit
 * @property {string} id the other member's id
 * @property {string} name the other member's display name
 * @property {string | undefined} sid session id (undefined for a seed-style raw offer)
 * @property {boolean} initiator true when this side requested, and so creates the offer
 * @property {PeerState} state 'requesting' or 'incoming'
 * @property {(payload: object) => boolean} signal sends a relay message to this peer through the lobby
 * @property {() => RTCConfiguration} rtcConfig configuration for the RTCPeerConnection (ICE servers)
 * @property {typeof RTCPeerConnection} [RTCPeerConnection]
 * @property {number} [chunkSize] preferred file chunk size (bounded by the peer's max-message-size)
 * @property {RTCSessionDescriptionInit} [pendingOffer] a raw offer waiting for consent
 * @property {number} [requestTimeout] ms a request waits for an answer (default 60000): then ours is withdrawn,
 *   and theirs, if they did not withdraw it themselves a little later, expires
 */

/**
 * A connection (or a request for one) with another member. Events:
 * - `state` PeerState (reason in `peer.reason`)
 * - `chat` ChatMessage (received ones; sent ones are returned by sendChat)
 * - `transfer` Transfer (an IncomingTransfer proposed by the peer, or an OutgoingTransfer we started)
 * - `verify` string, the verification code, once connected
 * - `online` boolean, whether the peer is currently in the lobby (a connection outlives the lobby)
 * - `path` PeerPath: the network path in use, once connected and whenever ICE switches to another pair
 * - `limited` {kind: 'chat'|'offer', reason}: the other side went over a limit (see LIMITS), at most every 10 s
 */
export class Peer extends Emitter {
  /** @param {PeerInit} init */
  constructor(init) {
    super();
    this.id = init.id;
    this.name = init.name;
    this.sid = init.sid;
    this.initiator = init.initiator;
    /** @type {PeerState} */
    this.state = init.state;
    /** Human-readable explanation of the current state, e.g. why it failed. */
    this.reason = '';
    /** Whether the peer is in the lobby right now. */
    this.online = true;
    /** @type {string | null} six digits "123 456", once connected */
    this.verificationCode = null;
    /** @type {RTCPeerConnection | null} */
    this.pc = null;
    /** @type {RTCDataChannel | null} */
    this.control = null;
    /** @type {object[] | null} control messages held until the channel is surely open here (#setupControl) */
    this.held = null;
    /** @type {any} */
    this.heldTimer = null;
    /** @type {Map<string, OutgoingTransfer>} */
    this.outgoing = new Map();
    /** @type {Map<string, IncomingTransfer>} */
    this.incoming = new Map();
    /**
     * Accept this peer's file offers without asking (the person chose to, for this connection): each offer that
     * passes LIMITS is accepted right after the `transfer` event, with the default storage. False by default.
     */
    this.autoAccept = false;
    this.init = init;
    this.pendingOffer = init.pendingOffer ?? null;
    /** @type {RTCIceCandidateInit[]} remote candidates that arrived before the remote description */
    this.queued = [];
    /** @type {any} */
    this.timer = null;
    /** When the request was made or arrived (ms since the epoch). */
    this.since = Date.now();
    this.#armRequestTimeout();
    /** Set when the server said this member left the lobby (cleared when seen again). */
    this.leftLobby = false;
    /** The other side's agent string from `hello`. */
    this.agent = '';
    /** A secret this side gives the other over the connection; sent back through the lobby, it proves who rejoined. */
    this.linkKey = randomId() + randomId();
    /** @type {string | null} the secret the other side gave us, once it did */
    this.remoteKey = null;
    /** @type {{mine: string, commit: string, theirs: string, fps: {local: string, remote: string} | null, over: boolean} | null} */
    this.sas = null;
    /** @type {import('./path.js').PeerPath | null} the network path in use (see readPath), once connected */
    this.path = null;
    /** @type {import('./transfer.js').TransferLink} */
    this.link = {
      sendControl: (msg) => this.sendControl(msg),
      openChannel: (label) => {
        if (!this.pc) throw new Error('not connected');
        return this.pc.createDataChannel(label, { ordered: true });
      },
      chunkSize: () => {
        const max = this.pc?.sctp?.maxMessageSize || 65536;
        return Math.max(1024, Math.min(this.init.chunkSize || DEFAULT_CHUNK, max, MAX_CHUNK));
      },
    };
  }

  /** @returns {boolean} whether this connection is over (a new request makes a new Peer) */
  get ended() {
    return ['declined', 'failed', 'left', 'closed'].includes(this.state);
  }

  /** Accepts an incoming request (or raw offer): only now does any WebRTC start. */
  accept() {
    if (this.state !== 'incoming') return;
    this.#setState('connecting');
    this.#armTimeout();
    if (this.pendingOffer) {
      const offer = this.pendingOffer; // seed-style: the offer came first, so answer it now
      this.pendingOffer = null;
      this.#answer(offer);
    } else {
      this.init.signal({ kind: 'accept' });
    }
  }

  /** Declines an incoming request. */
  decline() {
    if (this.state !== 'incoming') return;
    this.init.signal({ kind: 'decline' });
    this.close('declined', 'You declined.');
  }

  /** Withdraws our request, or ends the connection (telling the other side over both paths). */
  hangup() {
    if (this.ended) return;
    if (this.state === 'incoming') return this.decline();
    if (this.state === 'requesting') {
      this.init.signal({ kind: 'decline' });
      this.close('closed', 'You withdrew the request.');
      return;
    }
    this.sendControl({ t: 'bye' });
    this.init.signal({ kind: 'hangup' });
    this.close('closed', 'You hung up.', 250); // let `bye` leave before the connection closes
  }

  /**
   * Sends a chat message.
   * @param {string} text
   * @returns {ChatMessage}
   */
  sendChat(text) {
    text = String(text);
    if (new TextEncoder().encode(text).length > MAX_CHAT_BYTES) throw new Error('message too long (16 KiB at most)');
    const msg = { t: 'chat', id: randomId(), text, ts: Date.now() };
    if (!this.sendControl(msg)) throw new Error('not connected');
    return { id: msg.id, text, ts: msg.ts, self: true };
  }

  /**
   * Proposes files to the peer as one transfer; they are sent once the peer accepts. Files picked from a folder
   * (`webkitRelativePath`) and `{file, path}` items announce their folder path (docs/datachannel.md, "Folders").
   * @param {import('./outgoing.js').SendItem[] | FileList} files
   * @returns {OutgoingTransfer}
   */
  sendFiles(files) {
    const list = Array.from(files);
    if (!list.length) throw new Error('no files');
    if (this.state !== 'connected') throw new Error('not connected');
    const t = new OutgoingTransfer(this.link, list);
    this.outgoing.set(t.tid, t);
    this.emit('transfer', t);
    t.start();
    return t;
  }

  /**
   * Sends a control message; false when the channel is not open.
   * @param {object} msg
   * @returns {boolean}
   */
  sendControl(msg) {
    if (this.control?.readyState !== 'open') return false;
    if (this.held) {
      if (this.held.length >= HELD_MAX) return false;
      this.held.push(msg);
      return true;
    }
    this.control.send(JSON.stringify(msg));
    return true;
  }

  /** Sends the control messages held since the channel opened (see #setupControl). */
  #releaseHeld() {
    const held = this.held;
    if (!held) return;
    this.held = null;
    clearTimeout(this.heldTimer);
    for (const msg of held) this.sendControl(msg);
  }

  /**
   * Handles a relay message of this peer's session (the Lobby has matched fromId and sid).
   * @param {any} msg
   */
  onSignal(msg) {
    if (msg.kind === 'accept' && this.state === 'requesting') {
      this.#setState('connecting');
      this.#armTimeout();
      this.#offer();
    } else if (msg.kind === 'decline') {
      if (this.state === 'requesting') this.close('declined', `${this.label} declined.`);
      else if (this.state === 'incoming' && this.#requestTimedOut()) {
        this.close('closed', `${this.label}'s request expired: no answer within ${seconds(this.init.requestTimeout ?? 60000)}.`);
      } else if (!this.ended) this.close('closed', `${this.label} withdrew the request.`);
    } else if (msg.kind === 'hangup') {
      this.close('closed', `${this.label} hung up.`);
    } else if (msg.offer && typeof msg.offer === 'object') {
      if (this.state === 'incoming') this.pendingOffer = msg.offer;
      else if (this.state === 'connecting' && !this.initiator && !this.pc) this.#answer(msg.offer);
    } else if (msg.answer && typeof msg.answer === 'object') {
      if (this.initiator && this.pc?.signalingState === 'have-local-offer') this.#setRemote(msg.answer).catch(() => {}); // already failed
    } else if (msg.candidate && typeof msg.candidate === 'object') {
      this.#addCandidate(msg.candidate);
    }
  }

  /**
   * Our glare resolution lost: the other side's simultaneous request stands, and we already consented.
   * @param {string | undefined} sid the other side's session id
   */
  adoptRequest(sid) {
    this.sid = sid;
    this.initiator = false;
    this.state = 'incoming';
    this.accept();
  }

  /** @returns {string} the name to show in messages */
  get label() {
    return this.name || 'The other person';
  }

  /**
   * Ends the connection locally with a final state; active transfers fail.
   * @param {PeerState} state
   * @param {string} reason
   * @param {number} [linger] ms to wait before closing the RTCPeerConnection
   */
  close(state, reason, linger = 0) {
    if (this.ended) return;
    clearTimeout(this.timer);
    clearTimeout(this.heldTimer);
    const why = state === 'closed' ? 'The connection was closed.' : reason;
    for (const t of [...this.outgoing.values(), ...this.incoming.values()]) t.end('failed', why);
    const { control, pc } = this;
    if (control) control.onclose = null;
    if (pc) pc.onconnectionstatechange = null;
    const shut = () => {
      control?.close();
      pc?.close();
    };
    if (linger > 0) setTimeout(shut, linger);
    else shut(); // at once: during pagehide, timers never run
    this.reason = reason;
    this.#setState(state);
  }

  /** @param {boolean} online */
  setOnline(online) {
    if (online) this.leftLobby = false;
    if (this.online === online) return;
    this.online = online;
    this.emit('online', online);
  }

  /**
   * The server announced that this member left the lobby. A connection survives that (the server may just
   * be gone), but if the path is also down the person has gone: say so now rather than after ICE's 30 s.
   */
  lobbyLeft() {
    this.leftLobby = true;
    this.setOnline(false);
    this.#checkGone();
  }

  #checkGone() {
    const s = this.pc?.connectionState;
    if (this.state === 'connected' && this.leftLobby && (s === 'disconnected' || s === 'failed')) {
      this.close('left', `${this.label} left.`);
    }
  }

  /**
   * An unanswered request does not wait forever: ours is withdrawn after the timeout, telling the other side;
   * theirs expires a little after it (their page withdraws it at the timeout; this is for one that does not).
   */
  #armRequestTimeout() {
    const ms = this.init.requestTimeout ?? 60000;
    if (this.state !== 'requesting' && this.state !== 'incoming') return;
    const wait = this.state === 'requesting' ? ms : ms + Math.min(10000, ms);
    this.timer = setTimeout(() => {
      if (this.state === 'requesting') {
        this.init.signal({ kind: 'decline' });
        this.close('closed', `${this.label} did not answer within ${seconds(ms)}: the request was withdrawn.`);
      } else if (this.state === 'incoming') {
        this.init.signal({ kind: 'decline' });
        this.close('closed', `${this.label}'s request expired: no answer within ${seconds(ms)}.`);
      }
    }, wait);
  }

  /** @returns {boolean} whether this request has been waiting for about the request timeout (a withdrawal then is the other page's timeout) */
  #requestTimedOut() {
    const ms = this.init.requestTimeout ?? 60000;
    return Date.now() - this.since >= ms - Math.min(5000, ms / 10);
  }

  #armTimeout() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      if (this.state === 'connecting') {
        this.close('failed', 'Could not connect: no network path was found between you two.');
      }
    }, CONNECT_TIMEOUT_MS);
  }

  /** @param {PeerState} state */
  #setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.emit('state', state);
  }

  #createPc() {
    const PC = this.init.RTCPeerConnection || globalThis.RTCPeerConnection;
    const pc = new PC(this.init.rtcConfig());
    this.pc = pc;
    pc.onicecandidate = (ev) => {
      if (ev.candidate) this.init.signal({ candidate: ev.candidate.toJSON() });
    };
    pc.ondatachannel = (ev) => {
      const dc = ev.channel;
      if (dc.label === 'p2plobby' && !this.control) this.#setupControl(dc, true);
      else if (dc.label.startsWith('file:')) {
        const t = this.incoming.get(dc.label.slice(5));
        if (t) t.attach(dc);
        else dc.close();
      }
    };
    pc.onconnectionstatechange = () => {
      this.#checkGone();
      if (pc.connectionState !== 'failed') return;
      if (this.state === 'connected') this.close('failed', `The connection to ${this.label} was lost.`);
      else this.close('failed', 'Could not connect: no network path was found between you two.');
    };
    return pc;
  }

  /** Requester side: create the connection and its control channel, then send the offer. */
  async #offer() {
    try {
      const pc = this.#createPc();
      this.#setupControl(pc.createDataChannel('p2plobby', { ordered: true }));
      addReceiveBufferHint(pc);
      await pc.setLocalDescription(await pc.createOffer());
      if (this.ended) return;
      const d = /** @type {RTCSessionDescription} */ (pc.localDescription);
      this.init.signal({ offer: { type: d.type, sdp: d.sdp } });
    } catch (err) {
      this.close('failed', `Could not start the connection: ${errText(err)}`);
    }
  }

  /** @param {RTCSessionDescriptionInit} offer */
  async #answer(offer) {
    try {
      const pc = this.#createPc();
      await this.#setRemote(offer);
      await pc.setLocalDescription(await pc.createAnswer());
      if (this.ended) return;
      const d = /** @type {RTCSessionDescription} */ (pc.localDescription);
      this.init.signal({ answer: { type: d.type, sdp: d.sdp } });
    } catch (err) {
      this.close('failed', `Could not answer the connection: ${errText(err)}`);
    }
  }

  /** @param {RTCSessionDescriptionInit} desc */
  async #setRemote(desc) {
    const pc = /** @type {RTCPeerConnection} */ (this.pc);
    try {
      await pc.setRemoteDescription(desc);
    } catch (err) {
      this.close('failed', `The other side sent an unusable description: ${errText(err)}`);
      throw err;
    }
    const queued = this.queued;
    this.queued = [];
    for (const c of queued) pc.addIceCandidate(c).catch(() => {});
  }

  /** @param {RTCIceCandidateInit} c */
  #addCandidate(c) {
    if (this.pc?.remoteDescription) this.pc.addIceCandidate(c).catch(() => {});
    else if (this.queued.length < 200) this.queued.push(c); // trickle may beat the description
  }

  /**
   * @param {RTCDataChannel} dc
   * @param {boolean} [incoming] the other side opened it
   */
  #setupControl(dc, incoming = false) {
    this.control = dc;
    // Chromium shows a channel the other side opened as open before its own end of the opening handshake is
    // done, and silently drops what is sent in that gap (seen: our hello lost, the chat after it delivered).
    // The opener always speaks first (hello), and a message is only handed to the page once the channel is
    // open at this end too: hold what we send until then (or HELD_WAIT_MS, for an opener that stays silent).
    this.held = incoming ? [] : null;
    dc.onopen = () => this.#onOpen();
    dc.onmessage = (ev) => {
      this.#releaseHeld();
      if (typeof ev.data !== 'string') return;
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (msg && typeof msg === 'object' && typeof msg.t === 'string') this.#onControl(msg);
    };
    dc.onclose = () => this.close('left', `${this.label} left.`);
  }

  #onOpen() {
    if (this.ended) return;
    clearTimeout(this.timer);
    if (this.held) this.heldTimer = setTimeout(() => this.#releaseHeld(), HELD_WAIT_MS);
    const pc = /** @type {RTCPeerConnection} */ (this.pc);
    this.sendControl({ t: 'hello', v: 2, agent: 'p2plobby-js/1' });
    this.#startSas(pc);
    this.#setState('connected');
    this.#watchPath(pc);
  }

  /**
   * Starts the verification code's exchange (docs/datachannel.md): the offerer commits to a nonce, the answerer
   * answers with its own, the offerer reveals; the code hashes both certificates of the DTLS session (read from
   * the stats, never from the SDP) and both nonces.
   * @param {RTCPeerConnection} pc
   */
  async #startSas(pc) {
    const sas = { mine: sasNonce(), commit: '', theirs: '', fps: /** @type {{local: string, remote: string} | null} */ (null), over: false };
    this.sas = sas;
    if (this.initiator) this.sendControl({ t: 'sas-commit', h: sasCommitment(sas.mine) });
    const timer = setTimeout(() => {
      if (!sas.over && this.sas === sas) this.#sasFail('no answer from the other side');
    }, SAS_TIMEOUT_MS);
    try {
      sas.fps = await dtlsFingerprints(pc);
    } catch {
      sas.fps = null;
    }
    if (this.sas !== sas || sas.over) return clearTimeout(timer);
    if (!sas.fps) {
      clearTimeout(timer);
      return this.#sasFail("the browser does not tell this connection's certificates");
    }
    this.#sasFinish();
    if (sas.over) clearTimeout(timer);
  }

  /** @param {any} msg a sas-commit, sas-nonce or sas-reveal message */
  #onSas(msg) {
    const sas = this.sas;
    if (!sas || sas.over) return this.#sasFail(`an unexpected ${msg.t}`);
    if (!this.initiator && msg.t === 'sas-commit' && !sas.commit && validSasHex(msg.h)) {
      sas.commit = msg.h;
      this.sendControl({ t: 'sas-nonce', n: sas.mine });
    } else if (this.initiator && msg.t === 'sas-nonce' && !sas.theirs && validSasHex(msg.n)) {
      sas.theirs = msg.n;
      this.sendControl({ t: 'sas-reveal', n: sas.mine });
      this.#sasFinish();
    } else if (!this.initiator && msg.t === 'sas-reveal' && sas.commit && !sas.theirs && validSasHex(msg.n)) {
      if (sasCommitment(msg.n) !== sas.commit) return this.#sasFail('the other side broke its commitment');
      sas.theirs = msg.n;
      this.#sasFinish();
    } else {
      this.#sasFail(`an unexpected ${msg.t}`);
    }
  }

  /** Sets the code once the nonces and the certificates are known. */
  #sasFinish() {
    const sas = this.sas;
    if (!sas || sas.over || !sas.fps || !sas.theirs) return;
    sas.over = true;
    const [offerer, answerer] = this.initiator ? [sas.mine, sas.theirs] : [sas.theirs, sas.mine];
    this.verificationCode = verificationCode(sas.fps.local, sas.fps.remote, offerer, answerer);
    this.emit('verify', this.verificationCode);
  }

  /** @param {string} why */
  #sasFail(why) {
    if (this.sas) this.sas.over = true;
    this.close('failed', `No verification code (${why}), so nobody could check this connection: it was closed.`);
  }

  /**
   * Keeps `path` current: read now, and again when the browser selects another pair (or, where it cannot
   * say so, when the ICE state changes).
   * @param {RTCPeerConnection} pc
   */
  #watchPath(pc) {
    let reads = 0;
    const update = async () => {
      const n = ++reads;
      const p = await readPath(pc);
      // Only the latest read counts: an earlier one may resolve after it, with the pair from before a switch.
      if (n !== reads || !p || this.pc !== pc || JSON.stringify(p) === JSON.stringify(this.path)) return;
      this.path = p;
      this.emit('path', p);
    };
    // Chromium answers getStats with the report it made up to 50 ms before (any caller's), so a read right after
    // a switch may still show the old pair: read again once such a report has expired.
    const changed = () => {
      update();
      setTimeout(update, STATS_CACHE_MS);
    };
    const ice = /** @type {any} */ (pc.sctp?.transport)?.iceTransport;
    if (ice && 'onselectedcandidatepairchange' in ice) ice.addEventListener('selectedcandidatepairchange', changed);
    pc.addEventListener('iceconnectionstatechange', changed);
    changed();
  }

  /** @param {any} msg */
  #onControl(msg) {
    switch (msg.t) {
      case 'hello':
        this.agent = String(msg.agent ?? '').slice(0, 100);
        break;
      case 'chat': {
        if (typeof msg.text !== 'string') break;
        const rate = rateLimit(this, 'chat'); // LIMITS.chatRate per second after a burst of LIMITS.chatBurst
        if (!rate.take()) {
          if (rate.notice()) this.emit('limited', { kind: 'chat', reason: 'Messages arrive too fast: some were dropped.' });
          break;
        }
        const text = truncateUtf8(msg.text, MAX_CHAT_BYTES); // bytes of UTF-8, not UTF-16 units (found by e2e TestSDKFuzz)
        this.emit('chat', { id: String(msg.id ?? '').slice(0, 64), text, ts: chatTime(msg.ts), self: false });
        break;
      }
      case 'member':
        // A hint only: the other side's claim of its lobby id is never trusted (Lobby checks it through the
        // lobby, see rejoin). The key is remembered once.
        if (this.remoteKey === null && typeof msg.key === 'string' && /^[A-Za-z0-9_-]{16,64}$/.test(msg.key)) this.remoteKey = msg.key;
        if (typeof msg.id === 'string' && msg.id && msg.id.length <= 64) this.emit('member', msg.id);
        break;
      case 'sas-commit':
      case 'sas-nonce':
      case 'sas-reveal':
        this.#onSas(msg);
        break;
      case 'bye':
        this.close('closed', `${this.label} hung up.`);
        break;
      case 'files': {
        // Within LIMITS (pending offers, offer rate, files per offer, memory): others are declined with a reason.
        const { transfer: t, limited } = receiveOffer(this.link, msg, this.incoming, this);
        if (limited) this.emit('limited', { kind: 'offer', reason: limited });
        if (!t) break;
        this.incoming.set(t.tid, t);
        this.emit('transfer', t);
        if (this.autoAccept && t.state === 'offered') t.accept(); // limits first: an over-limit offer is declined already
        break;
      }
      default:
        if (typeof msg.tid === 'string') {
          // accept/decline/received/failed answer our proposals; cancel may concern either direction
          if (msg.t !== 'cancel' || this.outgoing.has(msg.tid)) this.outgoing.get(msg.tid)?.onControl(msg);
          if (msg.t === 'cancel') this.incoming.get(msg.tid)?.onControl(msg);
        }
    }
  }
}

/**
 * @param {number} ms
 * @returns {string} e.g. "60 s"
 */
function seconds(ms) {
  return `${Math.round(ms / 1000)} s`;
}

/**
 * @param {any} err
 * @returns {string}
 */
function errText(err) {
  return err?.message || String(err);
}

/**
 * Adds an inactive video section to an offer, so that Chromium gives the connection's UDP socket a 1 MiB receive
 * buffer instead of 64 KiB. Chromium raises the buffer only for a connection that has video; with 64 KiB, about 55
 * datagrams, its socket overflows as soon as a file transfer has more than that in flight, which on any path with
 * a delay means most of the time (docs/datachannel.md, "A video section that carries nothing"). No track is ever
 * added, so nothing is captured or sent; VP8 alone keeps the offer small.
 * @param {RTCPeerConnection} pc
 */
function addReceiveBufferHint(pc) {
  try {
    const t = pc.addTransceiver('video', { direction: 'inactive' });
    const vp8 = globalThis.RTCRtpReceiver?.getCapabilities?.('video')?.codecs.filter((c) => c.mimeType === 'video/VP8');
    if (vp8?.length) t.setCodecPreferences(vp8);
  } catch {
    // A data-only connection works as well, only slower on long paths.
  }
}
