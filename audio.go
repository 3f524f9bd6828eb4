package groq

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/groqkit/groq/internal/audio"
)

// Audio models and limits.
const (
	// DefaultTranscriptionModel is the model Transcribe uses when the request names
	// none; Translate's default is DefaultTranslationModel, the one model that
	// translates.
	DefaultTranscriptionModel = "whisper-large-v3-turbo"
	DefaultTranslationModel   = "whisper-large-v3"
	// DefaultSpeechModel and DefaultSpeechVoice are Speech's defaults.
	DefaultSpeechModel = "canopylabs/orpheus-v1-english"
	DefaultSpeechVoice = "autumn"
	// MinAudioSeconds is the least a transcription is charged against ASH and ASD,
	// as Groq bills it.
	MinAudioSeconds = 10
	// MaxAudioFileBytes bounds the file a TranscriptionRequest may carry: Groq's
	// limit on paid tiers (the free tier's is 25 MB; the server refuses more with a
	// 413). Larger audio goes by URL.
	MaxAudioFileBytes = 100 << 20
	// MaxSpeechInput bounds a SpeechRequest's input, in bytes.
	MaxSpeechInput = 10_000
)

// TranscriptionRequest is the body of POST /audio/transcriptions and
// /audio/translations. Exactly one of File and URL is set.
//
// A File that can be read again from where it stands (an io.ReaderAt and
// io.Seeker whose size is known: an *os.File of a regular file, a
// multipart.File kept on disk, a *bytes.Reader) is not copied: each attempt
// reads its bytes from that offset with ReadAt, so it must not change until the
// call returns. Any other File is read once, whole, into memory before any
// network call, so that a retry sends it again from the start. Either way at
// most MaxAudioFileBytes, and the caller keeps ownership of File (a Closer is
// not closed). FileName gives the format by its
// extension (flac, mp3, mp4, mpeg, mpga, m4a, ogg, wav, webm); when empty, a WAV,
// FLAC or MP3 file is recognised by its header.
//
// The cost charged against the model's ASH and ASD is the audio's duration, read
// from a WAV, FLAC or MP3 header and at least MinAudioSeconds; for other formats
// it is estimated from the size (at 128 kbit/s), and for a URL it is
// MinAudioSeconds. A verbose_json answer's duration then settles it.
type TranscriptionRequest struct {
	Model    string // "" uses DefaultTranscriptionModel (Translate: DefaultTranslationModel)
	File     io.Reader
	FileName string
	URL      string // a public http(s) URL of the audio, instead of File
	Language string // ISO-639-1; transcriptions only
	Prompt   string
	// ResponseFormat is "json" (the default), "text" or "verbose_json" (segments,
	// words, duration). Groq refuses srt and vtt; so does the client.
	ResponseFormat string
	Temperature    *float64 // 0 to 1
	// TimestampGranularities are "word" and/or "segment"; they need verbose_json.
	TimestampGranularities []string
}

// Transcription is a transcription's or translation's answer. With
// ResponseFormat "text", Text holds the answer's body and the rest is empty.
type Transcription struct {
	Task     string                 `json:"task,omitempty"`
	Language string                 `json:"language,omitempty"`
	Duration float64                `json:"duration,omitempty"` // seconds (verbose_json)
	Text     string                 `json:"text"`
	Segments []TranscriptionSegment `json:"segments,omitempty"`
	Words    []TranscriptionWord    `json:"words,omitempty"`
	XGroq    *XGroq                 `json:"x_groq,omitempty"`

	Meta ResponseMeta `json:"-"`
}

// TranscriptionSegment is one segment of a verbose_json answer.
type TranscriptionSegment struct {
	ID               int     `json:"id"`
	Seek             int     `json:"seek"`
	Start            float64 `json:"start"`
	End              float64 `json:"end"`
	Text             string  `json:"text"`
	Tokens           []int   `json:"tokens,omitempty"`
	Temperature      float64 `json:"temperature"`
	AvgLogprob       float64 `json:"avg_logprob"`
	CompressionRatio float64 `json:"compression_ratio"`
	NoSpeechProb     float64 `json:"no_speech_prob"`
}

