package sink

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/require"

	"github.com/sillage/sillage/internal/tests3"
)

func TestParseS3URL(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL_S3", "")
	t.Setenv("AWS_ENDPOINT_URL", "")
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")

	loc, err := ParseS3URL("s3://lake-bucket/prod/events-lake/?endpoint=http://127.0.0.1:9000&region=eu-west-3&path_style=true&part_size=8MiB")
	require.NoError(t, err)
	require.Equal(t, "lake-bucket", loc.Bucket)
	require.Equal(t, "prod/events-lake", loc.Prefix)
	require.Equal(t, "http://127.0.0.1:9000", loc.Endpoint.String())
	require.Equal(t, "eu-west-3", loc.Region)
	require.NotNil(t, loc.PathStyle)
	require.True(t, *loc.PathStyle)
	require.Equal(t, int64(8<<20), loc.PartSize)
	require.Equal(t, "s3://lake-bucket/prod/events-lake?endpoint=http://127.0.0.1:9000", loc.String())

	// Defaults: AWS, region asked from the server, lookup style left to the client.
	loc, err = ParseS3URL("s3://bucket")
	require.NoError(t, err)
	require.Equal(t, "", loc.Prefix)
	require.Equal(t, "https://s3.amazonaws.com", loc.Endpoint.String())
	require.Equal(t, "", loc.Region)
	require.Nil(t, loc.PathStyle)
	require.Equal(t, int64(16<<20), loc.PartSize)

	// The environment fills what the URL leaves out; the URL wins.
	t.Setenv("AWS_ENDPOINT_URL", "https://minio.example:9443")
	t.Setenv("AWS_DEFAULT_REGION", "ap-south-1")
	loc, err = ParseS3URL("s3://bucket/x?path_style=false")
	require.NoError(t, err)
	require.Equal(t, "https://minio.example:9443", loc.Endpoint.String())
	require.Equal(t, "ap-south-1", loc.Region)
	require.False(t, *loc.PathStyle)
	t.Setenv("AWS_ENDPOINT_URL_S3", "http://s3only:1")
	t.Setenv("AWS_REGION", "us-west-2")
	loc, err = ParseS3URL("s3://bucket/x")
	require.NoError(t, err)
	require.Equal(t, "http://s3only:1", loc.Endpoint.String())
	require.Equal(t, "us-west-2", loc.Region)
	loc, err = ParseS3URL("s3://bucket/x?endpoint=http://h:2&region=r1&part_size=5242880")
	require.NoError(t, err)
	require.Equal(t, "http://h:2", loc.Endpoint.String())
	require.Equal(t, "r1", loc.Region)
	require.Equal(t, int64(5<<20), loc.PartSize)

	for in, want := range map[string]string{
		"s3:///lake":                                   "no bucket",
		"s3://":                                        "no bucket",
		"s3://host:9000/lake":                          "name the server with ?endpoint=",
		"s3://Bad_Bucket/lake":                         `bucket "Bad_Bucket"`,
		"s3://ab/lake":                                 `bucket "ab"`,
		"s3://key:secret@bucket/lake":                  "credentials do not belong in the URL",
		"s3://bucket/a//b":                             "prefix",
		"s3://bucket/a/../b":                           "prefix",
		"s3://bucket/x?endpoint=127.0.0.1:9000":        "endpoint",
		"s3://bucket/x?endpoint=ftp://h:1":             "want http://host[:port]",
		"s3://bucket/x?endpoint=http://":               "no host",
		"s3://bucket/x?endpoint=http://h:99999":        "bad port",
		"s3://bucket/x?endpoint=http://h:1/bucket":     "scheme://host[:port] only",
		"s3://bucket/x?endpoint=http://h:1%zz":         "query parameters",
		"s3://bucket/x?path_style=yes-please":          "path_style",
		"s3://bucket/x?part_size=1MiB":                 "between 5MiB and 5GiB",
		"s3://bucket/x?part_size=lots":                 "part_size",
		"s3://bucket/x?endpont=http://h:1&regin=x":     "unknown parameter(s) endpont, regin",
		"s3://bucket/x?endpoint=http://u:p@h:1&region": "scheme://host[:port] only",
	} {
		_, err := ParseS3URL(in)
		require.ErrorContains(t, err, want, in)
		require.NotContains(t, err.Error(), "secret", "no credentials in errors")
	}

	// Validate and OpenStore go through the same parser.
	cfg := DefaultConfig()
	cfg.Root = "s3://bucket/x?bogus=1"
	require.ErrorContains(t, cfg.Validate(), "sink.root")
	_, err = OpenStore("s3:///x")
	require.ErrorContains(t, err, "no bucket")
}

