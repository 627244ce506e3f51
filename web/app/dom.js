// Small DOM and formatting helpers for the lobby page.
import { formatNumber, lang, t } from './i18n.js';

/**
 * Creates an element. Attributes starting with "on" become listeners; `style` is an object of properties
 * (set through CSSOM: the server's CSP forbids inline style attributes); other keys are written as given
 * ("data-testid"); null/false attributes and children are skipped.
 * @param {string} tag
 * @param {Record<string, any>} [attrs]
 * @param {...(Node | string | number | null | undefined | false)[] | Node | string | number | null | undefined | false} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'style') for (const [p, x] of Object.entries(v)) el.style.setProperty(p, String(x)); // CSP-safe
    else if (k in el && !k.includes('-') && typeof v !== 'string') /** @type {any} */ (el)[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

/**
 * @param {Node} el
 * @param {any[]} children
 */
function append(el, children) {
  for (const c of children) {
    if (c == null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/**
 * @param {number} n
 * @param {number} digits after the decimal separator
 * @returns {string} n in the page's language ("1.50", "1,50")
 */
function fixed(n, digits) {
  return formatNumber(n, { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/**
 * @param {number} n bytes
 * @returns {string} e.g. "1.5 MB" ("1,5 MB" in German)
 */
export function formatBytes(n) {
  if (n < 1000) return t('unit.B', { n: fixed(n, 0) });
  const units = /** @type {const} */ (['unit.kB', 'unit.MB', 'unit.GB', 'unit.TB']);
  let i = -1;
  do {
    n /= 1000;
    i++;
  } while (n >= 1000 && i < units.length - 1);
  return t(units[i], { n: fixed(n, n < 10 ? 2 : n < 100 ? 1 : 0) });
}

/**
 * @param {number} bytesPerSecond
 * @returns {string} e.g. "11.8 MB/s"
 */
export function formatRate(bytesPerSecond) {
  return t('unit.rate', { n: fixed(bytesPerSecond / 1e6, 1) });
}

/**
 * @param {number | null} secs
 * @returns {string} e.g. "1 min 5 s left"
 */
export function formatEta(secs) {
  if (secs == null || !Number.isFinite(secs)) return '';
  const s = Math.max(0, Math.ceil(secs));
  if (s < 60) return t('eta.s', { s });
  const m = Math.floor(s / 60);
  return m < 60 ? t('eta.min', { m, s: s % 60 }) : t('eta.h', { h: Math.floor(m / 60), m: m % 60 });
}

/**
 * @param {number} ts
 * @returns {string} local time, hours and minutes, as the page's language writes them
 */
export function formatTime(ts) {
  return new Date(ts).toLocaleTimeString(lang, { hour: '2-digit', minute: '2-digit' });
}

/**
 * One or two characters for an avatar: the first letter of the first and of the last word, so "Alice" and
 * "Alice (2)" (a name the server made unique) read "A" and "A2"; punctuation is skipped.
 * @param {string} name
 * @returns {string}
 */
export function initials(name) {
  const words = (name || '').match(/[\p{L}\p{N}]+/gu) ?? [];
  const first = (w = '') => [...w][0] ?? '';
  return ((first(words[0]) || '?') + (words.length > 1 ? first(words.at(-1)) : '')).toUpperCase();
}

/**
 * A stable hue for a string (a member id, so two people of the same name differ), so each keeps a colour.
 * @param {string} s
 * @returns {number}
 */
export function hue(s) {
  let x = 0;
  for (const c of s || '') x = (x * 31 + c.charCodeAt(0)) >>> 0;
  return x % 360;
}
