package enricher

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sillage/sillage/internal/kafka"
	"github.com/sillage/sillage/internal/stream"
	"github.com/sillage/sillage/schemas"
)

// TestOnTheRunner runs the enricher on the shared transactional runner
// against an in-process broker, stops it, runs a new instance, and checks
// that every input appears exactly once (enriched or failed) and that
// sessions continue across the restart from the restored store.
func TestOnTheRunner(t *testing.T) {
	kcfg := kafka.DefaultConfig()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, testTopics.Raw, testTopics.Enriched, testTopics.Failed))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	kcfg.Brokers, kcfg.Partitions = c.ListenAddrs(), 3

	h := newHarness(t, DefaultConfig())
	const visitors, perRun = 12, 60
	produceRaw := func(from, to int) {
		cl, err := kgo.NewClient(kcfg.ProducerOpts("test")...)
		require.NoError(t, err)
		defer cl.Close()
		var recs []*kgo.Record
		for i := from; i < to; i++ {
			// Each visitor's events are 5 minutes apart: one session each.
			raw := baseEvent(fmt.Sprintf("m-%d", i), fmt.Sprintf("anon-%d", i%visitors), fixedNow.Add(time.Duration(i/visitors)*5*time.Minute))
			v, err := h.serde.Encode(schemas.KindRaw, &raw, nil)
			require.NoError(t, err)
			recs = append(recs, &kgo.Record{Topic: testTopics.Raw, Key: []byte(raw.Key()), Value: v})
		}
		recs = append(recs, &kgo.Record{Topic: testTopics.Raw, Key: []byte("bad"), Value: []byte(fmt.Sprintf("garbage %d", from))})
		require.NoError(t, cl.ProduceSync(context.Background(), recs...).FirstErr())
	}
	// run runs one instance until the committed outputs reach want (an
	// uncommitted last batch would be redone by the next instance).
	run := func(want int) {
		r, err := stream.New(kcfg, h.e.StreamConfig("0"), h.e.NewTask, stream.Deps{Logger: slog.New(slog.DiscardHandler), Registerer: prometheus.NewRegistry()})
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		var runErr error
		wg.Add(1)
		go func() { defer wg.Done(); runErr = r.Run(ctx) }()
		consume(t, kcfg, testTopics.Enriched, want)
		cancel()
		wg.Wait()
		require.NoError(t, runErr)
	}

	produceRaw(0, perRun)
	run(perRun)
	produceRaw(perRun, 2*perRun)
	run(2 * perRun)

	enriched := consume(t, kcfg, testTopics.Enriched, 2*perRun)
	failed := consume(t, kcfg, testTopics.Failed, 2)
	require.Len(t, failed, 2, "each bad record once")
	require.Len(t, enriched, 2*perRun, "each event once")
	sessions := map[string]map[string]bool{}
	for _, v := range enriched {
		ev, err := h.serde.DecodeEnriched(context.Background(), v)
		require.NoError(t, err)
		if sessions[ev.ProfileID] == nil {
			sessions[ev.ProfileID] = map[string]bool{}
		}
		sessions[ev.ProfileID][ev.SessionID] = true
	}
	require.Len(t, sessions, visitors)
	for p, s := range sessions {
		require.Len(t, s, 1, "visitor %s keeps one session across the restart", p)
	}
}

func consume(t *testing.T, kcfg kafka.Config, topic string, want int) [][]byte {
	t.Helper()
	cl, err := kgo.NewClient(append(kcfg.Opts("check"), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	require.NoError(t, err)
	defer cl.Close()
	var got [][]byte
	poll := func(d time.Duration) {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got = append(got, r.Value) })
	}
	require.Eventually(t, func() bool { poll(200 * time.Millisecond); return len(got) >= want }, 20*time.Second, time.Millisecond)
	poll(300 * time.Millisecond) // a duplicate would show up here
	return got
}
