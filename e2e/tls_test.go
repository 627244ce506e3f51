package e2e

// The lobby served over TLS (--tls-cert): the page over HTTPS, its WebSocket over WSS, two Chromiums connect,
// and the browser's own connection check allocates a relay over turns: on the HTTPS port.

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/p2plobby/p2plobby/internal/browsertest"
	"github.com/p2plobby/p2plobby/internal/certtest"
	"github.com/p2plobby/p2plobby/internal/lobbytest"
)

// openTLS opens the page of a server whose certificate (the leaf in certFile) the person's browser is told
// to accept by its public key. The flag reaches every TLS client of Chromium's network stack, TURN over TLS
// included; DevTools' Security.setIgnoreCertificateErrors does not (turns: then fails with "unknown
// certificate"), hence a browser process of its own.
func openTLS(t *testing.T, s *lobbytest.Server, certFile, keyFile, room, name string) *page {
	t.Helper()
	kp, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	spki := sha256.Sum256(kp.Leaf.RawSubjectPublicKeyInfo)
	p := &page{t: t, name: name, ctx: browsertest.New(t,
		chromedp.Flag("ignore-certificate-errors-spki-list", base64.StdEncoding.EncodeToString(spki[:])))}
	p.do(beforeScripts(fmt.Sprintf(`localStorage.setItem('p2plobby.name', %s)`, jsString(name))),
		chromedp.Navigate(s.URL+"/?room="+url.QueryEscape(room)))
	p.waitFor("joined the lobby", `window.p2plobby?.lobby.status === 'open' && !!window.p2plobby.lobby.id`, 15*time.Second)
	return p
}

func TestBrowsersOverTLS(t *testing.T) {
	skipWithoutBrowser(t)
	ca := certtest.New(t)
	certFile, keyFile, _ := ca.WriteFiles(t, t.TempDir())
	s := lobbytest.Start(t, "--tls-cert", certFile, "--tls-key", keyFile)
	alice := openTLS(t, s, certFile, keyFile, "tls", "Alice")
	bob := openTLS(t, s, certFile, keyFile, "tls", "Bob")

	var proto string
	alice.eval(`location.protocol + ' ' + window.p2plobby.lobby.signaling.opts.url`, &proto)
	if !strings.HasPrefix(proto, "https: wss://") {
		t.Errorf("page and lobby: %q, want https: and wss://", proto)
	}
	connect(t, alice, bob)

	var turns []struct{ URL, Transport, Relay, Error string }
	alice.eval(`window.p2plobby.lobby.netcheck().then(r => r.turn)`, &turns)
	var sawTLS bool
	for _, tr := range turns {
		if strings.HasPrefix(tr.URL, "turns:") {
			sawTLS = true
			if tr.Transport != "tls" || tr.Relay == "" {
				t.Errorf("Chromium over %s: %+v, want a relay over TLS", tr.URL, tr)
			}
		} else if tr.Relay == "" {
			t.Errorf("Chromium over %s: %+v", tr.URL, tr)
		}
	}
	if !sawTLS {
		t.Errorf("the page was given no turns: URL: %+v", turns)
	}
}
