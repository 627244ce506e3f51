package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var secret = []byte("0123456789abcdef0123456789abcdef") // 32 bytes

func pemOf(t *testing.T, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func sign(t *testing.T, m jwt.SigningMethod, key any, c jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// good is a token's claims as docs/deploy.md shows a backend making them.
func good() jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{"sub": "u1", "name": "Alice", "rooms": []string{"team"}, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
}

func with(c jwt.MapClaims, k string, v any) jwt.MapClaims {
	c[k] = v
	return c
}

func mustVerifier(t *testing.T, cfg Config) *Verifier {
	t.Helper()
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestVerifyHMAC(t *testing.T) {
	v := mustVerifier(t, Config{Secret: secret})
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	tests := []struct {
		name  string
		token string
		want  error // nil: admitted
	}{
		{"valid HS256", sign(t, jwt.SigningMethodHS256, secret, good()), nil},
		{"valid HS512", sign(t, jwt.SigningMethodHS512, secret, good()), nil},
		{"wrong secret", sign(t, jwt.SigningMethodHS256, []byte("another secret, also 32 bytes...."), good()), ErrInvalid},
		{"expired", sign(t, jwt.SigningMethodHS256, secret, with(good(), "exp", time.Now().Add(-time.Minute).Unix())), ErrExpired},
		{"expired within leeway", sign(t, jwt.SigningMethodHS256, secret, with(good(), "exp", time.Now().Add(-5*time.Second).Unix())), nil},
		{"not yet valid", sign(t, jwt.SigningMethodHS256, secret, with(good(), "nbf", time.Now().Add(time.Minute).Unix())), ErrInvalid},
		{"issued in the future", sign(t, jwt.SigningMethodHS256, secret, with(good(), "iat", time.Now().Add(time.Hour).Unix())), ErrInvalid},
		{"no exp", sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "u1", "rooms": "team"}), ErrInvalid},
		{"names nobody", sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"rooms": "team", "exp": time.Now().Add(time.Hour).Unix()}), ErrInvalid},
		{"alg none", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, good()), ErrInvalid},
		{"RS256 against a secret", sign(t, jwt.SigningMethodRS256, rsaKey, good()), ErrInvalid},
		{"garbage", "not.a.token", ErrInvalid},
		{"empty", "", ErrInvalid},
		{"oversized", sign(t, jwt.SigningMethodHS256, secret, with(good(), "pad", strings.Repeat("x", MaxTokenLen))), ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := v.Verify(tt.token)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if id.Name != "Alice" || id.Subject != "u1" || !id.Allows("team") || id.Allows("other") {
					t.Fatalf("identity %+v", id)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if strings.Contains(err.Error(), tt.token) && tt.token != "" {
				t.Fatalf("error repeats the token: %v", err)
			}
		})
	}
}

// A forged token: the payload changed (another room) under the original signature.
func TestVerifyTamperedPayload(t *testing.T) {
	v := mustVerifier(t, Config{Secret: secret})
	tok := sign(t, jwt.SigningMethodHS256, secret, good())
	parts := strings.Split(tok, ".")
	forged := good()
	forged["rooms"] = []string{"*"}
	other := strings.Split(sign(t, jwt.SigningMethodHS256, []byte("attacker's own secret, 32 bytes."), forged), ".")
	if _, err := v.Verify(parts[0] + "." + other[1] + "." + parts[2]); !errors.Is(err, ErrInvalid) {
		t.Fatalf("tampered payload: %v", err)
	}
	if _, err := v.Verify(tok); err != nil {
		t.Fatalf("original: %v", err)
	}
}

