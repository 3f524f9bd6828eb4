package groq

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOwnTransportSpeaksHTTP2: the client's own transport keeps its bounds and
// negotiates HTTP/2 with a server that offers it, even with a TLS config of its
// own (which turns HTTP/2 off in a transport without ForceAttemptHTTP2).
func TestOwnTransportSpeaksHTTP2(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(r.Proto))
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	tr := newTransport(32)
	assert.Equal(t, 32, tr.MaxIdleConnsPerHost)
	assert.Equal(t, 32, tr.MaxConnsPerHost)
	assert.GreaterOrEqual(t, tr.MaxIdleConns, 32)
	tr.TLSClientConfig = &tls.Config{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(srv.URL)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 2, resp.ProtoMajor, "protocol %s", resp.Proto)
}
