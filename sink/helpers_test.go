package sink

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sillage/sillage/internal/kafka"
	"github.com/sillage/sillage/internal/stream"
	"github.com/sillage/sillage/schemas"
)

var testTopics = kafka.DefaultConfig().Topics()

func kindTopics(t kafka.Topics) map[schemas.Kind]string {
	return map[schemas.Kind]string{
		schemas.KindRaw:        t.Raw,
		schemas.KindEnriched:   t.Enriched,
		schemas.KindMembership: t.Membership,
		schemas.KindFailed:     t.Failed,
		schemas.KindCorrection: t.Corrections,
	}
}

func newTestSerde(tb testing.TB) *schemas.Serde {
	tb.Helper()
	m := kindTopics(testTopics)
	serde, err := schemas.NewSerde(context.Background(), schemas.NewEmbeddedRegistry(m), m)
	require.NoError(tb, err)
	return serde
}

// testEnv is a sink over a temporary lake with a controllable clock.
type testEnv struct {
	tb    testing.TB
	dir   string
	store ObjectStore
	serde *schemas.Serde
	reg   *prometheus.Registry
	now   time.Time
	sink  *Sink
}

func newEnv(tb testing.TB, mutate func(*Config)) *testEnv {
	tb.Helper()
	dir := tb.TempDir()
	store, err := NewLocalStore(dir)
	require.NoError(tb, err)
	return newEnvOn(tb, dir, store, newTestSerde(tb), mutate)
}

func newEnvOn(tb testing.TB, dir string, store ObjectStore, serde *schemas.Serde, mutate func(*Config)) *testEnv {
	tb.Helper()
	e := &testEnv{tb: tb, dir: dir, store: store, serde: serde, reg: prometheus.NewRegistry(),
		now: time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)}
	cfg := DefaultConfig()
	cfg.Root = dir
	cfg.WriteRetries = 0
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := New(cfg, Deps{Registerer: e.reg, Serde: serde, Topics: testTopics, Store: store, Now: func() time.Time { return e.now }})
	require.NoError(tb, err)
	e.sink = s
	return e
}

// restart builds a new sink over the same lake, as a new process would.
func (e *testEnv) restart(mutate func(*Config)) *testEnv {
	return newEnvOn(e.tb, e.dir, e.store, e.serde, mutate)
}

func (e *testEnv) task(topic string, partition int32) *task {
	e.tb.Helper()
	tk, err := e.sink.NewTask(context.Background(), stream.TopicPartition{Topic: topic, Partition: partition}, nil)
	require.NoError(e.tb, err)
	return tk.(*task)
}

func (e *testEnv) process(tk *task, recs ...*kgo.Record) {
	e.tb.Helper()
	for _, r := range recs {
		require.NoError(e.tb, tk.Process(context.Background(), r, &stream.Output{}))
	}
}

// files lists the lake's Parquet keys of a table.
func (e *testEnv) files(table string) []string {
	e.tb.Helper()
	objs, err := Files(context.Background(), e.store, table)
	require.NoError(e.tb, err)
	keys := make([]string, len(objs))
	for i, o := range objs {
		keys[i] = o.Key
	}
	return keys
}

func (e *testEnv) events() []EventRow {
	e.tb.Helper()
	rows, err := ReadTable[EventRow](context.Background(), e.store, TableEvents)
	require.NoError(e.tb, err)
	return rows
}

// testEvent builds an enriched event; i makes ids unique.
func testEvent(i int, at time.Time) *schemas.EnrichedEvent {
	return &schemas.EnrichedEvent{
		Raw: schemas.RawEvent{
			EventID:        fmt.Sprintf("evt-%06d", i),
			Source:         "sillage-demo",
			Type:           "track",
			Event:          "Product Viewed",
			AnonymousID:    fmt.Sprintf("anon-%d", i%7),
			UserID:         "",
			Timestamp:      at.UnixMilli() - 50,
			SentAt:         at.UnixMilli() - 20,
			ReceivedAt:     at.UnixMilli() + 10,
			IP:             "203.0.113.0",
			UserAgent:      "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
			PageURL:        "https://shop.example/p/42?utm_source=news",
			PagePath:       "/p/42",
			PageTitle:      "Shoe",
			Locale:         "fr-FR",
			PropertiesJSON: `{"product_id":"42","price":19.5,"currency":"EUR","quantity":2}`,
			Consent:        schemas.Consent{Necessary: true, Analytics: true, Marketing: i%2 == 0},
			ConsentSignal:  schemas.ConsentSignal{Origin: "tag"},
		},
		ProfileID:    fmt.Sprintf("prof-%d", i%7),
		EventTime:    at.UnixMilli(),
		SessionID:    fmt.Sprintf("sess-%d", i%7),
		SessionIndex: 1,
		Geo:          schemas.Geo{CountryCode: "FR", Country: "France", City: "Lyon", Latitude: 45.75, Longitude: 4.85},
		UA:           schemas.UserAgent{Browser: "Firefox", BrowserVersion: "128.0", OS: "Linux", Device: "Other"},
		Campaign:     schemas.Campaign{Source: "news"},
		EnrichedAt:   at.UnixMilli() + 30,
	}
}

func encode(tb testing.TB, serde *schemas.Serde, kind schemas.Kind, v schemas.Nativer) []byte {
	tb.Helper()
	b, err := serde.Encode(kind, v, nil)
	require.NoError(tb, err)
	return b
}

func rec(topic string, partition int32, offset int64, value []byte) *kgo.Record {
	return &kgo.Record{Topic: topic, Partition: partition, Offset: offset, Value: value,
		Timestamp: time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC).Add(time.Duration(offset) * time.Millisecond)}
}

// eventRecords encodes n events at offsets from..from+n-1, with event times
// from base, step apart.
func eventRecords(tb testing.TB, serde *schemas.Serde, partition int32, from int64, n int, base time.Time, step time.Duration) []*kgo.Record {
	tb.Helper()
	out := make([]*kgo.Record, n)
	for i := range n {
		off := from + int64(i)
		ev := testEvent(int(off), base.Add(time.Duration(i)*step))
		out[i] = rec(testTopics.Enriched, partition, off, encode(tb, serde, schemas.KindEnriched, ev))
	}
	return out
}

// tempFiles returns hidden temporary files left anywhere in dir.
func tempFiles(tb testing.TB, dir string) []string {
	tb.Helper()
	var out []string
	require.NoError(tb, filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && filepath.Base(p)[0] == '.' {
			out = append(out, p)
		}
		return nil
	}))
	return out
}

func eventIDs(rows []EventRow) []string {
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.EventID
	}
	sort.Strings(ids)
	return ids
}

// metricValue returns the value of a single-series counter or gauge.
func metricValue(tb testing.TB, m prometheus.Metric) float64 {
	tb.Helper()
	var out dto.Metric
	require.NoError(tb, m.Write(&out))
	switch {
	case out.Counter != nil:
		return out.Counter.GetValue()
	case out.Gauge != nil:
		return out.Gauge.GetValue()
	case out.Histogram != nil:
		return float64(out.Histogram.GetSampleCount())
	}
	tb.Fatalf("unsupported metric %v", m.Desc())
	return 0
}
