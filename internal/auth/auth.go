// Package auth checks the join tokens of p2plobby (docs/protocol.md, "Join tokens"): signed, expiring JWTs
// (RFC 7519) that name a member and the rooms it may join. It does no I/O; the transport finds the token in the
// upgrade request and asks a Verifier, and `p2plobby token` mints tokens with Mint.
//
// A Verifier accepts only the algorithms of its own key: HS256/384/512 for a shared secret, RS* and PS* for an
// RSA key, the one ES* of an ECDSA key's curve, EdDSA for an Ed25519 key. So "alg":"none" and a token signed
// with HMAC under the bytes of a public key are refused like any forgery.
package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Limits and defaults.
const (
	// MaxTokenLen is the longest token looked at; longer ones are refused before any parsing.
	MaxTokenLen = 4096
	// MinSecretLen is the shortest HMAC secret accepted (RFC 7518 §3.2: at least the hash size of HS256).
	MinSecretLen = 32
	// MinRSABits is the smallest RSA key accepted (RFC 7518 §3.3).
	MinRSABits = 2048
	// DefaultLeeway is the clock skew allowed on exp, nbf and iat when Config.Leeway is zero.
	DefaultLeeway = 30 * time.Second
)

// Room names with a meaning of their own in the rooms claim. Every other entry is a room name as a client
// sends it in ?room= and matches exactly (case included).
const (
	AnyRoom     = "*"        // every room, the same-network group included
	NetworkRoom = "@network" // the same-network group (protocol.NetworkRoom)
)

// Errors returned by Verify. Each is wrapped with the reason; match with errors.Is.
var (
	// ErrInvalid means the token is malformed, too long, forged, signed with another algorithm or key, not yet
	// valid, for another issuer or audience, or names nobody.
	ErrInvalid = errors.New("auth: invalid token")
	// ErrExpired means the token's exp has passed (beyond the leeway).
	ErrExpired = errors.New("auth: token expired")
)

// Config is the key a Verifier checks signatures with, and the optional claim checks. Exactly one of Secret
// and PublicKeyPEM is set.
type Config struct {
	// Secret is the shared HMAC secret (HS256, HS384, HS512), at least MinSecretLen bytes.
	Secret []byte
	// PublicKeyPEM is a PEM public key ("PUBLIC KEY", "RSA PUBLIC KEY") or certificate: RSA (RS*, PS*), ECDSA
	// P-256/P-384/P-521 (ES256/ES384/ES512) or Ed25519 (EdDSA).
	PublicKeyPEM []byte
	// Issuer, when set, must equal the token's iss. Audience, when set, must be one of its aud.
	Issuer   string
	Audience string
	// Leeway is the clock skew allowed on exp, nbf and iat. Zero: DefaultLeeway; negative: none.
	Leeway time.Duration
	// Now is the clock; nil is time.Now. For tests.
	Now func() time.Time
}

// Verifier checks join tokens. It is safe for concurrent use.
type Verifier struct {
	key     any
	methods []string
	parser  *jwt.Parser
}

// Identity is what an admitted token says: who the member is and where it may go.
type Identity struct {
	Subject string   // the token's sub
	Name    string   // the display name: the name claim, else sub
	Rooms   []string // the rooms claim: room names, AnyRoom, NetworkRoom
	Expires time.Time
}

// Allows reports whether the identity may join room: a room name as the member is about to join it (the
// default room by its name, "lobby"), or NetworkRoom for the same-network group.
func (id *Identity) Allows(room string) bool {
	return slices.Contains(id.Rooms, AnyRoom) || slices.Contains(id.Rooms, room)
}

// claims is the payload of a join token.
type claims struct {
	Name  string           `json:"name,omitempty"`
	Rooms jwt.ClaimStrings `json:"rooms"` // a list, or one room as a plain string
	jwt.RegisteredClaims
}

