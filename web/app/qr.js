// A small QR code encoder (ISO/IEC 18004): byte mode (UTF-8), error correction level L or M, versions 1–40,
// drawn as an SVG in the page. No external service, no dependency: a room link never leaves the browser.

/** Error correction codewords per block, by level and version (index 0 unused). */
const ECC_PER_BLOCK = {
  L: [-1, 7, 10, 15, 20, 26, 18, 20, 24, 30, 18, 20, 24, 26, 30, 22, 24, 28, 30, 28, 28, 28, 28, 30, 30, 26, 28, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30],
  M: [-1, 10, 16, 26, 18, 24, 16, 18, 22, 22, 26, 30, 22, 22, 24, 24, 28, 28, 26, 26, 26, 26, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28],
};
/** Error correction blocks, by level and version (index 0 unused). */
const BLOCKS = {
  L: [-1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 4, 4, 6, 6, 6, 6, 7, 8, 8, 9, 9, 10, 12, 12, 12, 13, 14, 15, 16, 17, 18, 19, 19, 20, 21, 22, 24, 25],
  M: [-1, 1, 1, 1, 2, 2, 4, 4, 4, 5, 5, 5, 8, 9, 9, 10, 10, 11, 13, 14, 16, 17, 17, 18, 20, 21, 23, 25, 26, 28, 29, 31, 33, 35, 37, 38, 40, 43, 45, 47, 49],
};
/** The two format-information bits of each level. */
const FORMAT_BITS = { L: 1, M: 0 };

/**
 * @typedef {object} QrCode
 * @property {number} version 1–40
 * @property {number} size modules per side (17 + 4 × version)
 * @property {'L'|'M'} ecl
 * @property {number} mask 0–7
 * @property {boolean[][]} modules [y][x], true = dark
 */

/**
 * Encodes text (as UTF-8 bytes) in the smallest version that holds it.
 * @param {string} text
 * @param {'L'|'M'} [ecl] error correction level; default M (15 % of the code may be damaged)
 * @returns {QrCode}
 */
export function encodeQr(text, ecl = 'M') {
  const bytes = new TextEncoder().encode(text);
  let version = 1;
  for (;; version++) {
    if (version > 40) throw new Error('too long for a QR code');
    if (4 + (version < 10 ? 8 : 16) + 8 * bytes.length <= dataCodewords(version, ecl) * 8) break;
  }
  // Data bits: byte mode, character count, the bytes, a terminator, then padding to the capacity.
  /** @type {number[]} */
  const bits = [];
  const put = (/** @type {number} */ value, /** @type {number} */ n) => {
    for (let i = n - 1; i >= 0; i--) bits.push((value >>> i) & 1);
  };
  put(0b0100, 4);
  put(bytes.length, version < 10 ? 8 : 16);
  for (const b of bytes) put(b, 8);
  const capacity = dataCodewords(version, ecl) * 8;
  put(0, Math.min(4, capacity - bits.length));
  put(0, (8 - (bits.length % 8)) % 8);
  /** @type {number[]} */
  const data = [];
  for (let i = 0; i < bits.length; i += 8) data.push(bits.slice(i, i + 8).reduce((a, b) => (a << 1) | b, 0));
  for (let pad = 0xec; data.length < capacity / 8; pad ^= 0xec ^ 0x11) data.push(pad);

  const size = 17 + 4 * version;
  const m = new Matrix(size);
  m.drawFunctionPatterns(version);
  m.drawCodewords(interleave(data, version, ecl));
  let best = 0;
  let bestScore = Infinity;
  for (let mask = 0; mask < 8; mask++) {
    m.applyMask(mask);
    m.drawFormat(ecl, mask);
    const score = m.penalty();
    if (score < bestScore) {
      best = mask;
      bestScore = score;
    }
    m.applyMask(mask); // XOR again: undone
  }
  m.applyMask(best);
  m.drawFormat(ecl, best);
  return { version, size, ecl, mask: best, modules: m.dark };
}

