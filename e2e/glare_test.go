package e2e

import "testing"

// Helpers for TestSimultaneousRequests: holding a page's incoming lobby messages makes two requests cross
// deterministically, and records, for each request that reaches the page, what state the page was in.

// holdLobbyJS stops the page's lobby from seeing incoming messages (they queue, in order, until
// releaseLobbyJS) and counts the Peer objects the lobby creates from now on. It runs in one evaluation, so
// once it returns nothing from the server reaches the SDK.
const holdLobbyJS = `(() => {
	const l = window.p2plobby.lobby, ws = l.signaling.ws, deliver = ws.onmessage;
	const g = window.__glare = { paused: true, held: [], requests: [], peers: 0 };
	const pass = (ev) => {
		let m;
		try { m = JSON.parse(ev.data) } catch {}
		if (m?.kind === 'request') g.requests.push({ from: m.fromId, state: l.peers.get(m.fromId)?.state ?? 'none' });
		deliver.call(ws, ev);
	};
	ws.onmessage = (ev) => { if (g.paused) g.held.push(ev); else pass(ev) };
	g.release = () => { g.paused = false; for (const ev of g.held.splice(0)) pass(ev) };
	l.on('peer', () => g.peers++);
	return true;
})()`

// heldRequestJS is true once a request from someone is waiting, unseen, in the page's held messages.
const heldRequestJS = `window.__glare.held.some((ev) => { try { return JSON.parse(ev.data).kind === 'request' } catch { return false } })`

// releaseLobbyJS delivers the held messages, in order, and lets later ones through.
const releaseLobbyJS = `(() => { window.__glare.release(); return true })()`

// glareReport is what a page saw: the state it was in when each request reached its lobby, and how many
// Peer objects its lobby created after holdLobbyJS.
type glareReport struct {
	Requests []struct{ From, State string }
	Peers    int
}

func (p *page) glare(t *testing.T) glareReport {
	t.Helper()
	var r glareReport
	p.eval(`({ requests: window.__glare.requests, peers: window.__glare.peers })`, &r)
	return r
}
