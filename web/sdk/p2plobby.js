// p2plobby browser SDK: join a lobby room, see who is there, and connect to others with their consent;
// then chat and send files peer to peer. DOM-free ES module; see docs/sdk.md.
import { Emitter } from './emitter.js';
import { Peer } from './peer.js';
import { Signaling } from './signaling.js';
import { netcheck } from './netcheck.js';
import { randomId } from './transfer.js';

export { Peer } from './peer.js';
export { Sha256, sha256, toHex } from './sha256.js';
export { LIMITS, Transfer } from './transfer.js';
export { OutgoingTransfer } from './outgoing.js';
export { IncomingTransfer } from './incoming.js';
export { certFingerprint, dtlsFingerprints, sasCommitment, verificationCode } from './verify.js';
export { STORED_TYPE, safeName } from './sink.js';
export { readPath, describePath } from './path.js';
export { netcheck } from './netcheck.js';

/**
 * The subprotocols that carry a join token: the server selects the plain one and never echoes the token.
 * @param {string | undefined} token
 * @returns {string[] | undefined}
 */
function tokenProtocols(token) {
  if (!token) return undefined;
  // A subprotocol is an HTTP token: a JWT (base64url parts joined by dots) always is one.
  if (!/^[A-Za-z0-9._-]+$/.test(token)) throw new TypeError('p2plobby: the join token is not a JWT');
  return ['p2plobby', `p2plobby.token.${token}`];
}

/**
 * @typedef {{id: string, name: string}} Member
 *
 * @typedef {object} LobbyOptions
 * @property {string | URL} url WebSocket URL of the server, e.g. "wss://host/ws"; room and name are added
 * @property {string} [room] room to join; default: the server's default room. `@network` asks for the group of
 *   everyone whose connection comes from the same network (public address) as this one; a server with network
 *   groups off puts this member in its default room instead (see `network`)
 * @property {string} [name] display name shown to the others; the server makes it unique in the room
 *   ("Alice (2)"), see `selfName`
 * @property {string} [token] join token, for a lobby that admits only members with one (docs/protocol.md, "Join
 *   tokens"). It travels as the WebSocket subprotocol "p2plobby.token.TOKEN", never in the URL. The name the
 *   others see is then the token's: `name` is ignored and setName is refused (`error` event, code `name-fixed`).
 *   A refused token closes with code 4004 and no reconnect; see setToken
 * @property {number} [requestTimeout] ms a request waits for an answer before it is withdrawn (default 60000);
 *   see `requestTimeout`
 * @property {RTCConfiguration} [rtcConfig] extra RTCPeerConnection settings; ICE servers come from the server
 * @property {boolean} [relayOnly] connect only through TURN relays (ICE transport policy "relay"), so the
 *   other side never learns this browser's IP addresses; see setRelayOnly
 * @property {number} [chunkSize] file chunk size in bytes (default 64 KiB, at most 256 KiB)
 * @property {number} [pingInterval] ms between keepalive pings (default 15000)
 * @property {typeof WebSocket} [WebSocket] for non-browser runtimes
 * @property {typeof RTCPeerConnection} [RTCPeerConnection] for non-browser runtimes
 */

/**
 * A membership in one lobby room. Events:
 * - `status` {status: 'connecting'|'open'|'reconnecting'|'closed', attempt?, delay?, code?, reason?}
 * - `self` {id, name, room, network, iceServers}: joined (again); the id is new after every reconnect; `name`
 *   is the one the server settled (e.g. "Alice (2)"), `room` the room it put us in, `network` whether that
 *   is the group of our network (we asked for `@network` and the server has network groups)
 * - `rename` {id, name, previous, self}: a member (or we: self true) changed names without leaving
 * - `ice-servers` RTCIceServer[]: the server sent fresh ones (new TURN credentials); already applied
 * - `members` Member[]: the list changed (join, leave, or a new snapshot after reconnecting)
 * - `join` Member · `leave` Member
 * - `peer` Peer: a new Peer object exists (our request, or theirs)
 * - `request` Peer: someone asks to connect; call peer.accept() or peer.decline()
 * - `error` {code, message, toId?}: the server refused something we sent
 */
