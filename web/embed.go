// Package web holds the browser side of p2plobby: the SDK (sdk/, a DOM-free ES module) and the lobby app
// (app/), embedded into the binary so that nothing is built or fetched at run time.
package web

import "embed"

// FS holds app/ and sdk/ as written in the repository; the server maps GET / to app/index.html.
//
//go:embed app sdk
var FS embed.FS
