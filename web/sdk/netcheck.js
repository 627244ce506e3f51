// The connection check of `p2plobby netcheck`, in the browser: how the lobby answers, what this browser's
// public address is as the lobby's STUN servers see it (the same public port towards two server ports means
// the NAT maps independently of the destination, so direct connections work), and which TURN transports
// allocate. The verdict uses the same rules as the Go command (internal/netcheck).

/**
 * @typedef {object} NetReport
 * @property {{ok: boolean, rttMs?: number, error?: string}} lobby
 * @property {{url: string, mapped?: string, error?: string}[]} stun
 * @property {'none'|'endpoint-independent'|'endpoint-dependent'|'unknown'} mapping
 * @property {{url: string, transport: string, relay?: string, timeMs?: number, error?: string}[]} turn
 * @property {'direct connections likely'|'relay will be used'|'cannot connect'} verdict
 * @property {string} reason
 */

/**
 * @typedef {object} NetcheckOptions
 * @property {RTCIceServer[]} iceServers the lobby's (Lobby.iceServers)
 * @property {() => Promise<number>} [ping] one round trip to the lobby, in ms (Lobby.ping)
 * @property {typeof RTCPeerConnection} [RTCPeerConnection]
 * @property {number} [timeout] ms per step; default 5000
 */

/**
 * Runs the check. It never throws: what does not work is in the report.
 * @param {NetcheckOptions} opts
 * @returns {Promise<NetReport>}
 */
export async function netcheck(opts) {
  const PC = opts.RTCPeerConnection || globalThis.RTCPeerConnection;
  const timeout = opts.timeout ?? 5000;
  /** @type {string[]} */
  const stunUrls = [];
  /** @type {{url: string, username?: string, credential?: string}[]} */
  const turnUrls = [];
  for (const s of opts.iceServers) {
    for (const url of Array.isArray(s.urls) ? s.urls : [s.urls]) {
      if (url.startsWith('stun:')) stunUrls.push(url);
      else if (url.startsWith('turn:') || url.startsWith('turns:')) {
        turnUrls.push({ url, username: s.username, credential: /** @type {string | undefined} */ (s.credential) });
      }
    }
  }
  const [lobby, stun, turn] = await Promise.all([
    checkLobby(opts.ping),
    checkStun(PC, stunUrls, timeout),
    Promise.all(turnUrls.map((t) => checkTurn(PC, t, timeout))),
  ]);
  /** @type {NetReport} */
  const r = { lobby, stun: stun.results, mapping: stun.mapping, turn, verdict: 'cannot connect', reason: '' };
  decide(r);
  return r;
}

/**
 * @param {(() => Promise<number>) | undefined} ping
 * @returns {Promise<NetReport['lobby']>}
 */
async function checkLobby(ping) {
  if (!ping) return { ok: false, error: 'not connected' };
  try {
    const rtts = [];
    for (let i = 0; i < 3; i++) rtts.push(await ping());
    rtts.sort((a, b) => a - b);
    return { ok: true, rttMs: Math.round(rtts[1] * 10) / 10 };
  } catch (err) {
    return { ok: false, error: String(/** @type {Error} */ (err).message ?? err) };
  }
}

/**
 * Gathers server-reflexive candidates from every STUN URL on one connection (one socket per local address).
 * Two STUN servers seeing one public address give one candidate (browsers drop duplicates); a symmetric NAT
 * gives one per server. A public address gives none: it equals the host candidate. Browsers report no error
 * for a STUN server that never answers; they just take long to finish gathering, so "no candidate" only
 * means "no NAT" when gathering finished in time.
 * @param {typeof RTCPeerConnection} PC
 * @param {string[]} urls
 * @param {number} timeout
 * @returns {Promise<{results: NetReport['stun'], mapping: NetReport['mapping']}>}
 */
