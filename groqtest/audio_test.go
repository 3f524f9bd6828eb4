package groqtest

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/groqkit/groq/internal/audio"
)

// postAudio sends body to the simulator's path and returns the status, the content
// type and the body.
func postAudio(t *testing.T, srv *Server, path, contentType string, body []byte) (int, string, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL()+path, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer gsk_audio")
	req.Header.Set("Content-Type", contentType)
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

// upload posts a transcription (or translation) form.
func upload(t *testing.T, srv *Server, path, model, name string, file []byte, format string) (int, []byte) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mw.WriteField("model", model)
	fw, err := mw.CreateFormFile("file", name)
	require.NoError(t, err)
	fw.Write(file)
	if format != "" {
		mw.WriteField("response_format", format)
	}
	require.NoError(t, mw.Close())
	status, _, body := postAudio(t, srv, path, mw.FormDataContentType(), b.Bytes())
	return status, body
}

// TestSimulatorRefusesWhatGroqRefuses: a made-up voice, a chat model for audio,
// an audio model for chat, a text file named .wav, a translation by a model that
// does not translate: 400s naming the param, as Groq answers.
func TestSimulatorRefusesWhatGroqRefuses(t *testing.T) {
	srv := NewUnstartedServer()
	speech := func(model, voice string) (int, []byte) {
		status, _, body := postAudio(t, srv, "/audio/speech", "application/json",
			[]byte(`{"model":"`+model+`","input":"hello there","voice":"`+voice+`"}`))
		return status, body
	}
	status, body := speech("canopylabs/orpheus-v1-english", "nobody")
	assert.Equal(t, 400, status)
	assert.Contains(t, string(body), `"param":"voice"`)
	assert.Contains(t, string(body), "autumn")
	status, body = speech("llama-3.1-8b-instant", "autumn")
	assert.Equal(t, 400, status, "a chat model does not speak: %s", body)
	assert.Contains(t, string(body), "does not support text to speech")

	wav := audio.WAV(3, 16000)
	status, body = upload(t, srv, "/audio/transcriptions", "llama-3.1-8b-instant", "a.wav", wav, "")
	assert.Equal(t, 400, status, "a chat model does not transcribe: %s", body)
	status, body = upload(t, srv, "/audio/transcriptions", "canopylabs/orpheus-v1-english", "a.wav", wav, "")
	assert.Equal(t, 400, status, "a speech model does not transcribe: %s", body)
	status, body = upload(t, srv, "/audio/translations", "whisper-large-v3-turbo", "a.wav", wav, "")
	assert.Equal(t, 400, status, "turbo does not translate: %s", body)
	status, body = upload(t, srv, "/audio/transcriptions", "whisper-large-v3", "a.wav", []byte("just some text, named a.wav\n"), "")
	assert.Equal(t, 400, status, "a text file named .wav: %s", body)
	assert.Contains(t, string(body), "valid media file")

	status, _, body = postAudio(t, srv, "/chat/completions", "application/json",
		[]byte(`{"model":"whisper-large-v3","messages":[{"role":"user","content":"hi"}]}`))
	assert.Equal(t, 400, status, "an audio model does not chat: %s", body)
	assert.Contains(t, string(body), "does not support chat completions")
	assert.Zero(t, srv.Stats().AudioSecs, "nothing refused is charged")
}

// TestSimulatorSpeaksTheFormatAsked: the bytes are the format asked for and
// labelled with its content type, at Groq's 48 kHz.
func TestSimulatorSpeaksTheFormatAsked(t *testing.T) {
	srv := NewUnstartedServer()
	for format, ct := range map[string]string{"wav": "audio/wav", "mp3": "audio/mpeg", "flac": "audio/flac", "ogg": "audio/ogg"} {
		status, gotCT, body := postAudio(t, srv, "/audio/speech", "application/json",
			[]byte(`{"model":"canopylabs/orpheus-v1-english","input":"one two three four five","voice":"autumn","response_format":"`+format+`"}`))
		require.Equal(t, 200, status, "%s: %s", format, body)
		assert.Equal(t, ct, gotCT, format)
		assert.Equal(t, format, audio.Sniff(body), "%s: the bytes are the format", format)
		secs, _, ok := audio.Duration(body)
		require.True(t, ok, format)
		assert.InDelta(t, 2, secs, 0.025, "%s: 0.4 s a word", format)
	}
}

// TestSimulatorReadsOggAndSaysTranslation: an Ogg file is charged its real
// duration (2.94 s, not 3.89 s from its size), and a translation says so.
func TestSimulatorReadsOggAndSaysTranslation(t *testing.T) {
	srv := NewUnstartedServer()
	status, body := upload(t, srv, "/audio/transcriptions", "whisper-large-v3", "talk.ogg", audio.OggOpus(2.94), "verbose_json")
	require.Equal(t, 200, status, string(body))
	var v struct {
		Task     string  `json:"task"`
		Duration float64 `json:"duration"`
		Text     string  `json:"text"`
	}
	require.NoError(t, json.Unmarshal(body, &v))
	assert.InDelta(t, 2.94, v.Duration, 1e-9)
	assert.Equal(t, "transcribe", v.Task)

	status, body = upload(t, srv, "/audio/translations", "whisper-large-v3", "talk.ogg", audio.OggOpus(2.94), "verbose_json")
	require.Equal(t, 200, status, string(body))
	require.NoError(t, json.Unmarshal(body, &v))
	assert.Equal(t, "translate", v.Task)
	assert.True(t, strings.HasPrefix(v.Text, "A simulated translation"), v.Text)
}
