package groq

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"golang.org/x/time/rate"
)

// TestLimiterCountsRefillTwiceWhenTimeRunsBack pins the x/time/rate behaviour the
// scheduler's clock guards against: a reservation at a time before the limiter's
// last event moves that event back, and the refill between the two times is then
// counted again. If this test fails, x/time/rate changed, and scheduler.now's
// guard may be reconsidered.
func TestLimiterCountsRefillTwiceWhenTimeRunsBack(t *testing.T) {
	lim := rate.NewLimiter(10, 10)
	lim.ReserveN(t0, 10) // empty at t0
	late := t0.Add(time.Second)
	lim.ReserveN(late, 10)                        // refilled 10 by late, all taken: empty again
	lim.ReserveN(t0.Add(500*time.Millisecond), 0) // a stale time: the last event moves back
	assert.InDelta(t, 5, lim.TokensAt(late), 1e-9, "the last half second's refill counted twice")
}

// TestSchedulerNowNeverRunsBack: the scheduler's time never goes before a time it
// has given the buckets, whatever the clock says.
func TestSchedulerNowNeverRunsBack(t *testing.T) {
	s := &scheduler{}
	first := s.now()
	assert.False(t, s.now().Before(first))
	future := time.Now().Add(time.Hour)
	s.clock = future
	assert.Equal(t, future, s.now(), "a time already given is the floor")
}
