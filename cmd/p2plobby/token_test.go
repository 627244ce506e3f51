package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/p2plobby/p2plobby/internal/auth"
	"github.com/p2plobby/p2plobby/peer"
)

const testAuthSecret = "test secret of the join tokens, 32+ bytes"

func TestTokenCommand(t *testing.T) {
	env := map[string]string{"P2PLOBBY_AUTH_SECRET": testAuthSecret, "P2PLOBBY_ROOM": "from-env"}
	code, out := runCLI(t, env, "token", "--room", "team,lobby", "--room", "@network", "--name", "Alice", "--sub", "u-42", "--ttl", "10m")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	v, err := auth.NewVerifier(auth.Config{Secret: []byte(testAuthSecret)})
	if err != nil {
		t.Fatal(err)
	}
	id, err := v.Verify(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("%v: %q", err, out)
	}
	if id.Name != "Alice" || id.Subject != "u-42" || strings.Join(id.Rooms, " ") != "team lobby @network" {
		t.Fatalf("identity %+v (the command line's rooms replace the environment's)", id)
	}
	if d := time.Until(id.Expires); d > 10*time.Minute || d < 9*time.Minute {
		t.Fatalf("expires in %v, want 10m", d)
	}
	if code, out := runCLI(t, env, "token", "--name", "Bob"); code != 0 {
		t.Fatalf("rooms from the environment: exit %d\n%s", code, out)
	}
	strict, _ := auth.NewVerifier(auth.Config{Secret: []byte(testAuthSecret), Issuer: "app", Audience: "lobby"})
	_, out = runCLI(t, env, "token", "--name", "Bob", "--auth-issuer", "app", "--auth-audience", "lobby")
	if _, err := strict.Verify(strings.TrimSpace(out)); err != nil {
		t.Fatalf("--auth-issuer, --auth-audience: %v", err)
	}
	for _, tc := range []struct {
		env  map[string]string
		args []string
	}{
		{nil, []string{"--room", "team", "--name", "A"}},                                                // no secret
		{map[string]string{"P2PLOBBY_AUTH_SECRET": "short"}, []string{"--room", "team", "--name", "A"}}, // too short
		{map[string]string{"P2PLOBBY_AUTH_SECRET": testAuthSecret}, []string{"--name", "A"}},            // no room
		{map[string]string{"P2PLOBBY_AUTH_SECRET": testAuthSecret}, []string{"--room", "team"}},         // nobody
		{map[string]string{"P2PLOBBY_AUTH_SECRET": testAuthSecret}, []string{"--room", "a b", "--name", "A"}},
		{map[string]string{"P2PLOBBY_AUTH_SECRET": testAuthSecret}, []string{"--room", "t", "--name", "A", "--ttl", "-1h"}},
	} {
		if code, out := runCLI(t, tc.env, append([]string{"token"}, tc.args...)...); code != exitUsage {
			t.Errorf("%v %v: exit %d, want 2\n%s", tc.env, tc.args, code, out)
		}
	}
}

func TestServeRejectsBadAuthSettings(t *testing.T) {
	dir := t.TempDir()
	notKey := filepath.Join(dir, "not-a-key.pem")
	os.WriteFile(notKey, []byte("hello"), 0o600)
	for _, tc := range []struct {
		env  map[string]string
		args []string
	}{
		{map[string]string{"P2PLOBBY_AUTH_SECRET": "short"}, nil},
		{nil, []string{"--auth-public-key", filepath.Join(dir, "missing.pem")}},
		{nil, []string{"--auth-public-key", notKey}},
		{map[string]string{"P2PLOBBY_AUTH_SECRET": testAuthSecret}, []string{"--auth-public-key", notKey}},
		{nil, []string{"--auth-issuer", "me"}}, // without a key
	} {
		code, out := runCLI(t, tc.env, append([]string{"serve", "--addr", "127.0.0.1:0", "--turn=false"}, tc.args...)...)
		if code != 2 {
			t.Errorf("%v %v: exit %d, want 2\n%s", tc.env, tc.args, code, out)
		}
		if strings.Contains(out, "short") {
			t.Errorf("the secret was printed:\n%s", out)
		}
	}
}

