package main

import (
	"bytes"
	"encoding/json"
)

// msgKind is what a server message means to the load tool.
type msgKind uint8

const (
	kindOther msgKind = iota
	kindSelf
	kindConnected
	kindDisconnected
	kindOffer
	kindAnswer
	kindError
	kindRenamed
)

// Byte patterns of the fast path. JSON string values cannot contain an unescaped quote, so a pattern that
// starts and ends at quotes can only match a key, never the inside of a value.
var (
	prefixKind   = []byte(`{"kind":"`)
	prefixToID   = []byte(`{"toId":"`)
	keyID        = []byte(`"id":"`)
	keyFromID    = []byte(`"fromId":"`)
	keyCode      = []byte(`"code":"`)
	keyOffer     = []byte(`"offer":{`)
	keyAnswer    = []byte(`"answer":{`)
	kindSelfStr  = []byte("self-connected")
	kindConnStr  = []byte("connected")
	kindDiscStr  = []byte("disconnected")
	kindErrorStr = []byte("error")
	kindRenStr   = []byte("renamed")
)

// classify returns a message's kind and its argument: the id for lobby events, fromId for relays, the code
// for errors. With 5000 members a run carries ~25M lobby events, so the common shapes
// ({"kind":"connected","id":"…"} and {"toId":"…","fromId":"…","offer":{…}}) are recognised by scanning
// bytes; anything else (other key order, escapes) falls back to encoding/json, which is always right.
// The returned slice may alias b.
func classify(b []byte) (msgKind, []byte) {
	if k, arg, ok := classifyFast(b); ok {
		return k, arg
	}
	return classifySlow(b)
}

func classifyFast(b []byte) (msgKind, []byte, bool) {
	switch {
	case bytes.HasPrefix(b, prefixKind):
		kind, ok := stringAt(b[len(prefixKind)-1:])
		if !ok {
			return 0, nil, false
		}
		switch {
		case bytes.Equal(kind, kindConnStr):
			id, ok := field(b, keyID)
			return kindConnected, id, ok
		case bytes.Equal(kind, kindDiscStr):
			id, ok := field(b, keyID)
			return kindDisconnected, id, ok
		case bytes.Equal(kind, kindSelfStr):
			id, ok := field(b, keyID)
			return kindSelf, id, ok
		case bytes.Equal(kind, kindErrorStr):
			code, _ := field(b, keyCode)
			return kindError, code, true
		case bytes.Equal(kind, kindRenStr):
			id, ok := field(b, keyID)
			return kindRenamed, id, ok
		}
		return kindOther, nil, true
	case bytes.HasPrefix(b, prefixToID):
		from, ok := field(b, keyFromID)
		if !ok {
			return 0, nil, false
		}
		switch {
		case bytes.Contains(b, keyOffer):
			return kindOffer, from, true
		case bytes.Contains(b, keyAnswer):
			return kindAnswer, from, true
		}
		return kindOther, from, true
	}
	return 0, nil, false
}

// field returns the plain string value after key (which ends with the value's opening quote).
func field(b, key []byte) ([]byte, bool) {
	i := bytes.Index(b, key)
	if i < 0 {
		return nil, false
	}
	return stringAt(b[i+len(key)-1:])
}

// stringAt reads the JSON string starting at b[0] == '"'; it reports false for strings with escapes.
func stringAt(b []byte) ([]byte, bool) {
	if len(b) == 0 || b[0] != '"' {
		return nil, false
	}
	b = b[1:]
	j := bytes.IndexByte(b, '"')
	if j < 0 || bytes.IndexByte(b[:j], '\\') >= 0 {
		return nil, false
	}
	return b[:j], true
}

// wireMsg is the subset of server messages the load tool looks at.
type wireMsg struct {
	Kind   string          `json:"kind"`
	ID     string          `json:"id"`
	FromID string          `json:"fromId"`
	Code   string          `json:"code"`
	Offer  json.RawMessage `json:"offer"`
	Answer json.RawMessage `json:"answer"`
}

func classifySlow(b []byte) (msgKind, []byte) {
	var m wireMsg
	if err := json.Unmarshal(b, &m); err != nil {
		return kindOther, nil
	}
	switch {
	case m.Kind == "self-connected":
		return kindSelf, []byte(m.ID)
	case m.Kind == "connected":
		return kindConnected, []byte(m.ID)
	case m.Kind == "disconnected":
		return kindDisconnected, []byte(m.ID)
	case m.Kind == "error":
		return kindError, []byte(m.Code)
	case m.Kind == "renamed":
		return kindRenamed, []byte(m.ID)
	case m.Offer != nil && m.Answer == nil:
		return kindOffer, []byte(m.FromID)
	case m.Answer != nil && m.Offer == nil:
		return kindAnswer, []byte(m.FromID)
	}
	return kindOther, nil
}
