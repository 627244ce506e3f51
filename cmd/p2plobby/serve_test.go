package main

import (
	"bytes"
	"context"
	"net/http"
	"net/netip"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/p2plobby/p2plobby/internal/lobbytest"
)

func runCLI(t *testing.T, env map[string]string, args ...string) (int, string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // serve returns at once if it got as far as listening
	code := run(ctx, args, func(k string) string { return env[k] }, strings.NewReader(""), &out, &errb)
	return code, out.String() + errb.String()
}

func TestServeHelpListsEveryFlagWithEnv(t *testing.T) {
	code, out := runCLI(t, nil, "serve", "--help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"--addr", "P2PLOBBY_ADDR", "--max-message-size", "P2PLOBBY_MAX_MESSAGE_SIZE",
		"--log-level", "--ice-servers", "--max-queue", "--idle-timeout", "--ping-interval", "--rate", "--burst"} {
		if !strings.Contains(out, want) {
			t.Errorf("help lacks %s:\n%s", want, out)
		}
	}
}

func TestServeRejectsBadSettings(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		args []string
	}{
		{nil, []string{"--max-message-size", "lots"}},
		{map[string]string{"P2PLOBBY_LOG_LEVEL": "chatty"}, nil},
		{map[string]string{"P2PLOBBY_RATE": "fast"}, nil},
		{nil, []string{"--ice-servers", "http://not-ice"}},
		{nil, []string{"--ice-servers", `[{"username":"x"}]`}},
		{nil, []string{"--ping-interval", "1m", "--idle-timeout", "30s"}},
		{nil, []string{"--addr", "127.0.0.1:0", "extra"}},
		{nil, []string{"--trusted-proxies", "10.0.0.0/8,proxy.example"}},
		{map[string]string{"P2PLOBBY_NETWORK_ROOMS": "maybe"}, nil},
		{nil, []string{"--nats-creds", "x.creds"}},                      // without --nats
		{nil, []string{"--nats", "nats://127.0.0.1:1"}},                 // nodes would disagree on network groups
		{map[string]string{"P2PLOBBY_NATS": "nats://127.0.0.1:1"}, nil}, // the same from the environment
		{nil, []string{"--nats", "nats://127.0.0.1:1", "--network-secret", "s", "--nats-tls-cert", "c.pem"}},
		{nil, []string{"--nats", "nats://127.0.0.1:1", "--network-secret", "s", "--nats-subject-prefix", "a.b"}},
		{nil, []string{"--nats", "nats://127.0.0.1:1", "--network-secret", "s", "--cluster-heartbeat", "1ms"}},
		{nil, []string{"--turn-host", "http://x/"}},
		{nil, []string{"--recv-rate", "-1"}},                      // 0 turns a limit off; negative is a mistake
		{map[string]string{"P2PLOBBY_HEADER_TIMEOUT": "0s"}, nil}, // a timeout must be positive
		{nil, []string{"--peerjs-path", "peerjs"}},                // a path starts with /
		{nil, []string{"--peerjs-path", "/ws"}},                   // the lobby's own
		{nil, []string{"--peerjs-key", "a key"}},
		{nil, []string{"--peerjs-key", " , "}},
		{map[string]string{"P2PLOBBY_PEERJS_EXPIRE_TIMEOUT": "0s"}, nil},
		{nil, []string{"--peerjs-concurrent-limit", "-1"}},
	} {
		if code, out := runCLI(t, tc.env, append([]string{"serve"}, tc.args...)...); code != 2 {
			t.Errorf("%v %v: exit %d, want 2\n%s", tc.env, tc.args, code, out)
		}
	}
}

func TestEnvAndFlagPrecedence(t *testing.T) {
	code, out := runCLI(t, map[string]string{"P2PLOBBY_ADDR": "127.0.0.1:0", "P2PLOBBY_TURN_ADDR": "127.0.0.1:0", "P2PLOBBY_LOG_LEVEL": "debug"}, "--log-level", "info")
	if code != 0 || !strings.Contains(out, "msg=listening addr=127.0.0.1:") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if strings.Contains(out, "level=DEBUG") {
		t.Errorf("flag did not override env")
	}
}

