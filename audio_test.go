package groq_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
	"github.com/groqkit/groq/internal/audio"
)

// form is a multipart body read back: its fields in order, and its file.
type form struct {
	fields   [][2]string
	fileName string
	file     []byte
}

func readForm(t *testing.T, r *http.Request) form {
	t.Helper()
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	require.NoError(t, err)
	require.Equal(t, "multipart/form-data", mt)
	body, err := io.ReadAll(r.Body)
	require.NoError(t, err)
	r.Body = io.NopCloser(bytes.NewReader(body))
	var f form
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return f
		}
		require.NoError(t, err)
		data, _ := io.ReadAll(p)
		if p.FormName() == "file" {
			f.fileName, f.file = p.FileName(), data
		}
		f.fields = append(f.fields, [2]string{p.FormName(), string(data)})
	}
}

// capture sends every request on to srv and keeps a copy of the audio ones.
func capture(t *testing.T, srv *groqtest.Server, into *[]form) groq.Option {
	var mu sync.Mutex
	return groq.WithHTTPClient(&http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if strings.Contains(r.URL.Path, "/audio/transcriptions") || strings.Contains(r.URL.Path, "/audio/translations") {
			f := readForm(t, r)
			mu.Lock()
			*into = append(*into, f)
			mu.Unlock()
		}
		return srv.Transport().RoundTrip(r)
	})})
}

// TestTranscribeMultipartAndVerboseAnswer: the body is multipart as Groq expects
// (model, the file with its name, the options, timestamp_granularities[] once per
// value) and a verbose_json answer fills segments, words and duration, with the
// same Meta as a chat response.
func TestTranscribeMultipartAndVerboseAnswer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := groqtest.NewUnstartedServer()
		var sent []form
		var events []string
		c, err := groq.NewClient(groq.WithAPIKeys("gsk_test_key_0"), groq.WithBaseURL(srv.URL()), capture(t, srv, &sent),
			groq.WithObserver(groq.Observer{
				CallStart: func(ctx context.Context, e groq.CallStartEvent) context.Context {
					events = append(events, "start "+e.Model)
					return ctx
				},
				CallDone: func(_ context.Context, e groq.CallDoneEvent) { events = append(events, "done "+e.Model) },
			}))
		require.NoError(t, err)
		defer c.Close()
		wav := audio.WAV(12.5, 16000)
		temp := 0.2
		tr, err := c.Transcribe(context.Background(), &groq.TranscriptionRequest{
			Model: "whisper-large-v3", File: bytes.NewReader(wav), FileName: "talk.wav", Language: "en", Prompt: "a talk",
			ResponseFormat: "verbose_json", Temperature: &temp, TimestampGranularities: []string{"word", "segment"},
		})
		require.NoError(t, err)
		require.Len(t, sent, 1)
		f := sent[0]
		assert.Equal(t, [][2]string{{"model", "whisper-large-v3"}, {"file", string(wav)}, {"language", "en"}, {"prompt", "a talk"},
			{"response_format", "verbose_json"}, {"temperature", "0.2"}, {"timestamp_granularities[]", "word"},
			{"timestamp_granularities[]", "segment"}}, f.fields)
		assert.Equal(t, "talk.wav", f.fileName)

		assert.InDelta(t, 12.5, tr.Duration, 1e-9)
		assert.Equal(t, "en", tr.Language)
		assert.Contains(t, tr.Text, "12.5 seconds")
		assert.NotEmpty(t, tr.Segments)
		assert.NotEmpty(t, tr.Words)
		assert.Equal(t, 1, tr.Meta.Attempts)
		assert.NotEmpty(t, tr.Meta.RequestID)
		assert.Equal(t, 13, srv.Stats().AudioSecs, "charged its duration, rounded up")
		assert.Equal(t, []string{"start whisper-large-v3", "done whisper-large-v3"}, events)

		txt, err := c.Transcribe(context.Background(), &groq.TranscriptionRequest{File: bytes.NewReader(wav), ResponseFormat: "text"})
		require.NoError(t, err)
		assert.Contains(t, txt.Text, "simulated transcription", "text fills Text")
		assert.Equal(t, "audio.wav", sent[1].fileName, "a WAV without a name is named by its header")
		assert.Equal(t, groq.DefaultTranscriptionModel, sent[1].fields[0][1])

		_, err = c.Translate(context.Background(), &groq.TranscriptionRequest{URL: "https://example.com/a.mp3"})
		require.NoError(t, err)
		assert.Equal(t, [][2]string{{"model", groq.DefaultTranslationModel}, {"url", "https://example.com/a.mp3"}}, sent[2].fields)
	})
}