/**
 * Draws a QR code as an SVG: dark modules on a white square with the standard quiet zone of 4 modules, in black
 * and white whatever the page's colour scheme (scanners want dark on light). Only attributes, no inline styles
 * (the page's CSP forbids them).
 * @param {string} text
 * @param {{ecl?: 'L'|'M', size?: number, label?: string}} [opts] size: width and height in CSS pixels
 * @returns {SVGSVGElement}
 */
export function qrSvg(text, opts = {}) {
  const qr = encodeQr(text, opts.ecl ?? 'M');
  const border = 4;
  const dim = qr.size + 2 * border;
  let d = '';
  qr.modules.forEach((row, y) => {
    for (let x = 0; x < qr.size; x++) {
      if (!row[x]) continue;
      let run = 1;
      while (x + run < qr.size && row[x + run]) run++;
      d += `M${x + border} ${y + border}h${run}v1h-${run}z`;
      x += run - 1;
    }
  });
  const ns = 'http://www.w3.org/2000/svg';
  const svg = /** @type {SVGSVGElement} */ (document.createElementNS(ns, 'svg'));
  const px = String(opts.size ?? dim * 4);
  for (const [k, v] of Object.entries({ viewBox: `0 0 ${dim} ${dim}`, width: px, height: px, role: 'img',
    'aria-label': opts.label ?? 'QR code', 'shape-rendering': 'crispEdges', 'data-version': String(qr.version) })) svg.setAttribute(k, v);
  const bg = document.createElementNS(ns, 'rect');
  for (const [k, v] of Object.entries({ width: String(dim), height: String(dim), fill: '#fff' })) bg.setAttribute(k, v);
  const path = document.createElementNS(ns, 'path');
  path.setAttribute('d', d);
  path.setAttribute('fill', '#000');
  svg.append(bg, path);
  return svg;
}

/**
 * @param {number} version
 * @returns {number} modules available for data and error correction (all but the function patterns)
 */
function rawModules(version) {
  let n = (16 * version + 128) * version + 64;
  if (version >= 2) {
    const align = Math.floor(version / 7) + 2;
    n -= (25 * align - 10) * align - 55;
    if (version >= 7) n -= 36;
  }
  return n;
}

/**
 * @param {number} version
 * @param {'L'|'M'} ecl
 * @returns {number} data codewords (bytes) the version holds at that level
 */
function dataCodewords(version, ecl) {
  return Math.floor(rawModules(version) / 8) - ECC_PER_BLOCK[ecl][version] * BLOCKS[ecl][version];
}

/**
 * Splits the data into blocks, adds each block's Reed-Solomon codewords, and interleaves them.
 * @param {number[]} data
 * @param {number} version
 * @param {'L'|'M'} ecl
 * @returns {number[]}
 */
function interleave(data, version, ecl) {
  const numBlocks = BLOCKS[ecl][version];
  const eccLen = ECC_PER_BLOCK[ecl][version];
  const raw = Math.floor(rawModules(version) / 8);
  const numShort = numBlocks - (raw % numBlocks);
  const shortLen = Math.floor(raw / numBlocks);
  const divisor = rsDivisor(eccLen);
  /** @type {number[][]} */
  const blocks = [];
  for (let i = 0, k = 0; i < numBlocks; i++) {
    const dat = data.slice(k, k + shortLen - eccLen + (i < numShort ? 0 : 1));
    k += dat.length;
    const ecc = rsRemainder(dat, divisor);
    if (i < numShort) dat.push(0); // a place holder, skipped below
    blocks.push(dat.concat(ecc));
  }
  /** @type {number[]} */
  const out = [];
  for (let i = 0; i < blocks[0].length; i++) {
    blocks.forEach((b, j) => {
      if (i !== shortLen - eccLen || j >= numShort) out.push(b[i]);
    });
  }
  return out;
}

/**
 * Multiplication in GF(2^8) modulo x^8 + x^4 + x^3 + x^2 + 1.
 * @param {number} x
 * @param {number} y
 * @returns {number}
 */
function gfMul(x, y) {
  let z = 0;
  for (let i = 7; i >= 0; i--) {
    z = (z << 1) ^ ((z >>> 7) * 0x11d);
    z ^= ((y >>> i) & 1) * x;
  }
  return z;
}