func TestICEServersValue(t *testing.T) {
	for in, want := range map[string]string{
		"stun:a:3478, turn:b:3478": `[{"urls":"stun:a:3478"},{"urls":"turn:b:3478"}]`,
		`[ {"urls": ["stun:a"]} ]`: `[{"urls":["stun:a"]}]`,
		"":                         ``,
	} {
		got, err := iceServersJSON(in)
		if err != nil || string(got) != want {
			t.Errorf("iceServersJSON(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
}

// The real binary: SIGTERM closes members with 1001 (going away) and the process exits within seconds.
func TestSIGTERMGoingAway(t *testing.T) {
	s := lobbytest.Start(t)
	c, _, err := websocket.DefaultDialer.Dial(s.WS+"/?name=Ann", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var first map[string]any
	if err := c.ReadJSON(&first); err != nil || first["kind"] != "self-connected" || first["name"] != "Ann" {
		t.Fatalf("first message %v %v", first, err)
	}
	start := time.Now()
	s.Stop()
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("exit took %v", d)
	}
	_, _, err = c.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Fatalf("read after shutdown: %v, want close 1001", err)
	}
}

func TestServePrintsURLsToOpen(t *testing.T) {
	code, out := runCLI(t, nil, "--addr", "127.0.0.1:0", "--turn=false")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	_, addr, _ := strings.Cut(out, "msg=listening addr=")
	addr, _, _ = strings.Cut(addr, " ")
	if want := "Open it in a browser:\n  http://" + addr + "/\n"; addr == "" || !strings.Contains(out, want) {
		t.Fatalf("output lacks %q:\n%s", want, out)
	}
}

func TestOpenURLs(t *testing.T) {
	ifaddrs := func() []netip.Addr {
		var out []netip.Addr
		for _, a := range []string{"127.0.0.1", "::1", "192.168.1.5", "fe80::1", "169.254.3.3", "2001:db8::5", "10.0.0.7"} {
			out = append(out, netip.MustParseAddr(a))
		}
		return out
	}
	all := []string{"http://localhost:3333/", "http://192.168.1.5:3333/", "http://10.0.0.7:3333/", "http://[2001:db8::5]:3333/"}
	for addr, want := range map[string][]string{
		":3333":            all,
		"[::]:3333":        all,
		"0.0.0.0:3333":     all[:3],
		"127.0.0.1:3333":   {"http://127.0.0.1:3333/"},
		"[::1]:3333":       {"http://[::1]:3333/"},
		"lobby.local:3333": {"http://lobby.local:3333/"},
	} {
		if got := openURLs("http", addr, 3333, ifaddrs); !slices.Equal(got, want) {
			t.Errorf("openURLs(%q) = %q, want %q", addr, got, want)
		}
	}
}

func TestHelpListsCommands(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		code, out := runCLI(t, nil, args...)
		if code != 0 {
			t.Errorf("%v: exit %d", args, code)
		}
		for _, cmd := range []string{"serve", "list", "send", "receive", "chat", "netcheck", "version", "help"} {
			if !strings.Contains(out, "\n  "+cmd+" ") {
				t.Errorf("%v does not list %s:\n%s", args, cmd, out)
			}
		}
		if hasFlags := strings.Contains(out, "--addr"); hasFlags != (args[0] != "help") {
			t.Errorf("%v: serve's flags listed: %v\n%s", args, hasFlags, out)
		}
	}
	if code, out := runCLI(t, nil, "help", "send"); code != 0 || !strings.Contains(out, "--server") {
		t.Errorf("help send: exit %d\n%s", code, out)
	}
	if code, _ := runCLI(t, nil, "frobnicate"); code != 2 {
		t.Errorf("unknown command: exit %d", code)
	}
}

func TestVersionString(t *testing.T) {
	vcs := []debug.BuildSetting{{Key: "vcs.revision", Value: "c814762e66646d55da7b17e360157a13cd588028"},
		{Key: "vcs.time", Value: "2026-11-30T04:33:31Z"}, {Key: "vcs.modified", Value: "true"}}
	for _, tc := range []struct {
		bi       *debug.BuildInfo
		override string
		want     string
	}{
		{&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.0"}}, "", "p2plobby v1.2.0 (go1.26.8)"},
		{&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: vcs}, "",
			"p2plobby devel (commit c814762e6664, 2026-11-30T04:33:31Z, modified, go1.26.8)"},
		{&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: vcs[:2]}, "v2.0.0",
			"p2plobby v2.0.0 (commit c814762e6664, 2026-11-30T04:33:31Z, go1.26.8)"},
		{nil, "", "p2plobby devel"},
	} {
		if got := versionString(tc.bi, tc.override); got != tc.want {
			t.Errorf("versionString = %q, want %q", got, tc.want)
		}
	}
	code, out := runCLI(t, nil, "version")
	if code != 0 || !strings.HasPrefix(out, "p2plobby ") || strings.Count(out, "\n") != 1 {
		t.Errorf("version: exit %d, %q", code, out)
	}
}

