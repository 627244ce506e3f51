package main

import (
	"bytes"
	"context"
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