export class Lobby extends Emitter {
  /** @param {LobbyOptions} opts */
  constructor(opts) {
    super();
    this.opts = opts;
    /** The room asked for (`@network`, a room name, or '' for the server's default). */
    this.wantRoom = opts.room || '';
    /** The room we are in, as the server says once joined (`net-…` for a network group). */
    this.room = this.wantRoom;
    /** Whether the room is the group of our network (self-connected said `network: true`). */
    this.network = false;
    /** The name asked for (sent when joining and renaming). */
    this.name = opts.name || '';
    /** The name the others see, as the server settled it (unique in the room, e.g. "Alice (2)"). */
    this.selfName = this.name;
    /** ms a request of ours waits for an answer before it is withdrawn; applies to requests made from now on. */
    this.requestTimeout = opts.requestTimeout ?? 60000;
    /** Whether the server renames without a rejoin (p2plobby servers: self-connected carries `room`). */
    this.renames = false;
    /** @type {string | null} a rename sent and not yet confirmed by `renamed` */
    this.pendingRename = null;
    /** @type {string | null} our member id; changes after every reconnect */
    this.id = null;
    /** @type {RTCIceServer[]} from the server's self-connected message (refreshed later); never hard-coded */
    this.iceServers = [];
    /** Connections made from now on go through TURN only. */
    this.relayOnly = !!opts.relayOnly;
    /** @type {{sent: number, resolve: (ms: number) => void}[]} pings waiting for their pong */
    this.pings = [];
    /** @type {Map<Peer, string>} member ids connections claimed over the data channel, not yet answered */
    this.hints = new Map();
    /** @type {Map<string, Member>} the other members, by id */
    this.members = new Map();
    /** @type {Map<string, Peer>} connections and requests, by the other member's id */
    this.peers = new Map();
    this.signaling = new Signaling({ url: this.#url(), WebSocket: opts.WebSocket, pingInterval: opts.pingInterval,
      protocols: tokenProtocols(opts.token) });
    this.signaling.on('status', (s) => this.#onStatus(s));
    this.signaling.on('message', (m) => this.#onMessage(m));
  }

  /** @returns {'connecting'|'open'|'reconnecting'|'closed'} the signaling connection's state */
  get status() {
    return this.signaling.status;
  }

  /** Joins the room (connects to the server). */
  connect() {
    this.signaling.connect();
  }

  /** Leaves: hangs up every peer and closes the signaling connection for good. */
  close() {
    for (const p of this.peers.values()) p.hangup();
    this.signaling.close();
  }

  /**
   * For page unload: closes every connection at once, without a hang-up message, so the others see this
   * person leave (their data channels close) right away instead of waiting for ICE to time out.
   */
  leave() {
    for (const p of this.peers.values()) p.close('closed', 'You left.');
    this.signaling.close();
  }

  /**
   * Changes the display name. A p2plobby server renames in place (`{"kind":"rename"}`: same member id, the
   * others get a `rename` event, not a leave and a join); other servers take names at join time only, so
   * there this rejoins (new member id). Established peer connections are kept either way.
   * @param {string} name
   */
  setName(name) {
    if (name === this.name && name === this.selfName) return; // (asking again may get a name freed since)
    this.name = name;
    this.signaling.opts.url = this.#url();
    if (this.renames && this.signaling.send({ kind: 'rename', name })) {
      // A server that does not know `rename` answers bad-message at once; one that does may stay silent (a
      // rename to the name we have is no event), so after a while the rename counts as understood.
      this.pendingRename = name;
      setTimeout(() => {
        if (this.pendingRename === name) this.pendingRename = null;
      }, 5000);
      return;
    }
    this.#rejoin();
  }

  /**
   * Moves to another room (`@network` for the group of our network): leaves this one and joins that one. Our
   * requests are withdrawn and requests to us declined (they belong to the room); established peer
   * connections are kept, their people are just not in our room (`peer.online` false).
   * @param {string} room
   */
  setRoom(room) {
    if (room === this.wantRoom && this.signaling.status !== 'closed') return;
    for (const p of this.peers.values()) {
      if (p.state !== 'requesting' && p.state !== 'incoming') continue;
      p.init.signal({ kind: 'decline' });
      p.close('closed', p.state === 'requesting' ? 'You left the room: the request was withdrawn.' : 'You left the room: the request was declined.');
    }
    this.wantRoom = room;
    this.room = room;
    this.network = false;
    this.signaling.opts.url = this.#url();
    this.#rejoin();
  }

  /**
   * Replaces the join token for the next connection (after a refusal with close code 4004, e.g. code
   * `token-expired`, get a new one from your backend, call this, then connect()). The open connection keeps
   * going: a token is checked only when connecting.
   * @param {string} token
   */
  setToken(token) {
    this.signaling.opts.protocols = tokenProtocols(token);
  }

  /** Reconnects to the lobby server now, instead of waiting for the next attempt of the backoff. */
  retry() {
    if (this.signaling.status === 'open') return;
    this.signaling.connect();
  }

  #rejoin() {
    this.pendingRename = null;
    if (this.signaling.status !== 'closed') {
      this.signaling.attempt = 0;
      this.signaling.connect();
    }
  }

  /**
   * Turns relay-only on or off for connections made from now on (an open connection keeps its path).
   * @param {boolean} on
   */
  setRelayOnly(on) {
    this.relayOnly = !!on;
  }

  /**
   * Measures the round trip to the lobby server.
   * @param {number} [timeout] ms; default 5000
   * @returns {Promise<number>} milliseconds
   */
  ping(timeout = 5000) {
    return new Promise((resolve, reject) => {
      if (!this.signaling.send({ kind: 'ping' })) return reject(new Error('not connected to the lobby server'));
      const entry = { sent: performance.now(), resolve };
      this.pings.push(entry);
      setTimeout(() => {
        const i = this.pings.indexOf(entry);
        if (i >= 0) {
          this.pings.splice(i, 1);
          reject(new Error('no answer from the lobby server'));
        }
      }, timeout);
    });
  }

  /**
   * Checks how this browser can connect to others through the server: see netcheck.js.
   * @returns {Promise<import('./netcheck.js').NetReport>}
   */
  netcheck() {
    return netcheck({ iceServers: this.iceServers, ping: () => this.ping(), RTCPeerConnection: this.opts.RTCPeerConnection });
  }

  /**
   * Asks a member for a connection. Nothing connects until they accept. If they already asked us, this
   * accepts their request.
   * @param {string} id
   * @returns {Peer}
   */
  request(id) {
    const existing = this.peers.get(id);
    if (existing && !existing.ended) {
      if (existing.state === 'incoming') existing.accept(); // asking someone who asked us is consent
      return existing;
    }
    if (this.status !== 'open') throw new Error('not connected to the lobby server');
    const member = this.members.get(id);
    if (!member) throw new Error('no such member');
    const peer = this.#newPeer(id, member.name, randomId(), true, 'requesting');
    peer.init.signal({ kind: 'request' });
    return peer;
  }

  /**
   * @param {string} id
   * @returns {Peer | undefined}
   */
  peer(id) {
    return this.peers.get(id);
  }

  /** @returns {URL} the WebSocket URL with room and name */
  #url() {
    const u = new URL(String(this.opts.url));
    if (this.wantRoom) u.searchParams.set('room', this.wantRoom);
    if (this.name) u.searchParams.set('name', this.name);
    return u;
  }

