package redisstore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/redisstore"
	"github.com/groqkit/groq/redisstore/internal/redistest"
)

func req(quota string, rpm, tpm, tokens, prio int) groq.QuotaRequest {
	return groq.QuotaRequest{Quota: quota, Model: "m", Limits: groq.Limits{RPM: rpm, TPM: tpm, RPD: 1000, TPD: 1_000_000}, Tokens: tokens, Priority: prio}
}

func take(t *testing.T, s *redisstore.Store, r groq.QuotaRequest) groq.QuotaDecision {
	t.Helper()
	d, err := s.Take(context.Background(), r)
	require.NoError(t, err)
	return d
}

// TestTakeChecksEveryBucketAtOnce: a request is admitted only when every bucket
// can take it, and a refusal takes nothing and says how long to wait.
func TestTakeChecksEveryBucketAtOnce(t *testing.T) {
	rs := redistest.Start(t)
	s := redisstore.New(rs.Client())
	for i := range 10 {
		require.True(t, take(t, s, req("key:a", 10, 10_000, 100, 5)).OK, "request %d", i)
	}
	d := take(t, s, req("key:a", 10, 10_000, 100, 5))
	require.False(t, d.OK, "the RPM bucket is empty")
	assert.InDelta(t, 6.0, d.Wait.Seconds(), 0.1, "one request refills in 6 s")

	// Tokens: 10,000 a minute; 9,000 taken leaves 1,000.
	require.True(t, take(t, s, req("key:b", 100, 10_000, 9_000, 5)).OK)
	d = take(t, s, req("key:b", 100, 10_000, 2_000, 5))
	require.False(t, d.OK, "2,000 tokens do not fit in 1,000")
	assert.InDelta(t, 6.0, d.Wait.Seconds(), 0.1, "1,000 tokens refill in 6 s")
	u, err := s.Usage(context.Background(), "key:b", "m", groq.Limits{RPM: 100, TPM: 10_000, RPD: 1000, TPD: 1_000_000})
	require.NoError(t, err)
	assert.Equal(t, 1, u.RequestsThisMinute, "the refused request took nothing")
	assert.InDelta(t, 9_000, u.TokensThisMinute, 5)
	assert.Equal(t, 1, u.RequestsToday)

	// A request larger than the bucket is taken from a full one, into debt.
	require.True(t, take(t, s, req("key:c", 100, 1_000, 1_500, 5)).OK)
	require.False(t, take(t, s, req("key:c", 100, 1_000, 10, 5)).OK)
}

func TestSettleGivesBackAndTheHeadersPullDown(t *testing.T) {
	rs := redistest.Start(t)
	s := redisstore.New(rs.Client())
	ctx := context.Background()
	l := groq.Limits{RPM: 100, TPM: 10_000, RPD: 1000, TPD: 1_000_000}
	r := groq.QuotaRequest{Quota: "key:a", Model: "m", Limits: l, Tokens: 8_000, Priority: 5}
	require.True(t, take(t, s, r).OK)
	require.False(t, take(t, s, groq.QuotaRequest{Quota: "key:a", Model: "m", Limits: l, Tokens: 5_000, Priority: 5}).OK)
	require.NoError(t, s.Settle(ctx, r, groq.QuotaSettlement{Reserved: 8_000, Used: 1_000, Counted: true}))
	require.True(t, take(t, s, groq.QuotaRequest{Quota: "key:a", Model: "m", Limits: l, Tokens: 5_000, Priority: 5}).OK, "7,000 unused tokens were given back")

	// A request the server did not count gives its request back too.
	u0, _ := s.Usage(ctx, "key:a", "m", l)
	require.NoError(t, s.Settle(ctx, r, groq.QuotaSettlement{Reserved: 5_000, Counted: false}))
	u1, _ := s.Usage(ctx, "key:a", "m", l)
	assert.Equal(t, u0.RequestsThisMinute-1, u1.RequestsThisMinute)

	// The server says 3 requests are left today: never more than that.
	require.NoError(t, s.Settle(ctx, r, groq.QuotaSettlement{Reserved: 0, Used: 0, Counted: true,
		Headers: groq.RateLimitInfo{Present: true, RequestsLeftToday: 3, TokensLeftInMinute: -1}}))
	u2, _ := s.Usage(ctx, "key:a", "m", l)
	assert.Equal(t, 997, u2.RequestsToday)
}

