// A dedicated worker that writes received files into OPFS through sync access handles (sink.js, `workerSink`).
// A sync handle writes straight into the file, with no copy into a batch and no round trip to the browser
// process per write, which is what a FileSystemWritableFileStream costs on the page; it exists only in
// dedicated workers. Messages, each with a request number `n` that the answer repeats:
//   {op: 'open', n, id, handle}  → {n} or {n, error}; `unsupported: true` when there are no sync handles here
//   {op: 'write', id, bufs}      no answer: bufs (ArrayBuffers, transferred) are appended; a failure is kept for close
//   {op: 'close', n, id}         → {n} once flushed and closed, or {n, error} of the first failed write
//   {op: 'abort', n, id}         → {n} once closed (the page removes the file)

/** @type {any} */
const scope = globalThis;

/** @type {Map<string, {h: any, at: number, error: string}>} open files by id */
const files = new Map();

/**
 * @param {number} n
 * @param {object} [extra]
 */
const answer = (n, extra) => scope.postMessage({ n, ...extra });

scope.onmessage = async (/** @type {MessageEvent} */ e) => {
  const m = e.data;
  const f = files.get(m.id);
  try {
    if (m.op === 'write') {
      if (!f || f.error) return;
      try {
        for (const buf of m.bufs) {
          const wrote = f.h.write(new Uint8Array(buf), { at: f.at });
          f.at += wrote;
          if (wrote !== buf.byteLength) throw new Error(`wrote ${wrote} of ${buf.byteLength} bytes (is the disk full?)`);
        }
      } catch (err) {
        f.error = String(/** @type {any} */ (err)?.message || err);
      }
    } else if (m.op === 'open') {
      if (typeof m.handle?.createSyncAccessHandle !== 'function') {
        answer(m.n, { error: 'no sync access handles here', unsupported: true });
        return;
      }
      const h = await m.handle.createSyncAccessHandle();
      h.truncate(0);
      files.set(m.id, { h, at: 0, error: '' });
      answer(m.n);
    } else if (m.op === 'close' || m.op === 'abort') {
      files.delete(m.id);
      if (f) {
        if (m.op === 'close' && !f.error) f.h.flush();
        f.h.close();
      }
      answer(m.n, m.op === 'close' && (!f || f.error) ? { error: f?.error || 'not open' } : {});
    }
  } catch (err) {
    if (m.n !== undefined) answer(m.n, { error: String(/** @type {any} */ (err)?.message || err) });
  }
};
