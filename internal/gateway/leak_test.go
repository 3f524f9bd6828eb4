package gateway

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when a goroutine outlives them.
// With upstreamEnv set, the binary is a groqtest server instead (see
// startUpstream).
func TestMain(m *testing.M) {
	if os.Getenv(upstreamEnv) != "" {
		serveUpstream()
		return
	}
	goleak.VerifyTestMain(m)
}
