package groq_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/groqkit/groq"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const okChat = `{"id":"x","object":"chat.completion","model":"llama-3.1-8b-instant","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}`

// stubStore is a QuotaStore that refuses (or fails) the first refuse Takes.
type stubStore struct {
	refuse, fail        int32
	takes, oks, settles atomic.Int32
}

func (s *stubStore) Take(context.Context, groq.QuotaRequest) (groq.QuotaDecision, error) {
	n := s.takes.Add(1)
	if n <= s.fail {
		return groq.QuotaDecision{}, errors.New("store down")
	}
	if n <= s.fail+s.refuse {
		return groq.QuotaDecision{Wait: time.Second}, nil
	}
	s.oks.Add(1)
	return groq.QuotaDecision{OK: true}, nil
}
func (s *stubStore) Settle(context.Context, groq.QuotaRequest, groq.QuotaSettlement) error {
	s.settles.Add(1)
	return nil
}
func (s *stubStore) CoolDown(context.Context, string, string, time.Duration) error { return nil }
func (s *stubStore) Learn(context.Context, string, string, string, int) error      { return nil }
func (s *stubStore) Usage(context.Context, string, string, groq.Limits) (groq.QuotaUsage, error) {
	return groq.QuotaUsage{}, nil
}

type brokenBody struct{}

func (brokenBody) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }
func (brokenBody) Close() error             { return nil }

func leakClient(t *testing.T, rt roundTripFunc, opts ...groq.Option) *groq.Client {
	t.Helper()
	c, err := groq.NewClient(append([]groq.Option{groq.WithAPIKeys("gsk_k"), groq.WithBaseURL("http://groq.test/openai/v1"),
		groq.WithHTTPClient(&http.Client{Transport: rt}), groq.WithMaxConcurrency(1), groq.WithDefaultModel("llama-3.1-8b-instant")}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func inFlight(c *groq.Client) int { return c.RateLimits("").InFlight }

var hi = []groq.Message{groq.User("hi")}

// TestGrantsSettledOnce: whatever became of a call, its grant is settled
// exactly once: no slot left held (InFlight 0 afterwards, a second call admitted),
// and a store's admission settled once in the store.
func TestGrantsSettledOnce(t *testing.T) {
	ok := func(r *http.Request) (*http.Response, error) { return answer(r, 200, nil, okChat), nil }
	t.Run("store refuses then admits", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			st := &stubStore{refuse: 2}
			c := leakClient(t, ok, groq.WithQuotaStore(st))
			_, err := c.Chat(context.Background(), hi)
			require.NoError(t, err)
			assert.Equal(t, 0, inFlight(c))
			assert.Equal(t, int32(1), st.settles.Load(), "the admitted request settled once in the store")
			_, err = c.Chat(context.Background(), hi)
			require.NoError(t, err)
			assert.Equal(t, int32(2), st.settles.Load())
		})
	})
	t.Run("store fails closed", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			st := &stubStore{fail: 1}
			c := leakClient(t, ok, groq.WithQuotaStore(st), groq.WithQuotaStoreFailClosed())
			_, err := c.Chat(context.Background(), hi)
			require.ErrorIs(t, err, groq.ErrQuotaStoreUnavailable)
			assert.Equal(t, 0, inFlight(c))
			assert.Equal(t, int32(0), st.settles.Load())
			_, err = c.Chat(context.Background(), hi)
			require.NoError(t, err)
		})
	})
	t.Run("store down, fail open", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			st := &stubStore{fail: 1}
			c := leakClient(t, ok, groq.WithQuotaStore(st))
			_, err := c.Chat(context.Background(), hi)
			require.NoError(t, err)
			assert.Equal(t, 0, inFlight(c))
			_, err = c.Chat(context.Background(), hi)
			require.NoError(t, err)
		})
	})
	t.Run("2xx body cut, transport error, decode error", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var n atomic.Int32
			c := leakClient(t, func(r *http.Request) (*http.Response, error) {
				switch n.Add(1) {
				case 1:
					return &http.Response{StatusCode: 200, Header: http.Header{}, Body: brokenBody{}, Request: r}, nil
				case 2:
					return nil, errors.New("connection reset")
				case 3:
					return answer(r, 200, nil, okChat), nil
				}
				return answer(r, 200, nil, `not json`), nil
			})
			_, err := c.Chat(context.Background(), hi)
			require.NoError(t, err)
			assert.Equal(t, int32(3), n.Load())
			assert.Equal(t, 0, inFlight(c))
			_, err = c.Chat(context.Background(), hi)
			require.ErrorIs(t, err, groq.ErrBadResponse)
			assert.Equal(t, 0, inFlight(c))
		})
	})
	t.Run("context ends mid-attempt", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			c := leakClient(t, func(r *http.Request) (*http.Response, error) {
				cancel()
				<-r.Context().Done()
				return nil, r.Context().Err()
			})
			_, err := c.Chat(ctx, hi)
			require.ErrorIs(t, err, context.Canceled)
			assert.Equal(t, 0, inFlight(c))
		})
	})
	t.Run("chat stream", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			c := leakClient(t, func(r *http.Request) (*http.Response, error) {
				body := "data: " + `{"id":"x","object":"chat.completion.chunk","model":"llama-3.1-8b-instant","choices":[{"index":0,"delta":{"content":"hi"}}]}` + "\n\n" +
					"data: " + `{"id":"x","object":"chat.completion.chunk","model":"llama-3.1-8b-instant","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}` + "\n\ndata: [DONE]\n\n"
				return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"text/event-stream"}}, Body: ioNopCloser(body), Request: r}, nil
			})
			s, err := c.ChatStream(context.Background(), hi)
			require.NoError(t, err)
			assert.Equal(t, 1, inFlight(c), "the open stream holds its slot")
			require.NoError(t, s.Close())
			require.NoError(t, s.Close())
			assert.Equal(t, 0, inFlight(c))
			s, err = c.ChatStream(context.Background(), hi)
			require.NoError(t, err)
			for s.Next() {
			}
			assert.Equal(t, 0, inFlight(c))
			s.Close()
			assert.Equal(t, 0, inFlight(c))
		})
	})
	t.Run("speech stream", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			c := leakClient(t, func(r *http.Request) (*http.Response, error) {
				return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"audio/wav"}}, Body: ioNopCloser("RIFFxxxx"), Request: r}, nil
			})
			s, err := c.SpeechStream(context.Background(), &groq.SpeechRequest{Input: "hello"})
			require.NoError(t, err)
			assert.Equal(t, 1, c.RateLimits(groq.DefaultSpeechModel).InFlight)
			b, err := io.ReadAll(s)
			require.NoError(t, err)
			assert.True(t, strings.HasPrefix(string(b), "RIFF"))
			require.NoError(t, s.Close())
			require.NoError(t, s.Close())
			assert.Equal(t, 0, c.RateLimits(groq.DefaultSpeechModel).InFlight)
			_, err = c.Speech(context.Background(), &groq.SpeechRequest{Input: "hello"})
			require.NoError(t, err)
		})
	})
}

