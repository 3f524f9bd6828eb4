package groq

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/groqkit/groq/internal/atomicfile"
)

// FileCache is a Cache kept in a JSON file, safe for concurrent use and for
// several processes sharing one file.
//
// The file (path) is a snapshot, rewritten atomically (temporary file, fsync,
// rename) and readable by its owner only. Between snapshots every Set is appended
// as one line to a journal (path + ".journal"), so its cost does not grow with the
// number of entries; the journal is folded into the snapshot when it grows past
// twice the entries, and on Close. Processes sharing the file take an advisory
// lock (path + ".lock") around every read and write of the files, fold each
// other's journal lines in, and pick up each other's new entries on a miss. Each
// fold starts a new generation, written in the snapshot and as the journal's first
// line, so that a process whose place in the journal predates another's fold
// re-reads the new snapshot and journal instead of reading on from a stale
// offset. Timestamps live inside the file.
//
// A corrupt snapshot is moved aside (path + ".corrupt-<time>"), a warning is
// logged, and the cache starts empty. When the file cannot be written (read-only
// directory, full disk) the cache keeps working in memory and logs the error.
type FileCache struct {
	mu          sync.Mutex
	path        string
	journalPath string
	ttl         time.Duration
	lru         *lru
	log         *slog.Logger

	lock         *os.File // nil when it cannot be created
	journal      *os.File // nil when it cannot be written
	journalLines int
	readOffset   int64  // how far this process has read the journal
	journalGen   uint64 // the generation of the journal this process has read
	snapGen      uint64 // the generation of the last snapshot read or written
	snapSeen     snapStamp
	writeFailed  bool
	closed       bool
}

// snapStamp identifies a version of the snapshot file, so that a process does not
// re-read a snapshot it wrote or read itself.
type snapStamp struct {
	size int64
	mod  time.Time
}

func stampOf(path string) snapStamp {
	st, err := os.Stat(path)
	if err != nil {
		return snapStamp{}
	}
	return snapStamp{st.Size(), st.ModTime()}
}

// fileEntry is one entry on disk. The response stays raw JSON until a Get needs
// it, so loading a large file parses only the envelopes.
type fileEntry struct {
	Key      string          `json:"key"`
	Created  time.Time       `json:"created"`
	Expires  time.Time       `json:"expires"`
	Response json.RawMessage `json:"response,omitempty"`
	Op       string          `json:"op,omitempty"`  // journal only: "set", "del", or "gen" (the first line)
	Gen      uint64          `json:"gen,omitempty"` // "gen": the journal's generation
}

type fileSnapshot struct {
	Version    int         `json:"version"`
	Generation uint64      `json:"generation,omitempty"` // bumped by each fold
	Entries    []fileEntry `json:"entries"`              // least recently used first
}

// OpenFileCache opens (or creates) the cache file at path. Entries live for ttl;
// maxEntries bounds them (0: unbounded). log receives warnings and errors (nil:
// discard). It fails for bad arguments, and for a path that exists and is not a
// regular file (a device such as /dev/null, a FIFO, a directory), which it never
// writes, moves or replaces; an unreadable or unwritable file is logged and the
// cache works in memory. A symbolic link is written through.
func OpenFileCache(path string, ttl time.Duration, maxEntries int, log *slog.Logger) (*FileCache, error) {
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		return nil, fmt.Errorf("groq: OpenFileCache: %s exists and is not a regular file (%s); the cache never writes it", path, st.Mode().Type())
	}
	if path == "" {
		return nil, errors.New("groq: OpenFileCache: empty path")
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("groq: OpenFileCache: TTL %v is not positive", ttl)
	}
	if maxEntries < 0 {
		return nil, fmt.Errorf("groq: OpenFileCache: negative maxEntries %d", maxEntries)
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	fc := &FileCache{path: path, journalPath: path + ".journal", ttl: ttl, lru: newLRU(maxEntries), log: log}
	if f, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o600); err == nil {
		fc.lock = f
	}
	if f, err := os.OpenFile(fc.journalPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600); err == nil {
		f.Chmod(0o600)
		fc.journal = f
	} else {
		fc.writeError("opening the journal", err)
	}
	fc.withLock(func() {
		if fc.lock != nil { // every writer holds the lock: a temporary file now is a dead writer's
			atomicfile.RemoveDeadTemps(path)
		}
		now := time.Now()
		for _, e := range fc.readSnapshot(now) {
			fc.lru.put(e)
		}
		fc.readJournal(now, 0)
		if fc.readOffset == 0 && fc.journal != nil { // a new journal: stamp its generation
			fc.writeGenLocked(fc.snapGen)
		}
	})
	return fc, nil
}

