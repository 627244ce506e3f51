package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/p2plobby/p2plobby/internal/lobbytest"
)

// runPJTool runs lobbyload's scenario args[0] against url and returns the exit code and the decoded JSON line.
// A --timeout in args overrides the default 30 s.
func runPJTool(t *testing.T, url string, args ...string) (int, map[string]any, string) {
	t.Helper()
	args = append([]string{args[0], "--url", url, "--timeout", "30s"}, args[1:]...)
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	var res map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		t.Fatalf("last line is not JSON: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	return code, res, stdout.String() + stderr.String()
}

func TestPeerJSAgainstP2PLobby(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	srv := lobbytest.Start(t, "--max-conns-per-ip", "0", "--rate", "100000", "--burst", "100000",
		"--ip-conn-rate", "0", "--room-join-rate", "0", "--recv-rate", "0", "--peerjs-concurrent-limit", "0")
	url, pid := srv.WS+"/", strconv.Itoa(srv.PID())

	code, res, out := runPJTool(t, url, "peerjs-join", "--members", "60", "--dial-concurrency", "8", "--pid", pid)
	if code != 0 || res["ok"] != true || res["opened"] != float64(60) || res["server_rss_after_bytes"] == nil {
		t.Fatalf("peerjs-join: exit %d\n%s", code, out)
	}
	code, res, out = runPJTool(t, url, "peerjs-relay", "--pairs", "3", "--count", "300", "--window", "5")
	if code != 0 || res["ok"] != true || res["sent"] != float64(900) || res["delivered"] != float64(900) || res["latency_p99_ms"] == nil {
		t.Fatalf("peerjs-relay: exit %d\n%s", code, out)
	}
	code, res, out = runPJTool(t, url, "peerjs-idle", "--members", "20", "--heartbeat", "30ms", "--settle", "200ms", "--pid", pid)
	if code != 0 || res["ok"] != true || res["heartbeats"].(float64) < 20 || res["bytes_per_conn"] == nil {
		t.Fatalf("peerjs-idle: exit %d\n%s", code, out)
	}
}

// fakePeerServer relays PeerJS messages like PeerServer, except for one fault:
// "src" stamps the wrong src, "dst" the wrong dst, "dup" delivers every tenth message twice,
// "drop" loses each sender's message number 3, "noopen" never sends OPEN, "extra" sends a second OPEN.
type fakePeerServer struct {
	fault string
	mu    sync.Mutex
	conns map[string]*fakePJConn
}

type fakePJConn struct {
	mu sync.Mutex
	ws *websocket.Conn
}

func (c *fakePJConn) send(b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.ws.WriteMessage(websocket.TextMessage, b)
}

func (s *fakePeerServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/peerjs/peerjs" {
		http.NotFound(w, r)
		return
	}
	ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
	if err != nil {
		return
	}
	id := r.URL.Query().Get("id")
	c := &fakePJConn{ws: ws}
	s.mu.Lock()
	s.conns[id] = c
	s.mu.Unlock()
	if s.fault != "noopen" {
		c.send([]byte(`{"type":"OPEN"}`))
	}
	if s.fault == "extra" {
		c.send([]byte(`{"type":"OPEN"}`))
	}
	for {
		_, b, err := ws.ReadMessage()
		if err != nil {
			return
		}
		var m struct {
			Type    string          `json:"type"`
			Dst     string          `json:"dst"`
			Payload json.RawMessage `json:"payload"`
		}
		if json.Unmarshal(b, &m) != nil || m.Type == "HEARTBEAT" {
			continue
		}
		s.mu.Lock()
		to := s.conns[m.Dst]
		s.mu.Unlock()
		var seq struct{ Seq int }
		_ = json.Unmarshal(m.Payload, &seq)
		src, dst := id, m.Dst
		switch {
		case s.fault == "src":
			src = "someone"
		case s.fault == "dst":
			dst = id
		case s.fault == "drop" && seq.Seq == 3:
			continue
		}
		out, _ := json.Marshal(struct {
			Type    string          `json:"type"`
			Src     string          `json:"src"`
			Dst     string          `json:"dst"`
			Payload json.RawMessage `json:"payload"`
		}{m.Type, src, dst, m.Payload})
		if to != nil {
			to.send(out)
			if s.fault == "dup" && seq.Seq%10 == 9 {
				to.send(out)
			}
		}
	}
}

