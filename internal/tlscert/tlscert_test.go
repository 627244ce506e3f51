package tlscert

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/p2plobby/p2plobby/internal/certtest"
)

// echoServer serves TLS with c on loopback, echoing lines back.
func echoServer(t *testing.T, c *Cert) string {
	t.Helper()
	ln, err := tls.Listen("tcp4", "127.0.0.1:0", &tls.Config{GetCertificate: c.GetCertificate, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				io.Copy(conn, conn)
			}()
		}
	}()
	return ln.Addr().String()
}

// served dials addr and returns the serial number of the certificate the server presents.
func served(t *testing.T, ca *certtest.CA, addr string) (*tls.Conn, *big.Int) {
	t.Helper()
	conn, err := tls.Dial("tcp4", addr, ca.ClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, conn.ConnectionState().PeerCertificates[0].SerialNumber
}

func echo(conn net.Conn, line string) error {
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, line+"\n"); err != nil {
		return err
	}
	got, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if got != line+"\n" {
		return errors.New("echo mismatch: " + got)
	}
	return nil
}

func TestReloadKeepsOpenConnectionsAndServesTheNewCertificate(t *testing.T) {
	ca := certtest.New(t)
	dir := t.TempDir()
	certFile, keyFile, first := ca.WriteFiles(t, dir)
	c, err := Load(certFile, keyFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := echoServer(t, c)
	before, serial := served(t, ca, addr)
	if serial.Cmp(first) != 0 {
		t.Fatalf("served serial %v, want %v", serial, first)
	}

	_, _, second := ca.WriteFiles(t, dir)
	if err := c.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, serial := served(t, ca, addr); serial.Cmp(second) != 0 {
		t.Errorf("after Reload a new handshake got serial %v, want the new %v", serial, second)
	}
	if err := echo(before, "still here"); err != nil {
		t.Errorf("a connection made before the reload: %v", err)
	}
}

func TestBadPairKeepsTheCurrentCertificate(t *testing.T) {
	ca := certtest.New(t)
	dir := t.TempDir()
	certFile, keyFile, first := ca.WriteFiles(t, dir)
	c, err := Load(certFile, keyFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	otherCert, otherKey, _ := ca.Issue(t, time.Time{})
	expiredCert, expiredKey, _ := ca.Issue(t, time.Now().Add(-time.Minute))
	for _, tc := range []struct {
		name      string
		cert, key []byte
		want      string
	}{
		{"garbage certificate", []byte("not a certificate"), otherKey, "failed to find any PEM data"},
		{"half a certificate", otherCert[:len(otherCert)/2], otherKey, "failed to find any PEM data"},
		{"key of another certificate", otherCert, mustKey(t, ca), "private key does not match"},
		{"empty key", otherCert, nil, "failed to find any PEM data"},
		{"expired", expiredCert, expiredKey, "certificate is not valid now"},
	} {
		certtest.WriteFile(t, certFile, tc.cert)
		certtest.WriteFile(t, keyFile, tc.key)
		err := c.Reload()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Reload = %v, want an error with %q", tc.name, err, tc.want)
		}
		if got := c.Certificate().Leaf.SerialNumber; got.Cmp(first) != 0 {
			t.Errorf("%s: serving serial %v, want the previous %v", tc.name, got, first)
		}
	}
	if err := c.Reload(); !errors.Is(err, ErrExpired) {
		t.Errorf("expired: %v, want ErrExpired", err)
	}
}

func mustKey(t *testing.T, ca *certtest.CA) []byte {
	_, key, _ := ca.Issue(t, time.Time{})
	return key
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(filepath.Join(dir, "none.pem"), filepath.Join(dir, "none.key"), nil); err == nil ||
		!strings.Contains(err.Error(), "none.pem") {
		t.Errorf("missing files: %v", err)
	}
}

// syncBuffer is a log destination read while the watcher writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestWatchReloadsChangedFiles(t *testing.T) {
	ca := certtest.New(t)
	dir := t.TempDir()
	certFile, keyFile, _ := ca.WriteFiles(t, dir)
	var logs syncBuffer
	c, err := Load(certFile, keyFile, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Watch(ctx, 20*time.Millisecond); close(done) }()
	defer func() { cancel(); <-done }()
	serial := func() *big.Int { return c.Certificate().Leaf.SerialNumber }

	_, _, second := ca.WriteFiles(t, dir)
	waitFor(t, "the changed files to be loaded", func() bool { return serial().Cmp(second) == 0 })

	// A broken certificate: an error in the log, the current one stays.
	certtest.WriteFile(t, certFile, []byte("-----BEGIN CERTIFICATE-----\nbroken"))
	waitFor(t, "the failed reload to be logged", func() bool { return strings.Contains(logs.String(), "level=ERROR") })
	if serial().Cmp(second) != 0 {
		t.Fatalf("after a broken file: serial %v, want %v", serial(), second)
	}
	if n := strings.Count(logs.String(), "level=ERROR"); n != 1 {
		t.Errorf("the broken pair was reported %d times, want once until the files change again:\n%s", n, logs.String())
	}

	// Fixed again: loaded.
	_, _, third := ca.WriteFiles(t, dir)
	waitFor(t, "the fixed files to be loaded", func() bool { return serial().Cmp(third) == 0 })
	if !strings.Contains(logs.String(), `msg="TLS certificate reloaded"`) {
		t.Errorf("no reload in the log:\n%s", logs.String())
	}
}

func TestWarnsWhenExpiringSoon(t *testing.T) {
	ca := certtest.New(t)
	dir := t.TempDir()
	certPEM, keyPEM, _ := ca.Issue(t, time.Now().Add(24*time.Hour))
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	certtest.WriteFile(t, certFile, certPEM)
	certtest.WriteFile(t, keyFile, keyPEM)
	var logs syncBuffer
	if _, err := Load(certFile, keyFile, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "expires soon") {
		t.Errorf("no warning for a certificate that expires in a day:\n%s", logs.String())
	}
}