// TranscriptionWord is one word of a verbose_json answer with word timestamps.
type TranscriptionWord struct {
	Word  string  `json:"word"`
	Start float64 `json:"start"`
	End   float64 `json:"end"`
}

// SpeechRequest is the body of POST /audio/speech. Its cost against the model's
// TPM and TPD is the input's estimated tokens.
type SpeechRequest struct {
	Model          string   `json:"model"`                     // "" uses DefaultSpeechModel
	Input          string   `json:"input"`                     // the text to speak, at most MaxSpeechInput bytes
	Voice          string   `json:"voice"`                     // "" uses DefaultSpeechVoice
	ResponseFormat string   `json:"response_format,omitempty"` // flac, mp3, mulaw, ogg, wav (Groq's default: wav)
	SampleRate     int      `json:"sample_rate,omitempty"`
	Speed          *float64 `json:"speed,omitempty"`
}

// Speech is synthesized audio: its bytes and their Content-Type.
type Speech struct {
	Audio       []byte
	ContentType string
	Meta        ResponseMeta
}

// audioEndpoint is an audio endpoint (speech to text, text to speech) as a call sees it:
// where it goes, how its body is sent, its cost, and what to do with the answer.
type audioEndpoint struct {
	chatCall           // named and retried as a chat call is
	path        string // under the base URL
	contentType string
	accept      string
	cost        int  // reserved, in the model's unit
	seconds     bool // the unit is seconds of audio
	// body is sent on every attempt; bodyFrom, when set, gives it from its start
	// for each attempt instead (bodyLen bytes): a transcription whose file is
	// read again, not copied.
	body     []byte
	bodyFrom func() io.Reader
	bodyLen  int64
	// answer reads a 2xx body; it returns the cost the server counted.
	answer func(data []byte, h http.Header, meta ResponseMeta) (used int, err error)
	// open, set for a streamed answer, takes the 2xx body unread instead.
	open func(res *attemptResult, meta ResponseMeta)
}

// plan is step 1 of an audio call: its cost, in its model's unit (seconds of
// audio for speech to text, tokens for text to speech), must fit a quota. Audio
// holds no token budget and has no context window.
func (a *audioEndpoint) plan(k *call) (*callPlan, error) {
	reserve, err := k.c.sched.check(k.model, a.cost, a.cost)
	if err != nil {
		return nil, err
	}
	return &callPlan{model: k.model, reserve: reserve}, nil
}

func (a *audioEndpoint) wire(k *call, _ *grant) wireRequest {
	return wireRequest{url: k.c.cfg.baseURL.String() + a.path, body: a.body, contentType: a.contentType, accept: a.accept,
		seconds: a.seconds, stream: a.open != nil, bodyFrom: a.bodyFrom, bodyLen: a.bodyLen}
}

// read reads a 2xx answer of an audio call, or hands it over open.
func (a *audioEndpoint) read(k *call, res *attemptResult, meta ResponseMeta) (*ChatResponse, outcome, bool, error) {
	if a.open != nil {
		res.firstByte()
		meta.Latency, k.requestID = time.Since(k.start), meta.RequestID
		a.open(res, meta)
		return nil, outcome{}, true, nil
	}
	data, err := res.readAll()
	if err != nil {
		return nil, outcome{}, false, err // a body cut mid-way: retried
	}
	meta.Latency, k.requestID = time.Since(k.start), meta.RequestID
	used, err := a.answer(data, res.header, meta)
	o := outcome{counted: true, used: used, info: res.info}
	if err != nil {
		return nil, o, false, finalError{&decodeError{requestID: meta.RequestID, err: err}}
	}
	return nil, o, false, nil
}

// Transcribe turns speech into text (POST /audio/transcriptions), through the same
// queue, priorities, rate limits (RPM, RPD, ASH, ASD), retries and observer as
// Chat. The call options that apply are WithPriority and WithCallback (called with
// a nil *ChatResponse); WithModel replaces the request's model.
//
// Errors: a *RequestError for a bad request (which field, and why) before any
// network call, and otherwise ChatCompletion's.
func (c *Client) Transcribe(ctx context.Context, req *TranscriptionRequest, opts ...CallOption) (*Transcription, error) {
	return c.transcribe(ctx, req, "/audio/transcriptions", opts)
}