// A release build: the version set with -ldflags, and the commit when the toolchain can record it.
func TestVersionOfReleaseBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "p2plobby")
	build := func(vcs string) error {
		cmd := exec.Command("go", "build", "-buildvcs="+vcs, "-ldflags", "-X main.version=v9.8.7", "-o", bin, ".")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Logf("go build -buildvcs=%s: %v\n%s", vcs, err, out)
		}
		return err
	}
	withVCS := build("true") == nil // needs git and the repository
	if !withVCS && build("false") != nil {
		t.Fatal("cannot build")
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(out), "p2plobby v9.8.7 (") || !strings.Contains(string(out), runtime.Version()) {
		t.Errorf("version = %q", out)
	}
	if withVCS && !regexp.MustCompile(`\(commit [0-9a-f]{12}, 20\d\d-`).Match(out) {
		t.Errorf("version = %q, want the commit and its time", out)
	}
}

func TestParsePrefixes(t *testing.T) {
	got, err := parsePrefixes(" 10.0.0.0/8, 192.0.2.7 ,2001:db8::/32,::1,::ffff:10.1.0.0/112, 192.168.1.9/24")
	want := []string{"10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32", "::1/128", "10.1.0.0/16", "192.168.1.0/24"}
	if err != nil || len(got) != len(want) {
		t.Fatalf("got %v, %v", got, err)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("prefix %d = %v, want %s", i, got[i], want[i])
		}
	}
	if _, err := parsePrefixes("10.0.0.0/33"); err == nil {
		t.Error("a bad prefix passed")
	}
}

// The flags reach the server: a trusted proxy's header sets the group, and --network-rooms=false sends
// @network to the lobby.
func TestServeNetworkFlags(t *testing.T) {
	self := func(ws string, xff string) map[string]any {
		t.Helper()
		c, _, err := websocket.DefaultDialer.Dial(ws+"/?room=@network", http.Header{"X-Forwarded-For": {xff}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		var m map[string]any
		if err := c.ReadJSON(&m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	s := lobbytest.Start(t, "--trusted-proxies", "127.0.0.1")
	a, b, c := self(s.WS, "203.0.113.5"), self(s.WS, "203.0.113.5"), self(s.WS, "203.0.113.6")
	if a["network"] != true || a["room"] != b["room"] || a["room"] == c["room"] {
		t.Errorf("groups: %v %v %v", a, b, c)
	}
	off := lobbytest.Start(t, "--network-rooms=false")
	if m := self(off.WS, ""); m["room"] != "lobby" || m["network"] != nil {
		t.Errorf("--network-rooms=false: %v", m)
	}
}
