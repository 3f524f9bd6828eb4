//go:build !unix

package groq

import "os"

// On systems without flock, processes sharing a cache file are not coordinated:
// each one's writes are still atomic, but one may lose entries another wrote.
func lockFile(*os.File) error { return nil }

func unlockFile(*os.File) error { return nil }
