package sink

import (
	"context"
	"errors"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sillage/sillage/internal/tests3"
)

func TestParseFileKey(t *testing.T) {
	f, ok := parseFileKey(ObjectInfo{Key: "events/dt=2019-10-01/hr=02/sillage.staging-eu.events.enriched-p11-1391-17629.parquet"})
	require.True(t, ok)
	require.Equal(t, "events/dt=2019-10-01/hr=02", f.dir)
	require.Equal(t, "sillage.staging-eu.events.enriched", f.topic)
	require.Equal(t, int32(11), f.partition)
	require.Equal(t, int64(1391), f.first)
	require.Equal(t, int64(17629), f.last)
	for _, bad := range []string{"events/x.parquet", "events/a-p1-5-4.parquet", "events/a-px-1-2.parquet", "events/a-p1-1-2.json", "events/-p1-1-2.parquet"} {
		_, ok := parseFileKey(ObjectInfo{Key: bad})
		require.False(t, ok, bad)
	}
	live, sup := splitSuperseded([]ObjectInfo{
		{Key: "e/dt=1/hr=0/t-p0-0-9.parquet"}, {Key: "e/dt=1/hr=0/t-p0-0-3.parquet"}, {Key: "e/dt=1/hr=0/t-p0-5-9.parquet"},
		{Key: "e/dt=1/hr=0/t-p1-0-3.parquet"}, {Key: "e/dt=1/hr=1/t-p0-0-3.parquet"}, {Key: "e/dt=1/hr=0/t-p0-10-12.parquet"},
		{Key: "e/dt=1/hr=0/odd.parquet"},
	})
	keys := func(objs []ObjectInfo) []string {
		var out []string
		for _, o := range objs {
			out = append(out, o.Key)
		}
		return out
	}
	require.Equal(t, []string{"e/dt=1/hr=0/t-p0-0-3.parquet", "e/dt=1/hr=0/t-p0-5-9.parquet"}, keys(sup))
	require.Len(t, live, 5)
}

func TestCompactPrefixes(t *testing.T) {
	now := time.Date(2024, 3, 10, 1, 30, 0, 0, time.UTC)
	opts := CompactOptions{Delay: 2 * time.Hour, Lookback: 48 * time.Hour}
	// Hours that ended between 2024-03-07 23:30 and 2024-03-09 23:30.
	require.Equal(t, []string{"events/dt=2024-03-07/", "events/dt=2024-03-08/", "events/dt=2024-03-09/"}, compactPrefixes("events", now, opts))
	opts.Lookback = 0
	require.Equal(t, []string{"events/"}, compactPrefixes("events", now, opts))
}

// TestCompaction runs the compaction checks on a local lake and on a real
// S3 server.
func TestCompaction(t *testing.T) {
	t.Run("local", func(t *testing.T) {
		store, err := NewLocalStore(filepath.Join(t.TempDir(), "lake"))
		require.NoError(t, err)
		testCompaction(t, store)
	})
	t.Run("s3", func(t *testing.T) {
		srv := tests3.Shared(t)
		store, err := OpenStore(srv.Root(srv.Bucket(t), "lake"))
		require.NoError(t, err)
		testCompaction(t, store)
	})
}

// compactionLake writes events at 10:00-12:59 on 2024-03-01 from two input
// partitions through the sink, in batches of 25 rows: 3 or 4 small files
// per hour and partition, some batches straddling two hours. The batches are committed (no manifest left).
func compactionLake(t *testing.T, store ObjectStore) *testEnv {
	e := newEnvOn(t, t.TempDir(), store, newTestSerde(t), func(c *Config) { c.MaxRows = 25; c.DedupEvents = 0 })
	base := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	for _, p := range []int32{0, 1} {
		tk := e.task(testTopics.Enriched, p)
		e.process(tk, eventRecords(t, e.serde, p, int64(p)*1000, 180, base, time.Minute)...)
		require.NoError(t, tk.Flush(context.Background()))
		tk.Committed(context.Background(), tk.DurableOffset())
	}
	return e
}

func rawKeys(t *testing.T, store ObjectStore, table string) []string {
	objs, err := store.List(context.Background(), table+"/")
	require.NoError(t, err)
	var out []string
	for _, o := range objs {
		out = append(out, o.Key)
	}
	return out
}