// Translate turns speech in any language into English text (POST
// /audio/translations); see Transcribe. Language is refused: the target is
// English.
func (c *Client) Translate(ctx context.Context, req *TranscriptionRequest, opts ...CallOption) (*Transcription, error) {
	return c.transcribe(ctx, req, "/audio/translations", opts)
}

func (c *Client) transcribe(ctx context.Context, req *TranscriptionRequest, path string, opts []CallOption) (*Transcription, error) {
	translate := path == "/audio/translations"
	var tb transcriptionBody
	k, err := c.newAudioCall(ctx, opts, func(cc *callConfig) (string, error) {
		if req == nil {
			return "", &RequestError{Field: "request", Reason: "nil *TranscriptionRequest"}
		}
		r := *req
		if cc.model != "" {
			r.Model = cc.model
		}
		if r.Model == "" {
			r.Model = DefaultTranscriptionModel
			if translate {
				r.Model = DefaultTranslationModel
			}
		}
		var err error
		tb, err = buildTranscription(&r, translate, c.audioRate)
		return r.Model, err
	})
	if err != nil {
		return nil, err
	}
	out := new(Transcription)
	text := req.ResponseFormat == "text"
	ct, cost := tb.contentType, tb.cost
	a := &audioEndpoint{path: path, contentType: ct, accept: "application/json", cost: cost, seconds: true,
		bodyFrom: tb.open, bodyLen: tb.length(),
		answer: func(data []byte, _ http.Header, meta ResponseMeta) (int, error) {
			if text {
				out.Text = strings.TrimSuffix(string(data), "\n")
			} else if err := json.Unmarshal(data, out); err != nil {
				return cost, err
			}
			out.Meta = meta
			if out.Meta.RequestID == "" && out.XGroq != nil {
				out.Meta.RequestID = out.XGroq.ID
			}
			if out.Duration > 0 { // the server's own measure settles the reservation
				if tb.estimated {
					c.learnAudioRate(tb.format, out.Duration/float64(tb.size))
				}
				return max(MinAudioSeconds, int(math.Ceil(out.Duration))), nil
			}
			return cost, nil
		}}
	k.ep = a
	if err := a.run(k); err != nil {
		return nil, err
	}
	return out, nil
}

// Speech turns text into audio (POST /audio/speech), through the same pipeline as
// Transcribe. The answer's bytes are read whole (at most 64 MiB); SpeechStream
// hands them over as they arrive.
func (c *Client) Speech(ctx context.Context, req *SpeechRequest, opts ...CallOption) (*Speech, error) {
	k, a, err := c.speechCall(ctx, req, opts)
	if err != nil {
		return nil, err
	}
	out := new(Speech)
	cost := a.cost
	a.answer = func(data []byte, h http.Header, meta ResponseMeta) (int, error) {
		if len(data) == 0 {
			return cost, errNoAudio
		}
		out.Audio, out.ContentType, out.Meta = data, h.Get("Content-Type"), meta
		return cost, nil
	}
	if err := a.run(k); err != nil {
		return nil, err
	}
	return out, nil
}

// speechCall checks req and makes its call, with its body and cost.
func (c *Client) speechCall(ctx context.Context, req *SpeechRequest, opts []CallOption) (*call, *audioEndpoint, error) {
	var body []byte
	var cost int
	k, err := c.newAudioCall(ctx, opts, func(cc *callConfig) (string, error) {
		if req == nil {
			return "", &RequestError{Field: "request", Reason: "nil *SpeechRequest"}
		}
		r := *req
		if cc.model != "" {
			r.Model = cc.model
		}
		if r.Model == "" {
			r.Model = DefaultSpeechModel
		}
		if r.Voice == "" {
			r.Voice = DefaultSpeechVoice
		}
		if err := validateSpeech(&r); err != nil {
			return r.Model, err
		}
		body, _ = json.Marshal(&r)
		cost = max(1, EstimateTokens(r.Model, []Message{User(r.Input)}))
		return r.Model, nil
	})
	if err != nil {
		return nil, nil, err
	}
	a := &audioEndpoint{path: "/audio/speech", contentType: "application/json", accept: "audio/*", cost: cost, body: body}
	k.ep = a
	return k, a, nil
}

