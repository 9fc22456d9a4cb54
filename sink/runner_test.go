package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sillage/sillage/internal/kafka"
	"github.com/sillage/sillage/internal/stream"
	"github.com/sillage/sillage/schemas"
)

// TestRunnerExactlyOnce drives the sink through the real stream runner on
// an in-process broker: a write failure in the middle of a batch stops the
// runner (a crash: nothing flushed, nothing more committed); a second
// runner on the same group and lake then finishes, and the lake holds every
// event exactly once.
func TestRunnerExactlyOnce(t *testing.T) {
	const parts, n = 2, 600
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1),
		kfake.SeedTopics(parts, testTopics.Enriched, testTopics.Membership, testTopics.Failed))
	require.NoError(t, err)
	t.Cleanup(cluster.Close)
	kcfg := kafka.DefaultConfig()
	kcfg.Brokers = cluster.ListenAddrs()
	kcfg.Partitions = parts

	dir := t.TempDir()
	local, err := NewLocalStore(dir)
	require.NoError(t, err)
	serde := newTestSerde(t)

	// Produce n events over three hours, spread by key over both partitions.
	produceEvents(t, kcfg, serde, 0, n/2)

	var parquetPuts atomic.Int32
	gs := &gateStore{ObjectStore: local, onPut: func(key string) error {
		if strings.HasSuffix(key, ".parquet") && parquetPuts.Add(1) == 3 {
			return errors.New("crash while writing " + key)
		}
		return nil
	}}
	run := func(store ObjectStore) (*Sink, error) {
		cfg := DefaultConfig()
		cfg.Root, cfg.MaxRows, cfg.MaxAge, cfg.WriteRetries = dir, 100, 300*time.Millisecond, 0
		s, err := New(cfg, Deps{Serde: serde, Topics: testTopics, Store: store})
		require.NoError(t, err)
		sc := s.StreamConfig()
		sc.TickInterval = 50 * time.Millisecond
		r, err := stream.New(kcfg, sc, s.TaskFactory(), stream.Deps{Logger: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		var runErr error
		stopped := false
		require.Eventually(t, func() bool {
			select {
			case runErr = <-done:
				stopped = true // crashed
				return true
			default:
			}
			got, err := CountRows(context.Background(), local, TableEvents)
			return err == nil && got >= n
		}, 30*time.Second, 50*time.Millisecond)
		if stopped {
			return s, runErr
		}
		cancel()
		return s, <-done
	}

	_, err = run(gs)
	require.ErrorContains(t, err, "crash while writing")
	written, err := CountRows(context.Background(), local, TableEvents)
	require.NoError(t, err)
	require.Less(t, written, int64(n))

	produceEvents(t, kcfg, serde, n/2, n)
	s, err := run(local)
	require.NoError(t, err)
	require.Positive(t, metricValue(t, s.metrics.replayedRolls), "the crashed batch was rewritten at its boundaries")

	rows, err := ReadTable[EventRow](context.Background(), local, TableEvents)
	require.NoError(t, err)
	require.Len(t, rows, n)
	seen := map[string]bool{}
	for _, r := range rows {
		require.False(t, seen[r.EventID], "duplicate %s", r.EventID)
		seen[r.EventID] = true
	}
}

func produceEvents(t testing.TB, kcfg kafka.Config, serde *schemas.Serde, from, to int) {
	t.Helper()
	cl, err := kgo.NewClient(kcfg.ProducerOpts("test")...)
	require.NoError(t, err)
	defer cl.Close()
	base := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	var recs []*kgo.Record
	for i := from; i < to; i++ {
		ev := testEvent(i, base.Add(time.Duration(i)*20*time.Second))
		recs = append(recs, &kgo.Record{Topic: testTopics.Enriched, Key: []byte(fmt.Sprintf("k%d", i%5)),
			Value: encode(t, serde, schemas.KindEnriched, ev)})
	}
	require.NoError(t, cl.ProduceSync(context.Background(), recs...).FirstErr())
}
