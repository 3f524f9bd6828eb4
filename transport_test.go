package groq_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestServerTextNeverCarriesAKey: a server (or proxy) that echoes the Authorization
// header into its error bodies and stream error events has the key masked,
// whether the key came from WithAPIKeys or from a config file.
func TestServerTextNeverCarriesAKey(t *testing.T) {
	const key = "gsk_secret_echoed_0123456789"
	echo := func(w http.ResponseWriter, r *http.Request, body []byte) bool {
		auth := r.Header.Get("Authorization")
		if strings.Contains(string(body), `"stream":true`) {
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprintf(w, "data: {\"error\":{\"message\":\"upstream refused %s\",\"type\":\"server_error\"}}\n\n", auth)
			return true
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error":{"message":"bad header %s","type":"invalid_request_error","param":"%s"}}`, auth, auth)
		return true
	}
	cfg, err := groq.ParseConfig([]byte(`{"models":{"llama-3.1-8b-instant":{"api_key":"`+key+`"}}}`), func(string) string { return "" })
	require.NoError(t, err)
	for name, opt := range map[string]groq.Option{"WithAPIKeys": groq.WithAPIKeys(key), "config file": groq.WithConfig(cfg)} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := groqtest.NewUnstartedServer(groqtest.WithHandlerHook(echo))
				c, err := groq.NewClient(opt, groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()))
				require.NoError(t, err)
				defer c.Close()
				_, err = c.Chat(context.Background(), hello)
				var apiErr *groq.APIError
				require.True(t, errors.As(err, &apiErr), "Chat(...) = %v", err)
				assert.NotContains(t, fmt.Sprintf("%v %+v", err, *apiErr), key)
				assert.Contains(t, apiErr.Message, "[redacted]")

				st, err := c.ChatStream(context.Background(), hello)
				require.NoError(t, err)
				for st.Next() {
				}
				require.Error(t, st.Err())
				assert.NotContains(t, st.Err().Error(), key)
				assert.Contains(t, st.Err().Error(), "[redacted]")
				st.Close()
			})
		})
	}
}

// TestTransportErrorKeepsItsChain: a transport error whose text holds the key is
// masked, and still matches its cause.
func TestTransportErrorKeepsItsChain(t *testing.T) {
	const key = "gsk_in_the_transport_error"
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return nil, fmt.Errorf("proxy said %s: %w", r.Header.Get("Authorization"), context.DeadlineExceeded)
	})
	c, err := groq.NewClient(groq.WithAPIKeys(key), groq.WithHTTPClient(&http.Client{Transport: rt}), groq.WithMaxRetries(0))
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Chat(context.Background(), hello)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), key)
	assert.Contains(t, err.Error(), "[redacted]")
	assert.ErrorIs(t, err, context.DeadlineExceeded, "the cause is still reachable")
	for e := err; e != nil; e = errors.Unwrap(e) {
		assert.NotContains(t, e.Error(), key, "no error in the chain holds the key")
	}
}

// TestRefusedConnectionHoldsNoTokens: an attempt that never reached the server (a
// refused port) gives its reservation back at once: calls against it give up at
// backoff pace, not at the pace of a refill of tokens nothing spent (each attempt
// held about 1,035 of the 6,000 tokens a minute).
func TestRefusedConnectionHoldsNoTokens(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	l.Close() // nothing listens there now: connections are refused
	c, err := groq.NewClient(groq.WithAPIKeys("k"), groq.WithBaseURL("http://"+addr+"/openai/v1"),
		groq.WithModelLimits(groq.DefaultModel, groq.Limits{RPM: 30, TPM: 6000}), groq.WithMaxRetries(2),
		groq.WithBackoff(10*time.Millisecond, 50*time.Millisecond))
	require.NoError(t, err)
	defer c.Close()
	start := time.Now()
	for i := range 5 {
		_, err := c.Chat(context.Background(), []groq.Message{groq.User(fmt.Sprint("line ", i))})
		require.Error(t, err)
		assert.NotErrorIs(t, err, groq.ErrRateLimited, "line %d: no local wait for tokens: %v", i, err)
	}
	assert.Less(t, time.Since(start), 5*time.Second, "15 refused attempts at backoff pace")
	q := c.RateLimits(groq.DefaultModel).Quotas[0]
	assert.LessOrEqual(t, q.TokensThisMinute, 1, "no tokens held for requests that never left (a token of rounding)")
}