// journalGeneration reads the generation in the journal's first line (0 for a
// journal without one). The file lock is held.
func (fc *FileCache) journalGeneration() uint64 {
	f, err := os.Open(fc.journalPath)
	if err != nil {
		return 0
	}
	defer f.Close()
	buf := make([]byte, 128) // the line is {"op":"gen","gen":N}
	n, _ := f.ReadAt(buf, 0)
	line, _, ok := bytes.Cut(buf[:n], []byte{'\n'})
	if !ok {
		return 0
	}
	var e fileEntry
	if json.Unmarshal(line, &e) != nil || e.Op != "gen" {
		return 0
	}
	return e.Gen
}

// writeGenLocked starts an empty journal of generation gen. The file lock is held.
func (fc *FileCache) writeGenLocked(gen uint64) {
	line := fmt.Appendf(nil, `{"op":"gen","gen":%d}`+"\n", gen)
	if _, err := fc.journal.Write(line); err != nil {
		fc.writeError("starting the journal", err)
		return
	}
	fc.journalGen, fc.readOffset = gen, int64(len(line))
}

// syncLocked brings this process up to date with the files: when another process
// has folded the journal since this one last read it, the new snapshot and the
// whole new journal are read; otherwise the lines appended since. The file lock
// is held.
func (fc *FileCache) syncLocked(now time.Time) {
	st, err := os.Stat(fc.journalPath)
	if err != nil || !st.Mode().IsRegular() {
		return
	}
	if gen := fc.journalGeneration(); gen != fc.journalGen {
		for _, e := range fc.readSnapshot(now) {
			if _, ok := fc.lru.items[e.key]; !ok {
				fc.lru.put(e)
			}
		}
		fc.journalLines = 0
		fc.readJournal(now, 0)
		return
	}
	if st.Size() > fc.readOffset {
		fc.readJournal(now, fc.readOffset)
	}
}

func (fc *FileCache) withLock(f func()) {
	if fc.lock != nil {
		if err := lockFile(fc.lock); err == nil {
			defer unlockFile(fc.lock)
		}
	}
	f()
}

func (fc *FileCache) writeError(what string, err error) {
	if !fc.writeFailed {
		fc.log.Error("groq: cache file not written; the cache works in memory only", "path", fc.path, "while", what, "error", err)
	}
	fc.writeFailed = true
}

// readSnapshot loads the snapshot's live entries, least recently used first. A
// corrupt snapshot is moved aside. The file lock is held.
func (fc *FileCache) readSnapshot(now time.Time) []*lruEntry {
	stamp := stampOf(fc.path)
	if stamp != (snapStamp{}) && stamp == fc.snapSeen {
		return nil // this process has it already
	}
	fc.snapSeen = stamp
	data, err := os.ReadFile(fc.path)
	if err != nil {
		if !os.IsNotExist(err) {
			fc.log.Warn("groq: cannot read the cache file; starting empty", "path", fc.path, "error", err)
		}
		return nil
	}
	var snap fileSnapshot
	if err := json.Unmarshal(data, &snap); err != nil || snap.Version != 1 {
		snap = fileSnapshot{}
		if err == nil {
			err = fmt.Errorf("unknown version %d", snap.Version)
		}
		aside := fc.path + ".corrupt-" + now.UTC().Format("20060102T150405.000000000Z")
		if rerr := os.Rename(fc.path, aside); rerr != nil {
			fc.log.Warn("groq: the cache file is corrupt and cannot be moved aside; starting empty", "path", fc.path, "error", err, "rename_error", rerr)
		} else {
			fc.log.Warn("groq: the cache file is corrupt; moved aside, starting empty", "path", fc.path, "moved_to", aside, "error", err)
		}
		return nil
	}
	fc.snapGen = snap.Generation
	out := make([]*lruEntry, 0, len(snap.Entries))
	for _, e := range snap.Entries {
		if len(e.Response) == 0 || !now.Before(e.Expires) {
			continue // expired entries are dropped on load
		}
		out = append(out, &lruEntry{key: e.Key, raw: e.Response, created: e.Created, expires: e.Expires})
	}
	return out
}

