package peer_test

import (
	"context"
	"testing"
	"time"

	"github.com/p2plobby/p2plobby/internal/lobbytest"
	"github.com/p2plobby/p2plobby/peer"
)

// With RelayOnly, a connection goes through the lobby's own TURN server: the selected pair has a relay
// candidate on that side, and chat still flows both ways.
func TestRelayOnlyThroughTheLobbysTURN(t *testing.T) {
	t.Parallel()
	s := lobbytest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r := room(t)
	a, err := peer.Dial(ctx, s.WS, &peer.Options{Room: r, Name: "private", Loopback: true, RelayOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b := dial(t, s.WS, r, "open")
	ca, cb := connect(t, a, b)

	pa, err := ca.Path()
	if err != nil {
		t.Fatal(err)
	}
	if pa.LocalType != "relay" || pa.RelayProtocol == "" || !pa.Relayed() {
		t.Fatalf("relay-only side's path %+v (%s), want a local relay candidate", pa, pa)
	}
	pb, err := cb.Path()
	if err != nil {
		t.Fatal(err)
	}
	if pb.RemoteType != "relay" || !pb.Relayed() {
		t.Fatalf("other side's path %+v (%s), want the remote relay candidate", pb, pb)
	}
	t.Logf("relay-only side: %s; other side: %s", pa, pb)

	for _, tc := range []struct {
		from, to *peer.Conn
		text     string
	}{{ca, cb, "through the relay"}, {cb, ca, "and back"}} {
		if err := tc.from.SendChat(tc.text); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-tc.to.Chat():
			if m.Text != tc.text {
				t.Fatalf("chat %q, want %q", m.Text, tc.text)
			}
		case <-ctx.Done():
			t.Fatalf("chat %q did not arrive", tc.text)
		}
	}
}

// Without RelayOnly, two peers on one host connect directly although the lobby offers TURN.
func TestDirectWhenPossible(t *testing.T) {
	t.Parallel()
	_, _, ca, _ := pair(t)
	p, err := ca.Path()
	if err != nil {
		t.Fatal(err)
	}
	if p.Relayed() || p.LocalType != "host" || p.Protocol != "udp" {
		t.Fatalf("path %+v (%s), want direct host over UDP", p, p)
	}
}
