// Package groq is a client for Groq's chat completions API that paces its requests
// to the provider's rate limits instead of running into them.
//
// A Client routes each call through an optional cache (with in-flight
// de-duplication), a daily token budget and a context-window check, a priority
// queue, a per-key pool of golang.org/x/time/rate limiters (requests and tokens per
// minute and per day, per model), a bound on requests in flight, and a retry loop
// with jittered exponential backoff that always obeys Retry-After. It corrects its
// limiters from Groq's x-ratelimit-* headers and 429 messages. Chat returns a typed
// response or a typed error; ChatStream streams; ChatBatch sends many. It never
// rotates keys to evade a limit and never writes an API key into a log, an error or
// the cache.
//
// Package groqtest, beside it, simulates Groq's API for tests.
//
// # A call, file by file
//
// Every endpoint goes through one pipeline. Client.Chat (client.go) makes one
// call value (call.go) that carries the request through its life; the call's
// endpoint (the chat completion and the chat stream, at the end of call.go;
// audio.go: speech to text and text to speech; rest.go: models, files and
// batches) says what the request costs, what an attempt sends and how a 2xx
// answer is read. In order:
//
//   - newCall (client.go): check the context, the request and the options (a
//     *RequestError before any network call), and the list of models the call may
//     be served from; tell the observer (observer.go) when one is set;
//   - lookup: ask the cache (cache.go; its JSON file: cachefile.go, written whole
//     under a file lock: filelock_unix.go, internal/atomicfile); identical calls
//     in flight share one request (flights, cache.go);
//   - plan (the endpoint's): the cost (the local estimate, budget.go, corrected
//     by what the server counted, learn.go), the context window, the daily
//     budget (budget.go), and whether any quota can ever admit it; models, files
//     and batches cost nothing that is counted and are admitted at once;
//   - admit: wait in the model's queue (priority.go) until the scheduler
//     (keymanager.go, with the quotas: a key or an organization's keys) finds a
//     quota whose buckets admit it (tokenbucket.go, with the limits they enforce) and a slot
//     of the concurrency semaphore is free. The scheduler always holds a quota
//     store: noStore (keymanager.go), which does nothing, or with a QuotaStore
//     (quotastore.go) the shared buckets too, or while the store does not answer,
//     this process's share of the limits, charged to the store once it answers
//     (outage.go);
//   - try: send (transport.go), then the endpoint reads the answer (types.go, with
//     the x-ratelimit-* headers) or opens the stream (stream.go, sse.go), or the
//     call reads the refusal (errors.go, retryafter.go); call.settle, the one place
//     that settles a grant, settles it with what the server said (what the buckets
//     learn from it, others' spending included: learn.go). A stream handed over
//     settles it when it ends;
//   - pause: before the next attempt, wait as the server asked or back off
//     (backoff.go); a 429's wait is its quota's cooldown, which admission enforces;
//   - end: once, however the call ended: settle the budget, learn the cost, store
//     the answer, hand it to the identical calls waiting, tell the observer and the
//     callback. A stream ends its call when it ends.
//
// ChatCompletion is the same path for a full request, ChatStream and
// ChatCompletionStream for a stream, and ChatBatch (chatbatch.go) runs
// ChatCompletion per request.
//
// The files whose code one chat call runs (answered, the client warmed by a
// first call) are listed by `go test -v -run TestOneChatCallWalk
// ./internal/callwalk`, which measures them with coverage of the whole module.
// With the library's defaults they are nine: client.go, call.go, budget.go,
// priority.go, keymanager.go, tokenbucket.go, transport.go, types.go and
// learn.go. A file cache (WithCacheFile) adds four: cache.go, cachefile.go,
// filelock_unix.go and internal/atomicfile/atomicfile.go. The other files above
// are those of the options a call did not use (an observer, a QuotaStore, a list
// of models) and of the paths it did not take (a refusal, a retry, a stream).
//
// # Rate limits: how the client paces itself
//
//   - Limits per model: `groq.Limits{RPM, RPD, TPM, TPD, ContextWindow}` (0 = unknown).
//     The built-in table holds Groq's published limits, which are the *free plan's*
//     (`groq.BuiltinLimits()`): a floor to start from, not a ceiling. Groq's headers
//     replace its figures (the RPD and the TPM), and when they show the organization
//     above the table (a paid plan: "500000" requests a day where the table says 14,400),
//     the table's RPM and TPD are dropped for that key's quota until a 429 names them
//     ("requests per minute (RPM): Limit 1000"): one wave of 429s at most, bounded by
//     the requests in flight, then paced at the learnt RPM. The client logs it once.
//     `WithModelLimits(model, l)` overrides the table with the user's own figures, which
//     are ceilings (Groq can lower them, never raise them), and `WithRPM(n)` sets the
//     per-minute request limit of every model that has none (default 30, a table-like
//     guess unless `WithRPM` is given). `QuotaSnapshot.Sources` says where each limit in
//     force came from: `configured`, `429`, `headers` or `table`.
//     Groq counts a request when it *arrives*; if your network jitters, configure a little
//     below the published limits.
//   - Quotas. Every key given to `WithAPIKeys` is its own quota with its own buckets.
//     Keys of one Groq organization share the organization's limits, so a second key of
//     the same organization adds no capacity: declare them with
//     `WithOrganization("acme", key1, key2)` and the client keeps one set of buckets for
//     them and takes turns among their keys. Only keys of different organizations add
//     capacity. The client never switches keys to evade a limit: it waits or fails.
//   - Buckets are shaped like Groq's: they refill continuously and hold one period's
//     worth (a minute for RPM and TPM, a day for RPD and TPD), unless the server showed
//     its bucket to be shallower (below). Before a request is sent it reserves one request
//     and its estimated tokens (the prompt estimate, corrected by what the server has
//     counted, plus `max_completion_tokens`, or what this model's answers have used) in
//     every bucket of the chosen quota; the response's `usage` settles the reservation
//     (unused tokens come back, extra tokens are charged); a request the server did not
//     count (429, 413, 5xx, 498) gives it all back.
//   - Key choice: among the quotas, the one that can admit the request soonest; ties
//     go round-robin, so equal keys under equal load serve within one request of each other.
//     A retry goes back through admission and may use another quota.
//   - Cooldowns: a 429 cools its quota and model until the server's wait has passed
//     (only ever extended); the other quotas keep serving.
//   - Learning from Groq: after every response, `x-ratelimit-remaining-tokens` and
//     `-remaining-requests` pull the local TPM and RPD buckets down when the server has seen
//     usage this process did not (another process, a colleague on the same organization:
//     see Another program on the same quota);
//     unknown limits are learnt from `x-ratelimit-limit-*`, and RPM (which no header gives)
//     from the 429 message ("… (RPM): Limit 30 …"). A lower server limit wins; a configured
//     limit is never raised.
//   - Models do not block each other. Waiters are queued per model: a call for a model
//     with capacity goes at once, whatever waits for another model's empty bucket.
//   - Refusing early: a request whose tokens cannot fit the per-minute limit fails at
//     once with `ErrRequestTooLarge`; when the wait for capacity (an exhausted day, a long
//     cooldown) would end after the context deadline or `WithMaxRetryDelay`, the call
//     returns a local `*RateLimitError` at once, without a network call.
//
// # Retries
//
// Retried: connection errors, per-attempt timeouts (WithAttemptTimeout), 408, 409,
// 429, 498, 500, 502, 503, 504, and any answer with `x-should-retry: true`;
// `x-should-retry: false` stops it. Never retried: 400, 401, 403, 404, 413, 422,
// 424, a cancelled or expired context. The wait is the server's when it gives one:
// `retry-after-ms`, then `retry-after` (seconds, decimal seconds, or an HTTP date),
// and for a 429 Groq's finer "try again in 1m0.36s" when it is longer than the
// rounded header. Otherwise decorrelated jitter: sleep = min(max, rand[base,
// 3·previous)), defaults 250 ms and 30 s, so that a first retry waits 0.25–0.75 s, as
// Groq's own SDK does. A negative or unparsable value falls back to backoff; a wait
// past 31 days (ten years, +Inf, a date in another century) is the longest wait, so
// that a longer wait is never retried sooner than a shorter one. An attempt that
// never reached the server (DNS, a refused connection, TLS) gives its tokens back at
// once. What a server says is bounded before it touches a bucket: a usage is at most
// the model's context window (2M tokens when unknown), a stream event at most 4 MiB
// (a longer one is a *StreamError), and a 200 that is not a completion is
// ErrBadResponse. A server wait longer than WithMaxRetryDelay (default 2m) or past
// the context's deadline is not slept: the call returns a *RateLimitError at once.
//
// # Priorities and concurrency
//
//   - `groq.WithPriority(p)`: 1 is the most urgent, 10 the least, 5 the default. When
//     capacity is short, the most urgent waiter is always admitted next; first come first
//     served within a priority; a retry keeps its priority and its place. A waiter whose
//     context ends leaves the queue at once.
//   - `WithMaxQueue(n)`: past n waiters a call fails fast with `ErrQueueFull`.
//   - `WithPriorityAging(d)`: a waiter gains one level per `d` waited, so a steady stream
//     of urgent calls cannot starve the others.
//   - Requests in flight are bounded (`golang.org/x/sync/semaphore`). Without
//     `WithMaxConcurrency` the bound adapts: `DefaultMaxConcurrency` (8), plus what the
//     model's request bucket holds (at most 32), plus twice its refill over the observed
//     latency (Little's law with headroom), at most `MaxAdaptiveConcurrency` (256); a
//     quota whose RPM is unknown adds 8. `WithMaxConcurrency(n)` makes n a fixed ceiling. A free slot goes to the most urgent call that can
//     be admitted now, whatever its model; a slot is never held idle for a call that
//     must wait for its bucket anyway.
//   - One heap per model and no goroutine of the scheduler's own: each model's head
//     waits on a timer for its bucket, everyone else on a channel. An admission costs
//     O(models × quotas + log waiters) (figures in bench/README.md).
//
// # A call that accepts several models
//
// Groq's limits are per model: an organization has one quota for each. A call
// that accepts several models (`WithModels(a, b, c)`, `ChatRequest.Models`, or a
// route: `WithRoute("fast", a, b)` or the config file's "routes") is sent to the
// one that can serve it now, so that the quotas of all of them are spent together
// and no request goes to a model whose day is gone (fallback.go, call.go):
//
//   - plan: each model is planned as a call of one; a model whose context window
//     or limits cannot take the request is left out before any network call;
//   - admit: the call waits in the queue of every model left, at its priority and
//     place in each; the first queue whose head it is and whose buckets can take it
//     admits it, and it leaves the others. Among models ready at once, the earlier
//     of the list goes. `WithFallbackAfter(d)` keeps an earlier model while its wait
//     is at most d (default 0: any model that can go now); the call then holds its
//     place at the head of a later model's queue for at most d;
//   - after the send: a 429 whose wait is past d (a spent day, a minute), a 404, a
//     decommissioned model, a 413 or a context_length_exceeded, and a 5xx that
//     exhausts its retries move the call on to the next model of its list (an
//     observer hears a RetryEvent with Reason "next_model"); a list down to one model
//     is retried as a call of one model is;
//   - end: ChatResponse.Model, CallDoneEvent.ResponseModel and the OpenTelemetry
//     span's gen_ai.response.model name the model that served; when every model
//     failed, the error is a *FallbackError with each model's error
//     (errors.As finds each).
//
// The cache and in-flight de-duplication key on the list, not on the model that
// served: an answer from any model of the list answers the same call again.
// Meta.Attempts counts the attempts on the model that served.
//
// # Against real servers: pacing margin, learnt bursts, real costs
//
// A server is never exactly the client's model of it. The client corrects for the
// three ways it differs, and shows what it learnt in `RateLimits()`:
//
//   - Pacing margin (`WithPacingMargin`, default 50 ms). Groq counts a request when
//     it *arrives*. When a new connection's handshake makes the first request of a run
//     arrive 30 ms late, the server's bucket refills 30 ms behind the client's, and a
//     client pacing at exactly the limit draws a 429 at the end of every burst. So a
//     request that had to wait for refill leaves one margin after the local bucket
//     allows it. The margin is paid once per stretch of refill-bound sending, not per
//     request: the rate is unchanged. A 429 that timing explains (the local bucket was
//     nearly empty anyway) doubles the margin for that quota and model, up to 1 s; each
//     quiet minute halves it back. *Why 50 ms:* on `groqtest` with 1,400 requests at RPM
//     600 over 2 keys, a Groq-shaped bucket, 30 ms first-connection delay and 5 or 20 ms
//     arrival jitter (`cd bench && go run . -n 1400 -burst 0 -jitter 20ms -first-conn 30ms
//     -margin M -clients groqkit`), margins of 0, 10 and 25 ms drew 2 429s and 50 and
//     100 ms none; each costs its own length once (ratio 1.006 at 50 ms, 1.011 at
//     100 ms). 50 ms covers a handshake of two round trips of 25 ms.
//     The part of the delay the client sees is not left to the margin: for a request
//     admitted from a nearly full per-minute bucket, http.Transport reports when it
//     wrote the request (after a dial, a TLS handshake, a QuotaStore's round trip), and
//     the refill the local bucket counted for that wait, which the server's full bucket
//     could not hold, is taken back. The margin covers the rest: the network, the
//     server's front end. (A custom RoundTripper reports no write: the margin alone.)
//
//   - Learnt burst. A 429 while the local bucket still held plenty is evidence about
//     the server's bucket: if this process had spent `S` (what it took before the request
//     left, plus what it took while it was in flight, minus refusals given back) and the
//     server refused `c` more, the server's bucket holds less than `S + c`. When that
//     bound is clearly below the local depth (by 10 % or two requests), it becomes the
//     bucket's learnt depth for that quota, model and limit (`x/time/rate`'s `SetBurst`;
//     what was spent stays spent), and the other quotas serving that model take it as a
//     hint. `S` counts what the headers showed others spent; `c` is the server's stated
//     cost. A bound that could not admit the request being retried, or is below a
//     request the server has accepted, is a contradiction and is not learnt; a learnt
//     depth below a request about to be sent is dropped. A learnt depth grows back by half after each minute without such a refusal,
//     up to the configured limit, because it can be wrong (another process may have
//     spent the quota): after a lull that may cost a 429 or two while it probes.
//     Nothing is ever raised above what you configured.
//
//   - The server's cost is the truth. A TPM or TPD 429 says `Requested 120` (or
//     `~12903`); the retry reserves that, instead of the local estimate. After each
//     answer the client learns, per model, the ratio of the server's `prompt_tokens` to
//     its own estimate (a moving average) and corrects later estimates with it.
//
//   - Adaptive completion reserve. A call without max tokens reserves, until the
//     model has given 8 such answers, `WithCompletionReserve` (default 1024); then the
//     95th percentile of the last 64 answers' `completion_tokens`. When answers suddenly
//     get longer, the first few are under-reserved: the reconciliation charges the extra
//     tokens at once (the bucket goes into debt and the next requests wait for it), so the
//     limit holds; once 4 of the last 64 are long, the reserve is the long length.
//
//     snap := client.RateLimits("llama-3.1-8b-instant")
//     for _, q := range snap.Quotas {
//     fmt.Printf("%s: RPM %d, bucket depth %d, margin %v\n", q.Name, q.Limits.RPM, q.Burst.RPM, q.PacingMargin)
//     }
//     fmt.Printf("prompt ratio %.2f, completion reserve %d\n", snap.PromptRatio, snap.CompletionReserve)
//
// The client logs (at Info, never with a key) each burst it learns and each time it
// widens a margin.
//
// # Another program on the same quota
//
// Most real 429s come from spending the client cannot see: a notebook, a cron job, a
// second service without the Redis store, a teammate's script on the same organization.
//
// What a 429 says. The client reads the message before the bucket. "… (TPM): Limit
// 6000, Used 5990, Requested 120" from a client that had spent nothing is another
// program's spending, not a shallow bucket: the client learns no depth and widens no
// margin, pulls its bucket down to what is left, and holds it where the 120 tokens fit
// when the server said they would. The call is retried after the server's wait
// (about 1 s here, with 20 s of context: it failed at once before). A depth is
// lowered only when the server refused while this process's spending, plus what the
// headers showed others spent, stayed well under it. A refusal while another program
// is seen spending the bucket does not widen the margin either: its request landing
// first explains it as well as a late refill.
//
// What the headers say. Groq sends no per-minute request header, but every answer's
// `x-ratelimit-remaining-requests` (the day's count) and `-remaining-tokens` (the
// minute's) fall with every program's spending. What they fall by beyond this
// process's buckets is another program's: it is taken from the local buckets (those
// requests from the RPM bucket too), and gives an estimate of the other program's rate
// and of the size of one of its requests. While it is active (seen within 30 s), the
// client leaves one of its requests in the per-minute buckets (at most a quarter of the
// depth), so that its requests are not refused because this client took every token
// the moment it refilled. The rate's weight halves about every 21 s once it stops.
// With a `QuotaStore` that counts its members' spending (`redisstore` does), the other
// members' requests are not another program's; with a store that does not count,
// nothing is read as foreign.
//
// What it cannot see. A reading is a level: a bucket that refills to full between
// two readings hides what was spent before it did (the estimate is then low, and
// nothing needs leaving). A program whose every request is refused spends nothing and
// leaves no trace, so a program with requests much larger than what the bucket holds
// between this client's requests stays invisible. The first reading of a bucket is
// history, not a rate. Without `x-ratelimit-remaining-requests` (a server with no daily
// request limit), other programs' requests show only in 429s.
//
//	q := client.RateLimits("llama-3.1-8b-instant").Quotas[0]
//	fmt.Printf("others: %.0f requests and %.0f tokens a minute; left for them: %d requests, %d tokens\n",
//		q.Foreign.RequestsPerMinute, q.Foreign.TokensPerMinute, q.Foreign.Reserve.RPM, q.Foreign.Reserve.TPM)
//
// The client logs (Info) when another program starts and stops being seen, and the
// observer's `LearnedEvent` carries `Others` (the 429 was theirs) and `Foreign` (the
// estimate). `groqtest.WithOtherProgram` reproduces such a program (below).
//
// *Measured* (synctest, `go test -run 'OtherProgram' -v .`; deterministic): another
// program spends 30 % of a key's RPM (RPM 600, bucket 10 deep, RPD 14,400), 200 calls,
// 16 in flight: 2 to 5 429s (the first wave), 0 of its 84 requests refused, makespan
// 1.016–1.030 of what the rest of the key allows, its rate estimated at 178–184 a minute
// (180). Another program spends a third of a 12,000 TPM in requests of 80 tokens: no
// 429, 0 of its 25 requests refused, ratio 0.999, estimate 4,126 a minute (4,000). The
// side-by-side figures are in Performance.
//
// # What each signal proves
//
// The client's picture of a quota (limits, depths, margin, others' spending) is drawn
// from three kinds of evidence, trusted in this order (learn.go holds the reading):
//
//   - A 429's message is hard evidence: it names the limit, what was used and what was
//     asked ("on requests per minute (RPM): Limit 240, Used 240, Requested 1"). A limit
//     it names is learnt at once (above the table too), and the bucket is pulled down to
//     what it says is left.
//   - The client's own counts are exact for itself: what it reserved, sent, and was told
//     each request cost. A request admitted and not yet handed to the transport is in no
//     server's count: a 429 read meanwhile is read without it.
//   - A header is soft evidence: a snapshot taken at a moment the client does not know
//     relative to its own requests in flight (after the request was sent, before its
//     answer arrived). It may always pull a bucket down (that costs at most a little
//     pace), but it counts as others' spending only beyond what simpler explanations
//     allow: answers that crossed on the wire (an excess no larger than the bucket's
//     refill since the request was sent; a late wake-up of the client's own goroutines
//     only widens that), and a bucket shallower than assumed (the most a header has
//     shown a per-minute bucket to hold bounds what it holds; three readings that show
//     the server at that ceiling while the local bucket refilled past it make it the
//     learnt depth, as Groq-compatible servers with a second-deep token bucket need).
//
// The client's own late wake-ups are not evidence of anything. A goroutine that read
// the clock, was descheduled (a GC pause, a busy neighbour, a CPU quota) and settled
// its request late would give the buckets a time before their last event, and
// x/time/rate would count that refill twice: on a busy CPU the local bucket then
// admitted what the server refused, and the refusal was read as another program or a
// shallower bucket. The scheduler's clock is read under its lock and never runs back
// (scheduler.now), so the burst-10 scenario with two busy processes on the machine's
// two cores runs as on a quiet one (figures in the README).
//
// With nobody else on the key, the estimate of others' spending then stays under 2 %
// of each limit on a second-deep token bucket (TPM 10,000,000, remaining never above
// TPM/60) and with answers out of order (latency 10–50 ms): `go test -run
// 'NoOtherProgram|ReplayTraces' -v .` (synctest, and traces recorded on loopback by
// `go run ./internal/tracerec -o testdata/traces`).
//
// # Looking at it
//
// `client.RateLimits(model)` answers "how much room is left?" without a network call: per
// quota, the limits and bucket depths in force, requests and tokens used this minute
// and today, the pacing margin, the cooldown, the last headers; the queue by priority;
// the requests in flight; the learnt prompt ratio and completion reserve.
//
//	for _, q := range client.RateLimits("llama-3.1-8b-instant").Quotas {
//		fmt.Printf("%s: %d of %d requests this minute\n", q.Name, q.RequestsThisMinute, q.Limits.RPM)
//	}
//
// `client.Status()` is every model at once, for a person or a dashboard: each
// bucket's limit, source, depth and level, the queue by priority, the 429s and
// retries of the last five minutes, others' spending, the daily budget. It encodes
// to JSON; `groq serve` serves it at GET /status with each token's day, draws it live
// at / and `groq status URL` in a terminal.
//
// # Observability: events in the core
//
// `groq.WithObserver(groq.Observer{...})` gives the client's decisions to your code as
// they happen, with no dependency: every field of `Observer` is an optional function,
// called synchronously and cheaply on the call's goroutine.
//
//	| event | when | what it carries |
//	| `CallStart` | a call enters the client | model, priority, stream, URL, the request; may return a derived `context.Context` (a span) that every later event of the call, and the HTTP request, receive |
//	| `Queued` | a call or a retry joins its model's queue | model, priority, attempt |
//	| `Admitted` | it leaves the queue | queue wait, the quota (organization or `key#N`) and key index — never a key |
//	| `AttemptDone` | each HTTP attempt ends | status (0: no response), error, duration, request id |
//	| `RateLimited` | a 429, or the client's own refusal to wait (`Local`) | which limit (RPM, TPM…), the server's wait, the cooldown set |
//	| `Retry` | a retry is scheduled | reason (`rate_limited`, `server_wait`, `status`, `transport`), delay |
//	| `CallDone` | the call ends (a stream: when it ends) | error, duration, attempts, usage (prompt, completion, cached tokens), cache hit, de-duplicated, response model, id, finish reasons |
//	| `StreamFirst` | a stream's first chunk arrives | time to first chunk |
//	| `BudgetRefused` | the daily budget refuses a call | tokens asked, tokens left |
//	| `Learned` | a burst is learnt or a margin widened | quota, model, limit, burst or margin |
//
// `WithObserver` given more than once combines observers (contexts are chained). A panicking observer
// does not break a call: the panic is recovered and logged once per event kind. With no
// observer the client does nothing for them; with one that handles every event, a whole
// in-memory `Chat` costs the same within noise (`go test -run '^$' -bench Observer
// -count 5 .`: added −0.27, −0.07, +0.36, +0.87, −1.36 µs per call, median −0.07 µs, on
// calls of about 34 µs).
//
// # Cache, de-duplication, budget, tokens
//
// # Cache
//
//		client, err := groq.NewClient(groq.WithCacheFile(".groq_cache.json", 6*time.Hour))
//		// or groq.WithCache(groq.NewMemoryCache(time.Hour, 10_000)), or any groq.Cache
//		resp, _ := client.Chat(ctx, msgs)                     // network
//		resp, _ = client.Chat(ctx, msgs)                      // resp.Meta.FromCache == true
//		resp, _ = client.Chat(ctx, msgs, groq.WithoutCache()) // network again, not stored
//
//	  - No cache is the default. `groq.Cache` has `Get`, `Set`, `Delete` and `Close`; two
//	    implementations ship: `MemoryCache` and `FileCache` (`WithCacheFile(path, ttl)`;
//	    the command uses `.groq_cache.json` and 6h). `WithCacheMaxEntries(n)` bounds the
//	    entries (default 10,000), least recently used evicted first.
//	  - The key is the SHA-256 of a canonical form of everything that
//	    shapes the answer: model, messages, sampling, stop, tools, response format,
//	    reasoning. Never the API key, the stream flag, the service tier or the end user.
//	  - Only successful, complete responses are stored. A hit returns at once, without
//	    queueing, limiter or network, and is a copy the caller may change. A cached answer
//	    can be replayed as a stream, and a complete stream is stored as a response.
//	  - Entries are never returned after their TTL; timestamps live inside the file, and
//	    expired entries are dropped when it is loaded.
//	  - The file is a JSON snapshot written atomically (temporary file, fsync, rename),
//	    mode 0600, plus an append-only journal (`path.journal`): a `Set` appends one line,
//	    so its cost does not grow with the number of entries; the journal is folded into
//	    the snapshot when it passes twice the entries and on `Close`. Processes sharing a
//	    file take an advisory lock (`path.lock`) for every write, fold each other's lines in
//	    instead of overwriting them, and see each other's new entries on a miss.
//	  - A corrupt or truncated file is moved aside (`path.corrupt-<time>`), a warning is
//	    logged and the cache starts empty. A file that cannot be written (read-only
//	    directory, full disk) is logged as an error and the cache keeps working in memory:
//	    `Chat` never fails because of its cache.
//
// # In-flight de-duplication
//
// Identical calls that arrive while the first is in flight share its one network call
// (`golang.org/x/sync/singleflight`): 50 identical concurrent calls make one request.
// It is on whenever a cache is, and `WithInflightDedup()` turns it on without one.
// Followers get their own copy, with `Meta.Shared` set. If the caller whose call is
// running gives up, the others run their own.
//
// # Daily token budget
//
// `WithDailyTokenBudget(n)` is a soft cap on tokens per day across all keys. Each call
// reserves its estimate (prompt + requested or reserved completion) before it is sent
// and settles with its real usage; a call that would pass the cap fails before any
// network call with a `*groq.BudgetError` (`ErrBudgetExceeded`) carrying used,
// reserved, limit and reset time. The day starts at 00:00 UTC (`WithBudgetZone(loc)`).
// The state survives a restart with `WithBudgetFile(path)`, or beside the cache file
// (`path.budget`). `client.Budget()` reports used, reserved, remaining and the reset.
// Cache hits cost nothing.
//
// # Token estimation and context windows
//
// `client.CountTokens(model, msgs)` counts prompt tokens with the client's `Tokenizer`
// (`WithTokenizer`; `groq.TokenizerFunc(groq.EstimateTokens)` by default). The default is cheap and errs
// high: per message 4 tokens plus, for the text, the larger of bytes/3 and
// words + punctuation (runes of three or more bytes count two). Measured against real
// BPE vocabularies by `tokencheck/` (its own module, so the client does not depend on a
// tokenizer: `cd tokencheck && go test -v ./...`):
//
//	| text | cl100k_base: estimate / real | o200k_base: estimate / real |
//	| ordinary English (5 paragraphs, 382 tokens) | 1.66 (1.54–1.77) | 1.66 (1.54–1.77) |
//	| Go code (the client's 21 source files, 36,873 tokens) | 1.19 (1.05–1.44) | 1.20 (1.05–1.47) |
//	| Russian, Japanese, German, Spanish lines | 1.37 (1.08–1.94) | 1.86 (1.39–2.48) |
//
// Every sample is overestimated, never under. The overestimate only delays a request
// while tokens are short: its reservation is settled to the real usage as soon as the
// answer arrives. For exact counts, plug a real tokenizer.
//
// Before sending, a request whose estimated prompt plus requested completion exceeds
// the model's context window fails with a `*groq.ContextWindowError`
// (`ErrContextWindowExceeded`) naming both numbers; no network call.
//
// # Streaming
//
//		st, err := client.ChatStream(ctx, []groq.Message{groq.User("Tell me a story")})
//		if err != nil {
//			log.Fatal(err) // the same errors as Chat: nothing was received
//		}
//		defer st.Close()
//		for st.Next() {
//			for _, ch := range st.Current().Choices {
//				fmt.Print(ch.Delta.Content)
//			}
//		}
//		if err := st.Err(); err != nil {
//			var se *groq.StreamError // keeps se.Text, what arrived before the break
//			log.Fatal(err)
//		}
//		fmt.Println(st.Usage().TotalTokens, st.ToolCalls())
//
//	  - `for chunk, err := range st.All()` is the range-over form (it closes the stream).
//	  - `st.Text()`, `st.Reasoning()`, `st.ToolCalls()` (assembled from their deltas by
//	    index), `st.Usage()` (`x_groq.usage`, or the top-level `usage` with
//	    `stream_options.include_usage`), `st.FinishReason()`, and `st.Response()` (all of it
//	    as a `ChatResponse`) accumulate what has arrived.
//	  - A stream goes through the same priority queue, limiters and concurrency bound as
//	    `Chat`, holds its concurrency slot until it ends or is closed, and settles its token
//	    reservation with the final usage.
//	  - Retries (429, 5xx, connection errors, with the same Retry-After rules) happen only
//	    before the first event reaches you: `ChatStream` returns once it has arrived. After
//	    that, a broken stream, an `error` event or an `x_groq.error` ends it with a
//	    `*groq.StreamError` that keeps the text received; it is never silently replayed.
//	  - The SSE reader handles comments, blank lines, multi-line data, CRLF and lines of any
//	    length (no 64 KiB limit); it is fuzzed (`FuzzSSEReader`: never panics, never loses a
//	    complete event however the bytes are split).
//	  - `Close` (or cancelling the context) releases the connection, the slot and the
//	    reservation; no goroutine is left behind (tested under `testing/synctest`).
//
// # Many calls at once
//
//	results := client.ChatBatch(ctx, reqs, // []*groq.ChatRequest
//		groq.WithProgress(func(done, total int) { log.Printf("%d/%d", done, total) }),
//		groq.WithCallback(func(r *groq.ChatResponse, err error) { /* once per call */ }),
//	)
//	for _, r := range results { // input order
//		if r.Cancelled { ... } else if r.Err != nil { ... } else { use(r.Response) }
//	}
//
// All calls go through the scheduler (up to twice `WithMaxConcurrency` wait in its queue
// at once; it decides the order). Cancelling the context stops the calls not yet sent at
// once and the calls in flight promptly; their results say `Cancelled`.
// One rule for callbacks: `groq.WithCallback(f)` calls `f` exactly once for every call
// it is given to, when the call ends, whatever the outcome: `Chat` and `ChatCompletion`
// (before they return, a bad request or a closed client included), each call of a
// `ChatBatch`, and a stream when it ends (with the assembled response, the error that
// stopped it, or `ErrStreamClosed` when it was closed early). `WithProgress` reports a
// batch's progress and is an error on a single call.
//
// # Models
//
// `client.Models(ctx)` lists the models the API serves (`GET /models`: id, owner,
// active, context window), and `client.Model(ctx, id)` describes one. A name the server
// does not know gives a `*groq.ModelNotFoundError` (`errors.Is(err, groq.ErrModelNotFound)`)
// that names the closest models it serves ("did you mean "llama-3.1-8b-instant"?").
// Looking a model up also gives the client its context window when it had none (a model
// missing from the built-in table), so that later calls are checked before any network
// call. Both are retried like chat calls (5xx, 429 and 498, obeying the server's wait)
// and use no chat rate limit. `go run ./cmd/groq models` prints the list.
//
// # Audio
//
// `Transcribe`, `Translate` and `Speech` (audio.go) are calls like a chat call: the
// same call value (call.go), queue, quotas, retries, observer events and errors. Only
// the endpoint, the body and the cost differ. A transcription's body is multipart,
// written once with the file copied into it (sized ahead from the reader's `Len` or
// `Stat`), so that every attempt sends it whole; `timestamp_granularities[]` goes once
// per value. Its cost is in seconds of audio: the duration that internal/audio reads
// from a WAV (the data chunk over the byte rate), FLAC (STREAMINFO's samples over its
// rate) or MP3 header (a Xing, Info or VBRI frame count, else the first frame's bit
// rate), at least 10 s, as Groq bills; for another format, the size at 128 kbit/s; for
// a URL, 10 s. The model's ASH and ASD buckets (an hour's and a day's worth) take it,
// and a `verbose_json` answer's duration settles it. Token headers on an audio answer
// are ignored (the model counts seconds). A speech costs its input's estimated tokens
// against TPM and TPD. A 429 naming ASH or ASD is read like one naming TPM: its limit
// is learnt, its "Requested" is what the retry reserves, its wait cools the quota.
//
// # Every field passes through
//
// Types that Groq's answers and requests grow keep what they do not declare in an
// `Extra` map (types.go): `ChatRequest`, `ChatResponse`, `Choice` and `Message`. A
// decode costs one key scan per object beside the usual decoding (the map is built
// only when a key is unknown); an encode appends the extra fields after the declared
// ones, in name order. `SetExtra` sets one by hand; the cache key includes them.
package groq