// TestKeysNeverLeak drives every error path with a recognisable key and looks for
// it in errors and logs.
func TestKeysNeverLeak(t *testing.T) {
	const secret = "gsk_SECRET_never_print_me"
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	check := func(err error) {
		t.Helper()
		if err == nil {
			return
		}
		for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
			assert.NotContains(t, s, secret)
		}
	}
	synctest.Test(t, func(t *testing.T) {
		srv := groqtest.NewUnstartedServer()
		c, err := groq.NewClient(groq.WithAPIKeys(secret), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()),
			groq.WithLogger(logger), groq.WithMaxRetries(1), groq.WithBackoff(time.Millisecond, time.Millisecond))
		require.NoError(t, err)
		for _, f := range []groqtest.Fault{
			{Kind: groqtest.Fault500}, {Kind: groqtest.Fault500}, {Kind: groqtest.FaultDisconnect}, {Kind: groqtest.FaultDisconnect},
			{Kind: groqtest.FaultStatus, Status: 401}, {Kind: groqtest.FaultNotJSON}, {Kind: groqtest.Fault429, RetryAfter: "600"},
		} {
			srv.Script(f)
			_, err := c.Chat(context.Background(), hello)
			check(err)
		}
		time.Sleep(10 * time.Minute) // the injected 429's cooldown
		_, err = c.Chat(context.Background(), hello)
		require.NoError(t, err)
	})
	// A transport that puts the Authorization header into its error.
	leaky := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return nil, fmt.Errorf("proxy refused request with header %q", r.Header.Get("Authorization"))
	})}
	c, err := groq.NewClient(groq.WithAPIKeys(secret), groq.WithHTTPClient(leaky), groq.WithLogger(logger), groq.WithMaxRetries(0))
	require.NoError(t, err)
	_, err = c.Chat(context.Background(), hello)
	require.Error(t, err)
	check(err)
	assert.Contains(t, err.Error(), "[redacted]")
	assert.NotContains(t, logs.String(), secret)
	assert.Contains(t, logs.String(), "attempt failed", "the logs were written (the check is not vacuous)")
}

// pipeNet is an in-memory network for a real http.Transport and http.Server
// inside a synctest bubble; the first dial takes firstDial.
type pipeNet struct {
	conns     chan net.Conn
	done      chan struct{}
	firstDial time.Duration
	dials     int
}

func (p *pipeNet) Accept() (net.Conn, error) {
	select {
	case c := <-p.conns:
		return c, nil
	case <-p.done:
		return nil, net.ErrClosed
	}
}
func (p *pipeNet) Close() error   { return nil }
func (p *pipeNet) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

func (p *pipeNet) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	if p.dials++; p.dials == 1 {
		time.Sleep(p.firstDial)
	}
	c1, c2 := net.Pipe()
	select {
	case p.conns <- c2:
		return c1, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// TestALateFirstSendDrawsNo429: the first request after a quiet spell waits 300
// ms for its connection (a cold dial, a TLS handshake), so the server's bucket,
// Groq-shaped (RPM 120, a minute deep), starts refilling 300 ms after the
// client's. The 121st request, the first that waits for refill, leaves that much
// later and is not refused. Over a real http.Transport on an in-memory network,
// so that the transport reports when it wrote each request.
func TestALateFirstSendDrawsNo429(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := groqtest.NewUnstartedServer(groqtest.WithModel("m", groqtest.Limits{RPM: 120}))
		defer srv.Close()
		pn := &pipeNet{conns: make(chan net.Conn), done: make(chan struct{}), firstDial: 300 * time.Millisecond}
		hs := &http.Server{Handler: srv}
		go hs.Serve(pn)
		tr := &http.Transport{DialContext: pn.dial}
		c, err := groq.NewClient(groq.WithAPIKeys("gsk_test_key_0"), groq.WithBaseURL("http://groq.test/openai/v1"),
			groq.WithHTTPClient(&http.Client{Transport: tr}), groq.WithModelLimits("m", groq.Limits{RPM: 120}), groq.WithMaxConcurrency(1))
		require.NoError(t, err)
		start := time.Now()
		for i := range 121 {
			_, err := c.Chat(t.Context(), []groq.Message{groq.User(fmt.Sprint("hi ", i))}, groq.WithModel("m"))
			require.NoError(t, err, "call %d", i)
		}
		took := time.Since(start)
		c.Close()
		tr.CloseIdleConnections()
		close(pn.done)
		hs.Close()
		st := srv.Stats()
		assert.Zero(t, st.RateLimited, "no 429")
		assert.Equal(t, 121, st.Requests)
		assert.Equal(t, 300*time.Millisecond+500*time.Millisecond+groq.DefaultPacingMargin, took.Round(time.Millisecond), "the 121st left a refill and the margin after the first reached the server")
	})
}
