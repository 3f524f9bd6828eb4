// Metrics: serves the client's OpenTelemetry metrics in Prometheus's format on
// /metrics while calls run against the built-in simulator (or Groq, with
// GROQ_API_KEY), and prints a sample of the exposition at the end.
//
//	cd groqotel && go run ./examples/metrics            # runs about 5 s, then prints a sample
//	cd groqotel && go run ./examples/metrics -serve      # keeps serving on 127.0.0.1:9464
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqotel"
	"github.com/groqkit/groq/groqtest"
)

func main() {
	serve := flag.Bool("serve", false, "keep serving /metrics after the calls")
	addr := flag.String("addr", "127.0.0.1:9464", "where to serve /metrics")
	flag.Parse()

	reg := prometheus.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		log.Fatal(err)
	}
	obs, err := groqotel.New(groqotel.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))))
	if err != nil {
		log.Fatal(err)
	}
	opts := []groq.Option{groq.WithObserver(obs), groq.WithMaxConcurrency(4)}
	if os.Getenv("GROQ_API_KEY")+os.Getenv("GROQ_API_KEYS") == "" {
		srv := groqtest.NewUnstartedServer(groqtest.WithModel("llama-3.1-8b-instant", groqtest.Limits{RPM: 120, Burst: 5}),
			groqtest.WithLatency(100*time.Millisecond, 50*time.Millisecond))
		opts = append(opts, groq.WithAPIKeys("gsk_example"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()),
			groq.WithModelLimits("llama-3.1-8b-instant", groq.Limits{RPM: 120}))
		fmt.Println("(no GROQ_API_KEY: running against the built-in simulator)")
	}
	client, err := groq.NewClient(opts...)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	go http.Serve(ln, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	fmt.Printf("serving http://%s/metrics\n", ln.Addr())

	var wg sync.WaitGroup
	for i := range 12 {
		wg.Go(func() {
			client.Chat(context.Background(), []groq.Message{groq.User(fmt.Sprintf("question %d", i))}, groq.WithPriority(1+i%10))
		})
	}
	wg.Wait()

	resp, err := http.Get("http://" + ln.Addr().String() + "/metrics")
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "gen_ai_") || strings.HasPrefix(line, "groq_") {
			if !strings.Contains(line, "_bucket{") {
				fmt.Println(line)
			}
		}
	}
	if *serve {
		select {}
	}
	ln.Close()
}
