package peer

import (
	"context"
	"errors"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/p2plobby/p2plobby/internal/auth"
	"github.com/p2plobby/p2plobby/internal/lobbytest"
)

// Options.Token joins a lobby that requires join tokens, under the token's name; the caller's Header is sent
// too and left as it was.
func TestDialWithToken(t *testing.T) {
	t.Parallel()
	if os.Getenv("P2PLOBBY_TEST_WS") != "" {
		t.Skip("the seed's server has no join tokens")
	}
	secret := []byte("the peer package's test secret, 32+ bytes")
	s := lobbytest.Start(t, "--auth-secret", string(secret))
	tok, err := auth.Mint(secret, auth.Grant{Name: "Tokened", Rooms: []string{"t"}, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hdr := http.Header{"Origin": {s.URL}}
	c, err := Dial(ctx, s.WS, &Options{Room: "t", Name: "Asked", Token: tok, Header: hdr, Loopback: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Name() != "Tokened" {
		t.Errorf("name %q, want the token's", c.Name())
	}
	if len(hdr) != 1 {
		t.Errorf("the caller's Header was changed: %v", hdr)
	}
	_, err = Dial(ctx, s.WS, &Options{Room: "t", Name: "Asked", Loopback: true})
	var se *ServerError
	if !errors.As(err, &se) || se.Code != "token-missing" || se.CloseCode != 4004 {
		t.Errorf("without a token: %v", err)
	}
}
