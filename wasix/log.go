package wasix

import "log/slog"

// LevelTrace is the slog level below Debug at which the signal imports log
// every call (callback_signal's name and funct_is_some, as the reference
// runtime's trace instrumentation does).
const LevelTrace = slog.Level(-8)

// ReplaceLevel is a slog.HandlerOptions.ReplaceAttr function that prints
// LevelTrace as "TRACE" instead of "DEBUG-4".
func ReplaceLevel(groups []string, a slog.Attr) slog.Attr {
	if a.Key == slog.LevelKey && len(groups) == 0 {
		if l, ok := a.Value.Any().(slog.Level); ok && l <= LevelTrace {
			return slog.String(slog.LevelKey, "TRACE")
		}
	}
	return a
}
