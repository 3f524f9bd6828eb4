package groq

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"
)

// Config is the JSON configuration file: one entry per model, and optional client
// settings.
//
//	{
//	  "models": {
//	    "llama-3.1-8b-instant": {
//	      "api_keys": ["$GROQ_KEY_A", "$GROQ_KEY_B"],
//	      "req_per_minute": 30, "req_per_day": 14400,
//	      "token_per_minute": 6000, "token_per_day": 500000,
//	      "context_window": 131072
//	    }
//	  },
//	  "default_model": "llama-3.1-8b-instant",
//	  "concurrency": 8, "max_retries": 4,
//	  "cache_path": ".groq_cache.json", "cache_ttl": "6h",
//	  "daily_token_budget": 1000000
//	}
//
// A key written "$NAME" is read from the environment variable NAME when the file
// is loaded. A model's keys serve that model only; a key listed under several
// models serves them all.
type Config struct {
	Models           map[string]ModelConfig `json:"models"`
	DefaultModel     string                 `json:"default_model,omitempty"`
	Concurrency      int                    `json:"concurrency,omitempty"`
	MaxRetries       *int                   `json:"max_retries,omitempty"`
	CachePath        string                 `json:"cache_path,omitempty"`
	CacheTTL         string                 `json:"cache_ttl,omitempty"` // a Go duration, "6h"
	DailyTokenBudget int64                  `json:"daily_token_budget,omitempty"`
	// Routes names lists of models: a call for the model "fast" goes through
	// Routes["fast"] in order, as with WithModels.
	Routes map[string][]string `json:"routes,omitempty"`
}

// ModelConfig is one model's entry: where to send it, with which keys, and its
// limits (0 or absent: unknown; RPM then defaults to WithRPM's value).
type ModelConfig struct {
	BaseURL        string   `json:"base_url,omitempty"`
	APIKey         string   `json:"api_key,omitempty"`
	APIKeys        []string `json:"api_keys,omitempty"`
	ReqPerMinute   int      `json:"req_per_minute,omitempty"`
	ReqPerDay      int      `json:"req_per_day,omitempty"`
	TokenPerMinute int      `json:"token_per_minute,omitempty"`
	TokenPerDay    int      `json:"token_per_day,omitempty"`
	ContextWindow  int      `json:"context_window,omitempty"`
}

// ConfigError names what is wrong in a configuration.
type ConfigError struct {
	Model  string // empty for a client setting
	Field  string
	Reason string
	// File is the configuration file (LoadConfig sets it; "" for bytes given to
	// ParseConfig), and Line and Column where the JSON stops being valid (1-based;
	// 0 when the error is not one of syntax).
	File         string
	Line, Column int
}

func (e *ConfigError) Error() string {
	where := "groq: config"
	if e.File != "" {
		where += " " + e.File
		if e.Line > 0 {
			where += fmt.Sprintf(":%d:%d", e.Line, e.Column)
		}
	} else if e.Line > 0 {
		where += fmt.Sprintf(" (line %d, column %d)", e.Line, e.Column)
	}
	if e.Model != "" {
		return fmt.Sprintf("%s: model %q: %s: %s", where, e.Model, e.Field, e.Reason)
	}
	if e.Field == "(file)" { // the file as a whole: the place says where
		return fmt.Sprintf("%s: %s", where, e.Reason)
	}
	return fmt.Sprintf("%s: %s: %s", where, e.Field, e.Reason)
}

// LoadConfig reads and checks the JSON configuration at path, resolving "$NAME"
// keys from the environment. Unknown fields, negative limits, a model without a
// key, an unset environment variable: a *ConfigError naming the field and model.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("groq: config: %w", err)
	}
	cfg, err := ParseConfig(data, os.Getenv)
	var ce *ConfigError
	if errors.As(err, &ce) {
		ce.File = path
	}
	return cfg, err
}

