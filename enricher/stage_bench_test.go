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
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sillage/sillage/internal/broker"
	"github.com/sillage/sillage/internal/kafka"
	"github.com/sillage/sillage/internal/stream"
)

// BenchmarkStage measures the end-to-end throughput of the enricher stage
// as it runs: from sillage.events.raw to sillage.events.enriched on the
// embedded broker (kfake with its data on disk, in this process), 12
// partitions, transactions, changelogs of the three stores, the realistic
// mix of benchEvents with 5% of events carrying a never-seen user agent,
// GeoIP (city), UA, bots, referrer and campaign, dedup and sessions all on.
// The input (at least 100,000 events) is produced before the clock starts;
// the clock stops when the stage has committed its consumer offsets at the
// end of every raw partition (so every output is committed). events/s is
// the figure; the run is one instance of the stage, as `go run
// ./cmd/sillage` runs it.
func BenchmarkStage(b *testing.B) {
	for _, unseen := range []float64{0, 0.05} {
		b.Run(fmt.Sprintf("unseen=%.0f%%", unseen*100), func(b *testing.B) {
			n := max(b.N, 100_000)
			brk, err := broker.Start("127.0.0.1:0", b.TempDir(), slog.New(slog.DiscardHandler))
			require.NoError(b, err)
			defer brk.Close()
			kcfg := kafka.DefaultConfig()
			kcfg.Brokers = brk.Addrs()
			kcfg.Partitions = 12

			h := newHarness(b, geoConfig(b))
			ctx := context.Background()
			admin, err := kgo.NewClient(kcfg.ProducerOpts("bench")...)
			require.NoError(b, err)
			defer admin.Close()
			require.NoError(b, kafka.EnsureTopics(ctx, admin, 1, true, kcfg.Specs()...))

			values := benchEvents(b, h.serde, n, unseen)
			recs := make([]*kgo.Record, n)
			for i, v := range values {
				raw, err := h.serde.DecodeRaw(ctx, v)
				require.NoError(b, err)
				recs[i] = &kgo.Record{Topic: h.e.topics.Raw, Key: []byte(raw.Key()), Value: v}
			}
			require.NoError(b, admin.ProduceSync(ctx, recs...).FirstErr())
			ends, err := kadm.NewClient(admin).ListEndOffsets(ctx, h.e.topics.Raw)
			require.NoError(b, err)

			r, err := stream.New(kcfg, h.e.StreamConfig("0"), h.e.NewTask, stream.Deps{Logger: slog.New(slog.DiscardHandler), Registerer: prometheus.NewRegistry()})
			require.NoError(b, err)
			runCtx, cancel := context.WithCancel(ctx)
			var wg sync.WaitGroup
			wg.Add(1)
			b.ResetTimer()
			start := time.Now()
			go func() { defer wg.Done(); _ = r.Run(runCtx) }()
			adm := kadm.NewClient(admin)
			group := kcfg.TopicPrefix + Name
			for {
				offs, err := adm.FetchOffsets(ctx, group)
				if err == nil && committedAll(offs, ends) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			elapsed := time.Since(start)
			b.StopTimer()
			cancel()
			wg.Wait()
			require.Equal(b, float64(n), h.metric(b, "sillage_enricher_events_in_total"), "every raw event read once")
			b.ReportMetric(float64(n)/elapsed.Seconds(), "events/s")
			b.ReportMetric(float64(elapsed.Nanoseconds())/float64(n), "ns/event")
		})
	}
}

// committedAll reports whether the group committed every partition's end.
func committedAll(offs kadm.OffsetResponses, ends kadm.ListedOffsets) bool {
	ok := true
	ends.Each(func(l kadm.ListedOffset) {
		o, found := offs.Lookup(l.Topic, l.Partition)
		if l.Offset > 0 && (!found || o.At < l.Offset) {
			ok = false
		}
	})
	return ok
}