// TestAudioBadInputNeverReachesTheNetwork: each bad request is a *RequestError
// naming its field, before anything is sent.
func TestAudioBadInputNeverReachesTheNetwork(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, srv := sim(t, nil)
		wav := func() io.Reader { return bytes.NewReader(audio.WAV(1, 8000)) }
		hot := 1.5
		cases := []struct {
			req   groq.TranscriptionRequest
			field string
		}{
			{groq.TranscriptionRequest{}, "file"},
			{groq.TranscriptionRequest{File: wav(), URL: "https://x/a.wav"}, "url"},
			{groq.TranscriptionRequest{File: wav(), FileName: "a.txt"}, "file_name"},
			{groq.TranscriptionRequest{File: strings.NewReader("not audio")}, "file_name"},
			{groq.TranscriptionRequest{File: strings.NewReader("")}, "file"},
			{groq.TranscriptionRequest{File: wav(), ResponseFormat: "srt"}, "response_format"},
			{groq.TranscriptionRequest{File: wav(), ResponseFormat: "vtt"}, "response_format"},
			{groq.TranscriptionRequest{File: wav(), TimestampGranularities: []string{"word"}}, "timestamp_granularities"},
			{groq.TranscriptionRequest{File: wav(), ResponseFormat: "verbose_json", TimestampGranularities: []string{"char"}}, "timestamp_granularities"},
			{groq.TranscriptionRequest{File: wav(), Temperature: &hot}, "temperature"},
			{groq.TranscriptionRequest{URL: "ftp://x/a.wav"}, "url"},
			{groq.TranscriptionRequest{File: wav(), FileName: "a\r\n.wav"}, "file_name"},
		}
		for i, tc := range cases {
			_, err := c.Transcribe(context.Background(), &tc.req)
			var re *groq.RequestError
			require.ErrorAs(t, err, &re, "case %d", i)
			assert.Equal(t, tc.field, re.Field, "case %d: %v", i, err)
		}
		_, err := c.Translate(context.Background(), &groq.TranscriptionRequest{URL: "https://x/a.wav", Language: "fr"})
		assert.ErrorIs(t, err, groq.ErrInvalidRequest)
		_, err = c.Speech(context.Background(), &groq.SpeechRequest{})
		assert.ErrorIs(t, err, groq.ErrInvalidRequest)
		_, err = c.Speech(context.Background(), &groq.SpeechRequest{Input: "hi", ResponseFormat: "aac"})
		assert.ErrorIs(t, err, groq.ErrInvalidRequest)
		_, err = c.Transcribe(context.Background(), nil)
		assert.ErrorIs(t, err, groq.ErrInvalidRequest)
		assert.Zero(t, srv.Stats().Requests, "nothing was sent")
	})
}

