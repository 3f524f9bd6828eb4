package groq_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
)

// Two models of a test's own, so that the built-in table does not apply.
const (
	modelA = "test-model-a"
	modelB = "test-model-b"
	modelC = "test-model-c"
)

// servedBy counts the calls each model answered, from the responses.
type servedBy struct {
	mu sync.Mutex
	n  map[string]int
}

func (s *servedBy) callback() groq.CallOption {
	return groq.WithCallback(func(r *groq.ChatResponse, err error) {
		if err != nil {
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.n == nil {
			s.n = map[string]int{}
		}
		s.n[r.Model]++
	})
}

func (s *servedBy) of(model string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n[model]
}

// TestTwoModelsServeTogether: two models of 60 requests a minute each (a
// minute's bucket). 120 calls that accept both finish in about a second (the
// first model alone would take a minute), about 60 served by each, no 429.
func TestTwoModelsServeTogether(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := groq.Limits{RPM: 60}
		c, srv := sim(t, []groqtest.Option{groqtest.WithKeys("gsk_test_key_0"),
			groqtest.WithModel(modelA, groqtest.Limits{RPM: 60}), groqtest.WithModel(modelB, groqtest.Limits{RPM: 60}),
			groqtest.WithLatency(20*time.Millisecond, 0)},
			groq.WithModelLimits(modelA, l), groq.WithModelLimits(modelB, l))
		var by servedBy
		took, errs := pool(c, 120, 16, groq.WithModels(modelA, modelB), by.callback())
		noErrors(t, errs)
		st := srv.Stats()
		assert.Zero(t, st.RateLimited)
		assert.Equal(t, 120, st.Requests, "each call sent once, on one model")
		assert.Less(t, took, 2*time.Second, "both quotas at once (one model alone: a minute)")
		assert.Equal(t, 60, st.PerModel[modelA])
		assert.Equal(t, 60, st.PerModel[modelB])
		assert.Equal(t, 60, by.of(modelA), "resp.Model names the model that served")
		assert.Equal(t, 60, by.of(modelB))
	})
}

// TestPreferredModelFirst: with capacity on both, every call goes to the first
// model of its list.
func TestPreferredModelFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, srv := sim(t, []groqtest.Option{groqtest.WithKeys("gsk_test_key_0"),
			groqtest.WithModel(modelA, groqtest.Limits{RPM: 600}), groqtest.WithModel(modelB, groqtest.Limits{RPM: 600})},
			groq.WithModelLimits(modelA, groq.Limits{RPM: 600}), groq.WithModelLimits(modelB, groq.Limits{RPM: 600}))
		_, errs := pool(c, 40, 4, groq.WithModels(modelB, modelA))
		noErrors(t, errs)
		assert.Equal(t, map[string]int{modelB: 40}, srv.Stats().PerModel)
	})
}

// TestSpentDayMovesToTheNextModel: the preferred model's day is spent (its
// headers say none left). The next call is served by the next model at once,
// and the spent model is sent nothing it must refuse.
func TestSpentDayMovesToTheNextModel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, srv := sim(t, []groqtest.Option{groqtest.WithKeys("gsk_test_key_0"),
			groqtest.WithModel(modelA, groqtest.Limits{RPM: 600, RPD: 5}), groqtest.WithModel(modelB, groqtest.Limits{RPM: 600}),
			groqtest.WithLatency(20*time.Millisecond, 0)})
		for i := range 12 {
			start := time.Now()
			resp, err := c.Chat(context.Background(), []groq.Message{groq.User("hello")}, groq.WithModels(modelA, modelB), groq.WithoutCache())
			require.NoError(t, err, "call %d", i)
			want := modelA
			if i >= 5 {
				want = modelB
			}
			assert.Equal(t, want, resp.Model, "call %d", i)
			assert.Less(t, time.Since(start), 500*time.Millisecond, "call %d", i)
		}
		st := srv.Stats()
		assert.Zero(t, st.RateLimited, "the spent model is sent nothing it must refuse")
		assert.Equal(t, map[string]int{modelA: 5, modelB: 7}, st.PerModel)
	})
}

