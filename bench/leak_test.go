package main

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the harness's tests when a goroutine outlives them (a client's
// connections included: each run closes its transport). Started by -cpu-hog's
// startHog, the test binary is a busy process instead.
func TestMain(m *testing.M) {
	if spinIfHog() {
		return
	}
	goleak.VerifyTestMain(m)
}
