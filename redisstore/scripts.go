package redisstore

import "github.com/redis/go-redis/v9"

// The scripts keep one hash per quota and model (its key carries the quota and
// model in a hash tag, so that a Cluster keeps it in one slot). Its fields:
//
//	rpm tpm rpd tpd  the GCRA theoretical arrival time of each bucket, in ms on
//	                 Redis's clock: the bucket is full when it is in the past
//	cool             until when a 429 holds the quota and model back (ms)
//	b:rpm b:tpm      a learnt depth, and bx:rpm bx:tpm until when it holds (ms)
//	m:PROCESS        "priority|tokens|until": a call of that process waits for
//	                 capacity (a marker for the others' headroom)
//	n:req n:tok      what every member has taken, cumulative, net of what
//	                 settlements gave back (groq.QuotaDecision.Spent)
//	a:PROCESS        when that process last asked for admission (ms): the
//	                 members counted in groq.QuotaDecision.Members
//
// Times come from Redis's TIME, so that the processes' clocks do not matter. The
// hash expires once every bucket would be full again (plus a minute).

// prelude starts every script: the hash, Redis's clock in ms, and keepAlive,
// which makes the hash live at least ms more.
const prelude = `
local h = KEYS[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local function keepAlive(ms)
  if redis.call('PTTL', h) < ms then redis.call('PEXPIRE', h, math.ceil(ms)) end
end
`

// takeScript is admission over every bucket at once.
// KEYS[1] the hash. ARGV: process, priority, next priority, tokens, marker grace
// (ms), the four limits (rpm tpm rpd tpd; 0: none), the four depths (0: the limit),
// how long a process counts as a member after it last asked (ms), and when, on
// Redis's clock (ms), the caller stops waiting for the answer (0: unknown).
// It returns {1, 0, requests, tokens, members, now} (taken) or {0, wait in µs,
// requests, tokens, members, now}, with what the members have taken so far (this
// request included), how many processes asked lately (this one included) and
// Redis's clock (ms); or {2} and does nothing when the caller has stopped waiting
// (a script that ran late: Redis was paused, or the network held the request).
var takeScript = redis.NewScript(prelude + `
local stale = tonumber(ARGV[15])
if stale > 0 and now > stale then return {2} end
local proc, prio, nextp, tokens, grace = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local raw = redis.call('HGETALL', h)
local f = {}
for i = 1, #raw, 2 do f[raw[i]] = raw[i + 1] end
local mine = 'm:' .. proc

local seen, members = 'a:' .. proc, 1
redis.call('HSET', h, seen, string.format('%.3f', now))
for k, v in pairs(f) do
  if string.sub(k, 1, 2) == 'a:' and k ~= seen then
    if tonumber(v) > now - tonumber(ARGV[14]) then members = members + 1 else redis.call('HDEL', h, k) end
  end
end

local function refuse(wait)
  redis.call('HSET', h, mine, prio .. '|' .. tokens .. '|' .. string.format('%.3f', now + wait + grace))
  keepAlive(wait + grace + 60000)
  return {0, math.ceil(wait * 1000), tonumber(f['n:req'] or '0'), tonumber(f['n:tok'] or '0'), members, math.floor(now)}
end

local cool = tonumber(f['cool'] or '0')
if cool > now then return refuse(cool - now) end

-- The most urgent call that another process has waiting here.
local up, utok = 11, 0
for k, v in pairs(f) do
  if string.sub(k, 1, 2) == 'm:' and k ~= mine then
    local p, tk, ex = string.match(v, '^(%d+)|(%d+)|([%d%.]+)$')
    if p and tonumber(ex) > now then
      p = tonumber(p)
      if p < up then up, utok = p, tonumber(tk) end
    else
      redis.call('HDEL', h, k)
    end
  end
end
local headroom = up < prio

local names = {'rpm', 'tpm', 'rpd', 'tpd'}
local periods = {60000, 60000, 86400000, 86400000}
local costs = {1, tokens, 1, tokens}
local keeps = {1, utok, 1, utok}
local wait, horizon, newt = 0, 0, {}
for i = 1, 4 do
  local limit = tonumber(ARGV[5 + i])
  if limit > 0 then
    local e = periods[i] / limit
    local depth = limit
    local b = tonumber(ARGV[9 + i])
    if b > 0 and b < depth then depth = b end
    if i <= 2 then
      local lb, lx = tonumber(f['b:' .. names[i]] or '0'), tonumber(f['bx:' .. names[i]] or '0')
      if lb > 0 and lx > now and lb < depth then depth = lb end
    end
    local tat = math.max(tonumber(f[names[i]] or '0'), now)
    local nt = tat + costs[i] * e
    local allow
    if costs[i] > depth then
      allow = tat -- larger than the bucket: only from a full one
    else
      allow = nt - depth * e
      if headroom then allow = allow + math.min(keeps[i], depth - costs[i]) * e end
    end
    if allow > now then wait = math.max(wait, allow - now) end
    newt[i] = nt
    horizon = math.max(horizon, nt - now)
  end
end
if wait > 0 then return refuse(wait) end
for i = 1, 4 do
  if newt[i] then redis.call('HSET', h, names[i], string.format('%.3f', newt[i])) end
end
if nextp > 0 and f[mine] then
  redis.call('HSET', h, mine, nextp .. '|0|' .. string.format('%.3f', now + grace))
else
  redis.call('HDEL', h, mine)
end
local nreq = redis.call('HINCRBY', h, 'n:req', 1)
local ntok = redis.call('HINCRBY', h, 'n:tok', tokens)
keepAlive(horizon + 60000)
return {1, 0, nreq, ntok, members, math.floor(now)}
`)

