package segmenter

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sillage/sillage/internal/kafka"
	"github.com/sillage/sillage/internal/stream"
	"github.com/sillage/sillage/internal/testkafka"
	"github.com/sillage/sillage/schemas"
)

// TestOnRunner runs the segmenter on the shared transactional runner (kfake,
// or the real Kafka of SILLAGE_TEST_KAFKA_BROKERS), restarts it, and checks
// that every transition is on the membership topic exactly once.
func TestOnRunner(t *testing.T) {
	kcfg := kafka.DefaultConfig()
	kcfg.TopicPrefix = testkafka.Prefix(t)
	kcfg.Partitions = 3
	topics := kcfg.Topics()
	kcfg.Brokers = testkafka.Cluster(t, testkafka.Topics(3, topics.Enriched, topics.Membership, topics.Failed,
		kcfg.Changelog("segmenter", StoreName)))
	serdeTopics := map[schemas.Kind]string{schemas.KindEnriched: topics.Enriched, schemas.KindMembership: topics.Membership, schemas.KindFailed: topics.Failed}
	serde, err := schemas.NewSerde(t.Context(), schemas.NewEmbeddedRegistry(serdeTopics), serdeTopics)
	require.NoError(t, err)
	cfg := DefaultConfig()
	cfg.AllowedLateness = 0
	defs, err := ParseDefinitions([]byte(`
segments:
  - name: signed_up
    event: {enter: 'event.type == "track" && event.name == "Signed Up"'}
  - name: cart_abandoned
    absence: {start: 'event.name == "Product Added"', missing: 'event.name == "Order Completed"', within: 5s}
`))
	require.NoError(t, err)

	start := func() func() {
		seg, err := New(cfg, Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registerer: prometheus.NewRegistry(),
			Serde: serde, Topics: topics, Definitions: defs})
		require.NoError(t, err)
		sc := seg.StreamConfig()
		sc.TickInterval = 50 * time.Millisecond
		r, err := stream.New(kcfg, sc, seg.NewTask, stream.Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		require.Eventually(t, r.Ready, 20*time.Second, 10*time.Millisecond)
		return func() {
			cancel()
			require.NoError(t, <-done)
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(kcfg.Brokers...), kgo.ConsumeTopics(topics.Membership),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	defer cl.Close()
	produce := func(profile, name string, when time.Time) {
		v, err := serde.Encode(schemas.KindEnriched, &schemas.EnrichedEvent{
			Raw: schemas.RawEvent{EventID: profile + "/" + name + "/" + when.String(), Type: "track", Event: name, UserID: profile,
				Consent: fullConsent()},
			ProfileID: profile, EventTime: when.UnixMilli(),
		}, nil)
		require.NoError(t, err)
		require.NoError(t, cl.ProduceSync(t.Context(), &kgo.Record{Topic: topics.Enriched, Key: []byte(profile), Value: v}).FirstErr())
	}
	var got []*schemas.MembershipTransition
	collect := func(n int) {
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		for len(got) < n {
			fs := cl.PollFetches(ctx)
			require.NoError(t, ctx.Err(), "waiting for %d transitions, have %d", n, len(got))
			fs.EachRecord(func(r *kgo.Record) {
				mt, err := serde.DecodeMembership(ctx, r.Value)
				require.NoError(t, err)
				got = append(got, mt)
			})
		}
	}

	now := time.Now()
	stop := start()
	produce("ann", "Signed Up", now.Add(-time.Minute))
	produce("ben", "Product Added", now.Add(-time.Minute))
	produce("cid", "Product Added", now.Add(-time.Minute))
	produce("cid", "Order Completed", now.Add(-time.Minute+time.Second))
	produce("dee", "Page", now) // moves event time past ben's deadline
	collect(2)
	stop()

	stop = start() // a restart restores state and emits nothing twice
	produce("ann", "Signed Up", now)
	produce("eve", "Signed Up", now)
	collect(3)
	stop()
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { t.Errorf("unexpected extra transition at offset %d", r.Offset) })

	seen := map[string]string{}
	for _, mt := range got {
		require.NotContains(t, seen, mt.ID, "duplicate transition")
		seen[mt.ID] = mt.Segment + "/" + mt.ProfileID + "/" + string(mt.Transition)
	}
	require.ElementsMatch(t, []string{"signed_up/ann/ENTERED", "cart_abandoned/ben/ENTERED", "signed_up/eve/ENTERED"}, values(seen))
}

func values(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
