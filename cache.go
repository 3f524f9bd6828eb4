package groq

import (
	"bytes"
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"
)

// This file is the cache stage of a call: an identical request is sent once.
// Within its TTL it is answered from the Cache (MemoryCache here; the JSON file,
// cachefile.go); while one is in flight, the identical calls that arrive wait
// for its answer (flights, at the end of this file).

// Cache stores complete chat responses by request key (an opaque string: the hex
// SHA-256 of where the request goes and the fields that shape its answer). The client asks
// it before queueing a call and stores every successful, complete response.
// Implementations must be safe for concurrent use, must hand out responses that
// the caller may modify (copies), and must never return an entry past its TTL.
// Errors from Set and Delete are logged by the client; a call never fails because
// of its cache.
type Cache interface {
	Get(ctx context.Context, key string) (*ChatResponse, bool)
	Set(ctx context.Context, key string, resp *ChatResponse) error
	Delete(ctx context.Context, key string) error
	// Close flushes what the cache holds and releases it.
	Close() error
}

// Default cache settings (the command's and WithCacheFile's).
const (
	DefaultCacheTTL        = 6 * time.Hour
	DefaultCacheMaxEntries = 10_000
)

// keyOf is the cache key of a request sent to chatURL (the client's base URL
// plus "/chat/completions", or the model's own URL from a config file): the hex
// SHA-256 of a canonical form of where the request goes and the fields that shape
// the answer (model, messages, sampling, tools, response format, reasoning), never
// an API key, the stream flag, the service tier or the end-user id. The URL is in
// it so that answers from one server (a simulator, a proxy) are never served as
// another's. max_tokens and max_completion_tokens count as one; raw JSON schemas
// are compacted, so white space in them does not change the key.
func keyOf(chatURL string, r *ChatRequest) string {
	var k cacheKey
	k.compute(chatURL, "", r)
	return string(k[:])
}

// cacheKey is keyOf's text without the string allocation, for lookups.
type cacheKey [2 * sha256.Size]byte

func (k *cacheKey) compute(chatURL, scope string, r *ChatRequest) {
	bp := keyBufs.Get().(*[]byte)
	b := appendKey((*bp)[:0], chatURL, r)
	if scope != "" { // WithCacheScope: after the request, so that keys without one stay as they were
		b = keyBuf{b: b}.scoped(scope)
	}
	sum := sha256.Sum256(b)
	*bp = b
	keyBufs.Put(bp)
	hex.Encode(k[:], sum[:])
}

// scoped appends a WithCacheScope's scope to a key's form.
func (k keyBuf) scoped(scope string) []byte {
	k.str('S', scope)
	return k.b
}

var keyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// appendKey writes the canonical form: every field tagged and length-prefixed, so
// that no two requests share a form.
func appendKey(b []byte, chatURL string, r *ChatRequest) []byte {
	k := keyBuf{b: append(b, "groq-cache-v2;"...)}
	k.str('U', chatURL)
	k.str('M', r.Model)
	for _, m := range r.Models[min(1, len(r.Models)):] { // a list: its first is Model
		k.str('L', m)
	}
	for i := range r.Messages {
		m := &r.Messages[i]
		k.str('r', m.Role)
		k.str('c', m.Content)
		if m.Parts != nil {
			k.js('p', m.Parts)
		}
		if m.Reasoning != "" {
			k.str('R', m.Reasoning)
		}
		if len(m.ToolCalls) > 0 {
			k.js('t', m.ToolCalls)
		}
		if m.ToolCallID != "" {
			k.str('i', m.ToolCallID)
		}
	}
	k.num('T', r.Temperature)
	k.num('P', r.TopP)
	if r.Seed != nil {
		k.int('S', *r.Seed)
	}
	if n := r.completionLimit(); n != 0 {
		k.int('X', int64(n))
	}
	for _, s := range r.Stop {
		k.str('s', s)
	}
	for _, t := range r.Tools {
		t.Function.Parameters = compactJSON(t.Function.Parameters)
		k.js('o', t)
	}
	if r.ToolChoice != nil {
		k.js('C', r.ToolChoice)
	}
	if r.ParallelToolCalls != nil {
		k.js('L', *r.ParallelToolCalls)
	}
	if rf := r.ResponseFormat; rf != nil {
		if rf.JSONSchema != nil {
			cp, js2 := *rf, *rf.JSONSchema
			js2.Schema = compactJSON(js2.Schema)
			cp.JSONSchema = &js2
			rf = &cp
		}
		k.js('F', rf)
	}
	k.str('e', r.ReasoningEffort)
	k.str('f', r.ReasoningFormat)
	if r.IncludeReasoning != nil {
		k.js('I', *r.IncludeReasoning)
	}
	k.groq(r)
	return k.b
}