func TestCoolDownAndLearnAreShared(t *testing.T) {
	rs := redistest.Start(t)
	a, b := redisstore.New(rs.Client()), redisstore.New(rs.Client()) // two processes
	ctx := context.Background()
	require.NoError(t, a.CoolDown(ctx, "key:a", "m", 7*time.Second))
	d := take(t, b, req("key:a", 100, 100_000, 1, 5))
	require.False(t, d.OK, "a 429 in one process holds the others back")
	assert.InDelta(t, 7.0, d.Wait.Seconds(), 0.1)
	require.NoError(t, a.CoolDown(ctx, "key:a", "m", time.Second))
	assert.InDelta(t, 7.0, take(t, b, req("key:a", 100, 100_000, 1, 5)).Wait.Seconds(), 0.1, "a cooldown is only extended")

	require.NoError(t, a.Learn(ctx, "key:l", "m", "RPM", 3))
	for range 3 {
		require.True(t, take(t, b, req("key:l", 100, 100_000, 1, 5)).OK)
	}
	d = take(t, b, req("key:l", 100, 100_000, 1, 5))
	require.False(t, d.OK, "the learnt depth of 3 holds in the other process")
	assert.InDelta(t, 0.6, d.Wait.Seconds(), 0.05)
}

// TestHeadroomForUrgentCallsElsewhere: while a priority-1 call of another process
// waits, a priority-10 call must leave it a request (it is told to wait one refill
// longer); a call as urgent as the waiter is not held back, and with no urgent
// waiter nothing is held back at all.
func TestHeadroomForUrgentCallsElsewhere(t *testing.T) {
	rs := redistest.Start(t)
	urgent, bulk := redisstore.New(rs.Client()), redisstore.New(rs.Client())
	for range 60 {
		require.True(t, take(t, bulk, req("key:h", 60, 1_000_000, 1, 10)).OK, "no urgent waiter: the whole bucket is taken")
	}
	du := take(t, urgent, req("key:h", 60, 1_000_000, 1, 1))
	require.False(t, du.OK)
	assert.InDelta(t, 1.0, du.Wait.Seconds(), 0.05, "the urgent call waits one refill (1 s at 60 a minute)")
	db := take(t, bulk, req("key:h", 60, 1_000_000, 1, 10))
	require.False(t, db.OK)
	assert.InDelta(t, 2.0, db.Wait.Seconds(), 0.05, "a priority-10 call leaves the next request to the waiting priority-1 call")
	dsame := take(t, urgent, req("key:h", 60, 1_000_000, 1, 10))
	assert.InDelta(t, 1.0, dsame.Wait.Seconds(), 0.05, "a process's own marker does not hold its own calls back (its queue orders them)")
	dp := take(t, bulk, req("key:h", 60, 1_000_000, 1, 1))
	assert.InDelta(t, 1.0, dp.Wait.Seconds(), 0.05, "an equally urgent call is not held back")
}

func TestKeysExpireAndHoldNoKey(t *testing.T) {
	rs := redistest.Start(t)
	rdb := rs.Client()
	s := redisstore.New(rdb, redisstore.WithPrefix("test:"))
	ctx := context.Background()
	require.True(t, take(t, s, req("key:0123456789abcdef", 30, 6000, 10, 5)).OK)
	require.NoError(t, s.CoolDown(ctx, "org:acme", "m", time.Second))
	keys, err := rdb.Keys(ctx, "*").Result()
	require.NoError(t, err)
	require.Len(t, keys, 2)
	for _, k := range keys {
		assert.True(t, strings.HasPrefix(k, "test:"), k)
		ttl, err := rdb.PTTL(ctx, k).Result()
		require.NoError(t, err)
		assert.Positive(t, ttl, "%s expires", k)
		assert.LessOrEqual(t, ttl, 25*time.Hour, "%s: at most a day's window and a minute", k)
	}
	mem, err := rdb.MemoryUsage(ctx, keys[0]).Result()
	require.NoError(t, err)
	t.Logf("Redis memory for one quota and model: %d bytes", mem)
}

func TestUnreachableRedisFailsFast(t *testing.T) {
	rs := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr, MaxRetries: -1})
	defer rdb.Close()
	s := redisstore.New(rdb, redisstore.WithRetryDown(time.Hour))
	require.True(t, take(t, s, req("key:a", 10, 1000, 1, 5)).OK)
	rs.Stop()
	_, err := s.Take(context.Background(), req("key:a", 10, 1000, 1, 5))
	require.Error(t, err)
	start := time.Now()
	_, err = s.Take(context.Background(), req("key:a", 10, 1000, 1, 5))
	require.ErrorIs(t, err, redisstore.ErrUnavailable, "after a failure the store does not wait for Redis again at once")
	assert.Less(t, time.Since(start), 100*time.Millisecond, "no dial: waiting for Redis would take its dial attempts")
}

