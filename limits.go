package groq

import (
	"time"

	"github.com/groqkit/groq/internal/limits"
)

// Limits are one model's rate limits for one quota (an organization, or a key that
// stands alone). A zero field means unlimited or unknown: the client then learns
// what it can from Groq's x-ratelimit-* headers and 429 messages.
type Limits struct {
	RPM           int // requests per minute
	RPD           int // requests per day
	TPM           int // tokens per minute
	TPD           int // tokens per day
	ContextWindow int // prompt plus completion tokens the model accepts
	// ASH and ASD are the seconds of audio per hour and per day of a
	// speech-to-text model. No header reports them: the client learns them from
	// 429 messages. A transcription costs its audio's duration, at least
	// MinAudioSeconds.
	ASH, ASD int
}

// DefaultRPM is the per-minute request limit applied to a model with no RPM of its
// own (WithRPM changes it).
const DefaultRPM = 30

// DefaultModel is the model a request without one uses (WithDefaultModel changes it).
const DefaultModel = "llama-3.1-8b-instant"

// builtinLimits is Groq's published table, the free plan's (internal/limits, which
// groqtest shares): a floor the client starts from, which Groq's headers and 429s
// correct (learn.go). Limits change over time: these are defaults, not truths.
var builtinLimits = func() map[string]Limits {
	out := map[string]Limits{}
	for name, m := range limits.Published() {
		out[name] = Limits{RPM: m.RPM, RPD: m.RPD, TPM: m.TPM, TPD: m.TPD, ContextWindow: m.ContextWindow, ASH: m.ASH, ASD: m.ASD}
	}
	return out
}()

// BuiltinLimits returns a copy of the client's built-in table of Groq's published
// limits, by model.
func BuiltinLimits() map[string]Limits {
	out := make(map[string]Limits, len(builtinLimits))
	for k, v := range builtinLimits {
		out[k] = v
	}
	return out
}

func (l Limits) validate() string {
	switch {
	case l.RPM < 0:
		return "RPM is negative"
	case l.RPD < 0:
		return "RPD is negative"
	case l.TPM < 0:
		return "TPM is negative"
	case l.TPD < 0:
		return "TPD is negative"
	case l.ContextWindow < 0:
		return "ContextWindow is negative"
	case l.ASH < 0:
		return "ASH is negative"
	case l.ASD < 0:
		return "ASD is negative"
	}
	return ""
}

// LimitSource says where a limit in force came from (QuotaSnapshot.Sources).
type LimitSource string

// The sources of a limit, from the strongest evidence to none.
const (
	// SourceConfigured: WithModelLimits, WithRPM or the config file. The user's
	// figure is a ceiling: Groq's headers and 429s may lower it, never raise it.
	SourceConfigured LimitSource = "configured"
	// SourceRateLimit: a 429's message named the limit ("requests per minute
	// (RPM): Limit 240").
	SourceRateLimit LimitSource = "429"
	// SourceHeaders: Groq's x-ratelimit-* headers (the RPD and the TPM only).
	SourceHeaders LimitSource = "headers"
	// SourceTable: the built-in table (Groq's free plan) or DefaultRPM. A floor
	// to start from, not a ceiling: when the organization's headers show a limit
	// above the table, the table's other figures are dropped for that quota.
	SourceTable LimitSource = "table"
	// SourceNone: no limit is known and none is in force.
	SourceNone LimitSource = ""
)

// LimitSources says where each limit of a Limits came from.
type LimitSources struct {
	RPM, RPD, TPM, TPD, ASH, ASD LimitSource
}

// limitSpec is a model's configured limits and which of them are only the
// built-in table's guess (or DefaultRPM's) rather than the user's.
type limitSpec struct {
	Limits
	table [numKinds]bool
}

// tokenEpsilon absorbs float rounding when a limiter's tokens are compared with a
// whole request.
const tokenEpsilon = 1e-6

// limitKind names one of a model's limits: requests and tokens per minute and per
// day, and audio seconds per hour and per day.
type limitKind int

const (
	kindRPM limitKind = iota
	kindRPD
	kindTPM
	kindTPD
	kindASH // audio seconds per hour
	kindASD // audio seconds per day
	numKinds
)

var kindNames = [numKinds]string{"RPM", "RPD", "TPM", "TPD", "ASH", "ASD"}

func (k limitKind) String() string { return kindNames[k] }

// period is how long the limit's bucket takes to refill from empty.
func (k limitKind) period() time.Duration {
	switch k {
	case kindRPM, kindTPM:
		return time.Minute
	case kindASH:
		return time.Hour
	}
	return 24 * time.Hour
}

// cost is what a request of tokens takes from this limit's bucket. A request's
// tokens are in its model's unit: tokens for a chat model, seconds of audio for a
// transcription model (whose limits are RPM, RPD, ASH and ASD).
func (k limitKind) cost(tokens int) int {
	if k == kindRPM || k == kindRPD {
		return 1
	}
	return tokens
}

func (l Limits) of(k limitKind) int {
	return [numKinds]int{l.RPM, l.RPD, l.TPM, l.TPD, l.ASH, l.ASD}[k]
}

func (l *Limits) set(k limitKind, n int) {
	*[numKinds]*int{&l.RPM, &l.RPD, &l.TPM, &l.TPD, &l.ASH, &l.ASD}[k] = n
}
