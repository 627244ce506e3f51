package e2e

// Identity comes from the lobby, never from the other peer: a connected peer that claims another member's id
// over the data channel is not re-filed under that member.

import (
	"fmt"
	"testing"
	"time"

	"github.com/p2plobby/p2plobby/internal/lobbytest"
)

func TestPeerCannotTakeAnotherMembersIdentity(t *testing.T) {
	skipWithoutBrowser(t)
	s := lobbytest.Start(t)
	alice := open(t, s, "identity", "Alice")
	mallory := open(t, s, "identity", "Mallory")
	xavier := open(t, s, "identity", "Xavier")
	connect(t, alice, mallory)
	var ids struct{ Mallory, Xavier string }
	mallory.eval(`window.p2plobby.lobby.id`, &ids.Mallory)
	xavier.eval(`window.p2plobby.lobby.id`, &ids.Xavier)

	// Mallory's page claims, over the data channel, to be Xavier now (with a key of its own), and backs the
	// claim through the lobby the only way it can: a rejoin stamped with its own id.
	mallory.eval(fmt.Sprintf(`(() => { const l = window.p2plobby.lobby; const p = [...l.peers.values()][0];
		p.sendControl({t: 'member', id: %[1]s, key: p.linkKey});
		l.signaling.send({toId: p.id, kind: 'rejoin', sid: p.linkKey});
		return true })()`, jsString(ids.Xavier)), nil)
	time.Sleep(time.Second) // give a re-filing the time to happen

	var got struct {
		UnderMallory, UnderXavier bool
		ConversationName          string
	}
	alice.eval(fmt.Sprintf(`(() => { const l = window.p2plobby.lobby;
		const c = window.p2plobby.state.convos.get(%[1]s);
		return {underMallory: l.peers.get(%[1]s)?.state === 'connected', underXavier: !!l.peers.get(%[2]s),
			conversationName: c ? c.name : ''} })()`, jsString(ids.Mallory), jsString(ids.Xavier)), &got)
	if !got.UnderMallory || got.UnderXavier || got.ConversationName != "Mallory" {
		t.Fatalf("after Mallory claimed Xavier's id: %+v; want the connection still Mallory's", got)
	}
	// A request to Xavier goes to Xavier, not to Mallory's connection.
	alice.waitFor("Xavier's row offers a request", rowState("Xavier")+` === 'idle'`, 5*time.Second)
	alice.click(member("Xavier") + ` [data-testid=request]`)
	xavier.waitFor("Xavier gets Alice's request", rowState("Alice")+` === 'incoming'`, 10*time.Second)
}
