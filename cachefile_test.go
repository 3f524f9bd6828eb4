package groq_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/groqkit/groq"
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