// SpeechStream is synthesized audio read as it arrives (see Client.SpeechStream).
// It is an io.ReadCloser; it is not safe for concurrent use.
type SpeechStream struct {
	ContentType string
	Meta        ResponseMeta

	k     *call
	cost  int
	res   *attemptResult
	err   error
	ended bool
}

// SpeechStream is Speech with the audio handed over as it arrives: the call waits
// in the queue and is retried like Speech until the answer's headers come, and
// then returns the body to read. The stream holds its concurrency slot until it is
// closed: always Close it. A failure while reading is the stream's and is not
// retried.
func (c *Client) SpeechStream(ctx context.Context, req *SpeechRequest, opts ...CallOption) (*SpeechStream, error) {
	k, a, err := c.speechCall(ctx, req, opts)
	if err != nil {
		return nil, err
	}
	st := &SpeechStream{k: k, cost: a.cost}
	a.open = func(res *attemptResult, meta ResponseMeta) {
		st.res, st.Meta, st.ContentType = res, meta, res.header.Get("Content-Type")
	}
	k.tell(CallStartEvent{Model: k.model, Priority: k.cc.priority, Stream: true, URL: c.cfg.baseURL.String() + a.path})
	if _, err := k.run(); err != nil {
		k.end(nil, err)
		return nil, err
	}
	return st, nil
}

// Read reads the audio.
func (s *SpeechStream) Read(p []byte) (int, error) {
	if s.ended {
		return 0, io.EOF
	}
	n, err := s.res.resp.Body.Read(p)
	if err != nil && err != io.EOF {
		s.err = &StreamError{Err: err, RequestID: s.Meta.RequestID}
		s.Close()
		return n, s.err
	}
	return n, err
}

// Close releases the connection and the concurrency slot and ends the call; it
// is safe to call more than once.
func (s *SpeechStream) Close() error {
	if s.ended {
		return nil
	}
	s.ended = true
	s.res.resp.Body.Close()
	s.res.release()
	s.k.settle(outcome{counted: true, used: s.cost, info: s.res.info})
	s.k.end(nil, s.err)
	return nil
}

// errNoAudio is a 2xx speech answer with no bytes.
var errNoAudio = fmt.Errorf("an empty body")

// newAudioCall checks ctx, the client and the options, then build (which applies
// the options to the request and checks it). A call that fails here has ended.
func (c *Client) newAudioCall(ctx context.Context, opts []CallOption, build func(*callConfig) (string, error)) (*call, error) {
	cc, err := c.callOptions(opts)
	if err != nil {
		return nil, err
	}
	err = c.usable(ctx)
	k := &call{c: c, ctx: ctx, cc: cc, start: time.Now()}
	if err == nil {
		k.model, err = build(cc)
	}
	if err != nil {
		k.end(nil, err)
		return nil, err
	}
	return k, nil
}

// run runs and ends k, an audio call to a.
func (a *audioEndpoint) run(k *call) error {
	k.tell(CallStartEvent{Model: k.model, Priority: k.cc.priority, URL: k.c.cfg.baseURL.String() + a.path})
	_, err := k.do()
	return err
}

// transcriptionFormats are the response formats the client sends; Groq refuses
// srt and vtt.
var transcriptionFormats = map[string]bool{"": true, "json": true, "text": true, "verbose_json": true}

// transcriptionBody is a transcription's multipart body and what it costs. The
// body is head, then the file's bytes (when file is set: read from it again for
// each attempt, never copied), then tail.
type transcriptionBody struct {
	head, tail  []byte
	file        *io.SectionReader // nil: the file's bytes (if any) are in head
	contentType string
	cost        int    // seconds of audio to reserve
	estimated   bool   // the file's header did not say its duration: cost is from its size
	size        int    // the file's bytes
	format      string // its extension
}

// length is the body's length in bytes.
func (b *transcriptionBody) length() int64 {
	n := int64(len(b.head) + len(b.tail))
	if b.file != nil {
		n += b.file.Size()
	}
	return n
}

// open returns the body from its start, for one attempt.
func (b *transcriptionBody) open() io.Reader {
	if b.file == nil {
		return bytes.NewReader(b.head)
	}
	return io.MultiReader(bytes.NewReader(b.head), io.NewSectionReader(b.file, 0, b.file.Size()), bytes.NewReader(b.tail))
}

