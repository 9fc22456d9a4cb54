package app

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockDataDir takes an exclusive lock on the data directory for the life of
// the process: two processes on one embedded broker's data would overwrite
// each other's Kafka log and lake files (acknowledged events lost). The
// lock is released by the returned function, or by the kernel when the
// process dies, so a SIGKILL leaves nothing to clean up.
func lockDataDir(dir string) (func(), error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating data directory %s: %w", dir, err)
	}
	path := filepath.Join(dir, "LOCK")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("data directory lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("data directory %s is in use by another sillage process (%s is locked); give each process its own -data.dir", dir, path)
	}
	return func() { _ = f.Close() }, nil
}