// TestListMovesOnSettled: a call of a list of models that leaves one (a
// 404, a 429 whose wait is past WithFallbackAfter) leaves no slot behind.
func TestListMovesOnSettled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var n atomic.Int32
		c := leakClient(t, func(r *http.Request) (*http.Response, error) {
			b, _ := io.ReadAll(r.Body)
			switch {
			case strings.Contains(string(b), `"llama-3.3-70b-versatile"`):
				return answer(r, 404, nil, `{"error":{"message":"no","type":"invalid_request_error","code":"model_not_found"}}`), nil
			case strings.Contains(string(b), `"llama-3.1-8b-instant"`) && n.Add(1) == 1:
				return answer(r, 429, http.Header{"Retry-After": {"30"}}, `{"error":{"message":"slow down","type":"requests","code":"rate_limit_exceeded"}}`), nil
			}
			return answer(r, 200, nil, okChat), nil
		})
		resp, err := c.Chat(context.Background(), hi, groq.WithModels("llama-3.3-70b-versatile", "llama-3.1-8b-instant", "openai/gpt-oss-20b"), groq.WithFallbackAfter(time.Second))
		require.NoError(t, err)
		assert.Equal(t, 3, resp.Meta.Attempts+2, "third model answered: %+v", resp.Meta)
		for _, m := range []string{"llama-3.3-70b-versatile", "llama-3.1-8b-instant", "openai/gpt-oss-20b"} {
			assert.Equal(t, 0, c.RateLimits(m).InFlight, m)
		}
		_, err = c.Chat(context.Background(), hi, groq.WithModel("openai/gpt-oss-20b"))
		require.NoError(t, err)
	})
}