// TestSpentDayLearntFromA429: another program spent the preferred model's day,
// so the client learns it from a 429. The call moves on to the next model at
// once (the day's wait is past any tolerance), and later calls go to it first.
func TestSpentDayLearntFromA429(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hook, sent := spentDay(modelA)
		c, _ := sim(t, []groqtest.Option{groqtest.WithKeys("gsk_test_key_0"),
			groqtest.WithModel(modelA, groqtest.Limits{RPM: 600}), groqtest.WithModel(modelB, groqtest.Limits{RPM: 600}),
			groqtest.WithHandlerHook(hook)})
		start := time.Now()
		for i := range 6 {
			resp, err := c.Chat(context.Background(), []groq.Message{groq.User("hello")}, groq.WithModels(modelA, modelB), groq.WithoutCache())
			require.NoError(t, err, "call %d", i)
			assert.Equal(t, modelB, resp.Model, "call %d", i)
		}
		assert.Less(t, time.Since(start), time.Second)
		assert.Equal(t, int64(1), sent.Load(), "one 429 teaches the spent day")
	})
}

// refuseModel answers every request for model with status, headers and an
// error body, and counts them.
func refuseModel(model string, status int, headers map[string]string, body string) (func(w http.ResponseWriter, r *http.Request, body []byte) bool, *atomic.Int64) {
	var n atomic.Int64
	return func(w http.ResponseWriter, r *http.Request, req []byte) bool {
		if !strings.Contains(string(req), `"model":"`+model+`"`) {
			return false
		}
		n.Add(1)
		for k, v := range headers {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprint(w, body)
		return true
	}, &n
}

// spentDay answers every request for model with Groq's 429 for a spent day.
func spentDay(model string) (func(w http.ResponseWriter, r *http.Request, body []byte) bool, *atomic.Int64) {
	return refuseModel(model, http.StatusTooManyRequests, map[string]string{"Retry-After": "7200",
		"X-Ratelimit-Limit-Requests": "1000", "X-Ratelimit-Remaining-Requests": "0", "X-Ratelimit-Reset-Requests": "2h0m0s"},
		`{"error":{"message":"Rate limit reached for model `+"`"+model+"`"+` in organization `+"`org_x`"+` service tier `+"`on_demand`"+` on requests per day (RPD): Limit 1000, Used 1000, Requested 1. Please try again in 2h0m0s.","type":"requests","code":"rate_limit_exceeded"}}`)
}

// failModel answers every request for model with a 500.
func failModel(model string) (func(w http.ResponseWriter, r *http.Request, body []byte) bool, *atomic.Int64) {
	return refuseModel(model, http.StatusInternalServerError, nil, `{"error":{"message":"internal error","type":"internal_server_error"}}`)
}

// TestFallbackAfterWaitsForThePreferredModel: the first model's minute holds 6
// requests and refills one every 10 s. With a tolerance of 15 s, calls wait for
// it; with none, the second model serves as soon as the first is empty.
func TestFallbackAfterWaitsForThePreferredModel(t *testing.T) {
	for _, tc := range []struct {
		name   string
		after  time.Duration
		fromA  int
		atMost time.Duration
	}{
		{"no tolerance", 0, 5, 100 * time.Millisecond}, // the client keeps a margin: 5 of the bucket's 6
		{"15s", 15 * time.Second, 8, 21 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, srv := sim(t, []groqtest.Option{groqtest.WithKeys("gsk_test_key_0"),
					groqtest.WithModel(modelA, groqtest.Limits{RPM: 6}), groqtest.WithModel(modelB, groqtest.Limits{RPM: 600})},
					groq.WithModelLimits(modelA, groq.Limits{RPM: 6}), groq.WithModelLimits(modelB, groq.Limits{RPM: 600}))
				start := time.Now()
				for i := range 8 {
					_, err := c.Chat(context.Background(), []groq.Message{groq.User("hello")},
						groq.WithModels(modelA, modelB), groq.WithFallbackAfter(tc.after), groq.WithoutCache())
					require.NoError(t, err, "call %d", i)
				}
				assert.LessOrEqual(t, time.Since(start), tc.atMost)
				st := srv.Stats()
				assert.Equal(t, tc.fromA, st.PerModel[modelA])
				assert.Zero(t, st.RateLimited)
			})
		})
	}
}

