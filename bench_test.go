package groq_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"testing"
	"time"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
	"github.com/groqkit/groq/internal/audio"
)

// BenchmarkChatVsBarePOST runs, side by side, the whole Chat path (validation,
// queue, limiters, retry loop, decoding) and a bare http.Client POST of the same
// body whose answer is decoded into the same type, against one in-process server;
// it reports both costs and their ratio.
func BenchmarkChatVsBarePOST(b *testing.B) {
	for _, form := range []string{"socket", "memory"} {
		b.Run(form, func(b *testing.B) {
			var srv *groqtest.Server
			hc := &http.Client{}
			if form == "socket" {
				srv = groqtest.NewServer(groqtest.WithModel("m", groqtest.Limits{}))
				defer srv.Close()
			} else {
				srv = groqtest.NewUnstartedServer(groqtest.WithModel("m", groqtest.Limits{}))
				hc = srv.Client()
			}
			c, err := groq.NewClient(groq.WithAPIKeys("k"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(hc),
				groq.WithDefaultModel("m"), groq.WithRPM(0))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			msgs := []groq.Message{groq.User("What is red teaming?")}
			body, _ := json.Marshal(groq.ChatRequest{Model: "m", Messages: msgs})
			ctx := context.Background()
			bare := func() {
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL()+"/chat/completions", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer k")
				req.Header.Set("Content-Type", "application/json")
				resp, err := hc.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				data, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				var out groq.ChatResponse
				if err := json.Unmarshal(data, &out); err != nil {
					b.Fatal(err)
				}
			}
			var chatT, bareT time.Duration
			b.ReportAllocs()
			for b.Loop() {
				t := time.Now()
				if _, err := c.Chat(ctx, msgs); err != nil {
					b.Fatal(err)
				}
				chatT += time.Since(t)
				t = time.Now()
				bare()
				bareT += time.Since(t)
			}
			b.ReportMetric(float64(chatT.Nanoseconds())/float64(b.N), "chat-ns/op")
			b.ReportMetric(float64(bareT.Nanoseconds())/float64(b.N), "bare-ns/op")
			b.ReportMetric(float64(chatT)/float64(bareT), "chat/bare")
		})
	}
}

// BenchmarkObserver measures a whole Chat (in memory, no cache) with no observer
// and with an observer that handles every event (doing nothing with it), side by
// side in one run, and reports the difference per call.
func BenchmarkObserver(b *testing.B) {
	noop := groq.Observer{
		CallStart:     func(ctx context.Context, _ groq.CallStartEvent) context.Context { return ctx },
		Queued:        func(context.Context, groq.QueuedEvent) {},
		Admitted:      func(context.Context, groq.AdmittedEvent) {},
		AttemptDone:   func(context.Context, groq.AttemptEvent) {},
		RateLimited:   func(context.Context, groq.RateLimitedEvent) {},
		Retry:         func(context.Context, groq.RetryEvent) {},
		CallDone:      func(context.Context, groq.CallDoneEvent) {},
		StreamFirst:   func(context.Context, groq.StreamFirstEvent) {},
		BudgetRefused: func(context.Context, groq.BudgetRefusedEvent) {},
		Learned:       func(groq.LearnedEvent) {},
	}
	srv := groqtest.NewUnstartedServer(groqtest.WithModel("m", groqtest.Limits{}))
	mk := func(opts ...groq.Option) *groq.Client {
		c, err := groq.NewClient(append([]groq.Option{groq.WithAPIKeys("k"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()),
			groq.WithDefaultModel("m"), groq.WithRPM(0)}, opts...)...)
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	none, core := mk(), mk(groq.WithObserver(noop))
	defer none.Close()
	defer core.Close()
	msgs := []groq.Message{groq.User("hello")}
	ctx := context.Background()
	var noneT, coreT time.Duration
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		if _, err := none.Chat(ctx, msgs); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := core.Chat(ctx, msgs); err != nil {
			b.Fatal(err)
		}
		noneT += t1.Sub(t0)
		coreT += time.Since(t1)
	}
	b.ReportMetric(float64(noneT.Nanoseconds())/float64(b.N), "none-ns/op")
	b.ReportMetric(float64(coreT.Nanoseconds())/float64(b.N), "observer-ns/op")
	b.ReportMetric(float64(coreT-noneT)/float64(b.N)/1000, "added-µs/op")
}

// BenchmarkTranscribeVsBareMultipart runs, side by side, a whole Transcribe (the
// file read and measured, the multipart body, queue, limiters, retry loop,
// decoding) and a bare http.Client multipart POST of the same file whose answer
// is decoded into the same type, against one in-process server; it reports both
// costs and their ratio.
func BenchmarkTranscribeVsBareMultipart(b *testing.B) {
	for _, form := range []string{"socket", "memory"} {
		b.Run(form, func(b *testing.B) {
			l := groqtest.Limits{} // unlimited
			var srv *groqtest.Server
			hc := &http.Client{}
			if form == "socket" {
				srv = groqtest.NewServer(groqtest.WithModel("whisper-large-v3", l))
				defer srv.Close()
			} else {
				srv = groqtest.NewUnstartedServer(groqtest.WithModel("whisper-large-v3", l))
				hc = srv.Client()
			}
			c, err := groq.NewClient(groq.WithAPIKeys("k"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(hc),
				groq.WithModelLimits("whisper-large-v3", groq.Limits{}), groq.WithRPM(0))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			file := audio.WAV(10, 8000) // 160 kB
			ctx := context.Background()
			bare := func() {
				var body bytes.Buffer
				mw := multipart.NewWriter(&body)
				mw.WriteField("model", "whisper-large-v3")
				fw, _ := mw.CreateFormFile("file", "a.wav")
				fw.Write(file)
				mw.Close()
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL()+"/audio/transcriptions", &body)
				req.Header.Set("Authorization", "Bearer k")
				req.Header.Set("Content-Type", mw.FormDataContentType())
				resp, err := hc.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				data, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				var out groq.Transcription
				if err := json.Unmarshal(data, &out); err != nil || out.Text == "" {
					b.Fatal(err, string(data))
				}
			}
			var clientT, bareT time.Duration
			b.ReportAllocs()
			for b.Loop() {
				t := time.Now()
				if _, err := c.Transcribe(ctx, &groq.TranscriptionRequest{Model: "whisper-large-v3", File: bytes.NewReader(file), FileName: "a.wav"}); err != nil {
					b.Fatal(err)
				}
				clientT += time.Since(t)
				t = time.Now()
				bare()
				bareT += time.Since(t)
			}
			b.ReportMetric(float64(clientT.Nanoseconds())/float64(b.N), "client-ns/op")
			b.ReportMetric(float64(bareT.Nanoseconds())/float64(b.N), "bare-ns/op")
			b.ReportMetric(float64(clientT)/float64(bareT), "client/bare")
		})
	}
}