// ParseConfig is LoadConfig for bytes already read; getenv resolves "$NAME" keys.
func ParseConfig(data []byte, getenv func(string) string) (*Config, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var cfg Config
	if err := dec.Decode(&cfg); err != nil {
		return nil, configDecodeError(data, err)
	}
	for name, m := range cfg.Models {
		keys, err := m.resolveKeys(name, getenv)
		if err != nil {
			return nil, err
		}
		m.APIKey, m.APIKeys = "", keys
		cfg.Models[name] = m
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

func configDecodeError(data []byte, err error) error {
	msg := err.Error()
	if i := strings.Index(msg, "unknown field "); i >= 0 {
		field := strings.Trim(msg[i+len("unknown field "):], `"`)
		model := unknownFieldModel(data)
		fields := jsonFields(Config{})
		if model != "" {
			fields = jsonFields(ModelConfig{})
		}
		reason := "unknown field"
		if s := closestField(field, fields); s != "" {
			reason += fmt.Sprintf("; did you mean %q?", s)
		}
		return &ConfigError{Model: model, Field: field, Reason: reason}
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return &ConfigError{Field: "(file)", Reason: fmt.Sprintf(`the file must hold a JSON object ({"models": {...}}), not %s`, article(te.Value))}
		}
		ce := &ConfigError{Field: te.Field, Reason: fmt.Sprintf("expected %s, got %s", te.Type, te.Value)}
		if field, ok := strings.CutPrefix(te.Field, "models."); ok {
			ce.Field, ce.Model = field, failingModel(data)
		}
		return ce
	}
	ce := &ConfigError{Field: "(file)", Reason: "not valid JSON: " + msg}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		ce.Line, ce.Column = lineColumn(data, se.Offset)
	} else if errors.Is(err, io.ErrUnexpectedEOF) {
		ce.Line, ce.Column = lineColumn(data, int64(len(data)))
	}
	return ce
}

// lineColumn is the 1-based line and column of byte offset in data.
func lineColumn(data []byte, offset int64) (line, col int) {
	offset = min(max(offset, 0), int64(len(data)))
	before := data[:offset]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(offset) - (bytes.LastIndexByte(before, '\n') + 1)
	if col == 0 {
		col = 1
	}
	return line, col
}

// article puts "a" or "an" before a JSON kind ("an array", "a string").
func article(kind string) string {
	if kind != "" && strings.ContainsRune("aeiou", rune(kind[0])) {
		return "an " + kind
	}
	return "a " + kind
}

// unknownFieldModel finds the model whose entry holds an unknown field, or "" when
// none does (the unknown field is a client setting).
func unknownFieldModel(data []byte) string {
	var raw struct {
		Models map[string]json.RawMessage `json:"models"`
	}
	if json.Unmarshal(data, &raw) != nil {
		return ""
	}
	names := slices.Sorted(maps.Keys(raw.Models))
	for _, name := range names {
		dec := json.NewDecoder(bytes.NewReader(raw.Models[name]))
		dec.DisallowUnknownFields()
		var mc ModelConfig
		if err := dec.Decode(&mc); err != nil && strings.Contains(err.Error(), "unknown field ") {
			return name
		}
	}
	return ""
}

// jsonFields are the JSON names of v's fields.
func jsonFields(v any) []string {
	t := reflect.TypeOf(v)
	var out []string
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}

// closestField is the field a mistyped name most likely meant: one whose words'
// initials it is ("rpm" for req_per_minute), else the nearest by edit distance
// (within a third of its length, at least 2); "" when none is near.
func closestField(name string, fields []string) string {
	lower := strings.ToLower(name)
	for _, f := range fields {
		initials := ""
		for w := range strings.SplitSeq(f, "_") {
			initials += w[:1]
		}
		if len(initials) > 1 && lower == initials {
			return f
		}
	}
	if c := closest(lower, fields, 1); len(c) > 0 {
		return c[0]
	}
	return ""
}

// failingModel finds the model whose settings do not decode (encoding/json's error
// names the field but not the map key).
func failingModel(data []byte) string {
	var raw struct {
		Models map[string]json.RawMessage `json:"models"`
	}
	if json.Unmarshal(data, &raw) != nil {
		return ""
	}
	for name, m := range raw.Models {
		var mc ModelConfig
		if json.Unmarshal(m, &mc) != nil {
			return name
		}
	}
	return ""
}