// TestModelNotFoundMovesOn: the first model does not exist; the call is served
// by the next. When no model of the list exists, the error holds each model's.
func TestModelNotFoundMovesOn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := sim(t, []groqtest.Option{groqtest.WithKeys("gsk_test_key_0"), groqtest.WithModel(modelB, groqtest.Limits{RPM: 600})})
		resp, err := c.Chat(context.Background(), []groq.Message{groq.User("hello")}, groq.WithModels("no-such-model", modelB))
		require.NoError(t, err)
		assert.Equal(t, modelB, resp.Model)

		_, err = c.Chat(context.Background(), []groq.Message{groq.User("hello")}, groq.WithModels("no-such-model", "nor-this-one"))
		var fe *groq.FallbackError
		require.ErrorAs(t, err, &fe)
		assert.Equal(t, []string{"no-such-model", "nor-this-one"}, fe.Models)
		var nf *groq.ModelNotFoundError
		require.ErrorAs(t, err, &nf)
		assert.Len(t, fe.Errs, 2)
		for _, e := range fe.Errs {
			assert.True(t, errors.As(e, &nf), "each model's error is its 404: %v", e)
		}
	})
}

// TestContextWindowChoosesAModelThatFits: a prompt beyond the first model's
// context window goes to the next model without being sent to the first.
func TestContextWindowChoosesAModelThatFits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, srv := sim(t, []groqtest.Option{groqtest.WithKeys("gsk_test_key_0"),
			groqtest.WithModel(modelA, groqtest.Limits{RPM: 600}), groqtest.WithModel(modelB, groqtest.Limits{RPM: 600})},
			groq.WithModelLimits(modelA, groq.Limits{RPM: 600, ContextWindow: 50}), groq.WithModelLimits(modelB, groq.Limits{RPM: 600}))
		long := groq.User(strings.Repeat("a long prompt ", 100))
		resp, err := c.Chat(context.Background(), []groq.Message{long}, groq.WithModels(modelA, modelB), groq.WithMaxTokens(10))
		require.NoError(t, err)
		assert.Equal(t, modelB, resp.Model)
		assert.Equal(t, map[string]int{modelB: 1}, srv.Stats().PerModel)

		_, err = c.Chat(context.Background(), []groq.Message{long}, groq.WithModels(modelA), groq.WithMaxTokens(10))
		var cw *groq.ContextWindowError
		assert.ErrorAs(t, err, &cw, "a list of one is a call of one model")
	})
}

// TestServerErrorsExhaustOneModel: the first model answers 500 to every
// attempt; once its retries are spent, the next model serves the call.
func TestServerErrorsExhaustOneModel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hook, failed := failModel(modelA)
		c, _ := sim(t, []groqtest.Option{groqtest.WithKeys("gsk_test_key_0"),
			groqtest.WithModel(modelA, groqtest.Limits{RPM: 600}), groqtest.WithModel(modelB, groqtest.Limits{RPM: 600}),
			groqtest.WithHandlerHook(hook)},
			groq.WithMaxRetries(2))
		resp, err := c.Chat(context.Background(), []groq.Message{groq.User("hello")}, groq.WithModels(modelA, modelB))
		require.NoError(t, err)
		assert.Equal(t, modelB, resp.Model)
		assert.Equal(t, int64(3), failed.Load(), "the first try and 2 retries")
	})
}

// TestCacheKeysOnTheList: an answer from any model of the list answers the same
// call again; another list is another call.
func TestCacheKeysOnTheList(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, srv := sim(t, []groqtest.Option{groqtest.WithKeys("gsk_test_key_0"),
			groqtest.WithModel(modelA, groqtest.Limits{RPM: 600}), groqtest.WithModel(modelB, groqtest.Limits{RPM: 600})},
			groq.WithCache(groq.NewMemoryCache(time.Hour, 100)))
		msgs := []groq.Message{groq.User("same question")}
		_, err := c.Chat(context.Background(), msgs, groq.WithModels(modelA, modelB))
		require.NoError(t, err)
		resp, err := c.Chat(context.Background(), msgs, groq.WithModels(modelA, modelB))
		require.NoError(t, err)
		assert.True(t, resp.Meta.FromCache)
		resp, err = c.ChatCompletion(context.Background(), &groq.ChatRequest{Models: []string{modelA, modelB}, Messages: msgs})
		require.NoError(t, err)
		assert.True(t, resp.Meta.FromCache, "ChatRequest.Models is the same list")
		resp, err = c.Chat(context.Background(), msgs, groq.WithModels(modelB, modelA))
		require.NoError(t, err)
		assert.False(t, resp.Meta.FromCache, "another order is another list")
		resp, err = c.Chat(context.Background(), msgs, groq.WithModel(modelA))
		require.NoError(t, err)
		assert.False(t, resp.Meta.FromCache, "one model is not the list")
		assert.Equal(t, 3, srv.Stats().Requests)
	})
}