  /**
   * @param {string} id
   * @param {string} name
   * @param {string | undefined} sid
   * @param {boolean} initiator
   * @param {'requesting'|'incoming'} state
   * @param {RTCSessionDescriptionInit} [pendingOffer]
   * @returns {Peer}
   */
  #newPeer(id, name, sid, initiator, state, pendingOffer) {
    /** @type {Peer} */
    const peer = new Peer({
      id, name, sid, initiator, state, pendingOffer,
      signal: (payload) => this.signaling.send({
        toId: peer.id, fromId: this.id ?? undefined, ...payload, ...(peer.sid !== undefined && { sid: peer.sid }),
      }),
      rtcConfig: () => ({
        ...this.opts.rtcConfig, iceServers: this.iceServers, ...(this.relayOnly && { iceTransportPolicy: 'relay' }),
      }),
      RTCPeerConnection: this.opts.RTCPeerConnection,
      chunkSize: this.opts.chunkSize,
      requestTimeout: this.requestTimeout,
    });
    peer.on('state', (s) => {
      if (s === 'connected' && this.id) peer.sendControl({ t: 'member', id: this.id, key: peer.linkKey });
    });
    peer.on('member', (hintId) => this.#onMemberHint(peer, hintId));
    this.peers.set(id, peer);
    this.emit('peer', peer);
    if (state === 'incoming') this.emit('request', peer);
    return peer;
  }

