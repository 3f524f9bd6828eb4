package groq_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
)

// TestTornJournalLineLosesNothing: a journal whose last line a dead writer left
// unfinished (a full disk, a kill) loses no later entry: the next writer ends the
// torn line before it appends.
func TestTornJournalLineLosesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.json")
	a, err := groq.OpenFileCache(path, time.Hour, 0, nil)
	require.NoError(t, err)
	defer a.Close()
	f, err := os.OpenFile(path+".journal", os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString(`{"op":"set","key":"torn","resp`) // no end of line
	require.NoError(t, err)
	f.Close()

	ctx := context.Background()
	resp := &groq.ChatResponse{ID: "after", Choices: []groq.Choice{{Message: groq.Message{Role: "assistant", Content: "kept"}}}}
	require.NoError(t, a.Set(ctx, "k-after", resp))

	b, err := groq.OpenFileCache(path, time.Hour, 0, nil)
	require.NoError(t, err)
	defer b.Close()
	got, ok := b.Get(ctx, "k-after")
	require.True(t, ok, "the entry written after the torn line is seen by another process")
	assert.Equal(t, "after", got.ID)
}

// TestFileCacheRemovesDeadTemps: the snapshot's temporary files a killed writer
// left are removed when the cache is opened.
func TestFileCacheRemovesDeadTemps(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.json")
	dead := filepath.Join(dir, ".c.json.tmp-999")
	require.NoError(t, os.WriteFile(dead, make([]byte, 1<<20), 0o600))
	fc, err := groq.OpenFileCache(path, time.Hour, 0, nil)
	require.NoError(t, err)
	defer fc.Close()
	_, err = os.Stat(dead)
	assert.True(t, os.IsNotExist(err), "removed: %v", err)
}

func TestFileCacheSurvivesRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "cache.json")
		srv := groqtest.NewUnstartedServer()
		mk := func() *groq.Client {
			c, err := groq.NewClient(groq.WithAPIKeys("gsk_secret_key_in_file_test"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()),
				groq.WithCacheFile(path, time.Hour))
			require.NoError(t, err)
			return c
		}
		c := mk()
		first, err := c.Chat(context.Background(), hello)
		require.NoError(t, err)
		require.NoError(t, c.Close())

		st, err := os.Stat(path)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "readable by its owner only")
		data, _ := os.ReadFile(path)
		assert.NotContains(t, string(data), "gsk_secret_key_in_file_test", "never the API key")
		assert.Contains(t, string(data), "Simulated answer to", first.Text())

		c = mk()
		again, err := c.Chat(context.Background(), hello)
		require.NoError(t, err)
		assert.True(t, again.Meta.FromCache)
		assert.Equal(t, 1, srv.Stats().Requests)
		require.NoError(t, c.Close())

		// After the TTL, a restart drops the entry on load.
		time.Sleep(time.Hour)
		c = mk()
		res, err := c.Chat(context.Background(), hello)
		require.NoError(t, err)
		assert.False(t, res.Meta.FromCache)
		c.Close()
	})
}

func TestCacheFileBound(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.json")
	srv := groqtest.NewUnstartedServer()
	c, err := groq.NewClient(groq.WithAPIKeys("k"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()),
		groq.WithCacheFile(path, time.Hour), groq.WithCacheMaxEntries(3))
	require.NoError(t, err)
	for i := range 5 {
		_, err := c.Chat(context.Background(), []groq.Message{groq.User(fmt.Sprint(i))})
		require.NoError(t, err)
	}
	require.NoError(t, c.Close())
	fc, err := groq.OpenFileCache(path, time.Hour, 0, nil)
	require.NoError(t, err)
	defer fc.Close()
	assert.Equal(t, 3, fc.Len(), "the least recently used entries were evicted")
	_, err = groq.NewClient(groq.WithAPIKeys("k"), groq.WithCacheMaxEntries(-1))
	assert.Error(t, err)
}

func TestFileCacheExpiredDroppedOnLoad(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "c.json")
		fc, err := groq.OpenFileCache(path, time.Minute, 0, nil)
		require.NoError(t, err)
		ctx := context.Background()
		fc.Set(ctx, "old", &groq.ChatResponse{Model: "m"})
		time.Sleep(50 * time.Second)
		fc.Set(ctx, "new", &groq.ChatResponse{Model: "m"})
		require.NoError(t, fc.Close())
		time.Sleep(20 * time.Second)
		fc, err = groq.OpenFileCache(path, time.Minute, 0, nil)
		require.NoError(t, err)
		defer fc.Close()
		assert.Equal(t, 1, fc.Len(), "the expired entry was dropped when the file was loaded")
		_, ok := fc.Get(ctx, "new")
		assert.True(t, ok)
	})
}

