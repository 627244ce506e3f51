// Package pionlog sends pion's logs to a slog.Logger, every level at debug: pion reports many recoverable
// conditions (a failed candidate pair, a closed socket, a client that gave up) that are not ours to surface.
// pion's own debug messages (SCTP's retransmission timeouts among them) go at LevelDebug, below slog's debug.
package pionlog

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// LevelDebug is the level of pion's debug messages: a logger enabled at slog.LevelDebug does not see them.
const LevelDebug = slog.LevelDebug - 4

// Factory is a pion logging.LoggerFactory writing to Log.
type Factory struct{ Log *slog.Logger }

// NewLogger returns the logger for one pion scope ("ice", "turn", …).
func (f Factory) NewLogger(scope string) logging.LeveledLogger {
	return scoped{f.Log.With("pion", scope)}
}

type scoped struct{ log *slog.Logger }

func (s scoped) logf(format string, args ...any) { s.logAt(slog.LevelDebug, format, args...) }

func (s scoped) logAt(level slog.Level, format string, args ...any) {
	if s.log.Enabled(context.Background(), level) {
		s.log.Log(context.Background(), level, fmt.Sprintf(format, args...))
	}
}

func (s scoped) Trace(string)              {}
func (s scoped) Tracef(string, ...any)     {}
func (s scoped) Debug(msg string)          { s.logAt(LevelDebug, "%s", msg) }
func (s scoped) Debugf(f string, a ...any) { s.logAt(LevelDebug, f, a...) }
func (s scoped) Info(msg string)           { s.logf("%s", msg) }
func (s scoped) Infof(f string, a ...any)  { s.logf(f, a...) }
func (s scoped) Warn(msg string)           { s.logf("%s", msg) }
func (s scoped) Warnf(f string, a ...any)  { s.logf(f, a...) }
func (s scoped) Error(msg string)          { s.logf("%s", msg) }
func (s scoped) Errorf(f string, a ...any) { s.logf(f, a...) }
