package atomicfile

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWrite: the file is replaced whole, readable by its owner only; a
// symbolic link (even to a file not made yet) is written through and stays a
// link; a directory that cannot be written leaves the old file and no temporary.
func TestWrite(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f.json")
	require.NoError(t, os.WriteFile(p, []byte("old old old"), 0o644))
	require.NoError(t, Write(p, []byte("new"), true))
	data, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Equal(t, "new", string(data))
	st, err := os.Stat(p)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	link := filepath.Join(dir, "link.json")
	require.NoError(t, os.Symlink("later.json", link)) // relative, to a file not made yet
	require.NoError(t, Write(link, []byte("through"), false))
	data, err = os.ReadFile(filepath.Join(dir, "later.json"))
	require.NoError(t, err)
	assert.Equal(t, "through", string(data))
	lst, err := os.Lstat(link)
	require.NoError(t, err)
	assert.NotZero(t, lst.Mode()&os.ModeSymlink, "the link stays a link")

	if os.Geteuid() != 0 { // root writes anywhere
		ro := filepath.Join(dir, "ro")
		require.NoError(t, os.Mkdir(ro, 0o700))
		q := filepath.Join(ro, "f.json")
		require.NoError(t, os.WriteFile(q, []byte("kept"), 0o600))
		require.NoError(t, os.Chmod(ro, 0o500))
		t.Cleanup(func() { os.Chmod(ro, 0o700) })
		require.Error(t, Write(q, []byte("lost"), false))
		data, err = os.ReadFile(q)
		require.NoError(t, err)
		assert.Equal(t, "kept", string(data))
	}
	temps, _ := filepath.Glob(filepath.Join(dir, ".*.tmp-*"))
	assert.Empty(t, temps, "no temporary left")
	os.WriteFile(filepath.Join(dir, ".f.json.tmp-123"), nil, 0o600)
	RemoveDeadTemps(p)
	temps, _ = filepath.Glob(filepath.Join(dir, ".*.tmp-*"))
	assert.Empty(t, temps, "a dead writer's temporary is removed")
}
