// Verification code from the two DTLS fingerprints (docs/datachannel.md, "Verification code").
import { sha256 } from './sha256.js';

/**
 * The first sha-256 DTLS fingerprint of an SDP, upper-cased, or null.
 * @param {string} sdp
 * @returns {string | null}
 */
export function fingerprint(sdp) {
  const m = /^a=fingerprint:sha-256[ \t]+([0-9A-Fa-f:]+)/im.exec(sdp || '');
  return m ? m[1].toUpperCase() : null;
}

/**
 * The 6-digit code both people compare, formatted "123 456"; null if an SDP lacks a sha-256 fingerprint.
 * Symmetric: swapping the two arguments gives the same code.
 * @param {string} localSdp
 * @param {string} remoteSdp
 * @returns {string | null}
 */
export function verificationCode(localSdp, remoteSdp) {
  const a = fingerprint(localSdp), b = fingerprint(remoteSdp);
  if (!a || !b) return null;
  const [first, second] = [a, b].sort();
  const d = sha256(`p2plobby-verify-v1\n${first}\n${second}`);
  const n = ((d[0] << 24) | (d[1] << 16) | (d[2] << 8) | d[3]) >>> 0;
  const s = String(n % 1_000_000).padStart(6, '0');
  return `${s.slice(0, 3)} ${s.slice(3)}`;
}