// groq appends Groq's own fields, and the fields the type does not declare (a
// field newer than the client may shape the answer too), in name order.
func (k *keyBuf) groq(r *ChatRequest) {
	if r.Documents != nil {
		k.js('D', r.Documents)
	}
	if r.CitationOptions != "" {
		k.str('O', r.CitationOptions)
	}
	if r.SearchSettings != nil {
		k.js('W', r.SearchSettings)
	}
	if r.CompoundCustom != nil {
		k.js('Q', r.CompoundCustom)
	}
	if r.DisableToolValidation != nil {
		k.js('V', *r.DisableToolValidation)
	}
	if len(r.Extra) > 0 {
		names := make([]string, 0, len(r.Extra))
		for name := range r.Extra {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			k.str('x', name)
			k.str('y', string(compactJSON(r.Extra[name])))
		}
	}
}

// keyBuf is a cache key's canonical form being written: each value tagged, and
// strings length-prefixed, so that no two requests write the same bytes.
type keyBuf struct{ b []byte }

func (k *keyBuf) str(tag byte, s string) {
	k.b = append(k.b, tag)
	k.b = strconv.AppendInt(k.b, int64(len(s)), 10)
	k.b = append(k.b, ':')
	k.b = append(k.b, s...)
}

func (k *keyBuf) num(tag byte, f *float64) {
	if f != nil {
		k.b = append(k.b, tag)
		k.b = strconv.AppendFloat(k.b, *f, 'g', -1, 64)
		k.b = append(k.b, ';')
	}
}

func (k *keyBuf) int(tag byte, n int64) {
	k.b = append(k.b, tag)
	k.b = strconv.AppendInt(k.b, n, 10)
	k.b = append(k.b, ';')
}

func (k *keyBuf) js(tag byte, v any) {
	data, _ := json.Marshal(v)
	k.str(tag, string(data))
}

func compactJSON(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return raw
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return raw
	}
	return b.Bytes()
}

// cloneResponse deep-copies a response so that a cached entry and what a caller
// holds never share memory.
func cloneResponse(r *ChatResponse) *ChatResponse {
	c := *r
	if r.Choices != nil {
		c.Choices = make([]Choice, len(r.Choices))
		for i, ch := range r.Choices {
			ch.Message = cloneMessage(ch.Message)
			ch.Logprobs = cloneRaw(ch.Logprobs)
			ch.Extra = cloneExtra(ch.Extra)
			c.Choices[i] = ch
		}
	}
	if r.Usage != nil {
		u := cloneUsage(r.Usage)
		c.Usage = u
	}
	if r.UsageBreakdown != nil {
		b := UsageBreakdown{Models: make([]ModelUsage, len(r.UsageBreakdown.Models))}
		for i, m := range r.UsageBreakdown.Models {
			m.Usage = *cloneUsage(&m.Usage)
			b.Models[i] = m
		}
		c.UsageBreakdown = &b
	}
	c.Extra = cloneExtra(r.Extra)
	if r.XGroq != nil {
		x := *r.XGroq
		if x.Usage != nil {
			x.Usage = cloneUsage(x.Usage)
		}
		if x.Error != nil {
			e := *x.Error
			x.Error = &e
		}
		c.XGroq = &x
	}
	return &c
}

func cloneUsage(u *Usage) *Usage {
	c := *u
	if u.PromptTokensDetails != nil {
		d := *u.PromptTokensDetails
		c.PromptTokensDetails = &d
	}
	if u.CompletionTokensDetails != nil {
		d := *u.CompletionTokensDetails
		c.CompletionTokensDetails = &d
	}
	return &c
}