// resolveKeys returns the model's keys with "$NAME" read from the environment.
func (m ModelConfig) resolveKeys(model string, getenv func(string) string) ([]string, error) {
	raw := append([]string(nil), m.APIKeys...)
	if m.APIKey != "" {
		raw = append([]string{m.APIKey}, raw...)
	}
	var out []string
	for i, k := range raw {
		field := fmt.Sprintf("api_keys[%d]", i)
		if m.APIKey != "" {
			field = "api_key"
			if i > 0 {
				field = fmt.Sprintf("api_keys[%d]", i-1)
			}
		}
		if strings.HasPrefix(k, "$") {
			name := k[1:]
			v := strings.TrimSpace(getenv(name))
			if v == "" {
				return nil, &ConfigError{Model: model, Field: field, Reason: fmt.Sprintf("environment variable %s is not set", name)}
			}
			k = v
		}
		if strings.TrimSpace(k) == "" {
			return nil, &ConfigError{Model: model, Field: field, Reason: "empty key"}
		}
		out = append(out, k)
	}
	return out, nil
}

// Validate checks the configuration: at least one model, every model with a key,
// no negative limit, a parsable base URL and cache TTL, sane client settings.
func (c *Config) Validate() error {
	if len(c.Models) == 0 {
		return &ConfigError{Field: "models", Reason: "no model configured"}
	}
	for _, name := range c.modelNames() {
		m := c.Models[name]
		if len(m.APIKeys) == 0 && m.APIKey == "" {
			return &ConfigError{Model: name, Field: "api_key", Reason: "missing (give api_key or api_keys)"}
		}
		for field, v := range map[string]int{
			"req_per_minute": m.ReqPerMinute, "req_per_day": m.ReqPerDay, "token_per_minute": m.TokenPerMinute,
			"token_per_day": m.TokenPerDay, "context_window": m.ContextWindow,
		} {
			if v < 0 {
				return &ConfigError{Model: name, Field: field, Reason: fmt.Sprintf("negative value %d", v)}
			}
		}
		if m.BaseURL != "" {
			u, err := url.Parse(m.BaseURL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return &ConfigError{Model: name, Field: "base_url", Reason: fmt.Sprintf("%q is not an absolute http(s) URL", m.BaseURL)}
			}
		}
	}
	if c.DefaultModel != "" {
		if _, ok := c.Models[c.DefaultModel]; !ok && c.Routes[c.DefaultModel] == nil {
			return &ConfigError{Field: "default_model", Reason: fmt.Sprintf("%q is not among the models or routes", c.DefaultModel)}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.Routes)) {
		if strings.TrimSpace(name) == "" {
			return &ConfigError{Field: "routes", Reason: "empty route name"}
		}
		if err := checkModels("routes", c.Routes[name]); err != nil {
			return &ConfigError{Field: "routes." + name, Reason: err.(*RequestError).Reason}
		}
	}
	if c.Concurrency < 0 {
		return &ConfigError{Field: "concurrency", Reason: fmt.Sprintf("negative value %d", c.Concurrency)}
	}
	if c.MaxRetries != nil && *c.MaxRetries < 0 {
		return &ConfigError{Field: "max_retries", Reason: fmt.Sprintf("negative value %d", *c.MaxRetries)}
	}
	if c.CacheTTL != "" {
		if d, err := time.ParseDuration(c.CacheTTL); err != nil || d <= 0 {
			return &ConfigError{Field: "cache_ttl", Reason: fmt.Sprintf("%q is not a positive duration", c.CacheTTL)}
		}
	}
	if c.DailyTokenBudget < 0 {
		return &ConfigError{Field: "daily_token_budget", Reason: fmt.Sprintf("negative value %d", c.DailyTokenBudget)}
	}
	return nil
}

