package sink

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLocalStore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := NewLocalStore(filepath.Join(dir, "lake"))
	require.NoError(t, err)

	n, err := s.Put(ctx, "a/dt=1/x.parquet", strings.NewReader("hello"))
	require.NoError(t, err)
	require.Equal(t, int64(5), n)
	_, err = s.Put(ctx, "a/dt=1/x.parquet", strings.NewReader("replaced"))
	require.NoError(t, err)
	_, err = s.Put(ctx, "a/dt=2/y.parquet", strings.NewReader("y"))
	require.NoError(t, err)
	_, err = s.Put(ctx, "b/z", strings.NewReader("z"))
	require.NoError(t, err)

	rc, err := s.Get(ctx, "a/dt=1/x.parquet")
	require.NoError(t, err)
	b, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	require.Equal(t, "replaced", string(b))

	objs, err := s.List(ctx, "a/")
	require.NoError(t, err)
	require.Len(t, objs, 2)
	require.Equal(t, "a/dt=1/x.parquet", objs[0].Key)
	require.Equal(t, int64(8), objs[0].Size)
	require.Equal(t, "a/dt=2/y.parquet", objs[1].Key)
	objs, err = s.List(ctx, "a/dt=1")
	require.NoError(t, err)
	require.Len(t, objs, 1)
	objs, err = s.List(ctx, "missing/")
	require.NoError(t, err)
	require.Empty(t, objs)

	// Hidden temporaries left by a crash are not listed.
	require.NoError(t, os.WriteFile(filepath.Join(s.Dir(), "a", "dt=1", ".x.parquet.tmp-1"), []byte("partial"), 0o644))
	objs, err = s.List(ctx, "")
	require.NoError(t, err)
	require.Len(t, objs, 3)

	require.NoError(t, s.Delete(ctx, "b/z"))
	require.NoError(t, s.Delete(ctx, "b/z"), "deleting a missing object is fine")
	_, err = s.Get(ctx, "b/z")
	require.ErrorIs(t, err, ErrNotFound)

	for _, bad := range []string{"", "/abs", "../up", "a/../../b", "a//b", "a/./b", `a\b`} {
		_, err := s.Put(ctx, bad, strings.NewReader("x"))
		require.Error(t, err, bad)
	}
	require.Equal(t, "file://"+filepath.ToSlash(s.Dir()), s.String())
}

func TestLocalStoreConcurrentPuts(t *testing.T) {
	ctx := context.Background()
	s, err := NewLocalStore(t.TempDir())
	require.NoError(t, err)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Put(ctx, "t/dt=x/hr=y/f"+strings.Repeat("i", i+1), strings.NewReader("data"))
			require.NoError(t, err)
		}()
	}
	wg.Wait()
	objs, err := s.List(ctx, "t/")
	require.NoError(t, err)
	require.Len(t, objs, 8)
}
