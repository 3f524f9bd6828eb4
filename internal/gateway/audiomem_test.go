package gateway

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
	"github.com/groqkit/groq/internal/audio"
)

// upstreamEnv makes the test binary a groqtest server in a process of its own
// (see startUpstream), so that the simulator's memory is not the gateway's.
const upstreamEnv = "GROQ_GATEWAY_TEST_UPSTREAM"

// serveUpstream runs groqtest with generous audio limits, prints its URL and
// serves until its standard input closes.
func serveUpstream() {
	srv := groqtest.NewServer(groqtest.WithModel("whisper-large-v3", groqtest.Limits{RPM: 100_000, RPD: 1_000_000, ASH: 1 << 30, ASD: 1 << 30}))
	fmt.Println(srv.URL())
	io.Copy(io.Discard, os.Stdin)
	srv.Close()
}

// startUpstream starts serveUpstream in a child process and returns its URL; it
// stops when the test ends.
func startUpstream(t *testing.T) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), upstreamEnv+"=1")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err, "the upstream process printed no URL")
	return strings.TrimSpace(line)
}

// heapInUse is the heap's spans in use (MemStats.HeapInuse), from runtime/metrics.
func heapInUse(s []metrics.Sample) uint64 {
	metrics.Read(s)
	return s[0].Value.Uint64() + s[1].Value.Uint64()
}

// peakHeap samples heapInUse every millisecond until stop is closed, and sends
// the highest value seen.
func peakHeap(stop <-chan struct{}, out chan<- uint64) {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}}
	var peak uint64
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		peak = max(peak, heapInUse(s))
		select {
		case <-stop:
			out <- peak
			return
		case <-tick.C:
		}
	}
}

// zeros reads as many zero bytes as asked.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// uploadBody is a transcription's multipart body around a silent WAV file of
// size bytes, made as it is read (the uploader holds none of it), its length
// and its content type.
func uploadBody(size int) (io.Reader, int64, string) {
	wav := audio.WAV(0, 48_000) // the 44-byte header, sizes set below
	binary.LittleEndian.PutUint32(wav[4:], uint32(size-8))
	binary.LittleEndian.PutUint32(wav[40:], uint32(size-44))
	const boundary = "groq-upload-boundary"
	head := "--" + boundary + "\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-large-v3\r\n" +
		"--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"talk.wav\"\r\nContent-Type: audio/wav\r\n\r\n"
	tail := "\r\n--" + boundary + "--\r\n"
	n := int64(len(head) + size + len(tail))
	return io.MultiReader(strings.NewReader(head), bytes.NewReader(wav), io.LimitReader(zeros{}, int64(size-44)), strings.NewReader(tail)),
		n, "multipart/form-data; boundary=" + boundary
}

// peakRSS is the process's peak resident set since resetPeakRSS, in bytes (0
// where /proc does not say).
func peakRSS() int64 {
	data, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// resetPeakRSS starts peakRSS again from the resident set now (Linux).
func resetPeakRSS() { os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// TestConcurrentAudioUploadsBoundHeap (audit 6): 8 concurrent uploads of a 60 MB
// file (16 MB under -race, which copies bytes ten times slower) through the gateway to groqtest (in its own process) keep the gateway's
// heap in use within audioHeapBound: the files wait on disk, and the client
// sends them from there without copying them into memory.
// Uploads beyond the bound wait for room, or get a 503 "busy": none crashes
// anything. The heap is sampled every millisecond (runtime/metrics: heap objects
// plus unused spans, i.e. MemStats.HeapInuse), less what it held before.
func TestConcurrentAudioUploadsBoundHeap(t *testing.T) {
	const uploads = 8
	size := 60 << 20
	if raceBuild { // a 60 MB upload takes seconds under the race detector
		size = 16 << 20
	}
	upstream := startUpstream(t)
	c, err := groq.NewClient(groq.WithAPIKeys("gsk_upstream_secret"), groq.WithBaseURL(upstream), groq.WithMaxConcurrency(16),
		groq.WithModelLimits("whisper-large-v3", groq.Limits{RPM: 100_000, RPD: 1_000_000, ASH: 1 << 30, ASD: 1 << 30}), ClientOption())
	require.NoError(t, err)
	defer c.Close()
	gw, err := New(c, Config{})
	require.NoError(t, err)
	gw.bodyWait = time.Minute // callers past the bound wait for room here: the figure is the bound's
	front := httptest.NewServer(gw)
	defer front.Close()

	runtime.GC()
	resetPeakRSS()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}}
	base := heapInUse(s)
	stop, peakc := make(chan struct{}), make(chan uint64, 1)
	go peakHeap(stop, peakc)
	start := time.Now()
	var ok, busy atomic.Int64
	var wg sync.WaitGroup
	for range uploads {
		wg.Go(func() {
			body, n, ct := uploadBody(size)
			req, err := http.NewRequest(http.MethodPost, front.URL+"/v1/audio/transcriptions", body)
			if !assert.NoError(t, err) {
				return
			}
			req.ContentLength = n
			req.Header.Set("Content-Type", ct)
			resp, err := http.DefaultClient.Do(req)
			if !assert.NoError(t, err) {
				return
			}
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch {
			case resp.StatusCode == http.StatusOK:
				var tr groq.Transcription
				assert.NoError(t, json.Unmarshal(data, &tr))
				assert.NotEmpty(t, tr.Text)
				ok.Add(1)
			case resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(string(data), `"code":"busy"`):
				busy.Add(1)
			default:
				t.Errorf("upload: %d %s", resp.StatusCode, data)
			}
		})
	}
	wg.Wait()
	close(stop)
	peak := <-peakc
	grew := int64(peak) - int64(base)
	t.Logf("%d uploads of %d MB: %d answered, %d refused busy, in %v; the gateway's heap in use grew by at most %d MB (from %d MB), its peak RSS %d MB; the bound on bodies in flight is %d MB",
		uploads, size>>20, ok.Load(), busy.Load(), time.Since(start).Round(time.Millisecond), grew>>20, base>>20, peakRSS()>>20, DefaultMaxBodiesInFlight>>20)
	assert.Equal(t, int64(uploads), ok.Load()+busy.Load())
	assert.Positive(t, ok.Load())
	assert.LessOrEqual(t, grew, int64(audioHeapBound), "peak heap in use past the bound")
}

// audioHeapBound is what TestConcurrentAudioUploadsBoundHeap lets the heap grow:
// a quarter of the bound on bodies in flight, which lie in temporary files. It
// measured 16–19 MB (433 MB when the client copied each file into memory).
const audioHeapBound = DefaultMaxBodiesInFlight / 4
