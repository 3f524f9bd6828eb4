package batchapi

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCheckWindow(t *testing.T) {
	for _, w := range []string{"24h", "36h", "168h", "1d", "7d"} {
		assert.NoError(t, CheckWindow(w), w)
	}
	for _, w := range []string{"", "23h", "169h", "8d", "0d", "24", "h", "1w", "24h ", "+24h", "024h"} {
		assert.Error(t, CheckWindow(w), w)
	}
}
