package sink

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sillage/sillage/internal/stream"
)

// snapshot maps every Parquet key of the events and failed tables to its bytes.
func (e *testEnv) snapshot() map[string][]byte {
	e.tb.Helper()
	out := map[string][]byte{}
	for _, table := range []string{TableEvents, TableFailed} {
		for _, k := range e.files(table) {
			data, err := readObject(context.Background(), e.store, k)
			require.NoError(e.tb, err)
			out[k] = data
		}
	}
	return out
}

func (e *testEnv) manifestKeys() []string {
	e.tb.Helper()
	objs, err := e.store.List(context.Background(), manifestRoot+"/")
	require.NoError(e.tb, err)
	var keys []string
	for _, o := range objs {
		keys = append(keys, strings.TrimPrefix(o.Key, manifestRoot+"/"+testTopics.Enriched+"/"))
	}
	return keys
}

// firstRun writes offsets 0..10 with batches [0-3] (rows), [4-7] (rows),
// [8-8] (age), leaves 9-10 unwritten and "crashes". Event times span
// several hours, so each batch writes files in several partitions.
func firstRun(t *testing.T) (*testEnv, []*kgo.Record) {
	e := newEnv(t, func(c *Config) { c.MaxRows = 4; c.MaxAge = time.Minute })
	recs := eventRecords(t, e.serde, 0, 0, 12, time.Date(2024, 3, 1, 10, 30, 0, 0, time.UTC), 10*time.Minute)
	tk := e.task(testTopics.Enriched, 0)
	e.process(tk, recs[:9]...)
	e.now = e.now.Add(time.Minute)
	require.NoError(t, tk.Tick(context.Background(), e.now, &stream.Output{}))
	require.Equal(t, int64(9), tk.DurableOffset())
	e.process(tk, recs[9:11]...)
	require.NoError(t, tk.Close()) // crash: 9-10 were never written
	return e, recs
}

func TestRestartRewritesTheSameFiles(t *testing.T) {
	e, recs := firstRun(t)
	before := e.snapshot()
	require.Len(t, e.events(), 9)
	require.Equal(t, []string{"p0/0-3.json", "p0/4-7.json", "p0/8-8.json"}, e.manifestKeys())

	// The runner had committed only offset 4 when the process died. The new
	// process rolls on very different limits; the re-read batches must still
	// land in the same files.
	e2 := e.restart(func(c *Config) { c.MaxRows = 1000; c.MaxAge = time.Hour })
	tk := e2.task(testTopics.Enriched, 0)
	e2.process(tk, recs[4:]...)
	require.Equal(t, int64(9), tk.DurableOffset(), "batches [4-7] and [8-8] rewritten at their old boundaries")
	require.NoError(t, tk.Flush(context.Background()))
	require.Equal(t, int64(12), tk.DurableOffset())
	require.Equal(t, 2.0, metricValue(t, e2.sink.metrics.replayedRolls))

	after := e2.snapshot()
	for k, data := range before {
		require.Contains(t, after, k)
		require.Equal(t, data, after[k], "rewritten file %s differs", k)
	}
	rows := e2.events()
	require.Len(t, rows, 12)
	ids := eventIDs(rows)
	for i := 1; i < len(ids); i++ {
		require.NotEqual(t, ids[i-1], ids[i], "duplicate row")
	}
	require.Equal(t, []string{"p0/4-7.json", "p0/8-8.json", "p0/9-11.json"}, e2.manifestKeys(),
		"the manifest below the committed offset is removed")
}

func TestRerunFromScratchGivesTheSameFileSet(t *testing.T) {
	e, recs := firstRun(t)
	before := e.snapshot()
	// The consumer group was reset to the start: everything is re-read.
	e2 := e.restart(nil)
	tk := e2.task(testTopics.Enriched, 0)
	e2.process(tk, recs[:9]...)
	require.Equal(t, int64(9), tk.DurableOffset())
	require.Equal(t, before, e2.snapshot())
	require.Len(t, e2.events(), 9)
}