func TestPeerJSDetectsFaultyServer(t *testing.T) {
	pjDrainWait = 300 * time.Millisecond // the "drop" run waits this long for the lost message
	for _, c := range []struct{ fault, args, want string }{
		{"", "peerjs-relay --pairs 2 --count 50", ""},
		{"src", "peerjs-relay --pairs 2 --count 50", "CANDIDATE with src"},
		{"dst", "peerjs-relay --pairs 2 --count 50", "CANDIDATE with dst"},
		{"dup", "peerjs-relay --pairs 2 --count 50", "again (duplicate"},
		{"drop", "peerjs-relay --pairs 2 --count 50", "missing"},
		{"noopen", "peerjs-join --members 3 --timeout 1s", "0/3 clients got OPEN"},
		{"extra", "peerjs-join --members 3", "unexpected message"},
	} {
		t.Run("fault="+c.fault, func(t *testing.T) {
			srv := httptest.NewServer(&fakePeerServer{fault: c.fault, conns: map[string]*fakePJConn{}})
			defer srv.Close()
			code, res, out := runPJTool(t, "ws"+strings.TrimPrefix(srv.URL, "http")+"/", strings.Fields(c.args)...)
			if c.want == "" {
				if code != 0 || res["ok"] != true || res["delivered"] != float64(100) {
					t.Fatalf("exit %d\n%s", code, out)
				}
				return
			}
			if code == 0 || res["ok"] != false || !strings.Contains(out, c.want) {
				t.Fatalf("exit %d, want a failure mentioning %q\n%s", code, c.want, out)
			}
		})
	}
}

func TestParsePJ(t *testing.T) {
	cases := []struct {
		msg    string
		ok     bool
		want   pjMsg
		isFast bool
	}{
		{`{"type":"OPEN"}`, true, pjMsg{typ: "OPEN", seq: -1}, false},
		{`{"type":"CANDIDATE","src":"a-1","dst":"b-2","payload":{"seq":7,"t":12345,"candidate":{"x":1}}}`, true,
			pjMsg{typ: "CANDIDATE", src: "a-1", dst: "b-2", hasSrc: true, hasDst: true, seq: 7, t: 12345}, true},
		// Another key order or an escape: the slow path gives the same answer.
		{`{"src":"a-1","type":"CANDIDATE","dst":"b-2","payload":{"t":12345,"seq":7}}`, true,
			pjMsg{typ: "CANDIDATE", src: "a-1", dst: "b-2", hasSrc: true, hasDst: true, seq: 7, t: 12345}, false},
		{`{"type":"CANDIDATE","src":"a\u002d1","dst":"b-2","payload":{"seq":7,"t":12345}}`, true,
			pjMsg{typ: "CANDIDATE", src: "a-1", dst: "b-2", hasSrc: true, hasDst: true, seq: 7, t: 12345}, false},
		{`{"type":"CANDIDATE","src":"a","dst":"b","payload":{"seq":7.5,"t":1}}`, false, pjMsg{}, false},
		{`{"type":"CANDIDATE","src":"a","dst":"b","payload":{"seq":7,"t":1}`, false, pjMsg{}, false}, // truncated
		{`{"type":"CANDIDATE","src":"a","dst":"b","payload":{}}`, false, pjMsg{}, false},
		{`{"type":"NOTICE","payload":{"code":"rate-limited"}}`, true, pjMsg{typ: "NOTICE", seq: -1}, false},
		{`not json`, false, pjMsg{}, false},
	}
	for _, c := range cases {
		got, ok := parsePJ([]byte(c.msg))
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("parsePJ(%s) = %+v %v, want %+v %v", c.msg, got, ok, c.want, c.ok)
		}
		if _, fast := parsePJFast([]byte(c.msg)); fast != c.isFast {
			t.Errorf("parsePJFast(%s) ok = %v, want %v", c.msg, fast, c.isFast)
		}
	}
	b := candidateMessage(nil, "lbx-1", 3, 99)
	var m struct {
		Type    string
		Dst     string
		Payload struct{ Seq, T int64 }
	}
	if err := json.Unmarshal(b, &m); err != nil || m.Type != "CANDIDATE" || m.Dst != "lbx-1" || m.Payload.Seq != 3 || m.Payload.T != 99 {
		t.Errorf("candidateMessage = %s (%v)", b, err)
	}
}