// buildTranscription checks r and writes its multipart body. A file that can be
// read again from where it stands (see TranscriptionRequest) is not copied; any
// other is copied once, into the body, which every attempt sends. A file whose
// header does not say its duration costs its size times rate(format) seconds.
func buildTranscription(r *TranscriptionRequest, translate bool, rate func(format string) float64) (transcriptionBody, error) {
	if err := validateTranscription(r, translate); err != nil {
		return transcriptionBody{}, err
	}
	tb, data, err := writeTranscription(r)
	if err != nil {
		return transcriptionBody{}, err
	}
	tb.cost = MinAudioSeconds
	if r.File == nil {
		return tb, nil
	}
	var secs float64
	var known bool
	if tb.file != nil {
		secs, _, known = audio.DurationAt(tb.file, tb.file.Size())
	} else {
		secs, _, known = audio.Duration(data)
	}
	if known {
		tb.cost = max(MinAudioSeconds, int(math.Ceil(secs)))
	} else {
		tb.estimated = true
		tb.cost = max(MinAudioSeconds, int(math.Ceil(float64(tb.size)*rate(tb.format))))
	}
	return tb, nil
}

// defaultAudioRate is the seconds per byte a file of unknown duration is assumed
// to play: 128 kbit/s.
const defaultAudioRate = 1.0 / 16000

// audioRate is what the client has learnt of format's seconds per byte, from the
// durations of verbose_json answers, else defaultAudioRate.
func (c *Client) audioRate(format string) float64 {
	if v, ok := c.audioRates.Load(format); ok {
		return v.(float64)
	}
	return defaultAudioRate
}

// learnAudioRate moves format's seconds per byte a quarter of the way to r.
func (c *Client) learnAudioRate(format string, r float64) {
	if !(r > 0) || r > 1 { // more than a second a byte is no audio file
		return
	}
	old := c.audioRate(format)
	c.audioRates.Store(format, old+(r-old)/4)
}

// sizeOf is how many bytes r holds, when it can say without being read (0 when
// it cannot).
func sizeOf(r io.Reader) int64 {
	switch v := r.(type) {
	case interface{ Len() int }:
		return int64(v.Len())
	case interface{ Stat() (os.FileInfo, error) }:
		if st, err := v.Stat(); err == nil && st.Mode().IsRegular() {
			return st.Size()
		}
	}
	return 0
}

// validateTranscription checks everything but the file's bytes.
func validateTranscription(r *TranscriptionRequest, translate bool) error {
	switch {
	case strings.TrimSpace(r.Model) == "":
		return &RequestError{Field: "model", Reason: "empty"}
	case r.File == nil && r.URL == "":
		return &RequestError{Field: "file", Reason: "neither File nor URL is set"}
	case r.File != nil && r.URL != "":
		return &RequestError{Field: "url", Reason: "File and URL are both set; Groq takes one"}
	case r.File != nil && r.FileName != "" && audio.FormatOf(r.FileName) == "":
		return &RequestError{Field: "file_name", Reason: fmt.Sprintf("%q is not a format Groq takes (%s)", r.FileName, strings.Join(audio.Formats, ", "))}
	case !transcriptionFormats[r.ResponseFormat]:
		return &RequestError{Field: "response_format", Reason: fmt.Sprintf("%q: Groq takes json, text or verbose_json (not srt or vtt)", r.ResponseFormat)}
	case r.Temperature != nil && !(*r.Temperature >= 0 && *r.Temperature <= 1):
		return &RequestError{Field: "temperature", Reason: fmt.Sprintf("%v is outside [0, 1]", *r.Temperature)}
	case translate && r.Language != "":
		return &RequestError{Field: "language", Reason: "a translation is always to English; Groq takes no language"}
	case translate && r.Model == "whisper-large-v3-turbo":
		return &RequestError{Field: "model", Reason: "whisper-large-v3-turbo does not translate; use whisper-large-v3"}
	case !utf8.ValidString(r.Prompt) || !utf8.ValidString(r.Language) || !utf8.ValidString(r.FileName):
		return &RequestError{Field: "prompt", Reason: "not valid UTF-8"}
	case strings.ContainsFunc(r.FileName, func(c rune) bool { return c < 0x20 || c == 0x7f || c == '"' || c == '\\' || c == '/' }):
		return &RequestError{Field: "file_name", Reason: "holds a control character, a quote, a slash or a backslash (give the file's name, not its path)"}
	case strings.ContainsAny(r.Model, "\r\n") || strings.ContainsAny(r.Language, "\r\n"):
		return &RequestError{Field: "model", Reason: "holds a line break"}
	}
	if r.URL != "" {
		u, err := url.Parse(r.URL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return &RequestError{Field: "url", Reason: fmt.Sprintf("%q is not an http(s) URL", r.URL)}
		}
	}
	for _, g := range r.TimestampGranularities {
		if g != "word" && g != "segment" {
			return &RequestError{Field: "timestamp_granularities", Reason: fmt.Sprintf("%q: Groq takes word and segment", g)}
		}
		if r.ResponseFormat != "verbose_json" {
			return &RequestError{Field: "timestamp_granularities", Reason: "needs ResponseFormat verbose_json"}
		}
	}
	return nil
}