func TestFileCacheCorruptFileMovedAside(t *testing.T) {
	for name, content := range map[string]string{
		"garbage":   "this is not json",
		"truncated": `{"version":1,"entries":[{"key":"a","created":"2026-01-01T00:00:00Z","expi`,
		"version":   `{"version":99,"entries":[]}`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "cache.json")
			require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
			var logs bytes.Buffer
			fc, err := groq.OpenFileCache(path, time.Hour, 0, slog.New(slog.NewTextHandler(&logs, nil)))
			require.NoError(t, err)
			assert.Equal(t, 0, fc.Len())
			assert.Contains(t, logs.String(), "corrupt")
			aside, _ := filepath.Glob(path + ".corrupt-*")
			require.Len(t, aside, 1, "the corrupt file is kept")
			kept, _ := os.ReadFile(aside[0])
			assert.Equal(t, content, string(kept))
			// The cache works.
			require.NoError(t, fc.Set(context.Background(), "k", &groq.ChatResponse{Model: "m"}))
			require.NoError(t, fc.Close())
			fc2, _ := groq.OpenFileCache(path, time.Hour, 0, nil)
			assert.Equal(t, 1, fc2.Len())
			fc2.Close()
		})
	}
}

func TestFileCacheUnwritable(t *testing.T) {
	dir := t.TempDir()
	notADir := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(notADir, nil, 0o600))
	var logs bytes.Buffer
	srv := groqtest.NewUnstartedServer()
	c, err := groq.NewClient(groq.WithAPIKeys("k"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()),
		groq.WithCacheFile(filepath.Join(notADir, "cache.json"), time.Hour), groq.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	require.NoError(t, err)
	for range 2 {
		_, err = c.Chat(context.Background(), hello)
		require.NoError(t, err, "Chat works when the cache file cannot be written")
	}
	assert.Equal(t, 1, srv.Stats().Requests, "the cache still works in memory")
	c.Close()
	assert.Contains(t, logs.String(), "level=ERROR")
	assert.Contains(t, logs.String(), "cache file not written")
}

func TestFileCacheDiskFull(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Fatalf("this test needs /dev/full to simulate a full disk: %v", err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "cache.json")
	require.NoError(t, os.Symlink("/dev/full", path+".journal"))
	var logs bytes.Buffer
	srv := groqtest.NewUnstartedServer()
	c, err := groq.NewClient(groq.WithAPIKeys("k"), groq.WithBaseURL(srv.URL()), groq.WithHTTPClient(srv.Client()),
		groq.WithCacheFile(path, time.Hour), groq.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	require.NoError(t, err)
	_, err = c.Chat(context.Background(), hello)
	require.NoError(t, err)
	assert.Contains(t, logs.String(), "no space left on device")
	c.Close()
}

// TestFileCacheSeveralProcesses runs three more processes (this test binary) that
// write to the same file while this one does, each folding the journal now and then
// and looking up keys it does not have (which reads the others' lines), and checks
// that no entry is lost and no line is misread.
func TestFileCacheSeveralProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shared.json")
	const n, children = 300, 3
	var cmds []*exec.Cmd
	var outs []*bytes.Buffer
	for i := range children {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperCacheWriter$")
		cmd.Env = append(os.Environ(), "GROQ_CACHE_HELPER="+path, fmt.Sprintf("GROQ_CACHE_HELPER_N=%d", n),
			fmt.Sprintf("GROQ_CACHE_HELPER_WHO=child%d", i))
		out := new(bytes.Buffer)
		cmd.Stdout, cmd.Stderr = out, out
		require.NoError(t, cmd.Start())
		cmds, outs = append(cmds, cmd), append(outs, out)
	}
	writeEntries(t, path, "parent", n)
	for i, cmd := range cmds {
		require.NoError(t, cmd.Wait(), "helper %d: %s", i, outs[i].String())
		assert.NotContains(t, outs[i].String(), "unreadable", "helper %d misread the journal", i)
	}

	fc, err := groq.OpenFileCache(path, time.Hour, 0, nil)
	require.NoError(t, err)
	defer fc.Close()
	ctx := context.Background()
	lost := 0
	for _, who := range []string{"parent", "child0", "child1", "child2"} {
		for i := range n {
			if _, ok := fc.Get(ctx, fmt.Sprintf("%s-%d", who, i)); !ok {
				lost++
			}
		}
	}
	assert.Equal(t, 0, lost, "entries lost")
	assert.Equal(t, (children+1)*n, fc.Len())
}