// TestRouteAndRequestModels: a route's name stands for its list, and a
// streamed ChatRequest with Models is served like a call.
func TestRouteAndRequestModels(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, srv := sim(t, []groqtest.Option{groqtest.WithKeys("gsk_test_key_0"),
			groqtest.WithModel(modelB, groqtest.Limits{RPM: 600}), groqtest.WithModel(modelC, groqtest.Limits{RPM: 600})},
			groq.WithRoute("fast", "no-such-model", modelC))
		resp, err := c.Chat(context.Background(), []groq.Message{groq.User("hello")}, groq.WithModel("fast"))
		require.NoError(t, err)
		assert.Equal(t, modelC, resp.Model)

		st, err := c.ChatCompletionStream(context.Background(), &groq.ChatRequest{Models: []string{modelB, modelC},
			Messages: []groq.Message{groq.User("stream it")}})
		require.NoError(t, err)
		drain(t, st)
		require.NoError(t, st.Close())
		assert.Equal(t, 1, srv.Stats().PerModel[modelB])
		for _, a := range srv.Arrivals() {
			assert.NotEmpty(t, a.Model)
		}
	})
}

// TestModelsRefusedBeforeTheNetwork: a bad list is refused at once.
func TestModelsRefusedBeforeTheNetwork(t *testing.T) {
	c, err := groq.NewClient(groq.WithAPIKeys("gsk_test_key_0"), groq.WithBaseURL("http://127.0.0.1:1"))
	require.NoError(t, err)
	defer c.Close()
	msgs := []groq.Message{groq.User("hello")}
	for _, opt := range []groq.CallOption{groq.WithModels(), groq.WithModels(modelA, ""), groq.WithModels(modelA, modelA),
		groq.WithModels("1", "2", "3", "4", "5", "6", "7", "8", "9"), groq.WithFallbackAfter(-time.Second)} {
		_, err := c.Chat(context.Background(), msgs, opt)
		var re *groq.RequestError
		assert.ErrorAs(t, err, &re)
	}
	_, err = c.ChatCompletion(context.Background(), &groq.ChatRequest{Models: []string{modelA, modelA}, Messages: msgs})
	assert.ErrorIs(t, err, groq.ErrInvalidRequest)
	_, err = groq.NewClient(groq.WithAPIKeys("gsk_test_key_0"), groq.WithRoute("fast"))
	assert.ErrorContains(t, err, "WithRoute")
}

// TestObserverNamesTheServingModel: the observer hears the list at the start,
// the model left and why, and the model that served in the admission and the
// end.
func TestObserverNamesTheServingModel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hook, _ := spentDay(modelA)
		var mu sync.Mutex
		var seen []string
		note := func(s string) { mu.Lock(); seen = append(seen, s); mu.Unlock() }
		obs := groq.Observer{
			CallStart: func(ctx context.Context, e groq.CallStartEvent) context.Context {
				note(fmt.Sprintf("start %s %v", e.Model, e.Models))
				return ctx
			},
			Admitted: func(_ context.Context, e groq.AdmittedEvent) { note("admitted " + e.Model) },
			Retry: func(_ context.Context, e groq.RetryEvent) {
				note(fmt.Sprintf("retry %s %s %d", e.Model, e.Reason, e.Status))
			},
			CallDone: func(_ context.Context, e groq.CallDoneEvent) {
				note(fmt.Sprintf("done %s %s %v", e.Model, e.ResponseModel, e.Err))
			},
		}
		c, _ := sim(t, []groqtest.Option{groqtest.WithKeys("gsk_test_key_0"),
			groqtest.WithModel(modelA, groqtest.Limits{RPM: 600}), groqtest.WithModel(modelB, groqtest.Limits{RPM: 600}),
			groqtest.WithHandlerHook(hook)}, groq.WithObserver(obs))
		_, err := c.Chat(context.Background(), []groq.Message{groq.User("hello")}, groq.WithModels(modelA, modelB))
		require.NoError(t, err)
		assert.Equal(t, []string{
			"start test-model-a [test-model-a test-model-b]",
			"admitted test-model-a",
			"retry test-model-a next_model 429",
			"admitted test-model-b",
			"done test-model-b test-model-b <nil>",
		}, seen)
	})
}

