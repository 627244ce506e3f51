package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/p2plobby/p2plobby/internal/protocol"
)

// Grant is what a minted token says.
type Grant struct {
	Subject  string        // sub: who the member is (a user id); default Name
	Name     string        // the display name; empty: the member shows Subject
	Rooms    []string      // room names, AnyRoom or NetworkRoom; at least one
	TTL      time.Duration // how long the token admits, from Now; must be positive
	Issuer   string        // iss, when the server checks it (--auth-issuer)
	Audience string        // aud, when the server checks it (--auth-audience)
	Now      time.Time     // iat and nbf; zero: time.Now()
}

// Mint signs g with secret using HS256, the token `p2plobby token` prints. An application's backend can do the
// same with any JWT library (docs/deploy.md).
func Mint(secret []byte, g Grant) (string, error) {
	if len(secret) < MinSecretLen {
		return "", fmt.Errorf("auth: the secret has %d bytes; at least %d are needed", len(secret), MinSecretLen)
	}
	if g.Subject == "" {
		g.Subject = g.Name
	}
	switch {
	case g.Subject == "":
		return "", errors.New("auth: a token needs a name or a subject")
	case len(g.Rooms) == 0:
		return "", errors.New("auth: a token needs at least one room")
	case g.TTL <= 0:
		return "", errors.New("auth: a token needs a positive lifetime")
	}
	for _, r := range g.Rooms {
		if r != AnyRoom && r != NetworkRoom && !protocol.ValidRoom(r) {
			return "", fmt.Errorf("auth: %q is not a room name (1-64 of A-Z a-z 0-9 - _ .), %q or %q", r, AnyRoom, NetworkRoom)
		}
	}
	now := g.Now
	if now.IsZero() {
		now = time.Now()
	}
	c := struct {
		Name  string   `json:"name,omitempty"`
		Rooms []string `json:"rooms"`
		jwt.RegisteredClaims
	}{Name: g.Name, Rooms: g.Rooms, RegisteredClaims: jwt.RegisteredClaims{
		Subject:   g.Subject,
		Issuer:    g.Issuer,
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(g.TTL)),
	}}
	if g.Audience != "" {
		c.Audience = jwt.ClaimStrings{g.Audience}
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("auth: %w", err)
	}
	if len(s) > MaxTokenLen {
		return "", fmt.Errorf("auth: the token would be %d bytes, over the %d a server accepts", len(s), MaxTokenLen)
	}
	return s, nil
}
