package groqotel

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"

	"github.com/groqkit/groq"
)

// RegisterGauges reports, at each collection, the client's state for models:
// groq.client.queue.length (calls waiting, by priority), groq.client.quota.remaining
// (the fraction of each quota's bucket left, by model and limit kind), and
// groq.client.quota.burst (each bucket's depth in force, learnt or configured). It
// reads client.RateLimits, which makes no network call. The returned function
// unregisters the callback; call it before closing the client. Only mp is used
// from opts (default: the global provider).
func RegisterGauges(client *groq.Client, models []string, opts ...Option) (unregister func() error, err error) {
	if client == nil || len(models) == 0 {
		return nil, errors.New("groqotel: RegisterGauges needs a client and at least one model")
	}
	cfg := config{}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.mp == nil {
		cfg.mp = otel.GetMeterProvider()
	}
	m := cfg.mp.Meter(scope)
	queue, err1 := m.Int64ObservableGauge("groq.client.queue.length", metric.WithUnit("{call}"),
		metric.WithDescription("Calls waiting in the client's queue, by priority (all models)."))
	remaining, err2 := m.Float64ObservableGauge("groq.client.quota.remaining", metric.WithUnit("1"),
		metric.WithDescription("Fraction of each quota's bucket left, by model and limit kind (0 to 1)."))
	burst, err3 := m.Int64ObservableGauge("groq.client.quota.burst", metric.WithUnit("{request}"),
		metric.WithDescription("Depth in force of each quota's bucket, by model and limit kind (tokens for TPM and TPD)."))
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, fmt.Errorf("groqotel: creating gauges: %w", err)
	}
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for i, model := range models {
			snap := client.RateLimits(model)
			if i == 0 {
				for p, n := range snap.Queued {
					o.ObserveInt64(queue, int64(n), metric.WithAttributes(keyPriority.Int(p)))
				}
			}
			for _, q := range snap.Quotas {
				for _, l := range []struct {
					kind        string
					depth, used int
				}{{"RPM", q.Burst.RPM, q.RequestsThisMinute}, {"RPD", q.Burst.RPD, q.RequestsToday},
					{"TPM", q.Burst.TPM, q.TokensThisMinute}, {"TPD", q.Burst.TPD, q.TokensToday}} {
					if l.depth <= 0 || l.used < 0 {
						continue
					}
					attrs := metric.WithAttributes(keyRequestModel.String(model), keyQuota.String(q.Name), keyLimit.String(l.kind))
					o.ObserveFloat64(remaining, max(0, float64(l.depth-l.used))/float64(l.depth), attrs)
					o.ObserveInt64(burst, int64(l.depth), attrs)
				}
			}
		}
		return nil
	}, queue, remaining, burst)
	if err != nil {
		return nil, fmt.Errorf("groqotel: registering the gauges' callback: %w", err)
	}
	return reg.Unregister, nil
}
