package sink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"strings"
	"time"
)

// ObjectStore is where lake files go. Keys are slash-separated paths
// relative to the lake root ("events/dt=2019-10-01/hr=00/x.parquet").
// Implementations must be safe for concurrent use.
type ObjectStore interface {
	// Put writes the object atomically and durably: when Put returns nil
	// the whole object survives a crash, and readers never see part of it.
	// An existing object is replaced. It returns the bytes written.
	Put(ctx context.Context, key string, r io.Reader) (int64, error)
	// Get opens an object; a missing one gives an error wrapping ErrNotFound.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// List returns the objects whose key starts with prefix, sorted by key.
	List(ctx context.Context, prefix string) ([]ObjectInfo, error)
	// Delete removes an object; a missing one is not an error.
	Delete(ctx context.Context, key string) error
	// String describes the store for logs (no credentials).
	String() string
}

// ObjectInfo describes one stored object.
type ObjectInfo struct {
	Key     string
	Size    int64
	ModTime time.Time
}

// ErrNotFound is wrapped by Get for a missing object.
var ErrNotFound = errors.New("object not found")

// OpenStore opens the store a root names: a plain path or a file:// URL.
func OpenStore(root string) (ObjectStore, error) {
	dir, err := parseRoot(root)
	if err != nil {
		return nil, err
	}
	return NewLocalStore(dir)
}

// parseRoot returns the local directory of a root, or an error naming what
// is unsupported.
func parseRoot(root string) (string, error) {
	if !strings.Contains(root, "://") {
		return root, nil
	}
	u, err := url.Parse(root)
	if err != nil {
		return "", fmt.Errorf("parsing %q: %w", root, err)
	}
	switch u.Scheme {
	case "file":
		p := u.Path
		switch u.Host {
		case "", "localhost":
		case ".", "..":
			p = u.Host + u.Path // file://./relative/path
		default:
			return "", fmt.Errorf("%q: file URLs name a local path (file:///abs/path or file://./rel/path), not host %q", root, u.Host)
		}
		if p == "" {
			return "", fmt.Errorf("%q: no path", root)
		}
		return p, nil
	case "s3":
		return "", fmt.Errorf("%q: s3:// lakes are not supported yet", root)
	}
	return "", fmt.Errorf("%q: unsupported scheme %q (want a path or file://)", root, u.Scheme)
}

// checkKey rejects keys that could escape the root.
func checkKey(key string) error {
	if key == "" || strings.HasPrefix(key, "/") || strings.Contains(key, "\\") {
		return fmt.Errorf("invalid object key %q", key)
	}
	if path.Clean(key) != key {
		return fmt.Errorf("invalid object key %q: not clean", key)
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == ".." || seg == "." || seg == "" {
			return fmt.Errorf("invalid object key %q", key)
		}
	}
	return nil
}