func (c *Config) modelNames() []string {
	names := make([]string, 0, len(c.Models))
	for n := range c.Models {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (m ModelConfig) keys() []string {
	if m.APIKey != "" {
		return append([]string{m.APIKey}, m.APIKeys...)
	}
	return m.APIKeys
}

func (m ModelConfig) limits() Limits {
	return Limits{RPM: m.ReqPerMinute, RPD: m.ReqPerDay, TPM: m.TokenPerMinute, TPD: m.TokenPerDay, ContextWindow: m.ContextWindow}
}

// routing is what a configuration says about keys: which models each key serves,
// the per-model limits and the per-model chat URLs.
type routing struct {
	keys      []string            // in first-seen order
	keyModels map[string][]string // key -> models it serves
	limits    map[string]Limits
	urls      map[string]string // model -> chat URL
}

func (c *Config) routing() routing {
	r := routing{keyModels: map[string][]string{}, limits: map[string]Limits{}, urls: map[string]string{}}
	for _, name := range c.modelNames() {
		m := c.Models[name]
		r.limits[name] = m.limits()
		if m.BaseURL != "" {
			r.urls[name] = strings.TrimRight(m.BaseURL, "/") + "/chat/completions"
		}
		for _, k := range m.keys() {
			if _, seen := r.keyModels[k]; !seen {
				r.keys = append(r.keys, k)
			}
			r.keyModels[k] = append(r.keyModels[k], name)
		}
	}
	return r
}

// reloadRoutes makes the routes those of the reloaded file, and WithRoute's
// over them. Calls already planned keep their lists. c.sched.mu is held.
func (c *Client) reloadRoutes(routes map[string][]string) {
	m := map[string][]string{}
	for name, list := range routes {
		m[name] = slices.Clone(list)
	}
	maps.Copy(m, c.cfg.optRoutes)
	c.routes.Store(&m)
}

// WithConfig applies a configuration: its keys (each serving its models), limits
// and base URLs, and its client settings. Options after it override its settings.
func WithConfig(cfg *Config) Option {
	return func(c *settings) error {
		if cfg == nil {
			return optErr("WithConfig", "nil config")
		}
		if err := cfg.Validate(); err != nil {
			return &OptionError{Option: "WithConfig", Reason: err.Error(), Err: err}
		}
		c.fileConfig = cfg
		for name, list := range cfg.Routes {
			if c.routes == nil {
				c.routes = map[string][]string{}
			}
			c.routes[name] = slices.Clone(list)
		}
		rt := cfg.routing()
		for m, l := range rt.limits {
			c.modelLimits[m] = l
		}
		if cfg.DefaultModel != "" {
			c.defaultModel = cfg.DefaultModel
		} else if len(cfg.Models) == 1 {
			c.defaultModel = cfg.modelNames()[0]
		}
		if cfg.Concurrency > 0 {
			c.maxConcurrency, c.concurrencySet = cfg.Concurrency, true
		}
		if cfg.MaxRetries != nil {
			c.maxRetries = *cfg.MaxRetries
		}
		if cfg.CachePath != "" {
			c.cacheFile, c.cacheTTL = cfg.CachePath, DefaultCacheTTL
			if cfg.CacheTTL != "" {
				c.cacheTTL, _ = time.ParseDuration(cfg.CacheTTL)
			}
		}
		if cfg.DailyTokenBudget > 0 {
			c.budgetTokens = cfg.DailyTokenBudget
		}
		return nil
	}
}

// Reload swaps the client's keys, per-model limits and base URLs for cfg's while
// it runs. Calls queued or in flight are neither lost nor failed: new limits apply
// to the limiters in place (SetLimit, SetBurst), keys no longer listed stop being
// chosen, new keys start serving. Keys given by options (WithAPIKeys, the
// environment, WithOrganization) are not the file's: they keep serving every
// model. The file's routes replace those the last configuration gave (WithRoute's
// stay, and win over the file's; calls already queued keep their lists). An invalid cfg
// is rejected whole and the old configuration stays. Other settings (concurrency, retries, cache, budget) need a
// new client; Reload ignores them.
func (c *Client) Reload(cfg *Config) error {
	if cfg == nil {
		return &ConfigError{Field: "(config)", Reason: "nil"}
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	if c.closed.Load() {
		return ErrClientClosed
	}
	rt := cfg.routing()
	s := c.sched
	s.mu.Lock()
	defer s.mu.Unlock()
	limits := map[string]Limits{}
	for m, l := range rt.limits {
		limits[m] = l
	}
	c.cfg.modelLimits = limits
	s.applyRouting(s.now(), rt, c.pinned, c.newBuckets)
	c.reloadRoutes(cfg.Routes)
	c.log.Info("groq: configuration reloaded", "models", len(cfg.Models), "keys", len(rt.keys))
	return nil
}