// TestTakeReportsWhatTheMembersSpent: every admission says what all the
// processes have taken from the quota and model, net of what settlements gave
// back, so that a client can tell the other members' requests from another
// program's.
func TestTakeReportsWhatTheMembersSpent(t *testing.T) {
	rs := redistest.Start(t)
	a, b := redisstore.New(rs.Client()), redisstore.New(rs.Client()) // two processes
	ctx := context.Background()
	r := req("key:a", 10, 10_000, 100, 5)
	d := take(t, a, r)
	require.True(t, d.OK)
	require.NotNil(t, d.Spent)
	assert.Equal(t, groq.QuotaSpent{Requests: 1, Tokens: 100}, *d.Spent)
	d = take(t, b, r)
	assert.Equal(t, groq.QuotaSpent{Requests: 2, Tokens: 200}, *d.Spent, "the other process's request counts")
	require.NoError(t, a.Settle(ctx, r, groq.QuotaSettlement{Reserved: 100, Used: 40, Counted: true}))
	require.NoError(t, b.Settle(ctx, r, groq.QuotaSettlement{Reserved: 100, Counted: false}))
	d = take(t, a, r)
	assert.Equal(t, groq.QuotaSpent{Requests: 2, Tokens: 140}, *d.Spent, "40 of 100 used; an uncounted request given back")
	for range 8 { // the bucket holds 10: two are in it
		require.True(t, take(t, a, r).OK)
	}
	d = take(t, b, r)
	require.False(t, d.OK, "the RPM bucket is empty")
	assert.Equal(t, groq.QuotaSpent{Requests: 10, Tokens: 940}, *d.Spent, "a refusal reports the count and adds nothing")
}

// TestMembersAndCharge: Take counts the processes that asked lately
// (QuotaDecision.Members), and Charge takes what a process sent while Redis did
// not answer from every bucket, into debt, and adds it to the members' count.
func TestMembersAndCharge(t *testing.T) {
	rs := redistest.Start(t)
	a, b := redisstore.New(rs.Client()), redisstore.New(rs.Client()) // two processes
	ctx := context.Background()
	r := req("key:m", 60, 60_000, 100, 5)
	assert.Equal(t, 1, take(t, a, r).Members)
	assert.Equal(t, 2, take(t, b, r).Members)
	assert.Equal(t, 2, take(t, a, r).Members, "a process counts once")

	require.NoError(t, a.Charge(ctx, r, groq.QuotaSpent{Requests: 70, Tokens: 7_000}))
	u, err := a.Usage(ctx, "key:m", "m", r.Limits)
	require.NoError(t, err)
	assert.Equal(t, 73, u.RequestsThisMinute, "three taken and 70 charged: 13 in debt past the limit of 60")
	d := take(t, b, r)
	require.False(t, d.OK)
	assert.InDelta(t, 14.0, d.Wait.Seconds(), 0.2, "the debt and one request refill at one a second")
	assert.Equal(t, groq.QuotaSpent{Requests: 73, Tokens: 7_300}, *d.Spent)
}

// TestLateScriptsDoNothing: a Take or a Charge that Redis runs after the store
// stopped waiting for it (Redis was paused) takes nothing: the client paced that
// call on its own, and would otherwise pay for it twice.
func TestLateScriptsDoNothing(t *testing.T) {
	rs := redistest.Start(t)
	s := redisstore.New(rs.Client(), redisstore.WithRetryDown(0))
	ctx := context.Background()
	r := req("key:late", 60, 60_000, 100, 5)
	require.True(t, take(t, s, r).OK, "Take measures the clocks' skew")
	rs.Pause()
	_, err := s.Take(ctx, r)
	require.Error(t, err, "Redis is paused: the store stops waiting after its timeout")
	require.Error(t, s.Charge(ctx, r, groq.QuotaSpent{Requests: 5, Tokens: 500}))
	time.Sleep(time.Second)
	rs.Resume()
	time.Sleep(300 * time.Millisecond) // Redis runs what it was sent meanwhile
	u, err := s.Usage(ctx, "key:late", "m", r.Limits)
	require.NoError(t, err)
	assert.Equal(t, 1, u.RequestsToday, "the late Take and Charge took nothing")
}
