package groq_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
)

const validConfig = `{
  "models": {
    "llama-3.1-8b-instant": {
      "base_url": "https://api.groq.com/openai/v1",
      "api_keys": ["$TEST_GROQ_KEY_A", "gsk_literal"],
      "req_per_minute": 30, "req_per_day": 14400,
      "token_per_minute": 6000, "token_per_day": 500000,
      "context_window": 131072
    },
    "qwen/qwen3-32b": {"api_key": "$TEST_GROQ_KEY_A", "req_per_minute": 60}
  },
  "default_model": "llama-3.1-8b-instant",
  "concurrency": 4, "max_retries": 2,
  "cache_path": "CACHE", "cache_ttl": "2h",
  "daily_token_budget": 100000
}`

func TestLoadConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "groq.json")
	require.NoError(t, os.WriteFile(path, []byte(validConfig), 0o600))
	t.Setenv("TEST_GROQ_KEY_A", "gsk_from_env")
	cfg, err := groq.LoadConfig(path)
	require.NoError(t, err)
	assert.Equal(t, []string{"gsk_from_env", "gsk_literal"}, cfg.Models["llama-3.1-8b-instant"].APIKeys)
	assert.Equal(t, []string{"gsk_from_env"}, cfg.Models["qwen/qwen3-32b"].APIKeys)
	assert.Equal(t, 6000, cfg.Models["llama-3.1-8b-instant"].TokenPerMinute)
	assert.Equal(t, 4, cfg.Concurrency)
	assert.Equal(t, "2h", cfg.CacheTTL)

	_, err = groq.LoadConfig(filepath.Join(t.TempDir(), "missing.json"))
	assert.Error(t, err)
}

func TestConfigErrors(t *testing.T) {
	getenv := env(map[string]string{"SET": "gsk_x"})
	tests := []struct {
		name, json   string
		model, field string
	}{
		{"unknown top-level field", `{"models":{"m":{"api_key":"k"}},"colour":"red"}`, "", "colour"},
		{"unknown model field", `{"models":{"m":{"api_key":"k","rpm":3}}}`, "m", "rpm"},
		{"negative limit", `{"models":{"m":{"api_key":"k","token_per_minute":-5}}}`, "m", "token_per_minute"},
		{"missing key", `{"models":{"m":{"req_per_minute":5}}}`, "m", "api_key"},
		{"unset env key", `{"models":{"m":{"api_key":"$NOT_SET"}}}`, "m", "api_key"},
		{"unset env in list", `{"models":{"m":{"api_keys":["$SET","$NOT_SET"]}}}`, "m", "api_keys[1]"},
		{"bad base url", `{"models":{"m":{"api_key":"k","base_url":"nope"}}}`, "m", "base_url"},
		{"no models", `{"models":{}}`, "", "models"},
		{"bad ttl", `{"models":{"m":{"api_key":"k"}},"cache_ttl":"soon"}`, "", "cache_ttl"},
		{"unknown default model", `{"models":{"m":{"api_key":"k"}},"default_model":"x"}`, "", "default_model"},
		{"wrong type", `{"models":{"m":{"api_key":"k","req_per_day":"many"}}}`, "m", "req_per_day"},
		{"not JSON", `{"models":`, "", "(file)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := groq.ParseConfig([]byte(tt.json), getenv)
			var ce *groq.ConfigError
			require.True(t, errors.As(err, &ce), "ParseConfig(%s) = %v; want *ConfigError", tt.json, err)
			assert.Equal(t, tt.model, ce.Model)
			assert.Equal(t, tt.field, ce.Field)
			assert.NotContains(t, err.Error(), "gsk_x", "never the key")
		})
	}
}

func TestWithConfigRoutesModels(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srvA := groqtest.NewUnstartedServer()
		cfg, err := groq.ParseConfig([]byte(`{"models":{
			"llama-3.1-8b-instant":{"api_key":"gsk_a","req_per_minute":2},
			"qwen/qwen3-32b":{"api_key":"gsk_b","req_per_minute":5}}, "default_model":"qwen/qwen3-32b"}`), env(nil))
		require.NoError(t, err)
		c, err := groq.NewClient(groq.WithConfig(cfg), groq.WithBaseURL(srvA.URL()), groq.WithHTTPClient(srvA.Client()))
		require.NoError(t, err)
		defer c.Close()
		resp, err := c.Chat(context.Background(), hello)
		require.NoError(t, err)
		assert.Equal(t, "qwen/qwen3-32b", resp.Model, "default_model")
		_, err = c.Chat(context.Background(), hello, groq.WithModel("llama-3.1-8b-instant"))
		require.NoError(t, err)
		assert.Equal(t, map[string]int{"gsk_b": 1, "gsk_a": 1}, srvA.Stats().PerKey, "each model uses its own key")
		l := c.RateLimits("llama-3.1-8b-instant")
		require.Len(t, l.Quotas, 1)
		assert.Equal(t, 2, l.Quotas[0].Limits.RPM)
		_, err = c.Chat(context.Background(), hello, groq.WithModel("openai/gpt-oss-20b"))
		assert.ErrorIs(t, err, groq.ErrInvalidRequest, "no configured key serves that model")
	})
}

