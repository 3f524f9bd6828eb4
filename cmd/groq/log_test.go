package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestColorHandlerRedactsAndColors(t *testing.T) {
	var b bytes.Buffer
	redact := func(_ []string, a slog.Attr) slog.Attr {
		if a.Value.Kind() == slog.KindString {
			a.Value = slog.StringValue(strings.ReplaceAll(a.Value.String(), "gsk_secret", "[redacted]"))
		}
		return a
	}
	l := slog.New(&colorHandler{w: &b, level: slog.LevelDebug, redact: redact}).With("component", "test")
	l.Warn("sent with gsk_secret", "header", "Bearer gsk_secret", "n", 3)
	out := b.String()
	assert.NotContains(t, out, "gsk_secret")
	assert.Contains(t, out, "\x1b[33m", "a warning is yellow")
	assert.Contains(t, out, "[redacted]")
	assert.Contains(t, out, "component=")
	assert.Contains(t, out, "n=\x1b[0m3")
}

func TestPlainLoggerWhenNotATerminal(t *testing.T) {
	var b bytes.Buffer
	l := newLogger(&b, []string{"gsk_k1"})
	l.Info("hello", "key", "gsk_k1")
	assert.NotContains(t, b.String(), "\x1b[", "no colors off a terminal")
	assert.NotContains(t, b.String(), "gsk_k1")
	assert.Contains(t, b.String(), "key=[redacted]")
}
