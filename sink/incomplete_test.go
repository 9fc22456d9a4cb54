package sink

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/require"

	"github.com/sillage/sillage/internal/tests3"
)

// TestTaskRemovesIncompleteUploads: a task starting on a partition removes
// the leftovers of that partition's interrupted writes (and only those):
// hidden temporary files in a local lake, multipart uploads in progress on
// S3.
func TestTaskRemovesIncompleteUploads(t *testing.T) {
	topic := testTopics.Enriched
	keyOf := func(table string, partition int32, first int64) string {
		return table + "/dt=2019-10-01/hr=02/" + FileName(topic, partition, first, first+9)
	}
	ours := []string{keyOf(TableEvents, 1, 0), keyOf(TableEvents, 1, 10), keyOf(TableFailed, 1, 20)}
	others := []string{keyOf(TableEvents, 12, 0), keyOf(TableEvents, 0, 0), "events/dt=2019-10-01/hr=02/unrelated.parquet.json"}

	t.Run("local", func(t *testing.T) {
		e := newEnv(t, nil)
		for _, k := range append(append([]string{}, ours...), others...) {
			p := filepath.Join(e.dir, filepath.FromSlash(k))
			require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(filepath.Dir(p), "."+filepath.Base(p)+".tmp-12345"), []byte("partial"), 0o644))
		}
		// A finished file of the partition is not a leftover.
		_, err := e.store.Put(context.Background(), keyOf(TableEvents, 1, 30), strings.NewReader("whole"))
		require.NoError(t, err)
		e.task(topic, 1)
		require.Equal(t, 3.0, metricValue(t, e.sink.metrics.abortedUploads))
		var left []string
		for _, p := range tempFiles(t, e.dir) {
			rel, err := filepath.Rel(e.dir, p)
			require.NoError(t, err)
			left = append(left, filepath.ToSlash(rel))
		}
		require.Len(t, left, len(others), "only the other partitions' temporary files stay: %v", left)
		for _, l := range left {
			require.NotContains(t, l, topic+"-p1-")
		}
		require.Equal(t, []string{keyOf(TableEvents, 1, 30)}, e.files(TableEvents)[len(e.files(TableEvents))-1:])
	})

	t.Run("s3", func(t *testing.T) {
		srv := tests3.Shared(t)
		bucket := srv.Bucket(t)
		st, err := OpenStore(srv.Root(bucket, "lake") + "&part_size=5MiB")
		require.NoError(t, err)
		core := minio.Core{Client: st.(*S3Store).Client()}
		ctx := context.Background()
		part := bytes.Repeat([]byte("x"), 5<<20)
		start := func(object string) {
			id, err := core.NewMultipartUpload(ctx, bucket, object, minio.PutObjectOptions{})
			require.NoError(t, err)
			_, err = core.PutObjectPart(ctx, bucket, object, id, 1, bytes.NewReader(part), int64(len(part)), minio.PutObjectPartOptions{})
			require.NoError(t, err)
		}
		for _, k := range append(append([]string{}, ours...), others...) {
			start("lake/" + k)
		}
		start(keyOf(TableEvents, 1, 0)) // the same key outside the lake's prefix
		start("lake/" + ours[0])        // a second upload of the same key

		e := newEnvOn(t, t.TempDir(), st, newTestSerde(t), nil)
		e.task(topic, 1)
		require.Equal(t, 4.0, metricValue(t, e.sink.metrics.abortedUploads))
		var left []string
		for u := range core.ListIncompleteUploads(ctx, bucket, "", true) {
			require.NoError(t, u.Err)
			left = append(left, u.Key)
		}
		sort.Strings(left)
		want := []string{keyOf(TableEvents, 1, 0)}
		for _, k := range others {
			want = append(want, "lake/"+k)
		}
		sort.Strings(want)
		require.Equal(t, want, left, "the other partitions' uploads and those outside the lake stay")
		for _, k := range want {
			require.NoError(t, core.AbortMultipartUpload(ctx, bucket, k, uploadID(t, core, bucket, k)))
		}
	})
}

func uploadID(t *testing.T, core minio.Core, bucket, key string) string {
	t.Helper()
	for u := range core.ListIncompleteUploads(context.Background(), bucket, key, true) {
		require.NoError(t, u.Err)
		if u.Key == key {
			return u.UploadID
		}
	}
	t.Fatalf("no upload of %s", key)
	return ""
}