// chargeScript takes what a process sent while Redis did not answer from every
// bucket, into debt if need be. KEYS[1] the hash. ARGV: requests, tokens, the
// four limits (rpm tpm rpd tpd; 0: none), and when the caller stops waiting (as
// for takeScript: a late run does nothing, and returns 2).
var chargeScript = redis.NewScript(prelude + `
local stale = tonumber(ARGV[7])
if stale > 0 and now > stale then return 2 end
local requests, tokens = tonumber(ARGV[1]), tonumber(ARGV[2])
local names = {'rpm', 'tpm', 'rpd', 'tpd'}
local periods = {60000, 60000, 86400000, 86400000}
local costs = {requests, tokens, requests, tokens}
local horizon = 0
for i = 1, 4 do
  local limit = tonumber(ARGV[2 + i])
  if limit > 0 and costs[i] > 0 then
    local tat = math.max(tonumber(redis.call('HGET', h, names[i]) or '0'), now) + costs[i] * periods[i] / limit
    redis.call('HSET', h, names[i], string.format('%.3f', tat))
    horizon = math.max(horizon, tat - now)
  end
end
redis.call('HINCRBY', h, 'n:req', requests)
redis.call('HINCRBY', h, 'n:tok', tokens)
keepAlive(horizon + 60000)
return 1
`)

// settleScript corrects an admitted request.
// KEYS[1] the hash. ARGV: reserved, used, counted (1/0), the four limits, the four
// depths, the requests left today and the tokens left this minute from the
// response's headers (-1: absent).
var settleScript = redis.NewScript(prelude + `
local reserved, used, counted = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3] == '1'
local leftReq, leftTok = tonumber(ARGV[12]), tonumber(ARGV[13])
local names = {'rpm', 'tpm', 'rpd', 'tpd'}
local periods = {60000, 60000, 86400000, 86400000}
local horizon = 0
for i = 1, 4 do
  local limit = tonumber(ARGV[3 + i])
  if limit > 0 then
    local e = periods[i] / limit
    local depth = limit
    local b = tonumber(ARGV[7 + i])
    if b > 0 and b < depth then depth = b end
    local tat = tonumber(redis.call('HGET', h, names[i]) or '0')
    local before = tat
    local delta = 0
    if i == 2 or i == 4 then
      delta = -reserved
      if counted then delta = used - reserved end
    elseif not counted then
      delta = -1
    end
    if delta > 0 then
      tat = math.max(tat, now) + delta * e
    elseif delta < 0 and tat > now then
      tat = math.max(now, tat + delta * e) -- give back only what has not refilled yet
    end
    -- The server's headers: never more left than it says.
    if i == 3 and leftReq >= 0 then tat = math.max(tat, now + (depth - leftReq) * e) end
    if i == 2 and leftTok >= 0 then tat = math.max(tat, now + (depth - leftTok) * e) end
    if tat ~= before then redis.call('HSET', h, names[i], string.format('%.3f', tat)) end
    horizon = math.max(horizon, tat - now)
  end
end
if counted then
  if used ~= reserved then redis.call('HINCRBY', h, 'n:tok', used - reserved) end
elseif redis.call('EXISTS', h) == 1 then
  redis.call('HINCRBY', h, 'n:req', -1)
  redis.call('HINCRBY', h, 'n:tok', -reserved)
end
keepAlive(horizon + 60000)
return 1
`)

// coolScript extends a cooldown. KEYS[1] the hash; ARGV[1] the wait in ms.
var coolScript = redis.NewScript(prelude + `
local untilMs = now + tonumber(ARGV[1])
if untilMs > tonumber(redis.call('HGET', h, 'cool') or '0') then
  redis.call('HSET', h, 'cool', string.format('%.3f', untilMs))
end
keepAlive(tonumber(ARGV[1]) + 60000)
return 1
`)

// learnScript records a learnt depth. KEYS[1] the hash; ARGV: the limit's field
// (rpm, tpm), the depth, how long it holds (ms).
var learnScript = redis.NewScript(prelude + `
local b, forget = tonumber(ARGV[2]), tonumber(ARGV[3])
local old, oldx = tonumber(redis.call('HGET', h, 'b:' .. ARGV[1]) or '0'), tonumber(redis.call('HGET', h, 'bx:' .. ARGV[1]) or '0')
if old > 0 and oldx > now and old < b then b = old end
redis.call('HSET', h, 'b:' .. ARGV[1], b, 'bx:' .. ARGV[1], string.format('%.3f', now + forget))
keepAlive(forget + 60000)
return 1
`)

// usageScript reads the buckets. KEYS[1] the hash; ARGV: the four limits, the
// four depths. It returns the four used figures (-1: no limit) and the cooldown
// left in µs.
var usageScript = redis.NewScript(prelude + `
local names = {'rpm', 'tpm', 'rpd', 'tpd'}
local periods = {60000, 60000, 86400000, 86400000}
local out = {}
for i = 1, 4 do
  local limit = tonumber(ARGV[i])
  if limit > 0 then
    local e = periods[i] / limit
    local tat = tonumber(redis.call('HGET', h, names[i]) or '0')
    out[i] = math.max(0, math.ceil((tat - now) / e - 0.000001))
  else
    out[i] = -1
  end
end
local cool = tonumber(redis.call('HGET', h, 'cool') or '0')
out[5] = math.max(0, math.ceil((cool - now) * 1000))
return out
`)
