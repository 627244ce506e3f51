package transport

import "strings"

// headerHasToken reports whether a comma-separated header value contains token, ignoring case.
func headerHasToken(v, token string) bool {
	for v != "" {
		var t string
		t, v, _ = strings.Cut(v, ",")
		if strings.EqualFold(strings.TrimSpace(t), token) {
			return true
		}
	}
	return false
}
