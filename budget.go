package groq

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/groqkit/groq/internal/atomicfile"
)

// This file is the budget stage of a call: the daily token budget a call's
// tokens are held against, and the local estimate of those tokens (Tokenizer,
// EstimateTokens), which the call's plan corrects by what the server counted
// before (costModel, learn.go) and checks against the model's context window.

// BudgetStatus is the daily token budget's state.
type BudgetStatus struct {
	Limit     int64     // the daily cap; 0 when no budget is set
	Used      int64     // tokens settled today (real usage)
	Reserved  int64     // tokens held by calls in flight (estimates)
	Remaining int64     // Limit - Used - Reserved, never negative
	ResetAt   time.Time // the next midnight in the budget's zone
}

// budget is a soft cap on tokens per day across all keys. Each call reserves its
// estimate before it is sent and settles with its real usage afterwards. The day
// starts at midnight in loc. With a path, the state survives a restart.
type budget struct {
	mu       sync.Mutex
	limit    int64
	loc      *time.Location
	day      string
	used     int64
	reserved int64
	path     string
	log      *slog.Logger
	dirty    bool
	store    BudgetStore // shared between processes; nil: this process alone
	health   storeHealth // the store failed last: holds are taken here
	// With a file: what this process spent since it last wrote, which it adds to
	// what the file holds (other processes write it too), under lock, an
	// advisory lock on path + ".lock".
	unsaved int64
	lock    *os.File
}

// BudgetStore shares a daily token budget (WithDailyTokenBudget) between
// processes: every process that uses it spends one budget. The client calls it
// from many goroutines. Days are named "2006-01-02" in the budget's zone. When the
// store fails, the client holds the budget in its own process (logged once at
// Warn) until the store answers again; the redisstore module has one on Redis.
type BudgetStore interface {
	// Reserve holds n tokens of day's budget of limit tokens, atomically, when
	// used + reserved + n ≤ limit; it returns the day's used and reserved tokens
	// (after the hold when ok).
	Reserve(ctx context.Context, day string, n, limit int64) (used, reserved int64, ok bool, err error)
	// Settle releases a hold of reserved tokens taken on day and charges used.
	Settle(ctx context.Context, day string, reserved, used int64) error
	// Status is day's used and reserved tokens.
	Status(ctx context.Context, day string) (used, reserved int64, err error)
}

// WithBudgetStore shares the daily token budget through s (see BudgetStore). It
// needs WithDailyTokenBudget, which sets the limit.
func WithBudgetStore(s BudgetStore) Option {
	return func(c *settings) error {
		if s == nil {
			return optErr("WithBudgetStore", "nil store")
		}
		c.budgetStore = s
		return nil
	}
}

func (b *budget) setStore(s BudgetStore) {
	b.store = s
	b.health = storeHealth{log: b.log,
		downMsg: "groq: the budget store does not answer; holding the budget in this process until it does",
		upMsg:   "groq: the budget store answers again; the budget is shared again"}
}

type budgetFile struct {
	Day  string `json:"day"`
	Zone string `json:"zone"`
	Used int64  `json:"used"`
}

func newBudget(limit int64, loc *time.Location, path string, log *slog.Logger) *budget {
	b := &budget{limit: limit, loc: loc, path: path, log: log}
	b.day = b.dayOf(time.Now())
	if path != "" {
		if f, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o600); err == nil {
			b.lock = f
		} else {
			b.log.Warn("groq: cannot open the budget file's lock; processes sharing it may lose each other's spending", "path", path, "error", err)
		}
		b.withLock(func() {
			if b.lock != nil { // every writer holds the lock: a temporary file now is a dead writer's
				atomicfile.RemoveDeadTemps(path)
			}
			b.load()
		})
	}
	return b
}

// withLock runs f holding the budget file's lock (when it could be opened).
func (b *budget) withLock(f func()) {
	if b.lock != nil {
		if err := lockFile(b.lock); err == nil {
			defer unlockFile(b.lock)
		}
	}
	f()
}

func (b *budget) dayOf(t time.Time) string { return t.In(b.loc).Format(time.DateOnly) }

