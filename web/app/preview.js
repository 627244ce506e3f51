// Inline previews of received files: images, audio and video in their elements, text as text. The sender's type
// is a claim: a preview is shown only for a short list of media types (from the claimed type, else the name's
// extension), the element gets a Blob of exactly that type, and nothing is ever opened as a document — no HTML,
// no SVG (both are shown as text), no PDF. The stored file stays application/octet-stream for saving.
import { h } from './dom.js';
import { t } from './i18n.js';

/** Media types an element may play or show, by kind. */
const MEDIA = {
  image: ['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'image/avif', 'image/bmp', 'image/x-icon', 'image/vnd.microsoft.icon'],
  audio: ['audio/mpeg', 'audio/ogg', 'audio/wav', 'audio/x-wav', 'audio/wave', 'audio/webm', 'audio/flac', 'audio/aac', 'audio/mp4', 'audio/x-m4a', 'audio/opus'],
  video: ['video/mp4', 'video/webm', 'video/ogg'],
};

/** By extension, when the sender claimed no usable type. */
const BY_EXT = /** @type {Record<string, string>} */ ({
  png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', gif: 'image/gif', webp: 'image/webp', avif: 'image/avif', bmp: 'image/bmp',
  ico: 'image/x-icon', mp3: 'audio/mpeg', ogg: 'audio/ogg', oga: 'audio/ogg', opus: 'audio/ogg', wav: 'audio/wav', flac: 'audio/flac',
  m4a: 'audio/mp4', aac: 'audio/aac', weba: 'audio/webm', mp4: 'video/mp4', m4v: 'video/mp4', webm: 'video/webm', ogv: 'video/ogg',
});

/** Extensions shown as text (whatever type was claimed for them, as text: markup is never rendered). */
const TEXT_EXT = new Set(['txt', 'text', 'md', 'markdown', 'csv', 'tsv', 'log', 'json', 'xml', 'yaml', 'yml', 'toml', 'ini', 'conf',
  'cfg', 'env', 'js', 'mjs', 'ts', 'go', 'py', 'rb', 'rs', 'c', 'h', 'cpp', 'hpp', 'java', 'kt', 'swift', 'sh', 'bash', 'zsh', 'ps1',
  'bat', 'sql', 'html', 'htm', 'css', 'svg', 'srt', 'vtt', 'diff', 'patch', 'tex']);

/** An image larger than this is not previewed (decoding costs memory); audio and video stream from disk. */
const MAX_IMAGE_BYTES = 25e6;
/** How much of a text file is shown. */
const TEXT_BYTES = 64 << 10;

/**
 * @typedef {{kind: 'image'|'audio'|'video'|'text', type: string}} PreviewKind
 */

/**
 * Whether and how a file can be previewed.
 * @param {{name: string, type: string, size: number}} meta
 * @returns {PreviewKind | null}
 */
export function previewKind(meta) {
  const claimed = String(meta.type || '').toLowerCase().split(';')[0].trim();
  const ext = meta.name.includes('.') ? meta.name.slice(meta.name.lastIndexOf('.') + 1).toLowerCase() : '';
  if (TEXT_EXT.has(ext) || claimed.startsWith('text/') || claimed === 'application/json') return { kind: 'text', type: 'text/plain' };
  for (const type of [claimed, BY_EXT[ext] ?? '']) {
    for (const kind of /** @type {const} */ (['image', 'audio', 'video'])) {
      if (!MEDIA[kind].includes(type)) continue;
      if (kind === 'image' && meta.size > MAX_IMAGE_BYTES) return null;
      return { kind, type };
    }
  }
  return null;
}

/**
 * Builds the preview of a received file.
 * @param {Blob} file the stored file (application/octet-stream)
 * @param {{name: string, type: string, size: number}} meta
 * @param {(el: HTMLElement, blob: Blob) => void} attach gives el an object URL of blob as its src (and revokes it
 *   when el leaves the page)
 * @returns {HTMLElement | null}
 */
export function preview(file, meta, attach) {
  const p = previewKind(meta);
  if (!p) return null;
  const wrap = h('div', { class: 'preview', 'data-testid': 'preview', 'data-kind': p.kind });
  if (p.kind === 'text') {
    const pre = h('pre', { class: 'preview-text', dir: 'auto', tabindex: '0', 'aria-label': t('transfer.previewOf', { name: meta.name }) });
    wrap.append(pre);
    file.slice(0, TEXT_BYTES).arrayBuffer().then((buf) => {
      const bytes = new Uint8Array(buf);
      if (bytes.includes(0)) { // not text after all
        wrap.remove();
        return;
      }
      const text = new TextDecoder('utf-8').decode(bytes);
      pre.textContent = file.size > TEXT_BYTES ? `${text}\n…` : text; // text, never markup
      wrap.dataset.ready = 'true';
    }, () => wrap.remove());
    return wrap;
  }
  const blob = file.slice(0, file.size, p.type); // this type only, for the element
  const el = p.kind === 'image'
    ? h('img', { alt: meta.name, decoding: 'async', loading: 'lazy' })
    : h(p.kind, { controls: true, preload: 'metadata', 'aria-label': meta.name, ...(p.kind === 'video' ? { playsinline: true } : {}) });
  el.addEventListener('error', () => {
    wrap.dataset.ready = 'error';
    wrap.hidden = true; // not what it claimed to be
  });
  el.addEventListener(p.kind === 'image' ? 'load' : 'loadedmetadata', () => {
    wrap.dataset.ready = 'true';
  });
  wrap.append(el);
  attach(el, blob);
  return wrap;
}