// writeTranscription writes the multipart body Groq expects: model, then file (or
// url), then the optional fields, timestamp_granularities[] once per value. It
// returns the body and, for a file copied into it, the file's bytes within it.
func writeTranscription(r *TranscriptionRequest) (tb transcriptionBody, file []byte, err error) {
	var b bytes.Buffer
	src, off, n, reread := rereadable(r.File)
	if !reread {
		b.Grow(int(min(sizeOf(r.File), MaxAudioFileBytes)) + 1024)
	}
	mw := multipart.NewWriter(&b)
	field := func(k, v string) {
		if v != "" {
			mw.WriteField(k, v) // a bytes.Buffer does not fail
		}
	}
	field("model", r.Model)
	split := -1 // where the file's bytes go, when they are not copied
	if r.File != nil {
		var name string
		if reread {
			tb.file, name, err = filePart(mw, r.FileName, io.NewSectionReader(src, off, n))
			split = b.Len()
		} else {
			file, name, err = copyFilePart(mw, &b, r)
		}
		if err != nil {
			return tb, nil, err
		}
		tb.format = audio.FormatOf(name)
		tb.size = len(file)
		if tb.file != nil {
			tb.size = int(tb.file.Size())
		}
	}
	field("url", r.URL)
	field("language", r.Language)
	field("prompt", r.Prompt)
	field("response_format", r.ResponseFormat)
	if r.Temperature != nil {
		field("temperature", strconv.FormatFloat(*r.Temperature, 'f', -1, 64))
	}
	for _, g := range r.TimestampGranularities {
		field("timestamp_granularities[]", g)
	}
	if err := mw.Close(); err != nil {
		return tb, nil, &RequestError{Field: "file", Reason: err.Error()}
	}
	tb.contentType, tb.head = mw.FormDataContentType(), b.Bytes()
	if split >= 0 {
		tb.head, tb.tail = b.Bytes()[:split], b.Bytes()[split:]
	}
	// file stays valid if the buffer grew after it: it keeps the array it was in.
	return tb, file, nil
}

// rereadable is f as a reader at, with the offset it stands at and the bytes
// left from there, when f can be read again from there without being copied:
// an io.ReaderAt and io.Seeker whose size is known (an *os.File of a regular
// file, a multipart.File kept on disk, a *bytes.Reader).
func rereadable(f io.Reader) (io.ReaderAt, int64, int64, bool) {
	ra, ok := f.(io.ReaderAt)
	sk, ok2 := f.(io.Seeker)
	if !ok || !ok2 {
		return nil, 0, 0, false
	}
	size := int64(-1)
	switch v := f.(type) {
	case interface{ Size() int64 }:
		size = v.Size()
	case interface{ Stat() (os.FileInfo, error) }:
		if st, err := v.Stat(); err == nil && st.Mode().IsRegular() {
			size = st.Size()
		}
	}
	off, err := sk.Seek(0, io.SeekCurrent)
	if size < 0 || err != nil || off > size {
		return nil, 0, 0, false
	}
	return ra, off, size - off, true
}