func cloneMessage(m Message) Message {
	if m.Parts != nil {
		parts := make([]ContentPart, len(m.Parts))
		for i, p := range m.Parts {
			if p.ImageURL != nil {
				u := *p.ImageURL
				p.ImageURL = &u
			}
			parts[i] = p
		}
		m.Parts = parts
	}
	if m.ToolCalls != nil {
		m.ToolCalls = append([]ToolCall(nil), m.ToolCalls...)
	}
	if m.ExecutedTools != nil {
		ts := make([]ExecutedTool, len(m.ExecutedTools))
		for i, t := range m.ExecutedTools {
			t.SearchResults, t.CodeResults, t.BrowserResults = cloneRaw(t.SearchResults), cloneRaw(t.CodeResults), cloneRaw(t.BrowserResults)
			ts[i] = t
		}
		m.ExecutedTools = ts
	}
	if m.Annotations != nil {
		as := make([]Annotation, len(m.Annotations))
		for i, a := range m.Annotations {
			a.DocumentCitation, a.FunctionCitation = cloneRaw(a.DocumentCitation), cloneRaw(a.FunctionCitation)
			as[i] = a
		}
		m.Annotations = as
	}
	m.Extra = cloneExtra(m.Extra)
	return m
}

func cloneExtra(e map[string]json.RawMessage) map[string]json.RawMessage {
	if e == nil {
		return nil
	}
	out := make(map[string]json.RawMessage, len(e))
	for k, v := range e {
		out[k] = cloneRaw(v)
	}
	return out
}

func cloneRaw(r json.RawMessage) json.RawMessage {
	if r == nil {
		return nil
	}
	return append(json.RawMessage(nil), r...)
}

// lruEntry is one cached response with its expiry.
type lruEntry struct {
	key     string
	resp    *ChatResponse // nil until decoded from raw (file cache)
	raw     []byte        // the response's JSON (file cache)
	created time.Time
	expires time.Time
}

// lru is a size-bounded map with least-recently-used eviction. Not safe for
// concurrent use.
type lru struct {
	max   int
	ll    *list.List // front: most recently used
	items map[string]*list.Element
}

func newLRU(max int) *lru {
	return &lru{max: max, ll: list.New(), items: map[string]*list.Element{}}
}

func (l *lru) get(key string, now time.Time) (*lruEntry, bool) {
	return l.found(l.items[key], now)
}

// getKey is get for a key still in bytes (the lookup does not allocate).
func (l *lru) getKey(key []byte, now time.Time) (*lruEntry, bool) {
	return l.found(l.items[string(key)], now)
}

func (l *lru) found(el *list.Element, now time.Time) (*lruEntry, bool) {
	if el == nil {
		return nil, false
	}
	e := el.Value.(*lruEntry)
	if !now.Before(e.expires) {
		l.ll.Remove(el)
		delete(l.items, e.key)
		return nil, false
	}
	l.ll.MoveToFront(el)
	return e, true
}

// put stores e and returns the keys it evicted.
func (l *lru) put(e *lruEntry) (evicted []string) {
	if el, ok := l.items[e.key]; ok {
		el.Value = e
		l.ll.MoveToFront(el)
		return nil
	}
	l.items[e.key] = l.ll.PushFront(e)
	for l.max > 0 && l.ll.Len() > l.max {
		last := l.ll.Back()
		old := last.Value.(*lruEntry)
		l.ll.Remove(last)
		delete(l.items, old.key)
		evicted = append(evicted, old.key)
	}
	return evicted
}

func (l *lru) remove(key string) bool {
	el, ok := l.items[key]
	if ok {
		l.ll.Remove(el)
		delete(l.items, key)
	}
	return ok
}

func (l *lru) len() int { return l.ll.Len() }

// MemoryCache is an in-process Cache with a TTL and a bound on entries (least
// recently used evicted first). It is safe for concurrent use.
type MemoryCache struct {
	mu  sync.Mutex
	ttl time.Duration
	lru *lru
}

// NewMemoryCache returns an in-memory cache whose entries live for ttl (0:
// DefaultCacheTTL), holding at most maxEntries (0: unbounded). A negative ttl or
// maxEntries is a programming error: it panics with a message naming it, as
// time.NewTicker does, so that the one-line WithCache(NewMemoryCache(...)) form
// stays possible.
func NewMemoryCache(ttl time.Duration, maxEntries int) *MemoryCache {
	if ttl < 0 {
		panic(fmt.Sprintf("groq: NewMemoryCache: negative TTL %v", ttl))
	}
	if maxEntries < 0 {
		panic(fmt.Sprintf("groq: NewMemoryCache: negative maxEntries %d", maxEntries))
	}
	if ttl == 0 {
		ttl = DefaultCacheTTL
	}
	return &MemoryCache{ttl: ttl, lru: newLRU(maxEntries)}
}

