package groqtest

import (
	"fmt"
	"net/http"
	"time"
)

// FaultKind names a fault the server can inject.
type FaultKind int

const (
	FaultNone       FaultKind = iota // no fault: the request is served normally
	Fault500                         // 500 internal_server_error
	Fault502                         // 502 bad gateway
	Fault503                         // 503 service unavailable
	FaultCapacity                    // 498 capacity_exceeded (flex tier)
	FaultDisconnect                  // the connection is closed without a response
	FaultStreamCut                   // a stream stops half-way without [DONE] (a plain answer is cut mid-body)
	FaultSlow                        // the answer is delayed by Fault.Delay
	FaultNotJSON                     // a 200 whose body is not JSON
	Fault429                         // a 429 regardless of the limits, with Fault.RetryAfter
	FaultStatus                      // an error response with Fault.Status and Fault.Header
)

func (k FaultKind) String() string {
	names := [...]string{"none", "500", "502", "503", "498 capacity_exceeded", "disconnect", "stream cut", "slow", "not JSON", "429", "status"}
	if int(k) < len(names) && k >= 0 {
		return names[k]
	}
	return fmt.Sprintf("FaultKind(%d)", int(k))
}

// Fault is one injected misbehaviour. RetryAfter, when not empty, is sent verbatim
// as the retry-after header (on 429, 498, 500, 502, 503); Delay is FaultSlow's wait.
type Fault struct {
	Kind       FaultKind
	RetryAfter string
	Delay      time.Duration
	Status     int         // FaultStatus: the status to send (400 to 599)
	Header     http.Header // extra response headers (x-should-retry, say)
}

func (f Fault) check(where string) {
	if f.Kind == FaultStatus && (f.Status < 400 || f.Status > 599) {
		panic(fmt.Sprintf("groqtest: %s: FaultStatus needs a status from 400 to 599, got %d", where, f.Status))
	}
	if f.Kind < FaultNone || f.Kind > FaultStatus {
		panic(fmt.Sprintf("groqtest: %s: unknown fault kind %d", where, int(f.Kind)))
	}
	if f.Delay < 0 {
		panic(fmt.Sprintf("groqtest: %s: negative delay", where))
	}
}

type faultRate struct {
	f Fault
	p float64
}

// nextFault picks the fault for a request: the script first, then the rates.
// s.mu is held.
func (s *Server) nextFault() Fault {
	if len(s.script) > 0 {
		f := s.script[0]
		s.script = s.script[1:]
		return f
	}
	for _, r := range s.rates {
		if r.p > 0 && s.rng.Float64() < r.p {
			return r.f
		}
	}
	return Fault{}
}
