package main

import (
	"crypto/tls"
	"io"
	"math/big"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/turn/v5"

	"github.com/p2plobby/p2plobby/internal/certtest"
	"github.com/p2plobby/p2plobby/internal/lobbytest"
)

// joinTLS opens a lobby connection over WSS, trusting ca, and returns it with its self-connected message.
func joinTLS(t *testing.T, s *lobbytest.Server, ca *certtest.CA, name string) (*websocket.Conn, selfMsg) {
	t.Helper()
	d := websocket.Dialer{TLSClientConfig: ca.ClientConfig(), HandshakeTimeout: 5 * time.Second}
	c, _, err := d.Dial(s.WS+"/?name="+name, nil)
	if err != nil {
		t.Fatalf("WSS join: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	var m selfMsg
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if err := c.ReadJSON(&m); err != nil || m.Kind != "self-connected" {
		t.Fatalf("self-connected: %+v %v", m, err)
	}
	return c, m
}

// servedSerial makes a new TLS handshake with the server and returns the serial number of its certificate.
func servedSerial(t *testing.T, addr string, ca *certtest.CA) *big.Int {
	t.Helper()
	c, err := tls.Dial("tcp4", addr, ca.ClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber
}

// awaitKind reads messages until one of this kind, for up to 5 s.
func awaitKind(t *testing.T, c *websocket.Conn, kind string) map[string]any {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		var m map[string]any
		if err := c.ReadJSON(&m); err != nil {
			t.Fatalf("waiting for %s: %v", kind, err)
		}
		if m["kind"] == kind {
			return m
		}
	}
}

// The real binary with --tls-cert/--tls-key: HTTPS, WSS and turns: on one port; the certificate reloads on
// SIGHUP without dropping anyone, and a broken new pair leaves the old one in service.
func TestServeTLS(t *testing.T) {
	ca := certtest.New(t)
	dir := t.TempDir()
	certFile, keyFile, first := ca.WriteFiles(t, dir)
	s := lobbytest.Start(t, "--tls-cert", certFile, "--tls-key", keyFile)
	if !strings.HasPrefix(s.URL, "https://") {
		t.Fatalf("the listening line does not say https: %s", s.URL)
	}

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: ca.ClientConfig()}, Timeout: 5 * time.Second}
	resp, err := client.Get(s.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "<html") || resp.TLS.PeerCertificates[0].SerialNumber.Cmp(first) != 0 {
		t.Fatalf("GET / over HTTPS: %d, certificate %v (want %v)\n%.200s", resp.StatusCode,
			resp.TLS.PeerCertificates[0].SerialNumber, first, page)
	}

	ann, m := joinTLS(t, s, ca, "Ann")

	// turns: on the HTTPS port, instead of turn: over TCP there; TURN on its own port stays as it was.
	_, port, _ := net.SplitHostPort(s.Addr)
	var turns string
	for _, srv := range m.ICEServers {
		for _, u := range srv.URLs {
			if strings.HasSuffix(u, ":"+port+"?transport=tcp") {
				if !strings.HasPrefix(u, "turns:") {
					t.Errorf("%s: TURN on the HTTPS port should be turns:", u)
				}
				turns = u
			}
		}
	}
	if turns != "turns:127.0.0.1:"+port+"?transport=tcp" {
		t.Fatalf("no turns: URL on the HTTPS port in %+v", m.ICEServers)
	}
	tc, err := tls.Dial("tcp4", s.Addr, ca.ClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := relayOver(t, tc, s.Addr, m.ICEServers[1].Username, m.ICEServers[1].Credential); err != nil {
		t.Fatalf("TURN over TLS (%s): %v", turns, err)
	}

	// New certificate files, SIGHUP: new handshakes get the new certificate, Ann stays and hears Bob join.
	_, _, second := ca.WriteFiles(t, dir)
	reloaded := s.Expect(`msg="TLS certificate reloaded"`)
	if err := s.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, reloaded, "the reload")
	if got := servedSerial(t, s.Addr, ca); got.Cmp(second) != 0 {
		t.Fatalf("after SIGHUP a new handshake got certificate %v, want the new %v", got, second)
	}
	_, bob := joinTLS(t, s, ca, "Bob")
	if ev := awaitKind(t, ann, "connected"); ev["id"] != bob.ID {
		t.Fatalf("Ann heard %v, want Bob (%s) joining", ev, bob.ID)
	}
	if err := ann.WriteJSON(map[string]string{"kind": "ping"}); err != nil {
		t.Fatal(err)
	}
	awaitKind(t, ann, "pong")

	// A broken certificate file: an error in the log, the previous certificate still served, Ann still here.
	certtest.WriteFile(t, certFile, []byte("-----BEGIN CERTIFICATE-----\ntruncated"))
	refused := s.Expect(`TLS certificate not reloaded`)
	if err := s.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, refused, "the refused reload")
	if got := servedSerial(t, s.Addr, ca); got.Cmp(second) != 0 {
		t.Fatalf("after a broken file the server presents %v, want the previous %v", got, second)
	}
	if err := ann.WriteJSON(map[string]string{"kind": "ping"}); err != nil {
		t.Fatal(err)
	}
	awaitKind(t, ann, "pong")

	// Plain HTTP on the HTTPS port is told what is wrong.
	resp, err = http.Get("http://" + s.Addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("plain HTTP on the HTTPS port: %d, want 400", resp.StatusCode)
	}
}