// TestASH429FailsFastPastTheDeadline: an ASH 429 asking for 12m30s, with 5 s of
// context, is a *RateLimitError at once; nothing more is sent for the model
// inside the wait, while another model still goes.
func TestASH429FailsFastPastTheDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := groqtest.NewUnstartedServer()
		var mu sync.Mutex
		sent := map[string]int{}
		refuse := true
		c, err := groq.NewClient(groq.WithAPIKeys("gsk_test_key_0"), groq.WithBaseURL(srv.URL()),
			groq.WithHTTPClient(&http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				m := "chat"
				if strings.Contains(r.URL.Path, "/audio/") {
					m = readForm(t, r).fields[0][1]
				}
				mu.Lock()
				sent[m]++
				mu.Unlock()
				if m == "whisper-large-v3" && refuse {
					h := http.Header{"Content-Type": {"application/json"}, "Retry-After": {"750"}}
					return &http.Response{StatusCode: 429, Header: h, Request: r, Body: ioNopCloser(`{"error":{"message":"Rate limit reached for model ` +
						"`whisper-large-v3`" + ` in organization ` + "`org_x`" + ` service tier ` + "`on_demand`" +
						` on seconds of audio per hour (ASH): Limit 3600, Used 3600, Requested 600. Please try again in 12m30s.","type":"seconds","code":"rate_limit_exceeded"}}`)}, nil
				}
				return srv.Transport().RoundTrip(r)
			})}))
		require.NoError(t, err)
		defer c.Close()
		req := func() *groq.TranscriptionRequest {
			return &groq.TranscriptionRequest{Model: "whisper-large-v3", File: bytes.NewReader(audio.WAV(10, 8000)), FileName: "a.wav"}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		start := time.Now()
		_, err = c.Transcribe(ctx, req())
		var rl *groq.RateLimitError
		require.ErrorAs(t, err, &rl)
		assert.Less(t, time.Since(start), time.Second, "fails fast")
		assert.Equal(t, 750*time.Second, rl.RetryAfter)
		assert.Equal(t, 1, sent["whisper-large-v3"])
		snap := c.RateLimits("whisper-large-v3").Quotas[0]
		assert.Equal(t, 3600, snap.Limits.ASH, "ASH learnt from the message")
		assert.False(t, snap.CoolingUntil.IsZero())

		time.Sleep(5 * time.Minute) // inside the wait
		refuse = false
		ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel2()
		_, err = c.Transcribe(ctx2, req())
		require.ErrorAs(t, err, &rl)
		assert.True(t, rl.Local, "refused here: %v", err)
		assert.Equal(t, 1, sent["whisper-large-v3"], "nothing more sent for the model inside the wait")
		_, err = c.Transcribe(context.Background(), &groq.TranscriptionRequest{Model: "whisper-large-v3-turbo", File: bytes.NewReader(audio.WAV(10, 8000))})
		require.NoError(t, err, "another model is not held back")

		time.Sleep(8 * time.Minute) // past it
		_, err = c.Transcribe(context.Background(), req())
		require.NoError(t, err)
		assert.Equal(t, 2, sent["whisper-large-v3"])
	})
}

// TestASHAdmitsWhatFitsAndHoldsTheRest: ASH 60 and 10-second WAV files: six go at
// once, the seventh waits for 10 seconds of audio to refill (600 s), with no 429.
func TestASHAdmitsWhatFitsAndHoldsTheRest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := groqtest.Limits{RPM: 100, ASH: 60}
		c, srv := sim(t, []groqtest.Option{groqtest.WithModel("whisper-large-v3", l)},
			groq.WithModelLimits("whisper-large-v3", groq.Limits{RPM: 100, ASH: 60}), groq.WithMaxRetryDelay(time.Hour))
		file := audio.WAV(10, 8000)
		req := func() *groq.TranscriptionRequest {
			return &groq.TranscriptionRequest{Model: "whisper-large-v3", File: bytes.NewReader(file), FileName: "a.wav"}
		}
		start := time.Now()
		for i := range 6 {
			_, err := c.Transcribe(context.Background(), req())
			require.NoError(t, err, "call %d", i)
		}
		assert.Less(t, time.Since(start), time.Second, "six admitted at once")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := c.Transcribe(ctx, req())
		var rl *groq.RateLimitError
		require.ErrorAs(t, err, &rl)
		assert.True(t, rl.Local, "the seventh is held here")
		assert.Equal(t, 6, srv.Stats().Requests, "the seventh was not sent")
		_, err = c.Transcribe(context.Background(), req())
		require.NoError(t, err)
		assert.GreaterOrEqual(t, time.Since(start), 590*time.Second, "it waited for the refill")
		assert.Zero(t, srv.Stats().RateLimited, "no 429")
		assert.Equal(t, 70, srv.Stats().AudioSecs)
	})
}

// TestSpeech: the audio's bytes and content type, and its Meta.
func TestSpeech(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, srv := sim(t, nil)
		sp, err := c.Speech(context.Background(), &groq.SpeechRequest{Input: "Hello from the simulator", SampleRate: 8000})
		require.NoError(t, err)
		assert.Equal(t, "audio/wav", sp.ContentType)
		assert.Equal(t, "RIFF", string(sp.Audio[:4]))
		secs, format, ok := audio.Duration(sp.Audio)
		require.True(t, ok)
		assert.Equal(t, "wav", format)
		assert.InDelta(t, 1.6, secs, 0.01)
		assert.Equal(t, 1, sp.Meta.Attempts)
		assert.NotEmpty(t, sp.Meta.RequestID)
		assert.Equal(t, 1, srv.Stats().Successes)
	})
}