  /**
   * The other side says over the data channel that its lobby id is now hintId. That is only a claim: answer it
   * through the lobby, where the server stamps who sends what, with the key this side gave that connection,
   * so the other side can check it is us (and learn our id).
   * @param {Peer} peer
   * @param {string} hintId
   */
  #onMemberHint(peer, hintId) {
    if (hintId === this.id) return;
    this.hints.set(peer, hintId);
    this.#answerHint(peer);
  }

  /**
   * Sends the rejoin a member hint asked for, once that member is in our view of the room (the hint may travel
   * faster than the lobby's news, or come while we are reconnecting ourselves).
   * @param {Peer} peer
   */
  #answerHint(peer) {
    const hintId = this.hints.get(peer);
    if (hintId === undefined || peer.state !== 'connected') {
      this.hints.delete(peer);
      return;
    }
    if (this.members.has(hintId) && this.signaling.send({ toId: hintId, kind: 'rejoin', sid: peer.linkKey })) this.hints.delete(peer);
  }

  /**
   * Someone in the lobby proved, with the key a connection of ours gave them, that they are the other end of
   * it: follow them to their current id (the server stamped it).
   * @param {string} from
   * @param {string} key
   */
  #onRejoin(from, key) {
    for (const p of this.peers.values()) {
      if (p.state === 'connected' && p.remoteKey !== null && p.remoteKey === key) {
        this.#rekey(p, from);
        return;
      }
    }
  }

  /**
   * Files a connection under the other side's new lobby id, proven through the lobby (#onRejoin).
   * @param {Peer} peer
   * @param {string} newId
   */
  #rekey(peer, newId) {
    if (peer.id === newId || this.peers.get(peer.id) !== peer) return;
    const other = this.peers.get(newId);
    if (other && !other.ended) return;
    this.peers.delete(peer.id);
    peer.id = newId;
    this.peers.set(newId, peer);
    const m = this.members.get(newId);
    if (m?.name) peer.name = m.name;
    peer.setOnline(!!m);
    this.emit('members', [...this.members.values()]);
  }

  /** @param {{status: string}} s */
  #onStatus(s) {
    if (s.status === 'reconnecting' || s.status === 'closed') {
      // Requests are tied to our old member id, so they cannot survive; WebRTC connections do.
      for (const p of this.peers.values()) {
        if (p.state === 'requesting' || p.state === 'incoming') p.close('failed', 'Lost the connection to the lobby server.');
        p.setOnline(false);
      }
    }
    this.emit('status', s);
  }

  /** @param {any} msg */
  #onMessage(msg) {
    switch (msg.kind) {
      case 'self-connected':
        this.id = String(msg.id);
        this.renames = typeof msg.room === 'string';
        if (typeof msg.room === 'string') this.room = msg.room;
        this.network = msg.network === true;
        this.selfName = typeof msg.name === 'string' ? msg.name : this.name;
        this.pendingRename = null;
        this.iceServers = Array.isArray(msg.iceServers) ? msg.iceServers : [];
        this.members = new Map();
        for (const p of this.peers.values()) {
          p.setOnline(false);
          if (p.state !== 'connected') continue;
          // Back under a new id: tell the other side (a claim), and prove it through the lobby (its last id).
          p.sendControl({ t: 'member', id: this.id, key: p.linkKey });
          this.signaling.send({ toId: p.id, kind: 'rejoin', sid: p.linkKey });
        }
        this.emit('self', { id: this.id, name: this.selfName, room: this.room, network: this.network, iceServers: this.iceServers });
        this.emit('members', []);
        return;
      case 'connected': {
        if (typeof msg.id !== 'string' || msg.id === this.id) return;
        const m = { id: msg.id, name: typeof msg.name === 'string' ? msg.name : '' };
        this.members.set(m.id, m);
        for (const [hinted, id] of this.hints) if (id === m.id) this.#answerHint(hinted);
        const p = this.peers.get(m.id);
        if (p) {
          if (m.name) p.name = m.name;
          p.setOnline(true);
        }
        this.emit('join', m);
        this.emit('members', [...this.members.values()]);
        return;
      }
      case 'disconnected': {
        const m = this.members.get(msg.id);
        if (!m) return;
        this.members.delete(msg.id);
        const p = this.peers.get(msg.id);
        if (p) {
          p.lobbyLeft();
          // Before the data channel is up the lobby is the only link; after, the connection lives on.
          if (!p.ended && p.state !== 'connected') p.close('left', `${p.label} left the room.`);
        }
        this.emit('leave', m);
        this.emit('members', [...this.members.values()]);
        return;
      }
      case 'renamed':
        this.#onRenamed(msg);
        return;
      case 'error': {
        if (msg.code === 'name-fixed') {
          // Our name comes from our join token: keep it.
          this.pendingRename = null;
          this.name = this.selfName;
        }
        if (this.pendingRename !== null && msg.code === 'bad-message' && msg.toId === undefined) {
          // A server that does not know `rename`: take the name by rejoining, as before.
          this.renames = false;
          this.#rejoin();
          return;
        }
        const p = typeof msg.toId === 'string' ? this.peers.get(msg.toId) : undefined;
        if (p && msg.code === 'unknown-target' && !p.ended && p.state !== 'connected') {
          p.close('left', `${p.label} is no longer in the room.`);
        }
        if (p && msg.code === 'request-limit' && !p.ended && p.state === 'requesting') {
          p.close('closed', `${p.label} has too many requests waiting: try again later.`);
        }
        this.emit('error', { code: msg.code, message: msg.message, toId: msg.toId });
        return;
      }
      case 'ice-servers':
        if (!Array.isArray(msg.iceServers)) return;
        this.iceServers = msg.iceServers;
        for (const p of this.peers.values()) {
          // Fresh TURN credentials for ICE restarts and re-gathering of live connections too.
          try {
            if (p.pc && p.pc.signalingState !== 'closed') p.pc.setConfiguration({ ...p.pc.getConfiguration(), iceServers: this.iceServers });
          } catch {
            // a browser that refuses the change keeps the old servers for that connection
          }
        }
        this.emit('ice-servers', this.iceServers);
        return;
      case 'pong': {
        const now = performance.now();
        for (const p of this.pings.splice(0)) p.resolve(now - p.sent);
        return;
      }
    }
    if (typeof msg.fromId === 'string') this.#onRelay(msg);
  }

  /**
   * A member (or we) took another name: same member, same connections.
   * @param {any} msg
   */
  #onRenamed(msg) {
    if (typeof msg.id !== 'string' || typeof msg.name !== 'string') return;
    if (msg.id === this.id) {
      const previous = this.selfName;
      this.selfName = msg.name;
      this.pendingRename = null;
      if (previous !== msg.name) this.emit('rename', { id: msg.id, name: msg.name, previous, self: true });
      return;
    }
    const m = this.members.get(msg.id);
    if (!m || m.name === msg.name) return;
    const previous = m.name;
    this.members.set(msg.id, { id: msg.id, name: msg.name });
    const p = this.peers.get(msg.id);
    if (p) p.name = msg.name;
    this.emit('rename', { id: msg.id, name: msg.name, previous, self: false });
    this.emit('members', [...this.members.values()]);
  }

  /**
   * Routes a relayed message to its session, starting new sessions for requests and raw offers.
   * @param {any} msg
   */
  #onRelay(msg) {
    const from = msg.fromId;
    const member = this.members.get(from);
    if (!member) return; // from someone who already left
    const sid = typeof msg.sid === 'string' ? msg.sid : undefined;
    if (msg.kind === 'rejoin') {
      if (sid) this.#onRejoin(from, sid);
      return;
    }
    const peer = this.peers.get(from);
    const live = peer && !peer.ended ? peer : null;
    if (msg.kind === 'request') {
      if (live?.sid === sid) return; // duplicate
      if (live?.state === 'requesting') {
        // Both asked at once: the lower id's request wins, and the other side accepts it.
        if (/** @type {string} */ (this.id) < from) return;
        live.adoptRequest(sid);
        return;
      }
      if (live?.state === 'incoming') {
        live.sid = sid;
        return;
      }
      live?.close('closed', `${live.label} started a new session.`);
      this.#newPeer(from, member.name, sid, false, 'incoming');
      return;
    }
    if (msg.offer && typeof msg.offer === 'object' && (!live || live.sid !== sid)) {
      // A seed-style offer without a request (or for an unknown session): still needs consent.
      live?.close('closed', `${live.label} started a new session.`);
      this.#newPeer(from, member.name, sid, false, 'incoming', msg.offer);
      return;
    }
    if (live && live.sid === sid) live.onSignal(msg); // else: a late message of an old session
  }
}
