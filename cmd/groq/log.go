package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
)

// quietLogger is the command's logger without -v: warnings and errors (a corrupt
// cache, a file it cannot write, a store that does not answer), but not each
// failed attempt, which the answer's attempts and a batch's progress line count.
func quietLogger(w io.Writer, keys []string) *slog.Logger {
	return slog.New(&quietHandler{newLogger(w, keys).Handler()})
}

type quietHandler struct{ slog.Handler }

func (h *quietHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && h.Handler.Enabled(ctx, l)
}

func (h *quietHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "groq: attempt failed" {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h *quietHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return &quietHandler{h.Handler.WithAttrs(a)}
}

func (h *quietHandler) WithGroup(name string) slog.Handler {
	return &quietHandler{h.Handler.WithGroup(name)}
}

// newLogger logs to w: colored when w is a terminal, plain text otherwise. Any
// string that contains one of keys is redacted (the client never logs a key; this
// guards what other code might).
func newLogger(w io.Writer, keys []string) *slog.Logger {
	redact := func(_ []string, a slog.Attr) slog.Attr {
		if a.Value.Kind() == slog.KindString {
			s := a.Value.String()
			for _, k := range keys {
				s = strings.ReplaceAll(s, k, "[redacted]")
			}
			a.Value = slog.StringValue(s)
		}
		return a
	}
	if isTerminal(w) {
		return slog.New(&colorHandler{w: w, level: slog.LevelDebug, redact: redact})
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: redact}))
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// colorHandler writes one colored line per record.
type colorHandler struct {
	mu     sync.Mutex
	w      io.Writer
	level  slog.Level
	attrs  []slog.Attr
	redact func([]string, slog.Attr) slog.Attr
}

func (h *colorHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *colorHandler) Handle(_ context.Context, r slog.Record) error {
	color := "\x1b[36m" // debug, info: cyan
	switch {
	case r.Level >= slog.LevelError:
		color = "\x1b[31m"
	case r.Level >= slog.LevelWarn:
		color = "\x1b[33m"
	}
	var b strings.Builder
	msg := h.redact(nil, slog.String("", r.Message)).Value.String()
	fmt.Fprintf(&b, "%s%s %-5s\x1b[0m %s", color, r.Time.Format("15:04:05.000"), r.Level, msg)
	add := func(a slog.Attr) bool {
		a = h.redact(nil, a)
		fmt.Fprintf(&b, " \x1b[2m%s=\x1b[0m%v", a.Key, a.Value)
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	b.WriteByte('\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, b.String())
	return err
}

func (h *colorHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &colorHandler{w: h.w, level: h.level, redact: h.redact, attrs: append(append([]slog.Attr(nil), h.attrs...), attrs...)}
}

func (h *colorHandler) WithGroup(string) slog.Handler { return h }
