package groqtest

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/groqkit/groq/internal/audio"
)

// minAudioSeconds is the least Groq charges a transcription.
const minAudioSeconds = 10

// audioCall is one audio request as the simulator counts it.
type audioCall struct {
	s       *Server
	w       http.ResponseWriter
	r       *http.Request
	reqID   string
	arrival Arrival
}

// begin counts a request to an audio endpoint and checks its key.
func (s *Server) beginAudio(w http.ResponseWriter, r *http.Request) (*audioCall, string, bool) {
	a := &audioCall{s: s, w: w, r: r, reqID: s.requestID(), arrival: Arrival{At: time.Now(), Key: bearer(r)}}
	s.mu.Lock()
	s.stats.Requests++
	s.stats.PerKey[a.arrival.Key]++
	s.mu.Unlock()
	org, ok := s.org(a.arrival.Key)
	if !ok {
		a.fail(http.StatusUnauthorized, "Invalid API Key", "invalid_api_key", "")
		return nil, "", false
	}
	a.arrival.Org = org
	return a, org, true
}

// record notes the answer's status in the stats and the arrivals.
func (a *audioCall) record(status int) {
	a.arrival.Status = status
	a.s.record(a.arrival, true)
}

// fail answers an error as Groq does, and records it.
func (a *audioCall) fail(status int, msg, code, param string) {
	a.record(status)
	writeError(a.w, a.reqID, errorBody{status, msg, "invalid_request_error", code, param})
}

// speechVoices are the voices of Groq's text-to-speech models.
var speechVoices = map[string][]string{
	"canopylabs/orpheus-v1-english":   {"autumn", "diana", "hannah", "austin", "daniel", "troy"},
	"canopylabs/orpheus-arabic-saudi": {"fahad", "sultan", "lulwa", "noura"},
}

// Model kinds: what a model serves.
const (
	kindChat       = "chat completions"
	kindSpeech     = "text to speech"
	kindTranscribe = "speech to text"
)

// modelKind is what a model serves, by its limits (seconds of audio: speech to
// text) or its name (whisper, a known voice table, "tts").
func modelKind(name string, l Limits) string {
	switch {
	case l.ASH > 0 || l.ASD > 0 || strings.HasPrefix(name, "whisper"):
		return kindTranscribe
	case speechVoices[name] != nil || strings.Contains(name, "tts"):
		return kindSpeech
	}
	return kindChat
}

// notForChat is Groq's refusal of a chat completion on an audio model, or "".
func notForChat(name string, l Limits) string {
	if k := modelKind(name, l); k != kindChat {
		return fmt.Sprintf("The model `%s` is a %s model and does not support chat completions.", name, k)
	}
	return ""
}

// kind refuses a model that does not serve want (a chat model for audio, a
// text-to-speech model for a transcription), as Groq does.
func (a *audioCall) kind(name string, l Limits, want string) bool {
	if k := modelKind(name, l); k != want {
		a.fail(http.StatusBadRequest, fmt.Sprintf("The model `%s` is a %s model and does not support %s.", name, k, want), "", "model")
		return false
	}
	return true
}

