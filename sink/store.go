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

// OpenStore opens the store a root names: a plain path, a file:// URL or
// an s3:// URL (see ParseS3URL). An S3 bucket is checked (HeadBucket)
// within S3StartupTimeout.
func OpenStore(root string) (ObjectStore, error) {
	return OpenStoreContext(context.Background(), root)
}

// OpenStoreContext is OpenStore with a context for the S3 bucket check.
func OpenStoreContext(ctx context.Context, root string) (ObjectStore, error) {
	if isS3Root(root) {
		loc, err := ParseS3URL(root)
		if err != nil {
			return nil, err
		}
		return NewS3Store(ctx, loc)
	}
	dir, err := parseRoot(root)
	if err != nil {
		return nil, err
	}
	return NewLocalStore(dir)
}

func isS3Root(root string) bool { return strings.HasPrefix(strings.ToLower(root), "s3://") }

// checkRoot reports what is wrong with a root without opening it.
func checkRoot(root string) error {
	if isS3Root(root) {
		_, err := ParseS3URL(root)
		return err
	}
	_, err := parseRoot(root)
	return err
}

// LocalRoot returns the local directory a non-S3 root names (a path, or a
// file:// URL as -sink.root accepts it), or an error naming what is
// unsupported.
func LocalRoot(root string) (string, error) { return parseRoot(root) }

// parseRoot returns the local directory of a non-S3 root, or an error
// naming what is unsupported.
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
	}
	return "", fmt.Errorf("%q: unsupported scheme %q (want a path, file:// or s3://)", root, u.Scheme)
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
