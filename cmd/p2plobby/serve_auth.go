package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/p2plobby/p2plobby/internal/auth"
)

// authConfig is the join-token settings of serve (docs/protocol.md, "Join tokens"). The secret is never logged.
type authConfig struct {
	secret    string
	publicKey string
	issuer    string
	audience  string
}

func (a *authConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&a.secret, "auth-secret", "", "admit only members with a join token signed with this HMAC `secret` (HS256/384/512, at least 32 bytes); prefer the environment variable, a flag shows in ps")
	fs.StringVar(&a.publicKey, "auth-public-key", "", "admit only members with a join token signed by the private key of this PEM public key `file` (RSA, ECDSA or Ed25519)")
	fs.StringVar(&a.issuer, "auth-issuer", "", "with join tokens: the `iss` every token must have (empty: not checked)")
	fs.StringVar(&a.audience, "auth-audience", "", "with join tokens: the `aud` every token must include (empty: not checked)")
}

// verifier returns the Verifier of the settings, or nil when join tokens are off.
func (a *authConfig) verifier() (*auth.Verifier, error) {
	if a.secret == "" && a.publicKey == "" {
		if a.issuer != "" || a.audience != "" {
			return nil, errors.New("--auth-issuer and --auth-audience need --auth-secret or --auth-public-key")
		}
		return nil, nil
	}
	cfg := auth.Config{Secret: []byte(a.secret), Issuer: a.issuer, Audience: a.audience}
	if a.publicKey != "" {
		pem, err := os.ReadFile(a.publicKey)
		if err != nil {
			return nil, fmt.Errorf("--auth-public-key: %v", err)
		}
		cfg.PublicKeyPEM = pem
	}
	v, err := auth.NewVerifier(cfg)
	if err != nil {
		return nil, fmt.Errorf("join tokens (--auth-secret, --auth-public-key): %v", err)
	}
	return v, nil
}