// filePart writes the file part's header for a file read from sec, whose bytes
// go after it: each attempt reads them from sec.
func filePart(mw *multipart.Writer, name string, sec *io.SectionReader) (*io.SectionReader, string, error) {
	switch {
	case sec.Size() == 0:
		return nil, "", &RequestError{Field: "file", Reason: "empty"}
	case sec.Size() > MaxAudioFileBytes:
		return nil, "", &RequestError{Field: "file", Reason: fmt.Sprintf("more than %d MB; send larger audio by URL", MaxAudioFileBytes>>20)}
	}
	peek := make([]byte, min(512, sec.Size())) // the header, to name a file that has no name
	if _, err := sec.ReadAt(peek, 0); err != nil && err != io.EOF {
		return nil, "", &RequestError{Field: "file", Reason: "reading it: " + err.Error()}
	}
	name, err := fileName(name, peek)
	if err != nil {
		return nil, "", err
	}
	mw.CreatePart(fileHeader(name))
	return sec, name, nil
}

func fileHeader(name string) textproto.MIMEHeader {
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename="%s"`, name))
	h.Set("Content-Type", "application/octet-stream")
	return h
}

// copyFilePart writes the file part, r.File's bytes copied into b, and returns
// those bytes within b.
func copyFilePart(mw *multipart.Writer, b *bytes.Buffer, r *TranscriptionRequest) ([]byte, string, error) {
	peek := make([]byte, 512) // the header, to name a file that has no name
	n, rerr := io.ReadFull(r.File, peek)
	if rerr != nil && rerr != io.ErrUnexpectedEOF && rerr != io.EOF {
		return nil, "", &RequestError{Field: "file", Reason: "reading it: " + rerr.Error()}
	}
	peek = peek[:n]
	name, err := fileName(r.FileName, peek)
	if err != nil {
		return nil, "", err
	}
	fw, _ := mw.CreatePart(fileHeader(name))
	start := b.Len()
	fw.Write(peek)
	copied, cerr := io.Copy(fw, io.LimitReader(r.File, MaxAudioFileBytes+1-int64(n)))
	switch total := int64(n) + copied; {
	case cerr != nil:
		return nil, "", &RequestError{Field: "file", Reason: "reading it: " + cerr.Error()}
	case total == 0:
		return nil, "", &RequestError{Field: "file", Reason: "empty"}
	case total > MaxAudioFileBytes:
		return nil, "", &RequestError{Field: "file", Reason: fmt.Sprintf("more than %d MB; send larger audio by URL", MaxAudioFileBytes>>20)}
	default:
		return b.Bytes()[start : start+int(total)], name, nil
	}
}

// fileName is the name to send: name, or for a file without one, audio.EXT when
// its header says WAV, FLAC or MP3.
func fileName(name string, head []byte) (string, error) {
	if name != "" {
		return name, nil
	}
	if len(head) == 0 {
		return "", &RequestError{Field: "file", Reason: "empty"}
	}
	if format := audio.Sniff(head); format != "" {
		return "audio." + format, nil
	}
	return "", &RequestError{Field: "file_name", Reason: "empty, and the file is not WAV, FLAC or MP3: name it with its extension"}
}

// speechFormats are the response formats Groq's speech endpoint takes.
var speechFormats = map[string]bool{"": true, "flac": true, "mp3": true, "mulaw": true, "ogg": true, "wav": true}

func validateSpeech(r *SpeechRequest) error {
	switch {
	case strings.TrimSpace(r.Input) == "":
		return &RequestError{Field: "input", Reason: "empty"}
	case len(r.Input) > MaxSpeechInput:
		return &RequestError{Field: "input", Reason: fmt.Sprintf("%d bytes; at most %d", len(r.Input), MaxSpeechInput)}
	case !utf8.ValidString(r.Input):
		return &RequestError{Field: "input", Reason: "not valid UTF-8"}
	case !speechFormats[r.ResponseFormat]:
		return &RequestError{Field: "response_format", Reason: fmt.Sprintf("%q: Groq takes flac, mp3, mulaw, ogg or wav", r.ResponseFormat)}
	case r.SampleRate < 0:
		return &RequestError{Field: "sample_rate", Reason: "negative"}
	case r.Speed != nil && !(*r.Speed >= 0.5 && *r.Speed <= 5):
		return &RequestError{Field: "speed", Reason: fmt.Sprintf("%v is outside [0.5, 5]", *r.Speed)}
	}
	return nil
}
