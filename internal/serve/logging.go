package serve

import (
	"context"
	"log/slog"
)

// callerErrors is the gateway client's log handler: an attempt that a caller's
// own request made fail (400, 404, 413, 422, 424: a bad body, an unknown model)
// is logged at Info, seen with -v, not as a warning about the gateway. Failures
// that are the gateway's concern (its key refused, 429s, 5xx, the network) stay
// warnings.
type callerErrors struct{ slog.Handler }

// callerStatus are the statuses of a caller's own mistakes.
var callerStatus = map[int64]bool{400: true, 404: true, 413: true, 422: true, 424: true}

func (h callerErrors) Enabled(ctx context.Context, l slog.Level) bool {
	return h.Handler.Enabled(ctx, min(l, slog.LevelInfo)) // a warning may become Info
}

func (h callerErrors) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelWarn {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "status" && a.Value.Kind() == slog.KindInt64 && callerStatus[a.Value.Int64()] {
				r.Level = slog.LevelInfo
				return false
			}
			return true
		})
	}
	if !h.Handler.Enabled(ctx, r.Level) {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h callerErrors) WithAttrs(as []slog.Attr) slog.Handler {
	return callerErrors{h.Handler.WithAttrs(as)}
}

func (h callerErrors) WithGroup(name string) slog.Handler {
	return callerErrors{h.Handler.WithGroup(name)}
}
