package e2e

import (
	"fmt"
	"testing"
)

// ceilingJS measures the raw data-channel ceiling in one page: two RTCPeerConnections, an ideal sender
// pushing 256 KiB chunks with the same buffering thresholds as the SDK, no file, no hashing, no UI.
// It resolves to bytes per second.
const ceilingJS = `(async (total, chunk) => {
  const a = new RTCPeerConnection(), b = new RTCPeerConnection();
  a.onicecandidate = (e) => e.candidate && b.addIceCandidate(e.candidate);
  b.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate);
  const dc = a.createDataChannel('bench', { ordered: true });
  dc.binaryType = 'arraybuffer';
  const got = new Promise((resolve) => {
    b.ondatachannel = (e) => {
      let n = 0;
      e.channel.binaryType = 'arraybuffer';
      e.channel.onmessage = (m) => { n += m.data.byteLength; if (n >= total) resolve(performance.now()); };
    };
  });
  await a.setLocalDescription(await a.createOffer());
  await b.setRemoteDescription(a.localDescription);
  await b.setLocalDescription(await b.createAnswer());
  await a.setRemoteDescription(b.localDescription);
  await new Promise((r) => { dc.onopen = r; });
  const buf = crypto.getRandomValues(new Uint8Array(chunk > 65536 ? 65536 : chunk));
  const data = new Uint8Array(chunk);
  for (let o = 0; o < chunk; o += buf.length) data.set(buf.subarray(0, chunk - o), o);
  dc.bufferedAmountLowThreshold = 1 << 20;
  const t0 = performance.now();
  let sent = 0;
  while (sent < total) {
    if (dc.bufferedAmount + chunk > (4 << 20)) {
      await new Promise((r) => dc.addEventListener('bufferedamountlow', r, { once: true }));
    }
    dc.send(data);
    sent += chunk;
  }
  const t1 = await got;
  a.close(); b.close();
  return (sent * 1000) / (t1 - t0);
})`

// ceiling runs ceilingJS in p and returns MB/s.
func ceiling(t testing.TB, p *page, total, chunk int) float64 {
	t.Helper()
	var bps float64
	p.eval(fmt.Sprintf(`%s(%d, %d)`, ceilingJS, total, chunk), &bps)
	return bps / 1e6
}
