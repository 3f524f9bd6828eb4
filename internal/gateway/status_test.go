package gateway

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
)

// statusFront is a gateway with cfg in front of the simulator.
func statusFront(t *testing.T, cfg Config) *httptest.Server {
	t.Helper()
	srv := groqtest.NewServer()
	t.Cleanup(srv.Close)
	c, err := groq.NewClient(groq.WithAPIKeys("gsk_upstream_secret"), groq.WithBaseURL(srv.URL()), ClientOption())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	gw, err := New(c, cfg)
	require.NoError(t, err)
	front := httptest.NewServer(gw)
	t.Cleanup(front.Close)
	return front
}

// get sends GET path with the header pairs hdr, and returns the answer and its body.
func get(t *testing.T, hc *http.Client, url string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := hc.Do(req)
	require.NoError(t, err)
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(data)
}

func TestStatusOnLoopbackShowsTokensAndQuota(t *testing.T) {
	front := statusFront(t, Config{OpenStatus: true, Tokens: []Token{
		{Name: "alice", Secret: "alice-secret", DailyTokens: 100000}, {Name: "bob", Secret: "bob-secret"}}})
	for range 2 {
		resp, body := post(t, front.Client(), front.URL, "alice-secret", hello)
		require.Equal(t, http.StatusOK, resp.StatusCode, body)
	}
	resp, body := get(t, front.Client(), front.URL+"/status")
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var v StatusView
	require.NoError(t, json.Unmarshal([]byte(body), &v))
	require.Len(t, v.Tokens, 2)
	alice, bob := v.Tokens[0], v.Tokens[1]
	require.Equal(t, "alice", alice.Name)
	require.Equal(t, int64(2), alice.CallsToday)
	require.Greater(t, alice.TokensToday, int64(0))
	require.Equal(t, int64(100000), alice.DailyTokens)
	require.Equal(t, TokenStatus{Name: "bob", Priority: groq.DefaultPriority}, bob)
	require.NotEmpty(t, v.Models)
	m := v.Models[0]
	require.Equal(t, "llama-3.1-8b-instant", m.Model)
	require.NotEmpty(t, m.Quotas[0].Buckets)
	require.Equal(t, "RPM", m.Quotas[0].Buckets[0].Name)
	require.Equal(t, 2, m.Quotas[0].Buckets[0].Used)
	require.NotContains(t, body, "gsk_upstream_secret")
	require.NotContains(t, body, "alice-secret")

	resp, page := get(t, front.Client(), front.URL+"/")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, page, "<title>groq gateway: status</title>")
	require.Contains(t, resp.Header.Get("Content-Security-Policy"), "default-src 'none'")
	resp, icon := get(t, front.Client(), front.URL+"/favicon.ico")
	require.Equal(t, http.StatusNoContent, resp.StatusCode, "a browser asks for it on every page: no 404 in its console")
	require.Empty(t, icon)

	// A page on another name that resolves here (DNS rebinding) is refused.
	resp, _ = get(t, front.Client(), front.URL+"/status", "Host", "evil.example:80")
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	resp, _ = get(t, front.Client(), front.URL+"/status", "Origin", "https://evil.example")
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
}

func TestStatusOffLoopbackNeedsTheAdminToken(t *testing.T) {
	front := statusFront(t, Config{AdminToken: "admin-secret", Tokens: []Token{{Name: "alice", Secret: "alice-secret"}}})
	hc := front.Client()
	cases := []struct {
		name string
		hdr  []string
		want int
	}{
		{"no token", nil, http.StatusUnauthorized},
		{"a caller's token", []string{"Authorization", "Bearer alice-secret"}, http.StatusForbidden},
		{"a wrong token", []string{"Authorization", "Bearer admin-secreT"}, http.StatusUnauthorized},
		{"a wrong cookie", []string{"Cookie", adminCookie + "=admin-secret"}, http.StatusUnauthorized},
		{"the admin token", []string{"Authorization", "Bearer admin-secret"}, http.StatusOK},
	}
	for _, c := range cases {
		for _, path := range []string{"/status", "/"} {
			resp, body := get(t, hc, front.URL+path, c.hdr...)
			require.Equal(t, c.want, resp.StatusCode, "%s on %s: %s", c.name, path, body)
			if c.want != http.StatusOK {
				require.NotContains(t, body, "\"models\"", "%s on %s", c.name, path)
			}
		}
	}

	// The page takes ?token= once: a cookie (not the token) and a redirect to /.
	noRedirect := *hc
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, _ := get(t, &noRedirect, front.URL+"/?token=wrong")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Empty(t, resp.Cookies())
	resp, _ = get(t, &noRedirect, front.URL+"/?token=admin-secret")
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/", resp.Header.Get("Location"))
	cookies := resp.Cookies()
	require.Len(t, cookies, 1)
	require.NotContains(t, cookies[0].Value, "admin-secret")
	require.True(t, cookies[0].HttpOnly)
	cookie := adminCookie + "=" + cookies[0].Value
	resp, page := get(t, hc, front.URL+"/", "Cookie", cookie)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, page, "groq gateway")
	resp, body := get(t, hc, front.URL+"/status", "Cookie", cookie)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
}

func TestStatusWithoutAdminTokenOffLoopbackIsRefused(t *testing.T) {
	front := statusFront(t, Config{Tokens: []Token{{Name: "alice", Secret: "alice-secret"}}})
	resp, body := get(t, front.Client(), front.URL+"/status", "Authorization", "Bearer alice-secret")
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.Contains(t, body, "--admin-token")
	resp, _ = get(t, front.Client(), front.URL+"/?token=anything")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}

func TestNewRefusesAnAdminTokenThatIsACallersSecret(t *testing.T) {
	_, err := New(nil, Config{AdminToken: "same", Tokens: []Token{{Name: "alice", Secret: "same"}}})
	require.Error(t, err)
	require.True(t, strings.Contains(err.Error(), "admin token"), err.Error())
}
