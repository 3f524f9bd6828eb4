package groq

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestRecentEventsRingAndPrune: events count in their second, leave the window
// after StatusWindow, a slot reused by a later second starts from zero, and
// past maxRingModels the models with nothing in the window are dropped.
func TestRecentEventsRingAndPrune(t *testing.T) {
	var r recentEvents
	t0 := time.Unix(1_000_000, 0)
	r.add("m", t0, eventRateLimited)
	r.add("m", t0.Add(300*time.Millisecond), eventRateLimited)
	r.add("m", t0.Add(2*time.Second), eventRetry)
	limited, retries, marks := r.read("m", t0.Add(3*time.Second))
	require.Equal(t, 2, limited)
	require.Equal(t, 1, retries)
	require.Equal(t, []StatusMark{{Time: t0.UTC(), RateLimited: 2}, {Time: t0.Add(2 * time.Second).UTC(), Retries: 1}}, marks)

	limited, retries, _ = r.read("m", t0.Add(StatusWindow+time.Second))
	require.Equal(t, 0, limited, "the first second has left the window")
	require.Equal(t, 1, retries)
	r.add("m", t0.Add(StatusWindow), eventRetry) // the same slot as t0
	limited, retries, _ = r.read("m", t0.Add(StatusWindow))
	require.Equal(t, 0, limited)
	require.Equal(t, 2, retries)

	for i := range maxRingModels {
		r.add(fmt.Sprintf("x%d", i), t0, eventRetry)
	}
	require.Len(t, r.models, maxRingModels+1)
	r.add("new", t0.Add(StatusWindow+3*time.Second), eventRetry)
	require.Len(t, r.models, 2, "m (a retry within the window) and new stay; every x is dropped")
}

func TestFinite(t *testing.T) {
	require.Equal(t, 0.0, finite(math.NaN()))
	require.Equal(t, 0.0, finite(math.Inf(1)))
	require.Equal(t, 2.5, finite(2.5))
}
