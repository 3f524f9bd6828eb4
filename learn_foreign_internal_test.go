package groq

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestForeignFlow: the estimate of others' spending, its decay, its reserve.
func TestForeignFlow(t *testing.T) {
	f := foreignFlow{}
	f.start(t0)
	now := t0
	for range 60 { // 100 tokens every second for a minute
		now = now.Add(time.Second)
		f.add(now, 100, time.Second, true)
	}
	assert.InDelta(t, 6000, f.perMinute(now), 60, "100 a second")
	assert.True(t, f.active(now))
	assert.Equal(t, 100.0, f.reserve(now, 60000), "one request left for it")
	assert.Equal(t, 25.0, f.reserve(now, 100), "at most a quarter of the depth")
	assert.True(t, f.changed(now), "it became active")
	assert.False(t, f.changed(now))

	later := now.Add(foreignTau)
	assert.False(t, f.active(later), "not seen for foreignTau: no longer active")
	assert.Zero(t, f.reserve(later, 60000))
	covered := func(d time.Duration) float64 { return -math.Expm1(-d.Seconds() / foreignTau.Seconds()) }
	assert.InDelta(t, 6000/math.E*covered(time.Minute)/covered(time.Minute+foreignTau), f.perMinute(later), 60,
		"the weight decays with the time constant, over a longer window")
	assert.True(t, f.changed(later), "it stopped")

	r := foreignFlow{single: true}
	r.start(t0)
	r.add(t0.Add(5*time.Second), 3, 5*time.Second, true)
	assert.Equal(t, 1.0, r.reserve(t0.Add(5*time.Second), 600), "a step of three requests: a request is one")
}
