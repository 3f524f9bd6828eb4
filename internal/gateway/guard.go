package gateway

import (
	"fmt"
	"mime"
	"net"
	"net/http"
	"runtime/metrics"
	"strings"
)

// foreign says why r cannot come from a program on this machine ("" when it
// can): a Host that is not loopback (a page on another name that resolves to
// 127.0.0.1, DNS rebinding) or a browser's Origin that is not allowed. It
// guards a gateway without tokens, which any web page the operator opens could
// otherwise spend.
func (g *Gateway) foreign(r *http.Request) string {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if ip := net.ParseIP(host); !strings.EqualFold(host, "localhost") && (ip == nil || !ip.IsLoopback()) {
		return fmt.Sprintf("Host %q is not this loopback gateway's (localhost or a loopback address): give callers a token to serve other names", r.Host)
	}
	if o := r.Header.Get("Origin"); o != "" && !g.origins[strings.TrimRight(strings.ToLower(o), "/")] {
		return fmt.Sprintf("Origin %q is not allowed (--allow-origin): a web page may not call a gateway without tokens", o)
	}
	return ""
}

// jsonBody says whether r's body is declared as JSON, which a plain HTML form
// cannot send; a gateway without tokens refuses any other chat body.
func jsonBody(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

// metrics answers a scrape: the gateway's and the client's series, then the Go
// runtime's. With tokens, a scrape presents one of them.
func (g *Gateway) metrics(w http.ResponseWriter, r *http.Request) {
	if len(g.tokens) > 0 && g.caller(r) == nil {
		writeError(w, http.StatusUnauthorized, &apiError{Message: "Invalid API Key: /metrics needs a gateway token", Type: "invalid_request_error", Code: "invalid_api_key"})
		return
	}
	g.cfg.Metrics.ServeHTTP(w, r)
	writeRuntime(w)
}

// runtimeSeries are the Go runtime metrics /metrics adds.
var runtimeSeries = []struct{ name, kind, help, key string }{
	{"go_goroutines", "gauge", "Goroutines that currently exist.", "/sched/goroutines:goroutines"},
	{"go_gomaxprocs", "gauge", "GOMAXPROCS.", "/sched/gomaxprocs:threads"},
	{"go_memory_total_bytes", "gauge", "Memory mapped by the Go runtime.", "/memory/classes/total:bytes"},
	{"go_heap_objects_bytes", "gauge", "Memory occupied by live and unswept heap objects.", "/memory/classes/heap/objects:bytes"},
	{"go_gc_cycles_total", "counter", "Completed GC cycles.", "/gc/cycles/total:gc-cycles"},
	{"go_heap_allocs_bytes_total", "counter", "Bytes allocated on the heap.", "/gc/heap/allocs:bytes"},
}

func writeRuntime(w http.ResponseWriter) {
	samples := make([]metrics.Sample, len(runtimeSeries))
	for i, s := range runtimeSeries {
		samples[i].Name = s.key
	}
	metrics.Read(samples)
	var b strings.Builder
	for i, s := range runtimeSeries {
		var v uint64
		switch samples[i].Value.Kind() {
		case metrics.KindUint64:
			v = samples[i].Value.Uint64()
		case metrics.KindFloat64:
			v = uint64(samples[i].Value.Float64())
		default:
			continue
		}
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n%s %d\n", s.name, s.help, s.name, s.kind, s.name, v)
	}
	w.Write([]byte(b.String()))
}
