package groqtest

import (
	"math"
	"time"
)

// BucketShape is how the simulator counts a limit.
type BucketShape int

const (
	// TokenBucket refills continuously and holds one period's worth, as Groq's
	// headers show (30 requests used of 14,400 a day reset in 3 minutes).
	TokenBucket BucketShape = iota
	// RollingWindow is a sliding window: it admits what fits in the limit minus the
	// sum of the last period's usage (an exact sliding log). Limits' bursts do not
	// apply to it.
	RollingWindow
)

func (s BucketShape) String() string {
	if s == RollingWindow {
		return "rolling window"
	}
	return "token bucket"
}

// bucket is one limit of one organization and model. Not safe for concurrent use.
type bucket struct {
	limit    float64 // per period: the refill rate's basis, and the figure in headers
	capacity float64 // the token bucket's depth (limit unless a burst is set)
	period   time.Duration
	shape    BucketShape

	tokens float64 // token bucket
	last   time.Time

	events []event // rolling window, oldest first
}

type event struct {
	at time.Time
	n  float64
}

// newBucket makes a full bucket of limit per period; capacity is its depth (0: the
// limit), for the token bucket shape.
func newBucket(limit, capacity int, period time.Duration, shape BucketShape, now time.Time) *bucket {
	if capacity <= 0 || shape == RollingWindow {
		capacity = limit
	}
	return &bucket{limit: float64(limit), capacity: float64(capacity), period: period, shape: shape, tokens: float64(capacity), last: now}
}

func (b *bucket) rate() float64 { return b.limit / b.period.Seconds() }

func (b *bucket) advance(now time.Time) {
	if b.shape == RollingWindow {
		cut := now.Add(-b.period)
		i := 0
		for i < len(b.events) && !b.events[i].at.After(cut) {
			i++
		}
		b.events = b.events[i:]
		return
	}
	if now.After(b.last) {
		b.tokens = math.Min(b.capacity, b.tokens+now.Sub(b.last).Seconds()*b.rate())
		b.last = now
	}
}

// available is what can be taken now.
func (b *bucket) available(now time.Time) float64 {
	b.advance(now)
	if b.shape == RollingWindow {
		used := 0.0
		for _, e := range b.events {
			used += e.n
		}
		return b.limit - used
	}
	return b.tokens
}

// waitFor is how long until n can be taken (0 when it can now). A token bucket
// takes more than its depth once it is full, going into debt.
func (b *bucket) waitFor(now time.Time, n float64) time.Duration {
	if b.shape == TokenBucket {
		n = math.Min(n, b.capacity)
	}
	avail := b.available(now)
	if avail+1e-9 >= n {
		return 0
	}
	if b.shape == RollingWindow {
		need := n - avail
		for _, e := range b.events {
			need -= e.n
			if need <= 1e-9 {
				return e.at.Add(b.period).Sub(now)
			}
		}
		return b.period
	}
	return time.Duration(math.Ceil((n - avail) / b.rate() * float64(time.Second)))
}

func (b *bucket) take(now time.Time, n float64) {
	b.advance(now)
	if b.shape == RollingWindow {
		b.events = append(b.events, event{at: now, n: n})
		return
	}
	b.tokens -= n
}

// refund gives back n of what was taken (Groq refunds the unused part of
// max_completion_tokens).
func (b *bucket) refund(now time.Time, n float64) {
	b.advance(now)
	if b.shape == RollingWindow {
		for i := len(b.events) - 1; i >= 0 && n > 0; i-- {
			d := math.Min(n, b.events[i].n)
			b.events[i].n -= d
			n -= d
		}
		return
	}
	b.tokens = math.Min(b.capacity, b.tokens+n)
}

// resetIn is the time until the bucket is full again.
func (b *bucket) resetIn(now time.Time) time.Duration {
	avail := b.available(now)
	if avail >= b.capacity {
		return 0
	}
	if b.shape == RollingWindow {
		if len(b.events) == 0 {
			return 0
		}
		return b.events[len(b.events)-1].at.Add(b.period).Sub(now)
	}
	return time.Duration(math.Ceil((b.capacity - avail) / b.rate() * float64(time.Second)))
}
