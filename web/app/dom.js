// Small DOM and formatting helpers for the lobby page.

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
 * @param {number} n bytes
 * @returns {string} e.g. "1.5 MB"
 */
export function formatBytes(n) {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let i = -1;
  do {
    n /= 1000;
    i++;
  } while (n >= 1000 && i < units.length - 1);
  return `${n.toFixed(n < 10 ? 2 : n < 100 ? 1 : 0)} ${units[i]}`;
}

/**
 * @param {number} bytesPerSecond
 * @returns {string} e.g. "11.8 MB/s"
 */
export function formatRate(bytesPerSecond) {
  return `${(bytesPerSecond / 1e6).toFixed(1)} MB/s`;
}

/**
 * @param {number | null} secs
 * @returns {string} e.g. "1 min 5 s left"
 */
export function formatEta(secs) {
  if (secs == null || !Number.isFinite(secs)) return '';
  const s = Math.max(0, Math.ceil(secs));
  if (s < 60) return `${s} s left`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${s % 60} s left` : `${Math.floor(m / 60)} h ${m % 60} min left`;
}

/**
 * @param {number} ts
 * @returns {string} local time, hours and minutes
 */
export function formatTime(ts) {
  return new Date(ts).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
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