// Get returns a copy of the entry for key, if present and not expired.
func (m *MemoryCache) Get(_ context.Context, key string) (*ChatResponse, bool) {
	m.mu.Lock()
	e, ok := m.lru.get(key, time.Now())
	m.mu.Unlock()
	if !ok {
		return nil, false
	}
	return cloneResponse(e.resp), true
}

// getKey is Get for the client's own lookups, with the key still in bytes.
func (m *MemoryCache) getKey(key []byte) (*ChatResponse, bool) {
	m.mu.Lock()
	e, ok := m.lru.getKey(key, time.Now())
	m.mu.Unlock()
	if !ok {
		return nil, false
	}
	return cloneResponse(e.resp), true
}

// Set stores a copy of resp under key for the cache's TTL.
func (m *MemoryCache) Set(_ context.Context, key string, resp *ChatResponse) error {
	if resp == nil {
		return errors.New("groq: MemoryCache.Set: nil response")
	}
	now := time.Now()
	e := &lruEntry{key: key, resp: cloneResponse(resp), created: now, expires: now.Add(m.ttl)}
	m.mu.Lock()
	m.lru.put(e)
	m.mu.Unlock()
	return nil
}

// Delete removes key.
func (m *MemoryCache) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	m.lru.remove(key)
	m.mu.Unlock()
	return nil
}

// Len is the number of entries, expired ones not yet dropped included.
func (m *MemoryCache) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lru.len()
}

// Close does nothing; it is there to satisfy Cache.
func (m *MemoryCache) Close() error { return nil }

// In-flight de-duplication.

// flights de-duplicates identical calls in flight: the first call with a key runs,
// and the calls that arrive with the same key while it runs wait for its answer
// (each until its own context ends). A response is shared as a copy.
type flights struct {
	mu sync.Mutex
	m  map[string]*flight
}

// flight is one running call that others may wait for.
type flight struct {
	done   chan struct{} // closed when resp and err are set
	resp   *ChatResponse // the waiters' copy, read-only
	err    error
	joined int // waiters, under flights.mu
}

// join returns the flight for key, and whether the caller leads it (runs the call
// and must land it).
func (fs *flights) join(key string) (*flight, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if f, ok := fs.m[key]; ok {
		f.joined++
		return f, false
	}
	if fs.m == nil {
		fs.m = map[string]*flight{}
	}
	f := &flight{done: make(chan struct{})}
	fs.m[key] = f
	return f, true
}

// land gives the flight's answer to everyone waiting and forgets the key. The
// waiters get a copy of resp, so that the leader's caller may keep and change
// resp itself.
func (fs *flights) land(key string, f *flight, resp *ChatResponse, err error) {
	fs.mu.Lock()
	delete(fs.m, key)
	joined := f.joined
	fs.mu.Unlock()
	if resp != nil && joined > 0 {
		meta := resp.Meta
		resp = cloneResponse(resp)
		resp.Meta = meta
	}
	f.resp, f.err = resp, err
	close(f.done)
}

// errLeaderPanicked is what calls waiting on an identical call get when it
// panicked.
var errLeaderPanicked = errors.New("groq: the identical call this one waited for panicked")

// run runs k once for every identical call in flight at the same time (k's key).
// The leader's end stores the answer in the cache, then lands the flight, so that
// a call arriving later finds one or the other. A waiter whose context has not
// ended, given the leader's context error, runs the call itself.
func (fs *flights) run(k *call) (*ChatResponse, error) {
	f, leads := fs.join(k.key)
	if leads {
		k.landing = func(resp *ChatResponse, err error) { fs.land(k.key, f, resp, err) }
		defer func() { // a panic must not leave the waiters waiting
			if k.landing != nil {
				k.landing(nil, errLeaderPanicked)
			}
		}()
		return k.do()
	}
	select {
	case <-f.done:
	case <-k.ctx.Done():
		err := k.c.ctxError(k.ctx, k.model, nil)
		k.end(nil, err)
		return nil, err
	}
	if f.err != nil {
		if errors.Is(f.err, context.Canceled) || errors.Is(f.err, context.DeadlineExceeded) {
			return k.do()
		}
		k.end(nil, f.err)
		return nil, f.err
	}
	resp := cloneResponse(f.resp)
	resp.Meta = f.resp.Meta
	resp.Meta.Shared = true
	k.end(resp, nil)
	return resp, nil
}
