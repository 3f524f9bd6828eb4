package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestInvalidRedisURLHidesItsPassword (audit 10): an invalid --redis URL is
// named in the error without its password.
func TestInvalidRedisURLHidesItsPassword(t *testing.T) {
	for _, u := range []string{"redis://:hunter2@127.0.0.1:6379/notadb", "redis://user:hunter2@127.0.0.1:port/0", "rediss://user:hunter2@[::1/0", "http://user:hunter2@127.0.0.1/0"} {
		_, _, err := redisOptions(u, "groq:", time.Second)
		require.Error(t, err, u)
		assert.NotContains(t, err.Error(), "hunter2", u)
		assert.Contains(t, err.Error(), "--redis", u)
	}
}