// readJournal applies the journal's complete lines from offset on and remembers
// how far it read. A torn last line (a crash mid-write) is left for later; a bad
// line elsewhere is skipped with a warning. The file lock is held, or the caller
// accepts reading a line being appended (it is then left for later).
func (fc *FileCache) readJournal(now time.Time, offset int64) {
	f, err := os.Open(fc.journalPath)
	if err != nil {
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return // only a regular file is read (a device would never end)
	}
	if offset > st.Size() {
		offset = 0 // another process folded the journal and emptied it
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return
	}
	r := bufio.NewReaderSize(f, 64<<10)
	pos := offset
	bad := 0
	for {
		line, err := r.ReadBytes('\n')
		if err != nil { // no complete line left
			break
		}
		pos += int64(len(line))
		var e fileEntry
		jerr := json.Unmarshal(bytes.TrimSpace(line), &e)
		if jerr == nil && e.Op == "gen" {
			fc.journalGen = e.Gen
			continue
		}
		if jerr != nil || e.Key == "" {
			bad++
			continue
		}
		fc.journalLines++
		switch e.Op {
		case "del":
			fc.lru.remove(e.Key)
		default:
			if len(e.Response) > 0 && now.Before(e.Expires) {
				if cur, ok := fc.lru.items[e.Key]; ok && cur.Value.(*lruEntry).created.After(e.Created) {
					continue
				}
				fc.lru.put(&lruEntry{key: e.Key, raw: e.Response, created: e.Created, expires: e.Expires})
			}
		}
	}
	if bad > 0 {
		fc.log.Warn("groq: skipped unreadable lines in the cache journal", "path", fc.journalPath, "lines", bad)
	}
	fc.readOffset = pos
}

// refresh picks up entries other processes appended (or a snapshot one of them
// wrote). fc.mu is held.
func (fc *FileCache) refresh(now time.Time) {
	fc.withLock(func() { fc.syncLocked(now) })
}

// Get returns a copy of the entry for key, if present and not expired.
func (fc *FileCache) Get(_ context.Context, key string) (*ChatResponse, bool) {
	now := time.Now()
	fc.mu.Lock()
	defer fc.mu.Unlock()
	e, ok := fc.lru.get(key, now)
	if !ok && !fc.closed {
		fc.refresh(now)
		e, ok = fc.lru.get(key, now)
	}
	if !ok {
		return nil, false
	}
	if e.resp == nil {
		resp := new(ChatResponse)
		if err := json.Unmarshal(e.raw, resp); err != nil {
			fc.log.Warn("groq: dropping an unreadable cache entry", "error", err)
			fc.lru.remove(key)
			return nil, false
		}
		e.resp = resp
	}
	return cloneResponse(e.resp), true
}

