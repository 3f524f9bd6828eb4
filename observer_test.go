package groq_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
)

type ctxKey struct{}

// noCtx marks recorder lines of events that carry no context.
var noCtx = context.TODO()

// recorder is an observer that writes one line per event.
type recorder struct {
	mu    sync.Mutex
	lines []string
	ctxOK bool // every event after CallStart saw CallStart's context
}

func (r *recorder) add(ctx context.Context, format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ctx != noCtx && ctx.Value(ctxKey{}) != "call" {
		r.ctxOK = false
	}
	r.lines = append(r.lines, fmt.Sprintf(format, args...))
}

func (r *recorder) observer() groq.Observer {
	r.ctxOK = true
	return groq.Observer{
		CallStart: func(ctx context.Context, e groq.CallStartEvent) context.Context {
			r.add(noCtx, "start %s p%d stream=%v", e.Model, e.Priority, e.Stream)
			return context.WithValue(ctx, ctxKey{}, "call")
		},
		Queued: func(ctx context.Context, e groq.QueuedEvent) { r.add(ctx, "queued attempt %d", e.Attempt) },
		Admitted: func(ctx context.Context, e groq.AdmittedEvent) {
			r.add(ctx, "admitted attempt %d quota %s key %d wait %v", e.Attempt, e.Quota, e.KeyIndex, e.QueueWait)
		},
		AttemptDone: func(ctx context.Context, e groq.AttemptEvent) {
			r.add(ctx, "attempt %d status %d id=%v", e.Attempt, e.Status, e.RequestID != "")
		},
		RateLimited: func(ctx context.Context, e groq.RateLimitedEvent) {
			r.add(ctx, "rate limited %q wait %v local=%v", e.Limit, e.ServerWait, e.Local)
		},
		Retry: func(ctx context.Context, e groq.RetryEvent) {
			r.add(ctx, "retry after attempt %d: %s %v", e.Attempt, e.Reason, e.Delay)
		},
		CallDone: func(ctx context.Context, e groq.CallDoneEvent) {
			tokens := 0
			if e.Usage != nil {
				tokens = e.Usage.TotalTokens
			}
			r.add(ctx, "done err=%v attempts %d cache=%v shared=%v stream=%v tokens>0=%v finish=%v", e.Err != nil, e.Attempts, e.FromCache, e.Shared, e.Stream, tokens > 0, e.FinishReasons)
		},
		StreamFirst: func(ctx context.Context, e groq.StreamFirstEvent) {
			r.add(ctx, "first chunk after %v", e.TimeToFirstChunk)
		},
		BudgetRefused: func(ctx context.Context, e groq.BudgetRefusedEvent) { r.add(ctx, "budget refused %d", e.Requested) },
		Learned:       func(e groq.LearnedEvent) { r.add(noCtx, "learned %s %s burst %d", e.Quota, e.Limit, e.Burst) },
	}
}

// TestObserverSeesEveryStep: a call that is rate-limited, retried and then
// succeeds, a cache hit, and a stream.
func TestObserverSeesEveryStep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rec recorder
		c, srv := sim(t, []groqtest.Option{groqtest.WithLatency(100*time.Millisecond, 0)},
			groq.WithObserver(rec.observer()), groq.WithCache(groq.NewMemoryCache(time.Hour, 0)))
		srv.Script(groqtest.Fault{Kind: groqtest.Fault429, RetryAfter: "2"})
		_, err := c.Chat(context.Background(), hello)
		require.NoError(t, err)
		_, err = c.Chat(context.Background(), hello)
		require.NoError(t, err)
		st, err := c.ChatStream(context.Background(), []groq.Message{groq.User("stream")})
		require.NoError(t, err)
		for st.Next() {
		}
		st.Close()
		assert.Equal(t, []string{
			"start llama-3.1-8b-instant p5 stream=false",
			"queued attempt 1",
			"admitted attempt 1 quota key#0 key 0 wait 0s",
			`rate limited "" wait 2s local=false`,
			"attempt 1 status 429 id=true",
			"retry after attempt 1: rate_limited 0s",
			"queued attempt 2",
			"admitted attempt 2 quota key#0 key 0 wait 2s",
			"attempt 2 status 200 id=true",
			"done err=false attempts 2 cache=false shared=false stream=false tokens>0=true finish=[stop]",
			"start llama-3.1-8b-instant p5 stream=false",
			"done err=false attempts 0 cache=true shared=false stream=false tokens>0=true finish=[stop]",
			"start llama-3.1-8b-instant p5 stream=true",
			"queued attempt 1",
			"admitted attempt 1 quota key#0 key 0 wait 0s",
			"first chunk after 0s", // the simulator sends its first chunk at once
			"attempt 1 status 200 id=true",
			"done err=false attempts 1 cache=false shared=false stream=true tokens>0=true finish=[stop]",
		}, rec.lines)
		assert.True(t, rec.ctxOK, "every event carried CallStart's context")
	})
}

