package sink

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sillage/sillage/internal/kafka"
	"github.com/sillage/sillage/internal/stream"
	"github.com/sillage/sillage/internal/tests3"
)

// A store that fails for a while: the default policy retries until it
// answers, reports not ready and store_up 0 meanwhile, then goes on.
func TestWritesAreRetriedUntilTheStoreIsBack(t *testing.T) {
	dir := t.TempDir()
	local, err := NewLocalStore(dir)
	require.NoError(t, err)
	var down atomic.Bool
	down.Store(true)
	gs := &gateStore{ObjectStore: local, onPut: func(string) error {
		if down.Load() {
			return errors.New("connection refused")
		}
		return nil
	}}
	e := newEnvOn(t, dir, gs, newTestSerde(t), func(c *Config) {
		c.WriteRetries, c.RetryMaxBackoff = -1, 100*time.Millisecond
	})
	tk := e.task(testTopics.Enriched, 0)
	e.process(tk, eventRecords(t, e.serde, 0, 0, 3, time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC), time.Second)...)
	flushed := make(chan error, 1)
	go func() { flushed <- tk.Flush(context.Background()) }()
	require.Eventually(t, func() bool { return metricValue(t, e.sink.metrics.writeErrors) >= 5 }, 10*time.Second, 10*time.Millisecond)
	require.False(t, e.sink.Ready())
	require.Equal(t, 0.0, metricValue(t, e.sink.metrics.storeUp))
	select {
	case err := <-flushed:
		t.Fatalf("flush returned while the store is down: %v", err)
	default:
	}
	down.Store(false)
	require.NoError(t, <-flushed)
	require.True(t, e.sink.Ready())
	require.Equal(t, 1.0, metricValue(t, e.sink.metrics.storeUp))
	require.Equal(t, int64(3), tk.DurableOffset())
	require.Len(t, e.events(), 3)

	// Stopping the sink ends the retries: nothing is durable, nothing lost.
	down.Store(true)
	e.process(tk, eventRecords(t, e.serde, 0, 3, 2, time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC), time.Second)...)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	err = tk.Flush(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorContains(t, err, "connection refused")
	require.Equal(t, int64(3), tk.DurableOffset())
}

// TestRunnerRidesOutAnS3Outage drives the sink through the stream runner
// (in-process broker) into a real S3 server that is stopped in the middle
// and started again: the runner keeps running, commits nothing while the
// store is down, buffers no more than its batches, and every event lands
// exactly once.
func TestRunnerRidesOutAnS3Outage(t *testing.T) {
	const parts, n, maxRows = 2, 1200, 100
	outage := 3 * time.Second
	srv := tests3.Private(t)
	bucket := srv.Bucket(t)
	store, err := OpenStore(srv.Root(bucket, "lake"))
	require.NoError(t, err)

	cluster, err := kfake.NewCluster(kfake.NumBrokers(1),
		kfake.SeedTopics(parts, testTopics.Enriched, testTopics.Membership, testTopics.Failed))
	require.NoError(t, err)
	t.Cleanup(cluster.Close)
	kcfg := kafka.DefaultConfig()
	kcfg.Brokers = cluster.ListenAddrs()
	kcfg.Partitions = parts
	serde := newTestSerde(t)
	produceEvents(t, kcfg, serde, 0, n/2)

	cfg := DefaultConfig()
	cfg.Root, cfg.MaxRows, cfg.MaxAge, cfg.RetryMaxBackoff = store.String(), maxRows, 200*time.Millisecond, 500*time.Millisecond
	s, err := New(cfg, Deps{Serde: serde, Topics: testTopics, Store: store})
	require.NoError(t, err)
	sc := s.StreamConfig()
	sc.TickInterval = 50 * time.Millisecond
	sc.MaxPollRecords = 50
	r, err := stream.New(kcfg, sc, s.TaskFactory(), stream.Deps{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()

	adm := kadm.NewClient(mustClient(t, kcfg))
	committed := func() int64 {
		offs, err := adm.FetchOffsets(context.Background(), kcfg.TopicPrefix+"sink")
		if err != nil {
			return -1 // the group does not exist yet
		}
		var sum int64
		offs.Each(func(o kadm.OffsetResponse) {
			if o.Topic == testTopics.Enriched && o.At > 0 {
				sum += o.At
			}
		})
		return sum
	}
	require.Eventually(t, func() bool { return committed() >= 200 }, 30*time.Second, 20*time.Millisecond)

	srv.Stop(t)
	produceEvents(t, kcfg, serde, n/2, n)
	require.Eventually(t, func() bool { return !s.Ready() }, 30*time.Second, 20*time.Millisecond,
		"the sink notices the outage")
	require.Equal(t, 0.0, metricValue(t, s.metrics.storeUp))
	atOutage := committed()
	var peakBuffered float64
	for end := time.Now().Add(outage); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		peakBuffered = max(peakBuffered, metricValue(t, s.metrics.bufferedRows))
		select {
		case err := <-done:
			t.Fatalf("the runner stopped during the outage: %v", err)
		default:
		}
	}
	require.Equal(t, atOutage, committed(), "nothing committed while the store is down")
	require.Less(t, atOutage, int64(n), "the outage happened mid-stream")
	require.LessOrEqual(t, peakBuffered, float64(parts*maxRows), "buffered rows stay within the open batches")
	require.Positive(t, metricValue(t, s.metrics.writeErrors))

	srv.Start(t)
	require.Eventually(t, func() bool { return committed() == n }, 60*time.Second, 50*time.Millisecond)
	require.True(t, s.Ready())
	require.Equal(t, 1.0, metricValue(t, s.metrics.storeUp))
	cancel()
	require.NoError(t, <-done)

	rows, err := ReadTable[EventRow](context.Background(), store, TableEvents)
	require.NoError(t, err)
	require.Len(t, rows, n)
	seen := map[string]bool{}
	for _, r := range rows {
		require.False(t, seen[r.EventID], "duplicate %s", r.EventID)
		seen[r.EventID] = true
	}
	t.Logf("outage %s at %d of %d events committed; peak buffered rows %v; write errors %v",
		outage, atOutage, n, peakBuffered, metricValue(t, s.metrics.writeErrors))
}

func mustClient(t *testing.T, kcfg kafka.Config) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(kcfg.Brokers...))
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	return cl
}