// TestSpeechStream: the audio is read as it arrives; the stream holds its slot
// until it is closed, and Close ends the call once.
func TestSpeechStream(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var done int
		c, _ := sim(t, nil, groq.WithObserver(groq.Observer{CallDone: func(context.Context, groq.CallDoneEvent) { done++ }}))
		st, err := c.SpeechStream(context.Background(), &groq.SpeechRequest{Input: "one two three four five", SampleRate: 8000})
		require.NoError(t, err)
		assert.Equal(t, "audio/wav", st.ContentType)
		assert.Equal(t, 1, c.RateLimits(groq.DefaultSpeechModel).InFlight, "it holds its slot")
		data, err := io.ReadAll(st)
		require.NoError(t, err)
		secs, _, ok := audio.Duration(data)
		require.True(t, ok)
		assert.InDelta(t, 2.0, secs, 0.01)
		require.NoError(t, st.Close())
		require.NoError(t, st.Close())
		assert.Equal(t, 0, c.RateLimits(groq.DefaultSpeechModel).InFlight, "Close frees it")
		assert.Equal(t, 1, done, "the call ended once")
	})
}

// TestAudioRateIsLearnt: a format whose header does not say its duration is
// charged by its size, at a rate that the verbose answers' durations correct.
func TestAudioRateIsLearnt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, srv := sim(t, nil)
		// An m4a (its ftyp box, then bytes no header reader reads): 10 s at 64 kbit/s.
		file := append([]byte("\x00\x00\x00\x20ftypM4A "), bytes.Repeat([]byte{0x42}, 80_000-12)...)
		before := c.AudioRate("m4a")
		for range 8 {
			tr, err := c.Transcribe(context.Background(), &groq.TranscriptionRequest{File: bytes.NewReader(file), FileName: "a.m4a", ResponseFormat: "verbose_json"})
			require.NoError(t, err)
			assert.InDelta(t, 10, tr.Duration, 1e-9)
		}
		assert.InDelta(t, 1.0/16000, before, 1e-12, "128 kbit/s before any answer")
		assert.InDelta(t, 1.0/8000, c.AudioRate("m4a"), 0.15/8000, "close to the server's 64 kbit/s after eight answers")
		assert.Equal(t, 80, srv.Stats().AudioSecs)
	})
}

// TestTranscribeRereadsAFileForEachAttempt: a File that can be read again (an
// *os.File here, standing past a prefix the caller already read) is sent from
// where it stood on every attempt, whole, and its ContentLength is exact; the
// first attempt's 500 is retried with the same bytes.
func TestTranscribeRereadsAFileForEachAttempt(t *testing.T) {
	wav := audio.WAV(3, 16000)
	f, err := os.CreateTemp(t.TempDir(), "talk")
	require.NoError(t, err)
	defer f.Close()
	_, err = f.Write(append([]byte("a prefix the caller read"), wav...))
	require.NoError(t, err)
	_, err = f.Seek(int64(len("a prefix the caller read")), io.SeekStart)
	require.NoError(t, err)

	srv := groqtest.NewUnstartedServer()
	var sent []form
	var lengths []int64
	fail := true
	c, err := groq.NewClient(groq.WithAPIKeys("gsk_test_key_0"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(&http.Client{
		Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			lengths = append(lengths, r.ContentLength)
			sent = append(sent, readForm(t, r))
			if fail {
				fail = false
				return &http.Response{StatusCode: 500, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(`{"error":{"message":"boom"}}`)), Request: r}, nil
			}
			return srv.Transport().RoundTrip(r)
		})}), groq.WithBackoff(time.Millisecond, time.Millisecond))
	require.NoError(t, err)
	defer c.Close()
	tr, err := c.Transcribe(context.Background(), &groq.TranscriptionRequest{Model: "whisper-large-v3", File: f, ResponseFormat: "verbose_json"})
	require.NoError(t, err)
	assert.Equal(t, 2, tr.Meta.Attempts)
	assert.InDelta(t, 3, tr.Duration, 1e-9)
	require.Len(t, sent, 2)
	for i, s := range sent {
		assert.Equal(t, wav, s.file, "attempt %d sends the file from where it stood", i+1)
		assert.Equal(t, "audio.wav", s.fileName, "named from its header")
	}
	assert.Equal(t, lengths[0], lengths[1])
	assert.Positive(t, lengths[0], "the body's length is known")
}