// serveInProcess runs `p2plobby serve` with env until the test ends and returns its ws:// URL and log.
func serveInProcess(t *testing.T, env map[string]string, args ...string) (string, *lockedBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &lockedBuffer{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		args = append([]string{"serve", "--addr", "127.0.0.1:0", "--turn-addr", "127.0.0.1:0", "--log-level", "debug"}, args...)
		run(ctx, args, func(k string) string { return env[k] }, strings.NewReader(""), out, out)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, after, ok := strings.Cut(out.String(), "msg=listening addr="); ok {
			addr, _, _ := strings.Cut(after, "\n")
			addr, _, _ = strings.Cut(addr, " ")
			return "ws://" + addr, out
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start:\n%s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The whole path: a server with P2PLOBBY_AUTH_SECRET, tokens from `p2plobby token`, the Go peer and a peer
// command presenting them; the member named by its token; refusals with close code 4004; the secret never in
// the log.
func TestServeWithJoinTokens(t *testing.T) {
	env := map[string]string{"P2PLOBBY_AUTH_SECRET": testAuthSecret}
	ws, log := serveInProcess(t, env)
	mintCLI := func(args ...string) string {
		t.Helper()
		code, out := runCLI(t, env, append([]string{"token"}, args...)...)
		if code != 0 {
			t.Fatalf("token %v: exit %d\n%s", args, code, out)
		}
		return strings.TrimSpace(out)
	}
	alice := mintCLI("--room", "team", "--name", "Alice")
	dial := func(room, name, token string) (*peer.Client, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := peer.Dial(ctx, ws, &peer.Options{Room: room, Name: name, Token: token, Loopback: true})
		if err == nil {
			t.Cleanup(func() { c.Close() })
		}
		return c, err
	}
	a, err := dial("team", "Mallory", alice)
	if err != nil {
		t.Fatal(err)
	}
	if a.Name() != "Alice" {
		t.Fatalf("name %q, want the token's", a.Name())
	}
	for _, tc := range []struct{ room, token, code string }{
		{"team", "", "token-missing"},
		{"other", alice, "token-room"},
		{"team", alice[:len(alice)-4] + "AAAA", "token-invalid"},
	} {
		_, err := dial(tc.room, "x", tc.token)
		var se *peer.ServerError
		if !errors.As(err, &se) || se.Code != tc.code || se.CloseCode != 4004 {
			t.Errorf("room %s: %v, want %s and close 4004", tc.room, err, tc.code)
		}
	}
	// A peer command with --token sees Alice; without one it is refused.
	r := runPeerCLI(context.Background(), ws, nil, "list", "--room", "team", "--token", mintCLI("--room", "team", "--name", "Bob"))
	if r.code != 0 || !strings.Contains(r.stdout.String(), "Alice") {
		t.Fatalf("list --token: %s", r)
	}
	if r := runPeerCLI(context.Background(), ws, nil, "list", "--room", "team"); r.code != exitConnection || !strings.Contains(r.stderr.String(), "token-missing") {
		t.Fatalf("list without a token: %s", r)
	}
	// netcheck with --token gets TURN credentials (a member of the room), without one only the refusal.
	r = runPeerCLI(context.Background(), ws, nil, "netcheck", "--server", ws, "--json", "--timeout", "3s", "--room", "team",
		"--token", mintCLI("--room", "team", "--name", "check"))
	var report struct {
		Lobby struct{ Error string }
		TURN  []struct{ Error string }
	}
	if err := json.Unmarshal([]byte(r.stdout.String()), &report); err != nil || report.Lobby.Error != "" || len(report.TURN) == 0 {
		t.Fatalf("netcheck --token: %v %+v\n%s", err, report, r)
	}
	r = runPeerCLI(context.Background(), ws, nil, "netcheck", "--server", ws, "--json", "--timeout", "3s")
	if err := json.Unmarshal([]byte(r.stdout.String()), &report); err != nil || !strings.Contains(report.Lobby.Error, "token-missing") {
		t.Fatalf("netcheck without a token: %v %+v\n%s", err, report, r)
	}
	if !strings.Contains(log.String(), "join tokens required") || !strings.Contains(log.String(), "join token refused") {
		t.Errorf("log lacks the auth lines:\n%s", log)
	}
	if strings.Contains(log.String(), testAuthSecret) || strings.Contains(log.String(), alice) {
		t.Errorf("the log shows the secret or a token:\n%s", log)
	}
}

// An Ed25519 public key file: a token signed by the backend's private key admits; one signed with HMAC under
// the public key's bytes does not.
func TestServeWithPublicKey(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(pub)
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	file := filepath.Join(t.TempDir(), "lobby.pub")
	if err := os.WriteFile(file, pemBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	ws, _ := serveInProcess(t, nil, "--auth-public-key", file, "--auth-issuer", "my-app")
	good, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{"sub": "u1", "name": "Dana", "rooms": []string{"*"},
		"iss": "my-app", "exp": time.Now().Add(time.Hour).Unix()}).SignedString(priv)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := peer.Dial(ctx, ws, &peer.Options{Room: "any", Token: good, Loopback: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Name() != "Dana" {
		t.Fatalf("name %q", c.Name())
	}
	// HMAC under the public key file's bytes: the classic algorithm confusion.
	confused, err := auth.Mint(pemBytes, auth.Grant{Name: "Eve", Rooms: []string{"*"}, TTL: time.Hour, Issuer: "my-app"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = peer.Dial(ctx, ws, &peer.Options{Room: "any", Token: confused, Loopback: true})
	var se *peer.ServerError
	if !errors.As(err, &se) || se.Code != "token-invalid" || se.CloseCode != 4004 {
		t.Fatalf("HS256 under the public key: %v", err)
	}
}