func TestS3StoreStartupErrors(t *testing.T) {
	srv := tests3.Shared(t)
	// A missing bucket.
	_, err := OpenStore(srv.Root("no-such-bucket-sillage", "lake"))
	require.ErrorContains(t, err, `S3 bucket "no-such-bucket-sillage" does not exist at `+srv.Endpoint)

	// Wrong credentials are named by the server's error.
	bucket := srv.Bucket(t)
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong")
	_, err = OpenStore(srv.Root(bucket, "lake"))
	require.ErrorContains(t, err, `S3 bucket "`+bucket+`" at `+srv.Endpoint+" is not reachable")
	tests3.SetCredentials(t)

	// Nothing listens there.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	_, err = OpenStoreContext(ctx, "s3://"+bucket+"/lake?endpoint=http://127.0.0.1:1&path_style=true&region=us-east-1")
	require.ErrorContains(t, err, `S3 bucket "`+bucket+`" at http://127.0.0.1:1 is not reachable`)
	require.Less(t, time.Since(start), S3StartupTimeout+5*time.Second)

	s, err := OpenStore(srv.Root(bucket, "lake"))
	require.NoError(t, err)
	require.Equal(t, "s3://"+bucket+"/lake?endpoint="+srv.Endpoint, s.String())
}

// TestObjectStoreConformance runs the same checks on the local folder and
// on a real S3 server (versitygw over HTTP).
func TestObjectStoreConformance(t *testing.T) {
	t.Run("local", func(t *testing.T) {
		s, err := NewLocalStore(filepath.Join(t.TempDir(), "lake"))
		require.NoError(t, err)
		testObjectStore(t, s, nil)
	})
	t.Run("s3", func(t *testing.T) {
		srv := tests3.Shared(t)
		bucket := srv.Bucket(t)
		// part_size 5MiB: the 12 MiB object goes up in three parts.
		st, err := OpenStore(srv.Root(bucket, "lake/v1") + "&part_size=5MiB")
		require.NoError(t, err)
		s := st.(*S3Store)
		testObjectStore(t, s, func(key string) {
			info, err := s.Client().StatObject(context.Background(), bucket, "lake/v1/"+key, minio.StatObjectOptions{})
			require.NoError(t, err)
			require.True(t, strings.HasSuffix(info.ETag, "-3"), "a multipart upload of 3 parts gives an ETag ending in -3, got %q", info.ETag)
		})
		// Objects outside the prefix are not the lake's.
		_, err = s.Client().PutObject(context.Background(), bucket, "elsewhere/x", strings.NewReader("x"), 1, minio.PutObjectOptions{})
		require.NoError(t, err)
		objs, err := s.List(context.Background(), "")
		require.NoError(t, err)
		for _, o := range objs {
			require.False(t, strings.HasPrefix(o.Key, "elsewhere"), o.Key)
		}
	})
}

