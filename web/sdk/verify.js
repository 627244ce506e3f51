// The verification code (docs/datachannel.md, "Verification code"): from the two DTLS certificates actually
// used by the connection, read from its stats (never from SDP text), and two nonces exchanged over the
// encrypted control channel with a commitment, so that nobody in the middle can search for certificates or
// nonces that give both people the same code (docs/security.md).
import { sha256, toHex } from './sha256.js';

/** Nonce length in bytes. */
export const SAS_NONCE_BYTES = 32;

/**
 * The SHA-256 fingerprint of a DER certificate, "AB:CD:…".
 * @param {Uint8Array} der
 * @returns {string}
 */
export function certFingerprint(der) {
  return [...sha256(der)].map((b) => b.toString(16).padStart(2, '0').toUpperCase()).join(':');
}

/**
 * The commitment the offerer sends before it learns the answerer's nonce.
 * @param {string} offererNonce lowercase hex
 * @returns {string} lowercase hex
 */
export function sasCommitment(offererNonce) {
  return toHex(sha256(`p2plobby-sas-commit-v2\n${offererNonce}`));
}

/**
 * The six-digit code both people compare, "123 456". The fingerprints may come in either order; the nonces
 * (lowercase hex) come offerer's first.
 * @param {string} fpA
 * @param {string} fpB
 * @param {string} offererNonce
 * @param {string} answererNonce
 * @returns {string}
 */
export function verificationCode(fpA, fpB, offererNonce, answererNonce) {
  const [first, second] = [fpA.toUpperCase(), fpB.toUpperCase()].sort();
  const d = sha256(`p2plobby-verify-v2\n${first}\n${second}\n${offererNonce}\n${answererNonce}`);
  const n = ((d[0] << 24) | (d[1] << 16) | (d[2] << 8) | d[3]) >>> 0;
  const s = String(n % 1_000_000).padStart(6, '0');
  return `${s.slice(0, 3)} ${s.slice(3)}`;
}

/** @returns {string} a fresh nonce, lowercase hex */
export function sasNonce() {
  return toHex(crypto.getRandomValues(new Uint8Array(SAS_NONCE_BYTES)));
}

/**
 * @param {unknown} v
 * @returns {v is string} whether v is a nonce or a commitment: 64 lowercase hex digits
 */
export function validSasHex(v) {
  return typeof v === 'string' && /^[0-9a-f]{64}$/.test(v);
}

/**
 * The fingerprints of the two certificates of pc's DTLS session, from its stats: this side's, and the one the
 * other side presented (which the browser checked against the SDP).
 * @param {RTCPeerConnection} pc
 * @returns {Promise<{local: string, remote: string} | null>} null when the stats do not have them
 */
export async function dtlsFingerprints(pc) {
  const stats = await pc.getStats();
  /** @type {any} */
  let transport = null;
  stats.forEach((/** @type {any} */ r) => {
    if (r.type === 'transport' && r.localCertificateId && r.remoteCertificateId) transport = r;
  });
  if (!transport) return null;
  const der = (/** @type {string} */ id) => {
    const b64 = stats.get(id)?.base64Certificate;
    return typeof b64 === 'string' ? Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)) : null;
  };
  const local = der(transport.localCertificateId), remote = der(transport.remoteCertificateId);
  return local && remote ? { local: certFingerprint(local), remote: certFingerprint(remote) } : null;
}
