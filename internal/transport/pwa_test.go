package transport

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/p2plobby/p2plobby/internal/hub"
	"github.com/p2plobby/p2plobby/web"
)

// newAppServer serves the real embedded web app.
func newAppServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := New(hub.New(hub.Config{}), web.FS, Config{})
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		srv.Shutdown(t.Context())
		ts.Close()
	})
	return ts
}

func get(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// The service worker is served at the root, so that its scope is the whole app, and never from a stale cache.
func TestServiceWorkerAtRoot(t *testing.T) {
	ts := newAppServer(t)
	resp, body := get(t, ts.URL+"/sw.js")
	want, err := fs.ReadFile(web.FS, "app/sw.js")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || string(body) != string(want) {
		t.Fatalf("GET /sw.js = %d, %d bytes; want 200 and app/sw.js (%d bytes)", resp.StatusCode, len(body), len(want))
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") {
		t.Errorf("Content-Type %q: a service worker needs a JavaScript type", ct)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("Cache-Control %q, want no-cache", cc)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self'") {
		t.Errorf("the worker runs under this CSP, which must let it fetch the app: %q", csp)
	}
}

// The page's CSP names where its worker and manifest may come from, and still allows no form posts (the share
// target is posted by the system, and answered by the worker).
func TestCSPAllowsWorkerAndManifest(t *testing.T) {
	ts := newAppServer(t)
	resp, _ := get(t, ts.URL+"/")
	csp := resp.Header.Get("Content-Security-Policy")
	for _, d := range []string{"worker-src 'self'", "manifest-src 'self'", "form-action 'none'", "default-src 'self'"} {
		if !strings.Contains(csp, d+";") && !strings.HasSuffix(csp, d) {
			t.Errorf("CSP lacks %q: %s", d, csp)
		}
	}
	// The server takes no uploads: only the worker answers /share.
	resp, err := http.Post(ts.URL+"/share", "multipart/form-data; boundary=x", strings.NewReader("--x--\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /share = %d, want 405", resp.StatusCode)
	}
}

// The manifest is served as application/manifest+json and lists icons that exist, with the sizes it says.
func TestManifestAndIcons(t *testing.T) {
	ts := newAppServer(t)
	resp, body := get(t, ts.URL+"/app/manifest.webmanifest")
	if resp.StatusCode != 200 {
		t.Fatalf("GET manifest = %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/manifest+json" {
		t.Errorf("manifest Content-Type %q, want application/manifest+json", ct)
	}
	var m struct {
		Name, Display, Scope string
		StartURL             string `json:"start_url"`
		Icons                []struct{ Src, Sizes, Type, Purpose string }
		ShareTarget          struct {
			Action, Method, Enctype string
			Params                  struct {
				Files []struct{ Name string }
			}
		} `json:"share_target"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("manifest: %v", err)
	}
	if m.Name == "" || m.StartURL != "/" || m.Scope != "/" || m.Display != "standalone" {
		t.Errorf("manifest name %q, start_url %q, scope %q, display %q", m.Name, m.StartURL, m.Scope, m.Display)
	}
	if st := m.ShareTarget; st.Action != "/share" || st.Method != "POST" || st.Enctype != "multipart/form-data" ||
		len(st.Params.Files) != 1 || st.Params.Files[0].Name != "files" {
		t.Errorf("share_target %+v: want a multipart POST to /share with files (sw.js reads them)", st)
	}
	sizes := map[string]bool{}
	for _, icon := range m.Icons {
		resp, body := get(t, ts.URL+icon.Src)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != icon.Type {
			t.Errorf("icon %s: %d, Content-Type %q, manifest says %q", icon.Src, resp.StatusCode, resp.Header.Get("Content-Type"), icon.Type)
			continue
		}
		if icon.Type != "image/png" {
			continue
		}
		cfg, err := png.DecodeConfig(bytes.NewReader(body))
		if err != nil {
			t.Errorf("icon %s: %v", icon.Src, err)
			continue
		}
		if got := fmt.Sprintf("%dx%d", cfg.Width, cfg.Height); got != icon.Sizes {
			t.Errorf("icon %s is %s, manifest says %s", icon.Src, got, icon.Sizes)
		}
		sizes[icon.Purpose+" "+icon.Sizes] = true
	}
	for _, want := range []string{"any 192x192", "any 512x512", "maskable 512x512"} {
		if !sizes[want] {
			t.Errorf("no %s PNG icon (installing on Android needs them)", want)
		}
	}
}