// writeEntries writes n entries as who, folds the journal every 100, and after
// each write looks up a key nobody writes, so that it reads what the other
// processes appended. Warnings go to stderr.
func writeEntries(t *testing.T, path, who string, n int) {
	fc, err := groq.OpenFileCache(path, time.Hour, 0, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	require.NoError(t, err)
	ctx := context.Background()
	for i := range n {
		require.NoError(t, fc.Set(ctx, fmt.Sprintf("%s-%d", who, i), &groq.ChatResponse{Model: who, Choices: []groq.Choice{{Message: groq.Assistant(strings.Repeat("x", 200))}}}))
		fc.Get(ctx, "nobody-"+who)
		if i%100 == 50 {
			require.NoError(t, fc.Flush()) // fold the journal while the others append
		}
	}
	require.NoError(t, fc.Close())
}

func TestHelperCacheWriter(t *testing.T) {
	path := os.Getenv("GROQ_CACHE_HELPER")
	if path == "" {
		t.Skip("runs only as a child process of TestFileCacheSeveralProcesses")
	}
	var n int
	fmt.Sscan(os.Getenv("GROQ_CACHE_HELPER_N"), &n)
	writeEntries(t, path, os.Getenv("GROQ_CACHE_HELPER_WHO"), n)
}

// FuzzFileCacheLoad: whatever the snapshot and journal hold, opening the cache
// neither panics nor hangs, and what it serves decodes.
func FuzzFileCacheLoad(f *testing.F) {
	good, _ := json.Marshal(map[string]any{"version": 1, "generation": 3, "entries": []map[string]any{
		{"key": "k1", "created": "2026-01-01T00:00:00Z", "expires": "2999-01-01T00:00:00Z", "response": map[string]any{"id": "x", "choices": []any{}}},
	}})
	f.Add(good, []byte(`{"op":"gen","gen":3}`+"\n"+`{"op":"set","key":"k2","created":"2026-01-01T00:00:00Z","expires":"2999-01-01T00:00:00Z","response":{"id":"y"}}`+"\n"))
	f.Add([]byte(`{"version":2}`), []byte(`{"op":"del","key":"k1"}`+"\n"+`{"op":"gen"`))
	f.Add([]byte{}, []byte("\n\n{}\n"))
	f.Fuzz(func(t *testing.T, snapshot, journal []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "c.json")
		if len(snapshot) > 0 {
			require.NoError(t, os.WriteFile(path, snapshot, 0o600))
		}
		require.NoError(t, os.WriteFile(path+".journal", journal, 0o600))
		fc, err := groq.OpenFileCache(path, time.Hour, 100, nil)
		require.NoError(t, err)
		for _, k := range []string{"k1", "k2", ""} {
			if resp, ok := fc.Get(context.Background(), k); ok && resp == nil {
				t.Fatalf("Get(%q) = nil, true", k)
			}
		}
		require.NoError(t, fc.Set(context.Background(), "k3", &groq.ChatResponse{ID: "z"}))
		fc.Close()
	})
}

// TestFileCacheRefusesSpecialFiles: a path that is a directory (or a device, a
// FIFO) is refused, and left as it was; a symbolic link is written through.
func TestFileCacheRefusesSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "sub")
	require.NoError(t, os.Mkdir(sub, 0o700))
	_, err := groq.OpenFileCache(sub, time.Hour, 0, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not a regular file")
	st, err := os.Stat(sub)
	require.NoError(t, err)
	assert.True(t, st.IsDir(), "left as it was")
	_, err = os.Stat(sub + ".journal")
	assert.True(t, os.IsNotExist(err), "nothing created beside it")

	target := filepath.Join(dir, "real.json")
	link := filepath.Join(dir, "link.json")
	require.NoError(t, os.Symlink(target, link))
	fc, err := groq.OpenFileCache(link, time.Hour, 0, nil)
	require.NoError(t, err)
	resp := &groq.ChatResponse{ID: "x", Choices: []groq.Choice{{Message: groq.Message{Role: "assistant", Content: "y"}}}}
	require.NoError(t, fc.Set(context.Background(), "k", resp))
	require.NoError(t, fc.Close())
	lst, err := os.Lstat(link)
	require.NoError(t, err)
	assert.NotZero(t, lst.Mode()&os.ModeSymlink, "the link is still a link")
	_, err = os.Stat(target)
	assert.NoError(t, err, "the snapshot went through it")
}