// model checks the model and returns its limits.
func (a *audioCall) model(name string) (Limits, bool) {
	s := a.s
	a.arrival.Model = name
	s.mu.Lock()
	s.stats.PerModel[name]++
	l, known := s.models[name]
	s.mu.Unlock()
	if name == "" {
		a.fail(http.StatusBadRequest, "model is required", "", "model")
		return l, false
	}
	if !known {
		a.fail(http.StatusNotFound, fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", name), "model_not_found", "")
		return l, false
	}
	return l, true
}

// admit takes cost from the organization's buckets for the model, or answers the
// 429 (or 413) and returns false.
func (a *audioCall) admit(org, model string, l Limits, cost int) bool {
	s := a.s
	if (l.ASH > 0 && cost > l.ASH) || (l.ASD > 0 && cost > l.ASD) {
		a.fail(http.StatusRequestEntityTooLarge, fmt.Sprintf("Request too large for model `%s` in organization `%s` service tier `on_demand` on seconds of audio: Requested %d", model, org, cost), "rate_limit_exceeded", "")
		return false
	}
	d := s.admit(org, model, l, time.Now(), cost)
	if d.violation {
		s.mu.Lock()
		s.stats.Violations++
		s.mu.Unlock()
	}
	switch d.status {
	case http.StatusTooManyRequests:
		a.record(d.status)
		s.writeRateLimited(a.w, a.r, &request{Model: model}, org, d, a.reqID)
		return false
	case http.StatusRequestEntityTooLarge:
		a.fail(d.status, fmt.Sprintf("Request too large for model `%s` in organization `%s` service tier `on_demand` on tokens per minute (TPM): Limit %d, Requested %d, please reduce your message size and try again.", model, org, d.limit, d.requested), "rate_limit_exceeded", "")
		return false
	}
	if s.latency > 0 {
		sleepCtx(a.r, s.latency)
	}
	return true
}

// ok writes a 200 with the organization's headers.
func (a *audioCall) ok(org, model, contentType string, body []byte) {
	s := a.s
	s.mu.Lock()
	hdr := s.headersLocked(s.buckets[org+"\x00"+model], time.Now())
	s.mu.Unlock()
	copyHeader(a.w.Header(), hdr)
	a.w.Header().Set("X-Request-Id", a.reqID)
	a.w.Header().Set("Content-Type", contentType)
	a.record(http.StatusOK)
	a.w.Write(body)
}

// transcribe serves POST /audio/transcriptions and /audio/translations: multipart
// with model, file or url, language, prompt, response_format, temperature and
// timestamp_granularities[]. It charges ASH and ASD the file's duration (read from
// a WAV, FLAC or MP3 header, else estimated at 64 kbit/s; 10 s for a URL), at
// least 10 s, and answers json, text or verbose_json.
func (s *Server) transcribe(w http.ResponseWriter, r *http.Request, translate bool) {
	a, org, ok := s.beginAudio(w, r)
	if !ok {
		return
	}
	if err := r.ParseMultipartForm(8 << 20); err != nil {
		a.fail(http.StatusBadRequest, "request must be multipart/form-data: "+err.Error(), "", "")
		return
	}
	if r.MultipartForm != nil {
		defer r.MultipartForm.RemoveAll()
	}
	form := r.MultipartForm.Value
	get := func(k string) string {
		if v := form[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	model := get("model")
	l, ok := a.model(model)
	if !ok || !a.kind(model, l, kindTranscribe) {
		return
	}
	if translate && model == "whisper-large-v3-turbo" {
		a.fail(http.StatusBadRequest, "The model `whisper-large-v3-turbo` does not support translations; use whisper-large-v3.", "", "model")
		return
	}
	seconds, ok := a.audioFile(get("url"))
	if !ok {
		return
	}
	format, grans := get("response_format"), form["timestamp_granularities[]"]
	if !a.checkForm(format, grans, translate && get("language") != "") {
		return
	}
	cost := max(minAudioSeconds, int(math.Ceil(seconds)))
	if !a.admit(org, model, l, cost) {
		return
	}
	s.mu.Lock()
	s.stats.AudioSecs += cost
	s.mu.Unlock()
	task := map[bool]string{false: "transcription", true: "translation"}[translate]
	text := fmt.Sprintf("A simulated %s of %.1f seconds of audio.", task, seconds)
	switch format {
	case "text":
		a.ok(org, model, "text/plain; charset=utf-8", []byte(text+"\n"))
		return
	case "verbose_json":
		lang := get("language")
		if lang == "" || translate {
			lang = "en"
		}
		v := map[string]any{"task": "transcribe", "language": lang, "duration": seconds, "text": text,
			"segments": segments(text, seconds), "x_groq": map[string]any{"id": a.reqID}}
		if translate {
			v["task"] = "translate"
		}
		if slices.Contains(grans, "word") {
			v["words"] = words(text, seconds)
		}
		b, _ := json.Marshal(v)
		a.ok(org, model, "application/json", b)
		return
	}
	b, _ := json.Marshal(map[string]any{"text": text, "x_groq": map[string]any{"id": a.reqID}})
	a.ok(org, model, "application/json", b)
}

// checkForm refuses what Groq refuses of a transcription's form: srt and vtt,
// another format, timestamps without verbose_json, a translation's language.
func (a *audioCall) checkForm(format string, grans []string, translationLanguage bool) bool {
	switch {
	case format == "srt" || format == "vtt":
		a.fail(http.StatusBadRequest, fmt.Sprintf("response_format `%s` is not supported", format), "", "response_format")
	case format != "" && format != "json" && format != "text" && format != "verbose_json":
		a.fail(http.StatusBadRequest, fmt.Sprintf("response_format must be one of json, text, verbose_json; got `%s`", format), "", "response_format")
	case len(grans) > 0 && format != "verbose_json":
		a.fail(http.StatusBadRequest, "timestamp_granularities requires response_format verbose_json", "", "timestamp_granularities")
	case translationLanguage:
		a.fail(http.StatusBadRequest, "language is not supported for translations", "", "language")
	default:
		return true
	}
	return false
}

// audioFile reads the file part (or takes url) and returns its duration.
func (a *audioCall) audioFile(url string) (float64, bool) {
	files := a.r.MultipartForm.File["file"]
	switch {
	case len(files) == 0 && url == "":
		a.fail(http.StatusBadRequest, "either file or url must be provided", "", "file")
		return 0, false
	case len(files) > 0 && url != "":
		a.fail(http.StatusBadRequest, "only one of file or url may be provided", "", "url")
		return 0, false
	case url != "":
		if !strings.HasPrefix(url, "https://") && !strings.HasPrefix(url, "http://") {
			a.fail(http.StatusBadRequest, "url must be an http(s) URL", "", "url")
			return 0, false
		}
		return minAudioSeconds, true
	}
	fh := files[0]
	if audio.FormatOf(fh.Filename) == "" {
		a.fail(http.StatusBadRequest, fmt.Sprintf("file must be one of the following types: [%s]", strings.Join(audio.Formats, " ")), "", "file")
		return 0, false
	}
	f, err := fh.Open()
	if err != nil {
		a.fail(http.StatusBadRequest, "could not read the file", "", "file")
		return 0, false
	}
	defer f.Close()
	data, _ := io.ReadAll(f)
	if len(data) == 0 {
		a.fail(http.StatusBadRequest, "file is empty", "", "file")
		return 0, false
	}
	if audio.Sniff(data) == "" { // a text file named .wav: its bytes are no format Groq takes
		a.fail(http.StatusBadRequest, "could not process file - is it a valid media file?", "", "file")
		return 0, false
	}
	if secs, _, ok := audio.Duration(data); ok {
		return secs, true
	}
	return float64(len(data)) / 8000, true // 64 kbit/s, a common speech encoding
}

// segments splits text into segments of at most ten seconds over seconds.
func segments(text string, seconds float64) []map[string]any {
	n := max(1, int(math.Ceil(seconds/10)))
	out := make([]map[string]any, n)
	for i := range n {
		end := math.Min(seconds, float64(i+1)*10)
		t := ""
		if i == 0 {
			t = text
		}
		out[i] = map[string]any{"id": i, "seek": i * 1000, "start": float64(i) * 10, "end": end, "text": t, "tokens": []int{50365 + i},
			"temperature": 0.0, "avg_logprob": -0.2, "compression_ratio": 1.1, "no_speech_prob": 0.01}
	}
	return out
}

// words spreads text's words evenly over seconds.
func words(text string, seconds float64) []map[string]any {
	ws := strings.Fields(text)
	out := make([]map[string]any, len(ws))
	step := seconds / float64(max(1, len(ws)))
	for i, w := range ws {
		out[i] = map[string]any{"word": w, "start": float64(i) * step, "end": float64(i+1) * step}
	}
	return out
}

// speechRequest is what the simulator reads of POST /audio/speech.
type speechRequest struct {
	Model          string   `json:"model"`
	Input          string   `json:"input"`
	Voice          string   `json:"voice"`
	ResponseFormat string   `json:"response_format"`
	SampleRate     int      `json:"sample_rate"`
	Speed          *float64 `json:"speed"`
}

// speech serves POST /audio/speech: a silent file in the format asked for (WAV,
// MP3, FLAC, Ogg Opus or µ-law WAV, each labelled with its content type) of about
// 0.4 s per word, at sample_rate (default 48 kHz, as Groq's), charged the input's
// tokens against TPM and TPD. The model must be a text-to-speech model, and the
// voice one of its voices.
func (s *Server) speech(w http.ResponseWriter, r *http.Request) {
	a, org, ok := s.beginAudio(w, r)
	if !ok {
		return
	}
	var req speechRequest
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err := json.Unmarshal(body, &req); err != nil {
		a.fail(http.StatusBadRequest, "We could not parse the JSON body of your request.", "", "")
		return
	}
	l, ok := a.model(req.Model)
	if !ok || !a.kind(req.Model, l, kindSpeech) {
		return
	}
	if voices := speechVoices[req.Model]; req.Voice != "" && voices != nil && !slices.Contains(voices, req.Voice) {
		a.fail(http.StatusBadRequest, fmt.Sprintf("voice must be one of [%s] for model `%s`; got `%s`", strings.Join(voices, " "), req.Model, req.Voice), "", "voice")
		return
	}
	format := req.ResponseFormat
	if format == "" {
		format = "wav"
	}
	switch {
	case strings.TrimSpace(req.Input) == "":
		a.fail(http.StatusBadRequest, "input is required", "", "input")
		return
	case req.Voice == "":
		a.fail(http.StatusBadRequest, "voice is required", "", "voice")
		return
	case !map[string]bool{"flac": true, "mp3": true, "mulaw": true, "ogg": true, "wav": true}[format]:
		a.fail(http.StatusBadRequest, fmt.Sprintf("response_format must be one of flac, mp3, mulaw, ogg, wav; got `%s`", format), "", "response_format")
		return
	}
	if !a.admit(org, req.Model, l, countTokens(req.Input)) {
		return
	}
	rate := req.SampleRate
	if rate <= 0 {
		rate = 48000
	}
	secs := 0.4 * float64(len(strings.Fields(req.Input)))
	data, contentType := audio.Silent(format, secs, rate)
	a.w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	a.ok(org, req.Model, contentType, data)
}
