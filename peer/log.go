package peer

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// pionLogger sends pion's logs to the Client's slog.Logger: errors and warnings at debug level, because pion
// reports many recoverable conditions (a failed candidate pair, a closed socket) that are not ours to surface.
type pionLogger struct{ log *slog.Logger }

func (p pionLogger) NewLogger(scope string) logging.LeveledLogger {
	return pionScope{p.log.With("pion", scope)}
}

type pionScope struct{ log *slog.Logger }

func (s pionScope) logf(format string, args ...any) {
	if s.log.Enabled(context.Background(), slog.LevelDebug) {
		s.log.Debug(fmt.Sprintf(format, args...))
	}
}

func (s pionScope) Trace(string)          {}
func (s pionScope) Tracef(string, ...any) {}
func (s pionScope) Debug(string)          {}
func (s pionScope) Debugf(string, ...any) {}
func (s pionScope) Info(msg string)       { s.logf("%s", msg) }
func (s pionScope) Infof(f string, a ...any) {
	s.logf(f, a...)
}
func (s pionScope) Warn(msg string)          { s.logf("%s", msg) }
func (s pionScope) Warnf(f string, a ...any) { s.logf(f, a...) }
func (s pionScope) Error(msg string)         { s.logf("%s", msg) }
func (s pionScope) Errorf(f string, a ...any) {
	s.logf(f, a...)
}
