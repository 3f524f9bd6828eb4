package groq_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when a goroutine outlives them: no
// goroutine may outlive Close or a cancelled context.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