func TestReloadUnderLoad(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := groqtest.NewUnstartedServer(groqtest.WithModel(simModel, groqtest.Limits{RPM: 60}), groqtest.WithLatency(100*time.Millisecond, 0))
		parse := func(rpm int, keys string) *groq.Config {
			cfg, err := groq.ParseConfig([]byte(fmt.Sprintf(`{"models":{%q:{"api_keys":[%s],"req_per_minute":%d}}}`, simModel, keys, rpm)), env(nil))
			require.NoError(t, err)
			return cfg
		}
		c, err := groq.NewClient(groq.WithConfig(parse(60, `"k1"`)), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()))
		require.NoError(t, err)
		defer c.Close()

		var wg sync.WaitGroup
		errs := make([]error, 150)
		for i := range errs {
			wg.Go(func() { _, errs[i] = c.Chat(context.Background(), []groq.Message{groq.User(fmt.Sprint(i))}) })
		}
		time.Sleep(30 * time.Second) // 60 burst + 30 more sent by now
		before := len(srv.Arrivals())
		swap := time.Now()
		require.NoError(t, c.Reload(parse(6, `"k1","k2"`)), "lower the limit, add a key")
		// An invalid config is rejected whole; the old one stays.
		require.Error(t, c.Reload(&groq.Config{Models: map[string]groq.ModelConfig{simModel: {APIKey: "k9", ReqPerMinute: -1}}}))
		assert.Equal(t, 6, c.RateLimits(simModel).Quotas[0].Limits.RPM)
		wg.Wait()
		noErrors(t, errs)
		st := srv.Stats()
		assert.Equal(t, 150, st.Successes, "no call lost or failed by the reload")
		assert.Equal(t, 0, st.RateLimited)

		// After the swap: 2 keys at 6 RPM each (k2 starts with a full burst of 6).
		var perKeyAfter = map[string][]time.Time{}
		for _, a := range srv.Arrivals()[before:] {
			if a.At.After(swap) {
				perKeyAfter[a.Key] = append(perKeyAfter[a.Key], a.At)
			}
		}
		require.Contains(t, perKeyAfter, "k2", "the new key serves")
		for k, times := range perKeyAfter {
			// Within any minute after the swap, at most 6 (+ the refill already due) per key.
			for i := range times {
				n := 0
				for _, u := range times[i:] {
					if u.Sub(times[i]) < time.Minute {
						n++
					}
				}
				assert.LessOrEqual(t, n, 7, "key %s: %d requests in the minute from %v", k, n, times[i].Sub(swap))
			}
		}
	})
}

func TestConfigDecodeErrorsNameTheirPlace(t *testing.T) {
	for json, want := range map[string]string{
		`[{"models":{}}]`: `groq: config: the file must hold a JSON object ({"models": {...}}), not an array`,
		`"models"`:        `groq: config: the file must hold a JSON object ({"models": {...}}), not a string`,
		`{"models":{"llama-3.1-8b-instant":{"api_key":"k"},"big-model":{"api_key":"k","req_per_minute":1e99}}}`: `groq: config: model "big-model": req_per_minute: expected int, got number 1e99`,
		// An unknown field names its model and the field it most likely meant.
		`{"models":{"a":{"api_key":"k"},"m":{"api_key":"k","rpm":30}}}`:        `groq: config: model "m": rpm: unknown field; did you mean "req_per_minute"?`,
		`{"models":{"m":{"api_key":"k","token_per_minut":30}}}`:                `groq: config: model "m": token_per_minut: unknown field; did you mean "token_per_minute"?`,
		`{"models":{"m":{"api_key":"k"}},"default_modle":"m"}`:                 `groq: config: default_modle: unknown field; did you mean "default_model"?`,
		`{"models":{"m":{"api_key":"k"}},"zzzzzzzzzzzzzzzzzzzzzzzzzzzzz":"m"}`: `groq: config: zzzzzzzzzzzzzzzzzzzzzzzzzzzzz: unknown field`,
		// A syntax error points at the character, with no "(file)".
		"{\"models\": {\n  \"m\": {\"rpm\": 30,},\n}}\n": `groq: config (line 2, column 19): not valid JSON: invalid character '}' looking for beginning of object key string`,
	} {
		_, err := groq.ParseConfig([]byte(json), env(nil))
		require.Error(t, err, json)
		assert.Equal(t, want, err.Error(), json)
	}
}