func testObjectStore(t *testing.T, s ObjectStore, checkMultipart func(key string)) {
	ctx := context.Background()
	get := func(key string) string {
		t.Helper()
		rc, err := s.Get(ctx, key)
		require.NoError(t, err, key)
		defer rc.Close()
		b, err := io.ReadAll(rc)
		require.NoError(t, err)
		return string(b)
	}

	// Put, Get, overwrite.
	n, err := s.Put(ctx, "events/dt=2024-03-01/hr=10/a.parquet", strings.NewReader("hello"))
	require.NoError(t, err)
	require.Equal(t, int64(5), n)
	require.Equal(t, "hello", get("events/dt=2024-03-01/hr=10/a.parquet"))
	n, err = s.Put(ctx, "events/dt=2024-03-01/hr=10/a.parquet", bytes.NewReader([]byte("replaced!")))
	require.NoError(t, err)
	require.Equal(t, int64(9), n)
	require.Equal(t, "replaced!", get("events/dt=2024-03-01/hr=10/a.parquet"))
	_, err = s.Put(ctx, "empty.json", strings.NewReader(""))
	require.NoError(t, err)
	require.Equal(t, "", get("empty.json"))

	// Missing objects.
	_, err = s.Get(ctx, "events/missing.parquet")
	require.ErrorIs(t, err, ErrNotFound)
	require.Contains(t, err.Error(), "events/missing.parquet")

	// Many keys, concurrently: more than one S3 listing page (1,000).
	const many = 1234
	var wg sync.WaitGroup
	errs := make(chan error, many)
	sem := make(chan struct{}, 16)
	for i := range many {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			key := fmt.Sprintf("many/dt=2024-03-%02d/k%05d.parquet", i%28+1, i)
			if _, err := s.Put(ctx, key, strings.NewReader(key)); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	objs, err := s.List(ctx, "many/")
	require.NoError(t, err)
	require.Len(t, objs, many)
	for i := 1; i < len(objs); i++ {
		require.Less(t, objs[i-1].Key, objs[i].Key, "sorted by key")
	}
	for _, o := range objs {
		require.Equal(t, int64(len(o.Key)), o.Size, o.Key)
		require.WithinDuration(t, time.Now(), o.ModTime, 10*time.Minute)
	}
	objs, err = s.List(ctx, "many/dt=2024-03-07/")
	require.NoError(t, err)
	require.Len(t, objs, 44)
	objs, err = s.List(ctx, "many/dt=2024-03-0")
	require.NoError(t, err, "a prefix ending inside a path segment")
	require.Len(t, objs, countDays(many, 1, 9))
	objs, err = s.List(ctx, "nothing/")
	require.NoError(t, err)
	require.Empty(t, objs)

	// A large object (multipart on S3), read back byte for byte.
	big := make([]byte, 12<<20)
	_, _ = rand.Read(big)
	n, err = s.Put(ctx, "big/large.parquet", bytes.NewReader(big))
	require.NoError(t, err)
	require.Equal(t, int64(len(big)), n)
	require.True(t, bytes.Equal(big, []byte(get("big/large.parquet"))), "large object read back differs")
	// Of unknown length (a plain reader): streamed in parts too.
	n, err = s.Put(ctx, "big/stream.parquet", io.MultiReader(bytes.NewReader(big[:6<<20]), bytes.NewReader(big[6<<20:])))
	require.NoError(t, err)
	require.Equal(t, int64(len(big)), n)
	require.True(t, bytes.Equal(big, []byte(get("big/stream.parquet"))))
	if checkMultipart != nil {
		checkMultipart("big/large.parquet")
	}

	// Delete is idempotent.
	require.NoError(t, s.Delete(ctx, "events/dt=2024-03-01/hr=10/a.parquet"))
	require.NoError(t, s.Delete(ctx, "events/dt=2024-03-01/hr=10/a.parquet"))
	require.NoError(t, s.Delete(ctx, "never/existed"))
	_, err = s.Get(ctx, "events/dt=2024-03-01/hr=10/a.parquet")
	require.ErrorIs(t, err, ErrNotFound)
	objs, err = s.List(ctx, "events/")
	require.NoError(t, err)
	require.Empty(t, objs)

	// Keys that could escape the root are refused by every operation.
	for _, bad := range []string{"", "/abs", "../up", "a/../../b", "a//b", "a/./b", `a\b`} {
		_, err := s.Put(ctx, bad, strings.NewReader("x"))
		require.Error(t, err, bad)
		_, err = s.Get(ctx, bad)
		require.Error(t, err, bad)
		require.Error(t, s.Delete(ctx, bad), bad)
	}
}

// countDays counts the keys i < n with i%28+1 in [from, to].
func countDays(n, from, to int) int {
	c := 0
	for i := range n {
		if d := i%28 + 1; d >= from && d <= to {
			c++
		}
	}
	return c
}
