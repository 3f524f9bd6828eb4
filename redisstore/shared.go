package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/groqkit/groq"
)

// Budget is a groq.BudgetStore on Redis: every process that uses it spends one
// daily token budget. A day is one hash (used, reserved) that expires three days
// after it was last written. Safe for concurrent use.
type Budget struct{ s *Store }

var _ groq.BudgetStore = (*Budget)(nil)

// Budget returns the store's shared daily budget, for groq.WithBudgetStore.
func (s *Store) Budget() *Budget { return &Budget{s: s} }

func (b *Budget) key(day string) string { return b.s.prefix + "budget:" + day }

// reserveScript: KEYS[1] the day; ARGV n, limit. Returns {ok, used, reserved}.
var reserveScript = redis.NewScript(`
local used = tonumber(redis.call('HGET', KEYS[1], 'used') or '0')
local reserved = tonumber(redis.call('HGET', KEYS[1], 'reserved') or '0')
local n, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
if used + reserved + n > limit then return {0, used, reserved} end
reserved = redis.call('HINCRBY', KEYS[1], 'reserved', n)
redis.call('EXPIRE', KEYS[1], 259200)
return {1, used, reserved}
`)

// settleBudgetScript: KEYS[1] the day; ARGV reserved, used.
var settleBudgetScript = redis.NewScript(`
local r = redis.call('HINCRBY', KEYS[1], 'reserved', -tonumber(ARGV[1]))
if r < 0 then redis.call('HSET', KEYS[1], 'reserved', 0) end
if tonumber(ARGV[2]) > 0 then redis.call('HINCRBY', KEYS[1], 'used', ARGV[2]) end
redis.call('EXPIRE', KEYS[1], 259200)
return 1
`)

// Reserve implements groq.BudgetStore.
func (b *Budget) Reserve(ctx context.Context, day string, n, limit int64) (used, reserved int64, ok bool, err error) {
	v, err := b.s.run(ctx, reserveScript, b.key(day), n, limit)
	if err != nil {
		return 0, 0, false, err
	}
	res, isList := v.([]any)
	if !isList || len(res) != 3 {
		return 0, 0, false, fmt.Errorf("redisstore: unexpected answer %v", v)
	}
	okN, _ := res[0].(int64)
	used, _ = res[1].(int64)
	reserved, _ = res[2].(int64)
	return used, reserved, okN == 1, nil
}

// Settle implements groq.BudgetStore.
func (b *Budget) Settle(ctx context.Context, day string, reserved, used int64) error {
	_, err := b.s.run(ctx, settleBudgetScript, b.key(day), reserved, used)
	return err
}

// Status implements groq.BudgetStore.
func (b *Budget) Status(ctx context.Context, day string) (used, reserved int64, err error) {
	if err := b.s.ready(); err != nil {
		return 0, 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, b.s.timeout)
	defer cancel()
	var vals []any
	err = b.s.bound(ctx, func(ctx context.Context) (err error) {
		vals, err = b.s.rdb.HMGet(ctx, b.key(day), "used", "reserved").Result()
		return err
	})
	if err != nil {
		return 0, 0, b.s.failed(err)
	}
	num := func(v any) int64 {
		s, _ := v.(string)
		var n int64
		fmt.Sscan(s, &n)
		return n
	}
	return num(vals[0]), num(vals[1]), nil
}

// Cache is a groq.Cache on Redis: every process that uses it shares answers. An
// entry is the response's JSON under the request's cache key (a hash of the
// request; never an API key), and expires after the TTL by Redis's own expiry. A
// Redis failure is a miss (Get) or an error (Set, Delete): the call goes on. Safe
// for concurrent use; Close does not close the Redis client.
type Cache struct {
	s   *Store
	ttl time.Duration
}

var _ groq.Cache = (*Cache)(nil)

// Cache returns a shared answer cache whose entries live ttl (groq.DefaultCacheTTL
// when ttl ≤ 0), for groq.WithCache.
func (s *Store) Cache(ttl time.Duration) *Cache {
	if ttl <= 0 {
		ttl = groq.DefaultCacheTTL
	}
	return &Cache{s: s, ttl: ttl}
}

func (c *Cache) key(k string) string { return c.s.prefix + "cache:" + k }

// Get implements groq.Cache.
func (c *Cache) Get(ctx context.Context, key string) (*groq.ChatResponse, bool) {
	if c.s.ready() != nil {
		return nil, false
	}
	ctx, cancel := context.WithTimeout(ctx, c.s.timeout)
	defer cancel()
	var data []byte
	err := c.s.bound(ctx, func(ctx context.Context) (err error) {
		data, err = c.s.rdb.Get(ctx, c.key(key)).Bytes()
		return err
	})
	if err != nil {
		if !errors.Is(err, redis.Nil) {
			c.s.failed(err)
		}
		return nil, false
	}
	var resp groq.ChatResponse
	if json.Unmarshal(data, &resp) != nil {
		return nil, false
	}
	return &resp, true
}

// Set implements groq.Cache.
func (c *Cache) Set(ctx context.Context, key string, resp *groq.ChatResponse) error {
	if resp == nil {
		return errors.New("redisstore: Cache.Set: nil response")
	}
	if err := c.s.ready(); err != nil {
		return err
	}
	data, err := json.Marshal(resp)
	if err != nil {
		return fmt.Errorf("redisstore: encoding the response: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.s.timeout)
	defer cancel()
	if err := c.s.bound(ctx, func(ctx context.Context) error { return c.s.rdb.Set(ctx, c.key(key), data, c.ttl).Err() }); err != nil {
		return c.s.failed(err)
	}
	return nil
}

// Delete implements groq.Cache.
func (c *Cache) Delete(ctx context.Context, key string) error {
	if err := c.s.ready(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.s.timeout)
	defer cancel()
	if err := c.s.bound(ctx, func(ctx context.Context) error { return c.s.rdb.Del(ctx, c.key(key)).Err() }); err != nil {
		return c.s.failed(err)
	}
	return nil
}

// Close implements groq.Cache; the Redis client stays open (it is the caller's).
func (c *Cache) Close() error { return nil }
