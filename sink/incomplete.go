package sink

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/minio/minio-go/v7"
)

// IncompleteCleaner is implemented by object stores whose interrupted
// writes leave something behind that readers never see but that still takes
// space: an S3 multipart upload neither completed nor aborted (the process
// was killed during the upload; the parts already sent are kept, and billed,
// until the upload is aborted), a local folder's hidden temporary file.
type IncompleteCleaner interface {
	// AbortIncomplete removes the leftovers of interrupted writes of the
	// keys under prefix that match accepts, and returns those keys (one
	// entry per leftover, sorted). A leftover of a write still in progress
	// elsewhere is removed too: callers only name keys no one else writes.
	AbortIncomplete(ctx context.Context, prefix string, match func(key string) bool) ([]string, error)
}

var (
	_ IncompleteCleaner = (*S3Store)(nil)
	_ IncompleteCleaner = (*LocalStore)(nil)
)

// AbortIncomplete implements IncompleteCleaner: it lists the bucket's
// multipart uploads in progress under the lake prefix + prefix
// (ListMultipartUploads, paged) and aborts those whose key matches.
func (s *S3Store) AbortIncomplete(ctx context.Context, prefix string, match func(key string) bool) ([]string, error) {
	base := ""
	if s.loc.Prefix != "" {
		base = s.loc.Prefix + "/"
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type upload struct{ key, object, id string }
	var found []upload
	for u := range s.cl.ListIncompleteUploads(ctx, s.loc.Bucket, base+prefix, true) {
		if u.Err != nil {
			return nil, fmt.Errorf("listing multipart uploads under %s in %s: %w", prefix, s, describeS3Error(u.Err))
		}
		key := strings.TrimPrefix(u.Key, base)
		if match(key) {
			found = append(found, upload{key, u.Key, u.UploadID})
		}
	}
	core := minio.Core{Client: s.cl}
	var aborted []string
	for _, u := range found {
		err := core.AbortMultipartUpload(ctx, s.loc.Bucket, u.object, u.id)
		if err != nil && minio.ToErrorResponse(err).Code != "NoSuchUpload" {
			return aborted, fmt.Errorf("aborting the multipart upload %s of %s in %s: %w", u.id, u.key, s, describeS3Error(err))
		}
		aborted = append(aborted, u.key)
	}
	sort.Strings(aborted)
	return aborted, nil
}

// AbortIncomplete implements IncompleteCleaner: it removes the hidden
// temporary files (".<name>.tmp-*", see Put) of matching keys under prefix.
func (s *LocalStore) AbortIncomplete(ctx context.Context, prefix string, match func(key string) bool) ([]string, error) {
	start := s.dir
	if i := strings.LastIndexByte(prefix, '/'); i > 0 {
		p, err := s.path(prefix[:i])
		if err != nil {
			return nil, err
		}
		start = p
	}
	var removed []string
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		name := d.Name()
		i := strings.LastIndex(name, ".tmp-")
		if !strings.HasPrefix(name, ".") || i < 1 {
			return nil
		}
		rel, err := filepath.Rel(s.dir, filepath.Dir(p))
		if err != nil {
			return err
		}
		key := path.Join(filepath.ToSlash(rel), name[1:i])
		if !strings.HasPrefix(key, prefix) || !match(key) {
			return nil
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		removed = append(removed, key)
		return nil
	})
	if err != nil {
		return removed, fmt.Errorf("removing temporary files under %s in %s: %w", prefix, s.dir, err)
	}
	sort.Strings(removed)
	return removed, nil
}
