package turn

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// Credentials mints TURN credentials in the TURN REST API scheme (draft-uberti-behave-turn-rest-00), which
// coturn calls use-auth-secret: the username is "EXPIRY:MEMBERID" (EXPIRY in Unix seconds) and the password
// is base64(HMAC-SHA1(secret, username)). Whoever knows the secret can check a credential without asking
// anyone, so the same scheme serves the embedded server and an external coturn. It is safe for concurrent use.
type Credentials struct {
	secret []byte
	ttl    time.Duration
}

// NewCredentials returns a minter for secret whose credentials live for ttl.
func NewCredentials(secret []byte, ttl time.Duration) *Credentials {
	return &Credentials{secret: secret, ttl: ttl}
}

// TTL is how long a minted credential stays valid for new allocations.
func (c *Credentials) TTL() time.Duration { return c.ttl }

// Mint returns a credential for member id that expires ttl after now.
func (c *Credentials) Mint(id string, now time.Time) (username, password string, expires time.Time) {
	expires = now.Add(c.ttl).Truncate(time.Second)
	username = strconv.FormatInt(expires.Unix(), 10) + ":" + id
	return username, c.Password(username), expires
}

// Password returns the password that belongs to username under this secret.
func (c *Credentials) Password(username string) string {
	mac := hmac.New(sha1.New, c.secret)
	mac.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// ParseUsername splits a TURN REST username into its expiry and member id.
func ParseUsername(username string) (expires time.Time, id string, ok bool) {
	ts, id, found := strings.Cut(username, ":")
	if !found || id == "" || len(ts) > 12 {
		return time.Time{}, "", false
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sec <= 0 {
		return time.Time{}, "", false
	}
	return time.Unix(sec, 0), id, true
}
