package turn

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/turn/v5"
)

func TestURLHost(t *testing.T) {
	for _, tc := range []struct {
		in, host, port string
		ok             bool
	}{
		{"lobby.example.org:3333", "lobby.example.org", "3333", true},
		{"Lobby.Example.ORG", "lobby.example.org", "80", true},
		{"127.0.0.1:3333", "127.0.0.1", "3333", true},
		{"[::1]:3333", "[::1]", "3333", true},
		{"[fe80::1%eth0]:3333", "", "", false},
		{"evil.org?transport=tcp:3333", "", "", false},
		{"a b:1", "", "", false},
		{"host:99999", "", "", false},
		{"host:0", "", "", false},
		{"", "", "", false},
	} {
		host, port, ok := urlHost(tc.in)
		if host != tc.host || port != tc.port || ok != tc.ok {
			t.Errorf("urlHost(%q) = %q %q %v, want %q %q %v", tc.in, host, port, ok, tc.host, tc.port, tc.ok)
		}
	}
}

type rtcIceServer struct {
	URLs       urlList `json:"urls"`
	Username   string  `json:"username"`
	Credential string  `json:"credential"`
}

// urlList is RTCIceServer.urls: a string or an array of strings.
type urlList []string

func (u *urlList) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*u = urlList{one}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(u))
}

func decodeServers(t *testing.T, raw json.RawMessage) []rtcIceServer {
	t.Helper()
	var out []rtcIceServer
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	return out
}

func TestICEEmbedded(t *testing.T) {
	s := startServer(t, Config{})
	ice := &ICE{Credentials: s.cfg.Credentials, Server: s, HTTPTurn: true, Extra: json.RawMessage(`[{"urls":"stun:extra.example"}]`)}
	raw, refresh := ice.Join("m1", "lobby.example.org:3333")
	list := decodeServers(t, raw)
	port := strconv.Itoa(s.Port())
	want := []string{"stun:lobby.example.org:" + port}
	if strings.Join(list[0].URLs, " ") != strings.Join(want, " ") {
		t.Errorf("STUN URLs %v, want %v", list[0].URLs, want)
	}
	wantTURN := []string{
		"turn:lobby.example.org:" + port + "?transport=udp",
		"turn:lobby.example.org:" + port + "?transport=tcp",
		"turn:lobby.example.org:3333?transport=tcp",
	}
	if strings.Join(list[1].URLs, " ") != strings.Join(wantTURN, " ") {
		t.Errorf("TURN URLs %v, want %v", list[1].URLs, wantTURN)
	}
	if len(list) != 3 || !strings.Contains(string(raw), `"stun:extra.example"`) {
		t.Errorf("extra servers not appended: %s", raw)
	}
	expires, id, ok := ParseUsername(list[1].Username)
	if !ok || id != "m1" || list[1].Credential != s.cfg.Credentials.Password(list[1].Username) {
		t.Fatalf("credentials %q/%q do not name m1 or do not verify", list[1].Username, list[1].Credential)
	}
	if d := time.Until(expires); d < 50*time.Second || d > time.Minute {
		t.Errorf("credentials expire in %v, want the one-minute TTL", d)
	}
	if d := time.Until(refresh); d <= 0 || d > time.Minute {
		t.Errorf("refresh due in %v, want within the credential's minute", d)
	}
	if s.Members() != 1 {
		t.Errorf("Join did not admit the member: %d admitted", s.Members())
	}
	ice.Leave("m1")
	if s.Members() != 0 {
		t.Errorf("Leave left %d admitted", s.Members())
	}

	// A node of a cluster names itself in the URLs, whatever host (the load balancer) the member used.
	ice.Host = "node1.example.org:3333"
	raw, _ = ice.Join("m3", "lobby.example.org:3333")
	if list := decodeServers(t, raw); !strings.HasPrefix(list[1].URLs[0], "turn:node1.example.org:") || strings.Contains(string(raw), "lobby.example.org") {
		t.Errorf("with Host set: %s", raw)
	}
	ice.Leave("m3")
	ice.Host = ""

	// A Host that cannot be put in a URL gets no TURN, only the extra servers.
	raw, refresh = ice.Join("m2", "bad host")
	if string(raw) != `[{"urls":"stun:extra.example"}]` || !refresh.IsZero() {
		t.Errorf("bad host: %s, refresh %v", raw, refresh)
	}
}

func TestCredentialsMatchPion(t *testing.T) {
	c := NewCredentials(testSecret, time.Hour)
	user, pass, err := turn.GenerateLongTermTURNRESTCredentials(string(testSecret), "member", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Password(user); got != pass {
		t.Fatalf("Password(%q) = %q, pion computes %q", user, got, pass)
	}
	expires, id, ok := ParseUsername(user)
	if !ok || id != "member" || time.Until(expires) < 59*time.Minute {
		t.Fatalf("ParseUsername(%q) = %v %q %v", user, expires, id, ok)
	}
	for _, bad := range []string{"", "member", ":member", "abc:member", "-5:member", "1700000000:", "99999999999999:m"} {
		if _, _, ok := ParseUsername(bad); ok {
			t.Errorf("ParseUsername(%q) accepted", bad)
		}
	}
}

func TestICEExternalAndOff(t *testing.T) {
	creds := NewCredentials(testSecret, time.Minute)
	ice := &ICE{Credentials: creds, External: []string{"stun:turn.example.org:3478", "turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349"}}
	list := decodeServers(t, must(ice.Join("m", "lobby:3333")))
	if len(list) != 2 || list[0].Username != "" || len(list[1].URLs) != 2 || list[1].Credential != creds.Password(list[1].Username) {
		t.Fatalf("external: %+v", list)
	}
	off := &ICE{}
	if raw, refresh := off.Join("m", "lobby:3333"); raw != nil || !refresh.IsZero() {
		t.Fatalf("no TURN, no extra: %s %v", raw, refresh)
	}
}

func must(raw json.RawMessage, _ time.Time) json.RawMessage { return raw }

// With TLS on the HTTP port, TURN there is offered as turns:, and a Host without a port means 443.
func TestICEEmbeddedTLS(t *testing.T) {
	s := startServer(t, Config{})
	ice := &ICE{Credentials: s.cfg.Credentials, Server: s, HTTPTurn: true, HTTPTLS: true}
	port := strconv.Itoa(s.Port())
	for host, want := range map[string]string{
		"lobby.example.org:3333": "turns:lobby.example.org:3333?transport=tcp",
		"lobby.example.org":      "turns:lobby.example.org:443?transport=tcp",
	} {
		list := decodeServers(t, must(ice.Join("m1", host)))
		wantTURN := []string{
			"turn:lobby.example.org:" + port + "?transport=udp",
			"turn:lobby.example.org:" + port + "?transport=tcp",
			want,
		}
		if strings.Join(list[1].URLs, " ") != strings.Join(wantTURN, " ") {
			t.Errorf("Host %s: TURN URLs %v, want %v", host, list[1].URLs, wantTURN)
		}
		ice.Leave("m1")
	}
}