// Set stores a copy of resp under key and appends it to the journal.
func (fc *FileCache) Set(_ context.Context, key string, resp *ChatResponse) error {
	now := time.Now()
	raw, err := json.Marshal(resp)
	if err != nil {
		return fmt.Errorf("groq: encoding a cache entry: %w", err)
	}
	e := &lruEntry{key: key, resp: cloneResponse(resp), raw: raw, created: now, expires: now.Add(fc.ttl)}
	line, err := json.Marshal(fileEntry{Op: "set", Key: key, Created: e.created, Expires: e.expires, Response: raw})
	if err != nil {
		return fmt.Errorf("groq: encoding a cache entry: %w", err)
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if fc.closed {
		return errors.New("groq: cache closed")
	}
	fc.lru.put(e)
	return fc.appendLocked(now, append(line, '\n'))
}

// Delete removes key, in this process and in the file.
func (fc *FileCache) Delete(_ context.Context, key string) error {
	line, _ := json.Marshal(fileEntry{Op: "del", Key: key})
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if fc.closed {
		return errors.New("groq: cache closed")
	}
	fc.lru.remove(key)
	return fc.appendLocked(time.Now(), append(line, '\n'))
}

// appendLocked writes one journal line and folds the journal when it has grown.
// fc.mu is held.
func (fc *FileCache) appendLocked(now time.Time, line []byte) error {
	if fc.journal == nil {
		return nil // already reported; memory only
	}
	var err error
	fc.withLock(func() {
		fc.syncLocked(now) // everything before this line is read, so it need not be read back
		// A writer that died mid-line (a full disk, a kill) left a line with no
		// end past what was read: end it, so that it is one bad line and this one
		// stays whole.
		if st, serr := fc.journal.Stat(); fc.lock != nil && serr == nil && st.Size() > fc.readOffset {
			line = append([]byte{'\n'}, line...)
		}
		if _, err = fc.journal.Write(line); err != nil {
			return
		}
		if pos, serr := fc.journal.Seek(0, io.SeekCurrent); serr == nil {
			fc.readOffset = pos
		}
	})
	if err != nil {
		fc.writeError("appending to the journal", err)
		return fmt.Errorf("groq: cache journal: %w", err)
	}
	fc.journalLines++
	if !fc.writeFailed && fc.journalLines > max(1024, 2*fc.lru.len()) {
		return fc.compactLocked(now, false)
	}
	return nil
}

// compactLocked folds the journal (everyone's) and this process's entries into a
// new snapshot and empties the journal. fc.mu is held.
func (fc *FileCache) compactLocked(now time.Time, sync bool) error {
	var err error
	fc.withLock(func() {
		fc.syncLocked(now) // entries other processes wrote that this one has not seen yet
		gen := max(fc.snapGen, fc.journalGen) + 1
		entries := make([]fileEntry, 0, fc.lru.len())
		for el := fc.lru.ll.Back(); el != nil; el = el.Prev() { // least recently used first
			e := el.Value.(*lruEntry)
			if now.Before(e.expires) {
				entries = append(entries, fileEntry{Key: e.key, Created: e.created, Expires: e.expires, Response: e.raw})
			}
		}
		var data []byte
		data, err = json.Marshal(fileSnapshot{Version: 1, Generation: gen, Entries: entries})
		if err != nil {
			return
		}
		if err = atomicfile.Write(fc.path, data, sync); err != nil {
			fc.writeError("writing the snapshot", err)
			return
		}
		fc.snapSeen, fc.snapGen = stampOf(fc.path), gen
		fc.journalLines, fc.readOffset = 0, 0
		if fc.journal != nil {
			if err = fc.journal.Truncate(0); err != nil {
				fc.writeError("emptying the journal", err)
				return
			}
			fc.writeGenLocked(gen)
		}
	})
	return err
}

// Flush writes a snapshot now (fsynced).
func (fc *FileCache) Flush() error {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if fc.closed {
		return nil
	}
	return fc.compactLocked(time.Now(), true)
}

// Len is the number of entries this process holds.
func (fc *FileCache) Len() int {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return fc.lru.len()
}

// Close writes a final snapshot and releases the files. It is idempotent.
func (fc *FileCache) Close() error {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if fc.closed {
		return nil
	}
	err := fc.compactLocked(time.Now(), true)
	fc.closed = true
	if fc.journal != nil {
		fc.journal.Close()
	}
	if fc.lock != nil {
		fc.lock.Close()
	}
	return err
}
