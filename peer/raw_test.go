package peer

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/p2plobby/p2plobby/internal/peertest"

	"github.com/gorilla/websocket"
	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
)

// rawOfferer is a hand-driven pion client written to the seed's protocol, for tests that must do what the peer
// package never does: it joins a room, sends a bare offer (its SDP passed through tamper) to a Client, and runs
// the offerer's side of the verification exchange with a known nonce.
type rawOfferer struct {
	pc    *webrtc.PeerConnection
	dc    *webrtc.DataChannel
	id    string
	der   []byte                         // its DTLS certificate
	msgs  chan webrtc.DataChannelMessage // control messages, but the sas-nonce
	nonce string                         // its verification nonce
	their chan string                    // the answerer's nonce
}

const rawNonce = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

// dialRaw joins room beside target and offers it a connection; onOpen runs when the control channel opens,
// before the verification exchange starts.
func dialRaw(t *testing.T, ctx context.Context, url, room string, target *Client, tamper func(sdp string, der []byte) string,
	onOpen func(dc *webrtc.DataChannel)) *rawOfferer {
	t.Helper()
	u, _ := lobbyURL(url, room, "")
	ws, _, err := websocket.DefaultDialer.DialContext(ctx, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	var self sigMsg
	if err := ws.ReadJSON(&self); err != nil || self.Kind != kindSelfConnected {
		t.Fatalf("self-connected: %v %+v", err, self)
	}
	if _, err := target.WaitMember(ctx, func(m Member) bool { return m.ID == self.ID }); err != nil {
		t.Fatal(err)
	}
	cert, der := peertest.Certificate(t)
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{Certificates: []webrtc.Certificate{*cert}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	r := &rawOfferer{pc: pc, id: self.ID, der: der, msgs: make(chan webrtc.DataChannelMessage, 16), nonce: rawNonce, their: make(chan string, 1)}
	r.dc, _ = pc.CreateDataChannel(controlLabel, nil)
	r.dc.OnMessage(func(m webrtc.DataChannelMessage) {
		var c ctrlMsg
		if json.Unmarshal(m.Data, &c) == nil && c.T == tSASNonce {
			r.their <- c.N
			r.dc.SendText(`{"t":"sas-reveal","n":"` + r.nonce + `"}`)
			return
		}
		r.msgs <- m
	})
	r.dc.OnOpen(func() {
		if onOpen != nil {
			onOpen(r.dc)
		}
		r.dc.SendText(`{"t":"sas-commit","h":"` + sasCommitment(r.nonce) + `"}`)
	})
	wsMu := make(chan struct{}, 1)
	send := func(v any) {
		wsMu <- struct{}{}
		ws.WriteJSON(v)
		<-wsMu
	}
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			send(map[string]any{"toId": target.ID(), "fromId": self.ID, "candidate": c.ToJSON()})
		}
	})
	offer, _ := pc.CreateOffer(nil)
	pc.SetLocalDescription(offer)
	if tamper != nil {
		offer.SDP = tamper(offer.SDP, der)
	}
	send(map[string]any{"toId": target.ID(), "fromId": self.ID, "offer": offer})
	go func() { // the answer and the candidates
		for {
			var m sigMsg
			if err := ws.ReadJSON(&m); err != nil {
				return
			}
			switch {
			case m.Kind == kindAccept:
				t.Error("a seed client got an accept it does not know")
			case m.Answer != nil:
				pc.SetRemoteDescription(*m.Answer)
			case m.Candidate != nil:
				pc.AddICECandidate(*m.Candidate)
			}
		}
	}()
	return r
}

// acceptRaw waits for r's request at c and accepts it.
func acceptRaw(t *testing.T, ctx context.Context, c *Client, r *rawOfferer) *Conn {
	t.Helper()
	var req *Request
	for ev := range c.Events() {
		if ev.Kind == IncomingRequest {
			req = ev.Request
			break
		}
	}
	if req == nil || req.From.ID != r.id {
		t.Fatalf("request %+v", req)
	}
	conn, err := req.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return conn
}