/**
 * @param {number} degree
 * @returns {number[]} the generator polynomial (x - α^0)…(x - α^(degree-1)), highest term implied
 */
function rsDivisor(degree) {
  const result = new Array(degree).fill(0);
  result[degree - 1] = 1;
  let root = 1;
  for (let i = 0; i < degree; i++) {
    for (let j = 0; j < degree; j++) {
      result[j] = gfMul(result[j], root);
      if (j + 1 < degree) result[j] ^= result[j + 1];
    }
    root = gfMul(root, 0x02);
  }
  return result;
}

/**
 * @param {number[]} data
 * @param {number[]} divisor
 * @returns {number[]} the error correction codewords
 */
function rsRemainder(data, divisor) {
  const result = new Array(divisor.length).fill(0);
  for (const b of data) {
    const factor = b ^ /** @type {number} */ (result.shift());
    result.push(0);
    divisor.forEach((c, i) => {
      result[i] ^= gfMul(c, factor);
    });
  }
  return result;
}

class Matrix {
  /** @param {number} size */
  constructor(size) {
    this.size = size;
    /** @type {boolean[][]} */
    this.dark = Array.from({ length: size }, () => new Array(size).fill(false));
    /** @type {boolean[][]} modules that are not data (finders, timing, alignment, format, version) */
    this.fixed = Array.from({ length: size }, () => new Array(size).fill(false));
  }

  /**
   * @param {number} x
   * @param {number} y
   * @param {boolean} dark
   */
  set(x, y, dark) {
    this.dark[y][x] = dark;
    this.fixed[y][x] = true;
  }

  /** @param {number} version */
  drawFunctionPatterns(version) {
    const n = this.size;
    for (let i = 0; i < n; i++) {
      this.set(6, i, i % 2 === 0);
      this.set(i, 6, i % 2 === 0);
    }
    for (const [cx, cy] of [[3, 3], [n - 4, 3], [3, n - 4]]) {
      for (let dy = -4; dy <= 4; dy++) {
        for (let dx = -4; dx <= 4; dx++) {
          const x = cx + dx;
          const y = cy + dy;
          const dist = Math.max(Math.abs(dx), Math.abs(dy));
          if (x >= 0 && x < n && y >= 0 && y < n) this.set(x, y, dist !== 2 && dist !== 4);
        }
      }
    }
    const pos = alignmentPositions(version, n);
    pos.forEach((cy, i) => pos.forEach((cx, j) => {
      const last = pos.length - 1;
      if ((i === 0 && j === 0) || (i === 0 && j === last) || (i === last && j === 0)) return; // the finders
      for (let dy = -2; dy <= 2; dy++) {
        for (let dx = -2; dx <= 2; dx++) this.set(cx + dx, cy + dy, Math.max(Math.abs(dx), Math.abs(dy)) !== 1);
      }
    }));
    this.drawFormat('M', 0); // reserves the format areas; rewritten once the mask is chosen
    if (version >= 7) {
      let rem = version;
      for (let i = 0; i < 12; i++) rem = (rem << 1) ^ ((rem >>> 11) * 0x1f25);
      const bits = (version << 12) | rem;
      for (let i = 0; i < 18; i++) {
        const bit = ((bits >>> i) & 1) === 1;
        const a = n - 11 + (i % 3);
        const b = Math.floor(i / 3);
        this.set(a, b, bit);
        this.set(b, a, bit);
      }
    }
  }

  /**
   * @param {'L'|'M'} ecl
   * @param {number} mask
   */
  drawFormat(ecl, mask) {
    const n = this.size;
    const data = (FORMAT_BITS[ecl] << 3) | mask;
    let rem = data;
    for (let i = 0; i < 10; i++) rem = (rem << 1) ^ ((rem >>> 9) * 0x537);
    const bits = ((data << 10) | rem) ^ 0x5412;
    const bit = (/** @type {number} */ i) => ((bits >>> i) & 1) === 1;
    for (let i = 0; i <= 5; i++) this.set(8, i, bit(i));
    this.set(8, 7, bit(6));
    this.set(8, 8, bit(7));
    this.set(7, 8, bit(8));
    for (let i = 9; i < 15; i++) this.set(14 - i, 8, bit(i));
    for (let i = 0; i < 8; i++) this.set(n - 1 - i, 8, bit(i));
    for (let i = 8; i < 15; i++) this.set(8, n - 15 + i, bit(i));
    this.set(8, n - 8, true); // the dark module
  }

