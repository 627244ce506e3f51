package netcheck

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/p2plobby/p2plobby/internal/certtest"
	"github.com/p2plobby/p2plobby/internal/lobbytest"
)

// Against a server with --tls-cert: the lobby over WSS, and turns: on the web port allocates over TLS.
func TestTURNOverTLS(t *testing.T) {
	ca := certtest.New(t)
	certFile, keyFile, _ := ca.WriteFiles(t, t.TempDir())
	s := lobbytest.Start(t, "--tls-cert", certFile, "--tls-key", keyFile)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Without the test CA the lobby is unreachable: the certificate is checked.
	if r := Run(ctx, s.WS, &Options{Timeout: 5 * time.Second}); r.Lobby.OK || !strings.Contains(r.Lobby.Error, "certificate") {
		t.Errorf("an untrusted certificate was accepted: %+v", r.Lobby)
	}

	r := Run(ctx, s.WS, &Options{RootCAs: ca.Pool()})
	if !r.Lobby.OK {
		t.Fatalf("lobby %+v", r.Lobby)
	}
	transports := map[string]int{}
	for _, tr := range r.TURN {
		if tr.Error != "" {
			t.Errorf("TURN %s: %s", tr.URL, tr.Error)
		}
		transports[tr.Transport]++
		if tr.Transport == "tls" && !strings.HasPrefix(tr.URL, "turns:127.0.0.1:") {
			t.Errorf("TURN over TLS at %s", tr.URL)
		}
	}
	if transports["udp"] != 1 || transports["tcp"] != 1 || transports["tls"] != 1 {
		t.Errorf("TURN tried %v, want UDP, TCP (TURN port) and TLS (the HTTPS port) once each", transports)
	}
	if r.Verdict != VerdictDirect || !r.OK() {
		t.Errorf("verdict %q (%s)", r.Verdict, r.Reason)
	}
}