func TestFlushDoesNotCutAReplayedBatch(t *testing.T) {
	e, recs := firstRun(t)
	before := e.snapshot()
	e2 := e.restart(nil)
	tk := e2.task(testTopics.Enriched, 0)
	e2.process(tk, recs[4:6]...) // inside the old batch [4-7]
	require.NoError(t, tk.Flush(context.Background()))
	require.Equal(t, int64(-1), tk.DurableOffset(), "a partial re-read batch stays uncommitted")
	require.Equal(t, before, e2.snapshot())
	e2.now = e2.now.Add(time.Hour)
	require.NoError(t, tk.Tick(context.Background(), e2.now, &stream.Output{}))
	require.Equal(t, int64(-1), tk.DurableOffset(), "age does not cut a re-read batch either")
}

func TestCrashBetweenFilesOfABatch(t *testing.T) {
	dir := t.TempDir()
	local, err := NewLocalStore(dir)
	require.NoError(t, err)
	crashed := false
	gs := &gateStore{ObjectStore: local, onPut: func(key string) error {
		if !crashed && strings.Contains(key, "hr=11") {
			crashed = true
			return errors.New("power cut")
		}
		return nil
	}}
	e := newEnvOn(t, dir, gs, newTestSerde(t), func(c *Config) { c.MaxRows = 6 })
	recs := eventRecords(t, e.serde, 0, 0, 6, time.Date(2024, 3, 1, 10, 30, 0, 0, time.UTC), 10*time.Minute)
	tk := e.task(testTopics.Enriched, 0)
	for _, r := range recs[:5] {
		require.NoError(t, tk.Process(context.Background(), r, &stream.Output{}))
	}
	require.ErrorContains(t, tk.Process(context.Background(), recs[5], &stream.Output{}), "power cut")
	require.Equal(t, []string{"events/dt=2024-03-01/hr=10/sillage.events.enriched-p0-0-2.parquet"}, e.files(TableEvents))

	// Restarted with a smaller batch size: the old boundary still wins.
	e2 := e.restart(func(c *Config) { c.MaxRows = 2 })
	tk = e2.task(testTopics.Enriched, 0)
	e2.process(tk, recs...)
	require.Equal(t, int64(6), tk.DurableOffset())
	require.Equal(t, []string{
		"events/dt=2024-03-01/hr=10/sillage.events.enriched-p0-0-2.parquet",
		"events/dt=2024-03-01/hr=11/sillage.events.enriched-p0-3-5.parquet",
	}, e2.files(TableEvents))
	require.Len(t, e2.events(), 6)
}

func TestManifestsAreRemovedOnceCommitted(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxRows = 2; c.ManifestRetention = time.Hour })
	tk := e.task(testTopics.Enriched, 0)
	e.process(tk, eventRecords(t, e.serde, 0, 0, 6, time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC), time.Second)...)
	require.Equal(t, []string{"p0/0-1.json", "p0/2-3.json", "p0/4-5.json"}, e.manifestKeys())

	tk.Committed(context.Background(), 4)
	require.Equal(t, []string{"p0/4-5.json"}, e.manifestKeys())

	e.now = e.now.Add(2 * time.Hour)
	require.NoError(t, tk.Tick(context.Background(), e.now, &stream.Output{}))
	require.Empty(t, e.manifestKeys(), "expired after the retention")
}

func TestLocalStoreWriteErrorsAreReported(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.WriteRetries = 1 })
	tk := e.task(testTopics.Enriched, 0)
	e.process(tk, eventRecords(t, e.serde, 0, 0, 1, time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC), time.Second)...)
	// Make the partition directory impossible to create: a file in its way.
	_, err := e.store.Put(context.Background(), "events/dt=2024-03-01", io.NopCloser(strings.NewReader("x")))
	require.NoError(t, err)
	err = tk.Flush(context.Background())
	require.ErrorContains(t, err, "events/dt=2024-03-01/hr=10")
	require.Equal(t, int64(-1), tk.DurableOffset())
	require.Equal(t, 2.0, metricValue(t, e.sink.metrics.writeErrors), "one attempt and one retry")
}
