package serve

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/groqkit/groq/internal/gateway"
)

// tokenFlags are the --token values.
type tokenFlags []string

func (t *tokenFlags) String() string { return fmt.Sprintf("%d token(s)", len(*t)) }

func (t *tokenFlags) Set(v string) error {
	*t = append(*t, v)
	return nil
}

// allTokens parses --token and GROQ_GATEWAY_TOKEN (specs separated by ";").
func (o *options) allTokens(getenv func(string) string) ([]gateway.Token, error) {
	specs := append([]string(nil), o.tokens...)
	if v := strings.TrimSpace(getenv("GROQ_GATEWAY_TOKEN")); v != "" {
		for _, s := range strings.Split(v, ";") {
			if s = strings.TrimSpace(s); s != "" {
				specs = append(specs, s)
			}
		}
	}
	var out []gateway.Token
	for i, s := range specs {
		t, err := parseToken(s, i)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// parseToken reads a token: a bare secret (named token-N), or
// name=NAME,secret=SECRET[,priority=P][,max-priority=P][,daily-tokens=N][,max-in-flight=N].
func parseToken(spec string, i int) (gateway.Token, error) {
	if !strings.Contains(spec, "=") {
		if strings.ContainsAny(spec, " ,") {
			return gateway.Token{}, fmt.Errorf("token #%d: a bare secret holds no space or comma", i+1)
		}
		return gateway.Token{Name: "token-" + strconv.Itoa(i+1), Secret: spec}, nil
	}
	var t gateway.Token
	for _, kv := range strings.Split(spec, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return t, fmt.Errorf("token #%d: %q is not key=value", i+1, kv)
		}
		var err error
		switch k {
		case "name":
			t.Name = v
		case "secret":
			t.Secret = v
		case "priority":
			t.Priority, err = strconv.Atoi(v)
		case "max-priority":
			t.MaxPriority, err = strconv.Atoi(v)
		case "daily-tokens":
			t.DailyTokens, err = strconv.ParseInt(v, 10, 64)
		case "max-in-flight":
			t.MaxInFlight, err = strconv.Atoi(v)
		default:
			return t, fmt.Errorf("token #%d: unknown key %q (name, secret, priority, max-priority, daily-tokens, max-in-flight)", i+1, k)
		}
		if err != nil {
			return t, fmt.Errorf("token #%d: %s %q is not a number", i+1, k, v)
		}
	}
	if t.Secret == "" {
		return t, fmt.Errorf("token #%d: no secret", i+1)
	}
	if t.Name == "" {
		t.Name = "token-" + strconv.Itoa(i+1)
	}
	return t, nil
}