// FuzzParseConfig: any bytes give a *Config or a *ConfigError, never a panic, and
// a config that parses is valid.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{"models":{"llama-3.1-8b-instant":{"api_key":"k","req_per_minute":30}},"default_model":"llama-3.1-8b-instant"}`))
	f.Add([]byte(`{"models":{"m":{"api_keys":["$A","b"],"base_url":"http://x/v1","token_per_day":1e99}}}`))
	f.Add([]byte(`[{"models":{}}]`))
	f.Add([]byte(`{"models":{"m":{"api_key":"k"}},"cache_ttl":"1h","concurrency":-1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := groq.ParseConfig(data, func(k string) string {
			if k == "A" {
				return "from-env"
			}
			return ""
		})
		if err != nil {
			var ce *groq.ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("ParseConfig(%q) = %v; want a *ConfigError", data, err)
			}
			return
		}
		if verr := cfg.Validate(); verr != nil {
			t.Fatalf("ParseConfig(%q) accepted a config that Validate refuses: %v", data, verr)
		}
	})
}

// TestConfigSyntaxErrorSaysWhere: a JSON mistake names the file, the line and the
// column.
func TestConfigSyntaxErrorSaysWhere(t *testing.T) {
	path := filepath.Join(t.TempDir(), "groq.json")
	require.NoError(t, os.WriteFile(path, []byte("{\"models\": {\n  \"m\": {\"rpm\": 30,},\n}}\n"), 0o600))
	_, err := groq.LoadConfig(path)
	var ce *groq.ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, path, ce.File)
	assert.Equal(t, 2, ce.Line)
	assert.Equal(t, 19, ce.Column, "the } after the trailing comma")
	assert.Contains(t, err.Error(), path+":2:19:")

	_, err = groq.ParseConfig([]byte(`{"models": {`), func(string) string { return "" })
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, 1, ce.Line, "cut short: where it ends")
	assert.Equal(t, 12, ce.Column)
}

// TestWithConfigKeepsTheConfigError: the *ConfigError behind WithConfig's failure
// is reachable with errors.As.
func TestWithConfigKeepsTheConfigError(t *testing.T) {
	cfg := &groq.Config{Models: map[string]groq.ModelConfig{"m": {APIKey: "k", ReqPerMinute: -1}}}
	_, err := groq.NewClient(groq.WithAPIKeys("k"), groq.WithConfig(cfg))
	var oe *groq.OptionError
	require.True(t, errors.As(err, &oe), "NewClient(...) = %v", err)
	var ce *groq.ConfigError
	assert.True(t, errors.As(err, &ce), "NewClient(...) = %v; want a *ConfigError in the chain", err)
}

// TestReloadKeepsOptionKeys: keys given by WithAPIKeys (as groq serve's
// GROQ_API_KEY(S)) keep serving every model across a Reload of a file that does
// not name them, even a no-op one: queued calls do not fail with a false 413, nor
// later calls for a model the file does not name with a 400.
func TestReloadKeepsOptionKeys(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := groqtest.NewUnstartedServer(groqtest.WithModel(simModel, groqtest.Limits{RPM: 60}), groqtest.WithModel("other", groqtest.Limits{}),
			groqtest.WithLatency(100*time.Millisecond, 0))
		cfg, err := groq.ParseConfig([]byte(fmt.Sprintf(`{"models":{%q:{"api_key":"k_file","req_per_minute":6}}}`, simModel)), env(nil))
		require.NoError(t, err)
		c, err := groq.NewClient(groq.WithAPIKeys("k_env"), groq.WithConfig(cfg), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()))
		require.NoError(t, err)
		defer c.Close()
		var wg sync.WaitGroup
		errs := make([]error, 12)
		for i := range errs {
			wg.Go(func() { _, errs[i] = c.Chat(context.Background(), []groq.Message{groq.User(fmt.Sprint(i))}) })
		}
		time.Sleep(5 * time.Second) // 6 sent, 6 queued
		require.NoError(t, c.Reload(cfg), "a no-op reload")
		wg.Wait()
		noErrors(t, errs)
		_, err = c.Chat(context.Background(), hello, groq.WithModel("other"))
		require.NoError(t, err, "a model the file does not name, after the reload")
		assert.Equal(t, 13, srv.Stats().PerKey["k_env"]+srv.Stats().PerKey["k_file"])
		assert.Equal(t, 1, srv.Stats().PerModel["other"])
	})
}