func TestObserverBudgetAndLearning(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rec recorder
		c, _ := sim(t, []groqtest.Option{groqtest.WithModel(simModel, groqtest.Limits{RPM: 600, Burst: 2})},
			groq.WithObserver(rec.observer()), groq.WithDefaultModel(simModel), groq.WithModelLimits(simModel, groq.Limits{RPM: 600}),
			groq.WithDailyTokenBudget(2000))
		_, errs := load(c, 4, groq.WithMaxTokens(10))
		noErrors(t, errs)
		_, err := c.Chat(context.Background(), hello, groq.WithMaxTokens(1995))
		require.ErrorIs(t, err, groq.ErrBudgetExceeded)
		joined := strings.Join(rec.lines, "\n")
		assert.Contains(t, joined, "learned key#0 RPM burst 2")
		assert.Contains(t, joined, "budget refused")
	})
}

// TestPanickingObserverDoesNotBreakACall: the call succeeds and the panic is
// logged once.
func TestPanickingObserverDoesNotBreakACall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs bytes.Buffer
		c, _ := sim(t, nil, groq.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))),
			groq.WithObserver(groq.Observer{Admitted: func(context.Context, groq.AdmittedEvent) { panic("observer bug") }}))
		for range 3 {
			_, err := c.Chat(context.Background(), hello, groq.WithoutCache())
			require.NoError(t, err)
		}
		assert.Equal(t, 1, strings.Count(logs.String(), "an observer panicked"), logs.String())
		assert.Contains(t, logs.String(), "observer bug")
	})
}

func TestObserversCombine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var a, b []string
		mk := func(into *[]string, tag string) groq.Observer {
			return groq.Observer{
				CallStart: func(ctx context.Context, e groq.CallStartEvent) context.Context {
					*into = append(*into, fmt.Sprint("start seen ", ctx.Value(ctxKey{})))
					return context.WithValue(ctx, ctxKey{}, tag)
				},
				CallDone: func(ctx context.Context, e groq.CallDoneEvent) {
					*into = append(*into, fmt.Sprint("done ", ctx.Value(ctxKey{})))
				},
			}
		}
		c, _ := sim(t, nil, groq.WithObserver(mk(&a, "a")), groq.WithObserver(mk(&b, "b")))
		_, err := c.Chat(context.Background(), hello)
		require.NoError(t, err)
		assert.Equal(t, []string{"start seen <nil>", "done b"}, a)
		assert.Equal(t, []string{"start seen a", "done b"}, b, "the second sees the first's context")
	})
}

func TestRateLimitedEventLimitName(t *testing.T) {
	assert.Equal(t, "local", groq.RateLimitedEvent{Local: true, Limit: "RPM"}.LimitName())
	assert.Equal(t, "unknown", groq.RateLimitedEvent{}.LimitName())
	assert.Equal(t, "TPM", groq.RateLimitedEvent{Limit: "TPM"}.LimitName())
}