// TestDaysEndWithAnswersCrossing: a model with 50 requests left today and 32
// calls in flight that accept it and another, with the day's limit given
// (1,000) but not what is left, and answers that cross on the wire. Every one
// of the day's 50 requests is used and none is sent past it. (Reading each
// header as "left, less the requests sent after it still in flight" would be
// wrong here: answers cross, so some of those arrived first and are in the
// figure already; it left 13 of the day's requests unused.)
func TestDaysEndWithAnswersCrossing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, srv := sim(t, []groqtest.Option{groqtest.WithKeys("gsk_test_key_0"),
			groqtest.WithModel(modelA, groqtest.Limits{RPM: 600, RPD: 1000}), groqtest.WithModel(modelB, groqtest.Limits{RPM: 600, RPD: 1000}),
			groqtest.WithSpentToday(modelA, 950, 0), groqtest.WithLatency(20*time.Millisecond, 15*time.Millisecond)},
			groq.WithMaxConcurrency(32),
			groq.WithModelLimits(modelA, groq.Limits{RPM: 600, RPD: 1000}), groq.WithModelLimits(modelB, groq.Limits{RPM: 600, RPD: 1000}))
		_, errs := pool(c, 200, 32, groq.WithModels(modelA, modelB), groq.WithoutCache())
		noErrors(t, errs)
		st := srv.Stats()
		assert.Zero(t, st.RateLimited, "nothing sent past the day's end")
		assert.Equal(t, 50, st.PerModel[modelA])
		assert.Equal(t, 150, st.PerModel[modelB])
	})
}

// TestReloadReplacesTheFilesRoutes: Reload puts the new file's routes in place of
// the old file's, keeps those WithRoute gave, and races no call that reads them.
func TestReloadReplacesTheFilesRoutes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		conf := func(routes map[string][]string) *groq.Config {
			return &groq.Config{Models: map[string]groq.ModelConfig{modelA: {APIKey: "gsk_test_key_0"}, modelB: {APIKey: "gsk_test_key_0"}},
				Routes: routes}
		}
		srv := groqtest.NewUnstartedServer(groqtest.WithKeys("gsk_test_key_0"),
			groqtest.WithModel(modelA, groqtest.Limits{RPM: 6000}), groqtest.WithModel(modelB, groqtest.Limits{RPM: 6000}))
		c, err := groq.NewClient(groq.WithConfig(conf(map[string][]string{"fast": {modelA}, "old": {modelA}})), groq.WithRoute("mine", modelB),
			groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()))
		require.NoError(t, err)
		defer c.Close()
		served := func(model string) string {
			t.Helper()
			resp, err := c.Chat(context.Background(), []groq.Message{groq.User("hi")}, groq.WithModel(model), groq.WithoutCache())
			require.NoError(t, err, model)
			return resp.Model
		}
		assert.Equal(t, modelA, served("fast"))
		var wg sync.WaitGroup
		wg.Go(func() { _, _ = pool(c, 50, 4, groq.WithModel("fast"), groq.WithoutCache()) })
		require.NoError(t, c.Reload(conf(map[string][]string{"fast": {modelB}, "slow": {modelA}})))
		wg.Wait()
		assert.Equal(t, modelB, served("fast"), "the new file's route")
		assert.Equal(t, modelA, served("slow"))
		assert.Equal(t, modelB, served("mine"), "WithRoute's route stays")
		_, err = c.Chat(context.Background(), []groq.Message{groq.User("hi")}, groq.WithModel("old"), groq.WithoutCache())
		assert.Error(t, err, "the old file's route is gone: \"old\" is no model a key serves")
	})
}

