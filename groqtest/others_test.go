package groqtest

import (
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOtherProgramSpendsTheQuota: another program spends its organization's
// buckets at its rate from the first request on, shows in the headers and 429s
// the client gets, is never retried, and is counted apart.
func TestOtherProgramSpendsTheQuota(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := NewUnstartedServer(WithOrganization("acme", "mine", "theirs"), WithKeys("solo"),
			WithModel("m", Limits{RPM: 600, RPD: 1000, TPM: 6000}),
			WithOtherProgram(OtherProgram{Key: "theirs", Model: "m", RequestsPerMinute: 60, Tokens: 50}))
		r := post(t, s.Client(), s.URL(), "mine", chatBody("m", "hi", ""))
		require.Equal(t, 200, r.status)
		used := int(r.body["usage"].(map[string]any)["total_tokens"].(float64))
		assert.Equal(t, strconv.Itoa(1000-2), r.header.Get("X-Ratelimit-Remaining-Requests"), "its first request came just before")
		assert.Equal(t, strconv.Itoa(6000-50-used), r.header.Get("X-Ratelimit-Remaining-Tokens"))

		time.Sleep(10*time.Second + time.Millisecond) // ten more, one a second
		r = post(t, s.Client(), s.URL(), "mine", chatBody("m", "hi", ""))
		assert.Equal(t, strconv.Itoa(1000-2-11), r.header.Get("X-Ratelimit-Remaining-Requests"), "the day's count falls with its requests")
		st := s.Stats()
		assert.Equal(t, OtherStats{Requests: 11, Tokens: 550}, st.Other)
		assert.Equal(t, 2, st.Requests, "its requests are not the client's")
		assert.Len(t, s.Arrivals(), 2)

		other := post(t, s.Client(), s.URL(), "solo", chatBody("m", "hi", ""))
		assert.Equal(t, strconv.Itoa(1000-1), other.header.Get("X-Ratelimit-Remaining-Requests"), "another organization is not spent")
	})
}

// TestOtherProgramIsRefusedAndStops: a request that does not fit is dropped and
// counted as refused; with For, the program stops.
func TestOtherProgramIsRefusedAndStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := NewUnstartedServer(WithModel("m", Limits{RPM: 60, Burst: 2}),
			WithOtherProgram(OtherProgram{Key: "theirs", Model: "m", RequestsPerMinute: 600, For: 10 * time.Second}))
		post(t, s.Client(), s.URL(), "theirs", chatBody("m", "hi", "")) // the organization's first request starts it
		time.Sleep(time.Minute)
		post(t, s.Client(), s.URL(), "theirs", chatBody("m", "hi", ""))
		st := s.Stats().Other
		assert.Equal(t, 100, st.Requests, "ten a second for ten seconds")
		// The bucket held 2 (one went to the client's request) and refilled one a
		// second (9 by its last request, at 9.9 s): the rest is refused, never retried.
		assert.Equal(t, 100-1-9, st.Refused)
	})
}

func TestOtherProgramBadOptionsPanic(t *testing.T) {
	for name, p := range map[string]OtherProgram{
		"no key":      {Model: "m", RequestsPerMinute: 1},
		"no model":    {Key: "k", RequestsPerMinute: 1},
		"no rate":     {Key: "k", Model: "m"},
		"negative":    {Key: "k", Model: "m", RequestsPerMinute: 1, Tokens: -1},
		"unknown":     {Key: "k", Model: "other", RequestsPerMinute: 1},
		"not allowed": {Key: "stranger", Model: "m", RequestsPerMinute: 1},
	} {
		assert.Panics(t, func() { NewUnstartedServer(WithKeys("k"), WithModel("m", Limits{}), WithOtherProgram(p)) }, name)
	}
}
