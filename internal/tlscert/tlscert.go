// Package tlscert holds a server's TLS certificate and reloads it from its PEM files without a restart: when
// Reload is called (the server does on SIGHUP) and when Watch sees the files change. Handshakes take the
// current certificate through [Cert.GetCertificate], so connections already open keep their session and only
// new ones get the new certificate. A pair that does not load (unreadable, unparsable, key and certificate
// not matching, expired) leaves the current one in place.
package tlscert

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrExpired is returned (wrapped) for a certificate outside its validity period.
var ErrExpired = errors.New("certificate is not valid now")

// soon is how long before expiry a loaded certificate draws a warning.
const soon = 7 * 24 * time.Hour

// Cert is a certificate and key loaded from two PEM files, safe for concurrent use. Create it with Load.
type Cert struct {
	certFile, keyFile string
	log               *slog.Logger
	cur               atomic.Pointer[tls.Certificate]

	mu   sync.Mutex // one reload at a time
	seen stamp      // the files as they were when last loaded or tried
}

// stamp identifies a version of the two files, as far as os.Stat can tell (through symlinks, so certbot's
// live/ links count).
type stamp struct {
	certMod, keyMod   time.Time
	certSize, keySize int64
	err               bool // one of them could not be stat'ed
}

func stampOf(certFile, keyFile string) stamp {
	var s stamp
	if fi, err := os.Stat(certFile); err == nil {
		s.certMod, s.certSize = fi.ModTime(), fi.Size()
	} else {
		s.err = true
	}
	if fi, err := os.Stat(keyFile); err == nil {
		s.keyMod, s.keySize = fi.ModTime(), fi.Size()
	} else {
		s.err = true
	}
	return s
}

// Load reads the certificate chain (leaf first) from certFile and its private key from keyFile. log gets a
// line for each certificate loaded and, from Watch, each failed reload; nil discards.
func Load(certFile, keyFile string, log *slog.Logger) (*Cert, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Cert{certFile: certFile, keyFile: keyFile, log: log}
	if err := c.Reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// Reload reads the files again. On success new handshakes use the new certificate; on error the current one
// stays and the error says why.
func (c *Cert) Reload() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen = stampOf(c.certFile, c.keyFile) // before reading: a change made meanwhile is seen by Watch
	kp, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("TLS certificate %s, key %s: %w", c.certFile, c.keyFile, err)
	}
	leaf := kp.Leaf // parsed by LoadX509KeyPair
	now := time.Now()
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return fmt.Errorf("TLS certificate %s: %w (valid from %s to %s)", c.certFile, ErrExpired,
			leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	old := c.cur.Swap(&kp)
	names := strings.Join(leaf.DNSNames, ",")
	for _, ip := range leaf.IPAddresses {
		names = strings.TrimPrefix(names+","+ip.String(), ",")
	}
	msg := "TLS certificate loaded"
	if old != nil {
		msg = "TLS certificate reloaded"
	}
	c.log.Info(msg, "file", c.certFile, "names", names, "serial", leaf.SerialNumber.Text(16),
		"expires", leaf.NotAfter.UTC().Format(time.RFC3339))
	if leaf.NotAfter.Sub(now) < soon {
		c.log.Warn("TLS certificate expires soon: renew it (the server reloads it on SIGHUP or when the files change)",
			"file", c.certFile, "expires", leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// Certificate returns the current certificate.
func (c *Cert) Certificate() *tls.Certificate { return c.cur.Load() }

// GetCertificate is for tls.Config.GetCertificate: every handshake gets the current certificate.
func (c *Cert) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.cur.Load(), nil
}

// Watch reloads the certificate when its files change, until ctx ends. It looks every interval and reloads
// once a change has stayed the same for one more look, so that a pair being rewritten (certificate first,
// key a moment later) is read once it is complete. A failed reload is logged at error; it is tried again
// when the files change again.
func (c *Cert) Watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var pending *stamp
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := stampOf(c.certFile, c.keyFile)
		c.mu.Lock()
		same := now == c.seen
		c.mu.Unlock()
		switch {
		case same:
			pending = nil
		case pending == nil || *pending != now:
			pending = &now // changed: look once more before reading
		default:
			pending = nil
			if err := c.Reload(); err != nil {
				c.log.Error("TLS certificate not reloaded, keeping the previous one", "err", err)
			}
		}
	}
}
