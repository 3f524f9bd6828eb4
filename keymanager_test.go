package groq_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCooldownMovesToOtherQuota(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := groqtest.NewUnstartedServer(groqtest.WithModel(simModel, groqtest.Limits{}))
		c, err := groq.NewClient(groq.WithAPIKeys("k0", "k1"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()),
			groq.WithDefaultModel(simModel), groq.WithRPM(0))
		require.NoError(t, err)
		defer c.Close()
		srv.Script(groqtest.Fault{Kind: groqtest.Fault429, RetryAfter: "30"})
		resp, err := c.Chat(context.Background(), hello)
		require.NoError(t, err)
		assert.Equal(t, 2, resp.Meta.Attempts)
		assert.Equal(t, 1, resp.Meta.KeyIndex, "the retry went to the quota that is not cooling down")
		snap := c.RateLimits(simModel)
		assert.Equal(t, time.Now().Add(30*time.Second), snap.Quotas[0].CoolingUntil)
		for range 4 {
			resp, err = c.Chat(context.Background(), hello)
			require.NoError(t, err)
			assert.Equal(t, 1, resp.Meta.KeyIndex, "k0 is cooling down")
		}
		time.Sleep(30 * time.Second)
		seen := map[int]bool{}
		for range 4 {
			resp, err = c.Chat(context.Background(), hello)
			require.NoError(t, err)
			seen[resp.Meta.KeyIndex] = true
		}
		assert.True(t, seen[0], "k0 serves again after its cooldown")
		assert.Equal(t, 0, srv.Stats().Violations)
	})
}

func TestFairAcrossKeys(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := groqtest.NewUnstartedServer(groqtest.WithModel(simModel, groqtest.Limits{}))
		c, err := groq.NewClient(groq.WithAPIKeys("a", "b", "c"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()),
			groq.WithDefaultModel(simModel), groq.WithModelLimits(simModel, groq.Limits{RPM: 40}))
		require.NoError(t, err)
		defer c.Close()
		_, errs := load(c, 100)
		noErrors(t, errs)
		per := srv.Stats().PerKey
		lo, hi := 100, 0
		for _, n := range per {
			lo, hi = min(lo, n), max(hi, n)
		}
		assert.LessOrEqual(t, hi-lo, 1, "per-key counts %v", per)
	})
}

func TestOrganizationKeysShareBuckets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := groqtest.NewUnstartedServer(groqtest.WithOrganization("acme", "a1", "a2"), groqtest.WithModel(simModel, groqtest.Limits{RPM: 10}))
		c, err := groq.NewClient(groq.WithOrganization("acme", "a1", "a2"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()),
			groq.WithDefaultModel(simModel), groq.WithModelLimits(simModel, groq.Limits{RPM: 10}))
		require.NoError(t, err)
		defer c.Close()
		took, errs := load(c, 20)
		noErrors(t, errs)
		assert.Equal(t, minimum(20, 10)+groq.DefaultPacingMargin, took, "two keys of one organization add no capacity")
		st := srv.Stats()
		assert.Equal(t, 0, st.RateLimited)
		assert.Equal(t, map[string]int{"a1": 10, "a2": 10}, st.PerKey, "the organization's keys take turns")
		assert.Len(t, c.RateLimits(simModel).Quotas, 1)
	})
}
