package gateway

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/groqkit/groq"
)

// This file serves what the quota is doing: GET /status (JSON) and the live
// page at / that polls it, to the operator only.
//
// Access: with Config.OpenStatus (the command sets it on a loopback address)
// both are open to programs on this machine: a request whose Host is not
// loopback, or that carries a browser Origin that is not allowed, is refused as
// for a gateway without tokens (DNS rebinding, another site's page). Otherwise
// they need Config.AdminToken, presented as "Authorization: Bearer ADMIN" or,
// for a browser, the cookie groq_admin that GET /?token=ADMIN sets (then
// redirects to /, so that the token leaves the address bar; the cookie holds an
// HMAC of the token, not the token). A caller's token is refused with a 403,
// any other with a 401; without an admin token they are refused with a 403
// that says to start the gateway with --admin-token. Secrets are compared as
// SHA-256 digests in constant time. Neither route is logged.

//go:embed status.html
var statusPage []byte

// adminCookie is the page's cookie.
const adminCookie = "groq_admin"

// adminGate decides who may read the status.
type adminGate struct {
	open   bool
	set    bool
	digest [sha256.Size]byte // of the admin token
	cookie string            // the cookie's value: an HMAC of the token
}

func newAdminGate(token string, open bool) adminGate {
	a := adminGate{open: open, set: token != ""}
	if a.set {
		a.digest = sha256.Sum256([]byte(token))
		mac := hmac.New(sha256.New, []byte(token))
		mac.Write([]byte("groq gateway status page"))
		a.cookie = hex.EncodeToString(mac.Sum(nil))
	}
	return a
}

// matches reports, in constant time, whether secret is the admin token.
func (a *adminGate) matches(secret string) bool {
	d := sha256.Sum256([]byte(secret))
	return a.set && subtle.ConstantTimeCompare(d[:], a.digest[:]) == 1
}

// refusal says why r may not read the status: 0 when it may, else the status
// to answer and why.
func (g *Gateway) refusal(r *http.Request) (int, string) {
	if g.admin.open {
		if msg := g.foreign(r); msg != "" {
			return http.StatusForbidden, msg
		}
		return 0, ""
	}
	if !g.admin.set {
		return http.StatusForbidden, "the status is served off loopback only with an admin token: start the gateway with --admin-token"
	}
	if c, err := r.Cookie(adminCookie); err == nil && subtle.ConstantTimeCompare([]byte(c.Value), []byte(g.admin.cookie)) == 1 {
		return 0, ""
	}
	h := r.Header.Get("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") {
		return http.StatusUnauthorized, "the status needs the admin token (Authorization: Bearer ADMIN_TOKEN; in a browser, open /?token=ADMIN_TOKEN once)"
	}
	secret := strings.TrimSpace(h[7:])
	if g.admin.matches(secret) {
		return 0, ""
	}
	if len(g.tokens) > 0 && g.caller(r) != nil {
		return http.StatusForbidden, "a caller's token does not open the status: it needs the admin token"
	}
	return http.StatusUnauthorized, "the admin token is wrong"
}

// StatusView is what GET /status answers: the client's Status (its fields at
// the top level), the gateway's own figures, and every token's day.
type StatusView struct {
	groq.Status
	Gateway GatewayStatus `json:"gateway"`
	// Tokens are the gateway's callers, in the order configured ("anonymous"
	// alone for a gateway without tokens).
	Tokens []TokenStatus `json:"tokens"`
}

// GatewayStatus is the gateway's own state.
type GatewayStatus struct {
	Serving  int  `json:"serving"`  // calls being served (waiting, in flight, streaming)
	Draining bool `json:"draining"` // a shutdown began: /readyz answers 503
}

// TokenStatus is one caller's day (UTC): its calls and the tokens they spent
// (Groq's usage, or an estimate for a stream cut short) against its daily
// budget.
type TokenStatus struct {
	Name        string `json:"name"`
	CallsToday  int64  `json:"calls_today"`  // API calls it made (any answer)
	TokensToday int64  `json:"tokens_today"` // tokens its calls spent
	Reserved    int64  `json:"reserved"`     // of its budget, held by its calls in flight
	DailyTokens int64  `json:"daily_tokens"` // its budget; 0: none of its own
	Serving     int64  `json:"serving"`      // its calls being served now
	Priority    int    `json:"priority"`     // its calls' priority when they ask none
}

// Status is what GET /status answers.
func (g *Gateway) Status() StatusView {
	v := StatusView{Status: g.c.Status(), Gateway: GatewayStatus{Serving: g.InFlight(), Draining: g.draining.Load()}}
	callers := g.tokens
	if len(callers) == 0 {
		callers = []*caller{g.anon}
	}
	now := time.Now()
	for _, c := range callers {
		v.Tokens = append(v.Tokens, c.status(now))
	}
	return v
}

// status is c's day as of now.
func (c *caller) status(now time.Time) TokenStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.roll(now)
	p := c.Priority
	if p == 0 {
		p = groq.DefaultPriority
	}
	return TokenStatus{Name: c.Name, CallsToday: c.calls, TokensToday: c.used, Reserved: c.reserved, DailyTokens: c.DailyTokens,
		Serving: c.serving.Load(), Priority: p}
}

// begun counts a call of c's.
func (c *caller) begun() {
	c.serving.Add(1)
	c.mu.Lock()
	c.roll(time.Now())
	c.calls++
	c.mu.Unlock()
}

// status serves GET /status.
func (g *Gateway) status(w http.ResponseWriter, r *http.Request) {
	if c, msg := g.refusal(r); c != 0 {
		code := "forbidden"
		if c == http.StatusUnauthorized {
			code = "invalid_api_key"
		}
		writeError(w, c, &apiError{Message: msg, Type: "invalid_request_error", Code: code})
		return
	}
	data, err := json.Marshal(g.Status())
	if err != nil {
		writeError(w, http.StatusInternalServerError, &apiError{Message: "encoding the status: " + err.Error(), Type: "server_error"})
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.Write(data)
}

// noIcon answers a browser's request for /favicon.ico (made for any page,
// the refusals' too) with nothing, rather than a 404 in its console.
func noIcon(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "max-age=86400")
	w.WriteHeader(http.StatusNoContent)
}

// page serves the live page at /, and takes ?token= once: a right token sets
// the cookie and redirects to / (a wrong one is a 401).
func (g *Gateway) page(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	// The page is one file: its script and style are its own, nothing else loads.
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	if r.URL.Query().Has("token") {
		if g.admin.open {
			http.Redirect(w, r, "/", http.StatusSeeOther)
			return
		}
		if !g.admin.set || !g.admin.matches(r.URL.Query().Get("token")) {
			http.Error(w, "the admin token is wrong", http.StatusUnauthorized)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: adminCookie, Value: g.admin.cookie, Path: "/", HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	if code, msg := g.refusal(r); code != 0 {
		http.Error(w, msg, code)
		return
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.Write(statusPage)
}
