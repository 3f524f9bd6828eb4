package main

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the harness's tests when a goroutine outlives them (a client's
// connections included: each run closes its transport).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