async function checkStun(PC, urls, timeout) {
  if (!urls.length) return { results: [], mapping: 'unknown' };
  const pc = new PC({ iceServers: [{ urls }] });
  /** @type {Map<string, Set<string>>} base (local ip:port) → public addresses seen from it */
  const byBase = new Map();
  /** @type {Map<string, string>} url → mapped address */
  const mapped = new Map();
  /** @type {Map<string, string>} url → error */
  const errors = new Map();
  let complete = false;
  try {
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, timeout);
      pc.onicecandidate = (ev) => {
        const c = ev.candidate;
        if (!c) {
          complete = true;
          clearTimeout(timer);
          resolve(undefined);
          return;
        }
        if (c.type !== 'srflx' || c.protocol !== 'udp') return;
        const base = `${c.relatedAddress}:${c.relatedPort}`;
        const addr = `${c.address}:${c.port}`;
        if (!byBase.has(base)) byBase.set(base, new Set());
        /** @type {Set<string>} */ (byBase.get(base)).add(addr);
        const url = /** @type {any} */ (c).url ?? /** @type {any} */ (ev).url;
        if (url) mapped.set(url, addr);
      };
      pc.onicecandidateerror = (/** @type {any} */ ev) => {
        if (ev.url) errors.set(ev.url, `${ev.errorCode} ${ev.errorText ?? ''}`.trim());
      };
      pc.createDataChannel('netcheck');
      pc.createOffer().then((o) => pc.setLocalDescription(o)).catch(() => resolve(undefined));
    });
  } finally {
    pc.close();
  }
  const results = urls.map((url) => {
    const m = mapped.get(url);
    if (m) return { url, mapped: m };
    const e = errors.get(url) ?? (complete || byBase.size > 0 ? '' : 'no answer');
    return e ? { url, error: e } : { url };
  });
  /** @type {NetReport['mapping']} */
  let mapping = 'unknown';
  const answered = urls.length - errors.size;
  if ([...byBase.values()].some((s) => s.size > 1)) mapping = 'endpoint-dependent';
  else if (byBase.size > 0 && complete && answered >= 2) mapping = 'endpoint-independent';
  else if (byBase.size === 0 && complete && errors.size === 0) mapping = 'none';
  return { results, mapping };
}

/**
 * Makes one relay-only gathering over a single TURN URL and reports the first relay candidate.
 * @param {typeof RTCPeerConnection} PC
 * @param {{url: string, username?: string, credential?: string}} t
 * @param {number} timeout
 * @returns {Promise<NetReport['turn'][number]>}
 */
async function checkTurn(PC, t, timeout) {
  const transport = t.url.startsWith('turns:') ? 'tls' : /transport=tcp/.test(t.url) ? 'tcp' : 'udp';
  const pc = new PC({ iceServers: [{ urls: [t.url], username: t.username, credential: t.credential }], iceTransportPolicy: 'relay' });
  const start = performance.now();
  try {
    return await new Promise((resolve) => {
      let error = '';
      const timer = setTimeout(() => resolve({ url: t.url, transport, error: error || 'no answer' }), timeout);
      const done = (/** @type {NetReport['turn'][number]} */ r) => {
        clearTimeout(timer);
        resolve(r);
      };
      pc.onicecandidate = (ev) => {
        const c = ev.candidate;
        if (!c) done({ url: t.url, transport, error: error || 'no relay candidate' });
        else if (c.type === 'relay') {
          done({ url: t.url, transport, relay: `${c.address}:${c.port}`, timeMs: Math.round((performance.now() - start) * 10) / 10 });
        }
      };
      pc.onicecandidateerror = (/** @type {any} */ ev) => {
        error = `${ev.errorCode} ${ev.errorText ?? ''}`.trim();
      };
      pc.createDataChannel('netcheck');
      pc.createOffer().then((o) => pc.setLocalDescription(o)).catch((err) => done({ url: t.url, transport, error: String(err) }));
    });
  } finally {
    pc.close();
  }
}

/**
 * The verdict; the same rules as internal/netcheck's decide.
 * @param {NetReport} r
 */
export function decide(r) {
  const ok = r.turn.filter((t) => !t.error);
  const udpRelay = ok.some((t) => t.transport === 'udp');
  const relay = ok.length > 0;
  const stunOK = r.stun.some((s) => !s.error);
  if (!r.lobby.ok) {
    r.verdict = 'cannot connect';
    r.reason = `the lobby is unreachable${r.lobby.error ? `: ${r.lobby.error}` : ''}`;
  } else if (stunOK && (r.mapping === 'none' || r.mapping === 'endpoint-independent')) {
    r.verdict = 'direct connections likely';
    r.reason = r.mapping === 'none' ? 'this device has a public address' : 'your NAT keeps one public port for every destination';
    if (!relay) r.reason += '; but no TURN relay allocates, so peers behind strict NATs cannot reach you';
  } else if (stunOK && relay) {
    r.verdict = 'relay will be used';
    r.reason = r.mapping === 'endpoint-dependent'
      ? 'your NAT gives each destination its own port (symmetric), so most peers connect through TURN'
      : 'how your NAT maps ports is unknown; TURN works';
  } else if (relay) {
    r.verdict = 'relay will be used';
    r.reason = udpRelay ? 'no STUN answer, but TURN allocates' : 'no STUN answer: UDP seems blocked; TURN over TCP works';
  } else if (stunOK) {
    r.verdict = r.mapping === 'endpoint-dependent' ? 'cannot connect' : 'direct connections likely';
    r.reason = r.mapping === 'endpoint-dependent'
      ? 'your NAT is symmetric and no TURN relay allocates: most peers cannot reach you'
      : 'STUN answers but no TURN relay allocates: peers behind strict NATs cannot reach you';
  } else {
    r.verdict = 'cannot connect';
    r.reason = 'neither STUN nor TURN answers: only peers on your own network can connect';
  }
}