func waitLog(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("the server did not log %s", what)
	}
}

// relayOver allocates through a TURN client on conn and relays a datagram to an echo peer and back.
func relayOver(t *testing.T, conn net.Conn, addr, user, pass string) error {
	t.Helper()
	cl, err := turn.NewClient(&turn.ClientConfig{TURNServerAddr: addr, STUNServerAddr: addr, Conn: turn.NewSTUNConn(conn),
		Username: user, Password: pass, RTO: 200 * time.Millisecond})
	if err != nil {
		return err
	}
	if err := cl.Listen(); err != nil {
		return err
	}
	defer cl.Close()
	relay, err := cl.Allocate()
	if err != nil {
		return err
	}
	defer relay.Close()
	echo, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer echo.Close()
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := echo.ReadFrom(buf)
			if err != nil {
				return
			}
			echo.WriteTo(buf[:n], from)
		}
	}()
	buf := make([]byte, 1500)
	for range 10 { // the first datagram may race the permission
		relay.WriteTo([]byte("over turns"), echo.LocalAddr())
		relay.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		if n, _, err := relay.ReadFrom(buf); err == nil && string(buf[:n]) == "over turns" {
			return nil
		}
	}
	return io.ErrNoProgress
}

// TLS with TURN off: HTTPS and WSS still work (the standard library's TLS listener).
func TestServeTLSWithoutTURN(t *testing.T) {
	ca := certtest.New(t)
	certFile, keyFile, _ := ca.WriteFiles(t, t.TempDir())
	s := lobbytest.Start(t, "--tls-cert", certFile, "--tls-key", keyFile, "--turn=false")
	if _, m := joinTLS(t, s, ca, "Ann"); m.ICEServers != nil {
		t.Errorf("--turn=false: iceServers %+v", m.ICEServers)
	}
}

func TestServeTLSBadSettings(t *testing.T) {
	dir := t.TempDir()
	ca := certtest.New(t)
	certFile, keyFile, _ := ca.WriteFiles(t, dir)
	for _, tc := range []struct {
		args []string
		env  map[string]string
		code int
		want string
	}{
		{[]string{"--tls-cert", certFile}, nil, 2, "--tls-cert and --tls-key go together"},
		{nil, map[string]string{"P2PLOBBY_TLS_KEY": keyFile}, 2, "--tls-cert and --tls-key go together"},
		{[]string{"--tls-cert", filepath.Join(dir, "missing.pem"), "--tls-key", keyFile}, nil, 1, "missing.pem"},
		{[]string{"--tls-cert", keyFile, "--tls-key", certFile}, nil, 1, "TLS certificate"},
	} {
		code, out := runCLI(t, tc.env, append([]string{"serve", "--addr", "127.0.0.1:0", "--turn=false"}, tc.args...)...)
		if code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("%v %v: exit %d, want %d with %q\n%s", tc.args, tc.env, code, tc.code, tc.want, out)
		}
	}
	// Both from the environment: served (runCLI stops it at once), and the URLs say https.
	code, out := runCLI(t, map[string]string{"P2PLOBBY_TLS_CERT": certFile, "P2PLOBBY_TLS_KEY": keyFile},
		"serve", "--addr", "127.0.0.1:0", "--turn=false")
	if code != 0 || !strings.Contains(out, "url=https://127.0.0.1:") || !strings.Contains(out, "  https://127.0.0.1:") {
		t.Errorf("TLS from the environment: exit %d\n%s", code, out)
	}
}

// Without SIGHUP: replaced certificate files are picked up by the periodic check (every 5 s, once a change
// has held for one more check).
func TestServeTLSReloadsChangedFiles(t *testing.T) {
	ca := certtest.New(t)
	dir := t.TempDir()
	certFile, keyFile, _ := ca.WriteFiles(t, dir)
	s := lobbytest.Start(t, "--tls-cert", certFile, "--tls-key", keyFile, "--turn=false")
	ann, _ := joinTLS(t, s, ca, "Ann")
	reloaded := s.Expect(`msg="TLS certificate reloaded"`)
	_, _, second := ca.WriteFiles(t, dir)
	select {
	case <-reloaded:
	case <-time.After(30 * time.Second):
		t.Fatal("changed certificate files were not reloaded")
	}
	if got := servedSerial(t, s.Addr, ca); got.Cmp(second) != 0 {
		t.Fatalf("after the files changed a new handshake got certificate %v, want %v", got, second)
	}
	if err := ann.WriteJSON(map[string]string{"kind": "ping"}); err != nil {
		t.Fatal(err)
	}
	awaitKind(t, ann, "pong")
}