  /** @param {number[]} codewords placed in the zigzag order, two columns at a time, skipping column 6 */
  drawCodewords(codewords) {
    const n = this.size;
    let i = 0;
    for (let right = n - 1; right >= 1; right -= 2) {
      if (right === 6) right = 5;
      for (let vert = 0; vert < n; vert++) {
        for (let j = 0; j < 2; j++) {
          const x = right - j;
          const upward = ((right + 1) & 2) === 0;
          const y = upward ? n - 1 - vert : vert;
          if (!this.fixed[y][x] && i < codewords.length * 8) {
            this.dark[y][x] = ((codewords[i >>> 3] >>> (7 - (i & 7))) & 1) === 1;
            i++;
          }
        }
      }
    }
  }

  /** @param {number} mask XORs the data modules with the mask pattern (applying it twice undoes it) */
  applyMask(mask) {
    const n = this.size;
    for (let y = 0; y < n; y++) {
      for (let x = 0; x < n; x++) {
        if (this.fixed[y][x]) continue;
        let flip;
        switch (mask) {
          case 0: flip = (x + y) % 2 === 0; break;
          case 1: flip = y % 2 === 0; break;
          case 2: flip = x % 3 === 0; break;
          case 3: flip = (x + y) % 3 === 0; break;
          case 4: flip = (Math.floor(x / 3) + Math.floor(y / 2)) % 2 === 0; break;
          case 5: flip = ((x * y) % 2) + ((x * y) % 3) === 0; break;
          case 6: flip = (((x * y) % 2) + ((x * y) % 3)) % 2 === 0; break;
          default: flip = (((x + y) % 2) + ((x * y) % 3)) % 2 === 0;
        }
        if (flip) this.dark[y][x] = !this.dark[y][x];
      }
    }
  }

  /** @returns {number} the standard's penalty score (lower is easier to scan) */
  penalty() {
    const n = this.size;
    const d = this.dark;
    let score = 0;
    let darkCount = 0;
    const finderA = [1, 0, 1, 1, 1, 0, 1, 0, 0, 0, 0];
    const finderB = [0, 0, 0, 0, 1, 0, 1, 1, 1, 0, 1];
    for (const get of [(/** @type {number} */ a, /** @type {number} */ b) => d[a][b], (/** @type {number} */ a, /** @type {number} */ b) => d[b][a]]) {
      for (let a = 0; a < n; a++) {
        let run = 1;
        for (let b = 1; b <= n; b++) {
          if (b < n && get(a, b) === get(a, b - 1)) {
            run++;
            continue;
          }
          if (run >= 5) score += 3 + run - 5;
          run = 1;
        }
        for (let b = 0; b + 11 <= n; b++) {
          for (const pat of [finderA, finderB]) {
            if (pat.every((v, k) => get(a, b + k) === (v === 1))) score += 40;
          }
        }
      }
    }
    for (let y = 0; y < n; y++) {
      for (let x = 0; x < n; x++) {
        if (d[y][x]) darkCount++;
        if (x + 1 < n && y + 1 < n && d[y][x] === d[y][x + 1] && d[y][x] === d[y + 1][x] && d[y][x] === d[y + 1][x + 1]) score += 3;
      }
    }
    score += 10 * Math.floor(Math.abs((darkCount * 100) / (n * n) - 50) / 5);
    return score;
  }
}

/**
 * @param {number} version
 * @param {number} size
 * @returns {number[]} centre coordinates of the alignment patterns (on both axes)
 */
function alignmentPositions(version, size) {
  if (version === 1) return [];
  const num = Math.floor(version / 7) + 2;
  const step = Math.floor((version * 8 + num * 3 + 5) / (num * 4 - 4)) * 2;
  const out = [6];
  for (let pos = size - 7; out.length < num; pos -= step) out.splice(1, 0, pos);
  return out;
}
