// Package exsim gives the examples a client: against Groq (or GROQ_BASE_URL) when
// GROQ_API_KEY (or GROQ_API_KEYS) is set, else against the built-in simulator, and
// says which.
package exsim

import (
	"fmt"
	"os"
	"strings"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
)

// Client returns a client with opts; sopts shape the simulator when there is no
// key. It exits on error.
func Client(sopts []groqtest.Option, opts ...groq.Option) (*groq.Client, *groqtest.Server) {
	var srv *groqtest.Server
	if strings.TrimSpace(os.Getenv("GROQ_API_KEYS")+os.Getenv("GROQ_API_KEY")) == "" {
		srv = groqtest.NewUnstartedServer(sopts...)
		opts = append([]groq.Option{groq.WithAPIKeys("gsk_example"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client())}, opts...)
		fmt.Println("(no GROQ_API_KEY: running against the built-in simulator)")
	} else if u := strings.TrimSpace(os.Getenv("GROQ_BASE_URL")); u != "" {
		opts = append([]groq.Option{groq.WithBaseURL(u)}, opts...)
	}
	c, err := groq.NewClient(opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	return c, srv
}
