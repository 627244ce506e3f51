// The network path of a connection, read from the ICE candidate pair the browser selected: direct or through
// a TURN relay, over UDP or TCP. Shown per peer by the app; the same fields as the Go peer's Path.

/**
 * @typedef {object} PeerPath
 * @property {boolean} relayed data goes through a TURN relay (this side's or the other's)
 * @property {string} localType 'host', 'srflx' (our public address), 'prflx' or 'relay'
 * @property {string} remoteType
 * @property {string} protocol 'udp' or 'tcp' between the two candidates
 * @property {string} relayProtocol how this side reaches its TURN server ('udp', 'tcp', 'tls'); '' if not relayed here
 * @property {string} localAddress ip:port ('' when the browser hides it)
 * @property {string} remoteAddress
 */

/**
 * Reads the selected candidate pair of pc from its stats.
 * @param {RTCPeerConnection} pc
 * @returns {Promise<PeerPath | null>} null while no pair is selected
 */
export async function readPath(pc) {
  /** @type {RTCStatsReport} */
  let stats;
  try {
    stats = await pc.getStats();
  } catch {
    return null; // closed
  }
  /** @type {any} */
  let pair = null;
  stats.forEach((/** @type {any} */ r) => {
    if (r.type === 'transport' && r.selectedCandidatePairId) pair = stats.get(r.selectedCandidatePairId);
  });
  if (!pair) {
    // Browsers without transport.selectedCandidatePairId: the nominated pair that works.
    stats.forEach((/** @type {any} */ r) => {
      if (!pair && r.type === 'candidate-pair' && r.nominated && r.state === 'succeeded') pair = r;
    });
  }
  if (!pair) return null;
  const local = stats.get(pair.localCandidateId);
  const remote = stats.get(pair.remoteCandidateId);
  if (!local || !remote) return null;
  const addr = (/** @type {any} */ c) => (c.address ?? c.ip ? `${c.address ?? c.ip}:${c.port}` : '');
  return {
    relayed: local.candidateType === 'relay' || remote.candidateType === 'relay',
    localType: String(local.candidateType ?? ''),
    remoteType: String(remote.candidateType ?? ''),
    protocol: String(local.protocol ?? ''),
    relayProtocol: local.candidateType === 'relay' ? String(local.relayProtocol ?? '') : '',
    localAddress: addr(local),
    remoteAddress: addr(remote),
  };
}

/**
 * A few words for a path, e.g. "direct · UDP" or "relayed · TURN over TCP".
 * @param {PeerPath} p
 * @returns {string}
 */
export function describePath(p) {
  if (p.localType === 'relay' && p.relayProtocol) return `relayed · TURN over ${p.relayProtocol.toUpperCase()}`;
  if (p.relayed) return "relayed · the other side's TURN";
  return `direct · ${p.protocol.toUpperCase()}`;
}
