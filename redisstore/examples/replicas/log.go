package main

import (
	"log/slog"
	"os"
)

// groqLogger shows the client's warnings (a Redis that does not answer, say).
func groqLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