// NewVerifier returns a Verifier for cfg's key.
func NewVerifier(cfg Config) (*Verifier, error) {
	v := &Verifier{}
	switch {
	case len(cfg.Secret) > 0 && len(cfg.PublicKeyPEM) > 0:
		return nil, errors.New("auth: give a secret or a public key, not both")
	case len(cfg.Secret) > 0:
		if len(cfg.Secret) < MinSecretLen {
			return nil, fmt.Errorf("auth: the secret has %d bytes; at least %d are needed (e.g. openssl rand -base64 32)", len(cfg.Secret), MinSecretLen)
		}
		v.key = slices.Clone(cfg.Secret)
		v.methods = []string{"HS256", "HS384", "HS512"}
	case len(cfg.PublicKeyPEM) > 0:
		key, methods, err := parsePublicKey(cfg.PublicKeyPEM)
		if err != nil {
			return nil, err
		}
		v.key, v.methods = key, methods
	default:
		return nil, errors.New("auth: no secret and no public key")
	}
	leeway := cfg.Leeway
	if leeway == 0 {
		leeway = DefaultLeeway
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(v.methods),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(max(leeway, 0)),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	if cfg.Now != nil {
		opts = append(opts, jwt.WithTimeFunc(cfg.Now))
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

// Methods returns the JWS algorithms the Verifier accepts.
func (v *Verifier) Methods() []string { return slices.Clone(v.methods) }

// Verify checks token's signature, algorithm and times, and returns the identity it names. The error wraps
// ErrExpired or ErrInvalid; its text never repeats the token.
func (v *Verifier) Verify(token string) (*Identity, error) {
	if len(token) > MaxTokenLen {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrInvalid, MaxTokenLen)
	}
	var c claims
	t, err := v.parser.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return v.key, nil })
	switch {
	case err != nil && t != nil && t.Method != nil && !slices.Contains(v.methods, t.Method.Alg()):
		// Before the signature: "none", or HMAC over the bytes of our public key, is refused by name.
		return nil, fmt.Errorf("%w: algorithm not accepted (want one of %s)", ErrInvalid, strings.Join(v.methods, ", "))
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, fmt.Errorf("%w", ErrExpired)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return nil, fmt.Errorf("%w: bad signature", ErrInvalid)
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return nil, fmt.Errorf("%w: not valid yet", ErrInvalid)
	case errors.Is(err, jwt.ErrTokenInvalidIssuer), errors.Is(err, jwt.ErrTokenInvalidAudience):
		return nil, fmt.Errorf("%w: for another issuer or audience", ErrInvalid)
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return nil, fmt.Errorf("%w: a required claim is missing (exp, or the iss or aud the server checks)", ErrInvalid)
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return nil, fmt.Errorf("%w: algorithm not accepted (want one of %s)", ErrInvalid, strings.Join(v.methods, ", "))
	case err != nil:
		return nil, fmt.Errorf("%w: malformed", ErrInvalid)
	}
	id := &Identity{Subject: c.Subject, Name: c.Name, Rooms: c.Rooms, Expires: c.ExpiresAt.Time}
	if id.Name == "" {
		id.Name = c.Subject
	}
	if id.Name == "" {
		return nil, fmt.Errorf("%w: names nobody (no name, no sub)", ErrInvalid)
	}
	return id, nil
}

// parsePublicKey reads a PEM public key or certificate and returns it with the algorithms it verifies.
func parsePublicKey(data []byte) (any, []string, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, nil, errors.New("auth: the public key file holds no PEM block")
	}
	var key any
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			key = cert.PublicKey
		}
	default:
		return nil, nil, fmt.Errorf("auth: a %q PEM block is not a public key (want PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE)", block.Type)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("auth: public key: %w", err)
	}
	switch k := key.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < MinRSABits {
			return nil, nil, fmt.Errorf("auth: the RSA key has %d bits; at least %d are needed", k.N.BitLen(), MinRSABits)
		}
		return k, []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}, nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return k, []string{"ES256"}, nil
		case elliptic.P384():
			return k, []string{"ES384"}, nil
		case elliptic.P521():
			return k, []string{"ES512"}, nil
		}
		return nil, nil, errors.New("auth: the ECDSA key is not on P-256, P-384 or P-521")
	case ed25519.PublicKey:
		return k, []string{"EdDSA"}, nil
	}
	return nil, nil, fmt.Errorf("auth: unsupported public key type %T", key)
}
