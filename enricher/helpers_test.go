package enricher

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sillage/sillage/enricher/internal/shareddata"
	"github.com/sillage/sillage/internal/kafka"
	"github.com/sillage/sillage/internal/stream"
	"github.com/sillage/sillage/schemas"
)

// fixedNow is the clock of the tests.
var fixedNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

var testTopics = kafka.DefaultConfig().Topics()

func testSerde(tb testing.TB) *schemas.Serde {
	tb.Helper()
	kinds := map[schemas.Kind]string{
		schemas.KindRaw:        testTopics.Raw,
		schemas.KindEnriched:   testTopics.Enriched,
		schemas.KindFailed:     testTopics.Failed,
		schemas.KindCorrection: testTopics.Corrections,
	}
	s, err := schemas.NewSerde(context.Background(), schemas.NewEmbeddedRegistry(kinds), kinds)
	require.NoError(tb, err)
	return s
}

func cityDB(tb testing.TB) string {
	return shareddata.Path(tb, filepath.Join("geoip/maxmind-test/test-data", "GeoIP2-City-Test.mmdb"))
}

type harness struct {
	e     *Enricher
	serde *schemas.Serde
	reg   *prometheus.Registry
	logs  *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newHarness(tb testing.TB, cfg Config) *harness {
	tb.Helper()
	h := &harness{serde: testSerde(tb), reg: prometheus.NewRegistry(), logs: &syncBuffer{}}
	e, err := New(cfg, Deps{
		Logger:     slog.New(slog.NewTextHandler(h.logs, nil)),
		Registerer: h.reg,
		Serde:      h.serde,
		Topics:     testTopics,
		Clock:      func() time.Time { return fixedNow },
	})
	require.NoError(tb, err)
	tb.Cleanup(func() { require.NoError(tb, e.Close()) })
	h.e = e
	return h
}

// partition is one raw partition's task with its stores.
type partition struct {
	h        *harness
	task     stream.Task
	stores   map[string]*stream.Store
	offset   int64
	out      *stream.Output
	consumed int // records of out already returned by drain
	// corrections are the correction records the last send produced.
	corrections []*kgo.Record
}

func (h *harness) newPartition(tb testing.TB, stores map[string]*stream.Store) *partition {
	tb.Helper()
	if stores == nil {
		stores = map[string]*stream.Store{
			StoreSessions:   stream.NewTestStore(StoreSessions),
			StoreIdentities: stream.NewTestStore(StoreIdentities),
			StoreDedup:      stream.NewTestStore(StoreDedup),
		}
	}
	task, err := h.e.NewTask(context.Background(), stream.TopicPartition{Topic: testTopics.Raw, Partition: 3}, stores)
	require.NoError(tb, err)
	return &partition{h: h, task: task, stores: stores, out: &stream.Output{}}
}

// lastCorrections decodes the corrections emitted for the last event sent.
func (p *partition) lastCorrections(tb testing.TB) []*schemas.Correction {
	tb.Helper()
	var out []*schemas.Correction
	for _, r := range p.corrections {
		c, err := p.h.serde.DecodeCorrection(context.Background(), r.Value)
		require.NoError(tb, err)
		require.Equal(tb, c.ProfileID, string(r.Key), "keyed by the surviving profile")
		out = append(out, c)
	}
	return out
}

// feed processes one record value at the next offset and returns the records produced for it.
func (p *partition) feed(tb testing.TB, key string, value []byte) []*kgo.Record {
	tb.Helper()
	rec := &kgo.Record{Topic: testTopics.Raw, Partition: 3, Offset: p.offset, Key: []byte(key), Value: value, Timestamp: fixedNow}
	p.offset++
	require.NoError(tb, p.task.Process(context.Background(), rec, p.out))
	got := p.out.Records()[p.consumed:]
	p.consumed = len(p.out.Records())
	return got
}

// send encodes raw and feeds it, expecting one record back.
func (p *partition) send(tb testing.TB, raw schemas.RawEvent) *kgo.Record {
	tb.Helper()
	v, err := p.h.serde.Encode(schemas.KindRaw, &raw, nil)
	require.NoError(tb, err)
	recs := p.feed(tb, raw.Key(), v)
	require.NotEmpty(tb, recs, "an output record per input record")
	for _, r := range recs[1:] {
		require.Equal(tb, testTopics.Corrections, r.Topic, "only corrections follow the event's own record")
	}
	p.corrections = recs[1:]
	return recs[0]
}

// enriched sends raw and decodes the enriched event it gives.
func (p *partition) enriched(tb testing.TB, raw schemas.RawEvent) (*kgo.Record, *schemas.EnrichedEvent) {
	tb.Helper()
	rec := p.send(tb, raw)
	require.Equal(tb, testTopics.Enriched, rec.Topic)
	ev, err := p.h.serde.DecodeEnriched(context.Background(), rec.Value)
	require.NoError(tb, err)
	return rec, ev
}

func (p *partition) tick(tb testing.TB) {
	tb.Helper()
	require.NoError(tb, p.task.Tick(context.Background(), fixedNow, p.out))
}

// restart simulates a crash after the last Tick: fresh stores restored from
// the changelogs written so far, and a new task.
func (p *partition) restart(tb testing.TB, changelogs map[string][]*kgo.Record) *partition {
	tb.Helper()
	require.NoError(tb, p.task.Close())
	stores := map[string]*stream.Store{}
	for name := range p.stores {
		s := stream.NewTestStore(name)
		s.Restore(changelogs[name]...)
		stores[name] = s
	}
	np := p.h.newPartition(tb, stores)
	np.offset = p.offset
	return np
}

// baseEvent is a valid page view of anonymous visitor anon at event time at.
func baseEvent(id, anon string, at time.Time) schemas.RawEvent {
	ms := at.UnixMilli()
	return schemas.RawEvent{
		EventID:     id,
		Source:      "web",
		Type:        "page",
		AnonymousID: anon,
		Timestamp:   ms,
		SentAt:      ms,
		ReceivedAt:  ms,
		IP:          "81.2.69.160",
		UserAgent:   "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
		PageURL:     "https://shop.example/",
		Consent:     schemas.Consent{Necessary: true, Analytics: true},
	}
}

// metric returns the value of a counter in the harness's registry, by its
// exposed name and optional label pairs; 0 when absent.
func (h *harness) metric(tb testing.TB, name string, labels ...string) float64 {
	tb.Helper()
	families, err := h.reg.Gather()
	require.NoError(tb, err)
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			if hist := m.GetHistogram(); hist != nil {
				return float64(hist.GetSampleCount())
			}
		}
	}
	return 0
}
