package metrics

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestWriteAndLabels(t *testing.T) {
	m := New()
	m.Add("groq_gateway_requests_total", Labels("groq_gateway_token", `we"b\`, "http_response_status_code", "200"), 2)
	m.Observe("groq_gateway_request_duration_seconds", Labels("groq_gateway_token", "web"), 0.03)
	var b strings.Builder
	m.Write(&b)
	out := b.String()
	assert.Contains(t, out, `groq_gateway_requests_total{groq_gateway_token="we\"b\\",http_response_status_code="200"} 2`)
	assert.Contains(t, out, `groq_gateway_request_duration_seconds_bucket{groq_gateway_token="web",le="0.02"} 0`)
	assert.Contains(t, out, `groq_gateway_request_duration_seconds_bucket{groq_gateway_token="web",le="0.04"} 1`)
	assert.Contains(t, out, "# TYPE groq_gateway_requests_total counter")
	assert.NotContains(t, out, "groq_client_retries_total", "a family with no series is not written")
}