func (b *budget) resetAt(now time.Time) time.Time {
	t := now.In(b.loc)
	return time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, b.loc)
}

// rollover starts a new day when now is past midnight. b.mu is held.
func (b *budget) rollover(now time.Time) {
	if d := b.dayOf(now); d != b.day {
		b.day, b.used, b.unsaved, b.dirty = d, 0, 0, true
	}
}

// budgetHold is a call's reservation: n tokens, held in the BudgetStore (inStore)
// or in this process.
type budgetHold struct {
	n       int64
	inStore bool
	day     string // the store's day the hold was taken in
}

// reserve holds n tokens for a call, or refuses it. With a BudgetStore the hold is
// taken there; when the store does not answer, here (logged once).
func (b *budget) reserve(now time.Time, n int64) (budgetHold, error) {
	h := budgetHold{n: n}
	if b == nil {
		return h, nil
	}
	if b.store != nil {
		day := b.dayOf(now)
		used, reserved, ok, err := b.store.Reserve(context.Background(), day, n, b.limit)
		if err == nil {
			b.health.answered()
			if !ok {
				return h, &BudgetError{Used: used, Reserved: reserved, Requested: n, Limit: b.limit, ResetAt: b.resetAt(now)}
			}
			h.inStore, h.day = true, day
			return h, nil
		}
		b.health.failed("Reserve", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rollover(now)
	if b.used+b.reserved+n > b.limit {
		return h, &BudgetError{Used: b.used, Reserved: b.reserved, Requested: n, Limit: b.limit, ResetAt: b.resetAt(now)}
	}
	b.reserved += n
	return h, nil
}

// settle releases a reservation and charges what the call really used.
func (b *budget) settle(now time.Time, h budgetHold, used int64) {
	if b == nil {
		return
	}
	if h.inStore {
		if err := b.store.Settle(context.Background(), h.day, h.n, used); err != nil {
			b.health.failed("Settle", err)
		}
		return
	}
	reserved := h.n
	b.mu.Lock()
	defer b.mu.Unlock()
	b.reserved = max(0, b.reserved-reserved)
	b.rollover(now)
	if used > 0 {
		b.used += used
		b.unsaved += used
		b.dirty = true
	}
	if b.dirty {
		b.saveLocked(false)
	}
}

func (b *budget) status(now time.Time) BudgetStatus {
	if b == nil {
		return BudgetStatus{}
	}
	if b.store != nil {
		if used, reserved, err := b.store.Status(context.Background(), b.dayOf(now)); err == nil {
			return BudgetStatus{Limit: b.limit, Used: used, Reserved: reserved, Remaining: max(0, b.limit-used-reserved), ResetAt: b.resetAt(now)}
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rollover(now)
	return BudgetStatus{Limit: b.limit, Used: b.used, Reserved: b.reserved,
		Remaining: max(0, b.limit-b.used-b.reserved), ResetAt: b.resetAt(now)}
}

// load reads what the file says was spent today (every process's), plus what
// this process has not written yet. The file lock is held.
func (b *budget) load() {
	if used, ok := b.readFile(); ok {
		b.used = used + b.unsaved
	}
}

// readFile is today's spending by the file (0 for another day's file); ok is
// false when it cannot be read. The file lock is held.
func (b *budget) readFile() (used int64, ok bool) {
	data, err := os.ReadFile(b.path)
	if err != nil {
		if !os.IsNotExist(err) {
			b.log.Warn("groq: cannot read the budget file", "path", b.path, "error", err)
			return 0, false
		}
		return 0, true
	}
	var f budgetFile
	if err := json.Unmarshal(data, &f); err != nil {
		b.log.Warn("groq: the budget file is not valid; counting from zero", "path", b.path, "error", err)
		return 0, true
	}
	if f.Day != b.day || f.Used < 0 {
		return 0, true
	}
	return f.Used, true
}

// saveLocked adds what this process spent since it last wrote to what the file
// holds (so that processes sharing the file count each other's spending), writes
// it atomically (sync also fsyncs it) and takes the total as the day's. b.mu is
// held. A failure is logged: the budget keeps working in memory, and what was not
// written is added next time.
func (b *budget) saveLocked(sync bool) {
	if b.path == "" {
		return
	}
	b.withLock(func() {
		base, ok := b.readFile()
		if !ok {
			return
		}
		total := base + b.unsaved
		data, _ := json.Marshal(budgetFile{Day: b.day, Zone: b.loc.String(), Used: total})
		if err := atomicfile.Write(b.path, data, sync); err != nil {
			b.log.Error("groq: cannot save the budget file", "path", b.path, "error", err)
			return
		}
		b.used, b.unsaved, b.dirty = total, 0, false
	})
}

// close flushes the state to disk.
func (b *budget) close() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.saveLocked(true)
	if b.lock != nil {
		b.lock.Close()
		b.lock = nil
	}
}

// The local token estimate: what the client counts before it sends.

// Tokenizer counts the prompt tokens of messages for a model. The client reserves
// tokens against the rate limits and checks the context window with it before a
// request is sent, so a count should err on the high side. Implementations must be
// safe for concurrent use.
type Tokenizer interface {
	CountTokens(model string, msgs []Message) int
}

// TokenizerFunc adapts a function to the Tokenizer interface.
type TokenizerFunc func(model string, msgs []Message) int

// CountTokens calls f.
func (f TokenizerFunc) CountTokens(model string, msgs []Message) int { return f(model, msgs) }

// EstimateTokens is the default token count (TokenizerFunc(EstimateTokens) is the
// default Tokenizer): a cheap estimate that overestimates on ordinary text and
// code (the package documentation's "Token estimation" says how far off it is
// against real BPE vocabularies). It counts per message a fixed overhead plus,
// for the text, the larger of bytes/3 and words plus punctuation, so that dense
// code and non-Latin scripts are not underestimated. It is safe for concurrent
// use.
func EstimateTokens(model string, msgs []Message) int { return estimateMessages(model, msgs) }

const (
	tokensPerMessage = 4 // role and separators
	tokensPerReply   = 3 // the assistant's reply priming
	imageTokens      = 1024
)

// estimateText bounds the tokens of s from above for ordinary BPE vocabularies.
func estimateText(s string) int {
	if s == "" {
		return 0
	}
	byBytes := (len(s) + 2) / 3
	// Words, punctuation and symbols each tend to be at least one token.
	pieces, inWord := 0, false
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			// Two-byte runes (Latin accents, Cyrillic, Greek) merge into words;
			// three- and four-byte runes (CJK, emoji) often take two tokens each.
			_, size := utf8.DecodeRuneInString(s[i:])
			if size >= 3 {
				pieces += 2
				inWord = false
			} else if !inWord {
				pieces++
				inWord = true
			}
			i += size
			continue
		}
		switch {
		case c == ' ' || c == '\n' || c == '\t' || c == '\r':
			inWord = false
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_':
			if !inWord {
				pieces++
				inWord = true
			}
		default: // punctuation and symbols
			pieces++
			inWord = false
		}
		i++
	}
	return max(byBytes, pieces)
}

func estimateMessages(_ string, msgs []Message) int {
	n := tokensPerReply
	for i := range msgs {
		m := &msgs[i]
		n += tokensPerMessage + estimateText(m.Content) + estimateText(m.Reasoning)
		for _, p := range m.Parts {
			n += estimateText(p.Text)
			if p.ImageURL != nil {
				n += imageTokens // Groq publishes no image cost; reserve generously
			}
		}
		for _, tc := range m.ToolCalls {
			n += tokensPerMessage + estimateText(tc.Function.Name) + estimateText(tc.Function.Arguments)
		}
	}
	return n
}

// estimateTools estimates the prompt tokens that tool definitions add.
func estimateTools(tools []Tool) int {
	n := 0
	for _, t := range tools {
		n += tokensPerMessage + estimateText(t.Function.Name) + estimateText(t.Function.Description) +
			estimateText(string(t.Function.Parameters))
	}
	return n
}
