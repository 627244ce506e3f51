// Package pionlog sends pion's logs to a slog.Logger, every level at debug: pion reports many recoverable
// conditions (a failed candidate pair, a closed socket, a client that gave up) that are not ours to surface.
package pionlog

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// Factory is a pion logging.LoggerFactory writing to Log.
type Factory struct{ Log *slog.Logger }

// NewLogger returns the logger for one pion scope ("ice", "turn", …).
func (f Factory) NewLogger(scope string) logging.LeveledLogger {
	return scoped{f.Log.With("pion", scope)}
}

type scoped struct{ log *slog.Logger }

func (s scoped) logf(format string, args ...any) {
	if s.log.Enabled(context.Background(), slog.LevelDebug) {
		s.log.Debug(fmt.Sprintf(format, args...))
	}
}

func (s scoped) Trace(string)              {}
func (s scoped) Tracef(string, ...any)     {}
func (s scoped) Debug(string)              {}
func (s scoped) Debugf(string, ...any)     {}
func (s scoped) Info(msg string)           { s.logf("%s", msg) }
func (s scoped) Infof(f string, a ...any)  { s.logf(f, a...) }
func (s scoped) Warn(msg string)           { s.logf("%s", msg) }
func (s scoped) Warnf(f string, a ...any)  { s.logf(f, a...) }
func (s scoped) Error(msg string)          { s.logf("%s", msg) }
func (s scoped) Errorf(f string, a ...any) { s.logf(f, a...) }