// TestOverloadedModelMovesOn: the first model answers 503 with a
// Retry-After of 10 minutes (past WithMaxRetryDelay's 2 minutes). The call of
// two models should be served by the second; it fails with the first's 503.
func TestOverloadedModelMovesOn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hook, _ := refuseModel(modelA, http.StatusServiceUnavailable, map[string]string{"Retry-After": "600"},
			`{"error":{"message":"over capacity","type":"internal_server_error"}}`)
		c, _ := sim(t, []groqtest.Option{groqtest.WithKeys("gsk_test_key_0"),
			groqtest.WithModel(modelA, groqtest.Limits{RPM: 600}), groqtest.WithModel(modelB, groqtest.Limits{RPM: 600}),
			groqtest.WithHandlerHook(hook)})
		resp, err := c.Chat(context.Background(), []groq.Message{groq.User("hello")}, groq.WithModels(modelA, modelB))
		require.NoError(t, err)
		assert.Equal(t, modelB, resp.Model)
	})
}

// TestSpentDayBehindAQueue: the preferred model's day is spent (learnt
// from a 429: a cooldown of 2 h, past the 2 min maximum delay); the second
// model has a call of its own queued ahead (a bucket of 2 a minute, spent). A
// call of both should wait its turn on the second model (30 s); it is refused
// at once with a local 429 for the first model's wait.
func TestSpentDayBehindAQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hook, _ := spentDay(modelA)
		c, _ := sim(t, []groqtest.Option{groqtest.WithKeys("gsk_test_key_0"),
			groqtest.WithModel(modelA, groqtest.Limits{RPM: 600}), groqtest.WithModel(modelB, groqtest.Limits{RPM: 2}),
			groqtest.WithHandlerHook(hook)},
			groq.WithModelLimits(modelB, groq.Limits{RPM: 2}))
		msgs := []groq.Message{groq.User("hello")}
		// Learn that a's day is spent; b serves this one.
		resp, err := c.Chat(context.Background(), msgs, groq.WithModels(modelA, modelB), groq.WithoutCache())
		require.NoError(t, err)
		require.Equal(t, modelB, resp.Model)
		// b's second request of the minute, then a call of b alone that waits.
		_, err = c.Chat(context.Background(), msgs, groq.WithModel(modelB), groq.WithoutCache())
		require.NoError(t, err)
		done := make(chan error, 1)
		go func() {
			_, err := c.Chat(context.Background(), msgs, groq.WithModel(modelB), groq.WithoutCache())
			done <- err
		}()
		synctest.Wait()
		require.Equal(t, 1, c.Waiting(modelB, 10), "a call of b alone waits")

		start := time.Now()
		resp, err = c.Chat(context.Background(), msgs, groq.WithModels(modelA, modelB), groq.WithoutCache())
		if assert.NoError(t, err, "after %s", time.Since(start)) {
			assert.Equal(t, modelB, resp.Model)
		}
		require.NoError(t, <-done)
	})
}

// TestReloadKeepsWithRoute: WithRoute("fast") after a config file that
// also names "fast" wins at NewClient; a Reload whose file no longer names
// "fast" should leave WithRoute's route in place ("routes given by WithRoute
// stay"). It deletes it: "fast" is then no model at all.
func TestReloadKeepsWithRoute(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		conf := func(routes map[string][]string) *groq.Config {
			return &groq.Config{Models: map[string]groq.ModelConfig{modelA: {APIKey: "gsk_test_key_0"}, modelB: {APIKey: "gsk_test_key_0"}},
				Routes: routes}
		}
		srv := groqtest.NewUnstartedServer(groqtest.WithKeys("gsk_test_key_0"),
			groqtest.WithModel(modelA, groqtest.Limits{RPM: 6000}), groqtest.WithModel(modelB, groqtest.Limits{RPM: 6000}))
		c, err := groq.NewClient(groq.WithConfig(conf(map[string][]string{"fast": {modelA}})), groq.WithRoute("fast", modelB),
			groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()))
		require.NoError(t, err)
		defer c.Close()
		served := func() (string, error) {
			resp, err := c.Chat(context.Background(), []groq.Message{groq.User("hi")}, groq.WithModel("fast"), groq.WithoutCache())
			if err != nil {
				return "", err
			}
			return resp.Model, nil
		}
		m, err := served()
		require.NoError(t, err)
		require.Equal(t, modelB, m, "WithRoute, given last, wins")
		require.NoError(t, c.Reload(conf(nil)))
		m, err = served()
		if assert.NoError(t, err, "WithRoute's route should stay") {
			assert.Equal(t, modelB, m)
		}
	})
}
