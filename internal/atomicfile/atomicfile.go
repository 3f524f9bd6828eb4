// Package atomicfile replaces files whole: a reader sees the old file or the new
// one, never a mix. The client's cache and budget files and the command's output
// files use it.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write replaces path with data: a temporary file in the same directory,
// readable by its owner only, renamed over path, so that a reader sees the old
// file or the new one, never a mix. A symbolic link is followed: its target is
// replaced, the link stays. With sync, the data and the directory entry
// are flushed to disk before it returns.
func Write(path string, data []byte, sync bool) error {
	if st, err := os.Lstat(path); err == nil && st.Mode()&os.ModeSymlink != 0 {
		// Written through: the link's target is replaced, never the link.
		target, err := filepath.EvalSymlinks(path)
		if err != nil { // a link to a file not made yet
			l, rerr := os.Readlink(path)
			if rerr != nil {
				return err
			}
			if !filepath.IsAbs(l) {
				l = filepath.Join(filepath.Dir(path), l)
			}
			target = l
		}
		path = target
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if sync {
		if err := f.Sync(); err != nil {
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	if sync {
		if d, err := os.Open(dir); err == nil {
			d.Sync()
			d.Close()
		}
	}
	return nil
}

// RemoveDeadTemps removes the temporary files Write left beside path
// when its process died before the rename. Call it only holding the lock that
// every writer of path holds while it writes, so that none of them is alive.
func RemoveDeadTemps(path string) {
	dead, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*"))
	for _, f := range dead {
		os.Remove(f)
	}
}