func TestVerifyPublicKeys(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	edPub, edKey, _ := ed25519.GenerateKey(rand.Reader)
	_, otherEd, _ := ed25519.GenerateKey(rand.Reader)
	rsaPEM, ecPEM, edPEM := pemOf(t, &rsaKey.PublicKey), pemOf(t, &ecKey.PublicKey), pemOf(t, edPub)
	tests := []struct {
		name  string
		pem   []byte
		token string
		ok    bool
	}{
		{"RS256", rsaPEM, sign(t, jwt.SigningMethodRS256, rsaKey, good()), true},
		{"PS384", rsaPEM, sign(t, jwt.SigningMethodPS384, rsaKey, good()), true},
		{"HS256 keyed with the RSA public key PEM", rsaPEM, sign(t, jwt.SigningMethodHS256, rsaPEM, good()), false},
		{"ES256", ecPEM, sign(t, jwt.SigningMethodES256, ecKey, good()), true},
		{"ES384 against a P-256 key", ecPEM, sign(t, jwt.SigningMethodES384, ec384, good()), false},
		{"HS256 keyed with the EC public key PEM", ecPEM, sign(t, jwt.SigningMethodHS256, ecPEM, good()), false},
		{"EdDSA", edPEM, sign(t, jwt.SigningMethodEdDSA, edKey, good()), true},
		{"EdDSA with another key", edPEM, sign(t, jwt.SigningMethodEdDSA, otherEd, good()), false},
		{"HS256 keyed with the Ed25519 public key PEM", edPEM, sign(t, jwt.SigningMethodHS256, edPEM, good()), false},
		{"HS256 keyed with the raw Ed25519 key", edPEM, sign(t, jwt.SigningMethodHS256, []byte(edPub), good()), false},
		{"alg none against Ed25519", edPEM, sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, good()), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := mustVerifier(t, Config{PublicKeyPEM: tt.pem})
			_, err := v.Verify(tt.token)
			if tt.ok != (err == nil) {
				t.Fatalf("ok=%v, err=%v", tt.ok, err)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Fatalf("err %v does not wrap ErrInvalid", err)
			}
		})
	}
}

func TestNewVerifierRefusesWeakOrAmbiguousKeys(t *testing.T) {
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	for name, cfg := range map[string]Config{
		"nothing":      {},
		"short secret": {Secret: []byte("short")},
		"both":         {Secret: secret, PublicKeyPEM: pemOf(t, edPub)},
		"RSA 1024":     {PublicKeyPEM: pemOf(t, &small.PublicKey)},
		"not PEM":      {PublicKeyPEM: []byte("hello")},
		"private key":  {PublicKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}})},
	} {
		if _, err := NewVerifier(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestIssuerAudienceAndRoomForms(t *testing.T) {
	v := mustVerifier(t, Config{Secret: secret, Issuer: "app", Audience: "lobby"})
	c := with(with(good(), "iss", "app"), "aud", "lobby")
	c["rooms"] = "solo" // one room as a plain string
	delete(c, "name")
	id, err := v.Verify(sign(t, jwt.SigningMethodHS256, secret, c))
	if err != nil {
		t.Fatal(err)
	}
	if id.Name != "u1" || !id.Allows("solo") || id.Allows("team") {
		t.Fatalf("identity %+v: want the name from sub and the one room", id)
	}
	for k, bad := range map[string]any{"iss": "someone else", "aud": "another service"} {
		if _, err := v.Verify(sign(t, jwt.SigningMethodHS256, secret, with(good(), k, bad))); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s=%v: %v", k, bad, err)
		}
	}
	any := &Identity{Rooms: []string{AnyRoom}}
	if !any.Allows("x") || !any.Allows(NetworkRoom) {
		t.Fatal("* must allow every room")
	}
}

func TestMintRoundTrip(t *testing.T) {
	now := time.Now()
	clock := now
	v := mustVerifier(t, Config{Secret: secret, Issuer: "i", Audience: "a", Leeway: -1, Now: func() time.Time { return clock }})
	tok, err := Mint(secret, Grant{Name: "Bob", Rooms: []string{"team", NetworkRoom}, TTL: time.Hour, Issuer: "i", Audience: "a", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	id, err := v.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if id.Name != "Bob" || id.Subject != "Bob" || !id.Allows("team") || !id.Allows(NetworkRoom) || id.Allows("lobby") {
		t.Fatalf("identity %+v", id)
	}
	// The payload lists rooms as an array, as docs/protocol.md shows.
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	if !strings.Contains(string(payload), `"rooms":["team","@network"]`) {
		t.Fatalf("payload %s", payload)
	}
	clock = now.Add(time.Hour + time.Second)
	if _, err := v.Verify(tok); !errors.Is(err, ErrExpired) {
		t.Fatalf("after the TTL: %v", err)
	}
	for name, g := range map[string]Grant{
		"no rooms":  {Name: "x", TTL: time.Hour},
		"no name":   {Rooms: []string{"a"}, TTL: time.Hour},
		"no ttl":    {Name: "x", Rooms: []string{"a"}},
		"bad room":  {Name: "x", Rooms: []string{"a b"}, TTL: time.Hour},
		"oversized": {Name: "x", Rooms: []string{strings.Repeat("r", 64), strings.Repeat("r", 64)}, TTL: time.Hour, Issuer: strings.Repeat("i", MaxTokenLen)},
	} {
		if _, err := Mint(secret, g); err == nil {
			t.Errorf("%s: minted", name)
		}
	}
	if _, err := Mint([]byte("short"), Grant{Name: "x", Rooms: []string{"a"}, TTL: time.Hour}); err == nil {
		t.Error("short secret: minted")
	}
}