func testCompaction(t *testing.T, store ObjectStore) {
	ctx := context.Background()
	e := compactionLake(t, store)
	want := eventIDs(e.events())
	require.Len(t, want, 360)
	before := rawKeys(t, store, TableEvents)
	require.Len(t, before, 2*(3+3+4), "per partition: 3 files in hours 10 and 11, 4 in hour 12")

	opts := DefaultCompactOptions()
	// 12:00-12:59 ended 1h30 ago: with a 2h delay only 10h and 11h are closed.
	opts.Now = func() time.Time { return time.Date(2024, 3, 1, 14, 30, 0, 0, time.UTC) }

	// A crash after the merged file of the first group is written, before
	// any original is deleted: readers of this package still count every
	// row once; a glob would not.
	crash := errors.New("crash")
	var merged string
	opts.afterPut = func(key string) error { merged = key; return crash }
	_, err := Compact(ctx, store, opts)
	require.ErrorIs(t, err, crash)
	require.Equal(t, "events/dt=2024-03-01/hr=10/"+FileName(testTopics.Enriched, 0, 0, 59), merged)
	require.Len(t, rawKeys(t, store, TableEvents), len(before)+1, "merged file and originals side by side")
	require.Equal(t, want, eventIDs(e.events()), "superseded originals are skipped by the reader")
	n, err := CountRows(ctx, store, TableEvents)
	require.NoError(t, err)
	require.Equal(t, int64(360), n)

	// A crash after one original of the next group is deleted.
	first := true
	opts.afterPut = func(key string) error {
		if !first {
			return nil
		}
		first = false
		require.Equal(t, "events/dt=2024-03-01/hr=10/"+FileName(testTopics.Enriched, 1, 1000, 1059), key)
		require.NoError(t, store.Delete(ctx, "events/dt=2024-03-01/hr=10/"+FileName(testTopics.Enriched, 1, 1000, 1024)))
		return crash
	}
	// The next run first deletes what the interrupted one left.
	res, err := Compact(ctx, store, opts)
	require.ErrorIs(t, err, crash)
	require.Equal(t, 3, res.SupersededDeleted, "the originals of hr=10 p0")
	require.Equal(t, want, eventIDs(e.events()))

	opts.afterPut = nil
	res, err = Compact(ctx, store, opts)
	require.NoError(t, err)
	require.Equal(t, 2, res.SupersededDeleted, "the originals of hr=10 p1 left by the second crash")
	require.Equal(t, 2, res.Groups, "hour 11 of both partitions")
	require.Equal(t, 6, res.FilesMerged)
	require.Equal(t, int64(120), res.Rows)
	require.Equal(t, want, eventIDs(e.events()))
	after := rawKeys(t, store, TableEvents)
	var closed []string
	for _, k := range after {
		if !strings.Contains(k, "/hr=12/") {
			closed = append(closed, path.Base(k))
		}
	}
	sort.Strings(closed)
	require.Equal(t, []string{
		FileName(testTopics.Enriched, 0, 0, 59), FileName(testTopics.Enriched, 0, 60, 119),
		FileName(testTopics.Enriched, 1, 1000, 1059), FileName(testTopics.Enriched, 1, 1060, 1119),
	}, closed, "one file per closed hour and input partition, named by its offset range")
	for _, k := range after {
		if strings.Contains(k, "/hr=12/") {
			require.Contains(t, before, k, "the open hour is untouched")
		}
	}

	// Idempotent.
	res, err = Compact(ctx, store, opts)
	require.NoError(t, err)
	require.Equal(t, CompactResult{}, res)

	// Later: hour 12 closes; a late event reaches hour 10 through a batch
	// not yet committed (its manifest names its files): that group waits.
	late := e.task(testTopics.Enriched, 0)
	e.process(late, eventRecords(t, e.serde, 0, 180, 1, time.Date(2024, 3, 1, 10, 30, 0, 0, time.UTC), 0)...)
	require.NoError(t, late.Flush(ctx))
	opts.Now = func() time.Time { return time.Date(2024, 3, 2, 0, 0, 0, 0, time.UTC) }
	res, err = Compact(ctx, store, opts)
	require.NoError(t, err)
	require.Equal(t, 2, res.Groups, "hour 12 of both partitions")
	require.Equal(t, 1, res.Skipped, "hour 10 of p0 holds a file of an uncommitted batch")
	// Once committed, the late file is merged with the earlier merged file.
	late.Committed(ctx, late.DurableOffset())
	res, err = Compact(ctx, store, opts)
	require.NoError(t, err)
	require.Equal(t, 1, res.Groups)
	require.Equal(t, 2, res.FilesMerged)
	require.Contains(t, rawKeys(t, store, TableEvents), "events/dt=2024-03-01/hr=10/"+FileName(testTopics.Enriched, 0, 0, 180))
	wantLate := append(append([]string{}, want...), "evt-000180")
	sort.Strings(wantLate)
	require.Equal(t, wantLate, eventIDs(e.events()))
	require.Len(t, rawKeys(t, store, TableEvents), 6, "one file per hour and input partition")

	// The sink's option runs the same compaction in the background.
	e2 := e.restart(func(c *Config) { c.CompactAfter = time.Hour; c.CompactInterval = 10 * time.Millisecond })
	e2.now = time.Date(2024, 3, 2, 0, 0, 0, 0, time.UTC)
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e2.sink.RunCompaction(cctx) }()
	tk := e2.task(testTopics.Enriched, 1)
	e2.process(tk, eventRecords(t, e2.serde, 1, 2000, 1, time.Date(2024, 3, 1, 11, 5, 0, 0, time.UTC), 0)...)
	require.NoError(t, tk.Flush(ctx))
	tk.Committed(ctx, tk.DurableOffset())
	require.Eventually(t, func() bool {
		return metricValue(t, e2.sink.metrics.compactedFiles) >= 2
	}, 10*time.Second, 10*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	require.Contains(t, rawKeys(t, store, TableEvents), "events/dt=2024-03-01/hr=11/"+FileName(testTopics.Enriched, 1, 1060, 2000))
	require.Len(t, rawKeys(t, store, TableEvents), 6)
	wantLate = append(wantLate, "evt-002000")
	sort.Strings(wantLate)
	require.Equal(t, wantLate, eventIDs(e2.events()))
}
